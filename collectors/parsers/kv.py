"""Key-value bodies, the common shape of Chinese (and many other) device logs, and their ECS mapping.

Shared by the vendor message formats: `split_kv` tokenizes `k=v k2="v 2"`, `k=v;k2=v2`,
`k:v,k2:v2` and Chinese keys (源地址=…); `apply_fields` writes known keys to ECS fields with the
right types (IPs checked, ports and counters as integers) and keeps the rest, sanitised, under
`soc.device.*`; `relate_ips` makes sure every IP address of the line is in an ECS field.
The steps every format repeats are here too: the observer and the event categorization
(`classify_event`, `finish_event`) and the device's time (`local_time`, `field_time`,
`exact_local_time`, `epoch_time`).
"""

from __future__ import annotations

import ipaddress
import itertools
import re
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime, tzinfo
from functools import lru_cache
from typing import Any

from soc.model import get_path, iso, set_path

from .base import Doc, ParseContext

# key=value or key:value pairs. A value is quoted ("…" or '…'), or runs until the next pair
# separator. Keys may hold CJK characters, letters, digits, _ - . and / (bounded lengths keep
# matching linear on 1 MB lines).
_PAIR = re.compile(
    r"""(?P<key>[\w\u4e00-\u9fff\-./()（）]{1,64}?)\s{0,2}(?:(?P<eq>=)|(?P<colon>[:：])\s{0,2})"""
    r"""(?:"(?P<dq>[^"]{0,8192})"|'(?P<sq>[^']{0,8192})'|(?P<bare>[^\s;,|&]{0,8192}))"""
)
# After "=" a value starts at once ("OUT= MAC=x" is an empty OUT, then MAC); after ":" or "："
# spaces may come first ("源地址: 10.1.1.1"), as Chinese consoles print them.

IPV4 = re.compile(r"(?<![\d.])(?:25[0-5]|2[0-4]\d|1?\d?\d)(?:\.(?:25[0-5]|2[0-4]\d|1?\d?\d)){3}(?!\d|\.\d)")
# Candidates only: ipaddress decides (MAC addresses and clock times are refused there).
IPV6 = re.compile(r"(?<![\w:.])[0-9A-Fa-f]{0,4}(?::[0-9A-Fa-f]{0,4}){2,7}(?:%\w{1,16})?(?![\w:.])")


# `key= next=v`: an empty value (split_kv would take the next pair as the value).
_EMPTY_VALUE = re.compile(r"=(?=\s+[\w.-]{1,64}=)")


def split_kv(text: str, seps: str = "=:：") -> dict[str, str]:
    """Every key-value pair of text, first occurrence of a key winning; values unquoted."""
    out: dict[str, str] = {}
    for m in _PAIR.finditer(text):
        if (m.group("eq") or m.group("colon")) not in seps:
            continue
        key = m.group("key").strip()
        if not key or key in out:
            continue
        value = m.group("dq") if m.group("dq") is not None else m.group("sq")
        if value is None:
            value = m.group("bare") or ""
        out[key] = value.strip()
    return out


def split_kv_with_empty(text: str) -> dict[str, str]:
    """The `k=v` pairs of text (split_kv with "=" only), where `key= next=v` is an empty key."""
    return split_kv(_EMPTY_VALUE.sub('=""', text), seps="=")


