"""Retro-hunt: run Sigma rules over the events already in Elasticsearch (`soc hunt`).

A single-event rule is converted by pySigma's Elasticsearch backend (Lucene query string) after
the same field-mapping pipeline the stream uses (`ecs`), searched over `<prefix>-events-*`
in the time range, and the hits kept that the stream would have routed to the rule (its
logsource: the query cannot say it, Elastic leaves that to the choice of index). A correlation rule cannot be one query: the events of its rules are searched
the same way and the correlation runs over them, in time order, with the stream's own code
(soc.stream.detect.evaluate), so a hunt finds the windows the stream would have found.

The backend is pySigma's Lucene backend adapted to our index mapping (soc/store/lucene.py):
strings compared case-insensitively on `.ci` sub-fields, regular expressions translated for
Lucene, keywords searched where the stream searches them, so a hunt finds what the stream would
have (tests/integration/test_sigma_parity.py). What it cannot express (field references, for
one), or what Elasticsearch would silently drop from the query, is reported per rule.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from elasticsearch import Elasticsearch
from sigma.correlations import SigmaCorrelationRule
from sigma.exceptions import SigmaError
from sigma.rule import SigmaRule

from detectors.pipelines import load_pipeline
from detectors.rules import load_collection, load_rules
from soc.model import Doc
from soc.store.lucene import SocLuceneBackend, query_string, refused_parts
from soc.stream.detect import evaluate

SINCE = re.compile(r"^(\d+)([smhdw])$")
PAGE = 1000


@dataclass
class HuntResult:
    rule_id: str
    title: str
    query: str | None = None
    hits: list[Doc] = field(default_factory=list)  # events (single rule) or alert summaries
    error: str | None = None


def es_since(since: str) -> str:
    """`30d` → `now-30d` (Elasticsearch date math); anything else is refused."""
    m = SINCE.match(since.strip())
    if not m:
        raise ValueError(f"--since must look like 30d, 12h, 90m or 2w, not {since!r}")
    return f"now-{m.group(1)}{m.group(2)}"


def _search(es: Elasticsearch, index: str, query: str, since: str, limit: int,
            scope: list[dict[str, Any]] | None = None) -> Iterator[Doc]:
    """Every event matching the Lucene query in the range, oldest first (search_after pages).

    Raises SigmaError when Elasticsearch would silently drop part of the query."""
    refused = refused_parts(es, index, query)
    if refused:
        raise SigmaError("Elasticsearch cannot run part of the query: " + "; ".join(refused))
    body: dict[str, Any] = {
        "bool": {"filter": [
            query_string(query),
            {"range": {"@timestamp": {"gte": es_since(since)}}},
            *(scope or []),
        ]}
    }
    after: list[Any] | None = None
    seen = 0
    while seen < limit:
        page = es.search(index=index, query=body, size=min(PAGE, limit - seen), sort=["@timestamp", "event.id"],
                         search_after=after, ignore_unavailable=True, allow_no_indices=True)
        hits = page["hits"]["hits"]
        if not hits:
            return
        for hit in hits:
            yield hit["_source"]
        seen += len(hits)
        after = hits[-1]["sort"]


def hunt(es: Elasticsearch, index: str, paths: list[Path], since: str, limit: int = 10_000,
         only: set[str] | None = None, scope: list[dict[str, Any]] | None = None) -> list[HuntResult]:
    """Every rule of the files (or only the rules whose id is in `only`), with its hits; `scope`
    adds filters to every search (the API's tenant filter)."""
    es_since(since)  # a bad range fails before any search
    collection, file_errors = load_collection(paths)
    if file_errors:
        raise ValueError("; ".join(file_errors))
    backend = SocLuceneBackend(processing_pipeline=load_pipeline("ecs"))
    queries: dict[str, str] = {}
    results: list[HuntResult] = []
    for rule in collection:
        rid = str(rule.id or rule.name or rule.title)
        if isinstance(rule, SigmaRule) and not rule.errors:
            try:
                # A rule a correlation refers to is converted but not "output" by pySigma: its
                # queries are kept on the rule.
                converted = backend.convert_rule(rule) or rule.get_conversion_result()
                if not converted:
                    raise SigmaError("the backend gave no query")
                queries[rid] = " OR ".join(f"({q})" for q in converted)
            except SigmaError as exc:
                results.append(HuntResult(rid, rule.title, error=f"not convertible to a query: {exc}"))
    # The stream's own view of the same files (the backend has rewritten the rules above).
    ruleset = load_rules(paths)
    compiled = {r.meta.id: r for r in ruleset.rules}
    for rule in collection:
        rid = str(rule.id or rule.name or rule.title)
        if only is not None and rid not in only:
            continue
        single = compiled.get(rid)
        if isinstance(rule, SigmaRule) and rid in queries and single is not None and single.generates_alerts:
            res = HuntResult(rid, rule.title, queries[rid])
            try:
                res.hits = [doc for doc in _search(es, index, queries[rid], since, limit, scope)
                            if single.keys is None or ruleset.index is None
                            or not single.keys.isdisjoint(ruleset.index.keys_for_event(doc))]
            except SigmaError as exc:
                res.error = str(exc)
            results.append(res)
        elif isinstance(rule, SigmaCorrelationRule):
            results.append(_hunt_correlation(es, index, rule, queries, ruleset, since, limit, scope))
    return [r for r in results if only is None or r.rule_id in only]


def _hunt_correlation(es: Elasticsearch, index: str, rule: SigmaCorrelationRule, queries: dict[str, str],
                      ruleset: Any, since: str, limit: int, scope: list[dict[str, Any]] | None = None) -> HuntResult:
    rid = str(rule.id or rule.name or rule.title)
    res = HuntResult(rid, rule.title)
    parts = []
    for ref in rule.rules or []:
        target = getattr(ref, "rule", None)
        ref_id = str(target.id or target.name or target.title) if target is not None else str(ref.reference)
        if ref_id not in queries:
            res.error = f"its rule {ref.reference} could not be converted to a query"
            return res
        parts.append(f"({queries[ref_id]})")
    res.query = " OR ".join(parts)
    try:
        events = list(_search(es, index, res.query, since, limit, scope))
    except SigmaError as exc:
        res.error = str(exc)
        return res
    for hit in evaluate(ruleset, events):
        if hit.rule.meta.id == rid and hit.alert is not None:
            alert = hit.alert["soc"]["alert"]
            res.hits.append({"group": hit.group, "count": alert["count"], "first_seen": alert["first_seen"],
                             "last_seen": alert["last_seen"], "event_ids": alert["event_ids"]})
    return res
