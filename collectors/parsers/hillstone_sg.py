"""Hillstone StoneOS (SG-6000 firewalls) logs and OSG bastion (UMA) records to ECS.

StoneOS: `[SERIAL(vsys) ]EVENTID [HillstoneNetworks#]Type@Module: text`, e.g.
`4808924b Threat@IPS: CRITICAL! From 172.18.1.18(UNKNOWN:-@-):4080(xethernet2/2) to
202.101.226.69(...):53(xethernet2/0), threat name: ..., threat type: ..., action: reset, ...`;
traffic: `Traffic@FLOW: SESSION: 192.168.0.8:20530(ethernet0/0)->1.1.1.1:58386(ethernet0/1), APP/Protocol
PING/ICMP: ECHO_REQUEST, vr trust-vr, policy 1, ..., send bytes 78, ..., zone from trust to untrust,
start time ..., close time ..., session end, Ageout`.
OSG: `type=login date=YYYY-MM-DD hh:mm:ss srcip=.. sysuser=.. module=WEB result=success` (local time).
"""

from __future__ import annotations

import re
from datetime import datetime

from soc.model import get_path, iso, set_path

from . import register_message
from .base import Doc, ParseContext, ParseError
from .kv import (
    SYSLOG_SEVERITY, copy_present, local_time, relate_ips, relate_user, set_observer_dataset, set_severity,
    split_kv, valid_ip,
)

# The serial may carry a stray control byte ("3411415223002432\x05T1(root)" in the wild).
_HEAD = re.compile(
    r"(?:([^\s()]{10,32})\((\w{1,32})\) )?([0-9a-f]{8}) (?:HillstoneNetworks#)?"
    r"([A-Z][A-Za-z]{1,15})@([A-Za-z]{2,16}): ?"
)
# "From 1.2.3.4(UNKNOWN:-@-):53(xethernet2/0) to [3002::35](...):80(ethernet0/4)," (user part optional)
_ENDPOINT = r"\[?([0-9A-Fa-f.:]{2,45}?)\]?(?:\([^)]{0,64}\))?(?::(\d{1,5}))?(?:\(([^)]{0,64})\))?"
_FLOW = re.compile(rf"From {_ENDPOINT} to {_ENDPOINT},")
_SIDE = r"\[?([0-9A-Fa-f.:]{2,45}?)\]?:(\d{1,5})\(([^)]{0,64})\)"
_SESSION = re.compile(rf"SESSION: {_SIDE}->{_SIDE},")
# "send bytes 78", "policy 1", "vr trust-vr": the word-separated items of a traffic log.
_TRAFFIC_ITEM = re.compile(
    r"(?:^|, )(send packets|send bytes|receive packets|receive bytes|policy|vr|close time|start time)"
    r" ([^,]{1,64})"
)
_ZONES = re.compile(r"zone from (\S{1,64}) to (\S{1,64})")
_ITEM = re.compile(r"(?:^|, ?)([A-Za-z&/ ]{2,40}?): ([^,]{0,2048})")
_ADMIN = re.compile(r'Admin user "([^"]{1,64})" (logged (?:in|out)|failed to log in)\b.{0,64}?IP is (\S{2,45})')
_OSG_SNIFF = re.compile(r"type=\w{1,32} date=\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2} srcip=\S{2,45} sysuser=")
_TIME = re.compile(r"(\d{4})-(\d{2})-(\d{2}) (\d{2}):(\d{2}):(\d{2})")

_DENIED = frozenset({"reset", "block", "drop", "deny", "block-ip", "block-service"})


def _sniff(body: str) -> bool:
    """A StoneOS body: optional serial(vsys), 8-hex event id, Type@Module:."""
    return _HEAD.match(body[:120]) is not None


