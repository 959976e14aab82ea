"""Fortinet FortiGate key=value logs (FortiOS "Log Reference") to ECS.

`date=2024-08-28 time=10:33:52 devname="FW" devid="FG3K..." tz="+0200" logid="..." type="traffic"
subtype="forward" srcip=... dstip=... action="deny" ...`, after a syslog header or bare (also
after a relay's "ISO-time relay-ip " prefix). Fields follow Elastic's fortinet_fortigate
mapping where it is ECS-correct; IPS/AV detections name the signature in rule.* (not the policy).
FortiOS 4 wrote `log_id=`, `device_id=`, `src=`/`dst=` and the UTM kind in `type=` (`type=dlp`,
`type=virus`, `type=attack`) where FortiOS 5+ writes `logid=`, `devid=`, `srcip=` and `type=utm`;
both are read (FortiOS 4 firmware lives on in OEM boxes, e.g. EasyNetworks).
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

from soc.model import get_path, iso, set_path

from . import register_message
from .base import Doc, ParseContext, ParseError
from .kv import SYSLOG_SEVERITY, apply_fields, relate_ips, set_observer_dataset, set_severity, split_kv, valid_ip

_SNIFF = re.compile(r"(?:^|[\s\"])date=\"?\d{4}-\d{2}-\d{2}\"? time=\"?\d{1,2}:\d{2}:\d{2}")
_TZ = re.compile(r"^(?:UTC|GMT)?([+-])(\d{2}):?(\d{2})$")

# FortiGate key -> ECS field (keys not listed fall to kv.ECS_KEYS, then soc.device.*).
FORTI_KEYS: dict[str, str] = {
    "devname": "observer.name", "devid": "observer.serial_number", "logid": "event.code",
    "srcip": "source.ip", "srcport": "source.port", "dstip": "destination.ip", "dstport": "destination.port",
    "transip": "source.nat.ip", "transport": "source.nat.port", "tranip": "destination.nat.ip",
    "tranport": "destination.nat.port", "srcmac": "source.mac", "dstmac": "destination.mac",
    "srcintf": "observer.ingress.interface.name", "dstintf": "observer.egress.interface.name",
    "srccountry": "source.geo.country_name", "dstcountry": "destination.geo.country_name",
    "sentbyte": "source.bytes", "rcvdbyte": "destination.bytes",
    "policyid": "rule.id", "policyname": "rule.name", "profile": "rule.ruleset", "catdesc": "rule.category",
    "logdesc": "rule.description", "level": "log.level", "msg": "message", "reason": "event.reason",
    "group": "source.user.group.name", "hostname": "url.domain", "httpmethod": "http.request.method",
    "agent": "user_agent.original", "referralurl": "http.request.referrer", "ref": "event.reference",
    "remip": "source.ip", "locip": "destination.ip", "remport": "source.port", "locport": "destination.port",
    "tunnelip": "source.nat.ip", "assignip": "source.nat.ip", "vd": "observer.vd",
    "filename": "file.name", "virus": "rule.name", "eventtype": "fortinet.firewall.eventtype",
    "type": "fortinet.firewall.type", "subtype": "fortinet.firewall.subtype", "direction": "network.direction",
    "sessionid": "network.session_id", "ui": "fortinet.firewall.ui", "qname": "dns.question.name",
    "action": "fortinet.firewall.action", "status": "fortinet.firewall.status", "url": "url.original",
    "service": "network.protocol", "user": "fortinet.firewall.user", "proto": "network.iana_number",
    "date": "fortinet.firewall.date", "time": "fortinet.firewall.time", "tz": "event.timezone",
    "eventtime": "fortinet.firewall.eventtime", "attack": "rule.name", "attackid": "rule.id",
    "method": "fortinet.firewall.method", "result": "fortinet.firewall.result",
    "app": "network.application", "appcat": "fortinet.firewall.appcat",
    # FortiOS 4 names
    "log_id": "event.code", "device_id": "observer.serial_number", "src_int": "observer.ingress.interface.name",
    "dst_int": "observer.egress.interface.name", "pri": "log.level", "attack_id": "rule.id",
}  # fmt: skip
_INT_FIELDS = ("source.nat.port", "destination.nat.port")
_TRANSPORT = {"6": "tcp", "17": "udp", "1": "icmp", "58": "ipv6-icmp", "47": "gre", "50": "esp", "132": "sctp"}
_DENY = frozenset({"deny", "block", "blocked", "dropped", "drop", "reset", "reject", "server-rst", "client-rst"})
_ALLOW = frozenset({"accept", "allow", "pass", "passthrough", "permit", "close", "timeout"})
_DETECTION = frozenset({"ips", "anomaly", "virus", "botnet", "malware"})
_FAILED = frozenset({"failed", "failure", "fail", "error", "negotiate_error", "deny"})
# FortiOS 4 `type=` of a UTM log -> the FortiOS 5 subtype of `type=utm`.
_FOS4_UTM = {"virus": "virus", "attack": "ips", "ips": "ips", "webfilter": "webfilter", "dlp": "dlp",
             "spam": "emailfilter", "emailfilter": "emailfilter", "app-crtl": "app-ctrl", "im": "im",
             "voip": "voip", "netscan": "netscan"}  # fmt: skip


def sniff_fortigate(body: str) -> bool:
    """FortiOS layout: date=YYYY-MM-DD time=hh:mm:ss near the start, with a logid or devid (log_id
    in FortiOS 4)."""
    head = body[:400]
    return (
        "date=" in head
        and ("logid=" in head or "devid=" in head or "log_id=" in head)
        and _SNIFF.search(head) is not None
    )


def _utm_kind(pairs: dict[str, str]) -> tuple[str, str]:
    """(type, subtype) in FortiOS 5 terms: FortiOS 4's `type=dlp` is `type=utm subtype=dlp`."""
    ltype = pairs.get("type", "").lower()
    subtype = pairs.get("subtype", "").lower()
    if ltype in _FOS4_UTM:
        if subtype not in _DETECTION:
            subtype = _FOS4_UTM[ltype]
        ltype = "utm"
    return ltype, subtype


