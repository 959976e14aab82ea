"""Anysec NSIDS / NSFW syslog to ECS: `%<date> <time> "<device>" <Mod>/LOG_<X>/<nn>: 键:值 …`."""

from __future__ import annotations

import re

from soc.model import set_path

from . import register_message
from .base import Doc, ParseContext, ParseError
from .kv import classify_event, exact_local_time, relate_ips, valid_ip

_HEAD = re.compile(r'%(\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}) "([^"]{1,64})" (\w{1,32})/(LOG_\w{1,32})/(\d{1,3}): ')
_PAIR = re.compile(r'(\S{1,16}?):("[^"]{0,1024}"|\S{1,1024})')


def sniff_anysec(body: str) -> bool:
    """Anysec: `%YYYY-MM-DD hh:mm:ss "<device>" <Mod>/LOG_…/<nn>: …`."""
    return body.startswith("%") and _HEAD.match(body) is not None


@register_message("anysec_nsids", sniff=sniff_anysec, priority=25)
def parse_anysec(body: str, doc: Doc, ctx: ParseContext) -> None:
    """Anysec NSIDS/NSFW management (CLI/web) records."""
    m = _HEAD.match(body)
    if m is None:
        raise ParseError("anysec_head", "no %time \"device\" Mod/LOG_X/nn head")
    stamp, device, module, log, level = m.groups()
    exact_local_time(doc, stamp, ctx)
    set_path(doc, "observer.name", device)
    set_path(doc, "log.level", level)
    pairs = {p.group(1): p.group(2).strip('"') for p in _PAIR.finditer(body, m.end())}
    if pairs.get("用户名"):
        set_path(doc, "user.name", pairs["用户名"])
        set_path(doc, "related.user", [pairs["用户名"]])
    if valid_ip(pairs.get("来源", "")):
        set_path(doc, "source.ip", valid_ip(pairs["来源"]))
    if pairs.get("动作"):
        set_path(doc, "event.action", pairs["动作"])
    if pairs.get("结果") in ("成功", "失败"):
        set_path(doc, "event.outcome", "success" if pairs["结果"] == "成功" else "failure")
    auth = "登录" in body or "随机码" in body
    classify_event(doc, "anysec", "nsids", "ids", log.lower(),
                   ["authentication"] if auth else ["configuration"], ["info"])
    relate_ips(doc, body)
