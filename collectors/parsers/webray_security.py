"""WebRAY (盛邦安全) devices to ECS: RayWAF (`{"syslog":{"r_…"}}` records, DDoS and admin audit), the
RayEye / TopAPT sensor (NDE alerts and ratel_* metadata JSON), RaySAS audit JSON, RayGuard, the
firewall (`date=…,time=…,device_id=RAY…`) and the RayTRAP honeypot.
"""

from __future__ import annotations

import re
from typing import Any

import orjson

from soc.model import get_path, set_path

from . import register_message
from .base import Doc, ParseContext, ParseError
from .kv import (
    SYSLOG_SEVERITY, apply_fields, epoch_time, finish_event, local_time, set_severity, set_transport_or_protocol,
    split_kv, valid_ip,
)

VENDOR = "webray"
_TS = re.compile(r"(\d{4})-(\d{2})-(\d{2})[ T,](\d{1,2}):(\d{2}):(\d{2})")
_JSON_PAIR = re.compile(r"\"([\w.@ ]{1,64})\"\s*:\s*(?:\"((?:[^\"\\]|\\.){0,8192})\"|([^,}\]\s\"]{1,256}))")


def _loose_pairs(text: str) -> dict[str, str]:
    """Scalar `"key": value` pairs of a (possibly invalid or truncated) JSON text, first wins."""
    out: dict[str, str] = {}
    for m in _JSON_PAIR.finditer(text):
        value = m.group(2) if m.group(2) is not None else m.group(3)
        out.setdefault(m.group(1).strip(), value)
    return out


# --------------------------------------------------------------------------- RayWAF

_WAF_KEYS = {
    "r_sip_s": "source.ip", "r_dip_s": "destination.ip", "r_sport": "source.port", "r_dport": "destination.port",
    "r_type_name": "rule.name", "r_ruleid": "rule.id", "r_protection_name": "rule.category",
    "r_severity_name": "log.level", "r_actiondetails": "event.action", "r_method_name": "http.request.method",
    "r_hostname": "url.domain", "r_url": "url.path", "r_args": "url.query", "r_xip": "soc.device.r_xip",
}  # fmt: skip


def sniff_raywaf(body: str) -> bool:
    """RayWAF: `{"syslog":{"r_time…` (bare or after `WAF :`), `:<time> DDOS: devicename=…`, `AuditLog - …`."""
    head = body[:80]
    return (
        '{"syslog":{"r_' in head
        or (head.startswith(":") and " devicename=" in head)
        or (head.startswith("AuditLog - ") and '"r_' in head)
    )


@register_message("webray_raywaf", sniff=sniff_raywaf, priority=25)
def parse_raywaf(body: str, doc: Doc, ctx: ParseContext) -> None:
    """RayWAF web attack records, DDoS alerts and admin audit."""
    if body.startswith("AuditLog - "):
        pairs = _loose_pairs(body)
        apply_fields(doc, pairs, extra={"r_operator": "user.name", "r_sip": "source.ip", "r_action": "message",
                                        "r_role_name": "user.roles", "r_logintype_name": "soc.device.logintype"})
        local_time(doc, pairs.get("r_time", ""), ctx, _TS)
        set_path(doc, "event.action", "admin_operation")
        set_severity(doc, pairs.get("r_loglevel_name"), SYSLOG_SEVERITY)  # Informational (SYSLOG_LEVEL_6)
        outcome = "success" if "successfully" in body else None
        if outcome:
            set_path(doc, "event.outcome", outcome)
        finish_event(doc, body, VENDOR, "raywaf", "waf", "audit", ["configuration"], ["change"])
        return
    if "devicename=" in body[:80]:
        pairs = split_kv(body, "=")
        proto = pairs.pop("ipproto", None)
        apply_fields(doc, pairs, extra={"attack": "rule.name", "devicename": "observer.name", "grade": "log.level"})
        set_transport_or_protocol(doc, proto)
        local_time(doc, body[:30], ctx, _TS)
        set_path(doc, "event.action", "ddos")
        finish_event(doc, body, VENDOR, "raywaf", "waf", "ddos", ["intrusion_detection", "network"], ["info"],
                     alert=True)
        return
    pairs = _loose_pairs(body)
    apply_fields(doc, pairs, extra=_WAF_KEYS, keep_rest=False)
    set_transport_or_protocol(doc, pairs.get("r_protocol_name"))
    if pairs.get("r_layer_name") in ("HTTP", "HTTPS"):
        set_path(doc, "network.protocol", pairs["r_layer_name"].lower())
    if pairs.get("r_atk"):
        set_path(doc, "soc.device.r_atk", pairs["r_atk"])
    if pairs.get("r_time_i"):
        epoch_time(doc, pairs["r_time_i"], fractional=True)
    action = get_path(doc, "event.action")
    if isinstance(action, str):
        set_path(doc, "event.action", action.lower())
    denied = action in ("DROP", "DENY", "BLOCK")
    # r_severity_name: HIGH, MID, LOW. The DDoS records' grade (1) has no scale we can tell.
    set_severity(doc, pairs.get("r_severity_name"))
    finish_event(doc, body, VENDOR, "raywaf", "waf", "raywaf", ["web", "intrusion_detection"],
                 ["denied"] if denied else ["info"], alert=True)


