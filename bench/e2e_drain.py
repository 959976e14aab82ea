"""End to end, drained: how fast every stage finishes a burst, and latency at one fixed rate.

bench.e2e_syslog counts a line done once its event is indexed. The correlate agent may still be
behind then (in the benchmark's traffic three events in four make a soc.correlate message), and
its latency phase, paced at half that run's own rate, starts with that backlog. This benchmark
measures both things apart, on the same traffic (bench.generate):
1. a burst of N lines over TCP: the rate at which their events are indexed, and the rate at
   which every one of their 0.75 × N matches has reached the correlate agent (the whole worker
   done, not only the events);
2. from idle, lines paced at a rate given on the command line (so two commits can be compared
   at the same load) for a while: ingest→indexed p50/p99 over the whole phase and over its
   second half, and how far behind the correlate agent is at the end.

Usage: .venv/bin/python -m bench.e2e_drain [--events 60000] [--rate 800] [--seconds 60]
Needs the stack up (`soc stack up`). Prints a Markdown block for bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

from bench.e2e_syslog import drop_indices, head_commit, histogram, machine, quantile, send_paced
from bench.generate import lines as gen_lines
from soc.pipeline import LocalPipeline, Namespace, count
from soc.store.client import sync_client
from soc.store.setup import setup_all

CORRELATE = 'soc_received_total{stage="correlate"}'
MATCHES_PER_LINE = 0.75  # bench.generate's mix with today's rules: 15 matches per 20 lines
LATENCY = "soc_ingest_to_indexed_seconds"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--events", type=int, default=60_000, help="lines in the burst (a multiple of 20)")
    ap.add_argument("--rate", type=float, default=800.0, help="paced lines/s of the latency phase")
    ap.add_argument("--seconds", type=int, default=60, help="length of the latency phase")
    args = ap.parse_args()

    ns = Namespace(prefix=f"drain{uuid.uuid4().hex[:6]}")
    pipeline = LocalPipeline(ns, Path(tempfile.mkdtemp(prefix="soc-bench-")))
    asyncio.run(setup_all(pipeline.settings))
    es = sync_client(pipeline.settings)
    prefix, n = ns.prefix, args.events

    def indexed() -> int:
        return count(es, f"{prefix}-events-2*")

    def correlated() -> float:
        return pipeline.metrics().get(CORRELATE, 0.0)

    pipeline.start()
    try:
        pipeline.send_tcp(gen_lines(100, tag=f"{prefix}warm"))
        deadline = time.monotonic() + 180
        while (indexed() < 100 or correlated() < MATCHES_PER_LINE * 100) and time.monotonic() < deadline:
            time.sleep(0.5)
        time.sleep(2)
        base, c0 = indexed(), correlated()

        print(f"burst: {n} lines over TCP…", flush=True)
        data = gen_lines(n, tag=prefix)
        sender = threading.Thread(target=pipeline.send_tcp, args=(data,))
        t0 = time.perf_counter()
        sender.start()
        t_indexed = t_correlated = 0.0
        deadline = time.monotonic() + max(600, n / 100)
        while not (t_indexed and t_correlated) and time.monotonic() < deadline:
            now = time.perf_counter()
            if not t_indexed and indexed() - base >= n:
                t_indexed = now
            if not t_correlated and correlated() - c0 >= MATCHES_PER_LINE * n:
                t_correlated = now
            time.sleep(0.25)
        sender.join()
        assert t_indexed and t_correlated, "the burst did not drain in time"

        time.sleep(5)
        print(f"latency: {args.rate:,.0f} lines/s for {args.seconds} s…", flush=True)
        paced = gen_lines(int(args.rate * args.seconds), tag=f"{prefix}lat", per_second=int(args.rate))
        marks = [histogram(pipeline.metrics(), LATENCY)]
        halfway = threading.Timer(args.seconds / 2, lambda: marks.append(histogram(pipeline.metrics(), LATENCY)))
        halfway.start()
        achieved = send_paced(ns.syslog_port, paced, args.rate)
        halfway.join()
        deadline = time.monotonic() + 300
        while indexed() < base + n + len(paced) and time.monotonic() < deadline:
            time.sleep(0.5)
        lost = base + n + len(paced) - indexed()
        marks.append(histogram(pipeline.metrics(), LATENCY))
        behind = MATCHES_PER_LINE * (n + len(paced)) - (correlated() - c0)
    finally:
        pipeline.stop()
        drop_indices(es, prefix)
        es.close()

    commit = head_commit()
    ms = [quantile(marks[a], marks[2], q) * 1000 for a in (0, 1) for q in (0.50, 0.99)]
    print()
    print(f"### End to end, drained, syslog over loopback → Elasticsearch ({datetime.now(UTC):%Y-%m-%d}, commit {commit})")
    print()
    print(f"- machine: {machine()}; Kafka, Elasticsearch, worker, collector and load generator all on it")
    print(f"- command: `.venv/bin/python -m bench.e2e_drain --events {n} --rate {args.rate:g} --seconds {args.seconds}`")
    print()
    print("| measure | value |")
    print("| --- | --- |")
    print(f"| burst of {n:,} lines: events indexed | {n / (t_indexed - t0):,.0f} lines/s ({t_indexed - t0:.1f} s) |")
    print(f"| same burst: every match at the correlate agent | {n / (t_correlated - t0):,.0f} lines/s ({t_correlated - t0:.1f} s) |")
    print(f"| latency run: paced at | {achieved:,.0f} lines/s for {args.seconds} s ({len(paced):,} lines, lost {lost}) |")
    print(f"| ingest→indexed p50 / p99, whole run | {ms[0]:,.0f} ms / {ms[1]:,.0f} ms |")
    print(f"| ingest→indexed p50 / p99, second half | {ms[2]:,.0f} ms / {ms[3]:,.0f} ms |")
    print(f"| matches not yet at the correlate agent at the end | {max(0.0, behind):,.0f} |")


if __name__ == "__main__":
    main()
