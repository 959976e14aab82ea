"""Topsec endpoint security to ECS: TopDesk/IHS console events, TopDesk 3.1.0.33 XML, TopEDR, TopAV.

- TopDesk/IHS: `id="N" agentid="..." logtype="PNP" logtime="..." action="插入" ... agentip=...`
- TopDesk agent XML: `<message><header>...<from>tdsvr.topdesk</from>...<Log type="PNP">...`
- TopEDR: `client_ip="..." hostname="..." fname="scan" defense_type="virus" virus_name=...`
  (IPs of network events as signed 32-bit integers in detail_laddr/detail_raddr)
- TopAV status: `mem="..." ip="..." device_type="TopAV" disk="..." cpu="..."`
Times without zone (logtime, <Time>) are the device's local time; TopEDR `time` is epoch seconds.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

from soc.model import get_path, iso, set_path

from . import register_message
from .base import Doc, ParseContext, ParseError
from .kv import (
    apply_fields, classify_event, copy_present, field_time, relate_ips, set_observer_dataset, set_severity,
    split_kv, split_kv_with_empty, valid_ip,
)

_EPS_SNIFF = re.compile(r'id="\d{1,12}" agentid="')
_XML_SNIFF = re.compile(r"<message><header><id>[^<]{0,64}</id><from>tdsvr\.")
_TIME = re.compile(r"(\d{4})[-/](\d{1,2})[-/](\d{1,2})\s(\d{1,2}):(\d{2}):(\d{2})")
_XML_TAG = re.compile(r"<(Time|Action|Level|Handle|Reason|Result|计算机|用户账号|主机IP|端口)>([^<]{0,1024})</\1>")
_XML_LOG = re.compile(r'<Log type="([^"]{1,64})">')
_XML_ATTR_IP = re.compile(r'客户端IP="([^"]{1,64})"')
_XML_TRIGGER = re.compile(r'<Trigger type="[^"]{0,64}" name="([^"]{0,128})"')

# logtype -> event.category (every endpoint event is also a "host" event).
_CATEGORIES: dict[str, list[str]] = {
    "USER": ["authentication", "host"],
    "AUDIT": ["authentication", "host"],
    "OSAUTH": ["authentication", "host"],
    "LOGON": ["authentication", "host"],
    "ADP": ["process", "host"],
    "UFS": ["file", "host"],
    "BRASERO": ["file", "host"],
    "PORT_WL": ["network", "host"],
    "NETCONFIG": ["configuration", "host"],
    "ANTIVIRUSPRODUCT": ["malware", "host"],
}
_SUCCESS = frozenset({"成功", "已放行", "success"})
_FAILURE = frozenset({"失败", "failure", "failed"})
_DENIED = frozenset({"禁止", "阻断", "已阻断", "已禁止登陆"})
_NOBODY = frozenset({"无责任人", "未知", "系统报警", ""})

EPS_EXTRA: dict[str, str] = {
    "agentip": "host.ip",
    "agentmac": "host.mac",
    "agentid": "host.id",
    "agentversion": "agent.version",
    "depart": "soc.device.department",
    "trigger_name": "rule.name",
    "cid": "rule.category",
    "loglevel": "log.level",
}
EDR_EXTRA: dict[str, str] = {
    "client_ip": "host.ip",
    "hostname": "host.name",
    "client_id": "host.id",
    "version_product": "agent.version",
    "group_name": "soc.device.group",
    "virus_name": "rule.name",
    "detail_virus_name": "rule.name",
    "detail_threat_list_virus_name": "rule.name",
    "virus_type": "rule.category",
    "detail_virus_type": "rule.category",
    "detail_threat_list_virus_type": "rule.category",
    "detail_file_path": "file.path",
    "detail_threat_list_fn": "file.path",
    "detail_proc_path": "process.executable",
    "detail_cmdline": "process.command_line",
    "detail_parent_cmd": "process.parent.command_line",
    "detail_xpid": "process.pid",
    "detail_mail_from": "email.from.address",
    "detail_mail_to": "email.to.address",
    "detail_mail_subject": "email.subject",
    "detail_res_path": "registry.path",
    "detail_software_name": "package.name",
}


def _verdict(doc: Doc, handle: str, result: str) -> None:
    """event.type denied/allowed and event.outcome from the handle and result words."""
    if handle in _DENIED or result in _DENIED:
        set_path(doc, "event.type", ["denied"])
    elif handle in ("允许", "允许刻录"):
        set_path(doc, "event.type", ["allowed"])
    if result in _SUCCESS:
        set_path(doc, "event.outcome", "success")
    elif result in _FAILURE:
        set_path(doc, "event.outcome", "failure")


def _common(doc: Doc, product: str, logtype: str) -> None:
    """observer, module, dataset and categories of one endpoint event."""
    classify_event(doc, "topsec", product, "edr", product, _CATEGORIES.get(logtype.upper(), ["host"]), ["info"])
    if logtype:
        set_path(doc, "soc.device.logtype", logtype)


def _severity(doc: Doc) -> None:
    """soc.severity from a loglevel word (警告, 通知); the numbers the agents also write there
    (2 for a USB device plugged in, 4, 5, 6) have no scale we can tell."""
    set_severity(doc, get_path(doc, "log.level"))


@register_message("topsec_topdesk", sniff=lambda body: _EPS_SNIFF.match(body[:40]) is not None, priority=30)
def parse_topsec_topdesk(body: str, doc: Doc, ctx: ParseContext) -> None:
    """TopDesk / IHS console event: `id="N" agentid=... logtype=... logtime=... action=...`."""
    pairs = split_kv_with_empty(body)
    if "agentid" not in pairs or "logtype" not in pairs:
        raise ParseError("not_topsec_topdesk", "no agentid/logtype")
    appname = get_path(doc, "process.name")
    linux_agent = "tdasvc." in pairs.get("event_from", "") or appname == "eventinfo"
    _common(doc, "topdesk" if linux_agent else "ihs", pairs["logtype"])
    field_time(doc, pairs.get("logtime", ""), ctx.timezone, _TIME)
    fields = {k: v for k, v in pairs.items() if k in EPS_EXTRA and v}
    if valid_ip(fields.get("agentid", "")):
        fields.pop("agentid")  # a server-side event: agentid is the server address
    apply_fields(doc, fields, extra=EPS_EXTRA, keep_rest=False)
    user = pairs.get("username", "")
    if user not in _NOBODY:
        set_path(doc, "user.name", user)
        set_path(doc, "related.user", [user])
    copy_present(doc, pairs, {"action": "event.action", "reason": "event.reason"})
    obj_class = pairs.get("object_class", "")
    if "文件" in obj_class and pairs.get("object_name"):
        set_path(doc, "file.path", pairs["object_name"])
    if pairs.get("subject_class") in ("计算机", "终端") and pairs.get("subject_name"):
        set_path(doc, "host.name", pairs["subject_name"])
    if pairs.get("subject_class") == "进程" and pairs.get("subject_name"):
        set_path(doc, "process.name", pairs["subject_name"])
    if pairs.get("sourceserverip"):
        set_path(doc, "soc.device.server_ip", pairs["sourceserverip"])
    _verdict(doc, pairs.get("handle", ""), pairs.get("result", ""))
    _severity(doc)
    relate_ips(doc, body)


@register_message("topsec_topdesk_xml", sniff=lambda body: _XML_SNIFF.match(body[:96]) is not None, priority=30)
def parse_topsec_topdesk_xml(body: str, doc: Doc, ctx: ParseContext) -> None:
    """TopDesk agent XML message: `<message><header>...</header><body><Log type="PNP">...`."""
    log = _XML_LOG.search(body)
    if log is None:
        raise ParseError("not_topsec_topdesk_xml", "no <Log type=...>")
    _common(doc, "topdesk", log.group(1))
    tags: dict[str, str] = {}
    for m in _XML_TAG.finditer(body):
        tags.setdefault(m.group(1), m.group(2).strip())
    field_time(doc, tags.get("Time", ""), ctx.timezone, _TIME)
    copy_present(doc, tags, {"Action": "event.action", "Reason": "event.reason", "Level": "log.level",
                             "计算机": "host.name"})
    if tags.get("用户账号"):
        set_path(doc, "user.name", tags["用户账号"])
        set_path(doc, "related.user", [tags["用户账号"]])
    client = _XML_ATTR_IP.search(body)
    if client and valid_ip(client.group(1)):
        set_path(doc, "host.ip", valid_ip(client.group(1)))
    if tags.get("主机IP") and valid_ip(tags["主机IP"]):
        set_path(doc, "destination.ip", valid_ip(tags["主机IP"]))
        if tags.get("端口", "").isdigit():
            set_path(doc, "destination.port", int(tags["端口"]))
    trigger = _XML_TRIGGER.search(body)
    if trigger and trigger.group(1):
        set_path(doc, "rule.name", trigger.group(1))
    _verdict(doc, tags.get("Handle", ""), tags.get("Result", ""))
    _severity(doc)
    relate_ips(doc, body)


def _int_ip(value: str) -> str | None:
    """An IPv4 address written as a (signed) 32-bit integer, as TopEDR does."""
    try:
        n = int(value)
    except ValueError:
        return None
    if not -(2**31) <= n < 2**32:
        return None
    n &= 0xFFFFFFFF
    return f"{n >> 24}.{(n >> 16) & 255}.{(n >> 8) & 255}.{n & 255}"


def _is_edr(body: str) -> bool:
    """TopEDR: client_id and defense_type/fname keys in the first part of a key="value" line."""
    head = body[:4096]
    return 'client_id="' in head and 'fname="' in head and ("defense_type=" in head or "version_product=" in head)


@register_message("topsec_topedr", sniff=_is_edr, priority=40)
def parse_topsec_topedr(body: str, doc: Doc, ctx: ParseContext) -> None:
    """TopEDR event: virus, system protection or network defence record of one client."""
    pairs = split_kv_with_empty(body)
    if "client_id" not in pairs:
        raise ParseError("not_topsec_topedr", "no client_id")
    fname = pairs.get("fname", "")
    defense = pairs.get("defense_type", "")
    set_observer_dataset(doc, "topsec", "topedr", "edr", "topedr")
    if pairs.get("time", "").isdigit():
        doc["@timestamp"] = iso(datetime.fromtimestamp(int(pairs["time"]), UTC))
    apply_fields(doc, {k: v for k, v in pairs.items() if k in EDR_EXTRA and v}, extra=EDR_EXTRA, keep_rest=False)
    if pairs.get("person"):
        set_path(doc, "user.name", pairs["person"])
        set_path(doc, "related.user", [pairs["person"]])
    set_path(doc, "event.action", fname or defense)
    set_path(doc, "soc.device.defense_type", defense)
    types = ["info"]
    if defense == "virus":
        cats = ["malware"]
        set_path(doc, "event.kind", "alert")
    elif defense == "network":
        cats = ["network", "host"]
        laddr, raddr = _int_ip(pairs.get("detail_laddr", "")), _int_ip(pairs.get("detail_raddr", ""))
        outbound = pairs.get("detail_outbound") == "1"
        local, remote = ("source", "destination") if outbound else ("destination", "source")
        if laddr:
            set_path(doc, f"{local}.ip", laddr)
        if raddr:
            set_path(doc, f"{remote}.ip", raddr)
        if pairs.get("detail_lport", "").isdigit():
            set_path(doc, f"{local}.port", int(pairs["detail_lport"]))
        if pairs.get("detail_rport", "").isdigit():
            set_path(doc, f"{remote}.port", int(pairs["detail_rport"]))
        set_path(doc, "network.direction", "outbound" if outbound else "inbound")
        if pairs.get("detail_blocked") == "1":
            types = ["denied"]
        for ip in (laddr, raddr):
            if ip:
                related = get_path(doc, "related.ip") or []
                if ip not in related:
                    related.append(ip)
                set_path(doc, "related.ip", related)
    elif defense == "system":
        cats = ["process", "host"]
    else:
        cats = ["host"]
    set_path(doc, "event.category", cats)
    set_path(doc, "event.type", types)
    relate_ips(doc, body)


@register_message("topsec_topav_status", sniff=lambda body: 'device_type="TopAV"' in body[:200], priority=40)
def parse_topsec_topav_status(body: str, doc: Doc, ctx: ParseContext) -> None:
    """TopAV/TopEDR client status: `mem=... ip=... device_type="TopAV" disk=... cpu=...`."""
    pairs = split_kv(body, seps="=")
    classify_event(doc, "topsec", "topedr", "edr", "topav", ["host"], ["info"], "metric")
    if valid_ip(pairs.get("ip", "")):
        set_path(doc, "host.ip", valid_ip(pairs["ip"]))
    for key in ("mem", "disk", "cpu", "device_id"):
        if key in pairs:
            set_path(doc, f"soc.device.{key}", pairs[key])
    relate_ips(doc, body)
