"""Scale-out benchmark: the same traffic through one stream worker, then through two in one group.

Both runs use the same stack (Kafka, Elasticsearch), the same syslog collector command and the
same lines, each in a namespace of its own (topic prefix, index prefix, consumer group):
1. one `soc worker`;
2. two `soc worker` processes with the same app id, so one consumer group: Faust gives each
   worker a share of the partitions (copartitioned: partition p of every topic to one worker).

The lines come from four loopback addresses, one per partition of soc.raw: a collector keys a
batch by its source id (`syslog:<peer address>`), so the traffic of one sender sits on one
partition and one worker (which normalizes, detects on and indexes its events). Four senders
(four devices) spread it over the four partitions, as the devices of a city would.

Each run sends its lines as fast as the collector takes them and measures the sustained rate
between 10 % and 90 % indexed (start-up excluded, as bench/e2e_syslog.py does); it must end with
every line indexed. Reported: events/s for each run and their ratio, which worker held which
partitions (the consumer group as Kafka describes it), the share of lines each worker normalized,
the CPU each process used during the burst, and whether the correlation alerts of the two runs
are the same documents.

On a 2-core machine the collector, Kafka, Elasticsearch, the sender and the workers share the two
cores, so the ratio shows contention as much as scaling.

Usage: .venv/bin/python -m bench.scale_out [--events 60000] [--rounds 1]
Needs the stack up (`soc stack up`). Prints a Markdown block for bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
import zlib
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.e2e_syslog import drop_indices, head_commit, machine
from soc.pipeline import LocalPipeline, Namespace, count, free_port, scrape
from soc.stream.topics import key_partition

# ---------------------------------------------------------------------------- shared with the test
# (tests/integration/test_scale_out.py imports these; LocalPipeline holds one worker only)


def sources_per_partition(partitions: int) -> list[str]:
    """One loopback address per partition: the source id `syslog:<address>` of a sender from it
    is keyed (murmur2, the producers' default partitioner) to partition i of soc.raw."""
    every = list(range(partitions))
    chosen: dict[int, str] = {}
    for k in range(2, 255):
        addr = f"127.0.0.{k}"
        chosen.setdefault(key_partition(f"syslog:{addr}".encode(), partitions), addr)
        if len(chosen) == partitions:
            return [chosen[p] for p in every]
    raise RuntimeError(f"no loopback address keys to partitions {sorted(set(every) - set(chosen))}")


def send_from(port: int, addr: str, lines: list[bytes]) -> None:
    """Send lines over one TCP connection from the loopback address addr (a device of its own)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((addr, 0))
        s.connect(("127.0.0.1", port))
        s.sendall(b"".join(line + b"\n" for line in lines))


def send_all(port: int, per_source: dict[str, list[bytes]]) -> None:
    """Every source's lines at once, one connection (one thread) per source."""
    threads = [threading.Thread(target=send_from, args=(port, addr, data)) for addr, data in per_source.items()]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


class ScaleOutPipeline(LocalPipeline):
    """A LocalPipeline with more than one worker in its consumer group.

    The first worker is LocalPipeline's own (`start_worker`, the namespace's web port); each
    added one is the same `soc worker` command with the same environment except its web port
    (two workers cannot bind one port; Faust also names a group member by that URL) and its data
    directory, as a worker on another machine would have.
    """

    def __init__(self, ns: Namespace, log_dir: Path, extra_env: dict[str, str] | None = None) -> None:
        super().__init__(ns, log_dir, extra_env)
        self.extra: dict[int, subprocess.Popen[bytes]] = {}  # web port -> added worker

    def add_worker(self) -> int:
        """Start one more worker in the group; returns its web port (its name in the group)."""
        port = free_port()
        saved = self.env
        self.env = {**saved, "SOC_WORKER__WEB_PORT": str(port),
                    "SOC_WORKER__DATA_DIR": f"/tmp/soc-{self.ns.prefix}-worker-{port}"}
        try:
            self.extra[port] = self._spawn(f"worker-{port}", ["worker"])
        finally:
            self.env = saved
        return port

    def workers(self) -> dict[int, subprocess.Popen[bytes]]:
        """Every worker started, by web port."""
        out = {self.ns.web_port: self.worker} if self.worker is not None else {}
        return {**out, **self.extra}

    def log_name(self, port: int) -> str:
        return "worker" if port == self.ns.web_port else f"worker-{port}"

    def kill_worker_at(self, port: int) -> None:
        """SIGKILL the worker on this web port, as a crash would."""
        proc = self.workers()[port]
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()

    def worker_alive_at(self, port: int) -> bool:
        return self.workers()[port].poll() is None

    def stop(self) -> None:
        super().stop()
        for proc in self.extra.values():
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in self.extra.values():
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()

    def worker_metrics(self, port: int) -> dict[str, float]:
        return scrape(port)


@dataclass
class Group:
    """A consumer group as Kafka describes it: its state and each member's active partitions."""

    state: str
    members: dict[int, dict[str, list[int]]]  # worker web port -> topic -> partitions

    def holder(self, topic: str, partition: int) -> int | None:
        """The web port of the worker holding topic's partition, None when nobody does."""
        for port, topics in self.members.items():
            if partition in topics.get(topic, []):
                return port
        return None


async def describe_group(bootstrap: str, group_id: str) -> Group:
    """The group's state and assignment; members named by the web port of their Faust URL."""
    from aiokafka.admin import AIOKafkaAdminClient
    from aiokafka.coordinator.protocol import ConsumerProtocolMemberAssignment

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=10000)
    await admin.start()
    try:
        response = (await admin.describe_consumer_groups([group_id]))[0]
    finally:
        await admin.close()
    group = response.groups[0]
    state, members = group[2], group[5]
    out: dict[int, dict[str, list[int]]] = {}
    for member in members:
        raw = member[4]
        if not raw:
            continue  # joined, not yet given an assignment
        assignment = ConsumerProtocolMemberAssignment.decode(raw)
        url = json.loads(zlib.decompress(assignment.user_data))["url"]
        port = int(url.rstrip("/").rsplit(":", 1)[1])
        out[port] = {topic: sorted(parts) for topic, parts in assignment.assignment}
    return Group(state, out)