@register_message("hillstone_stoneos", sniff=_sniff, priority=20)
def parse_hillstone_stoneos(body: str, doc: Doc, ctx: ParseContext) -> None:
    """Hillstone StoneOS event, alarm or threat log."""
    m = _HEAD.match(body)
    if m is None:
        raise ParseError("not_hillstone", "no EVENTID Type@Module: header")
    serial, vsys, event_id, typ, module = m.groups()
    set_observer_dataset(doc, "hillstone", "sg-6000", "firewall", "stoneos")
    if serial:
        set_path(doc, "observer.serial_number", serial)
        set_path(doc, "observer.vsys", vsys)
    set_path(doc, "event.code", event_id)
    set_path(doc, "event.provider", f"{typ}@{module}")
    text = body[m.end():]
    cats: list[str] = ["host"]
    types: list[str] = ["info"]
    flow = _FLOW.search(text)
    if flow is not None:
        sip, sport, sif, dip, dport, dif = flow.groups()
        for side, ip, port, iface in (("source", sip, sport, sif), ("destination", dip, dport, dif)):
            if valid_ip(ip):
                set_path(doc, f"{side}.ip", valid_ip(ip))
            if port:
                set_path(doc, f"{side}.port", int(port))
            if iface and iface != "-":
                direction = "ingress" if side == "source" else "egress"
                set_path(doc, f"observer.{direction}.interface.name", iface)
    session = _SESSION.search(text) if flow is None and typ == "Traffic" else None
    if session is not None:
        cats, types = _traffic(doc, text, session, ctx)
    items = {k.strip().lower(): v.strip() for k, v in _ITEM.findall(text[flow.end() - 1 :] if flow else text)}
    if typ == "Threat":
        set_path(doc, "event.kind", "alert")
        cats = ["intrusion_detection", "network"]
        if items.get("threat type", "").lower() == "malware":
            cats = ["intrusion_detection", "malware", "network"]
        copy_present(doc, items, {"threat name": "rule.name", "threat type": "rule.category"})
        if items.get("signature id", "").isdigit():
            set_path(doc, "rule.id", items["signature id"])
        if items.get("policy id"):
            set_path(doc, "soc.device.policy_id", items["policy id"])
        severity = items.get("threat severity") or items.get("severity")
        if severity:
            set_path(doc, "event.severity_name", severity)
            set_severity(doc, severity)  # Low, Medium, High, Critical
        action = items.get("action", "").lower()
        if action:
            set_path(doc, "event.action", action)
            types = ["denied"] if action in _DENIED else ["info"]
        app = items.get("app/protocol", "")
        if app and "." not in app:
            parts = app.lower().split("/")
            if len(parts) == 2 and parts[0].startswith("ipv"):
                set_path(doc, "network.transport", parts[1])
            else:
                set_path(doc, "network.protocol", parts[0])
        if items.get("username") and items["username"] not in ("---", "-"):
            set_path(doc, "user.name", items["username"])
        copy_present(doc, items, {"url": "url.original", "md5": "file.hash.md5", "domain name": "dns.question.name"})
        for key in ("cc server", "attacker ip", "victim ip", "ip address"):
            if items.get(key) and valid_ip(items[key]):
                set_path(doc, f"soc.device.{key.replace(' ', '_')}", valid_ip(items[key]))
    admin = _ADMIN.search(text)
    if admin is not None:
        cats = ["authentication"]
        verb = admin.group(2)
        types = ["end"] if "out" in verb else ["start"]
        set_path(doc, "user.name", admin.group(1))
        set_path(doc, "event.action", verb.replace(" ", "-"))
        set_path(doc, "event.outcome", "failure" if verb.startswith("failed") else "success")
        if valid_ip(admin.group(3)):
            set_path(doc, "source.ip", valid_ip(admin.group(3)))
    elif typ in ("Event", "Alarm") and module.upper() == "NET":
        cats = ["network"]
    if get_path(doc, "event.action") is None:
        set_path(doc, "event.action", f"{typ}@{module}".lower())
    set_path(doc, "event.category", cats)
    set_path(doc, "event.type", types)
    # StoneOS sends each log at its own syslog level (the PRI): <186> for a CRITICAL! threat,
    # <189> for a Warning, <190> for session records.
    set_severity(doc, get_path(doc, "log.syslog.severity.code"), SYSLOG_SEVERITY)
    relate_user(doc)
    relate_ips(doc, body)


