"""The Faust app: its configuration, its topics and the agents of every stage.

    soc.raw ─normalize, detect, index.events─▶ Elasticsearch (events)
               ├─▶ soc.alerts ─respond─▶ soc.actions
               ├─▶ soc.correlate ─correlate─▶ soc.alerts
               └─▶ soc.deadletter
    soc.alerts, soc.actions, soc.deadletter ─index─▶ Elasticsearch

The events themselves never cross Kafka: one agent on soc.raw normalizes a batch, runs the
rules on its events and bulk-writes them (docs/architecture.md says why). Every message is
bytes on the wire (the `raw` codec): RawRecord's own encoding on soc.raw, orjson-encoded ECS
documents elsewhere. Agents consume in batches (stream.take); Faust acks a batch's offsets only
after the loop body has handled it, and flushes the producer before it commits, so a crash at
any point re-delivers rather than loses (at least once; deterministic ids make the repeats
harmless).
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
import time

import faust
import orjson
from faust.web import Request, Response, View

from detectors.registry import RuleRegistry
from detectors.rules import CorrelationSpec
from soc.config import settings
from soc.metrics import (BATCH_SECONDS, CONTENT_TYPE, DEADLETTERED, DROPPED, EXPIRED, GROUPS, RECEIVED, RETRIES, SENT,
                         REGISTRY, render)
from soc.model import ContractError, Doc, get_path, loads
from soc.store.bulk import BulkItem, BulkWriter, unavailable
from soc.store.client import async_client
from soc.stream.deadletter import dead_letter
from soc.stream.detect import bundles, by_group, correlate_all, detect, expired, state_bytes, tick
from soc.stream.index import UNINDEXABLE, bulk_items, event_items, failure_dead_letter, observe_ingest_latency
from soc.stream import offsets
from soc.stream.normalize import load_enrichers, normalize
from soc.stream.respond import respond
from soc.stream.topics import key_partition, windows_table
from soc.stream.watchdog import Watchdog
from soc.response.service import build as build_response

log = logging.getLogger(__name__)

_cfg = settings()

app = faust.App(
    _cfg.worker.app_id,
    broker=f"kafka://{_cfg.kafka_bootstrap}",
    key_serializer="raw",
    value_serializer="raw",
    store="memory://",
    topic_partitions=_cfg.kafka.partitions,
    topic_replication_factor=_cfg.kafka.replication,
    topic_allow_declare=True,
    topic_disable_leader=True,
    web_host="127.0.0.1",
    web_bind="127.0.0.1",  # faust binds 0.0.0.0 otherwise: the worker's pages stay on loopback
    web_port=_cfg.worker.web_port,
    web_in_thread=False,
    datadir=str(_cfg.worker.data_dir or f"/tmp/{_cfg.worker.app_id}-data"),
    producer_acks=-1,
    producer_max_request_size=4 * 1024 * 1024,
    producer_linger_ms=5,
    consumer_auto_offset_reset="earliest",
    consumer_max_fetch_size=8 * 1024 * 1024,
    stream_wait_empty=False,
    stream_buffer_maxsize=max(8192, 2 * _cfg.worker.batch_size),
    broker_commit_every=1000,
    broker_commit_interval=1.0,
    table_standby_replicas=0,
    broker_session_timeout=_cfg.worker.session_timeout_s,
    broker_heartbeat_interval=min(3.0, _cfg.worker.session_timeout_s / 3),
    logging_config=None,
)


offsets.install()  # nothing committed past a record that was not processed (soc/stream/offsets.py)


def _topic(short: str) -> faust.TopicT:
    return app.topic(
        _cfg.topic(short),
        key_type=bytes,
        value_type=bytes,
        key_serializer="raw",
        value_serializer="raw",
        partitions=_cfg.kafka.partitions,
    )


raw_topic = _topic("raw")
correlate_topic = _topic("correlate")
alerts_topic = _topic("alerts")
actions_topic = _topic("actions")
deadletter_topic = _topic("deadletter")

RULES = RuleRegistry(_cfg.worker.rules_dirs, _cfg.worker.sigma_placeholders, _cfg.worker.rules_state_file,
                     _cfg.worker.alert_suppression_s)
ENRICHERS = load_enrichers(_cfg)  # a bad inventory or GeoIP file stops the worker here, named


@app.task
async def on_start() -> None:
    """Say what was loaded; keep aiokafka and faust quiet below WARNING.

    Faust's logging setup leaves those libraries at DEBUG, and building their records cost
    about 7 % of a core in the profile (bench/RESULTS.md).
    """
    for name in ("aiokafka", "faust", "mode", "kafka"):
        logging.getLogger(name).setLevel(logging.WARNING)
    log.warning("Sigma rules loaded from %s: %s", ", ".join(map(str, _cfg.worker.rules_dirs)), RULES.ruleset.summary())
    log.warning("playbooks loaded from %s: %s", _cfg.response.playbooks_dir,
                ", ".join(b.id for b in RESPONSE.responder.playbooks) or "none")
    for problem in RESPONSE.problems:
        log.error("playbook left out: %s", problem)
    for warning in RESPONSE.warnings:
        log.warning("playbook: %s", warning)


@app.page("/metrics")
class MetricsView(View):
    """Prometheus text exposition of every stage's counters."""

    async def get(self, request: Request) -> Response:
        return self.bytes(render(), content_type=CONTENT_TYPE)


