"""Syslog → Kafka: our collector and rsyslog (imudp/imtcp → omkafka) side by side, in one run.

Same machine, same Kafka, same lines. For each collector:
- TCP: N lines sent over one connection as fast as the collector takes them; the rate is N over
  the time until all N are in Kafka (rsyslog: the topic's end offsets; ours: the lines the
  collector reports acknowledged, since one Kafka record holds a batch of lines). Afterwards
  both topics are read back and every line checked by content: none lost, none twice;
- UDP: N lines sent paced at --udp-rate lines/s; reports how many reached Kafka (UDP may drop in
  the kernel when a receiver falls behind: the loss is part of the result).
Both producers ask for acks from all in-sync replicas (rsyslog: request.required.acks=-1).

Needs the stack up and Debian's rsyslog and rsyslog-kafka:
    apt-get install -y rsyslog rsyslog-kafka
Usage: .venv/bin/python -m bench.collector_vs_rsyslog [--lines 1000000] [--udp-rate 20000]
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import signal
import statistics
import socket
import subprocess
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from pathlib import Path

from bench.e2e_syslog import machine
from bench.generate import lines as gen_lines
from soc.config import load_settings
from soc.model import RawBatch
from soc.pipeline import LocalPipeline, Namespace, free_port

RSYSLOG_CONF = """
global(workDirectory="{work}" maxMessageSize="64k")
module(load="imudp")
module(load="imtcp")
module(load="omkafka")
template(name="raw" type="string" string="%rawmsg%")
ruleset(name="tokafka" queue.type="LinkedList" queue.size="200000") {{
  action(type="omkafka" broker=["{bootstrap}"] topic="{topic}" template="raw" errorFile="{work}/kafka-errors.json"
         confParam=["request.required.acks=-1", "queue.buffering.max.ms=5", "compression.codec=none"])
}}
input(type="imudp" port="{udp}" ruleset="tokafka")
input(type="imtcp" port="{tcp}" ruleset="tokafka")
"""


async def create_rsyslog_topic(bootstrap: str, topic: str, partitions: int) -> None:
    """Like ours, but with broker-side timestamps: omkafka 8.2302 (librdkafka 2.0.2) sends
    timestamps that Kafka 4.1 refuses ("Broker: Invalid timestamp", error 32) otherwise."""
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, partitions, 1, topic_configs={
            "message.timestamp.type": "LogAppendTime", "max.message.bytes": str(4 * 1024 * 1024)})])
    finally:
        await admin.close()


async def topic_count(bootstrap: str, topic: str) -> int:
    """Kafka records in a topic (sum of end offsets; every topic here starts empty)."""
    from aiokafka import AIOKafkaConsumer
    from aiokafka.structs import TopicPartition

    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        parts = consumer.partitions_for_topic(topic) or set()
        if not parts:
            await consumer._client.force_metadata_update()  # noqa: SLF001 - first look at a new topic
            parts = consumer.partitions_for_topic(topic) or set()
        tps = [TopicPartition(topic, p) for p in parts]
        ends = await consumer.end_offsets(tps) if tps else {}
        return int(sum(ends.values()))
    finally:
        await consumer.stop()


async def topic_lines(bootstrap: str, topic: str, batched: bool) -> Counter[bytes]:
    """Every line in a topic, counted: rsyslog writes one line per Kafka record, we write
    RawBatches (several lines per record)."""
    from aiokafka import AIOKafkaConsumer

    records = await topic_count(bootstrap, topic)
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest",
                                enable_auto_commit=False, group_id=None, max_partition_fetch_bytes=8 << 20)
    await consumer.start()
    seen: Counter[bytes] = Counter()
    read = 0
    try:
        while read < records:
            for recs in (await consumer.getmany(timeout_ms=1000, max_records=10000)).values():
                read += len(recs)
                for r in recs:
                    seen.update(RawBatch.decode(r.value).messages if batched else [r.value])
    finally:
        await consumer.stop()
    return seen


def wait_until(done: Callable[[], bool], timeout: float) -> float:
    """perf_counter() when done() first holds (polled every 50 ms), or at the timeout."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not done():
        time.sleep(0.05)
    return time.perf_counter()


