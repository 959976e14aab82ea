"""Cajinchen MDG antivirus gateway syslog to ECS: `[ALERT] id=mdg:flow|app …` detections and GUI audit."""

from __future__ import annotations

import re

from soc.model import set_path

from . import register_message
from .base import Doc, ParseContext
from .kv import (
    SYSLOG_SEVERITY, apply_fields, classify_event, exact_local_time, relate_ips, relate_user, set_severity,
    set_transport_or_protocol, split_kv, valid_ip,
)

_ENDPOINT = re.compile(r"\b(src|dst)=(\d{1,3}(?:\.\d{1,3}){3}):(\d{1,5})\b")
_TS = re.compile(r"time='(\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2})'")
_TRANSPORTS = frozenset({"tcp", "udp", "icmp"})


def sniff_mdg(body: str) -> bool:
    """MDG gateway: `[ALERT] id=mdg:…` or a bare `LOCAL0.NOTICE: mdg gui[pid]: …` audit line."""
    return body.startswith("[ALERT] id=mdg:") or (body.startswith("LOCAL") and " mdg gui[" in body[:40])


@register_message("cajinchen_mdg", sniff=sniff_mdg, priority=25)
def parse_mdg(body: str, doc: Doc, ctx: ParseContext) -> None:
    """MDG antivirus gateway flow/app detections and web GUI operations."""
    if " mdg gui[" in body[:40]:
        pairs = split_kv(body[body.find("]:") + 2 :], "=")
        apply_fields(doc, pairs, extra={"ip": "source.ip", "op": "event.action", "module": "soc.device.module"})
        relate_user(doc)
        category, etype, kind, dataset = ["configuration"], ["access"], "event", "gui"
    else:
        pairs = split_kv(body, "=")
        for key in ("src", "dst", "proto"):
            pairs.pop(key, None)
        apply_fields(doc, pairs, extra={"msg": "rule.name", "rule": "rule.id", "category": "rule.category",
                                        "fn": "file.name", "size": "file.size", "url": "url.original",
                                        "srcmac": "source.mac", "dstmac": "destination.mac", "dev": "observer.ingress.interface.name",
                                        "op": "http.request.method", "fw": "observer.name"})
        for m in _ENDPOINT.finditer(body):
            side = "source" if m.group(1) == "src" else "destination"
            set_path(doc, f"{side}.ip", valid_ip(m.group(2)))
            set_path(doc, f"{side}.port", int(m.group(3)))
        proto = re.search(r"\bproto=(\w{1,16})", body)
        if proto:
            set_transport_or_protocol(doc, proto.group(1), _TRANSPORTS)
        auth = pairs.get("auth")
        if auth:
            set_path(doc, "event.outcome", "failure" if pairs.get("result") == "fail" else "success")
        malware = "Virus" in pairs.get("category", "") or "Trojan" in pairs.get("category", "") or "Ransom" in pairs.get("category", "")
        category = ["malware", "network"] if malware else ["authentication", "network"] if auth else ["intrusion_detection", "network"]
        etype, kind, dataset = ["info"], "alert", pairs.get("id", "mdg:flow").split(":")[-1]
    ts = _TS.search(body)
    if ts:
        exact_local_time(doc, ts.group(1), ctx)
    classify_event(doc, "cajinchen", "hg7500", "antivirus", dataset, category, etype, kind)
    # `id=… time=… fw=… pri=N` is WebTrends' WELF, whose pri is the syslog level (0 emergency ... 7 debug).
    set_severity(doc, pairs.get("pri"), SYSLOG_SEVERITY)
    relate_ips(doc, body)
