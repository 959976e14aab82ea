"""End-to-end benchmark: syslog over the loopback → Kafka → worker → Elasticsearch.

Three measurements in one run, on the same machine and the same ECS documents:
1. ceiling: the same ECS documents bulk-loaded straight into Elasticsearch with the platform's
   own bulk writer (what any pipeline on this machine can reach at best);
2. throughput: a burst of N lines sent over TCP as fast as the collector takes them; the
   sustained rate is measured between 10 % and 90 % indexed (start-up excluded), and the run
   must end with every line indexed (zero loss);
3. latency: lines paced at half that rate for a while; p50/p99 from the collector receiving a
   line to Elasticsearch acknowledging its event (the worker's soc_ingest_to_indexed_seconds
   histogram; an event is searchable up to refresh_interval = 1 s later).

Usage: .venv/bin/python -m bench.e2e_syslog [--events 200000] [--latency-seconds 30]
Needs the stack up (`soc stack up`). Prints a Markdown block for bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import socket
import subprocess
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from bench.generate import lines as gen_lines
from soc.model import RawRecord
from soc.pipeline import LocalPipeline, Namespace, count
from soc.store.bulk import BulkItem, BulkWriter
from soc.store.client import async_client, sync_client
from soc.store.setup import setup_all
from soc.stream.normalize import normalize


def drop_indices(es: Any, prefix: str) -> None:
    """Delete a benchmark namespace's indices."""
    names = list(es.indices.get(index=f"{prefix}-*", allow_no_indices=True).keys())
    if names:
        es.indices.delete(index=",".join(names))


def head_commit() -> str:
    return subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()


def machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"{os.cpu_count()} cores ({cpu}), {mem:.0f} GiB RAM, {platform.system()} {platform.release()}"


def ecs_docs(data: list[bytes]) -> list[dict]:
    """The ECS documents the pipeline makes of these lines (normalize, in process)."""
    now = time.time_ns()
    docs = []
    for i, line in enumerate(data):
        rec = RawRecord(line, now + i, "syslog-tcp", "127.0.0.1:1", "syslog:127.0.0.1", "syslog")
        key, doc = normalize(rec.encode())[0]
        if key is not None:
            docs.append(doc)
    return docs


async def ceiling(settings, docs: list[dict], prefix: str, batch: int, index: str = "") -> float:  # type: ignore[no-untyped-def]
    es = async_client(settings)
    writer = BulkWriter(es, "bench.ceiling", settings.worker.bulk_max_bytes)
    index = index or f"{prefix}-events-ceiling"
    items = [BulkItem(index, d["event"]["id"], d) for d in docs]
    for item in items:
        item.body = orjson.dumps(item.doc)
    started = time.perf_counter()
    for i in range(0, len(items), batch):
        result = await writer.write(items[i : i + batch])
        assert not result.failures, result.failures[:1]
    await es.indices.refresh(index=index)
    elapsed = time.perf_counter() - started
    await es.close()
    return len(items) / elapsed


def histogram(metrics: dict[str, float], name: str) -> list[tuple[float, float]]:
    out = []
    for key, value in metrics.items():
        if key.startswith(f"{name}_bucket{{"):
            le = key.split('le="', 1)[1].split('"', 1)[0]
            out.append((float("inf") if le == "+Inf" else float(le), value))
    return sorted(out)


def quantile(before: list[tuple[float, float]], after: list[tuple[float, float]], q: float) -> float:
    """histogram_quantile over the difference of two scrapes (linear within a bucket)."""
    prev = dict(before)
    buckets = [(le, c - prev.get(le, 0.0)) for le, c in after]
    total = buckets[-1][1]
    if total <= 0:
        return float("nan")
    rank = q * total
    lower_le, lower_c = 0.0, 0.0
    for le, c in buckets:
        if c >= rank:
            if le == float("inf"):
                return lower_le
            return lower_le + (le - lower_le) * ((rank - lower_c) / max(c - lower_c, 1e-9))
        lower_le, lower_c = le, c
    return float("nan")


