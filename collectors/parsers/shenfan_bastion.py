"""Shenfan bastion host syslog to ECS: `<AUDIT_LOG>[用户](通过账号[…]登录在[…]到[…]通过[ip]访问[ip]…)`."""

from __future__ import annotations

import re
from datetime import datetime

from soc.model import iso, set_path

from . import register_message
from .base import Doc, ParseContext, ParseError
from .kv import SYSLOG_SEVERITY, classify_event, relate_ips, set_severity, valid_ip

_ACCOUNT = re.compile(r"通过账号\[([^\]]{1,64})\]")
_TIMES = re.compile(r"登录在\[([^\]]{1,32})\]到\[([^\]]{1,32})\]")
_PATH = re.compile(r"通过\[([^\]]{1,64})\]访问\[([^\]]{1,64})\]")
_PROTO = re.compile(r"通过\[(\w{1,16})\]协议")
_LEVEL = re.compile(r"日志级别:\[(\w{1,16})\]")


def sniff_shenfan(body: str) -> bool:
    """Shenfan bastion: body starting `<AUDIT_LOG>`."""
    return body.startswith("<AUDIT_LOG>")


@register_message("shenfan_bastion", sniff=sniff_shenfan, programs=("baoleiji",), priority=25)
def parse_shenfan(body: str, doc: Doc, ctx: ParseContext) -> None:
    """Shenfan bastion resource-access sessions (app name `baoleiji`)."""
    if not body.startswith("<AUDIT_LOG>"):
        raise ParseError("shenfan_not_audit", "no <AUDIT_LOG> record")
    if m := _ACCOUNT.search(body):
        set_path(doc, "user.name", m.group(1))
        set_path(doc, "related.user", [m.group(1)])
    if m := _TIMES.search(body):
        try:
            start = datetime.strptime(m.group(1), "%Y-%m-%d %H:%M:%S").replace(tzinfo=ctx.timezone)
            end = datetime.strptime(m.group(2), "%Y-%m-%d %H:%M:%S").replace(tzinfo=ctx.timezone)
            set_path(doc, "event.start", iso(start))
            set_path(doc, "event.end", iso(end))
            doc["@timestamp"] = iso(end)
        except ValueError:
            doc.setdefault("tags", []).append("_timestamp_invalid")
    if m := _PATH.search(body):
        for field, value in (("source.ip", m.group(1)), ("destination.ip", m.group(2))):
            if valid_ip(value):
                set_path(doc, field, valid_ip(value))
    if m := _PROTO.search(body):
        set_path(doc, "network.protocol", m.group(1).lower())
    if m := _LEVEL.search(body):
        set_path(doc, "log.level", m.group(1).lower())
        set_severity(doc, m.group(1), SYSLOG_SEVERITY)  # 日志级别:[INFO]: a syslog level name
    set_path(doc, "event.action", "resource_access")
    classify_event(doc, "shenfan", "sag", "bastion", "audit", ["session"], ["start", "end"])
    relate_ips(doc, body)
