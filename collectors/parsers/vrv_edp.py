"""VRV (北信源) EDP endpoint management to ECS: `AUD*|7*|上网访问*|time*|ips*|mac*|…` star-pipe records."""

from __future__ import annotations

import re
from datetime import datetime

from soc.model import iso, set_path

from . import register_message
from .base import Doc, ParseContext, ParseError
from .kv import classify_event, relate_ips, valid_ip

_HEAD = re.compile(r"[A-Z]{3}\*\|\d{1,3}\*\|")


def sniff_vrv(body: str) -> bool:
    """VRV EDP: `AUD*|<n>*|<type>*|<time>*|…`."""
    return _HEAD.match(body) is not None


@register_message("vrv_edp", sniff=sniff_vrv, priority=30)
def parse_vrv(body: str, doc: Doc, ctx: ParseContext) -> None:
    """VRV EDP audit and alarm records (web access, IP binding changes)."""
    f = [x.rstrip("*") for x in body.split("*|")]
    if len(f) < 9:
        raise ParseError("vrv_short", f"{len(f)} fields")
    kind, level, event, stamp, ips, mac, device, _dept, who = f[:9]
    try:
        doc["@timestamp"] = iso(datetime.strptime(stamp, "%Y-%m-%d %H:%M:%S").replace(tzinfo=ctx.timezone))
    except ValueError:
        doc.setdefault("tags", []).append("_timestamp_invalid")
    addrs = [valid_ip(x) for x in ips.split(";") if valid_ip(x)]
    if addrs:
        set_path(doc, "host.ip", addrs)
    if mac:
        set_path(doc, "host.mac", [mac])
    set_path(doc, "host.name", device)
    if ":" in who:
        set_path(doc, "user.full_name", who.split(":")[0])
        set_path(doc, "user.name", who.split(":")[1])
    set_path(doc, "event.action", event)
    set_path(doc, "log.level", level)
    if len(f) > 14 and f[14]:
        set_path(doc, "rule.name", f[14])
    if len(f) > 15:
        url = re.search(r"https?://\S{1,2048}?(?=\.\s|\s|$)", f[15])
        if url:
            set_path(doc, "url.original", url.group(0))
        set_path(doc, "soc.device.detail", f[15])
    web = "上网" in event or "网页" in event
    classify_event(doc, "vrv", "edp", "edr", kind.lower(), ["host", "web"] if web else ["host"],
                   ["access"] if web else ["change"], "alert" if kind == "WAR" else "event")
    relate_ips(doc, body)