def _timestamp(pairs: dict[str, str], ctx: ParseContext) -> datetime:
    """date + time in the tz the device wrote ("+0200"), else in the source's time zone."""
    local = datetime.strptime(f"{pairs['date']} {pairs['time']}", "%Y-%m-%d %H:%M:%S")
    m = _TZ.match(pairs.get("tz", "").strip())
    if m is not None:
        offset = timedelta(hours=int(m.group(2)), minutes=int(m.group(3)))
        return local.replace(tzinfo=timezone(offset if m.group(1) == "+" else -offset))
    return local.replace(tzinfo=ctx.timezone)


def _classify(doc: Doc, pairs: dict[str, str]) -> None:
    """event.kind/category/type/outcome/action from type, subtype, action and status."""
    ltype, subtype = _utm_kind(pairs)
    action = pairs.get("action", "").lower()
    status = pairs.get("status", "").lower()
    if action:
        set_path(doc, "event.action", action)
    category: list[str] = []
    types: list[str] = []
    if ltype == "traffic":
        category, types = ["network"], ["connection"]
        if action in _DENY:
            types.append("denied")
        elif action in _ALLOW:
            types.append("allowed")
        if action in ("close", "timeout"):
            types.append("end")
    elif ltype == "utm" or subtype in _DETECTION:
        category = ["network"]
        if subtype in _DETECTION:
            set_path(doc, "event.kind", "alert")
            category = ["intrusion_detection", "network"] if subtype != "virus" else ["malware", "network"]
            types = ["info"]
        elif subtype == "webfilter":
            category = ["network", "web"]
        if action in _DENY:
            types.append("denied")
        elif action in ("pass", "passthrough", "allow", "accept"):
            types.append("allowed")
        if not types:
            types = ["info"]  # a UTM record that only logs ("log-only", "monitored"): DLP, app control
    elif ltype == "event":
        if action in ("login", "logout") or "login" in pairs.get("logdesc", "").lower():
            category = ["authentication"]
            types = ["start"] if action == "login" else ["end"] if action == "logout" else ["info"]
        elif subtype == "vpn":
            category, types = ["network"], ["connection"]
        elif pairs.get("cfgpath") or action in ("add", "edit", "delete", "set"):
            category, types = ["configuration"], ["change"]
    if category:
        set_path(doc, "event.category", category)
    if types:
        set_path(doc, "event.type", types)
    if status in ("success", "succeeded"):
        set_path(doc, "event.outcome", "success")
    elif status in _FAILED:
        set_path(doc, "event.outcome", "failure")


