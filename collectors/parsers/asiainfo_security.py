"""AsiaInfo Security (亚信安全) and Trend Micro gateway logs to ECS: the CEF of TDA (Deep Discovery
Inspector), TrustOne ESM endpoint and AIS Edge, the `[Traffic log] k=v; …` records of AIS Edge /
DeepEdge, the Deep Security Manager events, and the `[Violation log]` of Trend's Network VirusWall
Enforcer (the same gateway family, sold under Trend's name).
"""

from __future__ import annotations

import re
from datetime import datetime

from soc.model import get_path, iso, set_path

from . import register_message
from .base import Doc, ParseContext
from .cef import parse_cef
from .kv import apply_fields, finish_event, set_severity, split_kv, valid_ip

_TS = re.compile(r"(\d{4})-(\d{2})-(\d{2})[ T](\d{1,2}):(\d{2}):(\d{2})(?: ([+-]\d{4}))?")
_PROTO_NUM = {"1": "icmp", "6": "tcp", "17": "udp", "58": "ipv6-icmp"}


def _time(doc: Doc, text: str, ctx: ParseContext) -> None:
    """@timestamp from `YYYY-MM-DD hh:mm:ss [+zzzz]` (device zone when no offset)."""
    m = _TS.search(text)
    if m is None:
        return
    try:
        y, mo, d, h, mi, s = (int(g) for g in m.groups()[:6])
        if m.group(7):
            ts = datetime.strptime(m.group(0), "%Y-%m-%d %H:%M:%S %z")
        else:
            ts = datetime(y, mo, d, h, mi, s, tzinfo=ctx.timezone)
        doc["@timestamp"] = iso(ts)
    except ValueError:
        doc.setdefault("tags", []).append("_timestamp_invalid")


# --------------------------------------------------------------------------- CEF

def sniff_asiainfo_cef(body: str) -> bool:
    """AsiaInfo CEF: `CEF:0|Asiainfo security|…` (either case)."""
    at = body.find("CEF:", 0, 120)
    return at >= 0 and body[at + 4 : at + 24].lstrip("0123456789 |").lower().startswith("asiainfo security|")


@register_message("asiainfo_cef", sniff=sniff_asiainfo_cef, priority=5)
def parse_asiainfo_cef(body: str, doc: Doc, ctx: ParseContext) -> None:
    """AsiaInfo TDA, TrustOne ESM and AIS Edge CEF events."""
    parse_cef(body, doc, ctx)
    product = str(get_path(doc, "cef.device.product") or "")
    name = str(get_path(doc, "cef.name") or "").lower()
    ext = get_path(doc, "cef.extensions") or {}
    for key in ("ip", "local_ip", "client_ip"):
        ip = valid_ip(str(ext.get(key, "")))
        if ip:
            set_path(doc, "host.ip", [ip])
            break
    remote = valid_ip(str(ext.get("remote_ip", "")))
    if remote:
        set_path(doc, "destination.ip", remote)
    for key, field in (("ipsruleName", "rule.name"), ("ruleName", "rule.name"), ("virus_name", "rule.name"),
                       ("ioaname", "rule.name"), ("rule_name", "rule.name"), ("file_path", "file.path"),
                       ("computer_name", "host.name"), ("clf_user", "user.name"), ("subject_process", "process.executable")):
        value = ext.get(key)
        if value and not (key == "ruleName" and ext.get("ipsruleName")):
            set_path(doc, field, value)
    set_path(doc, "event.action", name or "event")
    if product == "ESM":
        # TrustOne ESM's CEF severity is not CEF's 0-10 (2 beside level=中危 on an IOA event, 0 on a
        # virus): only its level word is read.
        doc.get("soc", {}).pop("severity", None)
        set_severity(doc, ext.get("level"))
        kind = "edr"
        category = (["malware"] if name in ("virus", "suspicious") else ["host", "network"] if name == "firewall"
                    else ["intrusion_detection", "host"])
        alert = name != "firewall"
    elif product.startswith("AIS Edge"):
        kind, category, alert = "firewall", ["intrusion_detection", "network"], True
    else:
        kind = "ids"
        has_flow = get_path(doc, "source.ip") is not None
        category = ["intrusion_detection", "network"] if has_flow else ["host"]
        alert = has_flow
    product_id = product.lower().replace(" ", "_")
    finish_event(doc, body, "asiainfo", product_id, kind, product_id, category, ["info"], alert, users=False)


