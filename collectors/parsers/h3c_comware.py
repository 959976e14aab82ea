"""H3C Comware logs (`%%10MODULE/level/DIGEST: Key(id)=value;...`) and ACG behaviour logs to ECS.

Comware: SecPath firewalls (F1000/F5000), T9000 IPS and the switches share the format; fields are
`Name(code)=value` separated by `;`. The product comes from a model in the host name (F5010, FW:
firewall; T9008: IPS; S5120, SW: switch), else SecPath firewall for the security modules, else
plain "comware" without observer.type; the WAF module's logs are a WAF's (observer.type waf).
ACG: `H3C;SERIAL;ipv4;3; web_access: k=v;k=v`.
"""

from __future__ import annotations

import re

from soc.model import get_path, iso, set_path

from . import register_message
from .base import Doc, ParseContext, ParseError
from .kv import (
    SYSLOG_SEVERITY, apply_fields, find_datetime, relate_ips, relate_user, set_observer_dataset, set_severity,
    split_kv, valid_ip,
)

# "%%10FILTER/6/FILTER_ZONE_IPV4_EXECUTION:" (10 is H3C's vendor code; some devices omit it).
_HEAD = re.compile(r"%%(10)?([A-Z][A-Z0-9_-]{0,31})/(\d)/([A-Z][A-Z0-9_]{0,63}):\s?")
_FIELD = re.compile(r"([A-Za-z][A-Za-z0-9_]{0,40})\((\d{4})\)=([^;]{0,4096})")
_ACG = re.compile(r"H3C;(\d{6,40});(ipv[46]);(\d{1,2});\s?([a-z_]{1,40}):\s?")
_SSH = re.compile(
    r"(?:Accepted password for|SSH user) (\S{1,64}) from (\S{1,64}) port (\d{1,5})"
    r"(?: passed (\w{1,32}) authentication)?"
)
# Attack-defense digests name the attack: ATK_IP4_ACK_FLOOD_SZ, ATK_ICMP_FLOOD, ATKDF_ICMP_LARGE_RAW
# (_SZ: per security zone, _RAW: per packet).
_ATK_DIGEST = re.compile(r"^ATK(?:DF)?_|(?:_RAW)?(?:_SZ)?$")
_BEGIN = re.compile(r"(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})$")

EXTRA: dict[str, str] = {
    "SrcIPAddr": "source.ip",
    "SrcIPv6Addr": "source.ip",
    "ServerIPAddr": "source.ip",
    "SrcPort": "source.port",
    "DstIPAddr": "destination.ip",
    "DstIPv6Addr": "destination.ip",
    "DstPort": "destination.port",
    "SrcMacAddr": "source.mac",
    "DstMacAddr": "destination.mac",
    "SrcZoneName": "observer.ingress.zone",
    "DstZoneName": "observer.egress.zone",
    "RcvIfName": "observer.ingress.interface.name",
    "Application": "network.protocol",
    "SecurityPolicy": "rule.name",
    "PolicyName": "rule.ruleset",
    "RuleID": "rule.id",
    "AttackName": "rule.name",
    "AttackID": "rule.id",
    "VirusName": "rule.name",
    "VirusID": "rule.id",
    "Category": "rule.category",
    "VirusCategory": "rule.category",
    "UserName": "user.name",
    "LoginUserName": "soc.device.login_user",
    "CVE": "vulnerability.id",
    "MD5": "file.hash.md5",
    "FileName": "file.name",
    "HttpHost": "url.domain",
    "HttpFirstLine": "url.original",
    "Severity": "event.severity_name",
    "user_name": "user.name",
    "src_ip": "source.ip",
    "dst_ip": "destination.ip",
    "dst_port": "destination.port",
    "src_mac": "source.mac",
    "url_domain": "url.domain",
    "url": "url.original",
    "app_name": "network.application",
}
_SKIP = frozenset({"Protocol", "Action", "Event", "LoginPwd", "PayLoad", "BeginTime_c", "EndTime_c", "RealSrcIP"})
_SECURITY = frozenset({"FILTER", "IPS", "ATK", "ANTI-VIR", "BLS", "SCD", "SESSION", "NAT", "DPI", "AVC",
                       "URLF", "UFLT", "WAF"})  # fmt: skip
_DETECTIONS = frozenset({"IPS", "ATK", "ANTI-VIR", "BLS", "SCD", "WAF"})


def _product(module: str, host: str) -> tuple[str, str | None]:
    """(product, observer.type or None) from the model in the host name, then from the module."""
    up = host.upper()
    if re.search(r"(?:^|[-_])T\d{4}", up):
        return "secpath-ips", "ips"
    if re.search(r"(?:^|[-_])(?:F\d{4}|FW)(?:$|[-_])", up):
        return "secpath-firewall", "firewall"
    if re.search(r"(?:^|[-_])S\d{4}|SW(?:$|[-_])", up):
        return "switch", "switch"
    if module in _SECURITY:
        return "secpath-firewall", "firewall"
    return "comware", None


def _local(value: str, ctx: ParseContext) -> str | None:
    """ISO @timestamp of a Comware `YYYYMMDDhhmmss` local time; None when invalid."""
    ts = find_datetime(value.strip().rstrip("."), ctx.timezone, _BEGIN)
    return iso(ts) if ts is not None else None


