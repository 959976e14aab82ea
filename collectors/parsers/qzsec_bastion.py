"""QZSec (齐治) bastion host (RIS) syslog to ECS: `node1:cmd(NOTICE)(id=…,service=…,identity=…,from=…)` records."""

from __future__ import annotations

import re
from datetime import datetime

from soc.model import get_path, iso, set_path

from . import register_message
from .base import Doc, ParseContext, ParseError
from .kv import SYSLOG_SEVERITY, classify_event, relate_ips, set_severity, valid_ip

_LEVELS = "EMERGENCY|ALERT|CRITICAL|ERROR|WARNING|NOTICE|INFORMATIONAL|DEBUG"
_REC = re.compile(rf"(?:^|\s)(\w{{1,32}}):(\w{{1,32}})(?:\((\w{{1,16}})\))?\(({_LEVELS})\)\((.*)\)\s*$", re.S)
_IP = re.compile(r"(\d{1,3}(?:\.\d{1,3}){3})")
_TS = re.compile(r"(\d{4})-(\d{2})-(\d{2})[ T](\d{2}):(\d{2}):(\d{2})")


def sniff_ris(body: str) -> bool:
    """QZSec RIS: `<node>:<type>[(<channel>)](<LEVEL>)(k=v,…)`."""
    head = body[:120]
    return ")(" in head and any(f"({lv})(" in head for lv in ("INFORMATIONAL", "NOTICE", "WARNING", "ERROR",
                                                               "CRITICAL", "ALERT", "EMERGENCY", "DEBUG"))


def _split(text: str) -> dict[str, str]:
    """Top-level `k=v` items separated by commas (parentheses and brackets nest)."""
    out: dict[str, str] = {}
    depth, start = 0, 0
    for i, ch in enumerate(text + ","):
        if ch in "([":
            depth += 1
        elif ch in ")]":
            depth -= 1
        elif ch == "," and depth <= 0:
            key, sep, value = text[start:i].partition("=")
            if sep:
                out.setdefault(key.strip(), value.strip())
            start = i + 1
    return out


@register_message("qzsec_ris", sniff=sniff_ris, priority=30)
def parse_ris(body: str, doc: Doc, ctx: ParseContext) -> None:
    """QZSec RIS bastion login, command-check, terminal (TUI) and configuration audit records."""
    m = _REC.search(body)
    if m is None:
        raise ParseError("ris_shape", "not a RIS record")
    node, kind, channel, level, rest = m.groups()
    ts = _TS.match(body)
    if ts:
        try:
            doc["@timestamp"] = iso(datetime.fromisoformat(body[: body.find(" ")]))
        except ValueError:
            doc.setdefault("tags", []).append("_timestamp_invalid")
    pairs = _split(rest)
    set_path(doc, "log.level", level.lower())
    set_severity(doc, level, SYSLOG_SEVERITY)  # (INFORMATIONAL), (NOTICE): the syslog level names
    set_path(doc, "observer.name", node)
    src = valid_ip(pairs.get("from", ""))
    if src:
        set_path(doc, "source.ip", src)
    ident = pairs.get("identity", "")
    if ident:
        set_path(doc, "user.name", ident.split("(")[0])
        set_path(doc, "related.user", [ident.split("(")[0]])
    server = _IP.search(pairs.get("server", ""))
    if server:
        set_path(doc, "destination.ip", server.group(1))
    if pairs.get("account"):
        set_path(doc, "destination.user.name", pairs["account"])
    if pairs.get("command"):
        set_path(doc, "process.command_line", pairs["command"])
    lowk = kind.lower()
    if lowk == "login":
        category, etype = ["authentication"], ["start"]
        set_path(doc, "event.action", "login")
        if "success" in rest:
            set_path(doc, "event.outcome", "success")
        elif "fail" in rest:
            set_path(doc, "event.outcome", "failure")
    elif lowk in ("cmd", "tuilog"):
        category, etype = ["process"], ["start"]
        set_path(doc, "event.action", pairs.get("action") or lowk)
    else:
        category, etype = ["configuration"], ["change"]
        set_path(doc, "event.action", pairs.get("operate") or lowk)
        if pairs.get("result") == "成功":
            set_path(doc, "event.outcome", "success")
    if channel:
        set_path(doc, "network.protocol", channel.lower())
    classify_event(doc, "qzsec", "ris", "bastion", lowk, category, etype)
    host = get_path(doc, "host.name")
    relate_ips(doc, f"{host} {body}" if isinstance(host, str) else body)
