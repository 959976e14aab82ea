"""Juniper NetScreen / ScreenOS (SSG) firewall syslog to ECS: system events and traffic logs."""

from __future__ import annotations

import re

from soc.model import set_path

from . import register_message
from .base import Doc, ParseContext, ParseError
from .kv import (
    SYSLOG_SEVERITY, apply_fields, classify_event, exact_local_time, local_time, relate_ips, set_severity, split_kv,
    valid_ip,
)

_HEAD = re.compile(r"(?:(\S{1,64}): )?NetScreen device_id=(\S{1,64})\s+\[(\w{1,32})\](\w{1,16})-(\w{1,16})-(\d{5})"
                   r"(?:\((\w{1,16})\))?: (.*)", re.S)
_STAMP = re.compile(r"\((\d{4})-(\d{2})-(\d{2}) (\d{2}):(\d{2}):(\d{2})\)\s*$")
_FROM = re.compile(r"from (\d{1,3}(?:\.\d{1,3}){3}):(\d{1,5})")
_AT_HOST = re.compile(r"at host (\d{1,3}(?:\.\d{1,3}){3})")
_USER = re.compile(r"(?:login name|admin user|by) '?([\w.\-@]{1,64})'?")
_TRANSPORT = {"6": "tcp", "17": "udp", "1": "icmp"}


def sniff_screenos(body: str) -> bool:
    """ScreenOS: `[<host>: ]NetScreen device_id=<id>  [Root]system-…`."""
    return "NetScreen device_id=" in body[:80]


@register_message("juniper_screenos", sniff=sniff_screenos, priority=25)
def parse_screenos(body: str, doc: Doc, ctx: ParseContext) -> None:
    """Juniper ScreenOS system messages (admin logins, SSH) and traffic (session close) logs."""
    m = _HEAD.match(body)
    if m is None:
        raise ParseError("screenos_head", "no NetScreen device_id head")
    host, device_id, vsys, module, level, code, kind, text = m.groups()
    if host:
        set_path(doc, "observer.name", host)
    set_path(doc, "observer.serial_number", device_id)
    set_path(doc, "event.code", code)
    set_path(doc, "log.level", level)
    set_severity(doc, level, SYSLOG_SEVERITY)  # system-<level>-: ScreenOS's syslog level names
    local_time(doc, text, ctx, _STAMP)
    if kind == "traffic":
        pairs = split_kv(text, "=")
        proto = pairs.pop("proto", None)
        apply_fields(doc, pairs, extra={"policy_id": "rule.id", "service": "network.protocol"})
        if proto:
            set_path(doc, "network.transport", _TRANSPORT.get(proto, proto))
        xl = re.search(r"src-xlated ip=(\S{1,45}) port=(\d{1,5})", text)
        if xl and valid_ip(xl.group(1)):
            set_path(doc, "source.nat.ip", valid_ip(xl.group(1)))
            set_path(doc, "source.nat.port", int(xl.group(2)))
        xd = re.search(r"dst-xlated ip=(\S{1,45}) port=(\d{1,5})", text)
        if xd and valid_ip(xd.group(1)):
            set_path(doc, "destination.nat.ip", valid_ip(xd.group(1)))
        st_time = re.search(r'start_time="([^"]{1,32})"', text)
        if st_time:
            exact_local_time(doc, st_time.group(1), ctx)
        action = str(pairs.get("action", "")).lower()
        set_path(doc, "event.action", action or "traffic")
        category, etype = ["network"], ["connection", "end"] + (["allowed"] if action == "permit" else [])
    else:
        fm = _FROM.search(text) or None
        if fm:
            set_path(doc, "source.ip", fm.group(1))
            set_path(doc, "source.port", int(fm.group(2)))
        hm = _AT_HOST.search(text)
        if hm:
            set_path(doc, "source.ip", hm.group(1))
        um = _USER.search(text)
        if um:
            set_path(doc, "user.name", um.group(1))
            set_path(doc, "related.user", [um.group(1)])
        low = text.lower()
        auth = "login" in low or "authentication" in low or "ssh" in low or "re-enabled" in low
        if "failed" in low or "has failed" in low:
            set_path(doc, "event.outcome", "failure")
        elif "successful" in low:
            set_path(doc, "event.outcome", "success")
        set_path(doc, "event.action", f"{module}-{code}")
        category, etype = (["authentication"], ["start"]) if auth else (["host"], ["info"])
    classify_event(doc, "juniper", "screenos", "firewall", "screenos", category, etype)
    relate_ips(doc, body)
