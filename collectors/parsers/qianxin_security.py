"""Qianxin (奇安信 / 网神) devices to ECS: NSG firewall, SkyEye / NDS sensors (`skyeye_*` key="value"
and the `time|!ip|!type|!{json}` shape), the server security system (CEF) and the SSL VPN gateway.
"""

from __future__ import annotations

import re

from soc.model import get_path, set_path

from . import register_message
from .base import Doc, ParseContext, ParseError
from .cef import parse_cef
from .kv import (
    SYSLOG_SEVERITY, apply_fields, epoch_time, finish_event, local_time, set_severity, set_transport_or_protocol,
    split_kv,
)

VENDOR = "qianxin"
_TS = re.compile(r"(\d{4})[-/]?(\d{2})[-/]?(\d{2})[ T](\d{1,2}):(\d{2}):(\d{2})")


# --------------------------------------------------------------------------- NSG firewall

_NSG_KEYS = {
    "addr_src": "source.ip", "addr_dst": "destination.ip", "port_src": "source.port", "port_dst": "destination.port",
    "nataddr_src": "source.nat.ip", "nataddr_dst": "destination.nat.ip", "natport_src": "source.nat.port",
    "natport_dst": "destination.nat.port", "appname": "network.application", "rule": "rule.name",
    "user_src": "user.name", "interface_src": "observer.ingress.interface.name",
    "interface_dst": "observer.egress.interface.name", "zone_src": "observer.ingress.zone",
    "zone_dst": "observer.egress.zone", "dname": "observer.name", "serial": "observer.serial_number",
    "mail_from": "email.from.address", "mail_to": "email.to.address", "url": "url.original",
}  # fmt: skip


def sniff_nsg(body: str) -> bool:
    """Qianxin/网神 NSG firewall: `devid="…" dname="…" serial="…" module="…"`."""
    head = body[:160]
    return head.startswith('devid="') and ' dname="' in head and ' serial="' in head


@register_message("qianxin_nsg", sniff=sniff_nsg, priority=25)
def parse_nsg(body: str, doc: Doc, ctx: ParseContext) -> None:
    """Qianxin NSG firewall threat, traffic, URL, IM and mail logs."""
    pairs = split_kv(body, "=")
    for key in ("nataddr_src", "nataddr_dst"):
        if pairs.get(key) == "::":
            pairs.pop(key)
    for key in ("natport_src", "natport_dst"):
        if pairs.get(key) == "0":
            pairs.pop(key)
    proto = pairs.pop("proto", None)
    apply_fields(doc, pairs, extra=_NSG_KEYS)
    set_transport_or_protocol(doc, proto)
    if pairs.get("time"):
        epoch_time(doc, pairs["time"])
    action = pairs.get("action", "").lower()
    log_type = pairs.get("type", "")
    threat = log_type == "threat" or pairs.get("module") in ("ad", "ips", "av")
    category = ["intrusion_detection", "network"] if threat else ["network"]
    etype = ["connection"]
    if action in ("drop", "deny", "block", "reset"):
        etype.append("denied")
    elif action in ("permit", "allow"):
        etype.append("allowed")
    if log_type.startswith("traffic-"):
        etype.append("start" if log_type.endswith("start") else "end")
    set_severity(doc, pairs.get("severity"), SYSLOG_SEVERITY)  # a syslog level name: emerg ... info
    finish_event(doc, body, VENDOR, "nsg", "firewall", "nsg", category, etype, alert=threat)


# --------------------------------------------------------------------------- SkyEye / NDS sensors

_SKYEYE_KEYS = {
    "sip": "source.ip", "dip": "destination.ip", "sport": "source.port", "dport": "destination.port",
    "rule_name": "rule.name", "rule_id": "rule.id", "host": "url.domain", "uri": "url.path", "url": "url.path",
    "agent": "user_agent.original", "method": "http.request.method", "vuln_type": "rule.category",
    "attack_type": "rule.category", "rule_desc": "rule.name", "src_mac": "source.mac", "dst_mac": "destination.mac",
    "file_md5": "file.hash.md5", "filename": "file.name", "malicious_family": "threat.software.name",
    "vuln_name": "rule.name", "device_ip": "observer.ip", "serial_num": "observer.serial_number",
    "app_name": "network.application",
}  # fmt: skip


def sniff_skyeye(body: str) -> bool:
    """Qianxin SkyEye / NDS sensor: `skyeye_<type> key="value" …`."""
    return body.startswith("skyeye_")


@register_message("qianxin_skyeye", sniff=sniff_skyeye, priority=25)
def parse_skyeye(body: str, doc: Doc, ctx: ParseContext) -> None:
    """Qianxin SkyEye / NDS web-attack, IDS, IOC and file alerts."""
    log_type, _, rest = body.partition(" ")
    pairs = split_kv(rest, "=")
    proto = pairs.pop("proto", None)
    apply_fields(doc, pairs, extra=_SKYEYE_KEYS)
    set_transport_or_protocol(doc, proto or pairs.get("protol7_name"))
    for key in ("write_date", "access_time"):
        if pairs.get(key):
            epoch_time(doc, pairs[key])
            break
    set_path(doc, "event.action", log_type)
    finish_event(doc, body, VENDOR, "skyeye", "ids", log_type, ["intrusion_detection", "network"], ["info"],
                 alert=True)


_PIPE_HEAD = re.compile(r"(\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2})\|!([^|]{1,64})\|!([\w\-.]{1,64})\|!")
_JSON_PAIR = re.compile(r"\"(\w{1,64})\"\s*:\s*(?:\"((?:[^\"\\]|\\.){0,4096})\"|([^,}\]\s]{1,256}))")