# --------------------------------------------------------------------------- RayEye / TopAPT

_APT_KEYS = {
    "src_ip": "source.ip", "dst_ip": "destination.ip", "src_port": "source.port", "dst_port": "destination.port",
    "rid": "rule.id", "classtype": "rule.category", "hostip": "observer.ip", "sensor_ip": "soc.device.sensor_ip",
    "uri": "url.path", "host": "url.domain", "method": "http.request.method", "user_agent": "user_agent.original",
    "query": "dns.question.name", "kill_chain": "threat.tactic.name", "hostname": "observer.hostname",
    "sensor_name": "observer.hostname",
}  # fmt: skip
_APT_MARKERS = ('"event_source":"NDE"', '"event_source": "NDE"', '"event_source":"ratel_', '"event_source": "ratel_')


def sniff_topapt(body: str) -> bool:
    """RayEye / TopAPT sensor JSON: `"event_source":"NDE"` alerts and `ratel_*` metadata."""
    brace = body.find("{", 0, 80)
    return brace >= 0 and any(m in body[:6000] for m in _APT_MARKERS)


@register_message("webray_topapt", sniff=sniff_topapt, priority=25)
def parse_topapt(body: str, doc: Doc, ctx: ParseContext) -> None:
    """RayEye / TopAPT NDE alerts (DNS, C&C, intelligence hits) and ratel_* flow metadata."""
    brace = body.find("{")
    if brace < 0:
        raise ParseError("topapt_no_json", "no JSON object")
    text = body[brace:]
    try:
        obj: Any = orjson.loads(text)
    except orjson.JSONDecodeError:
        obj = None
    if isinstance(obj, dict):
        pairs = {k: str(v) for k, v in obj.items() if isinstance(v, str | int | float) and not isinstance(v, bool)}
        dns = obj.get("dns")
        if isinstance(dns, dict) and isinstance(dns.get("query"), str):
            pairs.setdefault("query", dns["query"])
    else:
        pairs = _loose_pairs(text)
    proto = pairs.pop("proto", None)
    apply_fields(doc, pairs, extra=_APT_KEYS, keep_rest=False)
    set_transport_or_protocol(doc, proto)
    if pairs.get("timestamp"):
        epoch_time(doc, pairs["timestamp"], fractional=True)
    source = pairs.get("event_source", "")
    for key in ("desc", "message"):
        if pairs.get(key) and get_path(doc, "rule.name") is None and source == "NDE":
            set_path(doc, "rule.name", pairs[key].strip())
    set_path(doc, "event.action", source or "alert")
    if source == "NDE":
        finish_event(doc, body, VENDOR, "rayeye", "ids", "nde", ["intrusion_detection", "network"], ["info"],
                     alert=True)
    else:
        proto_name = source.removeprefix("ratel_")
        if proto_name in ("dns", "http", "mssql", "ssl", "smtp", "ftp"):
            set_path(doc, "network.protocol", proto_name)
        finish_event(doc, body, VENDOR, "rayeye", "ids", f"metadata_{proto_name}", ["network"], ["connection", "info"])


# --------------------------------------------------------------------------- RaySAS audit JSON

def sniff_raysas(body: str) -> bool:
    """RaySAS audit JSON: `{"typeid":…,"content":{…}` / `{"msgtype": …` / app4a operation records."""
    head = body[:300]
    return (head.startswith('{"typeid":') and '"content":' in head) or head.startswith('{"msgtype": ') or (
        head.startswith('{"description":') and "app4a" in head
    )


@register_message("webray_raysas", sniff=sniff_raysas, priority=25)
def parse_raysas(body: str, doc: Doc, ctx: ParseContext) -> None:
    """RaySAS database / operation audit records."""
    pairs = _loose_pairs(body)
    extra = {
        "srcip": "source.ip", "dstip": "destination.ip", "sp": "source.port", "dp": "destination.port",
        "devip": "observer.ip", "loginname": "user.name", "ip": "source.ip", "sql": "soc.device.sql",
        "opername": "event.action", "operate": "event.action", "srcmac": "source.mac", "dstmac": "destination.mac",
    }  # fmt: skip
    pairs = {k: v for k, v in pairs.items() if v not in ("null",)}
    apply_fields(doc, pairs, extra=extra, keep_rest=False)
    if pairs.get("logtime"):
        local_time(doc, pairs["logtime"], ctx, _TS)
    elif pairs.get("operdate"):
        epoch_time(doc, pairs["operdate"], fractional=True)
    elif pairs.get("sessiontime"):
        epoch_time(doc, pairs["sessiontime"], fractional=True)
    db = '"sql"' in body
    category = ["database"] if db else ["authentication"] if "登录" in body or "logout" in body else ["configuration"]
    finish_event(doc, body, VENDOR, "raysas", "dbaudit" if db else "audit", "raysas", category, ["info"])


