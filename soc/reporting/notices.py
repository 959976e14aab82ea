"""Incident notices: built from an incident, checked against docs/notice.schema.json, queued.

What a notice says is what 《国家网络安全事件报告管理办法》 (in force 2025-11-01) asks of a report:
the reporting unit and its contact; the systems concerned (name, MLPS level, CII, owner); when
the incident was discovered and when it started; its category and grade (GB/T 20986-2023, as
soc/reporting/grading.py set them on the incident); the impact so far; the measures taken; the
trend and possible further harm; the preliminary cause; the leads for tracing (attacker
addresses, the path, vulnerabilities); further measures and support requested; how the scene is
preserved; for the final summary, accountability, rectification and lessons. The analyst's own
words are used for the free-text parts when given; otherwise the notice says plainly what is
known from the incident, its alerts and the inventory, and that the rest is under assessment
(a first report may be incomplete: "情况不清的，先报告基本情况，后续及时补报").

Kinds: `initial` (sequence 1), `follow_up`, `final` (the incident closed; its summary). One
notice per receiver (reporting.endpoints: the province, and the authorities for incidents graded
at or above their `min_grade`), each with its own id, sequence and idempotency key, queued in
the outbox (soc/reporting/outbox.py) that delivers it.
"""

from __future__ import annotations

import ipaddress
import json
import uuid
from collections.abc import Iterable
from datetime import datetime
from functools import lru_cache
from typing import Any, Literal

import orjson
from elasticsearch import AsyncElasticsearch
from jsonschema import Draft202012Validator
from pydantic import BaseModel, ConfigDict, Field

from soc.assets import Asset, AssetInventory
from soc.config import PROJECT_ROOT, ReportingSettings, Settings, UpstreamEndpoint
from soc.model import Doc, get_path, iso, parse_iso, stable_id
from soc.reporting.incidents import IncidentStore, Invalid, Refused
from soc.reporting.outbox import Outbox, outbox_doc, utcnow

SCHEMA_PATH = PROJECT_ROOT / "docs" / "notice.schema.json"
SCHEMA_VERSION = "1.0"
STANDARD = "GB/T 20986-2023"
KINDS = ("initial", "follow_up", "final")
GRADES = ("一般", "较大", "重大", "特别重大")  # least to gravest
Kind = Literal["initial", "follow_up", "final"]
TEXT_MAX = 8000
UNKNOWN_SYSTEM = "未登记系统 (a system the inventory does not hold)"


class NoticeInvalid(Invalid):
    """The notice does not validate against the schema: every problem, with its place."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("通报不符合格式 (the notice does not validate): " + "; ".join(problems[:20]))
        self.problems = problems


def grade_rank(grade: str | None) -> int:
    """0 for 一般 ... 3 for 特别重大; -1 for no grade."""
    return GRADES.index(grade) if grade in GRADES else -1


# --------------------------------------------------------------------------- the schema


@lru_cache(maxsize=1)
def schema() -> dict[str, Any]:
    return json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))


@lru_cache(maxsize=1)
def _validator() -> Draft202012Validator:
    Draft202012Validator.check_schema(schema())
    return Draft202012Validator(schema(), format_checker=Draft202012Validator.FORMAT_CHECKER)


def problems(notice: Any) -> list[str]:
    """What is wrong with a notice, each `path: message`; empty when it validates."""
    errors = sorted(_validator().iter_errors(notice), key=lambda e: [str(p) for p in e.absolute_path])
    return [f"{'/'.join(str(p) for p in e.absolute_path) or '(root)'}: {e.message}" for e in errors]


def validate(notice: Any) -> None:
    found = problems(notice)
    if found:
        raise NoticeInvalid(found)


def encode(notice: Doc) -> bytes:
    """The notice's bytes as sent: UTF-8 JSON, keys sorted (one notice, one spelling)."""
    return orjson.dumps(notice, option=orjson.OPT_SORT_KEYS)


# --------------------------------------------------------------------------- the analyst's words


class Ransom(BaseModel):
    """勒索病毒攻击事件: whether a ransom was paid, how much, how, when."""

    model_config = ConfigDict(extra="forbid")

    paid: bool
    amount: str = Field("", max_length=200)
    method: str = Field("", max_length=200)
    date: str = Field("", pattern=r"^(\d{4}-\d{2}-\d{2})?$")


