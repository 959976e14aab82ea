"""JNSec TrapBox honeypot syslog to ECS: `{"loglevel": …, "logtype": "TRAPBOX_…", "message": …}`."""

from __future__ import annotations

import re

import orjson

from soc.model import set_path

from . import register_message
from .base import Doc, ParseContext
from .kv import classify_event, relate_ips, set_severity, valid_ip

_SESSION = re.compile(r"-(ipv[46])-(\w{1,8})-([0-9a-fA-F.:]{2,45})-(\d{1,5})-([0-9a-fA-F.:]{2,45})-(\d{1,5})$")


def sniff_trapbox(body: str) -> bool:
    """JNSec TrapBox: `{"loglevel": …, "logtype": "TRAPBOX_…"`."""
    return body.startswith('{"loglevel"') and '"TRAPBOX_' in body[:80]


@register_message("jnsec_trapbox", sniff=sniff_trapbox, priority=25)
def parse_trapbox(body: str, doc: Doc, ctx: ParseContext) -> None:
    """TrapBox attack summaries and realtime honeypot sessions."""
    try:
        obj = orjson.loads(body)
    except orjson.JSONDecodeError:
        obj = {}
    log_type = str(obj.get("logtype", "")) if isinstance(obj, dict) else ""
    message = str(obj.get("message", "")) if isinstance(obj, dict) else ""
    m = _SESSION.search(message)
    if m:
        set_path(doc, "network.transport", m.group(2))
        for field, ip, port in (("source", m.group(3), m.group(4)), ("destination", m.group(5), m.group(6))):
            if valid_ip(ip):
                set_path(doc, f"{field}.ip", valid_ip(ip))
                set_path(doc, f"{field}.port", int(port))
    src = re.search(r'\\?"src_ip\\?": \\?"([^"\\]{2,45})', body)
    if src and valid_ip(src.group(1)):
        set_path(doc, "source.ip", valid_ip(src.group(1)))
    set_path(doc, "event.action", log_type.lower())
    if isinstance(obj, dict):
        set_severity(doc, obj.get("loglevel"))  # WARN for an attack summary, INFO for a session
    classify_event(doc, "jnsec", "trapbox", "honeypot", "trapbox", ["intrusion_detection", "network"], ["info"],
                   "alert" if log_type.endswith("ATTACK") else "event")
    relate_ips(doc, body)
