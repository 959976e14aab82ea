"""Evidence that a system's audit is not interrupted without authorization (8.1.4.3 d).

Two rules, both over the system's events (soc.asset.name) within the window:

(a) No unexplained silence. A date histogram (params.bucket, default 1h) finds the buckets with
    events, and the first and last event of each; the silence between the last event of one
    bucket with events and the first of the next, and from the last event to now (an interruption
    still going on), is a gap. A gap longer than params.max_gap fails, unless the declared
    maintenance windows (params.maintenance: [{from, to, systems?, reason?}], China time when no
    offset is written) cover it so that no uncovered part is longer than max_gap. The silence before
    the first event of the window is not counted (a system put into service within it). Gaps
    shorter than a bucket are seen exactly; choose bucket <= max_gap.
(b) Every audit stop resolved. An event that stops auditing or its export (audit_stops.FAMILIES,
    and the events behind alerts of params.stop_rules, the library's audit-stop rules) must be
    followed, on the same host or device (host.name / observer.*), by an event of the same family
    showing it back within params.restart_within (default 1h), or be behind an alert
    (soc.alert.event_ids) whose status is resolved or false_positive. A stop younger than
    restart_within is pending, not yet a failure. Each unresolved stop is named with its document id.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime
from typing import Any

from soc.compliance.engine import Context, asset_filter, evaluator
from soc.compliance.evaluators import audit_stops
from soc.compliance.evaluators.common import CLOSED, duration, es_interval, host_of, human, param_time
from soc.compliance.model import CheckDef, Subject, Verdict
from soc.model import get_path, iso

MAX_STOPS = 500
MAX_RESTARTS = 5000
MAX_NAMED = 20  # gaps and stops named one by one in the notes


def maintenance(check: CheckDef, subject: Subject) -> list[tuple[datetime, datetime, str]]:
    """The declared maintenance windows that apply to the subject: (from, to, reason)."""
    out = []
    for k, entry in enumerate(check.params.get("maintenance") or []):
        where = f"{check.id}: params.maintenance.{k}"
        if not isinstance(entry, dict) or "from" not in entry or "to" not in entry:
            raise ValueError(f"{where}: needs from and to")
        systems = entry.get("systems")
        if systems is not None and subject.name not in ([systems] if isinstance(systems, str) else systems):
            continue
        start, end = param_time(entry["from"], f"{where}.from"), param_time(entry["to"], f"{where}.to")
        if end <= start:
            raise ValueError(f"{where}: to is not after from")
        out.append((start, end, str(entry.get("reason", ""))))
    return out


def uncovered(start: datetime, end: datetime, windows: list[tuple[datetime, datetime, str]]) -> list[tuple[datetime, datetime]]:
    """The parts of [start, end] that no maintenance window covers."""
    parts = [(start, end)]
    for w_from, w_to, _ in sorted(windows):
        nxt = []
        for a, b in parts:
            if w_to <= a or w_from >= b:
                nxt.append((a, b))
                continue
            if a < w_from:
                nxt.append((a, w_from))
            if w_to < b:
                nxt.append((w_to, b))
        parts = nxt
    return parts


def _ms(ms: float) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)


async def gaps(ctx: Context, check: CheckDef, subject: Subject) -> dict[str, Any]:
    bucket = es_interval(check, "bucket", "1h")
    max_gap = duration(check, "max_gap", "2h")
    windows = maintenance(check, subject)
    query = {"bool": {"filter": [asset_filter(subject), ctx.time_range(check)]}}
    first_last = {"size": 1, "_source": False}
    res = await ctx.es.options(ignore_status=404).search(
        index=ctx.events, query=query, size=0, track_total_hits=True,
        aggs={"h": {"date_histogram": {"field": "@timestamp", "fixed_interval": bucket, "min_doc_count": 1},
                    "aggs": {"first": {"top_hits": {**first_last, "sort": [{"@timestamp": "asc"}]}},
                             "last": {"top_hits": {**first_last, "sort": [{"@timestamp": "desc"}]}}}}})
    if res.meta.status != 200:
        return {"events": 0, "buckets": 0, "found": [], "covered": 0, "max_gap": max_gap, "bucket": bucket,
                "query": query}
    buckets = res["aggregations"]["h"]["buckets"]
    edges = [(b["first"]["hits"]["hits"][0], b["last"]["hits"]["hits"][0]) for b in buckets]
    # (from hit or None, to hit or None (now), start, end)
    silences: list[tuple[Any, Any, datetime, datetime]] = []
    for (_, last), (first, _) in zip(edges, edges[1:], strict=False):
        silences.append((last, first, _ms(last["sort"][0]), _ms(first["sort"][0])))
    if edges:
        last = edges[-1][1]
        silences.append((last, None, _ms(last["sort"][0]), ctx.now))
    found, covered = [], 0
    for before, after, start, end in silences:
        if end - start <= max_gap:
            continue
        rest = [(a, b) for a, b in uncovered(start, end, windows) if b - a > max_gap]
        if not rest:
            covered += 1
            continue
        found.append({"from": start, "to": end, "before": before["_id"], "after": after["_id"] if after else None,
                      "uncovered": max(b - a for a, b in rest), "ongoing": after is None})
    return {"events": res["hits"]["total"]["value"], "buckets": len(buckets), "found": found, "covered": covered,
            "max_gap": max_gap, "bucket": bucket, "query": query}


SOURCE = ["@timestamp", "event.action", "event.code", "host.name", "observer.name", "observer.hostname", "observer.ip"]


def _at(hit: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(str(hit["_source"]["@timestamp"]).replace("Z", "+00:00"))


async def stops(ctx: Context, check: CheckDef, subject: Subject) -> dict[str, Any]:
    within = duration(check, "restart_within", "1h")
    query = {"bool": {"filter": [asset_filter(subject), ctx.time_range(check)],
                      "should": audit_stops.named_clauses(), "minimum_should_match": 1}}
    res = await ctx.es.options(ignore_status=404).search(
        index=ctx.events, query=query, size=MAX_STOPS + MAX_RESTARTS, track_total_hits=True,
        sort=[{"@timestamp": "asc"}], _source=SOURCE)
    hits = res["hits"]["hits"] if res.meta.status == 200 else []
    found: list[dict[str, Any]] = []
    restarts: dict[tuple[str, str], list[datetime]] = defaultdict(list)
    for h in hits:
        stopped, restarted = audit_stops.classify(h.get("matched_queries", []))
        at, host = _at(h), host_of(h["_source"])
        for fam in sorted(stopped):
            found.append({"id": h["_id"], "family": fam, "at": at, "host": host,
                          "action": get_path(h["_source"], "event.action") or get_path(h["_source"], "event.code")})
        for fam in restarted - stopped:
            restarts[(fam, host)].append(at)
    # The events behind alerts of the audit-stop rules (params.stop_rules) that the fields above
    # did not tell: a stop whose words are only in event.original. Nothing shows such a stop back:
    # its alert must be closed.
    if stop_rules := [str(r) for r in check.params.get("stop_rules", [])]:
        ares = await ctx.es.options(ignore_status=404).search(
            index=ctx.alerts, size=MAX_STOPS, _source=["rule.name", "soc.alert.event_ids"],
            query={"bool": {"filter": [asset_filter(subject), {"terms": {"rule.id": stop_rules}},
                                       ctx.time_range(check, "soc.alert.first_seen")]}})
        rule_of: dict[str, str] = {}
        for a in ares["hits"]["hits"] if ares.meta.status == 200 else []:
            for eid in get_path(a["_source"], "soc.alert.event_ids", []) or []:
                rule_of.setdefault(eid, str(get_path(a["_source"], "rule.name", "")))
        seen = {s["id"] for s in found}
        if extra := sorted(set(rule_of) - seen)[:MAX_STOPS]:
            eres = await ctx.es.options(ignore_status=404).search(
                index=ctx.events, size=len(extra), _source=SOURCE,
                query={"bool": {"filter": [{"terms": {"event.id": extra}}, ctx.time_range(check)]}})
            for h in eres["hits"]["hits"] if eres.meta.status == 200 else []:
                found.append({"id": h["_id"], "family": "alert", "at": _at(h), "host": host_of(h["_source"]),
                              "action": rule_of.get(h["_id"], "")})
    found = sorted(found, key=lambda s: s["at"])[:MAX_STOPS]
    for s in found:
        back = [t for t in restarts.get((s["family"], s["host"]), []) if s["at"] <= t <= s["at"] + within]
        s["restarted"] = min(back) if back else None
    # Alerts behind the stops that did not come back: closed ones resolve them.
    waiting = [s for s in found if s["restarted"] is None]
    closed: dict[str, str] = {}
    open_: dict[str, str] = {}
    if waiting:
        ids = sorted({s["id"] for s in waiting})
        ares = await ctx.es.options(ignore_status=404).search(
            index=ctx.alerts, size=MAX_STOPS * 4, query={"terms": {"soc.alert.event_ids": ids}},
            _source=["soc.alert.status", "soc.alert.event_ids"])
        for a in ares["hits"]["hits"] if ares.meta.status == 200 else []:
            status = get_path(a["_source"], "soc.alert.status")
            for eid in get_path(a["_source"], "soc.alert.event_ids", []) or []:
                (closed if status in CLOSED else open_).setdefault(eid, a["_id"])
    for s in found:
        family = audit_stops.BY_NAME.get(s["family"])
        if s["restarted"] is not None:
            s["state"] = "restarted"
        elif s["id"] in closed:
            s["state"], s["alert"] = "alert_closed", closed[s["id"]]
        elif family is not None and family.restart and ctx.now - s["at"] < within:
            s["state"] = "pending"
        else:
            s["state"], s["alert"] = "unresolved", open_.get(s["id"])
    return {"found": found, "within": within, "truncated": len(hits) >= MAX_STOPS + MAX_RESTARTS}


@evaluator("audit_continuity")
async def audit_continuity(ctx: Context, check: CheckDef, subject: Subject) -> Verdict:
    """Pass when the system's audit trail has no unexplained gap and every audit stop came back
    (or was closed as handled); not applicable when it sent no event at all (logs-received fails it)."""
    g = await gaps(ctx, check, subject)
    st = await stops(ctx, check, subject)
    by_state: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for s in st["found"]:
        by_state[s["state"]].append(s)
    unresolved = by_state["unresolved"]
    counts = {"events": g["events"], "buckets_with_events": g["buckets"], "gaps": len(g["found"]),
              "gaps_in_maintenance": g["covered"], "stops": len(st["found"]),
              "stops_restarted": len(by_state["restarted"]), "stops_alert_closed": len(by_state["alert_closed"]),
              "stops_pending": len(by_state["pending"]), "stops_unresolved": len(unresolved)}
    notes = []
    for gap in g["found"][:MAX_NAMED]:
        end = "至今 (ongoing)" if gap["ongoing"] else iso(gap["to"])
        after = "" if gap["after"] is None else f", next event {gap['after']}"
        notes.append(f"日志中断 gap: {iso(gap['from'])} → {end}, {human(gap['to'] - gap['from'])}"
                     f" (未被维护窗口覆盖 uncovered {human(gap['uncovered'])}; last event {gap['before']}{after})")
    for s in unresolved[:MAX_NAMED]:
        alert = f", alert {s['alert']} still open" if s.get("alert") else ""
        notes.append(f"审计停止未恢复 unresolved stop: {s['id']} {s['family']} {s['action'] or ''} on {s['host']} "
                     f"at {iso(s['at'])}{alert}")
    for s in by_state["pending"][:MAX_NAMED]:
        notes.append(f"审计停止待恢复 pending (< {human(st['within'])}): {s['id']} {s['family']} on {s['host']} at {iso(s['at'])}")
    if st["truncated"]:
        notes.append(f"only the first {MAX_STOPS + MAX_RESTARTS} stop/restart events were read")
    samples = [s["id"] for s in unresolved] + [x for gap in g["found"] for x in (gap["before"], gap["after"]) if x]
    samples += [s["id"] for s in st["found"] if s["state"] != "unresolved"]
    evidence = ctx.evidence(check, ctx.events, g["query"], counts=counts, samples=list(dict.fromkeys(samples))[:50],
                            notes=notes)
    if not g["events"]:
        return Verdict(status="not_applicable", evidence=evidence,
                       reason=f"{check.window} 内该系统无任何日志，无法评估审计连续性（见日志送达检查） "
                              f"(no events within {check.window}: continuity cannot be judged; see the logs-received check)")
    problems_zh, problems_en = [], []
    if g["found"]:
        problems_zh.append(f"{len(g['found'])} 处超过 {human(g['max_gap'])} 的日志中断未被维护窗口覆盖")
        problems_en.append(f"{len(g['found'])} gap(s) longer than {human(g['max_gap'])} outside maintenance")
    if unresolved:
        problems_zh.append(f"{len(unresolved)} 次审计停止未在 {human(st['within'])} 内恢复且无已处置告警")
        problems_en.append(f"{len(unresolved)} audit stop(s) neither restarted within {human(st['within'])} "
                           "nor closed as an alert")
    if problems_zh:
        return Verdict(status="fail", evidence=evidence,
                       reason="；".join(problems_zh) + f" ({'; '.join(problems_en)})")
    handled = counts["stops"] - counts["stops_pending"]
    pending = f"，{counts['stops_pending']:.0f} 次待恢复" if counts["stops_pending"] else ""
    return Verdict(status="pass", evidence=evidence,
                   reason=f"{check.window} 内日志无超过 {human(g['max_gap'])} 的未说明中断，{handled} 次审计停止均已恢复或已处置"
                          f"{pending} "
                          f"(no unexplained gap over {human(g['max_gap'])} within {check.window}; "
                          f"{handled} audit stop(s) restarted or closed)")
