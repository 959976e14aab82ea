"""Chaitin SafeLine (长亭 雷池) WAF attack logs to ECS.

SafeLine sends one JSON object per attack detection over syslog: the community edition as RFC 5424
(`<30>1 <time> <host> /mario/mario 1 safeline_event - {…}`, UDP), the commercial editions as JSON
after a syslog header (Chaitin's forum, bbs.chaitin.cn/topic/97; the one public sample, third-party,
has `… safeline_event[1]: {…}`). The body is recognised by its keys (`event_id`,
`attack_type`, `risk_level`, `src_ip`), so a source need not be declared; a bare JSON line (no
syslog header) is read the same way.

Where each fact comes from (public sources; nothing here was observed on a live device):

- The syslog body's keys and value forms (`src_ip`, `src_port`, `dest_ip`, `dest_port`, `host`,
  `urlpath`, `query_string`, `method`, `protocol`/`scheme`, `event_id`, `rule_id`, `module`,
  `reason`, `payload`, `location`, `user_agent`, `referer`, `country`/`province`/`city`,
  `timestamp` (epoch seconds), `timestamp_human` (local time), `req_start_time` (epoch ms),
  `attack_type: "backdoor"`, `risk_level: "high"`, `action: "deny"`, `req_block_reason: "web"`,
  the `req_*` copies): the community edition's documentation, chaitin/SafeLine
  `documents/docs/02-guide/07-other_config.md` ("Syslog 设置", "syslog 内容详情"). The RFC 5424
  header of the community edition (its test message `<30>1 2024-03-20T20:02:38+08:00 55ae65e87e75
  /matio/mario (sic) 1 safeline_event - Connectivity test requested.`) is quoted from the same
  documentation in public copies (dev.to, csdn), not from the repository.
- The numeric forms of the detection log (`attack_type`, `risk_level`, `action` as integers,
  `url_path`, `dst_ip`, `dst_port`, `protocol` 0/1/2, `status_code`, `rule_id` forms
  `m_rule/<id>`, `/<custom rule>`, `m_<module>`): chaitin/SafeLine
  `management/webserver/model/detectlog.go`; the attack-type codes (`ATTACK_TYPES`), the module
  names (`MODULES`) and the protocol codes: `management/webserver/pkg/constants/detectlog.go`.
- `risk_level` 1/2/3 = low/medium/high: chaitin/safeline-open-platform
  `series_10/plugin_demo/半小时内发现3次高危攻击就封IP/plugin.lua` ("3 代表只统计高危，2 代表统计中高危，
  1代表统计中高低危"); `risk_level` as a string and `action` as an integer (拦截/放行):
  `series_20/plugin_sdk.md`; `req_block_reason` present only when the request was blocked: the
  same file (access_log fields).

Not established, so not guessed: what the integer `action` values mean (kept under
soc.device.action, no event.action), `risk_level` 0 (no soc.severity), and the complete list of
the string `attack_type` values (kept as the device wrote them, in rule.category).
"""

from __future__ import annotations

import re
from typing import Any

import orjson

from soc.model import get_path, set_path

from . import register_message
from .base import Doc, ParseContext, ParseError
from .kv import epoch_time, exact_local_time, finish_event, set_endpoint, set_severity, set_url

VENDOR = "chaitin"
PRODUCT = "safeline"

# attack_type codes -> the names SafeLine's console shows (constants.AttackType).
ATTACK_TYPES: dict[int, str] = {
    -4: "超长数据", -3: "黑名单", -2: "白名单", -1: "非攻击",
    0: "SQL 注入", 1: "XSS", 2: "CSRF", 3: "SSRF", 4: "拒绝服务", 5: "后门", 6: "反序列化", 7: "代码执行",
    8: "代码注入", 9: "命令注入", 10: "文件上传", 11: "文件包含", 12: "重定向", 13: "权限不当", 14: "信息泄露",
    15: "未授权访问", 16: "不安全的配置", 17: "XXE", 18: "XPath 注入", 19: "LDAP 注入", 20: "目录穿越",
    21: "扫描器", 22: "水平权限绕过", 23: "垂直权限绕过", 24: "文件修改", 25: "文件读取", 26: "文件删除",
    27: "逻辑错误", 28: "CRLF 注入", 29: "模板注入", 30: "点击劫持", 31: "缓冲区溢出", 32: "整数溢出",
    33: "格式化字符串", 34: "条件竞争", 35: "HTTP 协议违规", 61: "超时", 62: "未知", 63: "威胁情报",
    64: "Cookie 篡改",
}  # fmt: skip