class NoticeFields(BaseModel):
    """The free-text parts an analyst writes; empty ones are filled from what is known."""

    model_config = ConfigDict(extra="forbid")

    impact: str = Field("", max_length=TEXT_MAX, description="已造成的影响和危害")
    measures_taken: str = Field("", max_length=TEXT_MAX, description="已采取的应对措施及效果")
    trend: str = Field("", max_length=TEXT_MAX, description="事态发展趋势及可能进一步造成的影响和危害")
    cause: str = Field("", max_length=TEXT_MAX, description="初步分析的事件原因")
    attack_path: str = Field("", max_length=TEXT_MAX, description="攻击路径")
    vulnerabilities: list[str] = Field(default_factory=list, max_length=100, description="存在的漏洞 (CVE ids...)")
    further_measures: str = Field("", max_length=TEXT_MAX, description="拟进一步采取的应对措施")
    support_requested: str = Field("", max_length=TEXT_MAX, description="请求支援事项")
    scene_preservation: str = Field("", max_length=TEXT_MAX, description="事件现场保护情况")
    location: str = Field("", max_length=500, description="事件发生地点")
    other: str = Field("", max_length=TEXT_MAX, description="其他应当报告的情况")
    ransomware: Ransom | None = None
    accountability: str = Field("", max_length=TEXT_MAX, description="总结报告: 责任处理")
    rectification: str = Field("", max_length=TEXT_MAX, description="总结报告: 整改情况")
    lessons: str = Field("", max_length=TEXT_MAX, description="总结报告: 教训")
    indicators: bool = Field(True, description="attach a STIX 2.1 bundle of the indicators")


# --------------------------------------------------------------------------- building


def _ips(values: Iterable[Any]) -> list[str]:
    out: list[str] = []
    for v in values:
        for one in v if isinstance(v, list) else [v]:
            try:
                ip = str(ipaddress.ip_address(str(one)))
            except ValueError:
                continue
            if ip not in out:
                out.append(ip)
    return out


def _system(asset: Asset, in_inventory: bool = True) -> Doc:
    return {"name": asset.name, "mlps_level": asset.mlps_level, "cii": asset.cii, "owner": asset.owner,
            "tenant": asset.tenant or None, "criticality": asset.criticality, "in_inventory": in_inventory}


def affected_systems(incident: Doc, alerts: list[Doc], inventory: AssetInventory | None) -> list[Doc]:
    """The systems concerned: the incident's assets and its alerts', from the inventory when it
    holds them (else as the alerts carried them), else the assets of the alerts' addresses."""
    by_name = {a.name: a for a in (inventory.assets if inventory else [])}
    out: dict[str, Doc] = {}
    names = list(get_path(incident, "soc.incident.assets", []) or [])
    names += [get_path(a, "soc.asset.name") for a in alerts]
    for name in names:
        if not name or name in out:
            continue
        if name in by_name:
            out[name] = _system(by_name[name])
            continue
        seen = next((get_path(a, "soc.asset") for a in alerts if get_path(a, "soc.asset.name") == name), None) or {}
        level = seen.get("mlps_level")
        out[name] = {"name": name, "mlps_level": level if isinstance(level, int) and 1 <= level <= 5 else None,
                     "cii": bool(seen.get("cii", False)), "owner": str(seen.get("owner") or ""),
                     "tenant": get_path(incident, "labels.tenant"), "criticality": seen.get("criticality"),
                     "in_inventory": False}
    if not out and inventory is not None:
        for ip in _ips(get_path(a, f) for a in alerts for f in ("destination.ip", "host.ip")):
            asset = inventory.by_ip(ip)
            if asset is not None and asset.name not in out:
                out[asset.name] = _system(asset)
    if not out:
        out[UNKNOWN_SYSTEM] = {"name": UNKNOWN_SYSTEM, "mlps_level": None, "cii": False, "owner": "",
                               "tenant": get_path(incident, "labels.tenant"), "criticality": None,
                               "in_inventory": False}
    return list(out.values())


def _detections(alerts: list[Doc]) -> list[Doc]:
    by_rule: dict[str, Doc] = {}
    for a in alerts:
        rule = str(get_path(a, "rule.name") or get_path(a, "rule.id") or "?")
        d = by_rule.setdefault(rule, {"rule": rule, "count": 0})
        d["count"] += int(get_path(a, "soc.alert.count", 1) or 1)
        for key, path, pick in (("first_seen", "soc.alert.first_seen", min), ("last_seen", "soc.alert.last_seen", max)):
            value = get_path(a, path) or get_path(a, "@timestamp")
            if isinstance(value, str):
                value = iso(parse_iso(value))
                d[key] = pick(d[key], value) if key in d else value
    return list(by_rule.values())


def _techniques(alerts: list[Doc]) -> list[str]:
    out: list[str] = []
    for a in alerts:
        for path in ("threat.technique.id", "threat.technique.subtechnique.id"):
            for t in get_path(a, path) or []:
                if isinstance(t, str) and t not in out:
                    out.append(t)
    return sorted(out)


