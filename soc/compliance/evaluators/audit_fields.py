"""Audit records that say what the standard asks of them: the date and time, the user, the type
of event and whether it succeeded (8.1.4.3 b for a system's hosts and applications; 8.1.3.5 b for
the devices at a zone's boundary; 7.1.4.3 b / 7.1.3.5 b at level 2).

Which events are audit records: the subject's events of `event.kind` event (params.kinds; alerts,
metrics and pipeline errors are not audit records) whose `event.category` is one of
params.categories, by default authentication, iam, process, configuration and session: the
"important user behaviour" of 8.1.4.3 a (logins and logouts, account and permission changes,
commands, configuration changes, sessions), whatever device or host wrote them. Host-status,
traffic and threat lines (host, network, intrusion_detection...) are not user behaviour and are
left out, as are lines no parser classified (they have no category). Whose events: a system's are
those the inventory enrichment gave its name (soc.asset.name); a zone's are those its boundary
devices sent (observer.name / observer.hostname / host.name, or observer.ip for an address).

What each record must carry (counted missing when absent):
- date and time: `@timestamp`;
- user: `user.name`;
- event type: `event.action`, or an `event.type` other than "info" (start, end, change, creation,
  deletion, access, allowed, denied...): "info" names no type of event;
- outcome: `event.outcome` success or failure ("unknown" says the device did not tell).

Pass when the share of complete records reaches params.min_share (default 0.95); not applicable
when the subject sent no audit record in the window (nothing to judge; the presence of logs is
log_presence's concern). The evidence gives the count missing per field, the incomplete records by
event.dataset (which device or parser to fix), and sample ids of incomplete records.

Known limit: normalize stamps a line that carries no time of its own with the time it was received,
and the stored event does not say which happened, so a missing date and time cannot be seen here
(the count is kept, and is 0).
"""

from __future__ import annotations

from typing import Any

from soc.compliance.engine import Context, asset_filter, evaluator
from soc.compliance.evaluators.common import device_filter, number
from soc.compliance.model import CheckDef, Subject, Verdict

CATEGORIES = ["authentication", "iam", "process", "configuration", "session"]
# ECS event.type values that name what happened (all but "info").
TYPED = ["access", "admin", "allowed", "change", "connection", "creation", "deletion", "denied", "end", "error",
         "group", "indicator", "installation", "protocol", "start", "user"]
FIELDS = ("@timestamp", "user.name", "event.action", "event.outcome")
LABEL_ZH = {"@timestamp": "日期时间", "user.name": "用户", "event.action": "事件类型", "event.outcome": "事件结果"}
SHOWN_DATASETS = 20


def _pct(share: float) -> str:
    return f"{share:.0%}" if round(share * 100, 6).is_integer() else f"{share:.1%}"


def missing_clauses() -> dict[str, dict[str, Any]]:
    """Field -> the query of the records that lack it."""
    return {
        "@timestamp": {"bool": {"must_not": [{"exists": {"field": "@timestamp"}}]}},
        "user.name": {"bool": {"must_not": [{"exists": {"field": "user.name"}}]}},
        "event.action": {"bool": {"must_not": [{"exists": {"field": "event.action"}},
                                               {"terms": {"event.type": TYPED}}]}},
        "event.outcome": {"bool": {"must_not": [{"terms": {"event.outcome": ["success", "failure"]}}]}},
    }


def scope_filter(subject: Subject) -> dict[str, Any] | None:
    """The subject's events: a system's (by enrichment), a zone's boundary devices', or all."""
    if subject.kind == "asset":
        return asset_filter(subject)
    if subject.kind == "zone":
        return device_filter(subject.devices) if subject.devices else None
    return {"match_all": {}}