# Known keys (lower-cased, '-' and ' ' as '_') -> ECS field. Vendors' English abbreviations and
# the Chinese names their consoles print. Extend here, not in the vendor modules.
ECS_KEYS: dict[str, str] = {
    # source
    "src": "source.ip", "srcip": "source.ip", "src_ip": "source.ip", "sip": "source.ip", "source_ip": "source.ip",
    "srcaddr": "source.ip", "src_addr": "source.ip", "saddr": "source.ip", "attack_ip": "source.ip",
    "源ip": "source.ip", "源地址": "source.ip", "源ip地址": "source.ip", "攻击者ip": "source.ip", "攻击源": "source.ip",
    "客户端ip": "source.ip", "来源ip": "source.ip", "登录ip": "source.ip", "客户端地址": "source.ip",
    "spt": "source.port", "sport": "source.port", "srcport": "source.port", "src_port": "source.port",
    "源端口": "source.port",
    "smac": "source.mac", "src_mac": "source.mac", "srcmac": "source.mac", "源mac": "source.mac",
    "nat_src": "source.nat.ip", "snat_ip": "source.nat.ip", "srcnatip": "source.nat.ip",
    # destination
    "dst": "destination.ip", "dstip": "destination.ip", "dst_ip": "destination.ip", "dip": "destination.ip",
    "destination_ip": "destination.ip", "dstaddr": "destination.ip", "dst_addr": "destination.ip",
    "daddr": "destination.ip", "目的ip": "destination.ip", "目的地址": "destination.ip", "目标ip": "destination.ip",
    "目标地址": "destination.ip", "受害者ip": "destination.ip", "服务器ip": "destination.ip",
    "dpt": "destination.port", "dport": "destination.port", "dstport": "destination.port",
    "dst_port": "destination.port", "目的端口": "destination.port", "目标端口": "destination.port",
    "dmac": "destination.mac", "dst_mac": "destination.mac", "dstmac": "destination.mac",
    "nat_dst": "destination.nat.ip", "dnat_ip": "destination.nat.ip",
    # network
    "proto": "network.transport", "protocol": "network.transport", "协议": "network.transport",
    "app": "network.application", "app_name": "network.application", "application": "network.application",
    "应用": "network.application",
    "in_if": "observer.ingress.interface.name", "inif": "observer.ingress.interface.name",
    "out_if": "observer.egress.interface.name", "outif": "observer.egress.interface.name",
    "sent": "source.bytes", "sentbyte": "source.bytes", "rcvd": "destination.bytes", "rcvdbyte": "destination.bytes",
    # who, what
    "user": "user.name", "username": "user.name", "user_name": "user.name", "usr": "user.name", "suser": "user.name",
    "用户": "user.name", "用户名": "user.name", "账号": "user.name", "登录用户": "user.name", "操作员": "user.name",
    "action": "event.action", "act": "event.action", "动作": "event.action", "处理动作": "event.action",
    "执行动作": "event.action", "操作": "event.action", "处理方式": "event.action",
    "result": "event.outcome", "结果": "event.outcome", "操作结果": "event.outcome",
    "policy": "rule.name", "policy_name": "rule.name", "rule_name": "rule.name", "策略": "rule.name",
    "策略名称": "rule.name", "规则名称": "rule.name",
    "policy_id": "rule.id", "rule_id": "rule.id", "ruleid": "rule.id", "sig_id": "rule.id", "规则id": "rule.id",
    "event_name": "rule.name", "attack_name": "rule.name", "threat_name": "rule.name", "事件名称": "rule.name",
    "攻击名称": "rule.name", "威胁名称": "rule.name", "攻击类型": "rule.category", "事件类型": "rule.category",
    "attack_type": "rule.category", "threat_type": "rule.category",
    "level": "log.level", "severity": "log.level", "级别": "log.level", "危险等级": "log.level", "威胁等级": "log.level",
    "url": "url.original", "uri": "url.original", "请求url": "url.original",
    "method": "http.request.method", "请求方法": "http.request.method",
    "status": "http.response.status_code", "status_code": "http.response.status_code",
    "host": "url.domain", "domain": "url.domain", "域名": "url.domain",
    "user_agent": "user_agent.original", "ua": "user_agent.original",
    "file_name": "file.name", "filename": "file.name", "文件名": "file.name", "病毒名": "rule.name",
    "virus_name": "rule.name", "md5": "file.hash.md5",
    "devname": "observer.name", "dev_name": "observer.name", "device_name": "observer.name", "设备名称": "observer.name",
    "devip": "observer.ip", "dev_ip": "observer.ip", "device_ip": "observer.ip", "设备ip": "observer.ip",
    "hostname": "host.name", "主机名": "host.name",
    "cmd": "process.command_line", "command": "process.command_line", "命令": "process.command_line",
}

