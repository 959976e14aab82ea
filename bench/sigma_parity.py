"""Differential check: the stream engine against Elasticsearch on the same events and rules.

Indexes the corpus events (cn-vendors and Elastic test lines, normalized) and every event of
the rule library's examples into one index with the platform's template, then for every
single-event rule (rules/ and SigmaHQ's web rules, after the `ecs` pipeline): the hits of
pySigma's Lucene query in Elasticsearch (kept where the stream would route the rule, as
`soc hunt` does) against the stream engine's matches. Every difference is a bug on one side or a
backend limitation; the causes are listed (docs/detection.md, "Parity with Elasticsearch").

Needs the stack up. Usage: .venv/bin/python -m bench.sigma_parity [--sigmahq-web] [--show 20]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import yaml
from elasticsearch import helpers
from sigma.backends.elasticsearch import LuceneBackend
from sigma.rule import SigmaRule

from bench.detect_rules import events as corpus_events
from detectors.pipelines import load_pipeline
from detectors.rules import load_collection, compile_collection
from soc.config import load_settings
from soc.store.client import sync_client
from soc.store.setup import ensure_templates
from tests.unit.test_rule_library import examples_of, rule_files, scenario

ROOT = Path(__file__).resolve().parents[1]
SIGMAHQ_WEB = ROOT.parent / "shared" / "corpus" / "sigma" / "rules" / "web"


def library_events() -> list[dict[str, Any]]:
    docs = corpus_events(1000)[:930]
    for f in rule_files():
        data = yaml.safe_load(examples_of(f).read_text(encoding="utf-8")) or {}
        for kind in ("match", "no_match"):
            for item in data.get(kind) or []:
                docs.extend(scenario(item["events"] if "events" in item else [item]))
    for i, d in enumerate(docs):
        d["event"] = {**d.get("event", {}), "id": f"p{i}"}
        d.setdefault("@timestamp", "2026-11-25T02:00:00.000Z")
    return docs


def cause(error: str | None, ours_only: int, es_only: int, query: str) -> str:
    if error:
        if "Cannot search on field" in error:
            return "ES: a field that is stored, not indexed (event.original)"
        if "invalid character" in error or "invalid range" in error:
            return "ES: a regular expression Lucene does not accept"
        return "ES: other query error"
    if "(?i)" in query:
        return "Lucene regex has no inline flags ((?i)): ES misses"
    if ours_only and not es_only:
        return "ES misses: keyword fields compare case-sensitively / regex anchored"
    if es_only and not ours_only:
        return "ours misses"
    return "both sides differ"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sigmahq-web", action="store_true", help="also SigmaHQ's web rules")
    ap.add_argument("--show", type=int, default=20)
    args = ap.parse_args()
    s = load_settings()
    prefix = f"parity{uuid.uuid4().hex[:6]}"
    s = s.model_copy(update={"elastic": s.elastic.model_copy(update={"index_prefix": prefix})})
    asyncio.run(ensure_templates(s))
    es = sync_client(s)
    index = f"{prefix}-events-parity"
    docs = library_events()
    try:
        helpers.bulk(es, ({"_index": index, "_id": d["event"]["id"], "_source": d} for d in docs))
        es.indices.refresh(index=index)
        paths = [ROOT / "rules", *([SIGMAHQ_WEB] if args.sigmahq_web else [])]
        compiled_col, _ = load_collection(paths)
        rs = compile_collection(compiled_col)
        by_id = {r.meta.id: r for r in rs.rules}
        ours: dict[str, set[str]] = {}
        for d in docs:
            for r in rs.match(d):
                ours.setdefault(r.meta.id, set()).add(d["event"]["id"])
        col, _ = load_collection(paths)
        backend = LuceneBackend(processing_pipeline=load_pipeline("ecs"))
        rows, not_convertible, agree = [], 0, 0
        for rule in col:
            rid = str(rule.id or rule.name or rule.title)
            if not isinstance(rule, SigmaRule) or rule.errors or rid not in by_id:
                continue
            try:
                query = " OR ".join(f"({q})" for q in (backend.convert_rule(rule) or rule.get_conversion_result()))
            except Exception:  # noqa: BLE001 - what the backend cannot express
                not_convertible += 1
                continue
            theirs: set[str] = set()
            error = None
            keys = by_id[rid].keys
            try:
                for hit in helpers.scan(es, index=index, query={"query": {"query_string": {
                        "query": query, "analyze_wildcard": True, "default_field": "message"}}}):
                    d = hit["_source"]
                    if keys is None or rs.index is None or not keys.isdisjoint(rs.index.keys_for_event(d)):
                        theirs.add(d["event"]["id"])
            except Exception as exc:  # noqa: BLE001 - the query Elasticsearch refuses
                error = str(exc)
            mine = ours.get(rid, set())
            if error is None and mine == theirs:
                agree += 1
                continue
            rows.append({"rule": rule.title, "ours_only": len(mine - theirs), "es_only": len(theirs - mine),
                         "cause": cause(error, len(mine - theirs), len(theirs - mine), query), "query": query[:200]})
    finally:
        es.indices.delete(index=index, ignore_unavailable=True)
    compared = agree + len(rows)
    print(f"### Stream engine vs Elasticsearch (Lucene via pySigma), {len(docs):,} events")
    print()
    print(f"- rules compared: {compared}; same hits: {agree}; different: {len(rows)}; "
          f"not convertible to Lucene: {not_convertible}")
    print()
    print("| cause | rules |")
    print("| --- | --- |")
    for c, n in Counter(r["cause"] for r in rows).most_common():
        print(f"| {c} | {n} |")
    print()
    for r in rows[: args.show]:
        print(json.dumps(r, ensure_ascii=False))


if __name__ == "__main__":
    main()
