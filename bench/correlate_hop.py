"""The correlation hop's Kafka messages per worker batch: one per group (before 2026-12-08) or one
per soc.correlate partition (`bundles`), on the realistic mix (bench/traffic.py) with today's rules
and the worker's default suppression window. No Kafka: this counts what the normalize agent would
send, and the table writes (changelog records) the correlate agent would make, per batch size.

Usage: .venv/bin/python -m bench.correlate_hop [--lines 30000] [--partitions 4]
"""

from __future__ import annotations

import argparse
import time
from datetime import UTC, datetime

from bench.e2e_syslog import head_commit, machine
from bench.traffic import load_background
from detectors.registry import RuleRegistry
from soc.config import settings
from soc.model import Doc
from soc.stream.detect import bundles, detect


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--lines", type=int, default=30000)
    ap.add_argument("--partitions", type=int, default=4)
    args = ap.parse_args()
    cfg = settings()
    rules = RuleRegistry(cfg.worker.rules_dirs, cfg.worker.sigma_placeholders, None, cfg.worker.alert_suppression_s)
    lines = list(load_background(datetime.now(UTC)).lines(args.lines))
    events = [read[1] for dev, line in lines if (read := dev.read(line, time.time_ns()))[0] is not None]
    print("| batch | batches | matches a batch | messages a batch, one per group (= changelog records) "
          "| messages a batch, one per partition |")
    print("| --- | --- | --- | --- | --- |")
    for size in (100, 300, 900, 2000):
        batches: list[dict[bytes, list[Doc]]] = []
        for start in range(0, len(events), size):
            groups: dict[bytes, list[Doc]] = {}
            for doc in events[start:start + size]:
                for key, match in detect(rules.ruleset, doc, suppression=True)[1]:
                    groups.setdefault(key, []).append(match)
            batches.append(groups)
        n = len(batches)
        per_group = sum(len(g) for g in batches)
        per_partition = sum(len(bundles(g, args.partitions)) for g in batches)
        matches = sum(len(m) for g in batches for m in g.values())
        print(f"| {size:,} lines | {n} | {matches / n:,.0f} | {per_group / n:,.1f} | {per_partition / n:,.1f} |")
    print(f"\n{len(lines):,} lines of the mix; {args.partitions} partitions; commit {head_commit()}; {machine()}")
    print(f"command: `.venv/bin/python -m bench.correlate_hop --lines {args.lines} --partitions {args.partitions}`")


if __name__ == "__main__":
    main()