# ---------------------------------------------------------------------------- agents

def _timed(stage: str, n: int) -> float:
    """Count a received batch; returns its start time for soc_batch_seconds."""
    RECEIVED.labels(stage).inc(n)
    return time.perf_counter()


@app.agent(raw_topic, name="normalize")
async def normalize_agent(stream: faust.StreamT) -> None:
    """The hot path, three stages in one agent so that no event makes a Kafka round trip:
    normalize every line of a batch of soc.raw (what cannot be parsed goes to soc.deadletter),
    run the Sigma rules on each event (alerts to soc.alerts, matches to soc.correlate), then
    bulk-write the events (refusals to soc.deadletter). The batch is acked, so its offsets
    committed, only after every write of it: while Elasticsearch is away the stage waits and
    commits nothing. A take() batch of many large records is handled in parts of about
    batch_size lines, which bounds the events held at once; up to `index_in_flight` parts are
    being written while the next one is parsed, so Elasticsearch and the worker work at once."""
    writer = BulkWriter(
        async_client(_cfg), "index.events", _cfg.worker.bulk_max_bytes, _cfg.worker.retry_max_backoff_s
    )
    async for batch in stream.take(_cfg.worker.batch_size, within=_cfg.worker.batch_within_s):
        events: list[Doc] = []
        started, received = time.perf_counter(), 0
        writing: list[asyncio.Task[None]] = []
        for n, data in enumerate(batch, 1):
            for key, doc in normalize(data, ENRICHERS):
                received += 1
                if key is None:
                    await _dead_letter("normalize", doc)
                else:
                    events.append(doc)
            if received < _cfg.worker.batch_size and n < len(batch):
                continue
            RECEIVED.labels("normalize").inc(received)  # lines, not Kafka records
            SENT.labels("normalize").inc(len(events))
            BATCH_SECONDS.labels("normalize").observe(time.perf_counter() - started)
            if events:
                await _detect(events)
                started = _timed("index.events", len(events))
                if len(writing) >= _cfg.worker.index_in_flight:
                    await writing.pop(0)
                writing.append(asyncio.ensure_future(
                    _index("events", writer, event_items(_cfg.elastic.index_prefix, events), [], started)))
            events, started, received = [], time.perf_counter(), 0
        try:
            for task in writing:
                await task  # the batch ends (and is acked) only once every part is written
        finally:
            for task in writing:
                task.cancel()  # a failed part stops the batch: no write of it outlives it


async def _detect(events: list[Doc]) -> None:
    """Run the Sigma rules on every event; feed correlation windows; raise alerts."""
    started = _timed("detect", len(events))
    ruleset, suppression = RULES.ruleset, RULES.suppression_s > 0  # a reload replaces them whole
    alerts = 0
    groups: dict[bytes, list[Doc]] = {}  # a group's matches of this batch, in event order
    for doc in events:
        found, matches = detect(ruleset, doc, suppression=suppression)
        for alert in found:
            await _send_alert(alert)
        for key, match in matches:
            groups.setdefault(key, []).append(match)
        alerts += len(found)
    for partition, bundle in bundles(groups, _cfg.kafka.partitions).items():  # one message per partition
        await correlate_topic.send(partition=partition, value=orjson.dumps(bundle))
    SENT.labels("detect").inc(alerts)
    BATCH_SECONDS.labels("detect").observe(time.perf_counter() - started)


# Window state per correlation group, changelogged to Kafka: a restarted worker, or the worker
# that takes over a partition, rebuilds it before it consumes.
windows = app.Table(
    windows_table(_cfg),
    default=None,
    partitions=_cfg.kafka.partitions,
    key_type=bytes,
    value_type=bytes,
)


