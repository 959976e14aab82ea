"""Topsec NGTOS logs (`id="ngtos" version=... time=... dev=... type=... recorder=...`) to ECS.

NGTOS is the OS of Topsec's NGFW/IFW firewalls, TopADS anti-DDoS, TopVPN/VONE SSL VPN, TopSAG 3.x
bastion, TopAPP/TopAD load balancers and TopVAS/TopScanner. The `version` string names the product
(`_NGFW`, `_IFW`, `_ads`, `NGVONE`/`v3.2000`, `_TAD`, `_TVS`, `_ICS`). The `time` field is UTC:
lines that also carry the device's local clock (TopADS `cur_t`, a TopVAS message, a TopAPP proxy
message) are 8 hours ahead of it on Beijing-time devices.
"""

from __future__ import annotations

import re
from datetime import UTC

from soc.model import get_path, set_path

from . import register_message, register_product
from .base import Doc, ParseContext, ParseError
from .kv import (
    SYSLOG_SEVERITY, apply_fields, field_time, relate_ips, relate_user, set_observer_dataset, set_severity,
    split_kv_with_empty, valid_ip,
)

_SNIFF = re.compile(r'id="?ngtos"?\s+version=', re.IGNORECASE)
_IP_LIST = re.compile(r"[0-9A-Fa-f:.]{3,45}")

# Vendor keys -> ECS (ECS_KEYS already knows src/dst/sport/dport/user/action/url/...).
EXTRA: dict[str, str] = {
    "dev": "observer.name",
    "srcport": "source.port",
    "dstport": "destination.port",
    "src_addr": "source.ip",
    "dst_addr": "destination.ip",
    "dst_port": "destination.port",
    "srcipv4": "source.ip",
    "dstipv4": "destination.ip",
    "srcport_": "source.port",
    "trans_sip": "source.nat.ip",
    "trans_dip": "destination.nat.ip",
    "trans_sport": "source.nat.port",
    "trans_dport": "destination.nat.port",
    "smac": "source.mac",
    "dmac": "destination.mac",
    "policyid": "rule.id",
    "policyname": "rule.name",
    "rid": "rule.id",
    "attack_type": "rule.category",
    "atk_type": "rule.category",
    "appname": "network.application",
    "application": "network.application",
    "virus_name": "rule.name",
    "filename": "file.name",
    "sdev": "observer.ingress.interface.name",
    "indev": "observer.ingress.interface.name",
    "send_bytes": "source.bytes",
    "rcv_bytes": "destination.bytes",
    "sender": "email.from.address",
    "receiver": "email.to.address",
    "subject": "email.subject",
    "req_method": "http.request.method",
    "req_url": "url.original",
    "referer": "http.request.referrer",
    "cve": "vulnerability.id",
    "vulnname": "vulnerability.description",
    "tvid": "vulnerability.id",
    "username": "user.name",
    "virtual_ip": "soc.device.virtual_ip",
    "pri": "log.level",
    "alarm_level": "log.level",
    "fw_name": "rule.name",
    "command": "process.command_line",
    "protocol_4": "network.transport",
}
_NOT_A_VALUE = frozenset({"n/a", "null", "none", "unknown", "-", "any other", ""})
_ALLOWED = frozenset({"accept", "permit", "allow", "pass", "matched", "允许", "放行", "通过"})
_DENIED = frozenset({"block", "deny", "drop", "reject", "reset", "拒绝", "阻断", "丢弃", "阻止"})
_TRANSPORTS = frozenset({"tcp", "udp", "icmp", "icmpv6", "sctp", "gre", "esp", "ah"})

# (version marker, product, observer.type); first match wins, on the lower-cased version.
_PRODUCTS: tuple[tuple[str, str, str], ...] = (
    ("_ads", "topads", "ips"),
    ("ngvone", "vone", "vpn"),
    ("v3.2000", "vone", "vpn"),
    ("_ifw", "ngfw", "firewall"),
    ("_ngfw", "ngfw", "firewall"),
    ("_tad", "topapp", "lb"),
    ("_tvs", "topvas", "vulnerability-scanner"),
    ("_ics", "topscanner", "vulnerability-scanner"),
)