INTEGER_FIELDS = frozenset({
    "source.port", "destination.port", "source.bytes", "destination.bytes", "http.response.status_code",
    "source.nat.port", "destination.nat.port",
})
IP_FIELDS = frozenset({"source.ip", "destination.ip", "source.nat.ip", "destination.nat.ip", "observer.ip", "host.ip"})
_SANITIZE = re.compile(r"[^\w\u4e00-\u9fff]+")


def normalize_key(key: str) -> str:
    return key.strip().lower().replace("-", "_").replace(" ", "_")


@lru_cache(maxsize=65536)
def valid_ip(value: str) -> str | None:
    """The canonical form of an IP address (IPv4-mapped and zone ids handled), else None."""
    value = value.strip().strip("[]")
    try:
        return str(ipaddress.ip_address(value.split("%", 1)[0]))
    except ValueError:
        return None


def apply_fields(
    doc: Doc,
    pairs: Mapping[str, str],
    extra: Mapping[str, str] | None = None,
    keep_rest: bool = True,
) -> None:
    """Write pairs to ECS: `extra` (vendor-specific key -> field) first, then ECS_KEYS.

    A value that does not fit its field (a non-IP in source.ip, a non-number in a port) and
    every unknown key go under soc.device.<key>, so nothing the device said is lost.
    """
    for key, value in pairs.items():
        if value in ("", "-", "--", "N/A", "null", "NULL"):
            continue
        nkey = normalize_key(key)
        field = (extra or {}).get(key) or (extra or {}).get(nkey) or ECS_KEYS.get(nkey)
        if field is not None and get_path(doc, field) is None and _set_typed(doc, field, value):
            continue
        if keep_rest:
            set_path(doc, f"soc.device.{_SANITIZE.sub('_', key).strip('_') or 'field'}", value)


def _set_typed(doc: Doc, field: str, value: str) -> bool:
    if field in IP_FIELDS:
        ip = valid_ip(value)
        if ip is None:
            return False
        set_path(doc, field, ip)
        return True
    if field in INTEGER_FIELDS:
        if not value.isdigit():
            return False
        set_path(doc, field, int(value))
        return True
    if field == "network.transport":
        value = value.lower()
    if field == "event.outcome":
        outcome = OUTCOMES.get(value.strip().lower())
        if outcome is None:
            return False  # "1", "浏览"...: kept under soc.device.* instead of a wrong outcome
        value = outcome
    set_path(doc, field, value)
    return True


# ECS event.outcome allows success, failure, unknown: the words devices use for them.
OUTCOMES = {
    "success": "success", "succeeded": "success", "successful": "success", "ok": "success", "pass": "success",
    "成功": "success", "登录成功": "success", "允许": "success",
    "failure": "failure", "fail": "failure", "failed": "failure", "error": "failure", "denied": "failure",
    "失败": "failure", "登录失败": "failure", "拒绝": "failure", "unknown": "unknown", "未知": "unknown",
}


# soc.severity: one severity scale for every security device, the Sigma level names, so that a
# rule or a playbook compares `soc.severity: [high, critical]` whatever the vendor wrote. Devices
# write a word (Chinese or English), a syslog level, or a number on a scale of their own: each
# parser passes the value and the scale it knows (see set_severity).
SEVERITY_LEVELS = ("informational", "low", "medium", "high", "critical")