# Detection modules (rule_id / module `m_…`) -> the names SafeLine's console shows (constants.RuleModule).
MODULES: dict[str, str] = {
    "m_sqli": "SQL 注入检测模块", "m_xss": "XSS 检测模块", "m_csrf": "CSRF 检测模块", "m_ssrf": "SSRF 检测模块",
    "m_php_unserialize": "PHP 反序列化检测模块", "m_java_unserialize": "Java 反序列化检测模块",
    "m_file_upload": "文件上传攻击检测模块", "m_file_include": "文件包含攻击检测模块",
    "m_php_code_injection": "PHP 代码注入检测模块", "m_java": "Java 代码注入检测模块",
    "m_cmd_injection": "命令注入检测模块", "m_response": "服务器响应检测模块", "m_scanner": "机器人检测模块",
    "m_http": "畸形 HTTP 协议检测模块", "m_asp_code_injection": "ASP 代码注入检测模块", "m_ssti": "模板注入检测模块",
    "m_rule": "通用漏洞模块",
}  # fmt: skip

# Integer risk_level -> soc.severity (1 low, 2 medium, 3 high; 0 is not documented).
RISK_LEVELS: dict[str, str] = {"1": "low", "2": "medium", "3": "high"}
# Integer protocol of the detection log -> URL scheme (2 is HTTP/2, which SafeLine serves over TLS only).
PROTOCOLS: dict[int, str] = {0: "http", 1: "https", 2: "https"}

_DENY = frozenset({"deny", "denied", "block", "blocked", "drop", "reject", "intercept"})
_PASS = frozenset({"pass", "allow", "allowed", "accept", "permit"})
_SIGNATURE = ('"event_id"', '"attack_type"', '"risk_level"', '"src_ip"')
# `"key": value` pairs of a truncated JSON object (a UDP datagram cut short), first one wins.
_JSON_PAIR = re.compile(r"\"(\w{1,64})\"\s*:\s*(?:\"((?:[^\"\\]|\\.){0,65536})\"|(-?\d{1,20}))")
_HOST_PORT = re.compile(r"(.+?):(\d{1,5})")
# Scalar fields kept as the device wrote them, under soc.device.*.
_KEEP = ("attack_type", "risk_level", "action", "module", "payload", "location", "decode_path", "site_url",
         "site_uuid", "socket_ip", "upstream_addr", "req_block_reason", "rsp_block_reason", "node")


def sniff_safeline(body: str) -> bool:
    """A JSON object carrying SafeLine's detection-log keys."""
    return body[:16].lstrip().startswith("{") and all(key in body for key in _SIGNATURE)


def _loose(text: str) -> dict[str, Any]:
    """The scalar pairs of a JSON text that does not parse (cut short): strings and integers."""
    out: dict[str, Any] = {}
    for m in _JSON_PAIR.finditer(text):
        if m.group(1) in out:
            continue
        if m.group(3) is not None:
            out[m.group(1)] = int(m.group(3))
            continue
        raw = m.group(2)
        try:
            value = orjson.loads(f'"{raw}"')
        except orjson.JSONDecodeError:
            value = raw
        out[m.group(1)] = value
    return out


def _text(rec: dict[str, Any], *keys: str) -> str | None:
    """The first of keys with a non-empty string (stripped) or number value, as text."""
    for key in keys:
        value = rec.get(key)
        if isinstance(value, str) and value.strip():
            return value.strip()
        if isinstance(value, int | float) and not isinstance(value, bool):
            return str(value)
    return None


def _int(rec: dict[str, Any], *keys: str) -> int | None:
    """The first of keys with an integer value (or a string of digits, sign allowed)."""
    for key in keys:
        value = rec.get(key)
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, str) and re.fullmatch(r"-?\d{1,19}", value.strip()):
            return int(value)
    return None


def _numeric(value: str | None) -> int | None:
    return int(value) if value is not None and re.fullmatch(r"-?\d{1,19}", value) else None


def _time(doc: Doc, rec: dict[str, Any], ctx: ParseContext) -> None:
    """@timestamp: `timestamp` (epoch seconds), else `timestamp_human` (local), else `req_start_time` (ms)."""
    epoch = _text(rec, "timestamp")
    human = _text(rec, "timestamp_human")
    if epoch is not None and epoch != "0":
        epoch_time(doc, epoch, fractional=True)
    elif human is not None:
        exact_local_time(doc, human, ctx)
    elif _text(rec, "req_start_time") is not None:
        epoch_time(doc, _text(rec, "req_start_time"), fractional=True)


def _url(doc: Doc, rec: dict[str, Any]) -> None:
    """url.* from host, urlpath / url_path, query_string, scheme / protocol and the site port."""
    scheme = _text(rec, "scheme", "protocol")
    code = _numeric(scheme)
    scheme = PROTOCOLS.get(code) if code is not None else scheme.lower() if scheme else None
    path = _text(rec, "urlpath", "url_path")
    query = _text(rec, "query_string")
    if path is not None:
        set_url(doc, f"{path}?{query}" if query and "?" not in path else path)
    elif query is not None:
        set_path(doc, "url.query", query)
    host = _text(rec, "host")
    if host is not None:
        if host.startswith("["):  # [IPv6]:port
            host = host[1:].split("]", 1)[0]
        else:
            m = _HOST_PORT.fullmatch(host)
            if m is not None and ":" not in m.group(1):
                host = m.group(1)
        if host:
            set_path(doc, "url.domain", host)
    if scheme in ("http", "https"):
        set_path(doc, "url.scheme", scheme)
        set_path(doc, "network.protocol", "http")
    port = get_path(doc, "destination.port")
    if port is not None and host is not None:
        set_path(doc, "url.port", port)


