"""IBM QRadar Log Event Extended Format (LEEF 1.0 and 2.0) to ECS.

`LEEF:1.0|Vendor|Product|Version|EventID|k=v<TAB>k=v...` and
`LEEF:2.0|Vendor|Product|Version|EventID|<delimiter>|k=v<delim>k=v...`, where the 2.0 delimiter
is one character or its hex code (`^`, `x09`, `0x5E`). Attribute names are those of the LEEF
specification (src, dst, srcPort, usrName, devTime + devTimeFormat, sev, cat ...).
"""

from __future__ import annotations

import re
from datetime import datetime

from soc.model import get_path, iso, set_path

from . import register_message
from .base import Doc, ParseContext, ParseError
from .cef import CEF_SEVERITY
from .kv import apply_fields, relate_ips, set_observer_header, set_severity, split_kv

_LEEF_START = re.compile(r"LEEF:\s?([12]\.0)\|")
_HEX_DELIM = re.compile(r"^(?:0?[xX])([0-9A-Fa-f]{2,4})$")

# LEEF predefined attribute names -> ECS (see "LEEF event components", IBM QRadar docs).
LEEF_KEYS: dict[str, str] = {
    "src": "source.ip", "dst": "destination.ip", "srcPort": "source.port", "dstPort": "destination.port",
    "srcPreNAT": "source.ip", "dstPreNAT": "destination.ip", "srcPostNAT": "source.nat.ip",
    "dstPostNAT": "destination.nat.ip", "srcPreNATPort": "source.port", "dstPreNATPort": "destination.port",
    "srcPostNATPort": "source.nat.port", "dstPostNATPort": "destination.nat.port",
    "srcMAC": "source.mac", "dstMAC": "destination.mac", "srcBytes": "source.bytes", "dstBytes": "destination.bytes",
    "srcPackets": "source.packets", "dstPackets": "destination.packets",
    "usrName": "user.name", "accountName": "user.name", "userName": "user.name", "domain": "user.domain",
    "groupID": "group.id", "role": "user.roles", "realm": "user.domain",
    "identSrc": "source.ip", "identHostName": "host.name", "identNetBios": "host.hostname",
    "vSrc": "source.nat.ip", "proto": "network.transport", "url": "url.original", "resource": "url.original",
    "policy": "rule.name", "cat": "event.provider", "action": "event.action",
}  # fmt: skip
_INT_EXTRA = frozenset({"source.packets", "destination.packets", "source.nat.port", "destination.nat.port"})
_TRANSPORT = {"6": "tcp", "17": "udp", "1": "icmp", "58": "ipv6-icmp"}
# Java SimpleDateFormat patterns devTimeFormat gives most often -> strptime.
_JAVA = [("yyyy", "%Y"), ("MMM", "%b"), ("MM", "%m"), ("dd", "%d"), ("HH", "%H"), ("mm", "%M"),
         ("ss", "%S"), ("SSS", "%f"), ("z", "%Z"), ("Z", "%z"), ("a", "%p"), ("hh", "%I")]  # fmt: skip
_DEFAULT_FORMATS = ("%b %d %Y %H:%M:%S", "%b %d %Y %H:%M:%S.%f", "%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S")


def sniff_leef(body: str) -> bool:
    """A LEEF header within the first 200 characters."""
    return "LEEF:" in body[:200] and _LEEF_START.search(body[:200]) is not None


def _java_to_strptime(fmt: str) -> str:
    out, i = [], 0
    while i < len(fmt):
        for java, py in _JAVA:
            if fmt.startswith(java, i):
                out.append(py)
                i += len(java)
                break
        else:
            out.append("%%" if fmt[i] == "%" else fmt[i])
            i += 1
    return "".join(out)