# The words devices write for a threat's or an event's severity (lower-cased) -> soc.severity.
# Chinese: 信息/提示, 低/低危, 中/中危, 高/高危, 紧急/危急/致命/超危 and the 风险 forms of the database
# auditors (高风险); English: the CVSS-like words, MID (RayWAF), URGENT (Venustech 天玥), and the
# syslog level names, read as words: info, notice, warning, error, critical, alert, emergency.
SEVERITY_WORDS: dict[str, str] = {
    **dict.fromkeys(("信息", "提示", "安全", "info", "information", "informational", "debug", "debugging"),
                    "informational"),
    **dict.fromkeys(("低", "低危", "低风险", "轻微", "通知", "low", "minor", "notice", "notification"), "low"),
    **dict.fromkeys(("中", "中危", "中风险", "警告", "medium", "mid", "moderate", "warning", "warn"), "medium"),
    **dict.fromkeys(("高", "高危", "高风险", "严重", "high", "major", "severe", "error", "err"), "high"),
    **dict.fromkeys(("紧急", "危急", "致命", "超危", "critical", "crit", "emergency", "emerg", "alert", "urgent",
                     "fatal", "very-high"), "critical"),
}  # fmt: skip

# A syslog level (RFC 5424 0-7, by number or by name) -> soc.severity: 0-1 critical, 2-3 high,
# 4 medium, 5-6 low, 7 informational. Names: the RFC's and the long forms (ScreenOS "notification",
# Topsec "emergent", "alarm" and its Chinese names 紧急 告警 严重 错误 警告 通知 信息 调试, 0 to 7).
_SYSLOG_NAMES = (
    ("emerg", "emergency", "emergent", "panic", "紧急"), ("alert", "alarm", "告警"), ("crit", "critical", "严重"),
    ("err", "error", "错误"), ("warning", "warn", "警告"), ("notice", "notification", "通知"),
    ("info", "information", "informational", "信息"), ("debug", "debugging", "调试"),
)
_SYSLOG_LEVELS = ("critical", "critical", "high", "high", "medium", "low", "low", "informational")
SYSLOG_SEVERITY: dict[str, str] = {
    **{str(code): level for code, level in enumerate(_SYSLOG_LEVELS)},
    **{name: _SYSLOG_LEVELS[code] for code, names in enumerate(_SYSLOG_NAMES) for name in names},
}


# The classification priority of Snort and Suricata rules (classification.config: 1 high,
# 2 medium, 3 low, 4 very low, e.g. "tcp-connection").
RULE_PRIORITY: dict[str, str] = {"1": "high", "2": "medium", "3": "low", "4": "informational"}


def set_severity(doc: Doc, value: Any, scale: Mapping[str, str] = SEVERITY_WORDS) -> bool:
    """soc.severity (informational, low, medium, high, critical) from a device's severity value
    read on `scale` (value lower-cased and stripped -> level; default: SEVERITY_WORDS; a syslog
    level: SYSLOG_SEVERITY; a vendor's numbers: the parser's own table). The first value that
    maps wins: call with the most telling value first (the threat's severity, then the message's
    syslog level). True when soc.severity was set; a value the scale does not know sets nothing."""
    if value is None or isinstance(value, bool) or get_path(doc, "soc.severity") is not None:
        return False
    level = scale.get(str(value).strip().lower())
    if level is None:
        return False
    set_path(doc, "soc.severity", level)
    return True


# Where the address patterns can match, found fast. IPV4 and IPV6 start with a look-behind, so
# `finditer` tries them at every position of a line (a fifth of normalize's time on the mix). A
# match of either can only start where a run of the characters it is made of starts (the
# look-behind refuses any later start), so `addresses` finds each run from a literal
# every address contains (".1." of a dotted quad, ":…:" of an IPv6 candidate), backs up to the
# run's start, tries the pattern there once and goes on after the run: the same matches, in
# the same order, as IPV4.finditer then IPV6.finditer.
_V4_DOTS = re.compile(r"\.\d{1,3}\.")
_V4_RUN_TAIL = re.compile(r"[\d.]*")
_V6_COLONS = re.compile(r":[\w.]*:")
_V6_RUN_TAIL = re.compile(r"[\w:.]*")