@app.agent(correlate_topic, name="correlate")
async def correlate_agent(stream: faust.StreamT) -> None:
    """Sliding event-time windows per (correlation rule, group-by values).

    One message at a time, not take(): a table write goes to the changelog partition of the
    message being processed, which take() would blur. A message holds the matches of one
    worker batch whose groups are on its partition (`bundles`), so each group's window is
    written to the changelog partition of its own key.
    """
    lateness_ms = int(_cfg.worker.correlation_lateness_s * 1000)
    async for key, data in stream.items():
        specs = RULES.specs  # replaced as a whole on a reload
        try:
            matches = _matches(data)
            tick_at = _tick(matches)
            groups = {} if tick_at is not None else by_group(matches)
        except (ContractError, ValueError) as exc:
            RECEIVED.labels("correlate").inc()
            await _dead_letter("correlate", dead_letter("correlate", "contract_invalid", str(exc), data))
            continue
        if tick_at is not None:  # from expire_idle_groups, on this key's own partition
            await _expire(specs, key, tick_at, lateness_ms)
            continue
        RECEIVED.labels("correlate").inc(len(matches))  # matches, not messages
        _WATERMARK[0] = max(_WATERMARK[0], *(int(m.get("ts", 0)) for m in matches))
        for group, items in groups.items():
            raw_state = windows.get(group)
            new_state, alerts, late = correlate_all(specs, orjson.loads(raw_state) if raw_state else None, items,
                                                    lateness_ms)
            if late:
                DROPPED.labels("correlate", "late").inc(late)
            if new_state is not None:
                windows[group] = state_bytes(new_state)
            await _send_correlated(alerts)


async def _expire(specs: dict[str, CorrelationSpec], key: bytes, watermark_ms: int, lateness_ms: int) -> None:
    """The expiry timer's visit to one group (`tick`): forget it, or raise the alerts of its
    windows decided at close."""
    raw_state = windows.get(key)
    if raw_state is None:
        return
    state = orjson.loads(raw_state)
    alerts, gone = tick(specs, key.decode(errors="replace"), state, watermark_ms, lateness_ms)
    if gone:
        del windows[key]
        EXPIRED.inc()
    elif alerts:
        windows[key] = state_bytes(state)
    await _send_correlated(alerts)


async def _send_correlated(alerts: list[Doc]) -> None:
    for alert in alerts:
        await alerts_topic.send(key=alert["soc"]["alert"]["id"].encode(), value=orjson.dumps(alert))
        SENT.labels("correlate").inc()


def _matches(data: bytes) -> list[Doc]:
    """A soc.correlate message: the matches of one batch on this partition (a list), or one
    object (an expiry tick, or a match written before matches were batched)."""
    try:
        value = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise ContractError(f"not a JSON document: {exc}") from exc
    items = value if isinstance(value, list) else [value]
    if not items or not all(isinstance(m, dict) for m in items):
        raise ContractError("not a JSON object or a non-empty list of them")
    return items


def _tick(matches: list[Doc]) -> int | None:
    """The watermark of an expiry tick (`{"expire": ms}`, keyed by its group), else None."""
    if len(matches) == 1 and "expire" in matches[0]:
        try:
            return int(matches[0]["expire"])
        except (TypeError, ValueError) as exc:
            raise ContractError(f"an expiry tick without its time: {exc}") from exc
    return None


@app.timer(interval=_cfg.worker.rules_reload_interval_s)
async def reload_rules() -> None:
    """Hot reload: changed rule files or rule state replace the running rules (loaded in a
    thread, so the agents keep running meanwhile)."""
    await asyncio.to_thread(RULES.maybe_reload)


_WATERMARK = [0]  # the newest event time this worker's correlate agent has seen (ms)
EXPIRE_PER_TICK = 10_000


@app.timer(interval=_cfg.worker.correlation_expiry_interval_s)
async def expire_idle_groups() -> None:
    """Bounded memory, and windows decided at close: ask the correlate agent to visit the groups
    that are idle or have a window event time has passed (`tick`). The work happens in the agent,
    on the group's own partition, so the changelog gets the tombstone where the group lives; a
    group that received a match meanwhile is kept."""
    specs = RULES.specs
    lateness_ms = int(_cfg.worker.correlation_lateness_s * 1000)
    watermark = _WATERMARK[0]
    GROUPS.set(len(windows))
    if not watermark:
        return
    asked = 0
    for key, raw in list(windows.items()):
        if asked >= EXPIRE_PER_TICK:
            break
        if expired(specs, key.decode(errors="replace"), orjson.loads(raw) if raw else None, watermark, lateness_ms):
            await correlate_topic.send(key=key, partition=key_partition(key, _cfg.kafka.partitions),
                                       value=orjson.dumps({"expire": watermark}))
            asked += 1


