"""Jump IDS/IPS syslog to ECS: `SECURITY INSTRUCTION type … sip … dip …` alerts and admin logins."""

from __future__ import annotations

import re

from soc.model import set_path

from . import register_message
from .base import Doc, ParseContext, ParseError
from .kv import classify_event, local_time, relate_ips, valid_ip

_TS = re.compile(r"(\d{4})-(\d{2})-(\d{2}) (\d{2}):(\d{2}):(\d{2})")
_WORDS = re.compile(r'(\w{1,16}) ("[^"]{0,512}"|\S{1,512})')
_FIELDS = {"sip": "source.ip", "dip": "destination.ip", "sport": "source.port", "dport": "destination.port",
           "smac": "source.mac", "dmac": "destination.mac", "prot": "network.transport", "id": "rule.id",
           "name": "rule.name", "type": "rule.category", "user": "user.name", "ip": "source.ip",
           "action": "event.action", "result": "event.outcome", "times": "soc.device.times"}


def sniff_jump(body: str) -> bool:
    """Jump IDS: `[SECURITY ]INSTRUCTION type …` alerts, `[jump ]IPS ADMIN LOGIN …` admin records."""
    return body.startswith(("INSTRUCTION type ", "IPS ADMIN ")) or body[20:60].lstrip().startswith(
        ("SECURITY INSTRUCTION type ", "jump IPS ADMIN ")
    )


@register_message("jump_ids", sniff=sniff_jump, priority=25)
def parse_jump(body: str, doc: Doc, ctx: ParseContext) -> None:
    """Jump IDS/IPS attack alerts and administrator logins."""
    at = body.find("INSTRUCTION type ")
    admin = at < 0
    if admin:
        at = body.find("IPS ADMIN ")
        if at < 0:
            raise ParseError("jump_shape", "no INSTRUCTION / IPS ADMIN record")
    local_time(doc, body[:at], ctx, _TS)
    text = body[at:].split(" ", 3)[-1] if admin else body[at + len("INSTRUCTION "):]
    for m in _WORDS.finditer(text):
        key, value = m.group(1), m.group(2).strip('"')
        field = _FIELDS.get(key)
        if field is None:
            continue
        if field.endswith(".ip"):
            if valid_ip(value):
                set_path(doc, field, valid_ip(value))
        elif field.endswith(".port"):
            if value.isdigit():
                set_path(doc, field, int(value))
        elif field == "network.transport":
            set_path(doc, field, value.lower())
        elif field == "event.outcome":
            set_path(doc, field, "success" if value == "success" else "failure")
        else:
            set_path(doc, field, value)
    if admin:
        set_path(doc, "event.action", "login")
        category, etype, kind = ["authentication"], ["start"], "event"
    else:
        set_path(doc, "event.action", "alert")
        category, etype, kind = ["intrusion_detection", "network"], ["info"], "alert"
    classify_event(doc, "jump", "ids", "ids", "ids", category, etype, kind)
    relate_ips(doc, body)