def _v4_run_char(c: str) -> bool:
    return c == "." or c.isdecimal()  # `[\d.]` (re's \d is str.isdecimal)


def _v6_run_char(c: str) -> bool:
    return c in "_:." or c.isalnum()  # `[\w:.]` (re's \w is str.isalnum, and "_")


def _run_starts(text: str, hint: re.Pattern[str], tail: re.Pattern[str], in_run: Callable[[str], bool],
                rx: re.Pattern[str]) -> Iterator[str]:
    """What rx matches where a run of its characters starts, for each run that holds `hint`."""
    pos = 0
    while (h := hint.search(text, pos)) is not None:
        start = h.start()
        while start > 0 and in_run(text[start - 1]):
            start -= 1
        pos = tail.match(text, h.end()).end()  # type: ignore[union-attr]
        m = rx.match(text, start)
        if m is not None:
            pos = max(pos, m.end())  # an IPv6 zone id ("%eth0") is part of the match
            yield m.group(0)


def addresses(text: str) -> list[str]:
    """Every IP address written in text, canonical, each once: the IPv4 ones, then the IPv6 ones,
    in the order they are written (what IPV4.finditer then IPV6.finditer find, through
    `valid_ip`)."""
    found: list[str] = []
    for candidate in itertools.chain(_run_starts(text, _V4_DOTS, _V4_RUN_TAIL, _v4_run_char, IPV4),
                                     _run_starts(text, _V6_COLONS, _V6_RUN_TAIL, _v6_run_char, IPV6)):
        if (ip := valid_ip(candidate)) is not None and ip not in found:
            found.append(ip)
    return found


def addresses_by_pattern(text: str) -> list[str]:
    """What `addresses` must answer, by definition: IPV4.finditer then IPV6.finditer, through
    `valid_ip`, each address once. Several times slower (it tries both patterns at every
    position); for the tests and benchmarks that hold `addresses` to it."""
    found: list[str] = []
    for rx in (IPV4, IPV6):
        for m in rx.finditer(text):
            ip = valid_ip(m.group(0))
            if ip is not None and ip not in found:
                found.append(ip)
    return found


def relate_ips(doc: Doc, text: str) -> None:
    """Put every IP address written in text into related.ip (ECS), so a search finds the line."""
    found = addresses(text)
    if not found:
        return
    related: list[Any] = get_path(doc, "related.ip") or []
    for ip in found:
        if ip not in related:
            related.append(ip)
    set_path(doc, "related.ip", related)


def relate_user(doc: Doc) -> None:
    """Put a non-empty user.name into related.user (ECS)."""
    user = get_path(doc, "user.name")
    if user:
        set_path(doc, "related.user", [user])


def set_observer(doc: Doc, vendor: str, product: str, kind: str | None) -> None:
    """observer.vendor/product/type: the reporting device (ECS observer.type: firewall, ids, ...;
    None: not known, no observer.type)."""
    set_path(doc, "observer.vendor", vendor)
    set_path(doc, "observer.product", product)
    if kind is not None:
        set_path(doc, "observer.type", kind)


def set_observer_dataset(doc: Doc, vendor: str, product: str, kind: str | None, dataset: str) -> None:
    """set_observer, and event.module (the vendor) and event.dataset (`vendor.dataset`)."""
    set_observer(doc, vendor, product, kind)
    set_path(doc, "event.module", vendor)
    set_path(doc, "event.dataset", f"{vendor}.{dataset}")


# host.os.type -> (observer.vendor, observer.product) of a host's own logs.
HOST_OS = {"linux": ("linux", "linux"), "windows": ("microsoft", "windows")}


def set_host_os(doc: Doc, os_type: str) -> None:
    """A host's own log (sshd, sudo, PAM, the Windows event log): the host is the observer
    (type "host", vendor and product its operating system) and host.os.type says which."""
    vendor, product = HOST_OS[os_type]
    set_observer(doc, vendor, product, "host")
    set_path(doc, "host.os.type", os_type)


