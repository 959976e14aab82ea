"""The Kafka topics between stages and their creation."""

from __future__ import annotations

from functools import lru_cache

from aiokafka.partitioner import murmur2

from soc.config import Settings

# name -> what flows on it (docs/architecture.md has the contracts). No topic carries the events
# themselves: the worker that normalizes a raw batch also detects on and indexes its events.
TOPICS: dict[str, str] = {
    "raw": "RawRecord: header line + original bytes, keyed by source id",
    "correlate": "rule matches feeding correlation windows, bundled per partition of their group key",
    "alerts": "ECS alert documents, keyed by alert id",
    "actions": "ECS action documents, keyed by alert id",
    "deadletter": "what a stage could not handle: reason, stage and original bytes",
}


@lru_cache(maxsize=65536)
def key_partition(key: bytes, partitions: int) -> int:
    """The partition Kafka's default partitioner (murmur2, as aiokafka's and the Java client's)
    gives a record with this key on a topic of that many partitions."""
    return (murmur2(key) & 0x7FFFFFFF) % partitions


def windows_table(settings: Settings) -> str:
    """The name of the worker's table of correlation windows."""
    return f"{settings.worker.app_id}-correlation-windows"


def windows_changelog(settings: Settings) -> str:
    """Its changelog topic, as faust names it (`<app id>-<table name>-changelog`)."""
    return f"{settings.worker.app_id}-{windows_table(settings)}-changelog"


def topic_names(settings: Settings) -> dict[str, str]:
    return {short: settings.topic(short) for short in TOPICS}


async def ensure_topics(settings: Settings) -> list[str]:
    """Create missing topics with the configured partitions; returns those created."""
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic
    from aiokafka.errors import TopicAlreadyExistsError

    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap, request_timeout_ms=15000)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        wanted = [
            NewTopic(
                name=name,
                num_partitions=settings.kafka.partitions,
                replication_factor=settings.kafka.replication,
                topic_configs={"max.message.bytes": str(4 * 1024 * 1024)},
            )
            for name in topic_names(settings).values()
            if name not in existing
        ]
        if wanted:
            try:
                resp = await admin.create_topics(wanted)
            except TopicAlreadyExistsError:
                pass
            else:
                for err in getattr(resp, "topic_errors", []) or []:
                    name, code = err[0], err[1]
                    if code not in (0, 36):  # 36: TOPIC_ALREADY_EXISTS (a concurrent creator)
                        raise RuntimeError(f"cannot create Kafka topic {name}: error code {code} {err[2:]}")
        return [t.name for t in wanted]
    finally:
        await admin.close()