def send_tcp(port: int, data: list[bytes]) -> None:
    with socket.create_connection(("127.0.0.1", port)) as s:
        s.sendall(b"".join(line + b"\n" for line in data))


def send_udp(port: int, data: list[bytes], rate: float) -> None:
    started = time.perf_counter()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        for i, line in enumerate(data):
            if i % 100 == 0:
                delay = started + i / rate - time.perf_counter()
                if delay > 0:
                    time.sleep(delay)
            s.sendto(line, ("127.0.0.1", port))


class EndOffsets:
    """Kafka records in a topic from one consumer kept open (a new one per poll would cost the
    machine CPU that both collectors need)."""

    def __init__(self, bootstrap: str, topic: str) -> None:
        from aiokafka import AIOKafkaConsumer

        self.topic = topic
        self.loop = asyncio.new_event_loop()

        async def start() -> AIOKafkaConsumer:
            consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
            await consumer.start()
            return consumer

        self.consumer = self.loop.run_until_complete(start())
        self.tps: list[Any] = []

    def __call__(self) -> int:
        from aiokafka.structs import TopicPartition

        async def count() -> int:
            if not self.tps:
                await self.consumer._client.force_metadata_update()  # noqa: SLF001 - a new topic
                parts = self.consumer.partitions_for_topic(self.topic) or set()
                self.tps = [TopicPartition(self.topic, p) for p in parts]
            return int(sum((await self.consumer.end_offsets(self.tps)).values())) if self.tps else 0

        return self.loop.run_until_complete(count())

    def close(self) -> None:
        self.loop.run_until_complete(self.consumer.stop())
        self.loop.close()


def tcp_round(lines_in_kafka: Callable[[], int], port: int, lines: list[bytes]) -> float:
    """Lines/s of one TCP burst: from the first byte sent until the collector has all in Kafka."""
    base = lines_in_kafka()
    t0 = time.perf_counter()
    send_tcp(port, lines)
    t1 = wait_until(lambda: lines_in_kafka() >= base + len(lines), 600)
    return len(lines) / (t1 - t0)


def udp_round(lines_in_kafka: Callable[[], int], port: int, lines: list[bytes], rate: float) -> None:
    base = lines_in_kafka()
    send_udp(port, lines, rate)
    wait_until(lambda: lines_in_kafka() >= base + len(lines), 30)


