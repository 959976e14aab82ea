"""Evidence that a protected system is audited at all: its logs arrive (8.1.3.5 b, 8.1.4.3 b)."""

from __future__ import annotations

from typing import Any

from soc.compliance.engine import Context, asset_filter, evaluator
from soc.compliance.model import CheckDef, Subject, Verdict


@evaluator("log_presence")
async def log_presence(ctx: Context, check: CheckDef, subject: Subject) -> Verdict:
    """Pass when the system sent at least `min_events` events (default 1) within the window."""
    minimum = int(check.params.get("min_events", 1))
    query: dict[str, Any] = {"bool": {"filter": [asset_filter(subject), ctx.time_range(check)]}}
    res = await ctx.es.options(ignore_status=404).search(
        index=ctx.events, query=query, size=5, track_total_hits=True, sort=[{"@timestamp": "desc"}],
        aggs={"sources": {"cardinality": {"field": "soc.source_id"}}})
    total = res["hits"]["total"]["value"] if res.meta.status == 200 else 0
    sources = res["aggregations"]["sources"]["value"] if res.meta.status == 200 else 0
    evidence = ctx.evidence(check, ctx.events, query, counts={"events": total, "sources": sources},
                            samples=[h["_id"] for h in res["hits"]["hits"]] if total else [])
    if total >= minimum:
        return Verdict(status="pass", evidence=evidence,
                       reason=f"{check.window} 内收到 {total} 条日志，来自 {sources} 个日志源 "
                              f"({total} events from {sources} sources within {check.window})")
    return Verdict(status="fail", evidence=evidence,
                   reason=f"{check.window} 内仅收到 {total} 条日志，少于 {minimum} 条：审计日志未送达 "
                          f"(only {total} events within {check.window}, fewer than {minimum}: its logs do not arrive)")