@evaluator("audit_fields")
async def audit_fields(ctx: Context, check: CheckDef, subject: Subject) -> Verdict:
    """Pass when at least `min_share` of the subject's audit records carry date and time, user,
    event type and outcome."""
    min_share = number(check, "min_share", 0.95)
    samples = int(number(check, "samples", 10))
    categories = list(check.params.get("categories", CATEGORIES))
    kinds = list(check.params.get("kinds", ["event"]))
    scope = scope_filter(subject)
    if scope is None:
        return Verdict(status="not_applicable", evidence=ctx.evidence(check, ctx.events),
                       reason=f"安全区域“{subject.name}”未登记边界设备，无从取得边界审计记录 "
                              f"(the zone lists no boundary devices: there are no boundary audit records to judge)")
    query: dict[str, Any] = {"bool": {"filter": [
        scope, ctx.time_range(check), {"terms": {"event.category": categories}}, {"terms": {"event.kind": kinds}}]}}
    missing = missing_clauses()
    incomplete: dict[str, Any] = {"bool": {"should": list(missing.values()), "minimum_should_match": 1}}
    aggs = {
        "missing": {"filters": {"filters": missing}},
        "incomplete": {"filter": incomplete, "aggs": {
            "samples": {"top_hits": {"size": samples, "_source": False, "sort": [{"@timestamp": "desc"}]}},
            "datasets": {"terms": {"field": "event.dataset", "size": SHOWN_DATASETS, "missing": "(none)"},
                         "aggs": {"missing": {"filters": {"filters": missing}}}},
        }},
    }
    res = await ctx.es.options(ignore_status=404).search(index=ctx.events, query=query, size=0,
                                                         track_total_hits=True, aggs=aggs)
    found = res.meta.status == 200
    total = res["hits"]["total"]["value"] if found else 0
    what = "、".join(categories)
    if total == 0:
        return Verdict(status="not_applicable", evidence=ctx.evidence(check, ctx.events, query, counts={"audit_events": 0}),
                       reason=f"{check.window} 内无审计类事件（{what}），无从判断审计记录的内容 "
                              f"(no audit-type events ({', '.join(categories)}) within {check.window}: nothing to judge)")
    buckets = res["aggregations"]["missing"]["buckets"]
    lacking = {f: int(buckets[f]["doc_count"]) for f in FIELDS}
    inc = res["aggregations"]["incomplete"]
    n_incomplete = int(inc["doc_count"])
    complete = total - n_incomplete
    share = complete / total
    counts: dict[str, float] = {"audit_events": total, "complete": complete, "incomplete": n_incomplete,
                                "share": round(share, 4), "min_share": min_share}
    counts |= {f"missing.{f}": n for f, n in lacking.items()}
    notes = [f"audit-type: event.kind in {kinds}, event.category in {categories}",
             "event type: event.action, or an event.type other than info; outcome: event.outcome success/failure"]
    for b in inc["datasets"]["buckets"]:
        parts = [f"{f} {int(m['doc_count'])}" for f, m in b["missing"]["buckets"].items() if m["doc_count"]]
        notes.append(f"incomplete from {b['key']}: {b['doc_count']} (missing {', '.join(parts)})")
    evidence = ctx.evidence(check, ctx.events, query, counts=counts, notes=notes,
                            samples=[h["_id"] for h in inc["samples"]["hits"]["hits"]])
    gaps_zh = "、".join(f"缺{LABEL_ZH[f]} {n} 条" for f, n in lacking.items() if n)
    gaps_en = ", ".join(f"{n} without {f}" for f, n in lacking.items() if n)
    head_zh = (f"{check.window} 内 {total} 条审计记录中 {complete} 条（{share:.1%}）包含日期时间、用户、事件类型和事件结果")
    head_en = (f"{complete} of {total} audit records within {check.window} ({share:.1%}) carry date and time, user, "
               f"event type and outcome")
    if share >= min_share:
        tail_zh = f"，不低于 {_pct(min_share)}" + (f"（{gaps_zh}）" if gaps_zh else "")
        tail_en = f", at least {_pct(min_share)}" + (f" ({gaps_en})" if gaps_en else "")
        return Verdict(status="pass", evidence=evidence, reason=f"{head_zh}{tail_zh} ({head_en}{tail_en})")
    return Verdict(status="fail", evidence=evidence,
                   reason=f"{head_zh}，低于 {_pct(min_share)}：{gaps_zh} ({head_en}, below {_pct(min_share)}: {gaps_en})")