def sniff_skyeye_pipe(body: str) -> bool:
    """Qianxin SkyEye sensor (天眼) pipe shape: `YYYY-MM-DD hh:mm:ss|!<ip>|!<type>|!<json>`."""
    return body[19:21] == "|!" and _PIPE_HEAD.match(body) is not None


@register_message("qianxin_skyeye_pipe", sniff=sniff_skyeye_pipe, priority=25)
def parse_skyeye_pipe(body: str, doc: Doc, ctx: ParseContext) -> None:
    """Qianxin SkyEye `time|!sensor|!type|!{json}` alerts and sensor status."""
    m = _PIPE_HEAD.match(body)
    if m is None:
        raise ParseError("skyeye_pipe_head", "no time|!ip|!type|! head")
    local_time(doc, m.group(1), ctx, _TS)
    set_path(doc, "observer.hostname", m.group(2))
    log_type = m.group(3)
    pairs: dict[str, str] = {}
    for pm in _JSON_PAIR.finditer(body, m.end()):
        value = pm.group(2) if pm.group(2) is not None else pm.group(3)
        pairs.setdefault(pm.group(1), value)
    pairs.pop("name", None)
    pairs.pop("value", None)
    if "attacker" in pairs and "sip" not in pairs:
        pairs["sip"] = pairs["attacker"]
    if "victim" in pairs:
        pairs.setdefault("dip", pairs["victim"])
    apply_fields(doc, pairs, extra=_SKYEYE_KEYS)
    set_path(doc, "event.action", log_type)
    if log_type == "log":
        finish_event(doc, body, VENDOR, "skyeye", "ids", "sensor_status", ["host"], ["info"])
    else:
        finish_event(doc, body, VENDOR, "skyeye", "ids", "webids", ["intrusion_detection", "web"], ["info"],
                     alert=True)


# --------------------------------------------------------------------------- server security (CEF)

def sniff_qianxin_cef(body: str) -> bool:
    """Qianxin CEF (`CEF:0|Qianxin|…`, also after a header that split `CEF:` off as the tag)."""
    head = body[:200]
    return head.startswith("0|Qianxin|") or "CEF:0|Qianxin|" in head or "CEF: 0|Qianxin|" in head


@register_message("qianxin_cef", sniff=sniff_qianxin_cef, priority=5)
def parse_qianxin_cef(body: str, doc: Doc, ctx: ParseContext) -> None:
    """Qianxin 统一服务器安全管理系统 CEF events (logins, integrity monitoring, host firewall)."""
    text = "CEF:" + body if body.startswith("0|") else body
    parse_cef(text.replace("\t", " "), doc, ctx)
    ext = get_path(doc, "cef.extensions") or {}
    pairs = {k: v for k, v in ext.items() if isinstance(v, str)}
    extra = {
        "sourceip": "source.ip", "destip": "destination.ip", "sourceport": "source.port", "destport": "destination.port",
        "IP": "source.ip", "address": "observer.ip", "operator": "user.name", "rulename": "rule.name",
        "vm": "host.name", "filepath": "file.path",
    }  # fmt: skip
    apply_fields(doc, pairs, extra=extra, keep_rest=False)
    if pairs.get("time"):
        local_time(doc, pairs["time"], ctx, _TS)
    name = str(get_path(doc, "cef.name") or "")
    if "登录" in name:
        category, etype = ["authentication"], ["start"]
        set_path(doc, "event.action", "login")
        set_path(doc, "event.outcome", "failure" if "失败" in name else "success")
    elif "防火墙" in name:
        category, etype = ["network"], ["connection"]
    elif "完整性" in name:
        category, etype = ["file", "host"], ["change"]
    else:
        category, etype = ["host"], ["info"]
    finish_event(doc, body, VENDOR, "server_security", "utm", "server_security", category, etype)


# --------------------------------------------------------------------------- SSL VPN

_VPN = re.compile(r"(\d{8}) (\d{2}:\d{2}:\d{2}) (\S{1,64}) \|(\d)\|(0x[0-9a-fA-F]{8})\|([^|]{0,64})\|([^|]{0,64})\|"
                  r"([^|]{0,256})\|([^|]{0,64})\|(.*)", re.S)


def sniff_sslvpn(body: str) -> bool:
    """Qianxin SSL VPN: `YYYYMMDD hh:mm:ss <module> |<level>|0x<code>|<type>|<action>|<user>|<result>|<msg>`."""
    return body[8:9] == " " and "|0x" in body[:60] and _VPN.match(body) is not None


@register_message("qianxin_sslvpn", sniff=sniff_sslvpn, priority=25)
def parse_sslvpn(body: str, doc: Doc, ctx: ParseContext) -> None:
    """Qianxin SSL VPN gateway user and admin events."""
    m = _VPN.match(body)
    if m is None:
        raise ParseError("sslvpn_shape", "not a Qianxin SSL VPN line")
    day, clock, module, level, code, obj, action, user, result, msg = m.groups()
    local_time(doc, f"{day} {clock}", ctx, _TS)
    set_path(doc, "event.code", code)
    set_path(doc, "log.level", level)
    set_path(doc, "event.action", action.strip().lower())
    if user.strip():
        set_path(doc, "user.name", user.strip())
    res = result.strip().lower()
    if res in ("success", "failure", "failed", "fail"):
        set_path(doc, "event.outcome", "success" if res == "success" else "failure")
    set_path(doc, "soc.device.module", module)
    set_path(doc, "soc.device.msg", msg.strip())
    auth = action.strip().lower() in ("login", "logout", "auth")
    finish_event(doc, body, VENDOR, "sslvpn", "vpn", "sslvpn", ["authentication"] if auth else ["network"],
                 ["start"] if auth else ["info"])
