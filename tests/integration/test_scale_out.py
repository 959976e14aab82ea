"""Two stream workers in one consumer group: the same results as one, and a crash of one loses nothing.

The issue's requirement: with two or more Faust workers on the same topics (partitions ≥
workers), correlation results are identical to those of one worker, and killing one worker
mid-stream loses nothing while the other takes over its partitions and its window state.

The lines come from four loopback addresses, one per partition of soc.raw (a collector keys a
batch by its source id, `syslog:<peer address>`; the worker holding that partition normalizes,
detects on and indexes its events): four devices, each one a host that logs its own sshd
failures, so each worker gets its share of the traffic from the first stage on. Every
correlation group (source address, host) is attacked through one device only, so its matches
reach its soc.correlate partition in one order.

The second worker is the same `soc worker` command with the same environment as the first,
except its web port and data directory (bench/scale_out.py: ScaleOutPipeline; LocalPipeline
holds one worker).
"""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml
from elasticsearch import Elasticsearch
from elasticsearch.helpers import scan

from bench.scale_out import (
    Group,
    ScaleOutPipeline,
    describe_group,
    send_all,
    send_from,
    sources_per_partition,
    wait_for_group,
)
from soc.config import PROJECT_ROOT
from soc.model import RawRecord
from soc.pipeline import Namespace, count
from soc.store.setup import setup_all
from soc.stream.topics import key_partition, windows_changelog
from soc.stream.normalize import normalize

from .conftest import drop_indices

pytestmark = pytest.mark.integration

BRUTE = yaml.safe_load((PROJECT_ROOT / "rules/correlation/ssh_bruteforce.yml").read_text(encoding="utf-8"))
BRUTE_ID: str = BRUTE["id"]
THRESHOLD: int = BRUTE["correlation"]["condition"]["gte"]  # 5 failures within 1 minute
assert BRUTE["correlation"]["group-by"] == ["source.ip", "host.name"], "group_key() below follows the rule"


def group_key(ip: str, host: str) -> str:
    """The group key the detect stage gives a brute-force match (soc/stream/detect.py: _match)."""
    return f"{BRUTE_ID}|source.ip={ip}|host.name={host}"


# ---------------------------------------------------------------------------- traffic


@dataclass
class Traffic:
    """Lines per sending address, and what the pipeline must make of them."""

    per_source: dict[str, list[bytes]] = field(default_factory=dict)
    event_ids: set[str] = field(default_factory=set)  # what normalize makes of the lines
    dead_ids: set[str] = field(default_factory=set)
    failures: dict[str, list[str]] = field(default_factory=dict)  # brute-force group key -> event ids in order

    @property
    def lines(self) -> int:
        return sum(len(v) for v in self.per_source.values())

    def add(self, addr: str, line: bytes, group: str | None = None) -> None:
        self.per_source.setdefault(addr, []).append(line)
        rec = RawRecord(line, time.time_ns(), "syslog-tcp", f"{addr}:1", f"syslog:{addr}", "syslog")
        [(key, doc)] = normalize(rec.encode())
        if key is None:
            self.dead_ids.add(doc["event"]["id"])
        else:
            self.event_ids.add(doc["event"]["id"])
        if group is not None:
            assert key is not None, line
            self.failures.setdefault(group, []).append(doc["event"]["id"])


def host_of(i: int) -> str:
    return f"gov-cloud-db-{21 + i}"


def ts(t0: datetime, i: int) -> str:
    return (t0 + timedelta(milliseconds=5 * i)).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def ordinary(t0: datetime, i: int, host: str, marker: str) -> bytes:
    """Ordinary traffic of a host: an application line, cron, an internal administrator logging in."""
    at = ts(t0, i)
    k = i % 3
    if k == 0:
        return f"<14>1 {at} {host} app {i} - - {marker} n={i}".encode()
    if k == 1:
        return f"<78>1 {at} {host} CROND {i} - - (root) CMD (run-parts /etc/cron.hourly) {marker}-{i}".encode()
    return (f"<86>1 {at} {host} sshd {i} - - Accepted publickey for deploy from 10.20.{i % 200}.15 "
            f"port {1024 + i} ssh2: RSA SHA256:{marker}{i}").encode()


def failed(t0: datetime, i: int, host: str, src: str) -> bytes:
    # RFC 5424 carries the year, the zone and milliseconds: the event time is exactly ts(t0, i).
    return f"<86>1 {ts(t0, i)} {host} sshd {i} - - Failed password for root from {src} port {40000 + i} ssh2".encode()