async def _send_alert(alert: dict) -> None:
    await alerts_topic.send(key=alert["soc"]["alert"]["id"].encode(), value=orjson.dumps(alert))


async def _send_actions(actions: list[dict]) -> None:
    for action in actions:
        await actions_topic.send(key=action["soc"]["action"]["alert_id"].encode(), value=orjson.dumps(action))
        SENT.labels("respond").inc()


RESPONSE = build_response(_cfg, async_client(_cfg), _send_alert)  # a bad adapter or channel stops here


@app.agent(alerts_topic, name="respond")
async def respond_agent(stream: faust.StreamT) -> None:
    """Run the playbooks each alert triggers (soc/response); record the others as an Action."""
    async for batch in stream.take(_cfg.worker.batch_size, within=_cfg.worker.batch_within_s):
        started = _timed("respond", len(batch))
        for data in batch:
            try:
                alert = loads(data)
            except ContractError as exc:
                await _dead_letter("respond", dead_letter("respond", "contract_invalid", str(exc), data))
                continue
            try:
                actions = await _run_playbooks(alert)
            except Exception as exc:  # noqa: BLE001 - a playbook's failure never stops the stage
                log.exception("playbooks failed on alert %s", get_path(alert, "soc.alert.id"))
                await _dead_letter("respond", dead_letter("respond", "playbook_failed", repr(exc), data))
                continue
            if not actions:
                record = respond(alert)
                actions = [record] if record is not None else []
            await _send_actions(actions)
        BATCH_SECONDS.labels("respond").observe(time.perf_counter() - started)


async def _run_playbooks(alert: Doc) -> list[Doc]:
    """The alert's playbooks; while Elasticsearch is away (the blocklist, the actions, the
    incidents live there) the stage waits and runs them again, with capped backoff, as the index
    stage does, rather than dead-letter the alert: the response comes late, never not at all.
    Steps done before the outage struck are done again (actions and blocks keep their ids;
    a notification may be sent twice)."""
    backoff, waited = 0.5, 0.0
    while True:
        try:
            return await RESPONSE.responder.handle(alert)
        except Exception as exc:
            if not unavailable(exc):
                raise
            if waited == 0.0:
                log.warning("respond: Elasticsearch unavailable (%s); alert %s waits until it is back",
                            exc, get_path(alert, "soc.alert.id"))
            RETRIES.labels("respond", "es_unavailable").inc()
            await asyncio.sleep(backoff)
            waited += backoff
            backoff = min(backoff * 2, 30.0)


@app.timer(interval=_cfg.response.sweep_interval_s)
async def sweep_blocks() -> None:
    """TTL expiry, removals, approvals and retries of blocks (soc/response/enforce.py)."""
    try:
        actions, alerts = await RESPONSE.enforcer.sweep()
    except Exception:  # noqa: BLE001 - the next round tries again
        log.exception("block sweep failed")
        return
    await _send_actions(actions)
    for alert in alerts:
        await _send_alert(alert)


COMPLIANCE_ES = async_client(_cfg)


def _runs_group_chores() -> bool:
    """One worker of the group does the periodic work that must not happen twice: the one holding
    partition 0 of soc.raw (faust's own leader election needs a topic it would auto-create, and
    the cluster does not auto-create topics)."""
    raw = _cfg.topic("raw")
    return any(tp.topic == raw and tp.partition == 0 for tp in app.assignor.assigned_actives())


@app.timer(interval=_cfg.compliance.interval_s)
async def run_compliance() -> None:
    """The MLPS checks on schedule, by one worker of the group (soc/compliance/); the results and
    their history go to `<prefix>-compliance`. A failing run is logged and tried at the next tick."""
    if not _runs_group_chores():
        return
    from soc.assets import load_inventory
    from soc.compliance.engine import Context, load_checks, run_checks
    from soc.compliance.store import ComplianceStore
    from soc.response.blocks import utcnow

    try:
        checks, problems = await asyncio.to_thread(load_checks, _cfg.compliance.checks_dir)
        for problem in problems:
            log.error("compliance check not loaded: %s", problem)
        ctx = Context(COMPLIANCE_ES, _cfg, load_inventory(_cfg.assets_file), utcnow())
        results = await run_checks(ctx, checks)
        await ComplianceStore(COMPLIANCE_ES, _cfg.elastic.index_prefix).write(results)
        log.warning("compliance run: %d results", len(results))
    except Exception:  # noqa: BLE001 - the next tick tries again
        log.exception("compliance run failed")


