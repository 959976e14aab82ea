"""Differential check: the stream engine against Elasticsearch on the same events and rules.

Indexes the corpus events (cn-vendors and Elastic test lines, normalized) and every event of
the rule library's examples into one index with the platform's template, then for every
single-event rule (rules/, optionally SigmaHQ's web rules or all of SigmaHQ, after the `ecs`
pipeline): the hits of the rule's query (pySigma's Lucene backend for our mapping,
soc/store/lucene.py, as `soc hunt` runs it; kept where the stream would route the rule) against
the stream engine's matches. Every difference is a bug on one side; the integration test
tests/integration/test_sigma_parity.py holds the rule library to none.

Needs the stack up. Usage: .venv/bin/python -m bench.sigma_parity [--sigmahq-web | --sigmahq] [--show 20]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from elasticsearch import Elasticsearch, helpers
from sigma.rule import SigmaRule

from bench.detect_rules import events as corpus_events
from detectors.pipelines import load_pipeline
from detectors.rules import compile_collection, load_collection
from soc.config import Settings, load_settings
from soc.store.client import sync_client
from soc.store.lucene import SocLuceneBackend, query_string, refused_parts
from soc.store.setup import ensure_templates
from tests.unit.test_rule_library import examples_of, rule_files, scenario

ROOT = Path(__file__).resolve().parents[1]
SIGMAHQ = ROOT.parent / "shared" / "corpus" / "sigma" / "rules"


@dataclass
class Parity:
    events: int
    agree: int = 0
    differ: list[dict[str, Any]] = field(default_factory=list)  # rule, ours_only, es_only, query, error
    not_convertible: list[dict[str, str]] = field(default_factory=list)  # rule, reason
    matched: dict[str, int] = field(default_factory=dict)  # rule title -> events both sides found


def library_events() -> list[dict[str, Any]]:
    """The corpus events and every example event of the rule library, each with an id."""
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


def compare(settings: Settings, paths: list[Path], docs: list[dict[str, Any]]) -> Parity:
    """Index docs in a fresh index of the platform's template; run every single-event rule both ways."""
    prefix = f"parity{uuid.uuid4().hex[:6]}"
    settings = settings.model_copy(update={"elastic": settings.elastic.model_copy(update={"index_prefix": prefix})})
    asyncio.run(ensure_templates(settings))
    es = sync_client(settings)
    index = f"{prefix}-events-parity"
    try:
        helpers.bulk(es, ({"_index": index, "_id": d["event"]["id"], "_source": d} for d in docs))
        es.indices.refresh(index=index)
        return _compare(es, index, paths, docs)
    finally:
        es.indices.delete(index=index, ignore_unavailable=True)
        es.options(ignore_status=404).indices.delete_index_template(name=f"{prefix}-*")


def _compare(es: Elasticsearch, index: str, paths: list[Path], docs: list[dict[str, Any]]) -> Parity:
    rs = compile_collection(load_collection(paths)[0])
    by_id = {r.meta.id: r for r in rs.rules}
    ours: dict[str, set[str]] = {}
    for d in docs:
        for r in rs.match(d):
            ours.setdefault(r.meta.id, set()).add(d["event"]["id"])
    backend = SocLuceneBackend(processing_pipeline=load_pipeline("ecs"))
    out = Parity(len(docs))
    for rule in load_collection(paths)[0]:  # a second copy: the backend rewrites the rules it converts
        rid = str(rule.id or rule.name or rule.title)
        if not isinstance(rule, SigmaRule) or rule.errors or rid not in by_id:
            continue
        try:
            query = " OR ".join(f"({q})" for q in (backend.convert_rule(rule) or rule.get_conversion_result()))
        except Exception as exc:  # noqa: BLE001 - what the backend cannot express
            out.not_convertible.append({"rule": rule.title, "reason": str(exc).split("\n")[0][:300]})
            continue
        theirs: set[str] = set()
        error = None
        keys = by_id[rid].keys
        try:
            refused = refused_parts(es, index, query)
            if refused:
                raise ValueError("; ".join(refused))
            for hit in helpers.scan(es, index=index, query={"query": query_string(query)}):
                d = hit["_source"]
                if keys is None or rs.index is None or not keys.isdisjoint(rs.index.keys_for_event(d)):
                    theirs.add(d["event"]["id"])
        except Exception as exc:  # noqa: BLE001 - the query Elasticsearch refuses
            error = str(exc)[:300]
        mine = ours.get(rid, set())
        if error is None and mine == theirs:
            out.agree += 1
            out.matched[rule.title] = len(mine)
        else:
            out.differ.append({"rule": rule.title, "ours_only": sorted(mine - theirs)[:5],
                               "es_only": sorted(theirs - mine)[:5], "query": query[:300], "error": error})
    return out


def _cause(row: dict[str, Any]) -> str:
    if row["error"]:
        return "Elasticsearch refused the query"
    if row["ours_only"] and row["es_only"]:
        return "both sides differ"
    return "Elasticsearch misses" if row["ours_only"] else "the stream misses"


def _reason(text: str) -> str:
    """A not-convertible reason without the rule's own values, to count alike reasons together."""
    return text.split(" has no Lucene equivalent: ")[-1][:120] if "has no Lucene equivalent" in text else text[:120]


def main() -> None:
    ap = argparse.ArgumentParser()
    which = ap.add_mutually_exclusive_group()
    which.add_argument("--sigmahq-web", action="store_true", help="also SigmaHQ's web rules")
    which.add_argument("--sigmahq", action="store_true", help="also all of SigmaHQ's rules")
    ap.add_argument("--show", type=int, default=20)
    args = ap.parse_args()
    extra = [SIGMAHQ / "web"] if args.sigmahq_web else [SIGMAHQ] if args.sigmahq else []
    p = compare(load_settings(), [ROOT / "rules", *extra], library_events())
    print(f"### Stream engine vs Elasticsearch (Lucene via pySigma), {p.events:,} events")
    print()
    print(f"- rules compared: {p.agree + len(p.differ)}; same hits: {p.agree}; different: {len(p.differ)}; "
          f"not convertible to Lucene: {len(p.not_convertible)}")
    for title, counts in (("difference", Counter(_cause(r) for r in p.differ)),
                          ("not convertible: reason", Counter(_reason(r["reason"]) for r in p.not_convertible))):
        if counts:
            print(f"\n| {title} | rules |\n| --- | --- |")
            for c, n in counts.most_common():
                print(f"| {c} | {n} |")
    for r in [*p.differ, *p.not_convertible][: args.show]:
        print(json.dumps(r, ensure_ascii=False))


if __name__ == "__main__":
    main()