def set_observer_header(doc: Doc, vendor: str, product: str, version: str) -> None:
    """observer.vendor (lower-cased), observer.product and observer.version from the header of a
    CEF or LEEF line, each when it is not empty."""
    if vendor:
        set_path(doc, "observer.vendor", vendor.lower())
    if product:
        set_path(doc, "observer.product", product)
    if version:
        set_path(doc, "observer.version", version)


def classify_event(
    doc: Doc, vendor: str, product: str, kind: str, dataset: str,
    category: list[str], etype: list[str], event_kind: str | None = None,
) -> None:
    """The reporting device and the ECS categorization of a vendor's event: observer.vendor/
    product/type, event.module (the vendor), event.dataset (`vendor.dataset`), event.kind (when
    given), event.category and event.type.

    An event.outcome that is not an ECS value (success, failure, unknown) moves to soc.device.result.
    """
    outcome = get_path(doc, "event.outcome")
    if outcome is not None and outcome not in ("success", "failure", "unknown"):
        set_path(doc, "soc.device.result", outcome)
        del doc["event"]["outcome"]
    set_observer_dataset(doc, vendor, product, kind, dataset)
    if event_kind is not None:
        set_path(doc, "event.kind", event_kind)
    set_path(doc, "event.category", category)
    set_path(doc, "event.type", etype)


def set_action(doc: Doc, action: str, category: list[str], types: list[str], outcome: str = "") -> None:
    """event.action, event.category, event.type and (when given) event.outcome of a message."""
    set_path(doc, "event.action", action)
    set_path(doc, "event.category", category)
    set_path(doc, "event.type", types)
    if outcome:
        set_path(doc, "event.outcome", outcome)


def finish_event(
    doc: Doc, body: str, vendor: str, product: str, kind: str, dataset: str,
    category: list[str], etype: list[str], alert: bool = False, *, users: bool = True,
) -> None:
    """The last step every vendor message format shares: observer, event.* and related fields.

    classify_event with event.kind "alert" or "event"; with `users`, a user.name "null" is
    dropped and user.name goes to related.user; every IP address of the body (and the host name)
    goes to related.ip.
    """
    classify_event(doc, vendor, product, kind, dataset, category, etype, "alert" if alert else "event")
    if users:
        user = get_path(doc, "user.name")
        if user == "null":  # some devices write the word for "no user"
            del doc["user"]["name"]
        elif isinstance(user, str):
            set_path(doc, "related.user", [user])
    host = get_path(doc, "host.name")
    relate_ips(doc, f"{host} {body}" if isinstance(host, str) else body)


# Transport protocols as devices name them; any other protocol name is an application protocol.
TRANSPORTS = frozenset({"tcp", "udp", "icmp", "icmpv6", "sctp", "gre"})


def set_transport_or_protocol(doc: Doc, value: str | None, transports: frozenset[str] = TRANSPORTS) -> None:
    """network.transport when value (lower-cased) is one of `transports`, else network.protocol."""
    if value:
        low = value.lower()
        set_path(doc, "network.transport" if low in transports else "network.protocol", low)


def set_endpoint(doc: Doc, side: str, ip: Any, port: Any) -> None:
    """<side>.ip and <side>.address from a valid IP address, <side>.port from an integer 0-65535
    (side: source or destination; values as a JSON record holds them, anything else is skipped)."""
    if isinstance(ip, str):
        canon = valid_ip(ip)
        if canon is not None:
            set_path(doc, f"{side}.ip", canon)
            set_path(doc, f"{side}.address", canon)
    if isinstance(port, int) and not isinstance(port, bool) and 0 <= port <= 65535:
        set_path(doc, f"{side}.port", port)


