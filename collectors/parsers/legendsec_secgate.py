"""Legendsec (网神) SecGate / Power V firewalls ("Themis" platform) and the SecFox bastion host, to ECS.

The Themis key=value shape (`devid=0 date="2012/02/16 15:01:03" dname=Themis logtype=3 pri=5
ver=0.3.0 mod=…`) comes from the 联想网御 firewall lineage; Legendsec, Leadsec and Venustech
devices built on it send the same keys, and nothing in a line tells them apart, so the shape is
attributed to Legendsec here.
"""

from __future__ import annotations

import re

from soc.model import get_path, set_path

from . import register_message
from .base import Doc, ParseContext, ParseError
from .kv import SYSLOG_SEVERITY, apply_fields, finish_event, local_time, set_severity, split_kv

VENDOR = "legendsec"
_TS = re.compile(r"(\d{4})[-/](\d{1,2})[-/](\d{1,2})[ T](\d{1,2}):(\d{2}):(\d{2})")
_THEMIS = re.compile(r"devid=\S{1,64} date=\"?\d{4}[-/]\d{2}[-/]\d{2}")
_TRANSPORT = re.compile(r"^(?:IPPROTO_)?(TCP|UDP|ICMP|ICMPV6|GRE|ESP|SCTP)$", re.IGNORECASE)


_THEMIS_KEYS = {
    "sa": "source.ip", "da": "destination.ip", "sport": "source.port", "dport": "destination.port",
    "srcaddr": "source.ip", "destaddr": "destination.ip", "srcport": "source.port", "destport": "destination.port",
    "from": "source.ip", "login_ip": "source.ip", "username": "user.name", "admin": "user.name",
    "rule_name": "rule.name", "eventname": "rule.name", "eventtype": "rule.category", "dname": "observer.name",
    "dsp_msg": "message", "act": "event.action", "mod": "event.provider", "hostip": "destination.ip",
    "rcvd": "destination.bytes", "sent": "source.bytes", "smac": "source.mac", "dmac": "destination.mac",
    "severity": "log.level", "pri": "log.syslog.severity.code", "taskname": "soc.device.taskname",
    "pluginid": "vulnerability.id", "summary": "vulnerability.description",
}  # fmt: skip
_MALWARE_MODS = frozenset({"av", "vq", "pcp"})
_IDS_MODS = frozenset({"uids", "ips", "ids"})


def sniff_themis(body: str) -> bool:
    """Themis-platform firewalls: `devid=<n> date="YYYY/MM/DD …" dname=… logtype=…`."""
    head = body[:200]
    return "dname=" in head and "logtype=" in head and _THEMIS.search(head) is not None


