"""Evidence that the devices' clocks agree with the platform's, so their audit records can be
analysed together (8.1.5.4 d; see compliance/checks/clock_consistency.yml for why this clause).

Per device (observer.name / observer.hostname / host.name, with the observer.ip it sent from),
the latest params.samples events received within the window (soc.received, the collector's clock,
so a device far off in time is still found) give |soc.received − @timestamp|, the skew plus the
transport delay. The device's params.percentile (default 95) of it must be at most
params.max_skew_s (default 60 s). No percentiles or runtime fields on this Elasticsearch (no
scripts): a composite aggregation pages through the devices, top_hits gives their samples, the
arithmetic is done here.

Events whose device time is not known are not counted as a skew of 0: those tagged
`_timestamp_invalid` (the parser used the receive time) and those whose @timestamp is the
receive time to the millisecond (the line had no time of its own). A device with fewer than
params.min_samples known times is listed as unknown. Not applicable when no device has enough.
A device that batches its logs (an agent sending hourly) shows its batching as skew: exclude it
with params.exclude_devices (names or addresses) or raise the limit.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from soc.compliance.engine import Context, evaluator
from soc.compliance.evaluators.common import (
    DEVICE_IP,
    DEVICE_NAMES,
    device_filter,
    device_from_key,
    device_sources,
    human,
    median,
    number,
    percentile,
    subject_filter,
)
from soc.compliance.model import CheckDef, Subject, Verdict
from soc.model import get_path, parse_iso

PAGE = 100
MAX_DEVICES = 5_000
MAX_NAMED = 20
INVALID = "_timestamp_invalid"


@evaluator("clock_consistency")
async def clock_consistency(ctx: Context, check: CheckDef, subject: Subject) -> Verdict:
    """Pass when every device's high-percentile |receive − event time| is within max_skew_s."""
    max_skew = number(check, "max_skew_s", 60)
    size = max(1, min(100, int(number(check, "samples", 50))))
    min_samples = int(number(check, "min_samples", 5))
    pct = number(check, "percentile", 95)
    excluded = [str(d) for d in check.params.get("exclude_devices", [])]
    scope = subject_filter(subject)
    if scope is None:
        return Verdict(status="not_applicable", evidence=ctx.evidence(check, ctx.events),
                       reason="该区域未登记边界设备或网络 (the zone registers no boundary device or network)")
    query: dict[str, Any] = {"bool": {"filter": [scope, ctx.time_range(check, "soc.received"),
                                                 {"exists": {"field": "@timestamp"}}]}}
    if excluded:
        query["bool"]["must_not"] = [device_filter(excluded)]
    samples: dict[str, list[tuple[float, str]]] = defaultdict(list)
    unknown: dict[str, int] = defaultdict(int)
    devices: set[str] = set()
    after: dict[str, Any] | None = None
    pages = 0
    while pages * PAGE < MAX_DEVICES:
        comp: dict[str, Any] = {"size": PAGE, "sources": device_sources()}
        if after:
            comp["after"] = after
        res = await ctx.es.options(ignore_status=404).search(
            index=ctx.events, query=query, size=0,
            aggs={"d": {"composite": comp, "aggs": {
                "invalid": {"filter": {"term": {"tags": INVALID}}},
                "timed": {"filter": {"bool": {"must_not": [{"term": {"tags": INVALID}}]}},
                          "aggs": {"latest": {"top_hits": {"size": size, "sort": [{"soc.received": "desc"}],
                                                           "_source": ["@timestamp", "soc.received"]}}}}}}})
        if res.meta.status != 200:
            break
        pages += 1
        page = res["aggregations"]["d"]
        for b in page["buckets"]:
            device = device_from_key(b["key"])
            devices.add(device)
            if b["invalid"]["doc_count"]:
                unknown[device] += b["invalid"]["doc_count"]
            for h in b["timed"]["latest"]["hits"]["hits"]:
                at, received = get_path(h["_source"], "@timestamp"), get_path(h["_source"], "soc.received")
                try:
                    skew = (parse_iso(str(received)) - parse_iso(str(at))).total_seconds()
                except ValueError:
                    unknown[device] += 1
                    continue
                if skew == 0.0:  # the receive time itself: the line had no time of its own
                    unknown[device] += 1
                    continue
                samples[device].append((skew, h["_id"]))
        after = page.get("after_key")
        if not after or len(page["buckets"]) < PAGE:
            break
    judged: dict[str, dict[str, Any]] = {}
    for device, got in samples.items():
        if len(got) < min_samples:
            continue
        p = percentile([abs(s) for s, _ in got], pct)
        worst = max(got, key=lambda x: abs(x[0]))
        judged[device] = {"p": p, "median": median([s for s, _ in got]), "n": len(got), "worst": worst[1]}
    undetermined = sorted(devices - set(judged))
    skewed = {d: j for d, j in judged.items() if j["p"] > max_skew}
    counts: dict[str, float] = {"devices": len(devices), "devices_judged": len(judged),
                                "devices_skewed": len(skewed), "devices_unknown": len(undetermined),
                                "samples": sum(j["n"] for j in judged.values()),
                                "events_without_device_time": sum(unknown.values())}
    if judged:
        counts["worst_p_skew_s"] = round(max(j["p"] for j in judged.values()), 1)
    notes = [f"时钟偏差 skewed: {d}: p{pct:g} {human(j['p'])} (median received − event time {human(j['median'])}, "
             f"{j['n']} samples)" for d, j in sorted(skewed.items(), key=lambda x: -x[1]["p"])[:MAX_NAMED]]
    notes += [f"时间未知 unknown: {d}: {len(samples.get(d, []))} events with a device time, "
              f"{unknown.get(d, 0)} without" for d in undetermined[:MAX_NAMED]]
    if pages * PAGE >= MAX_DEVICES:
        notes.append(f"only the first {MAX_DEVICES} devices were read")
    fields = ", ".join((*DEVICE_NAMES, DEVICE_IP))
    notes.append(f"devices told apart by {fields}; skew = soc.received − @timestamp")
    ordered = sorted(judged.items(), key=lambda x: -x[1]["p"])
    evidence = ctx.evidence(check, ctx.events, query, counts=counts, notes=notes,
                            samples=[j["worst"] for d, j in ordered if d in skewed] or [j["worst"] for _, j in ordered[:10]])
    limit = f"{max_skew:g}s"
    if not judged:
        return Verdict(status="not_applicable", evidence=evidence,
                       reason=f"{check.window} 内没有设备有至少 {min_samples} 条自带时间的日志，无法评估时钟 "
                              f"(no device sent {min_samples} events with a time of its own within {check.window})")
    if skewed:
        names = ", ".join(f"{d} {human(j['p'])}" for d, j in sorted(skewed.items(), key=lambda x: -x[1]["p"])[:5])
        return Verdict(status="fail", evidence=evidence,
                       reason=f"{len(skewed)}/{len(judged)} 台设备日志时间与平台接收时间偏差 p{pct:g} 超过 {limit}：{names} "
                              f"({len(skewed)} of {len(judged)} devices' p{pct:g} clock skew exceeds {limit})")
    unknown_zh = f"；{len(undetermined)} 台设备时间未知" if undetermined else ""
    return Verdict(status="pass", evidence=evidence,
                   reason=f"{len(judged)} 台设备日志时间与平台接收时间偏差 p{pct:g} 均不超过 {limit}{unknown_zh} "
                          f"(all {len(judged)} devices within {limit} at p{pct:g}; {len(undetermined)} unknown)")