def _path(alerts: list[Doc], systems: list[Doc]) -> str:
    hops: list[str] = []
    for a in alerts:
        src, dst, port = get_path(a, "source.ip"), get_path(a, "destination.ip"), get_path(a, "destination.port")
        name = get_path(a, "soc.asset.name")
        if src or dst:
            hop = f"{src or '?'} → {dst or '?'}{f':{port}' if port else ''}{f'（{name}）' if name else ''}"
            if hop not in hops:
                hops.append(hop)
    if not hops:
        return "攻击路径待查明 (the path is being traced)"
    return "；".join(hops[:20]) + ("；…" if len(hops) > 20 else "")


def _started(alerts: list[Doc], fallback: str) -> str:
    times = [parse_iso(v) for a in alerts for v in (get_path(a, "soc.alert.first_seen"), get_path(a, "@timestamp"))
             if isinstance(v, str)]
    return iso(min(times)) if times else fallback


def discovered_at(incident: Doc) -> datetime:
    """When the incident was discovered: as graded (soc.incident.discovered_at), else opened."""
    value = get_path(incident, "soc.incident.discovered_at") or get_path(incident, "soc.incident.created")
    return parse_iso(str(value))


_STATUS = {"open": "处置中 (being handled)", "contained": "已控制 (contained)", "closed": "已处置完毕 (closed)"}


def stix_bundle(unit: str, attackers: list[str], techniques: list[str], vulnerabilities: list[str],
                valid_from: str) -> Doc | None:
    """A STIX 2.1 bundle: the reporting unit (identity), an indicator and an observable per
    attacker address, an attack pattern per ATT&CK technique, a vulnerability per CVE."""
    import stix2

    if not (attackers or techniques):
        return None
    me = stix2.Identity(name=unit or "报告单位", identity_class="organization")
    objects: list[Any] = [me]
    indicators = []
    for ip in attackers:
        v6 = ipaddress.ip_address(ip).version == 6
        kind = "ipv6-addr" if v6 else "ipv4-addr"
        obs = (stix2.IPv6Address if v6 else stix2.IPv4Address)(value=ip)
        ind = stix2.Indicator(name=f"攻击源地址 {ip}", pattern=f"[{kind}:value = '{ip}']", pattern_type="stix",
                              valid_from=valid_from, indicator_types=["malicious-activity"], created_by_ref=me.id)
        indicators.append(ind)
        objects += [obs, ind, stix2.Relationship(ind, "based-on", obs, created_by_ref=me.id)]
    for t in techniques:
        ap = stix2.AttackPattern(name=t, created_by_ref=me.id,
                                 external_references=[{"source_name": "mitre-attack", "external_id": t}])
        objects.append(ap)
        objects += [stix2.Relationship(ind, "indicates", ap, created_by_ref=me.id) for ind in indicators]
    for cve in vulnerabilities:
        if cve.upper().startswith("CVE-"):
            objects.append(stix2.Vulnerability(name=cve.upper(), created_by_ref=me.id, external_references=[
                {"source_name": "cve", "external_id": cve.upper()}]))
    return json.loads(stix2.Bundle(objects=objects).serialize())