def _dev_time(value: str, fmt: str | None, ctx: ParseContext) -> datetime | None:
    """devTime in the devTimeFormat given (Java pattern), epoch ms, or a common layout."""
    value = value.strip()
    if value.isdigit():
        n = int(value)
        return datetime.fromtimestamp(n / 1000 if n > 10**11 else n, ctx.timezone)
    formats = ([_java_to_strptime(fmt)] if fmt else []) + list(_DEFAULT_FORMATS)
    for f in formats:
        try:
            ts = datetime.strptime(value, f)
        except ValueError:
            continue
        return ts if ts.tzinfo else ts.replace(tzinfo=ctx.timezone)
    return None


def _delimiter(field: str) -> str | None:
    """The LEEF 2.0 attribute delimiter written in the header, or None if field is not one."""
    if len(field) == 1:
        return field
    if field in ("\\t", "tab"):
        return "\t"
    m = _HEX_DELIM.match(field)
    return chr(int(m.group(1), 16)) if m else None


@register_message("leef", sniff=sniff_leef, priority=10)
def parse_leef(body: str, doc: Doc, ctx: ParseContext) -> None:
    """Read a LEEF 1.0/2.0 message into ECS fields of doc."""
    start = _LEEF_START.search(body[:4096])
    if start is None:
        raise ParseError("leef_no_header", "no LEEF:1.0| or LEEF:2.0| header")
    text = body[start.start() :].rstrip("\r\n")
    version = start.group(1)
    parts = text.split("|", 5)
    if len(parts) < 5:
        raise ParseError("leef_short_header", f"{len(parts)} header fields, 5 expected")
    vendor, product, dev_version, event_id = (p.strip() for p in parts[1:5])
    rest = parts[5] if len(parts) > 5 else ""
    delim = "\t"
    if version == "2.0":
        head, sep, tail = rest.partition("|")
        found = _delimiter(head) if sep else None
        if found is not None:
            delim, rest = found, tail

    pairs: dict[str, str] = {}
    if delim in rest:
        for item in rest.split(delim):
            key, eq, value = item.partition("=")
            key = key.strip()
            if eq and key and key not in pairs:
                pairs[key] = value.strip()
    else:
        # Relays that turned the tabs into spaces: the shared tokenizer (quoted values kept).
        pairs = split_kv(rest, seps="=")

    set_path(doc, "event.module", "leef")
    set_path(doc, "event.dataset", "leef.log")
    set_path(doc, "leef.version", version)
    set_observer_header(doc, vendor, product, dev_version)
    if event_id:
        set_path(doc, "event.code", event_id)

    time_value = pairs.pop("devTime", None)
    time_format = pairs.pop("devTimeFormat", None)
    sev = pairs.pop("sev", None)
    proto = pairs.pop("proto", None)
    extra = {k: v for k, v in LEEF_KEYS.items() if k != "proto"}
    apply_fields(doc, {k: v for k, v in pairs.items() if LEEF_KEYS.get(k) not in _INT_EXTRA}, extra=extra)
    for key, value in pairs.items():
        field = LEEF_KEYS.get(key)
        if field in _INT_EXTRA and value.isdigit() and get_path(doc, field) is None:
            set_path(doc, field, int(value))
    if proto:
        set_path(doc, "network.transport", _TRANSPORT.get(proto, proto.lower()))
    if sev and sev.isdigit():
        set_path(doc, "event.severity", int(sev))
        set_severity(doc, sev, CEF_SEVERITY)  # LEEF's sev is 1-10 (1 lowest), read as CEF's 0-10
    if time_value:
        try:
            ts = _dev_time(time_value, time_format, ctx)
        except (ValueError, OverflowError, OSError):
            ts = None
        if ts is None:
            doc.setdefault("tags", []).append("_timestamp_invalid")
        else:
            set_path(doc, "@timestamp", iso(ts))
    roles = get_path(doc, "user.roles")
    if isinstance(roles, str):
        set_path(doc, "user.roles", [roles])
    if get_path(doc, "source.ip") or get_path(doc, "destination.ip"):
        set_path(doc, "event.category", ["network"])
    relate_ips(doc, text)
