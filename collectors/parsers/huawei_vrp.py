"""Huawei VRP information-center logs (`%%01MODULE/severity/MNEMONIC(l):text`) to ECS.

One format for the USG firewalls, NIP IPS, Agile Controller NAC and the switches. The product is
read from the module (POLICYPERMIT/POLICYDENY session logs, ANTI-APT, NLOG, CM: USG; POLICY/VIOLATE,
SOFTDIS: Agile Controller) or from a model name in the host name (USG..., NIP..., AgileController,
...firewall...), else left as "vrp" without observer.type. Bodies are `k=v, k=v` or
`Text. (K=v, K="v")`. A body `time=YYYY/M/D hh:mm:ss` is local time; the syslog header of these
devices is often UTC, so the body time wins. Also: iBMC server management lines.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

from soc.model import get_path, iso, set_path

from . import register_message, register_product
from .base import Doc, ParseContext, ParseError
from .kv import (
    SYSLOG_SEVERITY, apply_fields, find_datetime, relate_ips, set_observer_dataset, set_severity, split_kv,
    valid_ip,
)

# "%%01SEC/4/NAME(l):" and the spaced "%% 01 HWCM/5/EXIT(I)[1]:" of some releases.
_HEAD = re.compile(
    r"%%\s?01\s?([A-Z][A-Z0-9_-]{0,31})/(\d)/([A-Z][A-Z0-9_]{0,63})(?:\((\w)\))?(?:\[(\d{1,10})\])?:\s?"
)
_PREFIX_HOST = re.compile(r"(?:\d{4}[-/]\d{1,2}[-/]\d{1,2} \d{1,2}:\d{2}:\d{2} )?([A-Za-z0-9_.\-]{1,64}) $")
_TIME = re.compile(r"(\d{4})[-/](\d{1,2})[-/](\d{1,2})\s(\d{1,2}):(\d{2}):(\d{2})")
_BODY_TIME = re.compile(r"\btime=(\d{4}/\d{1,2}/\d{1,2} \d{1,2}:\d{2}:\d{2})")
_PAREN = re.compile(r"\(([A-Za-z]{2,32}=.{0,8192})\)\s*$")
_IBMC = re.compile(r"iBMC (\S{1,64}) : (\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}) ([A-Z]{2,16}),([^,@]{0,64})@([^,]{1,64}),")

EXTRA: dict[str, str] = {
    "source-ip": "source.ip",
    "source-port": "source.port",
    "destination-ip": "destination.ip",
    "destination-port": "destination.port",
    "source-zone": "observer.ingress.zone",
    "destination-zone": "observer.egress.zone",
    "rule-name": "rule.name",
    "application-name": "network.application",
    "srcip": "source.ip",
    "dstip": "destination.ip",
    "srcport": "source.port",
    "dstport": "destination.port",
    "srczone": "observer.ingress.zone",
    "dstzone": "observer.egress.zone",
    "signname": "rule.name",
    "signid": "rule.id",
    "threatname": "rule.name",
    "threattype": "rule.category",
    "category": "rule.category",
    "severity": "event.severity_name",
    "attacktype": "rule.name",
    "ipaddress": "source.ip",
    "ip": "source.ip",
    "user": "user.name",
    "vsys": "observer.vsys",
    "profile": "soc.device.profile",
    "policy": "soc.device.policy",
    "syslogid": "soc.device.syslog_id",
    "hash": "file.hash.sha256",
    "filetype": "file.extension",
    "mac": "source.mac",
    "rdsip": "soc.device.radius_ip",
    "access type": "network.protocol",
    "protocol": "network.transport",
}
_IANA = {"1": "icmp", "6": "tcp", "17": "udp", "58": "ipv6-icmp"}
# module -> (product, observer.type) when the module belongs to one product line.
_MODULES: dict[str, tuple[str, str]] = {
    "POLICY": ("usg", "firewall"),
    "ANTI-APT": ("usg", "firewall"),
    "NLOG": ("usg", "firewall"),
    "ASSOC": ("usg", "firewall"),
    "CM": ("usg", "firewall"),
    "SOFTDIS": ("agile-controller", "nac"),
}
_DETECTIONS = frozenset({"IPS", "ASSOC", "ANTI-APT", "ATK", "AV", "ANTIVIRUS", "URL"})


def _product(module: str, mnemonic: str, host: str) -> tuple[str, str | None]:
    """(product, observer.type or None) from the host name's model, then from the module."""
    low = host.lower()
    if "agilecontroller" in low or (module == "POLICY" and mnemonic == "VIOLATE"):
        return "agile-controller", "nac"
    if "nip" in low:
        return "nip", "ips"
    if low.startswith("usg") or "firewall" in low or "-fw" in low or low.startswith("fw"):
        return "usg", "firewall"
    if module in _MODULES:
        return _MODULES[module]
    if module in _DETECTIONS:
        return "usg", "firewall"  # IPS/AV/attack defence are USG features unless the host says NIP
    return "vrp", None


