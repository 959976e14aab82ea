"""Normalize over the realistic mix on one core, and what finding related.ip costs.

The lines are the background of bench.e2e_mix (bench/traffic.py: real corpus lines, each
device's own declared source), read as the worker reads them (normalize_record: decode,
envelope, message format, ECS, ids), one after another in one process, for --seconds.

Then related.ip two ways over the same lines, in the same run: `kv.addresses` (what the parsers
use) against the plain patterns (IPV4.finditer then IPV6.finditer, through valid_ip: what the
parsers did before), with the check that both find the same addresses.

To compare two commits, run this file in a checkout of each, alternating:
    git worktree add /tmp/old <commit> && cp bench/normalize_mix.py /tmp/old/bench/
    (cd /tmp/old && /work/main/.venv/bin/python -m bench.normalize_mix --skip-related)

Usage: .venv/bin/python -m bench.normalize_mix [--seconds 10] [--lines 20000] [--skip-related]
"""

from __future__ import annotations

import argparse
import time
from datetime import UTC, datetime

from bench.e2e_syslog import machine
from bench.traffic import load_background


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--lines", type=int, default=20_000)
    ap.add_argument("--skip-related", action="store_true", help="normalize only (a commit without kv.addresses)")
    args = ap.parse_args()
    bg = load_background(datetime.now(UTC))
    lines = list(bg.lines(args.lines))

    done, started = 0, time.perf_counter()
    while time.perf_counter() - started < args.seconds:
        for i, (dev, line) in enumerate(lines):
            dev.read(line, 1_700_000_000_000_000_000 + i)
        done += len(lines)
    rate = done / (time.perf_counter() - started)
    print(f"- machine: {machine()}; one process, one core")
    print(f"| normalize over the mix ({len(lines):,} lines, {len(bg.devices)} devices) | {rate:,.0f} lines/s |")
    if args.skip_related:
        return

    from collectors.parsers.kv import addresses, addresses_by_pattern

    texts = [line.decode("utf-8", "replace") for _, line in lines]
    differ = sum(addresses(t) != addresses_by_pattern(t) for t in texts)
    cost = {}
    for name, fn in (("the plain patterns", addresses_by_pattern), ("kv.addresses", addresses)) * 2:
        t0 = time.perf_counter()
        for t in texts:
            fn(t)
        cost.setdefault(name, []).append((time.perf_counter() - t0) / len(texts) * 1e6)
    for name, us in cost.items():
        print(f"| related.ip by {name} | {min(us):.1f} µs a line (rounds {', '.join(f'{u:.1f}' for u in us)}) |")
    print(f"| lines where the two differ | {differ} |")


if __name__ == "__main__":
    main()
