"""Legacy Topsec TOS logs (`id=tos time="..." fw=NAME pri=N type=...`) and TopIFW 2.0 lines to ECS.

TOS 3.x is the OS of the older Topsec firewalls, TopSentry IDS, VONE SSL VPN and the gateway
antivirus; `type` tells the module (pf/ac/conn: firewall traffic, ips: intrusion detection,
avse: antivirus, sv_*/vrcd: SSL VPN, mgmt/system: administration). Its `time` is the device's
local time. TopIFW 2.0 writes `Pri: N type: attacklog ... SRC=a DST=b` instead.
"""

from __future__ import annotations

import re

from soc.model import get_path, set_path

from . import register_message, register_product
from .base import Doc, ParseContext, ParseError
from .kv import (
    SYSLOG_SEVERITY, apply_fields, field_time, relate_ips, relate_user, set_observer_dataset, set_severity,
    split_kv, split_kv_with_empty,
)

_SNIFF = re.compile(r"id=tos\s+time=")
# TopIFW 2.0: the syslog envelope reads "Pri:" as the program, so the body starts at the digit.
_IFW_SNIFF = re.compile(r"(?:Pri: ?)?\d{1,2} type: [a-z_]{2,32}\b")
_IFW_HEAD = re.compile(r"(?:Pri: ?)?(\d{1,2}) type: ([a-z_]{2,32})\s?")
_IFW_USER = re.compile(r"\*?User:(\S{1,64})")

EXTRA: dict[str, str] = {
    "fw": "observer.name",
    "smac": "source.mac",
    "dmac": "destination.mac",
    "indev": "observer.ingress.interface.name",
    "outdev": "observer.egress.interface.name",
    "sdev": "observer.ingress.interface.name",
    "ddev": "observer.egress.interface.name",
    "policyid": "rule.id",
    "rule": "rule.id",
    "virus_name": "rule.name",
    "referer": "http.request.referrer",
    "ip": "source.ip",
    "application": "network.protocol",
    "alg_tag": "tls.cipher",
    "pri": "log.level",
    "session_id": "soc.device.session_id",
}
_TRANSPORTS = frozenset({"tcp", "udp", "icmp", "icmpv6", "sctp", "gre", "esp", "ah"})
_ALLOWED = frozenset({"accept", "permit", "allow", "pass", "proxy", "connect"})
_DENIED = frozenset({"block", "deny", "drop", "reject", "reset", "delete", "拒绝", "阻断"})


# type -> (product, observer.type, event.category, event.kind)
_TYPES: dict[str, tuple[str, str, list[str], str]] = {
    "ips": ("topsentry", "ids", ["intrusion_detection", "network"], "alert"),
    "avse": ("gateway-av", "antivirus", ["malware", "network"], "alert"),
    "vpn": ("vone", "vpn", ["network"], "event"),
    "sv_pf": ("vone", "vpn", ["network", "web"], "event"),
    "sv_netacc": ("vone", "vpn", ["network", "authentication"], "event"),
    "sv_system": ("vone", "vpn", ["authentication"], "event"),
    "pf": ("tos", "firewall", ["network"], "event"),
    "ac": ("tos", "firewall", ["network"], "event"),
    "conn": ("tos", "firewall", ["network"], "event"),
    "mgmt": ("tos", "firewall", ["configuration"], "event"),
    "system": ("tos", "firewall", ["host"], "event"),
}