def _pairs(text: str) -> dict[str, str]:
    """The k=v pairs of a body: `k=v, k=v`, `Text. (K=v, ...)` or `KEY:v;KEY:v` (CM)."""
    m = _PAREN.search(text)
    inner = m.group(1) if m else text
    if inner.startswith("[USER_INFO") or ";" in inner and ":" in inner and "=" not in inner:
        return {k.lower(): v for k, v in split_kv(inner.split("]", 1)[-1], seps=":").items()}
    return {k.lower(): v for k, v in split_kv(inner, seps="=").items()}


def _sniff(body: str) -> bool:
    """A Huawei VRP body: `%%01` (or `%% 01`) module/severity/mnemonic within the first 120 chars."""
    head = body[:160]
    return "%%" in head and _HEAD.search(head) is not None


@register_message("huawei_vrp", sniff=_sniff, priority=20)
def parse_vrp(body: str, doc: Doc, ctx: ParseContext, forced: tuple[str, str] | None = None) -> None:
    """Huawei VRP log: module, severity, mnemonic and the message's k=v pairs; `forced` sets
    (product, observer.type) for a configured source."""
    m = _HEAD.search(body[:160])
    if m is None:
        raise ParseError("not_huawei_vrp", "no %%01MODULE/severity/MNEMONIC header")
    module, severity, mnemonic = m.group(1), int(m.group(2)), m.group(3)
    prefix = body[: m.start()]
    host = get_path(doc, "host.name") or ""
    if prefix:
        pm = _PREFIX_HOST.search(prefix)
        if pm is not None:
            host = pm.group(1)
            set_path(doc, "host.name", host)
        ts = find_datetime(prefix, ctx.timezone, _TIME)
        if ts is not None:
            doc["@timestamp"] = iso(ts)
    text = body[m.end():]
    product, kind = forced or _product(module, mnemonic, host)
    set_observer_dataset(doc, "huawei", product, kind, product)
    if host:
        set_path(doc, "observer.hostname", host)
    set_path(doc, "event.code", f"{module}/{severity}/{mnemonic}")
    set_path(doc, "event.provider", module)
    set_path(doc, "log.level", str(severity))
    set_path(doc, "log.syslog.severity.code", severity)
    pairs = _pairs(text)
    proto = pairs.pop("protocol", "")
    fields = {
        k: v.strip().strip('"').rstrip(".")
        for k, v in pairs.items()
        if k not in ("time", "action", "user", "result", "src", "dst")
    }
    for key, side in (("src", "source"), ("dst", "destination")):  # ATK: src="ip:port"
        host, _, port = pairs.get(key, "").strip().rpartition(":")
        if valid_ip(host):
            set_path(doc, f"{side}.ip", valid_ip(host))
            if port.strip().isdigit():
                set_path(doc, f"{side}.port", int(port))
    user = pairs.get("user", "").strip('"')
    apply_fields(doc, fields, extra=EXTRA)
    if user and user.lower() not in ("unknown", "-"):
        set_path(doc, "user.name", user)
        set_path(doc, "related.user", [user])
    if proto:
        proto = proto.strip('"').lower()
        set_path(doc, "network.transport", _IANA.get(proto, proto))
    if pairs.get("time", "").isdigit():  # CM: TIME:<epoch seconds>;ZONE:UTC+0800
        doc["@timestamp"] = iso(datetime.fromtimestamp(int(pairs["time"]), UTC))
    elif pairs.get("time"):
        tm = _BODY_TIME.search(text)
        ts = find_datetime(tm.group(1), ctx.timezone, _TIME) if tm else None
        if ts is not None:
            doc["@timestamp"] = iso(ts)
        else:
            doc.setdefault("tags", []).append("_timestamp_invalid")
    action = pairs.get("action", "").strip().strip('"')
    _categorize(doc, module, mnemonic, text, action, pairs)
    if module == "SHELL" and pairs.get("command"):
        set_path(doc, "process.command_line", pairs["command"].strip('"'))
    if kind not in (None, "switch"):  # a security device: the threat's Severity=, else the message's level
        set_severity(doc, get_path(doc, "event.severity_name"))
        set_severity(doc, severity, SYSLOG_SEVERITY)
    relate_ips(doc, body)


