"""Sangfor NGAF firewall / WAF logs with Chinese keys (`日志类型:WAF应用防护日志, 源IP:..., 目的端口:80`).

NGAF and the WAF appliances share this `键:值, 键:值` format (programs fwlog, nat). The product
is NGAF unless the log type is the WAF's own `WEB应用防护` (with 策略名称/规则ID); a source
configured with the format "sangfor_waf" is always the WAF. The NGAF's web application protection
module (`WAF应用防护日志`) reports as a WAF (observer.type waf, product still NGAF): the WAF rules
(logsource category waf, routed by observer.type) must see it. Values may hold spaces and
colons, so pairs are split on ", " before a key. `时间`/`登录时间` are local times; `严重级别`/
`严重等级` (高, 中, 低) is the attack's severity.
"""

from __future__ import annotations

import re
from datetime import datetime

from soc.model import get_path, iso, set_path

from . import register_message, register_product
from .base import Doc, ParseContext, ParseError
from .kv import DATETIME, apply_fields, relate_ips, relate_user, set_observer_dataset, set_severity

_SNIFF = re.compile(r"日志类型[:：]")
# ", " followed by a key (CJK/latin, no comma or colon) and a colon: the next pair starts there.
_SPLIT = re.compile(r",\s(?=[^,:：\s][^,:：]{0,23}[:：])")

EXTRA: dict[str, str] = {
    "源IP": "source.ip",
    "源端口": "source.port",
    "目的IP": "destination.ip",
    "目的端口": "destination.port",
    "IP地址": "source.ip",
    "用户": "user.name",
    "攻击类型": "rule.category",
    "漏洞名称": "rule.name",
    "策略名称": "rule.ruleset",
    "规则ID": "rule.id",
    "严重级别": "event.severity_name",
    "严重等级": "event.severity_name",
    "URL": "url.original",
    "应用名称": "network.application",
    "转换后的IP": "source.nat.ip",
    "转换后的端口": "source.nat.port",
    "攻击方向": "network.direction",
    "操作对象": "soc.device.object",
    "描述": "event.reason",
    "NAT类型": "soc.device.nat_type",
}
_IANA = {"1": "icmp", "6": "tcp", "17": "udp", "58": "ipv6-icmp"}
_DENIED = frozenset({"拒绝", "阻断", "丢弃", "deny", "block"})
_ALLOWED = frozenset({"允许", "放行", "被记录", "记录", "allow"})


def _pairs(text: str) -> dict[str, str]:
    """The `键:值` pairs of the body, first occurrence of a key winning."""
    out: dict[str, str] = {}
    for part in _SPLIT.split(text.strip()):
        key, sep, value = _partition(part)
        if sep and key and key not in out:
            out[key.strip()] = value.strip()
    return out


def _partition(part: str) -> tuple[str, str, str]:
    """Split one `键:值` at the first ASCII or full-width colon."""
    idx = [i for i in (part.find(":"), part.find("：")) if i >= 0]
    if not idx:
        return part, "", ""
    i = min(idx)
    return part[:i], part[i], part[i + 1 :]


@register_message("sangfor_ngaf", sniff=lambda body: _SNIFF.match(body[:16]) is not None, priority=20)
def parse_ngaf_pairs(body: str, doc: Doc, ctx: ParseContext, product: tuple[str, str] | None = None) -> None:
    """Sangfor NGAF (or WAF) Chinese key-value log; `product` forces (product, observer.type)."""
    m = _SNIFF.search(body[:64])
    if m is None:
        raise ParseError("not_sangfor_ngaf", "no 日志类型:")
    pairs = _pairs(body[m.start():])
    log_type = pairs.get("日志类型", "")
    name, kind = ("waf", "waf") if log_type == "WEB应用防护" else ("ngaf", "waf" if "WAF" in log_type else "firewall")
    if product is not None:
        name, kind = product
    set_observer_dataset(doc, "sangfor", name, kind, name)
    set_path(doc, "soc.device.log_type", log_type)
    fields = {k: v for k, v in pairs.items() if k in EXTRA and v not in ("", "(null)", "-")}
    apply_fields(doc, fields, extra=EXTRA, keep_rest=False)
    set_severity(doc, get_path(doc, "event.severity_name"))
    if get_path(doc, "rule.name") is None and pairs.get("攻击类型"):
        set_path(doc, "rule.name", pairs["攻击类型"])  # the attack's name when no signature is named
    proto = pairs.get("协议", "").lower()
    if proto:
        set_path(doc, "network.transport", _IANA.get(proto, proto))
    action = pairs.get("系统动作") or pairs.get("动作") or pairs.get("操作") or pairs.get("操作类型") or ""
    if action:
        set_path(doc, "event.action", action)
    stamp = pairs.get("时间") or pairs.get("登录时间") or ""
    tm = DATETIME.search(stamp)
    if tm is not None:
        try:
            when = datetime(*(int(g) for g in tm.groups()), tzinfo=ctx.timezone)  # type: ignore[misc]
            key = "@timestamp" if "时间" in pairs else "event.start"
            if key == "@timestamp":
                doc["@timestamp"] = iso(when)
            else:
                set_path(doc, "event.start", iso(when))
        except ValueError:
            doc.setdefault("tags", []).append("_timestamp_invalid")
    cats: list[str]
    types = ["info"]
    if "WAF" in log_type or "WEB应用防护" in log_type:
        cats = ["web", "intrusion_detection", "network"]
        set_path(doc, "event.kind", "alert")
    elif "IPS" in log_type or "DOS" in log_type or "攻击" in log_type:
        cats = ["intrusion_detection", "network"]
        set_path(doc, "event.kind", "alert")
    elif "病毒" in log_type or "僵尸" in log_type:
        cats = ["malware", "network"]
        set_path(doc, "event.kind", "alert")
    elif "NAT" in log_type:
        cats, types = ["network"], ["connection"]
    elif "网站访问" in log_type or "应用" in log_type:
        cats, types = ["network", "web"], ["access"]
    elif "认证" in log_type or "VPN" in log_type:
        cats = ["authentication"]
        obj = pairs.get("操作对象", "") + action
        types = ["end"] if "注销" in obj else ["start"] if "登录" in obj else ["info"]
    elif "操作" in log_type:
        cats, types = ["configuration"], ["change"]
    else:
        cats = ["network"]
    if action in _DENIED:
        types = ["denied"]
    elif action in _ALLOWED and "network" in cats:
        types = ["allowed"] if types == ["info"] else types
    desc = pairs.get("描述", "")
    if "成功" in desc:
        set_path(doc, "event.outcome", "success")
    elif "失败" in desc:
        set_path(doc, "event.outcome", "failure")
    set_path(doc, "event.category", cats)
    set_path(doc, "event.type", types)
    relate_user(doc)
    relate_ips(doc, body)


# The same format from a source configured as a Sangfor WAF.
register_product("sangfor_waf", parse_ngaf_pairs, ("waf", "waf"))
