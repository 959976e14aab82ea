"""Koal (格尔) NetDefense endpoint protection to ECS: `logtype="网盾…" time="…" event="…" user="…" …`."""

from __future__ import annotations

from soc.model import set_path

from . import register_message
from .base import Doc, ParseContext
from .kv import apply_fields, classify_event, exact_local_time, relate_ips, split_kv


def sniff_koal(body: str) -> bool:
    """Koal NetDefense: `logtype="网盾…"`."""
    return body.startswith('logtype="网盾')


@register_message("koal_netdefense", sniff=sniff_koal, priority=25)
def parse_koal(body: str, doc: Doc, ctx: ParseContext) -> None:
    """Koal NetDefense PC-protection events."""
    pairs = split_kv(body, "=")
    apply_fields(doc, pairs, extra={"event": "event.action", "host": "host.name", "station": "soc.device.station",
                                    "desc": "soc.device.desc", "result": "soc.device.result"})
    exact_local_time(doc, pairs.get("time", ""), ctx)
    if "成功" in pairs.get("result", ""):
        set_path(doc, "event.outcome", "success")
    classify_event(doc, "koal", "netdefense", "edr", "netdefense", ["host"], ["change"])
    relate_ips(doc, body)
