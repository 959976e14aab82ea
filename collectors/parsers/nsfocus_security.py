"""NSFOCUS (绿盟) devices to ECS: NIDS/NIPS (`manufacturers=nsfocus;…` and the older
`time:…;danger_degree:…;breaking_sighn:…` alerts), NF firewall system logs, admin login records,
OSMS bastion commands, ADS (Collapsar) anti-DDoS, SAS audit, DAS database audit, ESS endpoint,
UTS flow records (`nsfocus,V1,flow,…` CSV) and the WAF (`tag:waf_log_…`).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from soc.model import get_path, iso, set_path

from . import register_message
from .base import Doc, ParseContext, ParseError, decode_json
from .kv import apply_fields, finish_event, local_time, set_severity, set_url, split_kv, valid_ip

VENDOR = "nsfocus"
_TS = re.compile(r"(\d{4})-(\d{2})-(\d{2})[ T](\d{1,2}):(\d{2}):(\d{2})")
_RULE = re.compile(r"\[(\d{1,12})\]\s*(.*)", re.S)
_TRANSPORTS = frozenset({"tcp", "udp", "icmp", "icmpv6", "sctp", "gre"})


def _any_time(doc: Doc, value: Any, ctx: ParseContext) -> None:
    """@timestamp from epoch seconds/milliseconds or a local date-time."""
    text = str(value or "").strip()
    if text.isdigit():
        try:
            n = int(text)
            doc["@timestamp"] = iso(datetime.fromtimestamp(n / 1000 if n > 10**11 else n, UTC))
        except (ValueError, OverflowError, OSError):
            doc.setdefault("tags", []).append("_timestamp_invalid")
    elif text:
        local_time(doc, text, ctx, _TS)


def _proto(doc: Doc, value: str | None) -> None:
    """`TCP`, `TCP.HTTP`, `SMTP`: transport and application protocol."""
    if not value:
        return
    for part in value.lower().split("."):
        if part in _TRANSPORTS:
            set_path(doc, "network.transport", part)
        elif part and part != "unknown":
            set_path(doc, "network.protocol", part)


def _pairs(body: str, sep: str) -> dict[str, str]:
    """`k<sep>v;k<sep>v;` records whose values may hold spaces; quotes around values dropped."""
    out: dict[str, str] = {}
    for part in body.split(";"):
        key, found, value = part.partition(sep)
        key = key.strip()
        if found and key and len(key) <= 40 and key not in out:
            out[key] = value.strip().strip('"')
    return out


def _rule(doc: Doc, event: str | None) -> None:
    """`[40819]网络数据中发现病毒文件:…` -> rule.id and rule.name."""
    if not event:
        return
    m = _RULE.match(event)
    if m:
        set_path(doc, "rule.id", m.group(1))
        set_path(doc, "rule.name", m.group(2).strip())
    else:
        set_path(doc, "rule.name", event)


# danger_degree of the NIDS/NIPS alerts: 1 低, 2 中, 3 高 (the corpus: 1 for a user visiting a
# controlled URL, 3 for the IIS Unicode traversal exploit). The ips_log threat_level (1, 2, 5 in the
# corpus) has no scale we can tell: not read.
DANGER_DEGREE: dict[str, str] = {"1": "low", "2": "medium", "3": "high"}

_IDS_KEYS = {
    "sip": "source.ip", "dip": "destination.ip", "sport": "source.port", "dport": "destination.port",
    "src_addr": "source.ip", "dst_addr": "destination.ip", "src_port": "source.port", "dst_port": "destination.port",
    "smac": "source.mac", "dmac": "destination.mac", "src_mac": "source.mac", "dst_mac": "destination.mac",
    "ruleid": "rule.id", "threat_type": "rule.category", "loginip": "source.ip", "user_name": "user.name",
    "file_md5": "file.hash.md5", "file_sha256": "file.hash.sha256", "orig_name": "file.name",
    "domain": "url.domain", "botnet": "threat.indicator.domain", "botnet_family": "threat.software.name",
    "card": "observer.ingress.interface.name", "msg": "soc.device.msg", "hash": "observer.serial_number",
}  # fmt: skip


# --------------------------------------------------------------------------- NIDS / NIPS

def sniff_nids(body: str) -> bool:
    """NSFOCUS NIDS/NIPS: `manufacturers=nsfocus` (quoted or not) in a `;`-separated record."""
    head = body[:200]
    return "manufacturers=nsfocus" in head or 'manufacturers="nsfocus"' in head


@register_message("nsfocus_nids", sniff=sniff_nids, priority=25)
def parse_nids(body: str, doc: Doc, ctx: ParseContext) -> None:
    """NSFOCUS NIDS/NIPS alerts, admin operations and system records."""
    pairs = _pairs(body, "=")
    event = pairs.pop("event", None)
    proto = pairs.pop("protocol", None) or pairs.pop("proto", None)
    action = pairs.pop("action", None)
    apply_fields(doc, pairs, extra=_IDS_KEYS)
    _rule(doc, event)
    _proto(doc, proto)
    _any_time(doc, pairs.get("time"), ctx)
    kind = pairs.get("device_type", "ids").lower()
    kind = kind if kind in ("ids", "ips") else "ids"
    security = pairs.get("security_name") or pairs.get("log_type") or ""
    if action:
        set_path(doc, "soc.device.action", action)
    if get_path(doc, "source.ip") is not None and get_path(doc, "destination.ip") is not None:
        set_path(doc, "event.action", security or "alert")
        malware = "av" in security or "threat_file" in security or pairs.get("threat_type") == "av"
        category = ["malware", "intrusion_detection"] if malware else ["intrusion_detection", "network"]
        set_severity(doc, pairs.get("danger_degree"), DANGER_DEGREE)
        finish_event(doc, body, VENDOR, "nids", kind, "nids", category, ["info"], alert=True)
    elif pairs.get("loginip") or pairs.get("user"):
        set_path(doc, "event.action", "admin_operation")
        outcome = pairs.get("oper_result", "").lower()
        if outcome in ("success", "failure"):
            set_path(doc, "event.outcome", outcome)
        finish_event(doc, body, VENDOR, "nids", kind, "nids_admin", ["configuration"], ["change"])
    else:
        set_path(doc, "event.action", pairs.get("module") or "system")
        finish_event(doc, body, VENDOR, "nids", kind, "nids_system", ["host"], ["info"])


def sniff_legacy_alert(body: str) -> bool:
    """NSFOCUS legacy alert: `time:…;danger_degree:…;breaking_sighn:…;event:[id]name;…`."""
    head = body[:120]
    return head.startswith("time:") and ";danger_degree:" in head and ";breaking_sighn:" in head


@register_message("nsfocus_legacy_alert", sniff=sniff_legacy_alert, priority=25)
def parse_legacy_alert(body: str, doc: Doc, ctx: ParseContext) -> None:
    """NSFOCUS NIDS/NF legacy `k:v;` alert records."""
    pairs = _pairs(body, ":")
    event = pairs.pop("event", None)
    proto = pairs.pop("proto", None)
    apply_fields(doc, pairs, extra=_IDS_KEYS)
    _rule(doc, event)
    _proto(doc, proto)
    local_time(doc, body[:40], ctx, _TS)
    if pairs.get("danger_degree", "").isdigit():
        set_path(doc, "event.severity", int(pairs["danger_degree"]))
        set_severity(doc, pairs["danger_degree"], DANGER_DEGREE)
    set_path(doc, "event.action", "alert")
    finish_event(doc, body, VENDOR, "nids", "ids", "alert", ["intrusion_detection", "network"], ["info"], alert=True)


# --------------------------------------------------------------------------- admin logins

def sniff_login(body: str) -> bool:
    """NSFOCUS admin login record: `user:<name>;loginip:<ip>;time:<epoch>;…`."""
    return body.startswith("user:") and ";loginip:" in body[:100]


@register_message("nsfocus_login", sniff=sniff_login, priority=25)
def parse_login(body: str, doc: Doc, ctx: ParseContext) -> None:
    """NSFOCUS web console / bastion login records."""
    pairs = _pairs(body, ":")
    apply_fields(doc, pairs, extra=_IDS_KEYS)
    _any_time(doc, pairs.get("time"), ctx)
    set_path(doc, "event.action", "login")
    if "成功" in body:
        set_path(doc, "event.outcome", "success")
    elif "失败" in body:
        set_path(doc, "event.outcome", "failure")
    bastion = "comment:" in body
    finish_event(doc, body, VENDOR, "osms" if bastion else "nids", "bastion" if bastion else "ids", "login",
                 ["authentication"], ["start"])


def sniff_nf_system(body: str) -> bool:
    """NSFOCUS NF firewall system record: `time<date> <time>;module: …`."""
    return body.startswith("time20") and ";module:" in body[:40]


@register_message("nsfocus_nf_system", sniff=sniff_nf_system, priority=25)
def parse_nf_system(body: str, doc: Doc, ctx: ParseContext) -> None:
    """NSFOCUS NF firewall system messages (temperature, resources)."""
    local_time(doc, body[:30], ctx, _TS)
    module, _, text = body.partition(";module:")[2].strip().partition(" ")
    set_path(doc, "event.action", module or "system")
    set_path(doc, "soc.device.msg", text.strip())
    finish_event(doc, body, VENDOR, "nf", "firewall", "nf_system", ["host"], ["info"])


# --------------------------------------------------------------------------- OSMS bastion

def sniff_osms(body: str) -> bool:
    """NSFOCUS OSMS bastion command record: `session_id:…;cmd_time:…;cmd:…`."""
    return body.startswith("session_id:") and ";cmd_time:" in body[:60]


@register_message("nsfocus_osms", sniff=sniff_osms, priority=25)
def parse_osms(body: str, doc: Doc, ctx: ParseContext) -> None:
    """NSFOCUS OSMS bastion command audit."""
    pairs = _pairs(body, ":")
    extra = {"dev_ip": "destination.ip", "dev_usr": "destination.user.name", "protocol": "network.protocol",
             "cmd": "process.command_line", "session_id": "soc.device.session_id"}
    apply_fields(doc, pairs, extra=extra)
    _any_time(doc, pairs.get("cmd_time"), ctx)
    set_path(doc, "event.action", "command_blocked" if pairs.get("block") == "1" else "command")
    finish_event(doc, body, VENDOR, "osms", "bastion", "osms", ["process"], ["start"])


# --------------------------------------------------------------------------- ADS (Collapsar)

def sniff_ads(body: str) -> bool:
    """NSFOCUS ADS / Collapsar: `Login: user|nsfocus|…`, `Collapsar load: …`, `LinkState: …`."""
    return (body.startswith("Login: ") and "|nsfocus|" in body[:80]) or body.startswith(
        ("Collapsar load:", "LinkState: ")
    )


@register_message("nsfocus_ads", sniff=sniff_ads, priority=25)
def parse_ads(body: str, doc: Doc, ctx: ParseContext) -> None:
    """NSFOCUS ADS anti-DDoS admin logins, load and link state."""
    if body.startswith("Login: "):
        fields = body[7:].split("|")
        if len(fields) >= 5:
            set_path(doc, "user.name", fields[0].strip())
            ip = valid_ip(fields[3])
            if ip:
                set_path(doc, "source.ip", ip)
            result = fields[2].strip()
            set_path(doc, "event.outcome", "success" if result in ("成功", "success") else "failure")
            local_time(doc, fields[4], ctx, _TS)
        set_path(doc, "event.action", "login")
        finish_event(doc, body, VENDOR, "ads", "ips", "ads_login", ["authentication"], ["start"])
        return
    local_time(doc, body, ctx, _TS)
    set_path(doc, "event.action", "link_state" if body.startswith("LinkState") else "load")
    finish_event(doc, body, VENDOR, "ads", "ips", "ads_system", ["host"], ["info"])


# --------------------------------------------------------------------------- SAS audit, DAS, ESS

def sniff_sas(body: str) -> bool:
    """NSFOCUS SAS audit: `time:<epoch>;card:…;sip:…;…;scmid:…`."""
    head = body[:300]
    return head.startswith("time:") and ";card:" in head and ";scmid:" in head


@register_message("nsfocus_sas", sniff=sniff_sas, priority=25)
def parse_sas(body: str, doc: Doc, ctx: ParseContext) -> None:
    """NSFOCUS SAS network audit records."""
    pairs = _pairs(body, ":")
    extra = {"info0": "url.domain", "info1": "url.path", "info9": "user_agent.original"}
    apply_fields(doc, pairs, extra={**_IDS_KEYS, **extra})
    _any_time(doc, pairs.get("time"), ctx)
    set_path(doc, "event.action", pairs.get("type") or "audit")
    finish_event(doc, body, VENDOR, "sas", "audit", "sas", ["network"], ["access"])


def sniff_das(body: str) -> bool:
    """NSFOCUS DAS database audit: `[CEF]:|数据库名称:…`."""
    return body.startswith("[CEF]:|")


@register_message("nsfocus_das", sniff=sniff_das, priority=25)
def parse_das(body: str, doc: Doc, ctx: ParseContext) -> None:
    """NSFOCUS DAS database audit risk records."""
    pairs = {}
    for part in body[7:].split("|"):
        key, sep, value = part.partition(":")
        if sep:
            pairs[key.strip()] = value.strip()
    extra = {
        "服务器IP": "destination.ip", "服务器端口": "destination.port", "客户端IP": "source.ip",
        "客户端端口": "source.port", "数据库用户名": "user.name", "命中规则": "rule.id", "规则类型": "rule.category",
        "SQL语句": "soc.device.sql", "客户端MAC地址": "source.mac",
    }  # fmt: skip
    apply_fields(doc, pairs, extra=extra)
    local_time(doc, pairs.get("捕获时间", ""), ctx, _TS)
    set_path(doc, "event.action", "sql_risk")
    set_severity(doc, pairs.get("风险级别"))  # 高风险, 中风险, 低风险
    finish_event(doc, body, VENDOR, "das", "dbaudit", "das", ["database"], ["access"], alert=True)


def sniff_ess(body: str) -> bool:
    """NSFOCUS ESS endpoint JSON: `{"type":…,"content":{"scid":…`."""
    head = body[:60]
    return head.startswith('{"type":') and '"content":{"scid"' in head


@register_message("nsfocus_ess", sniff=sniff_ess, priority=25)
def parse_ess(body: str, doc: Doc, ctx: ParseContext) -> None:
    """NSFOCUS ESS endpoint virus detections."""
    obj = decode_json(body, "ess_json")
    content = obj.get("content") if isinstance(obj, dict) else None
    if not isinstance(content, dict):
        raise ParseError("ess_json", "no content object")
    ip = valid_ip(str(content.get("IP", "")))
    if ip:
        set_path(doc, "host.ip", [ip])
    for key, field in (("ComputerName", "host.name"), ("VirusName", "rule.name"), ("MD5", "file.hash.md5"),
                       ("InfectedFileName", "file.path"), ("VirusType", "rule.category"),
                       ("Domain", "host.domain")):
        if content.get(key):
            set_path(doc, field, str(content[key]))
    if content.get("VirusName"):
        set_path(doc, "threat.software.name", str(content["VirusName"]))
    _any_time(doc, content.get("InfectedTime"), ctx)
    set_path(doc, "event.action", "virus_detected")
    finish_event(doc, body, VENDOR, "ess", "edr", "ess", ["malware"], ["info"], alert=True)


# --------------------------------------------------------------------------- UTS flow CSV

def sniff_uts(body: str) -> bool:
    """NSFOCUS UTS flow records: `nsfocus,V1,flow,<type>,…`."""
    return body.startswith("nsfocus,V1,")


@register_message("nsfocus_uts", sniff=sniff_uts, priority=25)
def parse_uts(body: str, doc: Doc, ctx: ParseContext) -> None:
    """NSFOCUS UTS (统一威胁探针) flow metadata (TCP/UDP sessions, DB operations, SSL)."""
    f = body.split(",")
    if len(f) < 21:
        raise ParseError("uts_short", f"{len(f)} fields")
    kind = f[3]
    for idx, field in ((9, "source.ip"), (16, "destination.ip"), (4, "observer.ip")):
        ip = valid_ip(f[idx])
        if ip:
            set_path(doc, field, ip)
    for idx, field in ((10, "source.ip"), (17, "destination.ip")):
        ip = valid_ip(f[idx])
        if ip and get_path(doc, field) is None:
            set_path(doc, field, ip)
    for idx, field in ((12, "source.port"), (19, "destination.port")):
        if f[idx].isdigit():
            set_path(doc, field, int(f[idx]))
    for idx, field in ((11, "source.mac"), (18, "destination.mac")):
        if f[idx]:
            set_path(doc, field, f[idx])
    if f[13]:
        set_path(doc, "network.transport", f[13].lower())
    if f[14]:
        set_path(doc, "network.protocol", f[14].lower())
    set_path(doc, "observer.serial_number", f[5])
    _any_time(doc, f[8], ctx)
    set_path(doc, "event.action", f"flow_{kind.lower()}")
    finish_event(doc, body, VENDOR, "uts", "ips", "uts", ["network"], ["connection"])


# --------------------------------------------------------------------------- WAF

# The request URI runs to the next space: split_kv's bare values stop at ',' ';' '&' too.
_WAF_URI = re.compile(r"(?<!\S)(?:uri|url):(\S{1,8192})")


def sniff_waf(body: str) -> bool:
    """NSFOCUS WAF: `tag:waf_log_<type> …` with double-space separated `k:v` pairs."""
    return body.startswith("tag:waf_log_")


@register_message("nsfocus_waf", sniff=sniff_waf, priority=25)
def parse_waf(body: str, doc: Doc, ctx: ParseContext) -> None:
    """NSFOCUS WAF web-security events and statistics."""
    pairs = split_kv(body, ":")
    pairs.pop("uri", None)
    pairs.pop("url", None)
    uri = _WAF_URI.search(body)
    if uri is not None and uri.group(1) not in ("-", "None"):
        set_url(doc, uri.group(1))  # url.original, url.path, url.query
    extra = {"domain": "url.domain", "event_type": "rule.name", "alertlevel": "log.level",
             "protocol_type": "network.protocol"}
    apply_fields(doc, pairs, extra={**_IDS_KEYS, **extra})
    at = body.find("stat_time:")
    local_time(doc, body[at : at + 40] if at >= 0 else "", ctx, _TS)
    tag = pairs.get("tag", "")
    proto = get_path(doc, "network.protocol")
    if isinstance(proto, str):
        set_path(doc, "network.protocol", proto.lower())
    if tag == "waf_log_websec":
        set_path(doc, "event.action", (pairs.get("action") or "alert").lower())
        set_severity(doc, get_path(doc, "log.level"))  # alertlevel: HIGH, MEDIUM, LOW
        finish_event(doc, body, VENDOR, "waf", "waf", "websec", ["web", "intrusion_detection"], ["info"], alert=True)
    else:
        set_path(doc, "event.action", tag.removeprefix("waf_log_") or "stat")
        finish_event(doc, body, VENDOR, "waf", "waf", "stat", ["host"], ["info"])
