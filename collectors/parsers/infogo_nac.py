"""Infogo ASM network access control to ECS: `classid:<n>, level:<n>, devid:…, devip:…, content:…`."""

from __future__ import annotations

from soc.model import set_path

from . import register_message
from .base import Doc, ParseContext
from .kv import classify_event, relate_ips, valid_ip


def sniff_infogo(body: str) -> bool:
    """Infogo ASM: `classid:<n>, level:<n>, devid:…, devip:…`."""
    return body.startswith("classid:") and ", devip:" in body[:80]


@register_message("infogo_asm", sniff=sniff_infogo, priority=25)
def parse_infogo(body: str, doc: Doc, ctx: ParseContext) -> None:
    """Infogo ASM compliance and device alarms."""
    head, _, content = body.partition(", content:")
    pairs = {}
    for part in head.split(", "):
        key, sep, value = part.partition(":")
        if sep:
            pairs[key.strip()] = value.strip()
    ip = valid_ip(pairs.get("devip", ""))
    if ip:
        set_path(doc, "host.ip", [ip])
    set_path(doc, "event.code", pairs.get("classid", ""))
    set_path(doc, "log.level", pairs.get("level", ""))
    set_path(doc, "event.action", content.strip()[:256])
    classify_event(doc, "infogo", "asm", "nac", "asm", ["host"], ["info"], "alert")
    relate_ips(doc, body)