def _product(version: str, pairs: dict[str, str]) -> tuple[str, str]:
    """The Topsec product and observer.type named by the version string (or the line's shape)."""
    low = version.lower()
    for marker, product, kind in _PRODUCTS:
        if marker in low:
            return product, kind
    if pairs.get("dev", "").lower() == "topapp":
        return "topapp", "lb"
    if "subtype" in pairs and pairs.get("vsys_name") == "default":
        return "topsag", "bastion"  # TopSAG 3.x: version "1.0", Chinese subtype, vsys "default"
    return "ngtos", "firewall"


def _categorize(doc: Doc, pairs: dict[str, str], kind: str) -> None:
    """event.kind/category/type from the log type, the recorder and the fields present."""
    typ = pairs.get("type", "").lower()
    rec = pairs.get("recorder", "").lower()
    what = f"{typ} {rec}"
    cats: list[str]
    types: list[str] = ["info"]
    alert = False
    if kind == "bastion":
        if rec == "user_auth" or "login" in typ:
            cats, types = ["authentication"], ["start"]
        elif typ == "omgt":
            cats, types = ["session"], ["info"]
        else:
            cats, types = ["configuration"], ["change"]
    elif any(w in what for w in ("ipsevent", "入侵", "tvd", "僵木蠕", "apt", "streamav", "attack", "abnormal")):
        cats, alert = ["intrusion_detection", "network"], True
    elif "ads" in typ or "ddos" in what:
        cats = ["intrusion_detection", "network"]
        alert = "attack" in what or "atk" in what or "alarm" in what
    elif "virus" in what or "spam" in what:
        cats, alert = ["malware", "network"], True
    elif rec in ("user_auth", "admin", "admin_login") or "sslvpn na" in rec or typ in ("na-log",):
        cats, types = ["authentication"], ["info"]
        if "login" in what or "logout" in pairs.get("msg", "").lower() or pairs.get("op", "") == "login":
            types = ["start"] if "logout" not in pairs.get("msg", "").lower() else ["end"]
    elif rec in ("config", "admin_config", "admin_pwd") or typ in ("mgmt",) or "管理员" in typ:
        cats, types = ["configuration"], ["change"]
    elif typ in ("ids", "ha") or any(w in what for w in ("monitor", "firmware", "license", "recover", "interface", "neighbour", "linkbak")):
        cats, types = ["host"], ["info"]
    elif kind == "vpn" or "vpn" in what or "pki" in what:
        cats, types = ["network"], ["info"]
    elif "漏洞" in typ or rec == "topvas":
        cats, types = ["host"], ["info"]
    else:
        cats, types = ["network"], ["connection"]
    action = (get_path(doc, "event.action") or "").lower()
    if action in _ALLOWED:
        types = ["allowed"] if "network" in cats else types
    elif action in _DENIED:
        types = ["denied"] if "network" in cats or alert else types
    if alert:
        set_path(doc, "event.kind", "alert")
    set_path(doc, "event.category", cats)
    set_path(doc, "event.type", types)


# TopSAG 3.x writes result="1" for a success and "0" for a failure: in the corpus "0" comes with
# msg 登录用户失败 and "1" with ten 成功 messages. The other NGTOS products write 0 for a success
# (NGFW "firmware delete ... success", TopAPP "update success.") and other codes for errors
# (-102653 "firmware delete failed"): their numbers are not read.
_SAG_RESULT = {"1": "success", "0": "failure"}


def _outcome(doc: Doc, pairs: dict[str, str], product: str) -> None:
    """event.outcome from `result` when it says success/failure in words (or TopSAG's 1/0 codes)."""
    result = pairs.get("result", "").strip().lower()
    msg = (pairs.get("msg", "") + " " + pairs.get("description", "")).lower()
    if product == "topsag" and result in _SAG_RESULT:
        set_path(doc, "event.outcome", _SAG_RESULT[result])
    elif result in ("success", "成功") or "success" in msg or "成功" in msg:
        set_path(doc, "event.outcome", "success")
    elif result in ("failed", "fail", "失败") or "fail" in msg or "失败" in msg:
        set_path(doc, "event.outcome", "failure")


