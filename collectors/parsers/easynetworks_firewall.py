"""EasyNetworks firewall / IDS syslog to ECS: FortiOS-4-style `date=… time=… device_id=APW… log_id=…`
records and IPS signature logs that reference easynetworks.com.cn.
"""

from __future__ import annotations

import re

from soc.model import get_path, set_path

from . import register_message
from .base import Doc, ParseContext
from .kv import SYSLOG_SEVERITY, apply_fields, classify_event, local_time, relate_ips, set_severity, split_kv

_TS = re.compile(r"(\d{4})-(\d{2})-(\d{2})[ ,](?:time=)?(\d{2}):(\d{2}):(\d{2})")
_PROTO_NUM = {"1": "icmp", "6": "tcp", "17": "udp"}
_KEYS = {"src_port": "source.port", "dst_port": "destination.port", "src_int": "observer.ingress.interface.name",
         "dst_int": "observer.egress.interface.name", "policyid": "soc.device.policyid", "status": "event.action",
         "attack_id": "rule.id", "msg": "rule.name", "device_id": "observer.serial_number", "service": "network.protocol",
         "sent": "source.bytes", "rcvd": "destination.bytes", "hostname": "url.domain", "url": "url.path"}


def sniff_easynetworks(body: str) -> bool:
    """EasyNetworks: `… device_id=APW… log_id=…` or `log_id=… type=ips … easynetworks.com.cn`."""
    head = body[:200]
    return "log_id=" in head and ("device_id=APW" in head or "easynetworks.com.cn" in body[:2048])


@register_message("easynetworks_firewall", sniff=sniff_easynetworks, priority=20)
def parse_easynetworks(body: str, doc: Doc, ctx: ParseContext) -> None:
    """EasyNetworks traffic, DLP and IPS signature logs."""
    pairs = split_kv(body, "=")
    proto = pairs.pop("proto", None)
    apply_fields(doc, pairs, extra=_KEYS)
    if proto:
        set_path(doc, "network.transport", _PROTO_NUM.get(proto, proto.lower()))
    local_time(doc, body[:60], ctx, _TS)
    log_type = pairs.get("type", "")
    ips = log_type == "ips"
    action = get_path(doc, "event.action")
    if isinstance(action, str):
        set_path(doc, "event.action", action.lower())
    kind = "ids" if ips else "firewall"
    category = ["intrusion_detection", "network"] if ips else ["network"]
    etype = ["connection", "allowed"] if action == "accept" else ["info"] if ips else ["connection"]
    classify_event(doc, "easynetworks", "firewall", kind, log_type or "log", category, etype,
                   "alert" if ips else "event")
    # An IPS signature's severity (low ...), else pri: a syslog level name (FortiOS-style: alert,
    # notice, information).
    set_severity(doc, pairs.get("severity"))
    set_severity(doc, pairs.get("pri"), SYSLOG_SEVERITY)
    relate_ips(doc, body)
