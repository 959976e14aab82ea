"""Sangfor OSM bastion (堡垒机) audit lines in Chinese to ECS.

`<AUDIT_LOG>[姓名](通过账号[acct]登录)在[start]到[end]通过[client]访问[asset],用[Administrator]账号通过[rdp]协议…`
`安全管理员(通过账号secadmin登录)，在2020-11-25 14:46:33通过192.168.39.5做添加[1]资源至[新开普]操作，操作成功。`
`[张三]通过账号[zhangsan]在[...]访问[单点登录]时，触发[命令越权]告警，越权命令：rm。日志级别：[Alert]。`
Every line ends with `日志级别：[LEVEL]`; times are local.
"""

from __future__ import annotations

import re
from datetime import datetime

from soc.model import iso, set_path

from . import register_message
from .base import Doc, ParseContext, ParseError
from .kv import DATETIME, SYSLOG_SEVERITY, relate_ips, set_observer_dataset, set_severity, valid_ip

_LEVEL = re.compile(r"日志级别[:：]\s?\[([A-Za-z]{2,16})\]")
_ACCOUNT = re.compile(r"通过账号\[?([^\]\)\s，,\[]{1,64}?)\]?(?:登录|\)|在|，)")
_SESSION = re.compile(
    r"通过\[([^\]]{1,64})\]访问\[([^\]]{1,64})\],用\[([^\]]{1,64})\]账号通过\[([^\]]{1,32})\]协议"
)
_OPERATION = re.compile(r"通过(\S{2,45}?)做(.{1,64}?)操作，操作(成功|失败)")
_ALARM = re.compile(r"触发\[([^\]]{1,64})\]告警")
_COMMAND = re.compile(r"越权命令[:：]([^。]{1,1024})")


def _sniff(body: str) -> bool:
    """`日志级别：[LEVEL]` near the end, and 通过账号 or a 告警 word in the line."""
    if "日志级别" not in body[-400:]:
        return False
    return _LEVEL.search(body[-400:]) is not None and ("通过账号" in body or "告警" in body)


def _local(doc: Doc, text: str, ctx: ParseContext) -> None:
    """@timestamp from the last local time of the text (the end of a session, the action time)."""
    found = DATETIME.findall(text)
    if not found:
        return
    try:
        doc["@timestamp"] = iso(datetime(*(int(g) for g in found[-1]), tzinfo=ctx.timezone))  # type: ignore[misc]
    except ValueError:
        doc.setdefault("tags", []).append("_timestamp_invalid")


@register_message("sangfor_osm", sniff=_sniff, priority=30)
def parse_sangfor_osm(body: str, doc: Doc, ctx: ParseContext) -> None:
    """Sangfor OSM bastion session, operation or alarm line."""
    level = _LEVEL.search(body)
    if level is None:
        raise ParseError("not_sangfor_osm", "no 日志级别")
    set_observer_dataset(doc, "sangfor", "osm", "bastion", "osm")
    set_path(doc, "log.level", level.group(1).lower())
    set_severity(doc, level.group(1), SYSLOG_SEVERITY)  # 日志级别：[INFO] / [Alert]: syslog level names
    start = body.find("i: ")
    text = body[start + 3 :] if body.startswith("{") and start >= 0 else body
    _local(doc, text, ctx)
    account = _ACCOUNT.search(text)
    if account:
        set_path(doc, "user.name", account.group(1))
        set_path(doc, "related.user", [account.group(1)])
    session = _SESSION.search(text)
    operation = _OPERATION.search(text)
    alarm = _ALARM.search(text)
    if session:
        client, asset, target_user, proto = session.groups()
        if valid_ip(client):
            set_path(doc, "source.ip", valid_ip(client))
        if valid_ip(asset):
            set_path(doc, "destination.ip", valid_ip(asset))
        set_path(doc, "user.target.name", target_user)
        set_path(doc, "network.protocol", proto.lower())
        set_path(doc, "event.action", "access")
        set_path(doc, "event.category", ["session"])
        set_path(doc, "event.type", ["end"] if "到[" in text else ["start"])
        times = DATETIME.findall(text)
        if len(times) >= 2:
            try:
                set_path(doc, "event.start", iso(datetime(*(int(g) for g in times[0]), tzinfo=ctx.timezone)))  # type: ignore[misc]
            except ValueError:
                pass
    elif alarm:
        set_path(doc, "event.kind", "alert")
        set_path(doc, "rule.name", alarm.group(1))
        set_path(doc, "event.action", alarm.group(1))
        command = _COMMAND.search(text)
        if command:
            set_path(doc, "process.command_line", command.group(1).strip())
            set_path(doc, "event.category", ["process"])
        else:
            set_path(doc, "event.category", ["host"])
        set_path(doc, "event.type", ["info"])
        server = re.search(r"服务器\[([^\]]{2,45})\]", text)
        if server and valid_ip(server.group(1)):
            set_path(doc, "host.ip", valid_ip(server.group(1)))
    elif operation:
        client, what, result = operation.groups()
        if valid_ip(client):
            set_path(doc, "source.ip", valid_ip(client))
        set_path(doc, "event.action", what)
        set_path(doc, "event.outcome", "success" if result == "成功" else "failure")
        set_path(doc, "event.category", ["configuration"])
        set_path(doc, "event.type", ["change"])
    else:
        set_path(doc, "event.category", ["host"])
        set_path(doc, "event.type", ["info"])
    relate_ips(doc, body)
