"""Cajinchen MDG antivirus gateway syslog to ECS: `[ALERT] id=mdg:flow|app …` detections and GUI audit."""

from __future__ import annotations

import re
from datetime import datetime

from soc.model import get_path, iso, set_path

from . import register_message
from .base import Doc, ParseContext
from .kv import apply_fields, relate_ips, set_observer, split_kv, valid_ip

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
        user = get_path(doc, "user.name")
        if user:
            set_path(doc, "related.user", [user])
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
            low = proto.group(1).lower()
            set_path(doc, "network.transport" if low in _TRANSPORTS else "network.protocol", low)
        auth = pairs.get("auth")
        if auth:
            set_path(doc, "event.outcome", "failure" if pairs.get("result") == "fail" else "success")
        malware = "Virus" in pairs.get("category", "") or "Trojan" in pairs.get("category", "") or "Ransom" in pairs.get("category", "")
        category = ["malware", "network"] if malware else ["authentication", "network"] if auth else ["intrusion_detection", "network"]
        etype, kind, dataset = ["info"], "alert", pairs.get("id", "mdg:flow").split(":")[-1]
    ts = _TS.search(body)
    if ts:
        try:
            doc["@timestamp"] = iso(datetime.strptime(ts.group(1), "%Y-%m-%d %H:%M:%S").replace(tzinfo=ctx.timezone))
        except ValueError:
            doc.setdefault("tags", []).append("_timestamp_invalid")
    outcome = get_path(doc, "event.outcome")
    if outcome is not None and outcome not in ("success", "failure", "unknown"):
        set_path(doc, "soc.device.result", outcome)
        del doc["event"]["outcome"]
    set_observer(doc, "cajinchen", "hg7500", "antivirus")
    set_path(doc, "event.module", "cajinchen")
    set_path(doc, "event.dataset", f"cajinchen.{dataset}")
    set_path(doc, "event.kind", kind)
    set_path(doc, "event.category", category)
    set_path(doc, "event.type", etype)
    relate_ips(doc, body)