# Sources configured as a NIP IPS, a USG firewall or a FireHunter APT sandbox.
register_product("huawei_nip", parse_vrp, ("nip", "ips"))
register_product("huawei_usg", parse_vrp, ("usg", "firewall"))
register_product("huawei_firehunter", parse_vrp, ("firehunter", "ids"))


def _categorize(doc: Doc, module: str, mnemonic: str, text: str, action: str, pairs: dict[str, str]) -> None:
    """event.kind/category/type/action/outcome from the module and mnemonic."""
    cats: list[str] = ["host"]
    types: list[str] = ["info"]
    low_action = action.lower()
    if mnemonic in ("POLICYPERMIT", "POLICYDENY"):
        cats = ["network"]
        types = ["connection", "allowed"] if mnemonic == "POLICYPERMIT" else ["connection", "denied"]
        set_path(doc, "event.action", "permit" if mnemonic == "POLICYPERMIT" else "deny")
    elif module in _DETECTIONS:
        set_path(doc, "event.kind", "alert")
        cats = ["intrusion_detection", "network"]
        if module == "ANTI-APT" or mnemonic in ("TROJAN", "TPROJAN", "VIRUS"):
            cats = ["intrusion_detection", "malware", "network"]
        if low_action:
            set_path(doc, "event.action", low_action)
            types = ["denied"] if low_action in ("block", "drop", "reset") else ["info"]
    elif module == "SHELL" or module in ("HWCM", "CLI", "CFM") or mnemonic.startswith("CMD"):
        cats, types = ["configuration"], ["change"]
        set_path(doc, "event.action", mnemonic.lower())
    elif module == "CM" or "LOGIN" in mnemonic or "LOGOUT" in mnemonic:
        cats, types = ["authentication"], ["info"]
        result = pairs.get("result", "").lower()
        if result in ("success", "failure", "failed"):
            set_path(doc, "event.outcome", "success" if result == "success" else "failure")
        set_path(doc, "event.action", mnemonic.lower())
    elif module == "POLICY" and mnemonic == "VIOLATE":
        cats, types = ["host"], ["info"]
        set_path(doc, "event.action", "policy-violated")
    else:
        set_path(doc, "event.action", mnemonic.lower())
    if "success" in text.lower() or "succeeded" in text.lower():
        doc.setdefault("event", {}).setdefault("outcome", "success")
    set_path(doc, "event.category", cats)
    set_path(doc, "event.type", types)


@register_message("huawei_ibmc", sniff=lambda body: _IBMC.match(body[:160]) is not None, priority=30)
def parse_huawei_ibmc(body: str, doc: Doc, ctx: ParseContext) -> None:
    """iBMC: `iBMC SERIAL : YYYY-MM-DD hh:mm:ss IFACE,USER@IP,TYPE,message`."""
    m = _IBMC.match(body)
    if m is None:
        raise ParseError("not_huawei_ibmc", "no iBMC header")
    set_observer_dataset(doc, "huawei", "ibmc", "bmc", "ibmc")
    set_path(doc, "observer.serial_number", m.group(1))
    ts = find_datetime(m.group(2), ctx.timezone, _TIME)
    if ts is not None:
        doc["@timestamp"] = iso(ts)
    set_path(doc, "network.protocol", m.group(3).lower())
    if m.group(4):
        set_path(doc, "user.name", m.group(4))
    ip = valid_ip(m.group(5))
    if ip:
        set_path(doc, "source.ip", ip)
    low = body.lower()
    set_path(doc, "event.category", ["authentication"] if "log" in low else ["host"])
    set_path(doc, "event.type", ["end"] if "logged out" in low else ["start"] if "logged in" in low else ["info"])
    relate_ips(doc, body)
