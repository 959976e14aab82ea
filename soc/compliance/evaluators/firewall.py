"""Evidence about a zone boundary's access-control rules, from the firewalls' own logs (8.1.3.2).

The traffic logs of the zone's boundary devices (observer.name / observer.hostname / host.name /
observer.ip in the zone's boundary_devices; the zone's networks as source or destination when it
lists no device) within the window, from devices of params.observer_types (default firewall, utm),
event.category network and not intrusion_detection / malware (on those lines rule.* names an IPS
signature or a virus, not a policy). The parsers write the policy the session matched as rule.name
(Huawei USG rule-name, H3C SecurityPolicy, Qi-An-Xin rule, Topsec, Legendsec rule_name, Cisco ASA
access-list, PAN-OS rule, FortiGate policyname) and/or rule.id (H3C RuleID, FortiGate policyid,
Hillstone policy, Juniper policy_id), and a permitted session as event.type allowed.

(a) Effectively any-to-any: a rule whose permitted sessions came from at least
    params.any_sources distinct source networks (/16 for IPv4, params.v6_prefix, default /48,
    for IPv6) to at least params.any_destinations distinct destination addresses on at least
    params.any_ports distinct destination ports fails, named with its device and counts.
(b) Rules never hit: the rules params.declared_rules lists for the zone (a list for every zone, or
    a mapping of zone names to lists; each entry a rule.name or rule.id) that no traffic log of the
    window names, permitted or denied, fail: 删除多余或无效的访问控制规则 (8.1.3.2 b).
params.parts chooses (a) `any_to_any`, (b) `never_hit` or both (the default), so each clause can
have a check of its own. Not applicable: a zone registering neither devices nor networks, no traffic
log of its devices, logs that name no rule at all (the policy cannot be seen from them), permit logs
without rule names when only (a) is asked, no declared rule list when only (b) is.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from soc.compliance.engine import Context, evaluator
from soc.compliance.evaluators.common import device_from_key, device_sources, for_subject, number, subject_filter
from soc.compliance.model import CheckDef, Subject, Verdict

PAGE = 200
MAX_BUCKETS = 20_000
MAX_NAMED = 20
THREATS = ["intrusion_detection", "malware"]
PARTS = ("any_to_any", "never_hit")
V4 = {"term": {"source.ip": "0.0.0.0/0"}}


def rule_key(key: dict[str, Any]) -> str:
    name, rid = key.get("rule.name"), key.get("rule.id")
    if name and rid and str(name) != str(rid):
        return f"{name} (id {rid})"
    return str(name or rid)


async def rule_buckets(ctx: Context, query: dict[str, Any], v6_prefix: int) -> tuple[list[dict[str, Any]], bool]:
    """Per (device, rule.name, rule.id): hits, and over its permitted sessions the source networks,
    the distinct destinations and ports, and one sample document."""
    permit_aggs = {
        "src4": {"filter": V4, "aggs": {"net": {"ip_prefix": {"field": "source.ip", "prefix_length": 16}}}},
        "src6": {"filter": {"bool": {"filter": [{"exists": {"field": "source.ip"}}], "must_not": [V4]}},
                 "aggs": {"net": {"ip_prefix": {"field": "source.ip", "prefix_length": v6_prefix, "is_ipv6": True}}}},
        "dst": {"cardinality": {"field": "destination.ip", "precision_threshold": 3000}},
        "ports": {"cardinality": {"field": "destination.port", "precision_threshold": 3000}},
        "sample": {"top_hits": {"size": 1, "_source": False, "sort": [{"@timestamp": "desc"}]}},
    }
    sources = [*device_sources(), *({f: {"terms": {"field": f, "missing_bucket": True}}} for f in ("rule.name", "rule.id"))]
    out: list[dict[str, Any]] = []
    after: dict[str, Any] | None = None
    while len(out) < MAX_BUCKETS:
        comp: dict[str, Any] = {"size": PAGE, "sources": sources}
        if after:
            comp["after"] = after
        res = await ctx.es.options(ignore_status=404).search(
            index=ctx.events, query=query, size=0,
            aggs={"r": {"composite": comp, "aggs": {
                "permit": {"filter": {"term": {"event.type": "allowed"}}, "aggs": permit_aggs}}}})
        if res.meta.status != 200:
            break
        page = res["aggregations"]["r"]
        out.extend(page["buckets"])
        after = page.get("after_key")
        if not after or len(page["buckets"]) < PAGE:
            break
    return out, len(out) >= MAX_BUCKETS


@evaluator("firewall_hygiene")
async def firewall_hygiene(ctx: Context, check: CheckDef, subject: Subject) -> Verdict:
    """Fail on a permit rule that is effectively any-to-any, or on a declared rule never hit."""
    any_sources = number(check, "any_sources", 10)
    any_destinations = number(check, "any_destinations", 50)
    any_ports = number(check, "any_ports", 20)
    v6_prefix = int(number(check, "v6_prefix", 48))
    types = list(check.params.get("observer_types", ["firewall", "utm"]))
    declared = [str(r) for r in for_subject(check.params.get("declared_rules"), subject)]
    parts = set(check.params.get("parts", PARTS))
    if not parts or parts - set(PARTS):
        raise ValueError(f"{check.id}: params.parts must name some of {', '.join(PARTS)} (got {sorted(parts)})")
    if parts == {"never_hit"} and not declared:
        return Verdict(status="not_applicable", evidence=ctx.evidence(check, ctx.events),
                       reason="未登记该区域的访问控制规则清单 (params.declared_rules)，无法核查未命中规则 "
                              "(no rule list is declared for this zone: rules never hit cannot be found)")
    scope = subject_filter(subject)
    if scope is None:
        return Verdict(status="not_applicable", evidence=ctx.evidence(check, ctx.events),
                       reason="该区域未登记边界设备或网络 (the zone registers no boundary device or network)")
    flt: list[dict[str, Any]] = [scope, ctx.time_range(check), {"term": {"event.category": "network"}}]
    if types:
        flt.append({"terms": {"observer.type": types}})
    traffic = {"bool": {"filter": flt, "must_not": [{"terms": {"event.category": THREATS}}]}}
    named = {"bool": {"should": [{"exists": {"field": "rule.name"}}, {"exists": {"field": "rule.id"}}],
                      "minimum_should_match": 1}}
    res = await ctx.es.options(ignore_status=404).search(
        index=ctx.events, query=traffic, size=0, track_total_hits=True,
        aggs={"named": {"filter": named}, "permits": {"filter": {"term": {"event.type": "allowed"}},
                                                     "aggs": {"named": {"filter": named}}}})
    total = res["hits"]["total"]["value"] if res.meta.status == 200 else 0
    aggs = res["aggregations"] if res.meta.status == 200 else {}
    named_total = aggs["named"]["doc_count"] if aggs else 0
    permits = aggs["permits"]["doc_count"] if aggs else 0
    permits_named = aggs["permits"]["named"]["doc_count"] if aggs else 0
    counts: dict[str, float] = {"traffic_events": total, "events_with_rule": named_total, "permits": permits,
                                "permits_with_rule": permits_named, "declared_rules": len(declared)}
    query = {"bool": {"filter": [traffic, named]}}
    if not total:
        return Verdict(status="not_applicable", evidence=ctx.evidence(check, ctx.events, traffic, counts=counts),
                       reason=f"{check.window} 内无该区域边界防火墙的流量日志 "
                              f"(no traffic log of the zone's firewalls within {check.window})")
    if not named_total:
        return Verdict(status="not_applicable", evidence=ctx.evidence(check, ctx.events, traffic, counts=counts),
                       reason=f"{total} 条防火墙流量日志均未记录策略名称或编号，无法评估访问控制规则 "
                              f"(the {total} firewall traffic logs name no rule: the policy cannot be judged from them)")
    wide_judged = "any_to_any" in parts and permits_named > 0
    never_judged = "never_hit" in parts and bool(declared)
    if not (wide_judged or never_judged):
        return Verdict(status="not_applicable", evidence=ctx.evidence(check, ctx.events, traffic, counts=counts),
                       reason=f"{permits} 条放行日志均未记录策略名称或编号，无法评估任意到任意规则 "
                              f"(the {permits} permit logs name no rule: any-to-any rules cannot be judged)")
    buckets, truncated = await rule_buckets(ctx, query, v6_prefix)
    hit_names: set[str] = set()
    wide: list[dict[str, Any]] = []
    rules: dict[tuple[str, str], dict[str, Any]] = defaultdict(lambda: {"hits": 0, "nets": set(), "dst": 0,
                                                                        "ports": 0, "permits": 0, "sample": None})
    for b in buckets:
        key = b["key"]
        for f in ("rule.name", "rule.id"):
            if key.get(f) is not None:
                hit_names.add(str(key[f]))
        r = rules[(device_from_key(key), rule_key(key))]
        r["hits"] += b["doc_count"]
        p = b["permit"]
        if not p["doc_count"]:
            continue
        r["permits"] += p["doc_count"]
        r["nets"] |= {n["key"] for n in p["src4"]["net"]["buckets"]} | {n["key"] for n in p["src6"]["net"]["buckets"]}
        r["dst"], r["ports"] = max(r["dst"], p["dst"]["value"]), max(r["ports"], p["ports"]["value"])
        r["sample"] = r["sample"] or p["sample"]["hits"]["hits"][0]["_id"]
    for (device, rule), r in sorted(rules.items()):
        if wide_judged and r["permits"] and len(r["nets"]) >= any_sources and r["dst"] >= any_destinations and r["ports"] >= any_ports:
            wide.append({"device": device, "rule": rule, **r})
    never = [d for d in declared if d not in hit_names] if never_judged else []
    counts |= {"rules_seen": len(rules), "any_to_any_rules": len(wide), "declared_never_hit": len(never)}
    notes = [f"等效任意到任意 any-to-any: {w['rule']} on {w['device']}: {w['permits']} permitted sessions from "
             f"{len(w['nets'])} source networks to {w['dst']} destinations on {w['ports']} ports" for w in wide[:MAX_NAMED]]
    notes += [f"规则未命中 never hit: {d}" for d in never[:MAX_NAMED]]
    if "any_to_any" in parts and not wide_judged:
        notes.append("放行日志未记录策略名称，未评估任意到任意规则 (permit logs name no rule: any-to-any not judged)")
    if truncated:
        notes.append(f"only the first {MAX_BUCKETS} (device, rule) pairs were read")
    evidence = ctx.evidence(check, ctx.events, query, counts=counts, samples=[w["sample"] for w in wide if w["sample"]],
                            notes=notes)
    problems_zh, problems_en = [], []
    if wide:
        problems_zh.append(f"{len(wide)} 条放行规则等效于任意到任意（{', '.join(w['rule'] for w in wide[:5])}）")
        problems_en.append(f"{len(wide)} permit rule(s) effectively any-to-any")
    if never:
        problems_zh.append(f"{len(never)} 条登记的规则在 {check.window} 内从未命中（{', '.join(never[:5])}），应核实并删除多余或无效规则")
        problems_en.append(f"{len(never)} declared rule(s) never hit within {check.window}")
    if problems_zh:
        return Verdict(status="fail", evidence=evidence, reason="；".join(problems_zh) + f" ({'; '.join(problems_en)})")
    zh, en = [], []
    if wide_judged:
        zh.append(f"{len(rules)} 条规则中无等效任意到任意的放行规则")
        en.append(f"none of {len(rules)} rules is effectively any-to-any")
    if never_judged:
        zh.append(f"登记的 {len(declared)} 条规则在 {check.window} 内均有命中")
        en.append(f"all {len(declared)} declared rules were hit within {check.window}")
    return Verdict(status="pass", evidence=evidence, reason="，".join(zh) + f" ({'; '.join(en)})")
