"""Sangfor AC (behaviour management), DAS (database audit), aTrust (zero trust), AD (load balancer)
and YJ (scanner) logs to ECS: observer, addresses, user and action.

- AC:  `[log_type:flux] [record_time:YYYY-MM-DD hh:mm:ss] [user:..] [host_ip:..] [dst_ip:..] ...`
- DAS: `"record_id:9","dev:..","log_type:db_audit","src_ip:..","src_port:..","dst_ip:..","sql:..."`
- aTrust: JSON with `"source":{"displayName":"aTrust"...}`, client.ip, actor.username, upstream
- AD:  `: LINKD: text` / `:  admin ,  192.168.1.64 ,  查看 ,  系统配置 ,  text` (body after the host)
- YJ:  `ADDR - LEVEL - user：admin - ip: 1.2.3.4 - behavior: 登录 - object: .. - text - {json} - /path`
Times in the bodies are local.
"""

from __future__ import annotations

import json
import re
from typing import Any

from soc.model import set_path

from . import register_message
from .base import Doc, ParseContext, ParseError
from .kv import apply_fields, classify_event, local_time, relate_ips, set_severity, valid_ip

_AC = re.compile(r"\[log_type:[a-z_]{1,32}\] \[record_time:")
_AC_PAIR = re.compile(r"\[([A-Za-z_]{1,32}):([^\]]{0,2048})\]")
_DAS_PAIR = re.compile(r'"([a-z_0-9]{1,32}):((?:[^"\\]|\\.){0,65536})"')
_AD = re.compile(r":\s{1,2}(?:[A-Z_]{2,20}: |\S{1,64} ,  \S{2,45} ,  )")
_YJ = re.compile(r"(?:[\d-]{10} [\d:,]{8,12} - )?(\S{2,45}) - ([A-Z]{4,8}) - user[：:]\s?(\S{1,64}) - ip: (\S{2,45}) - ")
_YJ_ITEM = re.compile(r" - (behavior|object): ([^-]{1,128}?) (?=-)")

DAS_EXTRA: dict[str, str] = {"db_usr": "user.name", "sql": "db.statement", "db_name": "db.name",
                             "db_type": "db.type"}  # fmt: skip


def _head(doc: Doc, product: str, kind: str, cats: list[str]) -> None:
    """Observer, module, dataset and categories."""
    classify_event(doc, "sangfor", product, kind, product, cats, ["info"])


@register_message("sangfor_ac", sniff=lambda body: _AC.match(body[:40]) is not None, priority=30)
def parse_sangfor_ac(body: str, doc: Doc, ctx: ParseContext) -> None:
    """Sangfor AC behaviour record: `[key:value]` fields."""
    pairs = dict(_AC_PAIR.findall(body))
    _head(doc, "ac", "acm", ["network"])
    local_time(doc, pairs.get("record_time", ""), ctx)
    fields = {"src_ip": pairs.get("host_ip", ""), "dst_ip": pairs.get("dst_ip", ""), "url": pairs.get("url", "")}
    apply_fields(doc, {k: v for k, v in fields.items() if v not in ("", "-", "::", "0.0.0.0")}, keep_rest=False)
    user = pairs.get("user", "")
    if user and not valid_ip(user):
        set_path(doc, "user.name", user)
    if pairs.get("app"):
        set_path(doc, "network.application", pairs["app"])
    set_path(doc, "event.action", pairs.get("net_action") or pairs.get("log_type", ""))
    relate_ips(doc, body)


@register_message("sangfor_das", sniff=lambda body: '"record_id:' in body[:200] and 'log_type:' in body[:300],
                  priority=30)  # fmt: skip
def parse_sangfor_das(body: str, doc: Doc, ctx: ParseContext) -> None:
    """Sangfor DAS database audit record: `"key:value"` fields."""
    pairs = dict(_DAS_PAIR.findall(body))
    if "record_id" not in pairs:
        raise ParseError("not_sangfor_das", "no record_id")
    _head(doc, "das", "dbaudit", ["database"])
    date, clock = pairs.get("date", ""), pairs.get("record_time", "")
    if len(date) == 8 and date.isdigit():
        local_time(doc, f"{date[:4]}-{date[4:6]}-{date[6:]} {clock}", ctx)
    apply_fields(doc, {k: v for k, v in pairs.items() if k in ("src_ip", "src_port", "dst_ip", "dst_port")},
                 keep_rest=False)  # fmt: skip
    apply_fields(doc, {k: v for k, v in pairs.items() if k in DAS_EXTRA and v}, extra=DAS_EXTRA, keep_rest=False)
    if pairs.get("r_rule0"):
        set_path(doc, "rule.name", pairs["r_rule0"])
        set_path(doc, "event.kind", "alert")
    set_path(doc, "event.action", pairs.get("operate") or pairs.get("log_type", ""))
    relate_ips(doc, body)