def send_paced(port: int, data: list[bytes], rate: float) -> float:
    """Send data over one TCP connection at rate lines/s; returns the achieved rate."""
    started = time.perf_counter()
    chunk = max(1, int(rate / 100))  # 100 sends a second
    with socket.create_connection(("127.0.0.1", port)) as s:
        for i in range(0, len(data), chunk):
            due = started + i / rate
            delay = due - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            s.sendall(b"".join(line + b"\n" for line in data[i : i + chunk]))
    return len(data) / (time.perf_counter() - started)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--events", type=int, default=200_000)
    ap.add_argument("--latency-seconds", type=int, default=30)
    ap.add_argument("--batch", type=int, default=2000)
    ap.add_argument("--keep", action="store_true", help="keep the benchmark's indices")
    args = ap.parse_args()

    ns = Namespace(prefix=f"bench{uuid.uuid4().hex[:6]}")
    logs = Path(tempfile.mkdtemp(prefix="soc-bench-"))
    pipeline = LocalPipeline(ns, logs)
    settings = pipeline.settings
    asyncio.run(setup_all(settings))
    es = sync_client(settings)
    prefix = ns.prefix
    n = args.events
    print(f"generating {n} lines…", flush=True)
    data = gen_lines(n, tag=prefix)

    print("ceiling: bulk-loading the same ECS documents straight into Elasticsearch…", flush=True)
    docs = ecs_docs(data)
    ceiling_rate = asyncio.run(ceiling(settings, docs, prefix, args.batch))
    print(f"  {ceiling_rate:,.0f} docs/s", flush=True)
    del docs

    pipeline.start()
    try:
        # Warm up: the worker has joined its group and the index exists.
        warm = gen_lines(100, tag=f"{prefix}warm")
        pipeline.send_tcp(warm)
        deadline = time.monotonic() + 180
        while count(es, f"{prefix}-events-2*") < 100 and time.monotonic() < deadline:
            time.sleep(0.5)
        base = count(es, f"{prefix}-events-2*")
        m0 = pipeline.metrics()

        print(f"throughput: {n} lines over TCP as fast as they are taken…", flush=True)
        sender = threading.Thread(target=pipeline.send_tcp, args=(data,))
        t_send = time.perf_counter()
        sender.start()
        marks: dict[int, float] = {}
        deadline = time.monotonic() + max(600, n / 200)
        seen = 0
        while time.monotonic() < deadline:
            seen = count(es, f"{prefix}-events-2*") - base
            now = time.perf_counter()
            for pct in (10, 50, 90, 100):
                if pct not in marks and seen >= n * pct / 100:
                    marks[pct] = now
            if seen >= n:
                break
            time.sleep(0.25)
        sender.join()
        t_done = time.perf_counter()
        m1 = pipeline.metrics()
        lost = n - seen
        sustained = (0.8 * n) / (marks[90] - marks[10]) if 10 in marks and 90 in marks else float("nan")
        overall = n / (t_done - t_send)
        window = t_done - t_send
        stages = {}
        for stage in ("normalize", "detect", "correlate", "respond", "index.events", "index.alerts"):
            key = f'soc_received_total{{stage="{stage}"}}'
            stages[stage] = (m1.get(key, 0.0) - m0.get(key, 0.0)) / window
        print(f"  sustained {sustained:,.0f} events/s (10→90 %), overall {overall:,.0f} events/s, lost {lost}",
              flush=True)

        rate = max(100.0, sustained / 2)
        lat_n = int(rate * args.latency_seconds)
        print(f"latency: {lat_n} lines paced at {rate:,.0f}/s…", flush=True)
        lat_data = gen_lines(lat_n, tag=f"{prefix}lat", per_second=int(rate))
        h0 = histogram(pipeline.metrics(), "soc_ingest_to_indexed_seconds")
        base2 = count(es, f"{prefix}-events-2*")
        achieved = send_paced(ns.syslog_port, lat_data, rate)
        deadline = time.monotonic() + 300
        while count(es, f"{prefix}-events-2*") - base2 < lat_n and time.monotonic() < deadline:
            time.sleep(0.5)
        lat_lost = lat_n - (count(es, f"{prefix}-events-2*") - base2)
        h1 = histogram(pipeline.metrics(), "soc_ingest_to_indexed_seconds")
        p50, p99 = quantile(h0, h1, 0.50), quantile(h0, h1, 0.99)
        alerts = count(es, f"{prefix}-alerts")
    finally:
        pipeline.stop()
        if not args.keep:
            drop_indices(es, prefix)
        es.close()

    commit = head_commit()
    print()
    print(f"### End to end, syslog over loopback → Elasticsearch ({datetime.now(UTC):%Y-%m-%d}, commit {commit})")
    print()
    print(f"- machine: {machine()}; Kafka, Elasticsearch, worker, collector and load generator all on it")
    print(f"- command: `.venv/bin/python -m bench.e2e_syslog --events {n} --latency-seconds {args.latency_seconds}`")
    print()
    print("| measure | value |")
    print("| --- | --- |")
    print(f"| Elasticsearch-only ceiling (same ECS docs, bulk {args.batch}) | {ceiling_rate:,.0f} docs/s |")
    print(f"| end to end, sustained (10 %→90 % of {n:,}) | {sustained:,.0f} events/s |")
    print(f"| end to end, overall (first send → last indexed) | {overall:,.0f} events/s |")
    print(f"| end to end / ceiling | {sustained / ceiling_rate:.0%} |")
    print(f"| lost (sent − indexed) | {lost} |")
    for stage, r in stages.items():
        print(f"| stage {stage} received | {r:,.0f} msg/s (over the whole burst) |")
    print(f"| latency run: paced at | {achieved:,.0f} lines/s for {args.latency_seconds} s ({lat_n:,} lines, lost {lat_lost}) |")
    print(f"| ingest→indexed p50 | {p50 * 1000:,.0f} ms |")
    print(f"| ingest→indexed p99 | {p99 * 1000:,.0f} ms |")
    print(f"| alerts raised (brute-force windows among the traffic) | {alerts} |")


if __name__ == "__main__":
    main()