def verify(seen: Counter[bytes], tcp_lines: list[bytes], udp_lines: list[bytes]) -> dict[str, float]:
    """By content: TCP lines missing or duplicated in Kafka, and UDP lines that arrived."""
    return {
        "tcp_lost": sum(1 for line in tcp_lines if seen[line] == 0),
        "tcp_dup": sum(1 for line in tcp_lines if seen[line] > 1),
        "udp_got": sum(1 for line in udp_lines if seen[line] > 0),
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--lines", type=int, default=1_000_000)
    ap.add_argument("--udp-rate", type=float, default=50_000)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    rsyslogd = shutil.which("rsyslogd") or "/usr/sbin/rsyslogd"
    if not Path(rsyslogd).exists() or not Path("/usr/lib/x86_64-linux-gnu/rsyslog/omkafka.so").exists():
        raise SystemExit("rsyslog with omkafka is needed: apt-get install -y rsyslog rsyslog-kafka")
    settings = load_settings()
    bootstrap = settings.kafka_bootstrap
    prefix = f"rsy{uuid.uuid4().hex[:6]}"
    ns = Namespace(prefix=prefix)
    from soc.stream.topics import ensure_topics

    asyncio.run(ensure_topics(settings.model_copy(update={"topic_prefix": prefix})))
    rs_topic = f"{prefix}rs.raw"
    asyncio.run(create_rsyslog_topic(bootstrap, rs_topic, settings.kafka.partitions))
    rounds = [gen_lines(args.lines, tag=f"{prefix}r{r}") for r in range(args.rounds)]
    udp_lines = gen_lines(min(args.lines, int(args.udp_rate * 10)), tag=f"{prefix}u")

    work = Path(tempfile.mkdtemp(prefix="soc-rsyslog-"))
    rs_tcp, rs_udp = free_port(), free_port()
    conf = work / "rsyslog.conf"
    conf.write_text(RSYSLOG_CONF.format(work=work, bootstrap=bootstrap, topic=rs_topic, udp=rs_udp, tcp=rs_tcp))
    rs = subprocess.Popen([rsyslogd, "-n", "-f", str(conf), "-i", str(work / "pid")],
                          stdout=open(work / "out.log", "wb"), stderr=subprocess.STDOUT)  # noqa: SIM115
    pipeline = LocalPipeline(ns, work / "ours")
    try:
        pipeline.start_collector()
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", rs_tcp), timeout=0.5).close()
                break
            except OSError:
                time.sleep(0.1)
        sent = 'soc_sent_total{stage="collector.syslog"}'
        counters = {"rsyslog": EndOffsets(bootstrap, rs_topic),
                    "ours": lambda: int(pipeline.metrics("collector").get(sent, 0))}
        ports = {"rsyslog": (rs_tcp, rs_udp), "ours": (ns.syslog_port, ns.syslog_port)}
        rates: dict[str, list[float]] = {"rsyslog": [], "ours": []}
        for r, lines in enumerate(rounds):  # alternate, so a disturbance hits both
            for name in ("rsyslog", "ours") if r % 2 == 0 else ("ours", "rsyslog"):
                rates[name].append(tcp_round(counters[name], ports[name][0], lines))
                print(f"  round {r + 1}, {name}: TCP {rates[name][-1]:,.0f} lines/s", flush=True)
        for name in ("rsyslog", "ours"):
            udp_round(counters[name], ports[name][1], udp_lines, args.udp_rate)
        counters["rsyslog"].close()  # type: ignore[union-attr]
        tcp_lines = [line for lines in rounds for line in lines]
        theirs = {"tcp_rate": statistics.median(rates["rsyslog"]), "all": rates["rsyslog"]}
        ours = {"tcp_rate": statistics.median(rates["ours"]), "all": rates["ours"]}
        theirs |= verify(asyncio.run(topic_lines(bootstrap, rs_topic, batched=False)), tcp_lines, udp_lines)
        ours |= verify(asyncio.run(topic_lines(bootstrap, f"{prefix}.raw", batched=True)), tcp_lines, udp_lines)
    finally:
        pipeline.stop()
        rs.send_signal(signal.SIGTERM)
        rs.wait(timeout=30)
    version = subprocess.run([rsyslogd, "-v"], capture_output=True, text=True).stdout.splitlines()[0]
    print()
    print(f"### Syslog → Kafka: soc collect syslog vs rsyslog ({datetime.now(UTC):%Y-%m-%d})")
    print()
    print(f"- machine: {machine()}; Kafka, both collectors and the sender on it; {version}")
    print(f"- command: `.venv/bin/python -m bench.collector_vs_rsyslog --lines {args.lines} --udp-rate {args.udp_rate:g} "
          f"--rounds {args.rounds}`")
    print(f"- TCP: {args.rounds} rounds of {args.lines:,} new lines each, the collectors alternating; the median, "
          "and every round")
    print()
    print("| measure | rsyslog | soc collect syslog | ours / rsyslog |")
    print("| --- | --- | --- | --- |")
    print(f"| TCP, {args.lines:,} lines, lines/s into Kafka (median) | {theirs['tcp_rate']:,.0f} | "
          f"{ours['tcp_rate']:,.0f} | {ours['tcp_rate'] / theirs['tcp_rate']:.2f} |")
    print(f"| TCP, every round | {', '.join(f'{x:,.0f}' for x in theirs['all'])} | "
          f"{', '.join(f'{x:,.0f}' for x in ours['all'])} | |")
    print(f"| TCP lines lost / duplicated (by content) | {theirs['tcp_lost']:.0f} / {theirs['tcp_dup']:.0f} | "
          f"{ours['tcp_lost']:.0f} / {ours['tcp_dup']:.0f} | |")
    print(f"| UDP at {args.udp_rate:,.0f}/s: lines in Kafka of {len(udp_lines):,} | {theirs['udp_got']:,.0f} | "
          f"{ours['udp_got']:,.0f} | |")


if __name__ == "__main__":
    main()