def build_notice(incident: Doc, alerts: list[Doc], inventory: AssetInventory | None, reporting: ReportingSettings,
                 endpoint: UpstreamEndpoint, kind: str, sequence: int, notice_id: str,
                 previous_notice_id: str | None, fields: NoticeFields | None = None,
                 now: datetime | None = None) -> Doc:
    """The notice (a dict as the schema describes it); validate() it before sending."""
    f = fields or NoticeFields()
    now = now or utcnow()
    inc = get_path(incident, "soc.incident", {}) or {}
    systems = affected_systems(incident, alerts, inventory)
    found = iso(discovered_at(incident))
    attackers = _ips([*(inc.get("source_ips") or []), *(get_path(a, "source.ip") for a in alerts)])
    techniques = _techniques(alerts)
    detections = _detections(alerts)
    vulns = list(dict.fromkeys([*f.vulnerabilities, *(str(v) for a in alerts
                                                      for v in _list(get_path(a, "vulnerability.id")))]))
    names = "、".join(s["name"] for s in systems)
    rules = "、".join(d["rule"] for d in detections[:5]) or "-"
    total = sum(d["count"] for d in detections)
    status = str(inc.get("status") or "open")
    notice: Doc = {
        "schema_version": SCHEMA_VERSION,
        "notice_id": notice_id,
        "incident_id": str(inc.get("id")),
        "kind": kind,
        "sequence": sequence,
        "sent_at": iso(now),
        "recipient": {"endpoint": endpoint.name, "kind": endpoint.recipient},
        "reporting_unit": {
            "name": reporting.unit, "code": reporting.unit_code,
            "operator_type": operator_type(incident, systems, reporting),
            "contact": {"name": reporting.contact_name, "phone": reporting.contact_phone,
                        "email": reporting.contact_email},
        },
        "affected_systems": systems,
        "discovered_at": found,
        "started_at": _started(alerts, found),
        "classification": {
            "standard": STANDARD, "category": inc.get("category"), "category_code": inc.get("category_code"),
            "subcategory": inc.get("subcategory"), "subcategory_code": inc.get("subcategory_code"),
            "grade": inc.get("grade"), "grade_code": inc.get("grade_code"),
        },
        "impact": f.impact.strip() or (
            f"检测到告警 {total} 次（{rules}），涉及系统: {names}；已造成的影响和危害正在评估 "
            f"(impact under assessment)"),
        "measures_taken": f.measures_taken.strip() or (
            f"已立案处置，事件状态: {_STATUS.get(status, status)}；处置措施及效果见后续报告 "
            "(measures and their effect in the follow-up)"),
        "trend": f.trend.strip() or "事态发展趋势正在研判 (the trend is being assessed)",
        "cause": f.cause.strip() or "事件原因正在分析 (the cause is being analysed)",
        "leads": {"attacker_addresses": attackers, "attack_path": f.attack_path.strip() or _path(alerts, systems),
                  "vulnerabilities": vulns, "techniques": techniques, "detections": detections},
        "further_measures": f.further_measures.strip() or "持续监测与处置，查明原因后续报 (monitoring; a follow-up will report)",
        "support_requested": f.support_requested.strip() or "无 (none)",
        "scene_preservation": f.scene_preservation.strip() or (
            "相关日志、告警与处置记录已在安全运营平台留存（不少于六个月） (logs, alerts and actions kept)"),
    }
    if previous_notice_id:
        notice["previous_notice_id"] = previous_notice_id
    if f.location.strip():
        notice["location"] = f.location.strip()
    if f.other.strip():
        notice["other"] = f.other.strip()
    if f.ransomware is not None:
        notice["ransomware"] = {k: v for k, v in f.ransomware.model_dump().items() if v not in ("", None)}
    if kind == "final":
        if inc.get("closed"):
            notice["ended_at"] = iso(parse_iso(str(inc["closed"])))
        summary = {"accountability": f.accountability.strip(), "rectification": f.rectification.strip(),
                   "lessons": f.lessons.strip()}
        notice["summary"] = {k: v for k, v in summary.items() if v}  # the schema names what is missing
    if f.indicators:
        bundle = stix_bundle(reporting.unit, attackers, techniques, vulns, notice["started_at"])
        if bundle is not None:
            notice["indicators"] = bundle
    return notice


def _list(v: Any) -> list[Any]:
    return v if isinstance(v, list) else [] if v is None else [v]


# --------------------------------------------------------------------------- queueing


def receivers(reporting: ReportingSettings, grade: str | None) -> list[UpstreamEndpoint]:
    """The endpoints an incident of this grade is reported to."""
    rank = grade_rank(grade)
    return [ep for ep in reporting.endpoints if rank >= grade_rank(ep.min_grade)]


def operator_type(incident: Doc, systems: list[Doc], reporting: ReportingSettings) -> str:
    """The operator type the incident's deadlines follow: as graded (soc.incident.operator_type),
    else `cii` when a system concerned is CII, else the configured one (deadlines.operator_type_for)."""
    from soc.reporting import deadlines

    graded = get_path(incident, "soc.incident.operator_type")
    if graded:
        return str(graded)
    return deadlines.operator_type_for(any(s.get("cii") for s in systems), reporting.operator_type)


def due_at(kind: str, incident: Doc, operator: str, last_sent_at: datetime | None = None) -> datetime | None:
    """When this kind of notice is due for the incident (soc/reporting/deadlines.py); None: no deadline."""
    from soc.reporting import deadlines

    inc = get_path(incident, "soc.incident", {}) or {}
    if grade_rank(inc.get("grade")) < 0:
        return None
    closed = parse_iso(str(inc["closed"])) if inc.get("closed") and inc.get("status") == "closed" else None
    return deadlines.due(kind, str(inc["grade"]), operator, discovered_at(incident), closed,
                         last_sent_at=last_sent_at)


