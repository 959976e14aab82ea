"""Sigma matching throughput per core: the compiled engine against a naive interpreter and
against pySigma's SQLite backend (the Zircolite approach), on the same rules and events, in one run.

Events: the real corpus (every cn-vendors line and the Elastic integration test lines) through
the normalize stage, repeated to --events. Rule sets:
- "library + SigmaHQ (network, web, linux, windows security)": our rules/ and the SigmaHQ rules
  for the sources the city sends (over 200 rules);
- "all SigmaHQ": every SigmaHQ rule that compiles (3.7k).
For each set: events/s of `RuleSet.match` (compiled, prefilter, routing), of `RuleSet.match_all`
(compiled, every rule of the event's log source tried), of the naive interpreter
(bench/naive_sigma.py, the same rules after the same field mapping and routing), and of SQLite
(bench/sqlite_baseline.py in its own venv: it needs pySigma 2), each for --seconds or the whole
event list. The compiled engine and the naive one must find the same matches (checked).

Usage: .venv/bin/python -m bench.detect_rules [--events 20000] [--seconds 10] [--no-sqlite]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.e2e_syslog import machine
from bench.naive_sigma import matches as naive_matches
from bench.parse_corpus import corpus_lines
from sigma.rule import SigmaRule
from detectors.rules import RuleSet, load_collection, compile_collection
from soc.model import RawRecord
from soc.stream.normalize import normalize

ROOT = Path(__file__).resolve().parents[1]
SIGMAHQ = ROOT.parent / "shared" / "corpus" / "sigma"
SUBSET = [ROOT / "rules", SIGMAHQ / "rules" / "network", SIGMAHQ / "rules" / "web", SIGMAHQ / "rules" / "linux",
          SIGMAHQ / "rules" / "windows" / "builtin" / "security"]
SQLITE_VENV = ROOT / ".venv-bench-sqlite"


def events(n: int) -> list[dict[str, Any]]:
    lines, _ = corpus_lines()
    now = time.time_ns()
    base = []
    for i, line in enumerate(lines):
        key, doc = normalize(RawRecord(line, now + i, "bench", "192.0.2.1:514", f"bench:{i % 50}", "syslog").encode())[0]
        if key is not None:
            base.append(doc)
    out = []
    while len(out) < n:
        for doc in base[: n - len(out)]:
            out.append({**doc, "event": {**doc["event"], "id": f"bench-{len(out)}"}})
    return out


def rate(fn: Callable[[dict[str, Any]], object], docs: list[dict[str, Any]], seconds: float) -> tuple[float, int]:
    """Events per second of fn over docs (cycling), for about `seconds`; and the events done."""
    done, started = 0, time.perf_counter()
    while True:
        fn(docs[done % len(docs)])
        done += 1
        if done % 200 == 0 and time.perf_counter() - started >= seconds:
            break
        if done >= len(docs) and time.perf_counter() - started >= seconds:
            break
    return done / (time.perf_counter() - started), done


def sqlite_rate(paths: list[Path], docs: list[dict[str, Any]]) -> dict[str, Any]:
    if not (SQLITE_VENV / "bin" / "python").exists():
        subprocess.run([sys.executable, "-m", "venv", str(SQLITE_VENV)], check=True)
        subprocess.run([str(SQLITE_VENV / "bin" / "pip"), "install", "-q", "pysigma-backend-sqlite>=2.1,<3"], check=True)
    with tempfile.NamedTemporaryFile("w", suffix=".ndjson", delete=False, encoding="utf-8") as f:
        for doc in docs:
            f.write(json.dumps(doc, ensure_ascii=False) + "\n")
    out = subprocess.run([str(SQLITE_VENV / "bin" / "python"), str(ROOT / "bench" / "sqlite_baseline.py"), f.name,
                          *map(str, paths)], capture_output=True, text=True, check=True)
    Path(f.name).unlink()
    return json.loads(out.stdout.strip().splitlines()[-1])


def measure(name: str, paths: list[Path], docs: list[dict[str, Any]], seconds: float, sqlite: bool) -> dict[str, Any]:
    collection, _ = load_collection(paths)
    ruleset: RuleSet = compile_collection(collection)
    sigma_rules = [r for r in collection if type(r).__name__ == "SigmaRule" and not getattr(r, "errors", None)]
    compiled_ids = {r.meta.id for r in ruleset.rules}
    naive_rules = [r for r in sigma_rules if str(r.id or r.name or r.title) in compiled_ids]
    print(f"{name}: {len(ruleset.rules)} rules", flush=True)
    row: dict[str, Any] = {"name": name, "rules": len(ruleset.rules)}
    row["compiled"], _ = rate(ruleset.match, docs, seconds)
    row["compiled_all"], _ = rate(ruleset.match_all, docs, seconds)

    keys_of = {r.meta.id: r.keys for r in ruleset.rules}

    def naive(doc: dict[str, Any]) -> list[SigmaRule]:
        """The same rules, routed the same way (logsource), each interpreted on the event."""
        keys = ruleset.index.keys_for_event(doc) if ruleset.index is not None else frozenset()
        return [r for r in naive_rules
                if ((k := keys_of[str(r.id or r.name or r.title)]) is None or not k.isdisjoint(keys))
                and naive_matches(r, doc)]

    row["naive"], naive_done = rate(naive, docs, seconds)
    sample = docs[: max(200, min(naive_done, 2000))]
    ours = {(i, r.meta.id) for i, d in enumerate(sample) for r in ruleset.match(d)}
    theirs = {(i, str(r.id or r.name or r.title)) for i, d in enumerate(sample) for r in naive(d)}
    row["agree"] = ours == theirs
    row["sample"], row["sample_hits"] = len(sample), len(ours)
    if sqlite:
        sq = sqlite_rate(paths, docs)
        row["sqlite"] = sq["events"] / sq["query_s"]
        row["sqlite_with_load"] = sq["events"] / (sq["query_s"] + sq["load_s"])
        row["sqlite_queries"], row["sqlite_not_converted"] = sq["queries"], sq["not_converted"]
    print(f"  {row}", flush=True)
    return row


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=20_000)
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--no-sqlite", action="store_true")
    args = ap.parse_args()
    docs = events(args.events)
    rows = [
        measure("library + SigmaHQ network/web/linux/windows-security", SUBSET, docs, args.seconds, not args.no_sqlite),
        measure("all SigmaHQ", [ROOT / "rules", SIGMAHQ], docs, args.seconds, not args.no_sqlite),
    ]
    print()
    print(f"### Sigma matching per core ({datetime.now(UTC):%Y-%m-%d})")
    print()
    print(f"- machine: {machine()}; one process, one core")
    print(f"- command: `.venv/bin/python -m bench.detect_rules --events {args.events} --seconds {args.seconds:g}`")
    print(f"- events: {len(docs):,} ECS events of the real corpus (cn-vendors + Elastic test lines), normalized")
    print()
    print("| rule set | rules | compiled + prefilter | compiled, every rule | naive interpreter | SQLite (queries) "
          "| SQLite (load + queries) | compiled / naive | compiled / SQLite | same matches as naive |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for r in rows:
        sq = f"{r['sqlite']:,.0f}" if "sqlite" in r else "—"
        sql = f"{r['sqlite_with_load']:,.0f}" if "sqlite" in r else "—"
        ratio_sq = f"{r['compiled'] / r['sqlite']:.1f}" if "sqlite" in r else "—"
        print(f"| {r['name']} | {r['rules']:,} | {r['compiled']:,.0f} | {r['compiled_all']:,.0f} | {r['naive']:,.0f} | "
              f"{sq} | {sql} | {r['compiled'] / r['naive']:.0f}× | {ratio_sq} | "
              f"{'yes' if r['agree'] else 'NO'} ({r['sample']:,} events, {r['sample_hits']:,} matches) |")


if __name__ == "__main__":
    main()