@register_message("topsec_ngtos", sniff=lambda body: _SNIFF.match(body[:40]) is not None, priority=20)
def parse_ngtos_pairs(body: str, doc: Doc, ctx: ParseContext, product: tuple[str, str] | None = None) -> None:
    """Topsec NGTOS key="value" log: product from the version string unless `product` forces
    (product, observer.type)."""
    pairs = split_kv_with_empty(body)
    if "version" not in pairs or "id" not in pairs:
        raise ParseError("not_topsec_ngtos", "no id=ngtos version=... header")
    name, kind = product or _product(pairs.get("version", ""), pairs)
    set_observer_dataset(doc, "topsec", name, kind, name)
    set_path(doc, "observer.version", pairs["version"])
    field_time(doc, pairs.get("time", ""), UTC)

    fields: dict[str, str] = {}
    for key, value in pairs.items():
        if key in ("id", "version", "time", "type", "recorder", "index", "vsid", "cur_t", "time_begin", "end_t",
                   "result", "op", "action", "msg"):
            continue
        if value.strip().lower() in _NOT_A_VALUE:
            continue
        fields[key] = value.strip()
    # protoname / proto / protocol hold either a transport or an application protocol.
    for key in ("protoname", "proto", "protocol"):
        value = fields.pop(key, "").lower()
        if value in _TRANSPORTS:
            set_path(doc, "network.transport", value)
        elif value and not value.isdigit() and get_path(doc, "network.protocol") is None:
            set_path(doc, "network.protocol", value)
        elif value.isdigit():
            set_path(doc, "network.iana_number", value)
    # TopADS lists the attacking sources in one src_ip="a, b, c" value.
    src_list = fields.pop("src_ip", "")
    if src_list:
        ips = [ip for ip in (valid_ip(t) for t in _IP_LIST.findall(src_list)) if ip]
        if ips:
            set_path(doc, "source.ip", ips[0])
    # `port` stands for whichever of sport/dport the line lacks (data filter, file block, ADS).
    if "port" in fields:
        if "dport" not in fields and "dst_port" not in fields:
            fields["dport"] = fields.pop("port")
        elif "sport" not in fields:
            fields["sport"] = fields.pop("port")
    # The `user` of traffic logs is an authenticated name or, when none, the source IP again.
    user = fields.get("user")
    if user is not None and (valid_ip(user) or user.startswith("1^")):
        fields.pop("user")
        if user.startswith("1^"):
            set_path(doc, "user.name", user.split("^")[-1])
    apply_fields(doc, fields, extra=EXTRA)
    for key in ("action", "op", "lead_action", "data_action"):
        if key in pairs and pairs[key].strip():
            set_path(doc, "event.action", pairs[key].strip().lower() if pairs[key].isascii() else pairs[key].strip())
            break
    if pairs.get("msg") and ("ipsevent" in pairs.get("recorder", "").lower() or pairs.get("recorder") == "TVD"):
        set_path(doc, "rule.name", pairs["msg"].strip())
    if pairs.get("recorder"):
        set_path(doc, "event.provider", pairs["recorder"].strip())
    if pairs.get("type"):
        set_path(doc, "soc.device.type", pairs["type"])
    _categorize(doc, pairs, kind)
    _outcome(doc, pairs, name)
    # The threat's severity (IPS/TVD risk_name 高/中/低, TopADS alarm_level low/medium), else the
    # log's pri: a syslog level, by number (NGFW "1".."6") or by name (TopAPP emergent, alarm, error,
    # warning, notice, information, debug; TopVAS 告警, 通知, 信息).
    set_severity(doc, pairs.get("risk_name"))
    set_severity(doc, pairs.get("alarm_level"))
    set_severity(doc, pairs.get("pri"), SYSLOG_SEVERITY)
    relate_user(doc)
    relate_ips(doc, body)


# A source configured as a Topsec VPN gateway.
register_product("topsec_ngtos_vpn", parse_ngtos_pairs, ("vone", "vpn"))