def notice_id_for(incident_id: str, endpoint: str, sequence: int) -> str:
    """Deterministic per (incident, receiver, sequence): two analysts queueing at once collide
    on it (create-only), so sequences never repeat."""
    return "N" + stable_id("notice", incident_id, endpoint, str(sequence))[:31]


async def queue_notices(es: AsyncElasticsearch, settings: Settings, incident_id: str, kind: str,
                        fields: NoticeFields | None, actor: str, tenants: list[str],
                        inventory: AssetInventory | None = None,
                        now: datetime | None = None) -> tuple[list[Doc], list[dict[str, str]]]:
    """Build, validate and queue the notice of this kind to every receiver the incident's grade
    calls for: (outbox documents queued, [{endpoint, reason}] of receivers skipped).

    NotFound (the incident is absent or not the caller's), Refused (not graded, no receiver, no
    notice possible for any receiver), NoticeInvalid (the notice does not validate)."""
    if kind not in KINDS:
        raise Invalid(f"kind must be one of {', '.join(KINDS)}")
    prefix = settings.elastic.index_prefix
    reporting = settings.reporting
    store = IncidentStore(es, prefix)
    incident = await store.get(incident_id, tenants)
    inc = incident["soc"]["incident"]
    grade = inc.get("grade")
    if grade_rank(grade) < 0:
        raise Refused("事件尚未定级，先定级再报告 (grade the incident first: GB/T 20986-2023 category and grade)")
    targets = receivers(reporting, grade)
    if not targets:
        raise Refused(f"没有接收 {grade} 事件报告的上级平台 (no receiver configured for grade {grade}: "
                      "reporting.endpoints)")
    missing = [k for k in ("unit", "contact_name", "contact_phone") if not getattr(reporting, k).strip()]
    if missing:
        raise Refused("报告单位及联系人未配置 (the reporting unit and its contact are not configured: "
                      + ", ".join(f"reporting.{k}" for k in missing) + ")")
    if kind == "final" and inc.get("status") != "closed":
        raise Refused("总结报告须在事件处置结束（关闭）后报送 (the final summary follows closing the incident)")
    outbox = Outbox(es, prefix, reporting)
    alerts = await store.alerts_of(incident, ["*"])  # the incident's own alerts: one tenant's, its own
    queued: list[Doc] = []
    skipped: list[dict[str, str]] = []
    for ep in targets:
        for _ in range(5):  # a concurrent queueing took our sequence: read again
            mine = [n["soc"]["notice"] for n in await outbox.of_incident(inc["id"])
                    if n["soc"]["notice"]["endpoint"] == ep.name]
            why = _refusal(kind, mine)
            if why:
                skipped.append({"endpoint": ep.name, "reason": why})
                break
            seq = max((int(n["sequence"]) for n in mine), default=0) + 1
            previous = max(mine, key=lambda n: int(n["sequence"]))["id"] if mine else None
            nid = notice_id_for(inc["id"], ep.name, seq)
            stamp = now or utcnow()
            notice = build_notice(incident, alerts, inventory, reporting, ep, kind, seq, nid, previous, fields, stamp)
            validate(notice)
            last = _last_sent(mine)
            due = due_at(kind, incident, notice["reporting_unit"]["operator_type"], last)
            doc = outbox_doc(notice, encode(notice), tenant=get_path(incident, "labels.tenant"), endpoint=ep.name,
                             recipient=ep.recipient, adapter=ep.adapter, idempotency_key=uuid.uuid4().hex,
                             due_at=due, created_by=actor, now=stamp)
            if await outbox.put(doc):
                queued.append(doc)
                break
        else:
            skipped.append({"endpoint": ep.name, "reason": "并发冲突，请重试 (queued concurrently: try again)"})
    if not queued:
        raise Refused("没有可报送的通报 (nothing to queue): "
                      + "; ".join(f"{s['endpoint']}: {s['reason']}" for s in skipped))
    return queued, skipped


def _last_sent(mine: list[dict[str, Any]]) -> datetime | None:
    """When the latest initial or follow-up to this receiver went (or was queued): a follow-up's
    period runs from it."""
    times = [parse_iso(str(n.get("delivered_at") or n["created"])) for n in mine if n["kind"] in ("initial", "follow_up")]
    return max(times) if times else None


def _refusal(kind: str, mine: list[dict[str, Any]]) -> str | None:
    kinds = {n["kind"] for n in mine}
    if kind == "initial" and "initial" in kinds:
        return "已报送初报，请报续报 (an initial notice exists: send a follow_up)"
    if kind != "initial" and "initial" not in kinds:
        return "尚未报送初报 (no initial notice yet: send the initial first)"
    if "final" in kinds:
        return "已报送总结报告 (the final summary was queued already)"
    return None

