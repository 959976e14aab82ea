"""Provisioning and control of the local Kafka and Elasticsearch (`soc stack`)."""

from __future__ import annotations

from soc.config import Settings
from soc.stack.elastic import ElasticNode
from soc.stack.kafka import KafkaNode
from soc.stack.process import StackError

__all__ = ["StackError", "stack_up", "stack_down", "stack_status", "local_nodes"]


def local_nodes(settings: Settings) -> list[KafkaNode | ElasticNode]:
    """The engines this configuration runs locally: none when it names existing clusters."""
    nodes: list[KafkaNode | ElasticNode] = []
    if settings.uses_local_kafka:
        nodes.append(KafkaNode(settings.stack))
    if settings.uses_local_elastic:
        nodes.append(ElasticNode(settings.stack))
    return nodes


def stack_up(settings: Settings) -> list[str]:
    """Start what is local and not running; wait until healthy. Raises StackError."""
    lines = [node.up() for node in local_nodes(settings)]
    if not settings.uses_local_kafka:
        lines.append(f"Kafka: using the configured cluster {settings.kafka_bootstrap}")
    if not settings.uses_local_elastic:
        lines.append(f"Elasticsearch: using the configured cluster {settings.es_url}")
    return lines


def stack_down(settings: Settings) -> list[str]:
    return [node.down() for node in reversed(local_nodes(settings))]


def stack_status(settings: Settings) -> dict[str, str]:
    status = {type(node).__name__.removesuffix("Node"): node.status() for node in local_nodes(settings)}
    if not settings.uses_local_kafka:
        status["Kafka"] = f"external: {settings.kafka_bootstrap}"
    if not settings.uses_local_elastic:
        status["Elastic"] = f"external: {settings.es_url}"
    return status
