"""Create what the platform needs before it runs: Kafka topics and index templates."""

from __future__ import annotations

from soc.config import Settings
from soc.store.client import async_client
from soc.store.templates import index_templates
from soc.stream.topics import ensure_topics


async def ensure_templates(settings: Settings) -> list[str]:
    """Put every index template (idempotent: a template is replaced by its current version)."""
    es = async_client(settings)
    try:
        names = []
        for name, body in index_templates(
            settings.elastic.index_prefix, settings.elastic.shards, settings.elastic.replicas
        ).items():
            await es.indices.put_index_template(name=name, **body)
            names.append(name)
        return names
    finally:
        await es.close()


async def setup_all(settings: Settings) -> list[str]:
    created = await ensure_topics(settings)
    templates = await ensure_templates(settings)
    return [
        f"Kafka topics ready ({len(created)} created) at {settings.kafka_bootstrap}",
        f"index templates ready: {', '.join(templates)}",
    ]