def _sniff(body: str) -> bool:
    """`%%10MOD/n/DIGEST:` in the first 120 chars, or `%%MOD/n/DIGEST:` followed by Name(code)= fields."""
    head = body[:200]
    if "%%" not in head:
        return False
    m = _HEAD.search(head)
    return m is not None and (m.group(1) is not None or _FIELD.search(body, m.end(), m.end() + 400) is not None)


@register_message("h3c_comware", sniff=_sniff, priority=20)
def parse_h3c_comware(body: str, doc: Doc, ctx: ParseContext) -> None:
    """H3C Comware log: module, level, digest and the `Name(code)=value;` fields."""
    m = _HEAD.search(body[:200])
    if m is None:
        raise ParseError("not_h3c_comware", "no %%10MODULE/level/DIGEST header")
    module, level, digest = m.group(2), int(m.group(3)), m.group(4)
    host = get_path(doc, "host.name") or ""
    prefix = body[: m.start()].strip()
    if prefix:  # "H3C FW-IRF %%10..." : the envelope took H3C as host, the real name follows
        host = prefix.split()[-1]
        set_path(doc, "observer.hostname", host)
    elif host:
        set_path(doc, "observer.hostname", host)
    product, kind = _product(module, host)
    if module == "WAF":  # the SecPath's web application firewall module: for the WAF rules, a WAF
        kind = "waf"
    set_observer_dataset(doc, "h3c", product, kind, product)
    set_path(doc, "event.code", f"{module}/{level}/{digest}")
    set_path(doc, "event.provider", module)
    set_path(doc, "log.level", str(level))
    text = body[m.end():]
    fields: dict[str, str] = {}
    for fm in _FIELD.finditer(text):
        name, value = fm.group(1), fm.group(3).strip().rstrip(".")
        if name not in fields and value not in ("", "--", "[STRING]"):
            fields[name] = value
    apply_fields(doc, {k: v for k, v in fields.items() if k not in _SKIP}, extra=EXTRA)
    if module == "ATK" and get_path(doc, "rule.name") is None:
        set_path(doc, "rule.name", _ATK_DIGEST.sub("", digest))  # the line has no AttackName field
    proto = fields.get("Protocol", "").lower()
    if proto:
        set_path(doc, "network.transport", proto)
    for real in fields.get("RealSrcIP", "").split(","):
        if valid_ip(real):
            set_path(doc, "source.nat.ip", valid_ip(real))  # the client behind a proxy / NAT
            break
    begin = _local(fields.get("BeginTime_c", ""), ctx)
    if begin:
        set_path(doc, "event.start", begin)
    end = _local(fields.get("EndTime_c", ""), ctx)
    if end:
        set_path(doc, "event.end", end)
    action = (fields.get("Event") or fields.get("Action") or "").strip()
    cats: list[str] = ["host"]
    types: list[str] = ["info"]
    if module == "FILTER" or module == "SESSION":
        cats = ["network"]
        types = ["connection", "denied" if action.lower() == "deny" else "allowed"]
    elif module in _DETECTIONS:
        set_path(doc, "event.kind", "alert")
        cats = ["malware", "network"] if module == "ANTI-VIR" else ["intrusion_detection", "network"]
        if module == "WAF":
            cats = ["web", *cats]
        if "reset" in action.lower() or "drop" in action.lower() or "block" in action.lower():
            types = ["denied"]
    ssh = _SSH.search(text)
    if module in ("SSHS", "SHELL") and ssh:
        cats, types = ["authentication"], ["start"]
        set_path(doc, "user.name", ssh.group(1))
        if valid_ip(ssh.group(2)):
            set_path(doc, "source.ip", valid_ip(ssh.group(2)))
        set_path(doc, "source.port", int(ssh.group(3)))
        set_path(doc, "event.outcome", "success")
    if action:
        set_path(doc, "event.action", action.lower())
    else:
        set_path(doc, "event.action", digest.lower())
    set_path(doc, "event.category", cats)
    set_path(doc, "event.type", types)
    if kind not in (None, "switch"):  # a security device: the threat's Severity=, else the message's level
        set_severity(doc, get_path(doc, "event.severity_name"))
        set_severity(doc, level, SYSLOG_SEVERITY)
    relate_user(doc)
    relate_ips(doc, body)


@register_message("h3c_acg", sniff=lambda body: _ACG.match(body[:80]) is not None, priority=20)
def parse_h3c_acg(body: str, doc: Doc, ctx: ParseContext) -> None:
    """H3C ACG application control: `H3C;SERIAL;ipv4;3; kind: k=v;k=v;...`."""
    m = _ACG.match(body)
    if m is None:
        raise ParseError("not_h3c_acg", "no H3C;serial;ipv4;n; header")
    set_observer_dataset(doc, "h3c", "acg", "acm", "acg")
    set_path(doc, "observer.serial_number", m.group(1))
    set_path(doc, "event.action", m.group(4))
    pairs = split_kv(body[m.end():].replace(";", " ; "), seps="=")
    apply_fields(doc, {k: v for k, v in pairs.items() if k in EXTRA}, extra=EXTRA, keep_rest=False)
    set_path(doc, "event.category", ["network"])
    set_path(doc, "event.type", ["info"])
    relate_ips(doc, body)
