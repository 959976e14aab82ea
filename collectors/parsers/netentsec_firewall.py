"""Netentsec (网康) NGFW syslog to ECS: `0,<epoch>,<module>,<level>,,NSLOG_SYSLOG ID=…,PARA=…` records."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from soc.model import iso, set_path

from . import register_message
from .base import Doc, ParseContext, ParseError
from .kv import SYSLOG_SEVERITY, classify_event, relate_ips, set_severity

_REC = re.compile(r"(\d{1,3}),(\d{10}),([\w\-.]{1,64}),(\d),[^,]{0,64},NSLOG_SYSLOG ID=([\w\-]{0,64}),PARA=(.*)", re.S)


def sniff_netentsec(body: str) -> bool:
    """Netentsec NGFW: `…,NSLOG_SYSLOG ID=…,PARA=…`."""
    return "NSLOG_SYSLOG ID=" in body[:120]


@register_message("netentsec_ngfw", sniff=sniff_netentsec, priority=25)
def parse_netentsec(body: str, doc: Doc, ctx: ParseContext) -> None:
    """Netentsec NGFW system records (signature updates, engines)."""
    m = _REC.match(body)
    if m is None:
        raise ParseError("netentsec_shape", "not a NSLOG_SYSLOG record")
    _n, epoch, module, level, code, para = m.groups()
    try:
        doc["@timestamp"] = iso(datetime.fromtimestamp(int(epoch), UTC))
    except (ValueError, OverflowError, OSError):
        doc.setdefault("tags", []).append("_timestamp_invalid")
    set_path(doc, "log.level", level)
    set_severity(doc, level, SYSLOG_SEVERITY)  # a syslog level: <11> (3) "no server alive", <13> (5) an update
    if code:
        set_path(doc, "event.code", code)
    set_path(doc, "event.action", module)
    set_path(doc, "soc.device.para", para.strip())
    classify_event(doc, "netentsec", "ngfw", "firewall", "ngfw", ["host"], ["info"])
    relate_ips(doc, body)