def _get(obj: Any, *path: str) -> Any:
    """obj[path[0]][path[1]]... or None."""
    for key in path:
        if not isinstance(obj, dict):
            return None
        obj = obj.get(key)
    return obj


@register_message("sangfor_atrust", sniff=lambda body: body.startswith("{") and '"displayName":"aTrust"' in body,
                  priority=40)  # fmt: skip
def parse_sangfor_atrust(body: str, doc: Doc, ctx: ParseContext) -> None:
    """Sangfor aTrust user log (JSON)."""
    try:
        rec = json.loads(body)
    except ValueError as exc:
        raise ParseError("not_sangfor_atrust", str(exc)) from exc
    _head(doc, "atrust", "vpn", ["network", "authentication"])
    local_time(doc, str(_get(rec, "event", "timestamp") or ""), ctx)
    client = valid_ip(str(_get(rec, "client", "ip") or ""))
    if client:
        set_path(doc, "source.ip", client)
    port = str(_get(rec, "client", "port") or "")
    if port.isdigit():
        set_path(doc, "source.port", int(port))
    upstream = _get(rec, "target", "details", "app", "upstream") or {}
    if isinstance(upstream, dict):
        if valid_ip(str(upstream.get("host", ""))):
            set_path(doc, "destination.ip", valid_ip(str(upstream["host"])))
        if isinstance(upstream.get("port"), int):
            set_path(doc, "destination.port", upstream["port"])
    user = _get(rec, "actor", "username")
    if user:
        set_path(doc, "user.name", str(user))
    sub = _get(rec, "event", "subType")
    if sub:
        set_path(doc, "event.action", str(sub))
    result = str(_get(rec, "event", "result") or "").lower()
    if result in ("success", "failure", "fail"):
        set_path(doc, "event.outcome", "success" if result == "success" else "failure")
    relate_ips(doc, body)


@register_message("sangfor_ad", sniff=lambda body: _AD.match(body[:120]) is not None, priority=60)
def parse_sangfor_ad(body: str, doc: Doc, ctx: ParseContext) -> None:
    """Sangfor AD system or admin-operation line (the body after `src@host :`)."""
    _head(doc, "ad", "lb", ["host"])
    parts = [p.strip() for p in body.lstrip(": ").split(" ,  ")]
    if len(parts) >= 4 and valid_ip(parts[1]):
        set_path(doc, "user.name", parts[0])
        set_path(doc, "source.ip", valid_ip(parts[1]))
        set_path(doc, "event.action", parts[2])
        set_path(doc, "event.category", ["configuration"])
    else:
        set_path(doc, "event.action", body.lstrip(": ").split(":", 1)[0].lower())
    relate_ips(doc, body)


@register_message("sangfor_yj", sniff=lambda body: _YJ.match(body[:200]) is not None, priority=40)
def parse_sangfor_yj(body: str, doc: Doc, ctx: ParseContext) -> None:
    """Sangfor YJ scanner operation log: ` - ` separated fields."""
    m = _YJ.match(body)
    if m is None:
        raise ParseError("not_sangfor_yj", "no 'ADDR - LEVEL - user：' header")
    _head(doc, "yj", "vulnerability-scanner", ["configuration"])
    if valid_ip(m.group(1)):
        set_path(doc, "observer.ip", valid_ip(m.group(1)))
    set_path(doc, "log.level", m.group(2).lower())
    set_severity(doc, m.group(2))  # the logging level name: WARNING
    set_path(doc, "user.name", m.group(3))
    if valid_ip(m.group(4)):
        set_path(doc, "source.ip", valid_ip(m.group(4)))
    items = dict(_YJ_ITEM.findall(body))
    if items.get("behavior"):
        set_path(doc, "event.action", items["behavior"].strip())
        if "登录" in items["behavior"]:
            set_path(doc, "event.category", ["authentication"])
    if "成功" in body:
        set_path(doc, "event.outcome", "success")
    relate_ips(doc, body)
