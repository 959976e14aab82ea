"""DBAPPSecurity (安恒) devices to ECS: the APT sensor (`dbapp APT~…` tilde records), DAS-TGFW firewall
(`dataAll <type> …` JSON fragments), the DAS-Gateway (`<host>;<serial>;ipv4;3; <type>:k=v;…`) and the
DBAppWAF (`键/值,` pairs, Chinese or English keys).

The DAS-Gateway shape is also sent by OEM builds of the same gateway (sold under other brands);
nothing in a line names the brand, so the shape is attributed to DBAPPSecurity.
"""

from __future__ import annotations

import re
from datetime import datetime

from soc.model import get_path, iso, set_path

from . import register_message
from .base import Doc, ParseContext, ParseError
from .kv import (
    SYSLOG_SEVERITY, apply_fields, finish_event, local_time, set_severity, set_transport_or_protocol, split_kv,
    valid_ip,
)

VENDOR = "dbappsecurity"
_TS = re.compile(r"(\d{4})-(\d{2})-(\d{2})[ T](\d{1,2}):(\d{2}):(\d{2})")
_TRANSPORTS = frozenset({"tcp", "udp", "icmp", "icmpv6", "sctp", "gre", "arp"})


def _ip_port(doc: Doc, value: str, prefix: str) -> None:
    ip, _, port = value.rpartition(":")
    if valid_ip(ip):
        set_path(doc, f"{prefix}.ip", valid_ip(ip))
        if port.isdigit():
            set_path(doc, f"{prefix}.port", int(port))


# --------------------------------------------------------------------------- APT sensor

def sniff_apt(body: str) -> bool:
    """DBAPPSecurity APT: `… dbapp APT~<type>~…`."""
    return " dbapp APT~" in body[:60]


@register_message("dbappsecurity_apt", sniff=sniff_apt, priority=25)
def parse_apt(body: str, doc: Doc, ctx: ParseContext) -> None:
    """DBAPPSecurity APT sensor alerts (web backdoors, exploits)."""
    at = body.find("APT~")
    f = body[at:].split("~")
    if len(f) < 11:
        raise ParseError("dbapp_apt_short", f"{len(f)} fields")
    local_time(doc, f[3], ctx, _TS)
    _ip_port(doc, f[4], "source")
    _ip_port(doc, f[5], "destination")
    set_path(doc, "rule.category", f[6])
    set_path(doc, "rule.name", f[7])
    set_path(doc, "log.level", f[9])
    set_severity(doc, f[9])  # 高, 中, 低
    set_path(doc, "soc.device.alert_id", f[10])
    if len(f) > 12 and f[12] not in ("", "NULL"):
        method, _, path = f[12].partition(" ")
        if method.isupper() and path.startswith("/"):
            set_path(doc, "http.request.method", method)
            set_path(doc, "url.path", path)
    if len(f) > 15 and f[15].isdigit():
        set_path(doc, "http.response.status_code", int(f[15]))
    set_path(doc, "event.action", f[7] or "alert")
    finish_event(doc, body[:4096], VENDOR, "apt", "ids", "apt", ["intrusion_detection", "network"], ["info"],
                 alert=True)


# --------------------------------------------------------------------------- DAS-TGFW

_JSON_PAIR = re.compile(r"\"(\w{1,64})\"\s*:\s*(?:\"((?:[^\"\\\\]|\\\\.){0,4096})\"|([^,}\s\"]{1,256}))")
_TGFW = re.compile(r"dataAll (\w{1,32}) (?:\S{1,128} ){0,4}?(\d{4}-\d{2}-\d{2}T\S{1,40}) (.*)", re.S)


def sniff_tgfw(body: str) -> bool:
    """DAS-TGFW: `dataAll <type> <name> <logger> <RFC3339> "k":"v",…`."""
    return body.startswith("dataAll ") and _TGFW.match(body) is not None


@register_message("dbappsecurity_tgfw", sniff=sniff_tgfw, priority=25)
def parse_tgfw(body: str, doc: Doc, ctx: ParseContext) -> None:
    """DAS-TGFW operation, IPS, content-security and anti-DDoS logs."""
    m = _TGFW.match(body)
    if m is None:
        raise ParseError("tgfw_shape", "not a DAS-TGFW record")
    log_type, stamp, rest = m.groups()
    try:
        doc["@timestamp"] = iso(datetime.fromisoformat(stamp[:26].rstrip("Z") + "+00:00"))
    except ValueError:
        doc.setdefault("tags", []).append("_timestamp_invalid")
    pairs = {m.group(1): m.group(2) if m.group(2) is not None else m.group(3) for m in _JSON_PAIR.finditer(rest)}
    proto = pairs.pop("proto", None)
    extra = {"operatoruser": "user.name", "operatorip": "source.ip", "hit_rule": "rule.name", "sid": "rule.id",
             "hit_profile": "rule.ruleset", "attack_type": "rule.name", "message": "soc.device.msg"}
    apply_fields(doc, pairs, extra=extra)
    if proto and proto.lower() in _TRANSPORTS:
        set_path(doc, "network.transport", proto.lower())
    set_path(doc, "event.action", log_type)
    if log_type == "operationlog":
        finish_event(doc, body, VENDOR, "das-tgfw", "firewall", "operation", ["configuration"], ["change"])
    else:
        finish_event(doc, body, VENDOR, "das-tgfw", "firewall", log_type, ["intrusion_detection", "network"], ["info"],
                     alert=True)


# --------------------------------------------------------------------------- DAS-Gateway