async def group_lag(bootstrap: str, group_id: str, topics: list[str], partitions: int) -> int:
    """Records of these topics the group has not committed yet (end offset minus committed)."""
    from aiokafka import AIOKafkaConsumer, TopicPartition
    from aiokafka.admin import AIOKafkaAdminClient

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=10000)
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False)
    await admin.start()
    await consumer.start()
    try:
        tps = [TopicPartition(t, p) for t in topics for p in range(partitions)]
        committed = await admin.list_consumer_group_offsets(group_id, partitions=tps)
        ends = await consumer.end_offsets(tps)
        return sum(max(0, ends[tp] - max(0, committed[tp].offset if tp in committed else 0)) for tp in tps)
    finally:
        await consumer.stop()
        await admin.close()


def topic_records(bootstrap: str, topics: list[str], partitions: int) -> dict[str, int]:
    """Records written to each topic so far (the sum of its partitions' end offsets)."""
    from aiokafka import AIOKafkaConsumer, TopicPartition

    async def ends() -> dict[str, int]:
        consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False)
        await consumer.start()
        try:
            found = await consumer.end_offsets([TopicPartition(t, p) for t in topics for p in range(partitions)])
            return {t: sum(v for tp, v in found.items() if tp.topic == t) for t in topics}
        finally:
            await consumer.stop()

    return asyncio.run(ends())