def garbage(i: int, host: str, marker: str) -> bytes:
    # No parser reads it: a dead letter (unknown_format), whose id is of the bytes alone.
    return f"garbage ### {host} {marker} {i}".encode()


def stream(t: Traffic, addr: str, host: str, t0: datetime, start: int, n: int, marker: str,
           attacks: dict[str, int], dead: int) -> None:
    """n lines of one device from line number start: ordinary traffic with `attacks` (attacker ->
    failures) spread over it, the attackers taking turns, and `dead` unreadable lines."""
    turns: list[str] = []  # round robin: each attacker's failures interleaved with the others'
    left = dict(attacks)
    while any(left.values()):
        for src in attacks:
            if left[src]:
                turns.append(src)
                left[src] -= 1
    every = max(1, n // (len(turns) + dead + 1))
    planted = {every * (j + 1): src for j, src in enumerate(turns)}
    junk = {every * (len(turns) + j + 1) for j in range(dead)}
    for i in range(start, start + n):
        if i - start in planted:
            src = planted[i - start]
            t.add(addr, failed(t0, i, host, src), group_key(src, host))
        elif i - start in junk:
            t.add(addr, garbage(i, host, marker), None)
        else:
            t.add(addr, ordinary(t0, i, host, marker), None)


# ---------------------------------------------------------------------------- what Elasticsearch holds


def ids(es: Elasticsearch, index: str) -> list[str]:
    es.indices.refresh(index=index, ignore_unavailable=True, allow_no_indices=True)
    return [h["_id"] for h in scan(es, index=index, query={"query": {"match_all": {}}, "_source": False},
                                   ignore_unavailable=True)]


def alerts(es: Elasticsearch, prefix: str) -> dict[str, tuple[Any, ...]]:
    """Every alert document: id -> (rule id, group key, count, first seen, last seen, event ids)."""
    index = f"{prefix}-alerts"
    es.indices.refresh(index=index, ignore_unavailable=True)
    out = {}
    for hit in scan(es, index=index, query={"query": {"match_all": {}}}, ignore_unavailable=True):
        a = hit["_source"].get("soc", {}).get("alert", {})
        out[hit["_id"]] = (hit["_source"].get("rule", {}).get("id"), a.get("group_key"), a.get("count"),
                           a.get("first_seen"), a.get("last_seen"), tuple(a.get("event_ids") or ()))
    return out


def brute_alerts(snapshot: dict[str, tuple[Any, ...]]) -> dict[str, list[tuple[int, frozenset[str]]]]:
    """The brute-force alerts by group: [(count, event ids)] for each alert document of the group."""
    out: dict[str, list[tuple[int, frozenset[str]]]] = {}
    for rule, group, n, _, _, events in snapshot.values():
        if rule == BRUTE_ID:
            out.setdefault(group, []).append((n, frozenset(events)))
    return out


def expected_brute(t: Traffic) -> dict[str, list[tuple[int, frozenset[str]]]]:
    """One alert per group at or over the threshold, holding every failure (all within seconds)."""
    return {g: [(len(e), frozenset(e))] for g, e in t.failures.items() if len(e) >= THRESHOLD}


def settle(es: Elasticsearch, prefix: str, t: Traffic, timeout: float) -> dict[str, tuple[Any, ...]]:
    """Wait until every line is indexed or dead-lettered and the brute-force alerts are the
    expected ones, then until the alert documents stop changing; the last alert snapshot."""
    deadline = time.monotonic() + timeout
    want = expected_brute(t)
    snapshot: dict[str, tuple[Any, ...]] = {}
    while time.monotonic() < deadline:
        # The unreadable lines' own dead letters, not a count: a later stage's dead letters (a
        # playbook's failed block) would make a count reach the number before they are all in.
        done = (count(es, f"{prefix}-events-*") >= len(t.event_ids)
                and t.dead_ids <= set(ids(es, f"{prefix}-deadletter")))
        snapshot = alerts(es, prefix)
        if done and brute_alerts(snapshot) == want:
            break
        time.sleep(1)
    for _ in range(10):  # the last revisions of other correlations, if any are in flight
        time.sleep(2)
        again = alerts(es, prefix)
        if again == snapshot:
            break
        snapshot = again
    return snapshot


def assert_reconciles(es: Elasticsearch, prefix: str, t: Traffic) -> None:
    """Every line sent is one event or one dead letter, once; no stage after normalize failed."""
    assert len(t.event_ids) + len(t.dead_ids) == t.lines, "the traffic holds a line twice"
    events = ids(es, f"{prefix}-events-*")
    dead = ids(es, f"{prefix}-deadletter")
    assert len(events) == len(set(events)), "an event indexed twice (in two daily indices)"
    assert set(events) == t.event_ids, (
        f"{len(t.event_ids - set(events))} events missing, {len(set(events) - t.event_ids)} unexpected")
    # Any other dead letter is a later stage's failure (a playbook that failed on an alert, a
    # document Elasticsearch refused): say which, also when unreadable lines' ones are missing.
    later = [es.get(index=f"{prefix}-deadletter", id=i)["_source"]["soc"]["deadletter"] for i in set(dead) - t.dead_ids]
    said = f"{len(later)} dead letters from later stages: " + "; ".join(
        f"{d.get('stage')}/{d.get('reason')}: {str(d.get('error'))[:300]}" for d in later[:3])
    missing = t.dead_ids - set(dead)
    assert not missing, f"{len(missing)} of the {len(t.dead_ids)} unreadable lines have no dead letter; {said}"
    assert len(events) + len(t.dead_ids) == t.lines, "sent = indexed + dead-lettered"
    assert not later, said


def stage_count(p: ScaleOutPipeline, port: int, stage: str) -> float:
    return p.worker_metrics(port).get(f'soc_received_total{{stage="{stage}"}}', 0.0)


# ---------------------------------------------------------------------------- fixtures


@pytest.fixture()
def pipelines(tmp_path: Path, es: Elasticsearch, kafka: str) -> Iterator[Callable[[], ScaleOutPipeline]]:
    """Pipelines in namespaces of their own (as conftest.new_pipeline, with room for more workers)."""
    made: list[ScaleOutPipeline] = []

    def make() -> ScaleOutPipeline:
        ns = Namespace(prefix=f"it{uuid.uuid4().hex[:8]}")
        # A survivor that faust leaves stuck after the rebalance starts afresh after 30 s (the
        # worker's watchdog; 120 s by default), within this test's wait for the takeover.
        p = ScaleOutPipeline(ns, tmp_path / ns.prefix, extra_env={"SOC_WORKER__STUCK_S": "30"})
        asyncio.run(setup_all(p.settings))
        made.append(p)
        return p

    yield make
    for p in made:
        p.stop()
        drop_indices(es, p.ns.prefix)


def start(p: ScaleOutPipeline, workers: int) -> Group:
    """Collector and workers up; the group stable with every worker holding a share."""
    s = p.settings
    p.start_collector()
    p.start_worker()
    for _ in range(workers - 1):
        p.add_worker()
    ports = set(p.workers())
    topics = [s.topic(t) for t in ("raw", "correlate")]
    group = wait_for_group(s.kafka_bootstrap, s.worker.app_id, ports, topics, s.kafka.partitions, 120)
    assert set(group.members) == ports and group.state == "Stable", (
        f"{workers} workers did not form one group: {group}\n{p.tail('worker')}")
    return group


# ---------------------------------------------------------------------------- (a) same results


def test_two_workers_correlate_exactly_as_one(pipelines: Callable[[], ScaleOutPipeline], es: Elasticsearch) -> None:
    make = pipelines
    one, two = make(), make()
    partitions = one.settings.kafka.partitions
    assert partitions >= 2, "two workers need two partitions at least"
    sources = sources_per_partition(partitions)
    marker = f"so{uuid.uuid4().hex[:8]}"
    t0 = datetime.now(UTC) - timedelta(minutes=2)
    t = Traffic()
    for i, addr in enumerate(sources):
        # Per host: two brute forces over the threshold (5 and 8 failures), two below it (4, 1);
        # 18 failures in all, under the 20 of the account-lockout correlation.
        attacks = {f"192.0.2.{10 * i + 1}": 5, f"192.0.2.{10 * i + 2}": 8,
                   f"192.0.2.{10 * i + 3}": THRESHOLD - 1, f"192.0.2.{10 * i + 4}": 1}
        stream(t, addr, host_of(i), t0, 0, 1000, marker, attacks, dead=5)
    assert len(expected_brute(t)) == 2 * len(sources)

    results = []
    for p, n in ((one, 1), (two, 2)):
        group = start(p, n)
        send_all(p.ns.syslog_port, t.per_source)
        snapshot = settle(es, p.ns.prefix, t, 90)
        assert_reconciles(es, p.ns.prefix, t)
        assert brute_alerts(snapshot) == expected_brute(t), (
            f"{n} worker(s): brute-force alerts {brute_alerts(snapshot)}\n{p.tail('worker')}")
        if n == 2:
            # Both workers did part of the work, from the first stage on.
            for port in p.workers():
                assert group.members[port].get(p.settings.topic("raw")), group
                assert stage_count(p, port, "normalize") > 0, f"worker :{port} normalized nothing"
                assert stage_count(p, port, "correlate") > 0, f"worker :{port} correlated nothing"
        results.append(snapshot)
        p.stop()  # the next run has the machine to itself

    single, double = results
    # The same alert documents (ids, rules, groups, counts, first/last seen, event ids in order).
    assert double == single


# ---------------------------------------------------------------------------- (b) a worker dies


async def _committed_lag(bootstrap: str, group_id: str, topic: str, partitions: int) -> dict[int, int]:
    """Per partition of topic: its end offset minus what the group has committed."""
    from aiokafka import AIOKafkaConsumer, TopicPartition
    from aiokafka.admin import AIOKafkaAdminClient

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False)
    await admin.start()
    await consumer.start()
    try:
        tps = [TopicPartition(topic, p) for p in range(partitions)]
        committed = await admin.list_consumer_group_offsets(group_id, partitions=tps)
        ends = await consumer.end_offsets(tps)
        return {tp.partition: ends[tp] - max(0, committed[tp].offset if tp in committed else 0) for tp in tps}
    finally:
        await consumer.stop()
        await admin.close()


