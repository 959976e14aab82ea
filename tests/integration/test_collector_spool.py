"""Kafka stops under steady syslog load: the collector spools to disk and delivers everything after."""

from __future__ import annotations

import asyncio
import time
import uuid
from pathlib import Path

import pytest

from soc.config import Settings, StackSettings
from soc.pipeline import LocalPipeline, Namespace, free_port
from soc.stack.kafka import KafkaNode
from soc.stream.topics import ensure_topics

from .conftest import raw_messages

pytestmark = pytest.mark.integration


def _own_broker(tmp_path: Path, base: Settings) -> KafkaNode:
    """A broker of this test's own, which it may stop without disturbing the other tests."""
    home = tmp_path / "stack"
    home.mkdir()
    (home / "dist").symlink_to(base.stack.resolved_home() / "dist")  # the jars are downloaded already
    port = free_port()
    cfg = StackSettings(home=home, kafka_port=port, kafka_controller_port=free_port())
    return KafkaNode(cfg)


def test_kafka_outage_is_spooled_and_delivered_in_full(tmp_path: Path, base_settings: Settings, kafka: str) -> None:
    node = _own_broker(tmp_path, base_settings)
    node.up()
    ns = Namespace(prefix=f"sp{uuid.uuid4().hex[:8]}")
    env = {"SOC_KAFKA_BOOTSTRAP": node.bootstrap}
    settings = base_settings.model_copy(update={"topic_prefix": ns.prefix,
                                                "kafka": base_settings.kafka.model_copy(update={"bootstrap": node.bootstrap})})
    asyncio.run(ensure_topics(settings))
    pipeline = LocalPipeline(ns, tmp_path / "logs", extra_env=env)
    marker = uuid.uuid4().hex[:8]
    sent: list[bytes] = []

    def send(start: int, n: int) -> None:
        lines = [f"<14>1 2026-11-25T10:00:00.000+08:00 gov-cloud-app-02 app {i} - - {marker} n={i}".encode()
                 for i in range(start, start + n)]
        pipeline.send_tcp(lines)
        sent.extend(lines)

    try:
        pipeline.start_collector()
        send(0, 1000)
        node.down()  # Kafka goes away under load
        for k in range(6):  # steady load during the outage
            send(1000 + k * 500, 500)
            time.sleep(1)
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            m = pipeline.metrics("collector")
            if m.get('soc_spooled_total{stage="collector.syslog"}', 0) > 0:
                break
            time.sleep(1)
        assert pipeline.metrics("collector").get('soc_spooled_total{stage="collector.syslog"}', 0) > 0
        node.up()  # Kafka is back
        got = set(asyncio.run(raw_messages(node.bootstrap, f"{ns.prefix}.raw", len(sent), 180)))
        missing = [line for line in sent if line not in got]
        assert not missing, f"{len(missing)} of {len(sent)} lines never reached Kafka; first: {missing[:1]}"
        m = pipeline.metrics("collector")
        assert m.get('soc_dropped_total{reason="spool_full",stage="collector.syslog"}', 0) == 0
        deadline = time.monotonic() + 60
        while pipeline.metrics("collector").get('soc_spool_bytes{stage="collector.syslog"}', 1) > 0:
            assert time.monotonic() < deadline, "the spool never drained"
            time.sleep(0.5)
    finally:
        pipeline.stop()
        node.down()
