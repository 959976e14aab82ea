"""Palo Alto Networks PAN-OS syslog (CSV) to ECS: TRAFFIC and THREAT logs, others in part.

Field positions are those of the PAN-OS "Syslog Field Descriptions" (PAN-OS 8.1-11.x): the
first 30 fields are common to TRAFFIC and THREAT (receive time, serial, type, subtype, generated
time, addresses, NAT, rule, users, application, zones, interfaces, session, ports, protocol),
field 30 is the action.
"""

from __future__ import annotations

import csv
import re
from datetime import datetime

from soc.model import iso, set_path

from . import register_message
from .base import Doc, ParseContext, ParseError
from .kv import relate_ips, set_observer, set_severity, valid_ip

_SNIFF = re.compile(
    r"[^,]{0,12},\d{4}/\d{2}/\d{2} \d{2}:\d{2}:\d{2},[^,]{0,64},"
    r"(?:TRAFFIC|THREAT|SYSTEM|CONFIG|HIPMATCH|GLOBALPROTECT|USERID|AUTH|DECRYPTION|CORRELATION|IPTAG|SCTP|TUNNEL),"
)
_THREAT_ID = re.compile(r"^(.*?)\s*\((\d+)\)\s*$")
_TIME_FORMAT = "%Y/%m/%d %H:%M:%S"

# Common positions (0-based) of TRAFFIC and THREAT.
_COMMON = {
    2: "observer.serial_number", 4: "panos.subtype", 11: "rule.ruleset", 12: "source.user.name",
    13: "destination.user.name", 14: "network.application", 15: "panos.virtual_system",
    16: "observer.ingress.zone", 17: "observer.egress.zone", 18: "observer.ingress.interface.name",
    19: "observer.egress.interface.name", 20: "panos.log_profile", 22: "network.session_id",
}  # fmt: skip
_IPS = {7: "source.ip", 8: "destination.ip", 9: "source.nat.ip", 10: "destination.nat.ip"}
_PORTS = {24: "source.port", 25: "destination.port", 26: "source.nat.port", 27: "destination.nat.port"}
# TRAFFIC: 31 bytes, 32 bytes sent, 33 bytes received, 34 packets, 36 elapsed, 37 URL category,
# 44/45 packets sent/received, 46 session end reason.
_TRAFFIC_INT = {31: "network.bytes", 32: "source.bytes", 33: "destination.bytes", 34: "network.packets",
                44: "source.packets", 45: "destination.packets"}  # fmt: skip
_TRAFFIC_STR = {37: "rule.category", 46: "event.reason"}
# THREAT: 31 URL/file name, 32 threat id "name(id)", 33 category, 34 severity, 35 direction,
# 41 content type, 43 file digest, 46 user agent, 47 file type, 48 X-Forwarded-For, 49 referer.
_THREAT_STR = {33: "rule.category", 34: "log.level", 46: "user_agent.original", 48: "panos.xff",
               49: "http.request.referrer", 43: "file.hash.sha256"}  # fmt: skip
_SEVERITY = {"informational": 1, "low": 2, "medium": 3, "high": 4, "critical": 5}
_DENY = ("deny", "drop", "drop-icmp", "reset-client", "reset-server", "reset-both", "block-url",
         "block-ip", "sinkhole", "block", "block-continue", "block-override", "drop-all-packets")  # fmt: skip
_ALLOW = ("allow", "alert", "continue", "override", "override-lockout")
_ALERT_SUBTYPES = frozenset({"virus", "spyware", "vulnerability", "wildfire", "wildfire-virus", "flood", "scan"})


def sniff_panos(body: str) -> bool:
    """The PAN-OS CSV head: future-use, receive time, serial, a known log type."""
    return _SNIFF.match(body[:200]) is not None


def _get(fields: list[str], i: int) -> str:
    return fields[i].strip() if i < len(fields) else ""


