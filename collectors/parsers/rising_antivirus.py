"""Rising (瑞星) ESM antivirus syslog to ECS: space-separated `AV 0 <virus> <type> <result> <task> <file> <path> <time> <host> <ip> <mac>`."""

from __future__ import annotations

import re

from soc.model import set_path

from . import register_message
from .base import Doc, ParseContext, ParseError
from .kv import classify_event, exact_local_time, relate_ips

_REC = re.compile(r"AV (\d{1,3}) (\S{1,256}) (\S{1,32}) (\S{1,32}) (\S{1,64}) (\S{1,512}) (.{1,2048}?) "
                  r"(\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}) (\S{1,64}) (\d{1,3}(?:\.\d{1,3}){3}) "
                  r"([0-9A-Fa-f]{2}(?:-[0-9A-Fa-f]{2}){5})\s*$")


def sniff_rising(body: str) -> bool:
    """Rising ESM virus records: `AV <n> <virus> … <time> <host> <ip> <mac>`."""
    return body.startswith("AV ") and _REC.match(body) is not None


@register_message("rising_esm", sniff=sniff_rising, priority=30)
def parse_rising(body: str, doc: Doc, ctx: ParseContext) -> None:
    """Rising ESM virus detections and their handling."""
    m = _REC.match(body)
    if m is None:
        raise ParseError("rising_shape", "not a Rising AV record")
    _n, virus, vtype, result, task, fname, fpath, stamp, host, ip, mac = m.groups()
    exact_local_time(doc, stamp, ctx)
    set_path(doc, "rule.name", virus)
    set_path(doc, "threat.software.name", virus)
    set_path(doc, "rule.category", vtype)
    set_path(doc, "event.action", result)
    set_path(doc, "soc.device.task", task)
    set_path(doc, "file.name", fname)
    set_path(doc, "file.directory", fpath)
    set_path(doc, "host.name", host)
    set_path(doc, "host.ip", [ip])
    set_path(doc, "host.mac", [mac])
    if result.endswith("成功"):
        set_path(doc, "event.outcome", "success")
    elif result.endswith("失败"):
        set_path(doc, "event.outcome", "failure")
    classify_event(doc, "rising", "esm", "antivirus", "esm", ["malware"], ["info"], "alert")
    relate_ips(doc, body)