def _rule(doc: Doc, rec: dict[str, Any]) -> None:
    """rule.id, rule.category (the attack type) and rule.name (the reason, the custom rule or the
    detection module, else the attack type)."""
    rule_id = _text(rec, "rule_id", "req_rule_id", "rsp_rule_id")
    attack = _text(rec, "attack_type", "req_attack_type", "rsp_attack_type")
    code = _numeric(attack)
    category = ATTACK_TYPES.get(code) if code is not None else attack
    if rule_id is not None:
        set_path(doc, "rule.id", rule_id)
    if category:
        set_path(doc, "rule.category", category)
    name = _text(rec, "reason")
    if name is None and rule_id is not None and rule_id.startswith("/") and len(rule_id) > 1:
        name = rule_id[1:]  # a custom black / white list rule, named by its path
    if name is None and rule_id is not None and rule_id != "m_rule":
        name = MODULES.get(rule_id)
    name = name or category
    if name:
        set_path(doc, "rule.name", name)


def _action(doc: Doc, rec: dict[str, Any]) -> list[str]:
    """event.action from a word; event.type denied / allowed / info."""
    action = _text(rec, "action", "req_action", "rsp_action")
    word = action.lower() if action is not None and _numeric(action) is None else None
    if word:
        set_path(doc, "event.action", word)
    if word in _DENY:
        return ["denied"]
    if word in _PASS:
        return ["allowed"]
    if word is None and _text(rec, "req_block_reason", "rsp_block_reason"):
        return ["denied"]  # only present when the request (or its response) was blocked
    return ["info"]


def _severity(doc: Doc, rec: dict[str, Any]) -> None:
    """log.level (a word) or event.severity (a number), and soc.severity."""
    risk = _text(rec, "risk_level", "req_risk_level", "rsp_risk_level")
    code = _numeric(risk)
    if code is not None:
        set_path(doc, "event.severity", code)
        set_severity(doc, str(code), RISK_LEVELS)
    elif risk is not None:
        set_path(doc, "log.level", risk)
        set_severity(doc, risk)


@register_message("chaitin_safeline", sniff=sniff_safeline, priority=20)
def parse_safeline(body: str, doc: Doc, ctx: ParseContext) -> None:
    """SafeLine attack detection records (community and commercial editions, string or numeric codes)."""
    brace = body.find("{")
    if brace < 0:
        raise ParseError("safeline_no_json", "no JSON object")
    text = body[brace:].strip()
    partial = False
    try:
        rec: Any = orjson.loads(text)
    except orjson.JSONDecodeError:
        rec = None
    if not isinstance(rec, dict):
        rec = _loose(text)
        partial = True
        if not rec:
            raise ParseError("safeline_json", "not a JSON object")

    set_endpoint(doc, "source", _text(rec, "src_ip"), _int(rec, "src_port"))
    set_endpoint(doc, "destination", _text(rec, "dest_ip", "dst_ip"), _int(rec, "dest_port", "dst_port"))
    _url(doc, rec)
    for key, field in (("method", "http.request.method"), ("referer", "http.request.referrer"),
                       ("user_agent", "user_agent.original"), ("event_id", "event.id"),
                       ("province", "source.geo.region_name"),
                       ("city", "source.geo.city_name")):
        value = _text(rec, key)
        if value is not None:
            set_path(doc, field, value)
    country = _text(rec, "country")
    if country is not None:  # an ISO 3166 code ("US", "CN"); a name otherwise
        iso_code = len(country) == 2 and country.isascii() and country.isalpha()
        set_path(doc, "source.geo.country_iso_code" if iso_code else "source.geo.country_name",
                 country.upper() if iso_code else country)
    status = _int(rec, "resp_status_code", "status_code")
    if status is not None and 100 <= status <= 999:
        set_path(doc, "http.response.status_code", status)
    for key in _KEEP:
        value = _text(rec, key)
        if value is not None:
            set_path(doc, f"soc.device.{key}", value)
    _rule(doc, rec)
    etype = _action(doc, rec)
    _severity(doc, rec)
    _time(doc, rec, ctx)
    if partial:
        doc.setdefault("tags", []).append("_parse_partial")
    finish_event(doc, body, VENDOR, PRODUCT, "waf", "attack", ["web", "intrusion_detection"], etype, alert=True)