@register_message("panos", sniff=sniff_panos, priority=20)
def parse_panos(body: str, doc: Doc, ctx: ParseContext) -> None:
    """Read a PAN-OS CSV syslog message into ECS fields of doc."""
    m = _SNIFF.search(body[:400])
    if m is None:
        raise ParseError("panos_no_header", "no PAN-OS CSV header")
    text = body[m.start() :].rstrip("\r\n")
    fields = next(csv.reader([text]))
    log_type = _get(fields, 3).upper()
    subtype = _get(fields, 4).lower()

    set_observer(doc, "paloaltonetworks", "pan-os", "firewall")
    set_path(doc, "event.module", "panw")
    set_path(doc, "event.dataset", f"panw.{log_type.lower()}")
    set_path(doc, "panos.type", log_type)
    try:
        generated = _get(fields, 6) or _get(fields, 1)
        ts = datetime.strptime(generated, _TIME_FORMAT).replace(tzinfo=ctx.timezone)
        set_path(doc, "@timestamp", iso(ts))
    except ValueError:
        doc.setdefault("tags", []).append("_timestamp_invalid")

    if log_type not in ("TRAFFIC", "THREAT"):
        # SYSTEM/CONFIG/...: the header is understood, the rest is kept as text.
        set_path(doc, "event.action", subtype)
        set_path(doc, "message", text)
        relate_ips(doc, text)
        return

    for i, field in _COMMON.items():
        value = _get(fields, i)
        if value:
            set_path(doc, field, value)
    for i, field in _IPS.items():
        ip = valid_ip(_get(fields, i))
        if ip is not None and not (field.endswith("nat.ip") and ip == "0.0.0.0"):
            set_path(doc, field, ip)
    for i, field in _PORTS.items():
        value = _get(fields, i)
        if value.isdigit() and not (field.endswith("nat.port") and value == "0"):
            set_path(doc, field, int(value))
    proto = _get(fields, 29).lower()
    if proto:
        set_path(doc, "network.transport", proto)
    action = _get(fields, 30).lower()
    if action:
        set_path(doc, "event.action", action)
    user = _get(fields, 12)
    if user:
        set_path(doc, "user.name", user)
        set_path(doc, "related.user", [user])
    rule = _get(fields, 11)

    types: list[str] = []
    if log_type == "TRAFFIC":
        set_path(doc, "event.category", ["network"])
        types = ["connection"]
        if subtype == "start":
            types.append("start")
        elif subtype == "end":
            types.append("end")
        for i, field in _TRAFFIC_INT.items():
            value = _get(fields, i)
            if value.isdigit():
                set_path(doc, field, int(value))
        for i, field in _TRAFFIC_STR.items():
            if _get(fields, i):
                set_path(doc, field, _get(fields, i))
        if rule:
            set_path(doc, "rule.name", rule)
    else:
        for i, field in _THREAT_STR.items():
            if _get(fields, i):
                set_path(doc, field, _get(fields, i))
        threat = _THREAT_ID.match(_get(fields, 32))
        if threat is not None:
            if threat.group(1):
                set_path(doc, "rule.name", threat.group(1))
            set_path(doc, "rule.id", threat.group(2))
        target = _get(fields, 31)
        if subtype == "url":
            set_path(doc, "event.category", ["network", "web"])
            if target:
                set_path(doc, "url.original", target)
        else:
            if target:
                set_path(doc, "file.name", target)
            if subtype in _ALERT_SUBTYPES:
                set_path(doc, "event.kind", "alert")
                set_path(doc, "event.category", ["malware" if "virus" in subtype else "intrusion_detection", "network"])
                types = ["info"]
            else:
                set_path(doc, "event.category", ["network"])
        severity = _get(fields, 34).lower()
        if severity in _SEVERITY:
            set_path(doc, "event.severity", _SEVERITY[severity])
            set_severity(doc, severity)  # informational, low, medium, high, critical: the same names
        direction = _get(fields, 35)
        if direction in ("client-to-server", "server-to-client"):
            set_path(doc, "panos.direction", direction)
    if action in _DENY:
        types.append("denied")
    elif action in _ALLOW:
        types.append("allowed")
    if types:
        set_path(doc, "event.type", types)
    relate_ips(doc, text)
