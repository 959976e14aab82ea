"""Parse + normalize throughput per core over the real corpus, and how much of it is recognised.

The mix: every raw line of ../shared/corpus/cn-vendors/samples.jsonl and of the Elastic
integration test logs (single-line inputs), normalized as the worker does (RawRecord bytes →
decode → envelope → message format → ECS → ids), in one process on one core. Also reports the
share of in-scope Chinese device lines recognised with the right observer.vendor, and the share
that passes the corpus acceptance check (tests/unit/parsers/cn_acceptance.check_line: vendor,
product, observer.type, event.category/type/kind, every IP in an ECS field) two ways: from the
content alone, and from a source declared as the device (sources file vendor/product/type,
ParseContext.device), which OEM lines that copy another brand's format byte for byte need.

Usage: .venv/bin/python -m bench.parse_corpus [--seconds 10]
"""

from __future__ import annotations

import argparse
import json
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

from bench.e2e_syslog import machine
from collectors.parsers import parse
from collectors.parsers.base import ParseContext
from soc.model import RawRecord
from soc.stream.normalize import normalize
from tests.unit.parsers.cn_acceptance import check_line, declared_ctx

CORPUS = Path(__file__).resolve().parents[1].parent / "shared" / "corpus"
IN_SCOPE = {"firewall", "ips", "ids", "waf", "bastion", "os", "antidos", "apt", "vpn", "edr", "eps", "antivirus", "utm"}


def corpus_lines() -> tuple[list[bytes], list[dict]]:
    cn = [json.loads(line) for line in (CORPUS / "cn-vendors" / "samples.jsonl").open(encoding="utf-8") if line.strip()]
    lines = [d["raw"].encode() for d in cn]
    for log in sorted((CORPUS / "elastic-integrations" / "packages").glob("*/data_stream/*/_dev/test/pipeline/test-*.log")):
        if (log.parent / f"{log.name}-config.yml").exists() and "multiline" in (log.parent / f"{log.name}-config.yml").read_text():
            continue
        lines.extend(line.encode() for line in log.read_text(encoding="utf-8", errors="replace").splitlines() if line)
    return lines, cn


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=10.0)
    args = ap.parse_args()
    lines, cn = corpus_lines()
    now = time.time_ns()
    records = [RawRecord(line, now + i, "bench", "192.0.2.1:514", f"bench:{i % 50}", "syslog").encode()
               for i, line in enumerate(lines)]
    outcome: Counter[str] = Counter()
    for r in records:
        key, doc = normalize(r)[0]
        outcome["event" if key is not None else f"dead letter: {doc['soc']['deadletter']['reason']}"] += 1

    done, started = 0, time.perf_counter()
    while time.perf_counter() - started < args.seconds:
        for r in records:
            normalize(r)
        done += len(records)
    rate = done / (time.perf_counter() - started)

    ctx = ParseContext("bench", datetime.now(UTC), __import__("zoneinfo").ZoneInfo("Asia/Shanghai"))
    scope = [d for d in cn if d["category"] in IN_SCOPE]
    right = sum(1 for d in scope if _vendor(d["raw"], ctx) == d["vendor"])
    all_right = sum(1 for d in cn if _vendor(d["raw"], ctx) == d["vendor"])
    content_ok = [_accepted(d) for d in scope]
    declared_ok = [ok or _accepted(d, declared=True) for d, ok in zip(scope, content_ok, strict=True)]

    print(f"### Parse + normalize over the corpus ({datetime.now(UTC):%Y-%m-%d})")
    print()
    print(f"- machine: {machine()}; one process, one core")
    print(f"- command: `.venv/bin/python -m bench.parse_corpus --seconds {args.seconds:g}`")
    print()
    print("| measure | value |")
    print("| --- | --- |")
    print(f"| corpus lines (cn-vendors + Elastic single-line test logs) | {len(lines):,} |")
    print(f"| parse + normalize, one core | {rate:,.0f} lines/s |")
    for what, n in outcome.most_common():
        print(f"| {what} | {n:,} |")
    print(f"| in-scope Chinese device lines with the right observer.vendor | {right}/{len(scope)} ({right / len(scope):.1%}) |")
    print(f"| all Chinese device lines with the right observer.vendor | {all_right}/{len(cn)} ({all_right / len(cn):.1%}) |")
    for what, ok in (("from content alone", content_ok), ("with the configured device", declared_ok)):
        n = sum(ok)
        print(f"| in-scope Chinese lines passing the acceptance check, {what} | {n}/{len(scope)} ({n / len(scope):.1%}) |")
    empty = sum(1 for d in scope if not d["raw"].strip())
    print(f"| (in-scope lines that are empty, a dead letter either way) | {empty} |")


def _accepted(rec: dict, declared: bool = False) -> bool:
    """The line passes check_line, read without (or with) its source declared as the device."""
    if not rec["raw"].strip():
        return False
    try:
        return not check_line(rec, ctx=declared_ctx(rec) if declared else None)
    except Exception:  # noqa: BLE001 - unparsed counts as not recognised
        return False


def _vendor(raw: str, ctx: ParseContext) -> str | None:
    try:
        doc = parse(raw.rstrip("\r\n"), "syslog", ctx).doc
    except Exception:  # noqa: BLE001 - unparsed counts as not recognised
        return None
    return (doc.get("observer") or {}).get("vendor")


if __name__ == "__main__":
    main()
