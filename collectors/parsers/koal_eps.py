"""Koal (格尔) NetDefense endpoint protection to ECS: `logtype="网盾…" time="…" event="…" user="…" …`."""

from __future__ import annotations

from datetime import datetime

from soc.model import get_path, iso, set_path

from . import register_message
from .base import Doc, ParseContext
from .kv import apply_fields, relate_ips, set_observer, split_kv


def sniff_koal(body: str) -> bool:
    """Koal NetDefense: `logtype="网盾…"`."""
    return body.startswith('logtype="网盾')


@register_message("koal_netdefense", sniff=sniff_koal, priority=25)
def parse_koal(body: str, doc: Doc, ctx: ParseContext) -> None:
    """Koal NetDefense PC-protection events."""
    pairs = split_kv(body, "=")
    apply_fields(doc, pairs, extra={"event": "event.action", "host": "host.name", "station": "soc.device.station",
                                    "desc": "soc.device.desc", "result": "soc.device.result"})
    try:
        doc["@timestamp"] = iso(datetime.strptime(pairs.get("time", ""), "%Y-%m-%d %H:%M:%S").replace(tzinfo=ctx.timezone))
    except ValueError:
        doc.setdefault("tags", []).append("_timestamp_invalid")
    if "成功" in pairs.get("result", ""):
        set_path(doc, "event.outcome", "success")
    outcome = get_path(doc, "event.outcome")
    if outcome is not None and outcome not in ("success", "failure", "unknown"):
        set_path(doc, "soc.device.result", outcome)
        del doc["event"]["outcome"]
    set_observer(doc, "koal", "netdefense", "edr")
    set_path(doc, "event.module", "koal")
    set_path(doc, "event.dataset", "koal.netdefense")
    set_path(doc, "event.category", ["host"])
    set_path(doc, "event.type", ["change"])
    relate_ips(doc, body)
