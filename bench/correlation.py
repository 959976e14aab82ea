"""Correlation windows: matches/s per core, and memory per active group with 100k groups.

Runs what the correlate agent runs per match (soc.stream.detect.correlate: state from JSON,
the sliding window, state back to JSON), without Kafka and Faust, for three rules of the
library: SSH brute force (event_count), a vertical scan (value_count) and exfiltration volume
(value_sum). Memory: --groups groups kept as the worker's table keeps them (key → JSON bytes),
each holding the matches of a group below its threshold; tracemalloc measures the whole table.

Usage: .venv/bin/python -m bench.correlation [--matches 200000] [--groups 100000]
"""

from __future__ import annotations

import argparse
import gc
import time
import tracemalloc
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from bench.e2e_syslog import machine
from detectors.rules import load_rules
from soc.stream.detect import correlate, state_bytes

RULES = Path(__file__).resolve().parents[1] / "rules"
T0 = int(datetime(2026, 11, 25, 2, 0, tzinfo=UTC).timestamp() * 1000)


def pick(specs: dict[str, Any]) -> dict[str, Any]:
    by_name = {s.meta.name: s for s in specs.values()}
    by_file = {Path(s.meta.path).stem: s for s in specs.values()}
    return {
        "SSH brute force (event_count ≥ 5 in 1 min)": specs["0d7f3f57-2a55-4a4e-8c1e-4e2b8f0a7c12"],
        "vertical scan (value_count of ports ≥ 20 in 5 min)": by_file.get("net_vertical_scan") or by_name.get("net_vertical_scan"),
        "exfiltration (value_sum of bytes ≥ 1 GB in 1 h)": by_file.get("net_exfil_volume") or by_name.get("net_exfil_volume"),
    }


def match(spec: Any, group: int, k: int) -> dict[str, Any]:
    m = {"corr": spec.meta.id, "group": f"{spec.meta.id}|g={group}", "ts": T0 + k * 250, "event_id": f"e{k}",
         "ctx": {}, "rule": 0}
    if spec.value_field:
        m["value"] = 1000 + (k % 37) if spec.type == "value_count" else 5_000_000
    return m


def throughput(spec: Any, n: int, groups: int) -> float:
    specs = {spec.meta.id: spec}
    table: dict[str, bytes] = {}
    started = time.perf_counter()
    for k in range(n):
        m = match(spec, k % groups, k)
        raw = table.get(m["group"])
        state, _, _ = correlate(specs, orjson.loads(raw) if raw else None, m, 60_000)
        table[m["group"]] = state_bytes(state)
    return n / (time.perf_counter() - started)


def memory(spec: Any, groups: int, per_group: int) -> tuple[float, float]:
    """(bytes per group in the table, serialized bytes per group)."""
    specs = {spec.meta.id: spec}
    gc.collect()
    tracemalloc.start()
    table: dict[bytes, bytes] = {}
    for g in range(groups):
        state = None
        for k in range(per_group):
            m = match(spec, g, g * per_group + k)
            state, _, _ = correlate(specs, state, m, 60_000)
        table[m["group"].encode()] = state_bytes(state)
    del state, m
    gc.collect()
    used, _ = tracemalloc.get_traced_memory()  # what is still allocated: the table
    tracemalloc.stop()
    return used / groups, sum(len(v) for v in table.values()) / groups


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--matches", type=int, default=200_000)
    ap.add_argument("--groups", type=int, default=100_000)
    args = ap.parse_args()
    rs = load_rules([RULES])
    chosen = pick({s.meta.id: s for s in rs.correlations})
    rows = []
    for name, spec in chosen.items():
        assert spec is not None, name
        rate_hot = throughput(spec, args.matches, 100)
        rate_spread = throughput(spec, args.matches, args.groups)
        per_group, serialized = memory(spec, args.groups, 3)
        rows.append((name, rate_hot, rate_spread, per_group, serialized))
        print(f"  {name}: {rate_hot:,.0f} / {rate_spread:,.0f} matches/s, {per_group:,.0f} B/group", flush=True)
    print()
    print(f"### Correlation windows ({datetime.now(UTC):%Y-%m-%d})")
    print()
    print(f"- machine: {machine()}; one process, one core")
    print(f"- command: `.venv/bin/python -m bench.correlation --matches {args.matches} --groups {args.groups}`")
    print("- per match: state from JSON, sliding window, state to JSON (the correlate agent's work without Faust)")
    print()
    print(f"| correlation | matches/s, 100 busy groups | matches/s, {args.groups:,} groups | "
          f"memory per group, {args.groups:,} active groups (3 matches each) | state size per group (JSON) |")
    print("| --- | --- | --- | --- | --- |")
    for name, hot, spread, per_group, serialized in rows:
        print(f"| {name} | {hot:,.0f} | {spread:,.0f} | {per_group:,.0f} B | {serialized:,.0f} B |")


if __name__ == "__main__":
    main()