@register_message("legendsec_themis", sniff=sniff_themis, priority=30)
def parse_themis(body: str, doc: Doc, ctx: ParseContext) -> None:
    """Legendsec SecGate / Power V (Themis) firewall, AV, IDS and admin logs."""
    start = body.find("devid=")
    if start < 0:
        raise ParseError("themis_no_devid", "no devid=")
    text = body[start:]
    pairs = split_kv(text, "=")
    if pairs.get("user") in ("", "-") and pairs.get("username"):
        pairs.pop("user")
    proto = pairs.pop("proto", None) or pairs.pop("protocol", None)
    policy = pairs.pop("policy", None)
    apply_fields(doc, pairs, extra=_THEMIS_KEYS)
    if proto:
        m = _TRANSPORT.match(proto)
        if m:
            set_path(doc, "network.transport", m.group(1).lower())
        else:
            set_path(doc, "network.protocol", proto.lower())
    if pairs.get("app"):
        set_path(doc, "network.protocol", pairs["app"].lower())
    local_time(doc, pairs.get("date", ""), ctx, _TS)
    action = pairs.get("action") or policy
    if action:
        set_path(doc, "event.action", action.lower().removeprefix("policy_"))
    result = pairs.get("result")
    if result in ("0", "成功", "success"):
        set_path(doc, "event.outcome", "success")
    elif result not in (None, ""):
        set_path(doc, "event.outcome", "failure" if result in ("1", "失败", "failure") else "unknown")
    if get_path(doc, "event.outcome") == "unknown":
        del doc["event"]["outcome"]
    mod = pairs.get("mod", "").lower()
    has_flow = get_path(doc, "source.ip") is not None and get_path(doc, "destination.ip") is not None
    alert = False
    if mod in _MALWARE_MODS:
        category, etype, alert = ["malware", "network"], ["info"], True
    elif mod in _IDS_MODS:
        category, etype, alert = ["intrusion_detection", "network"], ["info"], True
    elif mod == "scan":
        category, etype, alert = ["vulnerability", "network"], ["info"], True
    elif mod in ("webui", "radius", "authcenter") or pairs.get("act") in ("login", "logout"):
        category, etype = ["authentication"], ["start"]
    elif has_flow:
        category, etype = ["network"], ["connection"]
    elif pairs.get("act"):
        category, etype = ["configuration"], ["change"]
    else:
        category, etype = ["host"], ["info"]
    act = str(get_path(doc, "event.action") or "")
    if act in ("permit", "允许", "accept", "pass"):
        etype = [*etype, "allowed"]
    elif act in ("deny", "drop", "拒绝", "block"):
        etype = [*etype, "denied"]
    # The event's severity (AV/PC: 高, 低; the scanner's risk: 高), else pri: the log's syslog
    # level (5 for a policy change, 6 for a web login, 4 for AV and IDS events). The UIDS
    # `severity=1` has no scale we can tell: not read.
    set_severity(doc, pairs.get("severity"))
    set_severity(doc, pairs.get("risk"))
    set_severity(doc, pairs.get("pri"), SYSLOG_SEVERITY)
    finish_event(doc, body, VENDOR, "secgate", "firewall", "secgate", category, etype, alert)


# --------------------------------------------------------------------------- SecFox bastion

def sniff_secfox(body: str) -> bool:
    """SecFox bastion (堡垒机): `baoleiji logType=YAB_…`."""
    return "logType=YAB_" in body[:64]


@register_message("legendsec_secfox", sniff=sniff_secfox, priority=30)
def parse_secfox(body: str, doc: Doc, ctx: ParseContext) -> None:
    """SecFox bastion command, system-login and resource-login logs."""
    pairs: dict[str, str] = {}
    for part in body[body.find("logType="):].split(", "):  # values hold spaces: `command=mkdir videos`
        key, sep, value = part.partition("=")
        if sep and key.strip():
            pairs.setdefault(key.strip(), value.strip())
    extra = {
        "sourceIP": "source.ip", "targetIP": "destination.ip", "command": "process.command_line",
        "resource": "destination.domain", "account": "destination.user.name", "protocol": "network.protocol",
        "operation": "event.action", "logonType": "soc.device.logonType",
    }  # fmt: skip
    apply_fields(doc, pairs, extra=extra)
    proto = get_path(doc, "network.protocol")
    if isinstance(proto, str):
        set_path(doc, "network.protocol", proto.lower())
    local_time(doc, pairs.get("time") or pairs.get("endTime") or "", ctx, _TS)
    log_type = pairs.get("logType", "")
    result = pairs.get("result", "").lower()
    if result in ("success", "failure"):
        set_path(doc, "event.outcome", result)
    if "CMD" in log_type:
        category, etype = ["process"], ["start"]
        set_path(doc, "event.action", (pairs.get("action") or "command").lower())
    elif "RESOURCE_LOGIN" in log_type:
        category, etype = ["session", "authentication"], ["start", "end"] if pairs.get("endTime") else ["start"]
        set_path(doc, "event.action", "resource_login")
    else:
        category, etype = ["authentication"], ["start"]
        if get_path(doc, "event.action") is None:
            set_path(doc, "event.action", "login")
    finish_event(doc, body, VENDOR, "secfox", "bastion", "secfox", category, etype)