# --------------------------------------------------------------------------- RayGuard, firewall, RayTRAP

_GUARD = re.compile(r"traffic (\d{10}) (\d{1,3}) (\S{2,45}) (\d{1,5}) (\S{2,45}) (\d{1,5}) (\w{1,16})\s*$")
_PROTO_NUM = {"1": "icmp", "6": "tcp", "17": "udp"}


def sniff_rayguard(body: str) -> bool:
    """RayGuard traffic records: `traffic <epoch> <proto> <sip> <sport> <dip> <dport> <verdict>`."""
    return body.startswith("traffic ") and _GUARD.match(body) is not None


@register_message("webray_rayguard", sniff=sniff_rayguard, priority=30)
def parse_rayguard(body: str, doc: Doc, ctx: ParseContext) -> None:
    """RayGuard host traffic control records."""
    m = _GUARD.match(body)
    if m is None:
        raise ParseError("rayguard_shape", "not a RayGuard traffic record")
    epoch, proto, sip, sport, dip, dport, verdict = m.groups()
    epoch_time(doc, epoch, fractional=True)
    set_path(doc, "network.transport", _PROTO_NUM.get(proto, proto))
    for field, value in (("source.ip", sip), ("destination.ip", dip)):
        if valid_ip(value):
            set_path(doc, field, valid_ip(value))
    set_path(doc, "source.port", int(sport))
    set_path(doc, "destination.port", int(dport))
    set_path(doc, "event.action", verdict.lower())
    etype = ["connection", "denied"] if verdict.lower() in ("deny", "drop") else ["connection", "allowed"]
    finish_event(doc, body, VENDOR, "rayguard", "edr", "rayguard", ["host", "network"], etype)


def sniff_ray_firewall(body: str) -> bool:
    """WebRAY firewall: FortiOS-style `date=…,time=…,devname=…,device_id=RAY…`."""
    return "device_id=RAY" in body[:120]


@register_message("webray_firewall", sniff=sniff_ray_firewall, priority=20)
def parse_ray_firewall(body: str, doc: Doc, ctx: ParseContext) -> None:
    """WebRAY firewall event and traffic logs."""
    pairs = split_kv(body, "=")
    subtype = pairs.get("subtype", "")
    apply_fields(doc, pairs, extra={"device_id": "observer.serial_number", "msg": "soc.device.msg",
                                    "status": "event.outcome", "ui": "soc.device.ui"})
    outcome = get_path(doc, "event.outcome")
    if outcome not in ("success", "failure"):
        doc["event"].pop("outcome", None)
    ui = re.search(r"ui=\w{1,16}\(([^)]{1,64})\)", body)
    if ui and valid_ip(ui.group(1)):
        set_path(doc, "source.ip", valid_ip(ui.group(1)))
    local_time(doc, f"{pairs.get('date', '')} {pairs.get('time', '')}", ctx, _TS)
    admin = subtype == "admin"
    set_severity(doc, pairs.get("pri"), SYSLOG_SEVERITY)  # FortiOS-style pri: a syslog level name
    finish_event(doc, body, VENDOR, "firewall", "firewall", pairs.get("type") or "log",
                 ["authentication"] if admin else ["network"], ["info"])


def sniff_raytrap(body: str) -> bool:
    """RayTRAP honeypot: `RayTRAP/<ip> {json}`."""
    return body.startswith("RayTRAP/")


@register_message("webray_raytrap", sniff=sniff_raytrap, priority=25)
def parse_raytrap(body: str, doc: Doc, ctx: ParseContext) -> None:
    """RayTRAP honeypot connection and lure events."""
    pairs = _loose_pairs(body)
    extra = {"srcIp": "source.ip", "destIp": "destination.ip", "srcPort": "source.port", "destPort": "destination.port",
             "desc": "message", "label": "rule.name", "action": "event.action", "module": "network.protocol"}
    apply_fields(doc, pairs, extra=extra, keep_rest=False)
    local_time(doc, pairs.get("time") or pairs.get("etime") or "", ctx, _TS)
    finish_event(doc, body, VENDOR, "raytrap", "honeypot", "raytrap", ["intrusion_detection", "network"],
                 ["info"], alert=True)
