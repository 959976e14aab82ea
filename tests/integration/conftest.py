"""Fixtures on the real Kafka and Elasticsearch. A missing engine FAILS these tests, never skips.

Each test module gets its own namespace (topic prefix, index prefix, consumer group, ports),
so tests never see each other's data, and its own worker and collector processes.
"""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from elasticsearch import Elasticsearch

from soc.config import Settings, load_settings
from soc.netns import NetLab
from soc.pipeline import LocalPipeline, Namespace
from soc.store.client import sync_client
from soc.store.setup import setup_all

pytestmark = pytest.mark.integration


@pytest.fixture(scope="session")
def base_settings() -> Settings:
    return load_settings()


@pytest.fixture(scope="session")
def es(base_settings: Settings) -> Iterator[Elasticsearch]:
    client = sync_client(base_settings)
    try:
        health = client.cluster.health(wait_for_status="yellow", timeout="20s")
    except Exception as exc:  # noqa: BLE001
        pytest.fail(
            f"Elasticsearch is not reachable at {base_settings.es_url}: {exc}. "
            "Start it with `soc stack up` (scripts/test.sh does this).",
            pytrace=False,
        )
    assert health["status"] in ("yellow", "green")
    yield client
    client.close()


@pytest.fixture(scope="session")
def kafka(base_settings: Settings) -> str:
    from aiokafka.admin import AIOKafkaAdminClient

    async def probe() -> list[str]:
        admin = AIOKafkaAdminClient(bootstrap_servers=base_settings.kafka_bootstrap, request_timeout_ms=10000)
        await asyncio.wait_for(admin.start(), 20)
        try:
            return await admin.list_topics()
        finally:
            await admin.close()

    try:
        asyncio.run(probe())
    except Exception as exc:  # noqa: BLE001
        pytest.fail(
            f"Kafka is not reachable at {base_settings.kafka_bootstrap}: {exc!r}. "
            "Start it with `soc stack up` (scripts/test.sh does this).",
            pytrace=False,
        )
    return base_settings.kafka_bootstrap


async def topic_values(
    bootstrap: str, topic: str, expect: int, timeout: float, count: Callable[[bytes], int] = lambda v: 1
) -> list[bytes]:
    """The values of topic from its start, once expect of them (as `count` counts a value) are
    there or timeout has passed."""
    from aiokafka import AIOKafkaConsumer

    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest",
                                enable_auto_commit=False, group_id=None)
    await consumer.start()
    values: list[bytes] = []
    seen = 0
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=1000, max_records=5000)
            for records in batch.values():
                values.extend(r.value for r in records)
                seen += sum(count(r.value) for r in records)
            if seen >= expect:
                break
    finally:
        await consumer.stop()
    return values


async def raw_messages(bootstrap: str, topic: str, expect: int, timeout: float) -> list[bytes]:
    """The messages of a soc.raw topic (every RawBatch opened), in order per partition."""
    from soc.model import RawBatch

    values = await topic_values(bootstrap, topic, expect, timeout, count=lambda v: RawBatch.peek(v)[1])
    return [m for v in values for m in RawBatch.decode(v).messages]


def new_pipeline(tmp: Path, **extra_env: str) -> LocalPipeline:
    ns = Namespace(prefix=f"it{uuid.uuid4().hex[:8]}")
    pipeline = LocalPipeline(ns, tmp, extra_env=extra_env)
    asyncio.run(setup_all(pipeline.settings))
    return pipeline


def drop_indices(es: Elasticsearch, prefix: str) -> None:
    names = list(es.indices.get(index=f"{prefix}-*", allow_no_indices=True, ignore_unavailable=True).keys())
    if names:
        es.indices.delete(index=",".join(names), ignore_unavailable=True)


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory: pytest.TempPathFactory, es: Elasticsearch, kafka: str) -> Iterator[LocalPipeline]:
    """A running worker and syslog collector in a namespace of their own."""
    p = new_pipeline(tmp_path_factory.mktemp("pipeline"))
    p.start()
    yield p
    p.stop()
    drop_indices(es, p.ns.prefix)


@pytest.fixture()
def lab() -> Iterator[NetLab]:
    """A network namespace with a veth link: an attacker's and a bystander's address (soc/netns.py)."""
    net = NetLab.create()
    yield net
    net.delete()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """A test marked `faults` here is a fault drill kept beside the tests it shares its helpers
    with: only scripts/faults.sh (SOC_FAULT_DRILLS=1) runs it, never the suite."""
    if os.environ.get("SOC_FAULT_DRILLS") == "1":
        return
    drills = [item for item in items if item.get_closest_marker("faults")]
    if drills:
        config.hook.pytest_deselected(items=drills)
        items[:] = [item for item in items if not item.get_closest_marker("faults")]