@register_message("topsec_tos", sniff=lambda body: _SNIFF.match(body[:20]) is not None, priority=20)
def parse_tos_pairs(body: str, doc: Doc, ctx: ParseContext, product: tuple[str, str] | None = None) -> None:
    """Legacy Topsec TOS key=value log: product from the log type unless `product` forces
    (product, observer.type)."""
    pairs = split_kv_with_empty(body)
    if pairs.get("id") != "tos":
        raise ParseError("not_topsec_tos", "no id=tos header")
    typ = pairs.get("type", "").lower()
    name, kind, cats, event_kind = _TYPES.get(typ, ("tos", "firewall", ["host"], "event"))
    if typ == "ips" and pairs.get("recorder", "").upper().startswith("IPSFLOW"):
        cats, event_kind = ["network"], "event"  # application flow statistics, not a detection
    if product is not None:
        name, kind = product
    set_observer_dataset(doc, "topsec", name, kind, name)
    field_time(doc, pairs.get("time", ""), ctx.timezone)
    fields = {
        k: v for k, v in pairs.items()
        if k not in ("id", "time", "type", "recorder", "proto", "op", "result", "msg")
        and v.strip().lower() not in ("n/a", "null", "(null)", "")
    }  # fmt: skip
    if typ == "ac" or typ == "pf":
        # In traffic logs `rule` is the verdict (accept/reject), the policy is `policyid`.
        verdict = fields.pop("rule", "")
        if verdict:
            set_path(doc, "event.action", verdict.lower())
    if typ == "ips":
        if pairs.get("msg"):
            set_path(doc, "rule.name", pairs["msg"])
    apply_fields(doc, fields, extra=EXTRA)
    proto = pairs.get("proto", "").lower()
    if proto in _TRANSPORTS:
        set_path(doc, "network.transport", proto)
    elif proto:
        set_path(doc, "network.protocol", proto)
    op = pairs.get("op", "").strip()
    if op and get_path(doc, "event.action") is None:
        set_path(doc, "event.action", op.lower())
    result = pairs.get("result", "")
    if typ == "sv_pf" and result.isdigit():
        set_path(doc, "http.response.status_code", int(result))
    elif result in ("0", "success"):
        set_path(doc, "event.outcome", "success")
    elif result.startswith("-") or result in ("failed", "fail"):
        set_path(doc, "event.outcome", "failure")
    if pairs.get("msg") and pairs["msg"] != "null" and typ != "ips":
        set_path(doc, "soc.device.msg", pairs["msg"])
    if pairs.get("recorder"):
        set_path(doc, "event.provider", pairs["recorder"])
    set_path(doc, "soc.device.type", typ)
    action = (get_path(doc, "event.action") or "").lower()
    etype = ["info"]
    if action in _ALLOWED or action.startswith("accept"):
        etype = ["allowed"]
    elif action in _DENIED:
        etype = ["denied"]
    elif typ == "conn":
        etype = ["connection"]
    elif typ == "mgmt":
        etype = ["change"]
    if "authentication" in cats and action in ("login", "connect"):
        etype = ["start"]
    set_path(doc, "event.kind", event_kind)
    set_path(doc, "event.category", cats)
    set_path(doc, "event.type", etype)
    set_severity(doc, pairs.get("pri"), SYSLOG_SEVERITY)  # pri: the log's syslog level, 0-7
    relate_user(doc)
    relate_ips(doc, body)


# Sources configured as a VONE SSL VPN, a TopSentry IDS or a gateway antivirus.
register_product("topsec_tos_vpn", parse_tos_pairs, ("vone", "vpn"))
register_product("topsec_tos_ids", parse_tos_pairs, ("topsentry", "ids"))
register_product("topsec_tos_av", parse_tos_pairs, ("gateway-av", "antivirus"))


@register_message("topsec_ifw2", sniff=lambda body: _IFW_SNIFF.match(body[:48]) is not None, priority=30)
def parse_topsec_ifw2(body: str, doc: Doc, ctx: ParseContext) -> None:
    """TopIFW 2.0: `Pri: 4 type: attacklog [uptime] attacklog-synflood- SRC=a DST=b COUNT=n`."""
    m = _IFW_HEAD.match(body)
    if m is None:
        raise ParseError("not_topsec_ifw2", "no 'Pri: N type: X' header")
    if get_path(doc, "process.name") == "Pri":  # the envelope took "Pri:" for a program name
        doc.get("process", {}).pop("name", None)
        doc.get("log", {}).get("syslog", {}).pop("appname", None)
        if not doc.get("process"):
            doc.pop("process", None)
    set_observer_dataset(doc, "topsec", "topifw", "firewall", "topifw")
    set_path(doc, "log.level", m.group(1))
    set_severity(doc, m.group(1), SYSLOG_SEVERITY)  # "Pri: 4": a syslog level, as the PRI repeats it
    typ = m.group(2)
    set_path(doc, "soc.device.type", typ)
    rest = body[m.end():]
    pairs = split_kv(rest, seps="=")
    apply_fields(doc, {k.lower(): v for k, v in pairs.items()}, extra={"count": "soc.device.count"})
    if typ == "attacklog":
        attack = re.search(r"attacklog-([a-z0-9_]{1,40})-", rest)
        if attack:
            set_path(doc, "rule.name", attack.group(1))
            set_path(doc, "event.action", attack.group(1))
        set_path(doc, "event.kind", "alert")
        set_path(doc, "event.category", ["intrusion_detection", "network"])
        set_path(doc, "event.type", ["info"])
    else:
        user = _IFW_USER.search(rest)
        if user:
            set_path(doc, "user.name", user.group(1))
        set_path(doc, "event.category", ["configuration"] if typ == "config" else ["host"])
        set_path(doc, "event.type", ["change"] if typ == "config" else ["info"])
        low = rest.lower()
        if "succeed" in low or "success" in low:
            set_path(doc, "event.outcome", "success")
        elif "fail" in low:
            set_path(doc, "event.outcome", "failure")
    relate_ips(doc, body)