def copy_present(doc: Doc, values: Mapping[str, str], fields: Mapping[str, str]) -> None:
    """values[key] into its ECS field, for each key of `fields` (key -> field) with a non-empty value."""
    for key, field in fields.items():
        if values.get(key):
            set_path(doc, field, values[key])


# `YYYY-M-D h:mm:ss`, the date-time most devices write in their local time (groups y, m, d, H, M, S).
DATETIME = re.compile(r"(\d{4})-(\d{1,2})-(\d{1,2})\s(\d{1,2}):(\d{2}):(\d{2})")


def _datetime(m: re.Match[str], tz: tzinfo) -> datetime:
    """The date-time of a match whose first six groups are y, m, d, H, M, S; ValueError if not real."""
    y, mo, d, h, mi, s = (int(g) for g in m.groups()[:6])
    return datetime(y, mo, d, h, mi, s, tzinfo=tz)


def find_datetime(text: str, tz: tzinfo, pattern: re.Pattern[str] = DATETIME) -> datetime | None:
    """The first date-time `pattern` finds in text (groups y, m, d, H, M, S) in zone tz; None when
    there is none or it is not a real time."""
    m = pattern.search(text)
    if m is None:
        return None
    try:
        return _datetime(m, tz)
    except ValueError:
        return None


def field_time(doc: Doc, value: str, tz: tzinfo, pattern: re.Pattern[str] = DATETIME) -> None:
    """@timestamp from a time field's value (see find_datetime); tagged `_timestamp_invalid` when
    the value is there but is not a time."""
    ts = find_datetime(value, tz, pattern)
    if ts is not None:
        doc["@timestamp"] = iso(ts)
    elif value:
        doc.setdefault("tags", []).append("_timestamp_invalid")


def local_time(doc: Doc, text: str, ctx: ParseContext, pattern: re.Pattern[str] = DATETIME) -> None:
    """@timestamp from the first date-time `pattern` finds in text (groups y, m, d, H, M, S),
    read in the source's zone; tagged `_timestamp_invalid` when it is not a real time."""
    m = pattern.search(text)
    if m is None:
        return
    try:
        doc["@timestamp"] = iso(_datetime(m, ctx.timezone))
    except ValueError:
        doc.setdefault("tags", []).append("_timestamp_invalid")


def exact_local_time(doc: Doc, value: str, ctx: ParseContext, fmt: str = "%Y-%m-%d %H:%M:%S") -> None:
    """@timestamp from value, a local time written exactly in `fmt` (strptime), read in the
    source's zone; tagged `_timestamp_invalid` when it is not (an empty value included)."""
    try:
        doc["@timestamp"] = iso(datetime.strptime(value, fmt).replace(tzinfo=ctx.timezone))
    except ValueError:
        doc.setdefault("tags", []).append("_timestamp_invalid")


def epoch_time(doc: Doc, value: Any, fractional: bool = False) -> None:
    """@timestamp from epoch seconds or milliseconds (whole, or with `fractional` any number);
    0 or less means "no time"."""
    try:
        n = float(value) if fractional else int(value)
        if n > 0:
            doc["@timestamp"] = iso(datetime.fromtimestamp(n / 1000 if n > 10**11 else n, UTC))
    except (TypeError, ValueError, OverflowError, OSError):
        doc.setdefault("tags", []).append("_timestamp_invalid")


def set_url(doc: Doc, target: str) -> None:
    """url.original, url.path and url.query, and url.scheme/url.domain of an absolute URL."""
    set_path(doc, "url.original", target)
    rest = target
    if "://" in target[:12]:
        scheme, _, rest = target.partition("://")
        set_path(doc, "url.scheme", scheme.lower())
        authority, slash, tail = rest.partition("/")
        if authority:
            set_path(doc, "url.domain", authority.rsplit("@", 1)[-1].split(":", 1)[0])
        rest = slash + tail
    path, q, query = rest.partition("?")
    if path:
        set_path(doc, "url.path", path)
    if q:
        set_path(doc, "url.query", query)