def wait_drained(bootstrap: str, group_id: str, topics: list[str], partitions: int, timeout: float) -> float | None:
    """Poll until the group has committed everything of these topics; when (perf_counter), or
    None at the timeout."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if asyncio.run(group_lag(bootstrap, group_id, topics, partitions)) == 0:
                return time.perf_counter()
        except Exception:  # noqa: BLE001 - a topic without a commit yet
            pass
        time.sleep(0.5)
    return None


def wait_for_group(bootstrap: str, group_id: str, workers: set[int], topics: list[str], partitions: int,
                   timeout: float) -> Group:
    """Poll until the group is stable with exactly these workers, each holding some partitions and
    together every partition of every topic given. The last description seen otherwise."""
    deadline = time.monotonic() + timeout
    group = Group("unknown", {})
    while time.monotonic() < deadline:
        try:
            group = asyncio.run(describe_group(bootstrap, group_id))
        except Exception:  # noqa: BLE001 - the group may not exist yet
            time.sleep(1)
            continue
        if (group.state == "Stable" and set(group.members) == workers
                and all(any(m.get(t) for t in topics) for m in group.members.values())
                and all(group.holder(t, p) is not None for t in topics for p in range(partitions))):
            return group
        time.sleep(1)
    return group


# ---------------------------------------------------------------------------- the benchmark


def cpu_seconds(pid: int, descendants: bool = True) -> float:
    """User + system CPU time of a process and (unless told not to) all its live descendants, in
    seconds (Elasticsearch runs in a child of the process `soc stack` started)."""
    ticks = os.sysconf("SC_CLK_TCK")
    parent: dict[int, int] = {}
    used: dict[int, float] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        p = int(stat.parent.name)
        parent[p] = int(fields[1])
        used[p] = (int(fields[11]) + int(fields[12])) / ticks
    total, todo = 0.0, [pid]
    while todo:
        p = todo.pop()
        total += used.get(p, 0.0)
        if descendants:
            todo += [c for c, pp in parent.items() if pp == p]
    return total


def stack_pids() -> dict[str, int]:
    """Kafka's and Elasticsearch's pids, from `soc stack status`."""
    out = subprocess.run([sys.executable, "-m", "soc.cli", "stack", "status"], capture_output=True, text=True).stdout
    pids = {}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) > 3 and parts[1] == "running" and parts[2] == "(pid":
            pids[parts[0].lower()] = int(parts[3].rstrip(","))
    return pids


@dataclass
class Run:
    workers: int
    sustained: float
    overall: float
    lost: int
    group: Group
    normalized: dict[int, float]  # worker web port -> lines normalized in the burst
    cpu: dict[str, float]  # process -> share of one core during the burst
    alerts: set[tuple[Any, ...]]


def correlation_alerts(es: Any, prefix: str) -> set[tuple[Any, ...]]:
    from elasticsearch.helpers import scan

    es.indices.refresh(index=f"{prefix}-alerts", ignore_unavailable=True)
    out = set()
    for hit in scan(es, index=f"{prefix}-alerts", query={"query": {"match_all": {}}}, ignore_unavailable=True):
        a = hit["_source"]["soc"]["alert"]
        out.add((hit["_source"]["rule"]["name"], a["group_key"], a["count"], tuple(a["event_ids"])))
    return out


def run(n_workers: int, per_source: dict[str, list[bytes]], warm: dict[str, list[bytes]], logs: Path) -> Run:
    from soc.store.client import sync_client
    from soc.store.setup import setup_all

    ns = Namespace(prefix=f"bench{uuid.uuid4().hex[:6]}")
    pipeline = ScaleOutPipeline(ns, logs / ns.prefix)
    settings = pipeline.settings
    asyncio.run(setup_all(settings))
    es = sync_client(settings)
    prefix = ns.prefix
    n = sum(len(v) for v in per_source.values())
    n_warm = sum(len(v) for v in warm.values())
    topics = [settings.topic(t) for t in ("raw", "correlate")]
    try:
        pipeline.start_collector()
        pipeline.start_worker()
        for _ in range(n_workers - 1):
            pipeline.add_worker()
        ports = set(pipeline.workers())
        group = wait_for_group(settings.kafka_bootstrap, settings.worker.app_id, ports, topics,
                               settings.kafka.partitions, 300)
        if set(group.members) != ports:
            raise RuntimeError(f"the group did not take all {n_workers} workers: {group}")
        # Warm up: every worker has recovered its tables and consumes; the indices exist.
        send_all(ns.syslog_port, warm)
        deadline = time.monotonic() + 300
        while count(es, f"{prefix}-events-2*") < n_warm and time.monotonic() < deadline:
            time.sleep(0.5)
        base = count(es, f"{prefix}-events-2*")
        if base < n_warm:
            raise RuntimeError(f"warm-up: {base} of {n_warm} indexed")
        group = wait_for_group(settings.kafka_bootstrap, settings.worker.app_id, ports, topics,
                               settings.kafka.partitions, 60)

        procs = {f"worker :{p}": w.pid for p, w in pipeline.workers().items()}
        assert pipeline.collector is not None
        procs["collector"] = pipeline.collector.pid
        procs.update(stack_pids())
        procs["sender (this script)"] = os.getpid()  # its children are the pipeline: not counted twice
        m0 = {p: pipeline.worker_metrics(p) for p in ports}

        def cpu() -> dict[str, float]:
            return {name: cpu_seconds(pid, descendants=pid != os.getpid()) for name, pid in procs.items()}

        c0 = cpu()

        print(f"  {n_workers} worker(s): {n} lines from {len(per_source)} sources…", flush=True)
        sender = threading.Thread(target=send_all, args=(ns.syslog_port, per_source))
        t_send = time.perf_counter()
        sender.start()
        marks: dict[int, float] = {}
        seen, progress = 0, time.monotonic()
        while time.monotonic() - progress < 60:  # gives up after a minute without a new event
            now_seen = count(es, f"{prefix}-events-2*") - base
            if now_seen > seen:
                seen, progress = now_seen, time.monotonic()
            now = time.perf_counter()
            for pct in (10, 90, 100):
                if pct not in marks and seen >= n * pct / 100:
                    marks[pct] = now
            if seen >= n:
                break
            time.sleep(0.25)
        sender.join()
        t_done = time.perf_counter()
        wall = t_done - t_send
        c1 = cpu()
        m1 = {p: pipeline.worker_metrics(p) for p in ports}
        key = 'soc_received_total{stage="normalize"}'
        normalized = {p: m1[p].get(key, 0.0) - m0[p].get(key, 0.0) for p in ports}
        sustained = (0.8 * n) / (marks[90] - marks[10]) if 10 in marks and 90 in marks else float("nan")
        time.sleep(3)  # the last alert revisions
        return Run(n_workers, sustained, n / wall, n - seen, group, normalized,
                   {name: (c1[name] - c0[name]) / wall for name in procs}, correlation_alerts(es, prefix))
    finally:
        pipeline.stop()
        drop_indices(es, prefix)
        es.close()


def main() -> None:
    from bench.generate import lines as gen_lines

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # stop the pipelines on the way out

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--events", type=int, default=60_000, help="lines per run (split over the sources)")
    ap.add_argument("--rounds", type=int, default=1,
                    help="rounds of (1 worker, 2 workers); the order alternates from round to round")
    args = ap.parse_args()

    from soc.config import load_settings

    partitions = load_settings().kafka.partitions
    sources = sources_per_partition(partitions)
    tag = f"so{uuid.uuid4().hex[:6]}"
    per = args.events // len(sources)
    # The same lines in every run: same source ids and bytes, so the same event ids and alerts.
    # Each sender its own web hosts (gov-cloud-web-<i><k>), so that no correlation group (attacker,
    # host) spans two senders, i.e. two partitions: its matches arrive in one order in every run.
    # (The failed logins of generate.py carry no tag: the host keeps them apart between senders
    # and from the warm-up's, whose second they may share.)
    def own_hosts(data: list[bytes], host: str) -> list[bytes]:
        return [line.replace(b" gov-cloud-web-0", f" {host}".encode()) for line in data]

    per_source = {addr: own_hosts(gen_lines(per, tag=f"{tag}-{i}"), f"gov-cloud-web-{i}") for i, addr in enumerate(sources)}
    warm = {addr: own_hosts(gen_lines(50, tag=f"{tag}-warm{i}"), f"gov-cloud-warm-{i}")
            for i, addr in enumerate(sources)}
    every = [line for data in (*per_source.values(), *warm.values()) for line in data]
    assert len(set(every)) == len(every), "a line twice: the pipeline would count it once"
    n = per * len(sources)
    logs = Path(tempfile.mkdtemp(prefix="soc-bench-scale-"))
    print(f"sources {', '.join(sources)} -> partitions 0..{partitions - 1}; logs in {logs}", flush=True)

    runs: list[Run] = []
    for r in range(args.rounds):
        for w in ((1, 2) if r % 2 == 0 else (2, 1)):
            runs.append(run(w, per_source, warm, logs))
            print(f"  → {runs[-1].sustained:,.0f} events/s sustained, lost {runs[-1].lost}", flush=True)

    one = [x for x in runs if x.workers == 1]
    two = [x for x in runs if x.workers == 2]
    s1 = sum(x.sustained for x in one) / len(one)
    s2 = sum(x.sustained for x in two) / len(two)
    same_alerts = all(x.alerts == one[0].alerts for x in runs)
    commit = head_commit()
    cmd = f".venv/bin/python -m bench.scale_out --events {args.events} --rounds {args.rounds}"

    print()
    print(f"### Scale-out: one worker against two in one consumer group ({datetime.now(UTC):%Y-%m-%d}, commit {commit})")
    print()
    print(f"- machine: {machine()}; Kafka, Elasticsearch, the syslog collector, the sender and the workers all on it")
    print(f"- command: `{cmd}`")
    print(f"- input: {n:,} lines of bench/generate.py's mix per run, from {len(sources)} loopback senders "
          f"(one per partition of soc.raw: the source id keys the partition); {partitions} partitions per topic")
    print()
    print("| run | workers | sustained (10 %→90 %) | overall (first send → last indexed) | lost | "
          "lines normalized per worker | CPU during the burst (cores) |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for i, x in enumerate(runs, 1):
        total = max(1.0, sum(x.normalized.values()))
        split = " / ".join(f"{v / total:.0%}" for _, v in sorted(x.normalized.items()))
        cpu = ", ".join(f"{name} {v:.2f}" for name, v in x.cpu.items()) + f"; total {sum(x.cpu.values()):.2f}"
        print(f"| {i} | {x.workers} | {x.sustained:,.0f} events/s | {x.overall:,.0f} events/s | {x.lost} | {split} "
              f"| {cpu} |")
    print()
    print(f"- 2 workers / 1 worker, sustained{' (mean over rounds)' if args.rounds > 1 else ''}: "
          f"**{s2 / s1:.2f}×** ({s1:,.0f} → {s2:,.0f} events/s)")
    for i, x in enumerate(runs, 1):
        if x.workers > 1:
            raw = next(t for t in next(iter(x.group.members.values())) if t.endswith(".raw"))
            held = "; ".join(f"worker :{port} partitions {topics.get(raw, [])}"
                             for port, topics in sorted(x.group.members.items()))
            print(f"- run {i}, assignment (group {x.group.state}; Faust gives a worker the same partitions of "
                  f"every topic): {held}")
    differ: dict[str, int] = {}
    for x in runs[1:]:
        for alert in x.alerts ^ runs[0].alerts:
            differ[alert[0]] = differ.get(alert[0], 0) + 1
    print(f"- alerts per run: {', '.join(str(len(x.alerts)) for x in runs)}; the same documents (rule, group, count, "
          f"event ids) in every run: {'yes' if same_alerts else 'no, differing documents by rule: '}"
          + ", ".join(f"{rule} {k}" for rule, k in sorted(differ.items())))
    if not same_alerts:
        print("  (a group whose matches come from several senders, e.g. a firewall source address that all four "
              "report, gets them from several partitions in an order that varies from run to run, with one "
              "worker as with two; tests/integration/test_scale_out.py asserts identical results where each "
              "group lives on one partition)")
    print("- 2 cores: the workers share them with the collector, Kafka, Elasticsearch and the sender (CPU column), "
          "so the ratio shows contention as much as scaling")


if __name__ == "__main__":
    main()