# --------------------------------------------------------------------------- `[X log] k=v;` records

_KEYS = {
    "source_address": "source.ip", "destination_address": "destination.ip", "source_port": "source.port",
    "destination_port": "destination.port", "policy_name": "rule.name", "rule_name": "rule.name",
    "ips_rule": "rule.name", "malware_name": "threat.software.name", "source_user": "user.name",
    "source_interface": "observer.ingress.interface.name", "destination_interface": "observer.egress.interface.name",
    "log_time": "soc.device.log_time", "host": "url.domain", "url": "url.path", "description": "message",
}  # fmt: skip


def sniff_bracket_log(body: str) -> bool:
    """AIS Edge / DeepEdge / NVWE: `[Traffic log] …`, `[Sysevt log] …`, `[Violation log] …`."""
    return body.startswith("[") and " log] " in body[:20] and "log_time=" in body[:80]


@register_message("asiainfo_gateway_log", sniff=sniff_bracket_log, priority=25)
def parse_bracket_log(body: str, doc: Doc, ctx: ParseContext) -> None:
    """AIS Edge / DeepEdge traffic and system events, NVWE violation logs."""
    log_name = body[1 : body.find("]")]
    pairs = split_kv(body.replace("; ", ";"), "=")
    pairs = {k: v for k, v in pairs.items() if v not in ("--",)}
    if "port" in pairs and "source_port" not in pairs and "source port=" in body:
        pairs["source_port"] = pairs.pop("port")
    proto = pairs.pop("protocol", None)
    apply_fields(doc, pairs, extra=_KEYS)
    if proto:
        set_path(doc, "network.transport", _PROTO_NUM.get(proto, proto.lower()))
    _time(doc, pairs.get("log_time", ""), ctx)
    at = body.find("log_time=")
    _time(doc, body[at : at + 40], ctx)
    set_path(doc, "event.action", log_name.lower().replace(" ", "_"))
    if log_name == "Violation log":
        finish_event(doc, body, "trend", "nvwe", "antivirus", "nvwe", ["network", "malware"], ["info", "denied"], True,
                     users=False)
    elif log_name == "Traffic log":
        finish_event(doc, body, "asiainfo", "aisedge", "ips", "traffic", ["network"], ["connection"], users=False)
    else:
        finish_event(doc, body, "asiainfo", "deepedge", "ips", "system", ["host"], ["info"], users=False)


def sniff_dsm(body: str) -> bool:
    """Deep Security Manager: `EVENTNUMBER=… TITLE=…`."""
    return body.startswith("EVENTNUMBER=") and " TITLE=" in body[:40]


@register_message("asiainfo_dsm", sniff=sniff_dsm, priority=25)
def parse_dsm(body: str, doc: Doc, ctx: ParseContext) -> None:
    """Deep Security Manager system events."""
    title = re.search(r"TITLE=(.*?) TARGET=", body)
    target = re.search(r"TARGET=(\S{1,255})", body)
    code = re.search(r"EVENTNUMBER=(\d{1,8})", body)
    if code:
        set_path(doc, "event.code", code.group(1))
    if title:
        set_path(doc, "event.action", title.group(1).strip().lower())
    if target:
        set_path(doc, "host.name", target.group(1))
    finish_event(doc, body, "asiainfo", "deepsecurity", "edr", "dsm", ["host"], ["info"], users=False)
