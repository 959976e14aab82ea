"""The same telemetry from every stage and collector, in the Prometheus text format.

Counters are labelled by `stage` (normalize, detect, correlate, respond, index.events,
collector.syslog, ...) and counted per batch, so the figures cost nothing on the hot path.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

REGISTRY = CollectorRegistry(auto_describe=True)

RECEIVED = Counter("soc_received", "Messages a stage received", ["stage"], registry=REGISTRY)
SENT = Counter("soc_sent", "Messages a stage passed on (produced or written)", ["stage"], registry=REGISTRY)
RECEIVED_BYTES = Counter("soc_received_bytes", "Bytes a stage received", ["stage"], registry=REGISTRY)
ERRORS = Counter("soc_errors", "Errors by stage and reason (retried or not)", ["stage", "reason"], registry=REGISTRY)
DEADLETTERED = Counter(
    "soc_deadlettered", "Messages sent to soc.deadletter, by stage and reason", ["stage", "reason"], registry=REGISTRY
)
DROPPED = Counter("soc_dropped", "Messages dropped, by stage and reason", ["stage", "reason"], registry=REGISTRY)
UNCONFIRMED = Counter(
    "soc_unconfirmed",
    "Lines a collector handed to Kafka that Kafka never confirmed (it may have written them) and that "
    "its full spool could not keep either: lost or delivered, not known",
    ["stage", "reason"], registry=REGISTRY,
)
RETRIES = Counter("soc_retries", "Retried writes, by stage and reason", ["stage", "reason"], registry=REGISTRY)
BATCH_SECONDS = Histogram(
    "soc_batch_seconds",
    "Time to process one batch, by stage",
    ["stage"],
    buckets=(0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
    registry=REGISTRY,
)
INGEST_TO_INDEXED = Histogram(
    "soc_ingest_to_indexed_seconds",
    "From the collector receiving a line to Elasticsearch acknowledging its event",
    buckets=(0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1, 1.5, 2, 3, 5, 7.5, 10, 20, 30, 60),
    registry=REGISTRY,
)
RECEIVED_PACKETS = Counter("soc_received_packets", "Packets a capture stage saw on the wire", ["stage"], registry=REGISTRY)
DECODED_PACKETS = Counter(
    "soc_decoded_packets", "Packets a capture stage decoded as IP and counted in a flow", ["stage"], registry=REGISTRY
)
SPOOLED = Counter("soc_spooled", "Records written to a collector's disk spool", ["stage"], registry=REGISTRY)
SPOOL_BYTES = Gauge("soc_spool_bytes", "Bytes waiting in a collector's disk spool", ["stage"], registry=REGISTRY)
GROUPS = Gauge("soc_correlation_groups", "Correlation groups held by this worker's window table", registry=REGISTRY)
EXPIRED = Counter("soc_correlation_expired", "Idle correlation groups forgotten", registry=REGISTRY)
IN_FLIGHT = Gauge("soc_in_flight", "Messages accepted but not yet acknowledged downstream", ["stage"], registry=REGISTRY)


def render() -> bytes:
    """The whole registry in the Prometheus text exposition format."""
    return generate_latest(REGISTRY)


CONTENT_TYPE = "text/plain; version=0.0.4"
