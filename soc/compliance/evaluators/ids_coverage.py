"""Intrusion detection at a zone's boundary, and alarms on severe intrusions (8.1.3.3; 7.1.3.3 at
level 2, which asks only that attacks be watched for at key nodes).

Two parts, chosen by params.parts (default both; the check definitions run them apart, because
they evidence different items of the clause):

- `devices` (8.1.3.3 a/b: attacks from outside and from inside are detected at key nodes): every
  boundary device the inventory lists for the zone (`boundary_devices`) must have sent intrusion
  events within the window: events with `event.category` intrusion_detection, or from an
  `observer.type` ids / ips (params.observer_types). A device is matched by observer.name,
  observer.hostname or host.name (its name as it writes it) or by observer.ip (the address it sends
  from, set by normalize). A device with no such event is silent, and named: the reason tells a
  device that sent nothing at all from one that sent logs but no intrusion event (a plain firewall
  listed as a boundary IPS, an IPS module switched off).
- `alerts` (8.1.3.3 d: severe intrusions raise an alarm): every intrusion event
  (`event.category` intrusion_detection) of the zone's networks (source.ip or destination.ip in
  them: attacks on the zone and from it) whose normalized `soc.severity` is high or critical
  (params.severities) must be covered by an alert in `<prefix>-alerts`. An alert covers the event
  when its `soc.alert.event_ids` holds the event's id; or, since an alert lists only 100 of its
  event ids (its first and newest 50) and a correlation alert stands for many events of one
  attacker, when it has the same
  `source.ip` and the event's time lies between the alert's `soc.alert.first_seen` and
  `soc.alert.last_seen`, widened by params.alert_slack (default 5m) for clocks and late events.
  Uncovered events are named (time, source → destination, signature, device).

Not applicable when the zone lists no boundary devices (devices part) and, for the alerts part
alone, when it lists no networks.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from soc.compliance.engine import Context, evaluator
from soc.compliance.evaluators.common import LOCAL, device_filter, device_of, duration, number
from soc.compliance.model import CheckDef, Subject, Verdict
from soc.model import get_path, iso, parse_iso

PARTS = ("devices", "alerts")
INTRUSION = {"terms": {"event.category": ["intrusion_detection"]}}
FIELDS = ["@timestamp", "event.id", "source.ip", "destination.ip", "rule.name", "soc.severity", "observer.name",
          "observer.hostname", "observer.ip", "host.name"]
CHUNK = 5000
SHOWN = 10


def _local(ts: datetime) -> str:
    return f"{ts.astimezone(LOCAL):%Y-%m-%d %H:%M:%S}"


async def _devices(ctx: Context, check: CheckDef, subject: Subject) -> tuple[list[str], list[str], dict[str, float],
                                                                               list[str], list[str]]:
    """(silent devices that sent nothing, silent devices that sent other logs, counts, samples, notes)."""
    types = list(check.params.get("observer_types", ["ids", "ips"]))
    intrusion = {"bool": {"should": [INTRUSION, {"terms": {"observer.type": types}}], "minimum_should_match": 1}}
    per_device = {d: device_filter([d]) for d in subject.devices}
    query = {"bool": {"filter": [ctx.time_range(check), device_filter(subject.devices)]}}
    res = await ctx.es.options(ignore_status=404).search(index=ctx.events, query=query, size=0, aggs={
        "device": {"filters": {"filters": per_device}, "aggs": {"intrusion": {"filter": intrusion, "aggs": {
            "sample": {"top_hits": {"size": 1, "_source": False, "sort": [{"@timestamp": "desc"}]}}}}}}})
    buckets = res["aggregations"]["device"]["buckets"] if res.meta.status == 200 else {}
    silent_none, silent_other, samples = [], [], []
    counts: dict[str, float] = {"devices": len(subject.devices)}
    for d in subject.devices:
        b = buckets.get(d, {"doc_count": 0, "intrusion": {"doc_count": 0, "sample": {"hits": {"hits": []}}}})
        n, k = int(b["doc_count"]), int(b["intrusion"]["doc_count"])
        counts[f"device.{d}.events"] = n
        counts[f"device.{d}.intrusion_events"] = k
        samples += [h["_id"] for h in b["intrusion"]["sample"]["hits"]["hits"]]
        if k == 0:
            (silent_other if n else silent_none).append(d)
    counts["silent_devices"] = len(silent_none) + len(silent_other)
    counts["intrusion_events"] = sum(v for key, v in counts.items() if key.endswith(".intrusion_events"))
    notes = [f"intrusion event: event.category intrusion_detection or observer.type in {types}; a device is "
             "matched by observer.name, observer.hostname, host.name or observer.ip"]
    return silent_none, silent_other, counts, samples, notes


async def _covered_by_id(ctx: Context, ids: list[str]) -> set[str]:
    """The ids some alert lists in soc.alert.event_ids (a terms aggregation restricted to them)."""
    covered: set[str] = set()
    for at in range(0, len(ids), CHUNK):
        part = ids[at:at + CHUNK]
        res = await ctx.es.options(ignore_status=404).search(
            index=ctx.alerts, size=0, query={"terms": {"soc.alert.event_ids": part}},
            aggs={"ids": {"terms": {"field": "soc.alert.event_ids", "include": part, "size": len(part)}}})
        if res.meta.status != 200:
            return covered
        covered |= {str(b["key"]) for b in res["aggregations"]["ids"]["buckets"]}
    return covered


async def _windows_by_source(ctx: Context, check: CheckDef, ips: list[str]) -> dict[str, list[tuple[datetime, datetime]]]:
    """source.ip -> the (first_seen, last_seen) of its alerts that reach into the window."""
    slack = duration(check, "alert_slack", "5m")
    windows: dict[str, list[tuple[datetime, datetime]]] = {}
    for at in range(0, len(ips), CHUNK):
        res = await ctx.es.options(ignore_status=404).search(
            index=ctx.alerts, size=10_000,
            query={"bool": {"filter": [
                {"terms": {"source.ip": ips[at:at + CHUNK]}},
                {"range": {"soc.alert.last_seen": {"gte": iso(ctx.since(check) - slack)}}},
                {"range": {"soc.alert.first_seen": {"lte": iso(ctx.now + slack)}}}]}},
            source_includes=["source.ip", "soc.alert.first_seen", "soc.alert.last_seen"])
        if res.meta.status != 200:
            return windows
        for h in res["hits"]["hits"]:
            src = h["_source"]
            first, last = get_path(src, "soc.alert.first_seen"), get_path(src, "soc.alert.last_seen")
            ip = get_path(src, "source.ip")
            if isinstance(first, str) and isinstance(last, str) and isinstance(ip, str):
                windows.setdefault(ip, []).append((parse_iso(first) - slack, parse_iso(last) + slack))
    return windows


async def _alerts(ctx: Context, check: CheckDef, subject: Subject) -> tuple[
        list[dict[str, Any]], list[dict[str, Any]], dict[str, float], list[str], dict[str, Any]]:
    """(unalerted severe intrusions, alerted ones, counts, notes, query)."""
    severities = list(check.params.get("severities", ["high", "critical"]))
    cap = int(number(check, "max_events", 10_000))
    nets = list(subject.networks)
    query = {"bool": {"filter": [
        ctx.time_range(check), INTRUSION, {"terms": {"soc.severity": severities}},
        {"bool": {"should": [{"terms": {"source.ip": nets}}, {"terms": {"destination.ip": nets}}],
                  "minimum_should_match": 1}}]}}
    res = await ctx.es.options(ignore_status=404).search(
        index=ctx.events, query=query, size=cap, track_total_hits=True, source_includes=FIELDS,
        sort=[{"@timestamp": "asc"}])
    hits = res["hits"]["hits"] if res.meta.status == 200 else []
    total = res["hits"]["total"]["value"] if res.meta.status == 200 else 0
    events = [{"_id": h["_id"], **h["_source"]} for h in hits]
    ids = [str(get_path(e, "event.id") or e["_id"]) for e in events]
    by_id = await _covered_by_id(ctx, ids)
    rest = [e for e, i in zip(events, ids, strict=True) if i not in by_id]
    ips = sorted({str(ip) for e in rest if (ip := get_path(e, "source.ip"))})
    windows = await _windows_by_source(ctx, check, ips) if ips else {}
    unalerted = []
    for e in rest:
        ts, ip = parse_iso(str(e["@timestamp"])), get_path(e, "source.ip")
        if not any(a <= ts <= b for a, b in windows.get(str(ip), [])):
            unalerted.append(e)
    missed = {e["_id"] for e in unalerted}
    alerted = [e for e in events if e["_id"] not in missed]
    counts: dict[str, float] = {"severe_intrusions": total, "alerted": len(events) - len(unalerted),
                                "alerted_by_event_id": len(by_id), "unalerted": len(unalerted)}
    notes = [f"severe: event.category intrusion_detection, soc.severity in {severities}, source.ip or destination.ip "
             f"in {nets}; covered by an alert of {ctx.alerts} that lists the event id in soc.alert.event_ids, or "
             f"has its source.ip with the event time within soc.alert.first_seen..last_seen "
             f"± {check.params.get('alert_slack', '5m')}"]
    if total > len(events):
        notes.append(f"only the first {len(events)} of {total} severe intrusions were checked (params.max_events)")
    return unalerted, alerted, counts, notes, query


def _describe(e: dict[str, Any], en: bool = False) -> str:
    src, dst = get_path(e, "source.ip") or "?", get_path(e, "destination.ip") or "?"
    sig = get_path(e, "rule.name") or "?"
    if en:
        return f"{e['@timestamp']} {src}→{dst} {sig} ({get_path(e, 'soc.severity')}, {device_of(e)})"
    return f"{_local(parse_iso(str(e['@timestamp'])))} {src}→{dst} {sig}（{get_path(e, 'soc.severity')}，{device_of(e)}）"


@evaluator("ids_coverage")
async def ids_coverage(ctx: Context, check: CheckDef, subject: Subject) -> Verdict:
    """Pass when every boundary device of the zone sent intrusion events and every severe intrusion
    of its networks raised an alert (the parts named in params.parts)."""
    parts = [p for p in check.params.get("parts", PARTS) if p in PARTS]
    if not parts:
        raise ValueError(f"{check.id}: params.parts must name devices and/or alerts")
    if "devices" in parts and not subject.devices:
        return Verdict(status="not_applicable", evidence=ctx.evidence(check, ctx.events),
                       reason=f"安全区域“{subject.name}”未登记边界设备（boundary_devices），无从核对入侵检测 "
                              f"(the zone lists no boundary devices: there is no detection to verify)")
    if parts == ["alerts"] and not subject.networks:
        return Verdict(status="not_applicable", evidence=ctx.evidence(check, ctx.events),
                       reason=f"安全区域“{subject.name}”未登记网段，无从判断哪些入侵事件属于该区域 "
                              f"(the zone lists no networks: its intrusions cannot be told apart)")
    counts: dict[str, float] = {}
    samples: list[str] = []
    notes: list[str] = []
    zh: list[str] = []
    en: list[str] = []
    ok_zh: list[str] = []
    ok_en: list[str] = []
    query: dict[str, Any] | None = None
    if "devices" in parts:
        none, other, c, s, n = await _devices(ctx, check, subject)
        counts |= c
        samples += s
        notes += n
        silent = none + other
        if silent:
            detail = "、".join([*(f"{d}（无任何日志）" for d in none), *(f"{d}（有日志但无入侵检测事件）" for d in other)])
            zh.append(f"{len(silent)} 台边界设备 {check.window} 内未报送入侵检测事件：{detail}")
            en.append(f"{len(silent)} boundary devices sent no intrusion event within {check.window}: "
                      + ", ".join([*(f"{d} (no logs at all)" for d in none), *(f"{d} (logs, but no intrusion event)"
                                                                              for d in other)]))
        else:
            ok_zh.append(f"{len(subject.devices)} 台边界设备 {check.window} 内均报送了入侵检测事件"
                         f"（共 {int(counts['intrusion_events'])} 条）")
            ok_en.append(f"all {len(subject.devices)} boundary devices sent intrusion events within {check.window} "
                         f"({int(counts['intrusion_events'])} in all)")
        query = {"bool": {"filter": [ctx.time_range(check), device_filter(subject.devices)]}}
    if "alerts" in parts:
        if not subject.networks:
            notes.append("the zone lists no networks: severe intrusions were not checked for alerts")
        else:
            unalerted, alerted, c, n, query = await _alerts(ctx, check, subject)
            counts |= c
            notes += n + [f"unalerted: {_describe(e, en=True)} [{e['_id']}]" for e in unalerted]
            # the ids behind the result: the unalerted intrusions, or else the alerted ones
            samples = [e["_id"] for e in (unalerted or alerted)[:SHOWN]] + samples
            if unalerted:
                shown = "；".join(_describe(e) for e in unalerted[:SHOWN])
                more = f" 等 {len(unalerted)} 起" if len(unalerted) > SHOWN else ""
                zh.append(f"{len(unalerted)} 起严重入侵事件未产生告警：{shown}{more}")
                en.append(f"{len(unalerted)} severe intrusions raised no alert: "
                          + "; ".join(_describe(e, en=True) for e in unalerted[:SHOWN]))
            else:
                n_sev = int(c["severe_intrusions"])
                ok_zh.append(f"{n_sev} 起严重入侵事件均已告警" if n_sev else f"{check.window} 内无严重入侵事件")
                ok_en.append(f"all {n_sev} severe intrusions raised alerts" if n_sev
                             else f"no severe intrusion within {check.window}")
                if not n_sev and parts == ["alerts"]:
                    return Verdict(status="not_applicable",
                                   evidence=ctx.evidence(check, ctx.events, query, counts=counts, notes=notes),
                                   reason=f"{check.window} 内该区域无严重（{'、'.join(check.params.get('severities', ['high', 'critical']))}）"
                                          f"入侵事件，告警功能无从验证 (no severe intrusion of the zone within "
                                          f"{check.window}: no evidence either way)")
    evidence = ctx.evidence(check, ctx.events, query, counts=counts, samples=samples, notes=notes)
    if zh:
        return Verdict(status="fail", evidence=evidence, reason="；".join(zh) + f" ({'; '.join(en)})")
    return Verdict(status="pass", evidence=evidence, reason="；".join(ok_zh) + f" ({'; '.join(ok_en)})")
