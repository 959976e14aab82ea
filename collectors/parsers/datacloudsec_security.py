"""DataCloudSec IPS and vulnerability scanner syslog to ECS: the IPS's quoted
`SerialNum="…" GenTime="…" SIP=… DIP=…` records and the scanner's `Timestamp=… VulType=…` /
`UserName=… Ip=… Event=…` records.
"""

from __future__ import annotations

import re

from soc.model import get_path, set_path

from . import register_message
from .base import Doc, ParseContext
from .kv import apply_fields, finish_event, local_time, set_severity, split_kv

_TS = re.compile(r"(\d{4})-(\d{2})-(\d{2}) (\d{2}):(\d{2}):(\d{2})")
_IPS_KEYS = {"SIP": "source.ip", "DIP": "destination.ip", "SPORT": "source.port", "DPORT": "destination.port",
             "SMAC": "source.mac", "DMAC": "destination.mac", "IN": "observer.ingress.interface.name",
             "OUT": "observer.egress.interface.name", "CharacterName": "rule.name", "CharacterID": "rule.id",
             "SecName": "rule.category", "SecurityPolicyName": "rule.ruleset", "Action": "event.action",
             "Dest": "soc.device.dest", "VulName": "vulnerability.description", "CVE": "vulnerability.id",
             "UserName": "user.name", "Ip": "source.ip", "Event": "event.action", "VulLevel": "vulnerability.severity"}


def sniff_datacloudsec(body: str) -> bool:
    """DataCloudSec IPS (`SerialNum="…" … SIP=`) or scanner (`Timestamp=… VulType=`, `UserName=… Event=`)."""
    head = body[:160]
    return (
        (head.startswith('SerialNum="') and " SIP=" in head)
        or (head.startswith("Timestamp=") and " VulType=" in head)
        or (head.startswith("UserName=") and " Event=" in head and " LogType=" in body[-30:])
    )


@register_message("datacloudsec", sniff=sniff_datacloudsec, priority=20)
def parse_datacloudsec(body: str, doc: Doc, ctx: ParseContext) -> None:
    """DataCloudSec IPS alerts/blocks and vulnerability-scanner findings and operations."""
    pairs = split_kv(body, "=")
    proto = pairs.pop("Proto", None)
    apply_fields(doc, pairs, extra=_IPS_KEYS)
    if proto:
        set_path(doc, "network.transport", proto.lower())
    action = get_path(doc, "event.action")
    if isinstance(action, str) and action.isascii():
        set_path(doc, "event.action", action.lower())
    at = max(body.find("GenTime="), body.find("Timestamp="), body.find("Date="))
    local_time(doc, body[at:] if at >= 0 else "", ctx, _TS)
    if body.startswith("SerialNum="):
        kind, product, dataset = "ips", "ips", "ips"
        category, etype, alert = ["intrusion_detection", "network"], ["info"], True
        if get_path(doc, "event.action") in ("block", "drop", "deny") or "阻断" in body:
            etype = ["denied"]
    elif body.startswith("Timestamp="):
        kind, product, dataset = "vulnerability_scanner", "vulnscanner", "vuln"
        category, etype, alert = ["vulnerability"], ["info"], False
    else:
        kind, product, dataset = "vulnerability_scanner", "vulnscanner", "operation"
        category, etype, alert = ["configuration"], ["info"], False
    # A finding's VulLevel (低危, 信息 ...); the IPS's CharacterLevel (0 for a ping reply) has no
    # scale we can tell.
    set_severity(doc, pairs.get("VulLevel"))
    finish_event(doc, body, "datacloudsec", product, kind, dataset, category, etype, alert, users=False)