async def _changelog(bootstrap: str, topic: str, partitions: int) -> dict[bytes, tuple[int, bytes | None]]:
    """The latest value of every key of a changelog topic, with its partition."""
    from aiokafka import AIOKafkaConsumer, TopicPartition

    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False)
    await consumer.start()
    out: dict[bytes, tuple[int, bytes | None]] = {}
    try:
        tps = [TopicPartition(topic, p) for p in range(partitions)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        ends = await consumer.end_offsets(tps)
        while [tp for tp, end in ends.items() if await consumer.position(tp) < end]:
            for tp, records in (await consumer.getmany(timeout_ms=1000)).items():
                for r in records:
                    out[r.key] = (tp.partition, r.value)
    finally:
        await consumer.stop()
    return out


def _attacker(host: str, partition: int, partitions: int, taken: set[str]) -> str:
    """An address whose brute-force group against host goes to this soc.correlate partition."""
    for k in range(1, 255):
        ip = f"198.51.100.{k}"
        if ip not in taken and key_partition(group_key(ip, host).encode(), partitions) == partition:
            taken.add(ip)
            return ip
    raise AssertionError(f"no attacker address for partition {partition}")


@pytest.mark.faults
@pytest.mark.timeout(900)
def test_sigkill_one_of_two_workers_mid_stream(pipelines: Callable[[], ScaleOutPipeline], es: Elasticsearch) -> None:
    p = pipelines()
    s = p.settings
    prefix, partitions = p.ns.prefix, s.kafka.partitions
    correlate_topic = s.topic("correlate")
    changelog = windows_changelog(s)
    sources = sources_per_partition(partitions)
    marker = f"so{uuid.uuid4().hex[:8]}"
    t0 = datetime.now(UTC) - timedelta(minutes=2)

    # On every soc.correlate partition, two brute forces that straddle the kill: one over the
    # threshold before it (6 failures, then 6 more after), one below it before (3, then 3 more).
    # Whichever worker dies held some of them.
    taken: set[str] = set()
    over: dict[str, int] = {}  # group key -> its soc.correlate partition
    under: dict[str, int] = {}
    plan: list[dict[str, int]] = []
    for i in range(partitions):
        host = host_of(i)
        a, b = _attacker(host, i, partitions, taken), _attacker(host, i, partitions, taken)
        over[group_key(a, host)], under[group_key(b, host)] = i, i
        plan.append({a: 6, b: 3})
    n1, n2, n3 = 400, 600, 400  # lines per device before the kill, around it, after it
    before, around, after = Traffic(), Traffic(), Traffic()
    for i, addr in enumerate(sources):
        # Unreadable lines only after the kill: the dead worker's soc.deadletter partitions get
        # their first records while nobody holds them (nothing committed there yet).
        stream(before, addr, host_of(i), t0, 0, n1, marker, plan[i], dead=0)
        stream(around, addr, host_of(i), t0, n1, n2, marker, {}, dead=0)
        stream(after, addr, host_of(i), t0, n1 + n2, n3, marker, plan[i], dead=6)
    everything = Traffic()
    for part in (before, around, after):
        for addr, lines in part.per_source.items():
            everything.per_source.setdefault(addr, []).extend(lines)
        everything.event_ids |= part.event_ids
        everything.dead_ids |= part.dead_ids
        for g, e in part.failures.items():
            everything.failures.setdefault(g, []).extend(e)

    group = start(p, 2)
    victim = p.ns.web_port  # LocalPipeline's own worker; the added one survives
    [survivor] = set(p.workers()) - {victim}
    held = group.members[victim][correlate_topic]
    assert held and set(held) != set(range(partitions)), group

    # Before the kill: the straddling groups' first halves are processed by their workers.
    send_all(p.ns.syslog_port, before.per_source)
    deadline = time.monotonic() + 90
    counts: dict[str, list[tuple[int, frozenset[str]]]] = {}
    while time.monotonic() < deadline:
        counts = brute_alerts(alerts(es, prefix))
        if all(counts.get(g) == [(6, frozenset(before.failures[g]))] for g in over):
            break
        time.sleep(0.5)
    assert all(counts.get(g) == [(6, frozenset(before.failures[g]))] for g in over), counts
    assert not any(g in counts for g in under), counts
    # ...and committed: the killed worker's replacement cannot re-read those matches from
    # soc.correlate; only the changelog can give them back.
    deadline = time.monotonic() + 60
    lag = asyncio.run(_committed_lag(s.kafka_bootstrap, s.worker.app_id, correlate_topic, partitions))
    while any(lag.values()) and time.monotonic() < deadline:
        time.sleep(0.5)
        lag = asyncio.run(_committed_lag(s.kafka_bootstrap, s.worker.app_id, correlate_topic, partitions))
    assert not any(lag.values()), f"soc.correlate not committed: {lag}"
    # The windows are in the changelog, on the partition of their group.
    state = asyncio.run(_changelog(s.kafka_bootstrap, changelog, partitions))
    for g, part in {**over, **under}.items():
        assert g.encode() in state, f"no window for {g} in {changelog}"
        where, value = state[g.encode()]
        assert where == part and value is not None
        assert sorted(e[1] for e in orjson.loads(value)["w"]) == sorted(before.failures[g]), g
    assert group == asyncio.run(describe_group(s.kafka_bootstrap, s.worker.app_id)), "the group moved meanwhile"

    # Lines keep arriving: every device sends in small paced chunks, half of them before the
    # kill and half after it; then the straddling groups' second halves.
    sent_half = threading.Barrier(len(sources) + 1)
    killed = threading.Event()

    def paced(addr: str, lines: list[bytes]) -> None:
        chunks = [lines[j: j + 20] for j in range(0, len(lines), 20)]
        for j, chunk in enumerate(chunks):
            if j == len(chunks) // 2:
                sent_half.wait(60)
                killed.wait(60)
            send_from(p.ns.syslog_port, addr, chunk)
            time.sleep(0.05)

    senders = [threading.Thread(target=paced, args=(a, ls)) for a, ls in around.per_source.items()]
    for th in senders:
        th.start()
    sent_half.wait(60)
    p.kill_worker_at(victim)
    killed.set()
    for th in senders:
        th.join()
    send_all(p.ns.syslog_port, after.per_source)

    # The survivor takes over every partition once the group gives up on the dead worker
    # (worker.session_timeout_s), and rebuilds the dead worker's windows from the changelog.
    topics = [s.topic(t) for t in ("raw", "correlate")]
    group = wait_for_group(s.kafka_bootstrap, s.worker.app_id, {survivor}, topics, partitions,
                           s.worker.session_timeout_s * 4 + 60)
    assert set(group.members) == {survivor}, f"no takeover: {group}\n{p.tail(p.log_name(survivor))}"
    for topic in topics:
        assert group.members[survivor][topic] == list(range(partitions)), group
    assert p.worker_alive_at(survivor)

    snapshot = settle(es, prefix, everything, 90)
    # Nothing lost, nothing twice.
    assert_reconciles(es, prefix, everything)
    # Each straddling group over the threshold: one alert (the window of before the kill,
    # continued), every failure of both halves counted once.
    found = brute_alerts(snapshot)
    for g in over:
        assert found.get(g) == [(12, frozenset(everything.failures[g]))], (g, found.get(g))
    # Each one below it before the kill: one alert with the 6 failures, which only the windows
    # carried over could make (3 after the kill alone are under the threshold).
    for g in under:
        assert found.get(g) == [(6, frozenset(everything.failures[g]))], (g, found.get(g))
    assert found == expected_brute(everything)
    # Some of those groups were on the dead worker's partitions.
    assert any(over[g] in held for g in over) and any(under[g] in held for g in under)