@register_message("fortigate", sniff=sniff_fortigate, priority=30)
def parse_fortigate(body: str, doc: Doc, ctx: ParseContext) -> None:
    """Read a FortiGate key=value log into ECS fields of doc."""
    start = body.find("date=")
    if start < 0:
        raise ParseError("fortigate_no_date", "no date= field")
    text = body[start:]
    pairs = split_kv(text, seps="=")
    if "date" not in pairs or not ("logid" in pairs or "devid" in pairs or "log_id" in pairs):
        raise ParseError("fortigate_not_kv", "no date/logid/devid fields")

    set_observer_dataset(doc, "fortinet", "fortigate", "firewall", "fortigate")
    try:
        set_path(doc, "@timestamp", iso(_timestamp(pairs, ctx)))
    except (KeyError, ValueError, OverflowError):
        doc.setdefault("tags", []).append("_timestamp_invalid")

    fields = {k: v for k, v in pairs.items() if v not in ("N/A", "n/a")}
    _ltype, subtype = _utm_kind(fields)
    extra = dict(FORTI_KEYS)
    if subtype not in _DETECTION:
        extra.pop("attack")
        extra.pop("attackid")
        extra.pop("attack_id")
    else:
        # The signature is the rule of a detection; the firewall policy is kept aside.
        extra["policyid"] = "fortinet.firewall.policyid"
    apply_fields(doc, {k: v for k, v in fields.items() if FORTI_KEYS.get(k) not in _INT_FIELDS}, extra=extra)
    for key, value in fields.items():
        field = FORTI_KEYS.get(key)
        if field in _INT_FIELDS and value.isdigit():
            set_path(doc, field, int(value))

    proto = fields.get("proto")
    if proto:
        set_path(doc, "network.transport", _TRANSPORT.get(proto, proto.lower()))
    service = get_path(doc, "network.protocol")
    if isinstance(service, str):
        set_path(doc, "network.protocol", service.lower())
    # The user: "user" unless it is an address (IPsec peers), then the EAP/XAUTH name.
    user = fields.get("user")
    if user is None or valid_ip(user) is not None:
        user = fields.get("eapuser") or fields.get("xauthuser") or fields.get("unauthuser")
    if user:
        set_path(doc, "user.name", user)
        set_path(doc, "source.user.name", user)
        set_path(doc, "related.user", [user])
    url = fields.get("url")
    if url and url.startswith("/"):
        path, _, query = url.partition("?")
        set_path(doc, "url.path", path)
        if query:
            set_path(doc, "url.query", query)
    method = get_path(doc, "http.request.method")
    if isinstance(method, str):
        set_path(doc, "http.request.method", method.upper())
    _classify(doc, fields)
    # A UTM log's own severity (IPS, anomaly, DLP: information, low, medium, high, critical), else
    # the log's level: a syslog level name (emergency ... information, debug); older FortiOS say pri.
    set_severity(doc, fields.get("severity"))
    set_severity(doc, fields.get("level") or fields.get("pri"), SYSLOG_SEVERITY)
    relate_ips(doc, text)