@app.timer(interval=_cfg.retention.interval_s)
async def apply_retention() -> None:
    """Log retention by one worker of the group (soc/store/retention.py, docs/retention.md):
    expired dated indices deleted, each in the audit trail; on a cluster with ILM, its policy
    kept attached instead. A failing run is logged and tried at the next tick. Not on_leader=True:
    with topic_disable_leader faust never elects one, so such a timer would never run."""
    if not _runs_group_chores():
        return
    from soc.response.blocks import utcnow
    from soc.store.retention import apply

    es = async_client(_cfg)
    try:
        report = await apply(es, _cfg, utcnow())
        for line in report.summary():
            log.warning("%s", line)
    except Exception:  # noqa: BLE001 - the next tick tries again
        log.exception("retention run failed")
    finally:
        await es.close()


_OUTBOX: list = []  # the worker's notice outbox, built on first use (soc/reporting/outbox.py)


@app.timer(interval=_cfg.reporting.interval_s)
async def drain_outbox() -> None:
    """Incident notices upstream, by one worker of the group (soc/reporting/outbox.py): send what
    is due (claims are conditional writes, so even two drainers never send one notice at once),
    then raise an alert for each notice past its deadline and not delivered (once per notice).
    Rejections and overdue notices go to the alerts topic like any alert. A failing round is
    logged and tried at the next tick; so is an adapter that cannot be built (a key file), while
    the deadlines are still checked."""
    if not _runs_group_chores():
        return
    from soc.config import ConfigError
    from soc.reporting.outbox import Outbox
    from soc.reporting.upstream import build_upstreams

    if not _OUTBOX:
        _OUTBOX.append(Outbox(COMPLIANCE_ES, _cfg.elastic.index_prefix, _cfg.reporting))
    outbox = _OUTBOX[0]
    alerts: list[dict] = []
    try:
        if not outbox.upstreams and _cfg.reporting.endpoints:
            outbox.upstreams = build_upstreams(_cfg.reporting)
        if outbox.upstreams:
            result = await outbox.drain()
            alerts += result.alerts
            if result.delivered or result.rejected or result.retrying:
                log.warning("notices: %d delivered, %d rejected, %d to retry", len(result.delivered),
                            len(result.rejected), len(result.retrying))
    except ConfigError as exc:
        log.error("notices not sent: %s", exc)
    except Exception:  # noqa: BLE001 - the next tick tries again
        log.exception("notice outbox drain failed")
    try:
        alerts += await outbox.check_deadlines()
    except Exception:  # noqa: BLE001 - the next tick tries again
        log.exception("notice deadline check failed")
    for alert in alerts:
        await _send_alert(alert)


async def _dead_letter(stage: str, doc: dict) -> None:
    DEADLETTERED.labels(stage, doc["soc"]["deadletter"]["reason"]).inc()
    await deadletter_topic.send(key=doc["event"]["id"].encode(), value=orjson.dumps(doc))


async def _index(kind: str, writer: BulkWriter, items: list[BulkItem], dead: list[Doc], started: float) -> None:
    """Write one batch of documents of a kind; what Elasticsearch refuses for good, and the
    messages that were no documents (`dead`), go to soc.deadletter. Returns once every document
    is written or dead-lettered (BulkWriter retries the rest for as long as it takes)."""
    stage = f"index.{kind}"
    result = await writer.write(items)
    if kind == "events":
        observe_ingest_latency(items, result.failures)
    for failure in result.failures:
        if kind == "deadletter" and get_path(failure.item.doc, "soc.deadletter.reason") == UNINDEXABLE:
            # Even the minimal record was refused: do not loop; say so loudly instead.
            DROPPED.labels(stage, UNINDEXABLE).inc()
            log.error("dead letter %s cannot be indexed (%s); it stays in the topic %s",
                      failure.item.doc_id, failure.detail, deadletter_topic.get_topic_name())
            continue
        dead.append(failure_dead_letter(kind, failure))
    for doc in dead:
        await _dead_letter(stage, doc)
    SENT.labels(stage).inc(result.written)
    BATCH_SECONDS.labels(stage).observe(time.perf_counter() - started)


