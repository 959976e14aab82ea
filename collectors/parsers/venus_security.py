"""Venustech (启明星辰) devices to ECS: 天阗 NIPS/IDS, VSG, 天清 WAG, 天清汉马 firewall, 天阗 APT/IDS JSON,
天镜/ESM endpoint XML, 天玥 network audit, bastion (OSM) JSON and the VETRIX EDR.

The `SerialNum=… GenTime="…" SrcIP=…` key=value shape is what NIPS, VSG, WAG and the firewall
send after a syslog tag naming the log type (IPS, AV, FILTER, WAG, NAT, SESSION, RUN_INFO…).
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

import orjson

from soc.model import get_path, iso, set_path

from . import register_message
from .base import Doc, ParseContext, ParseError
from .kv import (
    SYSLOG_SEVERITY, apply_fields, epoch_time, finish_event, local_time, set_severity, set_transport_or_protocol,
    split_kv, valid_ip,
)

VENDOR = "venus"
_TS = re.compile(r"(\d{4})[-/ ](\d{1,2})[-/ ](\d{1,2})[ T](\d{1,2}):(\d{2}):(\d{2})")
_TAG = re.compile(r"(?:^|\s)([A-Z][A-Z0-9_]{1,31}):\s*SerialNum=")
_TRANSPORTS = frozenset({"tcp", "udp", "icmp", "icmpv6", "sctp", "gre", "esp", "ah", "igmp", "arp"})
_ADMIN = frozenset({"RUN_INFO", "WARNING_INFO", "OSPF", "DHCP", "SYSTEM_NOTICE", "SYSTEM_INFO", "IF_INFO"})
_ALERT_TAGS = frozenset({"IPS", "AV", "CCTUNNEL", "SCAN", "WAG", "DDOS", "VIRUS", "ATTACK"})


# --------------------------------------------------------------------------- SerialNum shape

_SN_KEYS = {
    "SrcIP": "source.ip", "DstIP": "destination.ip", "SrcPort": "source.port", "DstPort": "destination.port",
    "SMAC": "source.mac", "DMAC": "destination.mac", "InInterface": "observer.ingress.interface.name",
    "OutInterface": "observer.egress.interface.name", "In": "observer.ingress.interface.name",
    "Out": "observer.egress.interface.name", "EventName": "rule.name", "EventID": "rule.id",
    "SecurityType": "rule.category", "VirusName": "rule.name", "VirusFileName": "file.name",
    "Module": "rule.name", "Evt_type": "rule.category", "URL": "url.original", "Url": "url.original",
    "Method": "http.request.method", "Host": "url.domain", "MailSender": "email.from.address",
    "P2PName": "rule.name", "STOCKName": "rule.name", "VOIPName": "rule.name", "PolicyID": "rule.id",
    "Action": "event.action", "EventLevel": "log.level", "Evt_level": "log.level",
}  # fmt: skip


def sniff_serialnum(body: str) -> bool:
    """Venus NIPS/VSG/WAG/firewall: `SerialNum=<digits> GenTime=`."""
    head = body[:200]
    return "SerialNum=" in head and "GenTime=" in head and 'SerialNum="' not in head


@register_message("venus_serialnum", sniff=sniff_serialnum, priority=30)
def parse_serialnum(body: str, doc: Doc, ctx: ParseContext) -> None:
    """Venus `SerialNum=… GenTime=…` key=value logs (NIPS, VSG, WAG, firewall)."""
    start = body.find("SerialNum=")
    if start < 0:
        raise ParseError("venus_no_serialnum", "no SerialNum=")
    tag = get_path(doc, "process.name")
    m = _TAG.search(body[: start + 11])
    if m is not None:
        tag = m.group(1)
    tag = tag if isinstance(tag, str) else ""
    text = body[start:]
    pairs = split_kv(text, "=")
    proto = pairs.pop("Protocol", None)
    for v6, v4 in (("SrcIP6", "SrcIP"), ("DstIP6", "DstIP"), ("MasterIP6", "SrcIP"), ("SlaveIP6", "DstIP")):
        if pairs.get(v6) and not pairs.get(v4):
            pairs[v4] = pairs[v6]
    if "MasterPort" in pairs:
        pairs.setdefault("SrcPort", pairs["MasterPort"])
        pairs.setdefault("DstPort", pairs.get("SlavePort", ""))
    apply_fields(doc, pairs, extra=_SN_KEYS)
    set_transport_or_protocol(doc, proto, _TRANSPORTS)
    if pairs.get("ProtocolType"):
        set_path(doc, "network.protocol", pairs["ProtocolType"].lower())
    action = get_path(doc, "event.action")
    if isinstance(action, str):
        set_path(doc, "event.action", action.lower())
    gen = re.search(r"GenTime=\"?\s*([^\"]{0,32})", text)
    if gen:
        local_time(doc, gen.group(1), ctx, _TS)
    if tag:
        set_path(doc, "event.code", tag)
    if tag == "WAG" or (tag == "SYSTEM_NOTICE" and "Module=" in text):
        kind, product = "waf", "wag"
    elif "EvtCount=" not in text:
        kind, product = "firewall", "firewall"
    else:
        kind, product = "ips", "nips"
    if tag in _ADMIN:
        category, etype = ["host"], ["info"]
    elif kind == "waf":
        category, etype = ["web", "intrusion_detection"], ["info"]
    elif kind == "firewall" or tag in ("SESSION", "NAT", "FILTER"):
        category, etype = ["network"], ["connection"]
    else:
        category, etype = ["intrusion_detection", "network"], ["info"]
    act = str(get_path(doc, "event.action") or "")
    if act in ("deny", "drop", "block", "blocked"):
        etype = [*etype, "denied"]
    elif act in ("permit", "pass", "allow", "accept"):
        etype = [*etype, "allowed"]
    # DangerLevel: 高/中/低. The WAG's Evt_log_level is a syslog level (6 beside Evt_level=10 for a
    # crawler, 4 beside Evt_level=30 for a botnet connection: the PRI's severity repeats it). The
    # NIPS's EventLevel (0, 1, 5 in the corpus) and the WAG's Evt_level have no scale we can tell.
    set_severity(doc, pairs.get("DangerLevel"))
    set_severity(doc, pairs.get("Evt_log_level"), SYSLOG_SEVERITY)
    finish_event(doc, body, VENDOR, product, kind, product, category, etype, alert=tag in _ALERT_TAGS)


# --------------------------------------------------------------------------- 天阗 JSON (IDS / APT)

_JSON_MARKERS = ('"dt":"VENUS_', '"dev_type": "APT"', '"dev_type":"APT"', '"sceneName"')


def sniff_tiantian(body: str) -> bool:
    """Venus 天阗 IDS/APT JSON (dt VENUS_…, dev_type APT, threat scenes)."""
    head = body[:2048]
    return "{" in head[:24] and any(m in head for m in _JSON_MARKERS)


def _json_obj(body: str) -> dict[str, Any]:
    start = body.find("{")
    if start < 0:
        raise ParseError("venus_no_json", "no JSON object")
    try:
        obj = orjson.loads(body[start:].rstrip("\x00\r\n "))
    except orjson.JSONDecodeError:
        return {}
    return obj if isinstance(obj, dict) else {}


_TT_KEYS = {
    "src_ip": "source.ip", "dst_ip": "destination.ip", "src_port": "source.port", "dst_port": "destination.port",
    "src_mac": "source.mac", "dst_mac": "destination.mac", "subject": "rule.name", "security_type": "rule.category",
    "event_type_id": "rule.id", "event_level_name": "log.level", "cve": "vulnerability.id",
    "virus_name": "rule.name", "virus_file_name": "file.name", "file_name": "file.name", "md5": "file.hash.md5",
    "sha1": "file.hash.sha1", "sha256": "file.hash.sha256", "http_host": "url.domain", "http_url": "url.path",
    "http_useragent": "user_agent.original", "retcode": "http.response.status_code", "dev_ip": "observer.ip",
    "sceneName": "rule.name", "attack_type": "threat.technique.name",
}  # fmt: skip


@register_message("venus_tiantian", sniff=sniff_tiantian, priority=25)
def parse_tiantian(body: str, doc: Doc, ctx: ParseContext) -> None:
    """Venus 天阗 IDS / APT JSON alerts (network attacks, malicious files, threat scenes)."""
    obj = _json_obj(body)
    flat: dict[str, str] = {}
    for key, value in obj.items():
        if isinstance(value, dict) and key in ("source", "destination"):
            for sub in ("ip", "port", "mac"):
                if value.get(sub) not in (None, ""):
                    flat[f"{'src' if key == 'source' else 'dst'}_{sub}"] = str(value[sub])
        elif isinstance(value, str | int | float) and not isinstance(value, bool):
            flat[key] = str(value)
    for v6, v4 in (("src_ip_v6", "src_ip"), ("dst_ip_v6", "dst_ip")):
        if flat.get(v6) and not flat.get(v4):
            flat[v4] = flat[v6]
    msg = flat.pop("message", None)
    if "ip" in flat and "src_ip" not in flat:
        flat["src_ip"] = flat.pop("ip")
    apply_fields(doc, flat, extra=_TT_KEYS)
    if msg:
        set_path(doc, "soc.device.message", msg)
    proto = flat.get("protocol")
    set_transport_or_protocol(doc, proto, _TRANSPORTS)
    if "start_time" in flat:
        epoch_time(doc, flat["start_time"])
    elif "time" in flat and flat["time"].isdigit():
        epoch_time(doc, flat["time"])
    dt = flat.get("dt", "")
    if obj.get("log_type") == "dac_apt_upload":
        category, dataset = ["malware", "intrusion_detection"], "apt_file"
    elif "virus_name" in flat:
        category, dataset = ["malware", "intrusion_detection"], "ids_virus"
    else:
        category, dataset = ["intrusion_detection", "network"], "ids" if dt or "sceneName" in flat else "apt"
    kind = "ids"  # 天阗 IDS and the APT sensor are both network IDS
    # event_level_name / level: 高危, 中危, 高 (words); the numeric level (30) and event_level (4, 40)
    # have no scale we can tell.
    set_severity(doc, get_path(doc, "log.level"))
    finish_event(doc, body, VENDOR, "tiantian", kind, dataset, category, ["info"], alert=True)


# --------------------------------------------------------------------------- ESM / 天珣 endpoint XML

_XML_ROOT = re.compile(r"<(Policy_\w{1,64})")


def sniff_esm(body: str) -> bool:
    """Venus ESM endpoint logs: `<Policy_…>` XML elements."""
    return body.startswith("<Policy_")


_ESM_KEYS = {
    "ip": "host.ip", "hostname": "host.name", "winuser": "user.name", "processname": "process.name",
    "policyname": "rule.name", "mac": "host.mac", "serverip": "soc.device.serverip",
    "nasipaddress": "soc.device.nasipaddress", "macaddress": "source.mac", "srcfilename": "file.path",
    "process": "process.name", "netip": "source.ip",
}  # fmt: skip


@register_message("venus_esm", sniff=sniff_esm, priority=30)
def parse_esm(body: str, doc: Doc, ctx: ParseContext) -> None:
    """Venus ESM (终端安全管理) XML policy events."""
    m = _XML_ROOT.match(body)
    if m is None:
        raise ParseError("venus_esm_no_root", "no <Policy_…> element")
    policy = m.group(1)
    pairs = split_kv(body, "=")
    host_ip = valid_ip(pairs.get("ip", ""))
    apply_fields(doc, pairs, extra=_ESM_KEYS)
    if host_ip:
        set_path(doc, "host.ip", [host_ip])
    set_path(doc, "event.action", policy.lower())
    user = get_path(doc, "user.name")
    if user:
        set_path(doc, "related.user", [user])
    for key in ("occurtime", "time", "logtime"):
        if pairs.get(key):
            local_time(doc, pairs[key], ctx, _TS)
            break
    if "Radius" in policy:
        category, etype = ["authentication"], ["start"]
        ok = pairs.get("pass")
        if ok in ("0", "1"):
            set_path(doc, "event.outcome", "success" if ok == "1" else "failure")
    elif "Process" in policy:
        category, etype = ["process"], ["info"]
    elif "File" in policy:
        category, etype = ["file"], ["info"]
    else:
        category, etype = ["host"], ["info"]
    finish_event(doc, body, VENDOR, "esm", "edr", "esm", category, etype)


# --------------------------------------------------------------------------- VETRIX EDR JSON-ish

def sniff_vetrix(body: str) -> bool:
    """Venus VETRIX EDR: `{"ip ": …, "send_time": …, "message_id " …`."""
    head = body[:400]
    return head.startswith("{") and '"send_time"' in head and '"message_id' in head


_QUOTED = re.compile(r"[\"“”]([\w ]{1,64}?)\s*[\"“”]\s*:\s*[\"“”]?([^\"“”,，}\]]{0,512})")


@register_message("venus_vetrix", sniff=sniff_vetrix, priority=30)
def parse_vetrix(body: str, doc: Doc, ctx: ParseContext) -> None:
    """Venus VETRIX EDR reports (sent as loose JSON with typographic quotes)."""
    pairs: dict[str, str] = {}
    for m in _QUOTED.finditer(body):
        pairs.setdefault(m.group(1).strip(), m.group(2).strip())
    ip = valid_ip(pairs.get("ip", ""))
    if ip:
        set_path(doc, "host.ip", [ip])
    if pairs.get("mac"):
        set_path(doc, "host.mac", [pairs["mac"]])
    if pairs.get("name"):
        set_path(doc, "rule.name", pairs["name"])
    if pairs.get("policy_id"):
        set_path(doc, "rule.id", pairs["policy_id"])
    outlink = valid_ip(pairs.get("host", ""))
    if outlink:
        set_path(doc, "destination.ip", outlink)
        if pairs.get("port", "").isdigit():
            set_path(doc, "destination.port", int(pairs["port"]))
    sent = pairs.get("occur_time") or pairs.get("send_time")
    if sent:
        try:
            doc["@timestamp"] = iso(datetime.fromisoformat(sent))
        except ValueError:
            doc.setdefault("tags", []).append("_timestamp_invalid")
    finish_event(doc, body, VENDOR, "vetrix", "edr", "vetrix", ["host", "network"], ["info"], alert=True)


# --------------------------------------------------------------------------- 天玥 network audit

def sniff_tianyue(body: str) -> bool:
    """Venus 天玥 audit: `devsn=… gen_time=…` (k=v or JSON)."""
    head = body[:120]
    return "devsn" in head and "gen_time" in body[:200]


_AUDIT_KEYS = {
    "client_ip": "source.ip", "client_port": "source.port", "server_ip": "destination.ip",
    "server_port": "destination.port", "client_mac": "source.mac", "server_mac": "destination.mac",
    "transport_protocol": "network.transport", "app_protocol": "network.protocol", "sql": "soc.device.sql",
    "client_user": "user.name", "db_name": "soc.device.db_name", "dev_ip": "observer.ip",
    "rule_name": "rule.name", "method": "http.request.method", "url": "url.original", "host": "url.domain",
    "input_cmd": "process.command_line",
}  # fmt: skip


@register_message("venus_tianyue", sniff=sniff_tianyue, priority=30)
def parse_tianyue(body: str, doc: Doc, ctx: ParseContext) -> None:
    """Venus 天玥 network/database audit records."""
    if "{" in body[:80]:
        obj = _json_obj(body)
        pairs = {k.strip(): str(v) for k, v in obj.items() if isinstance(v, str | int | float)}
    else:
        pairs = split_kv(body[body.find("devsn"):], "=")
    apply_fields(doc, pairs, extra=_AUDIT_KEYS)
    proto = get_path(doc, "network.protocol")
    if isinstance(proto, str):
        set_path(doc, "network.protocol", proto.lower())
    at = body.find("gen_time")
    if at >= 0:
        local_time(doc, body[at : at + 40], ctx, _TS)
    if pairs.get("block") in ("yes", "no"):
        set_path(doc, "event.action", "block" if pairs["block"] == "yes" else "audit")
    set_severity(doc, get_path(doc, "log.level"))  # level: urgent, high, low
    finish_event(doc, body, VENDOR, "tianyue", "audit", "tianyue",
                 ["network", "database"] if pairs.get("sql") else ["network"], ["access"])


# --------------------------------------------------------------------------- bastion (OSM) JSON

def sniff_osm(body: str) -> bool:
    """Venus OSM bastion JSON: `"log_type": "0NN"` with `"login_type"` and `"dev_ipv4"`."""
    head = body[:300]
    return head.startswith("{") and '"dev_ipv4"' in head and '"log_type"' in head


@register_message("venus_osm", sniff=sniff_osm, priority=30)
def parse_osm(body: str, doc: Doc, ctx: ParseContext) -> None:
    """Venus OSM bastion host session logs."""
    obj = _json_obj(body)
    pairs = {k: str(v) for k, v in obj.items() if isinstance(v, str | int | float) and not isinstance(v, bool)}
    extra = {
        "user_name": "user.name", "user_addr": "source.ip", "user_port": "source.port",
        "resource_addr": "destination.ip", "resource_port": "destination.port", "dev_name": "observer.name",
        "dev_ipv4": "observer.ip", "dev_mac": "observer.mac", "resource_account": "destination.user.name",
        "tool_name": "network.application", "session_id": "soc.device.session_id",
    }  # fmt: skip
    apply_fields(doc, pairs, extra=extra)
    if pairs.get("log_time"):
        local_time(doc, pairs["log_time"], ctx, _TS)
    user = get_path(doc, "user.name")
    if user:
        set_path(doc, "related.user", [user])
    action = pairs.get("login_action")
    set_path(doc, "event.action", "login" if action == "0" else "logout" if action == "1" else "session")
    finish_event(doc, body, VENDOR, "osm", "bastion", "osm", ["session", "authentication"],
                 ["start"] if action == "0" else ["info"])