def _traffic(doc: Doc, text: str, session: re.Match[str], ctx: ParseContext) -> tuple[list[str], list[str]]:
    """A StoneOS session record: endpoints, app/protocol, policy, bytes, zones, start/close time."""
    sip, sport, sif, dip, dport, dif = session.groups()
    for side, ip, port in (("source", sip, sport), ("destination", dip, dport)):
        if valid_ip(ip):
            set_path(doc, f"{side}.ip", valid_ip(ip))
        set_path(doc, f"{side}.port", int(port))
    for direction, iface in (("ingress", sif), ("egress", dif)):
        if iface and iface != "-":
            set_path(doc, f"observer.{direction}.interface.name", iface)
    rest = text[session.end() :]
    app = re.match(r" ?APP/Protocol ([^/,\s]{1,64})/([^:,\s]{1,32})", rest)
    if app is not None:
        set_path(doc, "network.application", app.group(1).lower())
        set_path(doc, "network.transport", app.group(2).lower())
    items = dict(_TRAFFIC_ITEM.findall(rest))
    numbers = {"send bytes": "source.bytes", "receive bytes": "destination.bytes",
               "send packets": "source.packets", "receive packets": "destination.packets"}  # fmt: skip
    for key, field in numbers.items():
        if items.get(key, "").isdigit():
            set_path(doc, field, int(items[key]))
    if items.get("policy"):
        set_path(doc, "rule.id", items["policy"])
    if items.get("vr"):
        set_path(doc, "soc.device.vr", items["vr"])
    zones = _ZONES.search(rest)
    if zones is not None:
        set_path(doc, "observer.ingress.zone", zones.group(1))
        set_path(doc, "observer.egress.zone", zones.group(2).rstrip(","))
    for key, field in (("start time", "event.start"), ("close time", "event.end")):
        when = _TIME.match(items.get(key, ""))
        if when is not None:
            try:
                set_path(doc, field, iso(datetime(*(int(g) for g in when.groups()), tzinfo=ctx.timezone)))  # type: ignore[misc]
            except ValueError:
                pass
    types = ["connection"]
    if ", session end" in rest:
        types.append("end")
        set_path(doc, "event.action", "session-end")
    elif ", session start" in rest:
        types.append("start")
        set_path(doc, "event.action", "session-start")
    return ["network"], types


@register_message(
    "hillstone_osg", sniff=lambda body: _OSG_SNIFF.match(body[:160]) is not None, programs=("UMA",), priority=30
)
def parse_hillstone_osg(body: str, doc: Doc, ctx: ParseContext) -> None:
    """Hillstone OSG bastion (UMA) record: `type=login date=... srcip=... sysuser=... result=...`."""
    pairs = split_kv(body, seps="=")
    if "sysuser" not in pairs and "type" not in pairs:
        raise ParseError("not_hillstone_osg", "no type=/sysuser=")
    set_observer_dataset(doc, "hillstone", "osg", "bastion", "osg")
    local_time(doc, body, ctx, _TIME)
    if valid_ip(pairs.get("srcip", "")):
        set_path(doc, "source.ip", valid_ip(pairs["srcip"]))
    if pairs.get("sysuser"):
        set_path(doc, "user.name", pairs["sysuser"])
        set_path(doc, "related.user", [pairs["sysuser"]])
    kind = pairs.get("type", "")
    set_path(doc, "event.action", kind)
    if pairs.get("module"):
        set_path(doc, "network.protocol", pairs["module"].lower())
    result = pairs.get("result", "").lower()
    if result in ("success", "failure", "failed", "fail"):
        set_path(doc, "event.outcome", "success" if result == "success" else "failure")
    auth = kind in ("login", "logout")
    set_path(doc, "event.category", ["authentication"] if auth else ["session"])
    set_path(doc, "event.type", ["start"] if kind == "login" else ["end"] if kind == "logout" else ["info"])
    relate_ips(doc, body)