_GW = re.compile(r"([^;]{1,40});\s?(\d{20,30});\s?ipv[46];\s?\d;\s?(\w{1,40}):\s?")
_GW_KEYS = {
    "operator_name": "user.name", "operate_ip": "source.ip", "event_name": "rule.name", "event_id": "rule.id",
    "defend_type": "rule.category", "name": "rule.name", "type": "rule.category", "ti_threat": "rule.name",
    "behavior_name_en": "rule.name", "server_addr": "destination.ip", "url_domain": "url.domain",
    "web_name": "url.domain", "app_name": "network.application", "in_if_name": "observer.ingress.interface.name",
    "in_interface": "observer.ingress.interface.name", "out_interface": "observer.egress.interface.name",
    "waf_method": "http.request.method", "login": "user.name", "policy_name": "rule.ruleset",
    "policyid": "rule.id", "port": "destination.port", "user_name": "soc.device.user_name",
    "policy_id": "soc.device.policy_id",
}  # fmt: skip
_GW_NETWORK = frozenset({"policy_detail", "servconn_policy", "web_access", "malware_app", "social_log"})


def sniff_gateway(body: str) -> bool:
    """DAS-Gateway: `<host>;<serial>;ipv4;3; <type>:k=v;…`."""
    head = body[:90]
    return ("ipv4;" in head or "ipv6;" in head) and _GW.match(body) is not None


@register_message("dbappsecurity_gateway", sniff=sniff_gateway, priority=25)
def parse_gateway(body: str, doc: Doc, ctx: ParseContext) -> None:
    """DAS-Gateway operation, IPS, attack-defence, WAF, threat-intelligence and policy logs."""
    m = _GW.match(body)
    if m is None:
        raise ParseError("gateway_shape", "not a DAS-Gateway record")
    host, serial, log_type = m.group(1).strip(), m.group(2), m.group(3)
    set_path(doc, "observer.serial_number", serial)
    if host.upper() != "HOST":
        set_path(doc, "observer.name", host)
    text = body[m.end():]
    pairs = split_kv(text, "=:")
    proto = pairs.pop("protocol", None) or pairs.pop("proto", None)
    apply_fields(doc, pairs, extra=_GW_KEYS)
    set_transport_or_protocol(doc, proto, _TRANSPORTS)
    if pairs.get("app_protocol"):
        set_path(doc, "network.protocol", pairs["app_protocol"].lower())
    stamp = re.search(r"(?:create_time|ctime|time)=(\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2})", text)
    if stamp:
        local_time(doc, stamp.group(1), ctx, _TS)
    action = get_path(doc, "event.action")
    if isinstance(action, str):
        set_path(doc, "event.action", action.strip().lower())
    else:
        set_path(doc, "event.action", log_type)
    set_path(doc, "event.code", log_type)
    set_severity(doc, pairs.get("level"), SYSLOG_SEVERITY)  # level: a syslog level (notice, warning, 4)
    if log_type == "operate":
        result = pairs.get("result", "")
        if result in ("success", "成功"):
            set_path(doc, "event.outcome", "success")
        elif result in ("fail", "failure", "失败"):
            set_path(doc, "event.outcome", "failure")
        finish_event(doc, body, VENDOR, "das-gateway", "utm", log_type, ["configuration"], ["change"])
    elif log_type in _GW_NETWORK:
        category = ["web", "network"] if "url" in pairs or "web_name" in pairs else ["network"]
        finish_event(doc, body, VENDOR, "das-gateway", "utm", log_type, category, ["connection"])
    else:
        category = ["web", "intrusion_detection"] if log_type.startswith("waf") else ["intrusion_detection", "network"]
        finish_event(doc, body, VENDOR, "das-gateway", "utm", log_type, category, ["info"], alert=True)


# --------------------------------------------------------------------------- DBAppWAF

_WAF_KEY = re.compile(r"(?:^|,)(HTTP/S响应码|[^,/]{1,24})/")
_WAF_KEYS = {
    "事件": "rule.name", "威胁": "log.level", "请求方法": "http.request.method", "URL地址": "url.original",
    "服务器IP": "destination.ip", "主机名": "url.domain", "服务器端口": "destination.port",
    "客户端IP": "source.ip", "客户端端口": "source.port", "客户端环境": "user_agent.original", "动作": "event.action",
    "HTTP/S响应码": "http.response.status_code", "触发规则": "rule.id", "标签": "rule.category",
    "msg_id": "rule.id", "severity_id": "log.level", "url": "url.original", "hostname": "url.domain",
    "happentime": "soc.device.happentime", "发生时间": "soc.device.happentime",
}  # fmt: skip


def sniff_dbappwaf(body: str) -> bool:
    """DBAppWAF body: `发生时间/…,威胁/…` or `happentime/…,severity_id/…`."""
    return body.startswith(("发生时间/", "happentime/"))


@register_message("dbappsecurity_waf", sniff=sniff_dbappwaf, programs=("DBAppWAF",), priority=25)
def parse_dbappwaf(body: str, doc: Doc, ctx: ParseContext) -> None:
    """DBAppWAF web attack and protocol-violation alerts."""
    keys = list(_WAF_KEY.finditer(body))
    if not keys:
        raise ParseError("dbappwaf_shape", "no key/value pairs")
    pairs: dict[str, str] = {}
    for i, km in enumerate(keys):
        end = keys[i + 1].start() if i + 1 < len(keys) else len(body)
        pairs.setdefault(km.group(1).strip(), body[km.end():end].strip())
    apply_fields(doc, pairs, extra=_WAF_KEYS)
    local_time(doc, pairs.get("发生时间") or pairs.get("happentime") or "", ctx, _TS)
    # 威胁: 高, 中, 低. The English form's severity_id (2 in the corpus) has no scale we can tell.
    set_severity(doc, pairs.get("威胁"))
    finish_event(doc, body, VENDOR, "waf", "waf", "waf", ["web", "intrusion_detection"], ["info"], alert=True)