def _index_agent(kind: str, topic: faust.TopicT) -> None:
    """One bulk-indexing agent per topic, all of the same shape (events are written by the
    normalize agent itself)."""
    stage = f"index.{kind}"

    async def index_stream(stream: faust.StreamT) -> None:
        writer = BulkWriter(
            async_client(_cfg), stage, _cfg.worker.bulk_max_bytes, _cfg.worker.retry_max_backoff_s
        )
        async for batch in stream.take(_cfg.worker.batch_size, within=_cfg.worker.batch_within_s):
            started = _timed(stage, len(batch))
            items, dead = bulk_items(kind, _cfg.elastic.index_prefix, batch)
            await _index(kind, writer, items, dead, started)

    index_stream.__name__ = index_stream.__qualname__ = f"index_{kind}"
    app.agent(topic, name=stage)(index_stream)


for _kind, _topic_obj in (
    ("alerts", alerts_topic),
    ("actions", actions_topic),
    ("deadletter", deadletter_topic),
):
    _index_agent(_kind, _topic_obj)


_ARGV: list[str] = ["-m", "soc.cli", "worker"]
_WATCHDOG = Watchdog(_cfg.worker.stuck_s)


async def _backlog() -> int | None:
    """Records of the group's topics not yet committed by the group; None when unknown. The
    clients live for one measurement only: an idle aiokafka client left open while Kafka is
    away retries its connection in a tight loop (thousands of log lines a second, measured)."""
    from aiokafka import AIOKafkaConsumer, TopicPartition
    from aiokafka.admin import AIOKafkaAdminClient

    admin = AIOKafkaAdminClient(bootstrap_servers=_cfg.kafka_bootstrap, request_timeout_ms=10000)
    ends = AIOKafkaConsumer(bootstrap_servers=_cfg.kafka_bootstrap, group_id=None, enable_auto_commit=False,
                            request_timeout_ms=10000)
    try:
        await asyncio.wait_for(admin.start(), 15)
        await asyncio.wait_for(ends.start(), 15)
        tps = [TopicPartition(_cfg.topic(t), n) for t in ("raw", "correlate", "alerts", "actions", "deadletter")
               for n in range(_cfg.kafka.partitions)]
        committed = await asyncio.wait_for(admin.list_consumer_group_offsets(_cfg.worker.app_id, partitions=tps), 15)
        end = await asyncio.wait_for(ends.end_offsets(tps), 15)
    except Exception:  # noqa: BLE001 - Kafka away, the group not there yet: unknown, not stuck
        return None
    finally:
        for closing in (ends.stop, admin.close):
            try:
                await asyncio.wait_for(closing(), 15)
            except Exception:  # noqa: BLE001, S110 - closing a client that never started
                pass
    return sum(max(0, end[tp] - max(0, committed[tp].offset if tp in committed else 0)) for tp in tps)


def _progress() -> float:
    """Everything this worker has counted: received, sent, retried (waiting for Elasticsearch
    counts as work too)."""
    return sum(sample.value for metric in REGISTRY.collect()
               if metric.name in ("soc_received", "soc_sent", "soc_retries")
               for sample in metric.samples if sample.name.endswith("_total"))


@app.timer(interval=10.0)
async def watchdog() -> None:
    """Re-execute this worker when its group has work waiting and it makes no progress, or when
    one of its partitions can no longer commit (a record skipped after a rebalance)."""
    if not _cfg.worker.stuck_s:
        return
    reason = _WATCHDOG.observe_holes(time.monotonic(), offsets.holes(app.consumer)) \
        or _WATCHDOG.observe(time.monotonic(), _progress(), await _backlog())
    if reason is None:
        return
    log.critical("worker %s: %s; starting afresh (same command, new process)", _cfg.worker.app_id, reason)
    logging.shutdown()
    os.execv(sys.executable, [sys.executable, *_ARGV])


def run_worker(extra_args: list[str]) -> None:
    """`soc worker`: topics and templates ensured, then a Faust worker with this app's agents."""
    import asyncio

    from soc.store.setup import setup_all

    _ARGV[:] = ["-m", "soc.cli", "worker", *extra_args]  # what the watchdog re-executes
    for line in asyncio.run(setup_all(_cfg)):
        log.warning("%s", line)
    sys.argv = [sys.argv[0], "worker", "--loglevel", os.environ.get("SOC_WORKER_LOGLEVEL", "warn"), *extra_args]
    app.main()
