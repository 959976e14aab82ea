"""Huafoun NAM network access control to ECS: `event=… eventid=… term=<name>(<mac>/<ip>) user=… nas=…`."""

from __future__ import annotations

import re

from soc.model import set_path

from . import register_message
from .base import Doc, ParseContext
from .kv import classify_event, relate_ips, split_kv, valid_ip

_TERM = re.compile(r"term=(.{0,128}?)\(([0-9A-Fa-f:]{17})/([^)\s]{2,45})\)")


def sniff_huafoun(body: str) -> bool:
    """Huafoun NAM: `event=… eventid=<n> term=…`."""
    head = body[:160]
    return head.startswith("event=") and " eventid=" in head and " term=" in head


@register_message("huafoun_nam", sniff=sniff_huafoun, priority=25)
def parse_huafoun(body: str, doc: Doc, ctx: ParseContext) -> None:
    """Huafoun NAM terminal access, identification and authentication events."""
    pairs = split_kv(body, "=")
    set_path(doc, "event.action", pairs.get("event", ""))
    set_path(doc, "event.code", pairs.get("eventid", ""))
    m = _TERM.search(body)
    if m:
        set_path(doc, "source.mac", m.group(2))
        if valid_ip(m.group(3)):
            set_path(doc, "source.ip", valid_ip(m.group(3)))
        set_path(doc, "source.domain", m.group(1))
    if pairs.get("user") not in (None, "", "-"):
        set_path(doc, "user.name", pairs["user"])
        set_path(doc, "related.user", [pairs["user"]])
    auth = "认证" in pairs.get("event", "")
    if auth:
        set_path(doc, "event.outcome", "failure" if "失败" in pairs.get("event", "") else "success")
    classify_event(doc, "huafoun", "nam", "nac", "nam", ["authentication"] if auth else ["network"], ["info"])
    relate_ips(doc, body)
