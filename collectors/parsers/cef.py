"""ArcSight Common Event Format (CEF) to ECS, following the field mapping of Elastic's CEF integration.

`CEF:Version|Device Vendor|Device Product|Device Version|Signature ID|Name|Severity|Extension`,
bare or inside a syslog message (possibly after a host name or a vendor prefix). Header fields
escape `\\|` and `\\\\`; extension values escape `\\=`, `\\\\`, `\\n` and `\\r`.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from soc.model import get_path, iso, set_path

from . import register_message
from .base import Doc, ParseContext, ParseError
from .kv import relate_ips, set_observer_header, set_severity, valid_ip

_CEF_START = re.compile(r"CEF:\s?\d{1,2}\|")
# An extension key: letters, digits, _ . - [ ] right before an unescaped "=", at the start or
# after a space. The "=" of "\=" is escaped because "\" is not a key character.
_EXT_KEY = re.compile(r"(?:^|(?<= ))([A-Za-z0-9_.\-\[\]]{1,100})=")
_HEADER_SPLIT = re.compile(r"(?<!\\)\|")
_UNESCAPE_EXT = re.compile(r"\\([=\\nr|])")
_UNESCAPE_HDR = re.compile(r"\\([|\\])")
_EXT_ESCAPES = {"=": "=", "\\": "\\", "n": "\n", "r": "\r", "|": "|"}

# CEF short names (and ArcSight full names) -> ECS field, as Elastic's CEF pipeline maps them.
_IP = {
    "src": "source.ip", "sourceAddress": "source.ip",
    "dst": "destination.ip", "destinationAddress": "destination.ip",
    "sourceTranslatedAddress": "source.nat.ip", "destinationTranslatedAddress": "destination.nat.ip",
    "dvc": "observer.ip", "deviceAddress": "observer.ip",
}  # fmt: skip
_INT = {
    "spt": "source.port", "sourcePort": "source.port",
    "dpt": "destination.port", "destinationPort": "destination.port",
    "sourceTranslatedPort": "source.nat.port", "destinationTranslatedPort": "destination.nat.port",
    "in": "source.bytes", "bytesIn": "source.bytes", "out": "destination.bytes", "bytesOut": "destination.bytes",
    "spid": "source.process.pid", "dpid": "process.pid", "fsize": "file.size",
}  # fmt: skip
_STR = {
    "shost": "source.domain", "sourceHostName": "source.domain",
    "dhost": "destination.domain", "destinationHostName": "destination.domain",
    "smac": "source.mac", "sourceMacAddress": "source.mac",
    "dmac": "destination.mac", "destinationMacAddress": "destination.mac",
    "suser": "source.user.name", "sourceUserName": "source.user.name",
    "duser": "destination.user.name", "destinationUserName": "destination.user.name",
    "suid": "source.user.id", "sourceUserId": "source.user.id",
    "duid": "destination.user.id", "destinationUserId": "destination.user.id",
    "spriv": "source.user.group.name", "sourceUserPrivileges": "source.user.group.name",
    "dpriv": "destination.user.group.name", "destinationUserPrivileges": "destination.user.group.name",
    "sntdom": "source.user.domain", "dntdom": "destination.user.domain",
    "sourceServiceName": "source.service.name", "destinationServiceName": "destination.service.name",
    "act": "event.action", "deviceAction": "event.action",
    "msg": "message", "message": "message",
    "request": "url.original", "requestUrl": "url.original",
    "requestMethod": "http.request.method", "requestContext": "http.request.referrer",
    "requestClientApplication": "user_agent.original",
    "app": "network.protocol", "applicationProtocol": "network.protocol",
    "dvchost": "observer.hostname", "deviceHostName": "observer.hostname",
    "deviceExternalId": "observer.name", "dvcmac": "observer.mac",
    "deviceInboundInterface": "observer.ingress.interface.name",
    "deviceOutboundInterface": "observer.egress.interface.name",
    "fname": "file.name", "fileName": "file.name", "filePath": "file.path",
    "sproc": "source.process.name", "dproc": "process.name", "deviceProcessName": "process.name",
    "dtz": "event.timezone", "deviceTimeZone": "event.timezone",
    "externalId": "event.id", "eventId": "event.id", "reason": "event.reason",
    "cat": "event.provider", "deviceEventCategory": "event.provider",
}  # fmt: skip
_TIME = {"rt": "@timestamp", "deviceReceiptTime": "@timestamp", "start": "event.start",
         "startTime": "event.start", "end": "event.end", "endTime": "event.end"}  # fmt: skip
# Custom fields whose label names an ECS field (labels as Check Point, Forcepoint and others write them).
_LABELS = {
    "source ipv6 address": "source.ip", "destination ipv6 address": "destination.ip",
    "ruleid": "rule.id", "rule id": "rule.id", "rule name": "rule.name", "rule": "rule.name",
    "matched category": "rule.category", "threat name": "rule.name",
}  # fmt: skip
_TRANSPORT = {"6": "tcp", "17": "udp", "1": "icmp", "58": "ipv6-icmp", "47": "gre", "50": "esp", "132": "sctp"}
_SEVERITY = {"unknown": None, "low": 0, "medium": 4, "high": 7, "very-high": 10, "very high": 10}
# The CEF specification's severity: 0-3 Low, 4-6 Medium, 7-8 High, 9-10 Very-High, or those words.
CEF_SEVERITY: dict[str, str] = {
    **dict.fromkeys(("0", "1", "2", "3", "low"), "low"), **dict.fromkeys(("4", "5", "6", "medium"), "medium"),
    **dict.fromkeys(("7", "8", "high"), "high"), **dict.fromkeys(("9", "10", "very-high", "very high"), "critical"),
}  # fmt: skip
_TIME_FORMATS = ("%b %d %Y %H:%M:%S.%f", "%b %d %Y %H:%M:%S", "%b %d %H:%M:%S.%f", "%b %d %H:%M:%S")
_ZONED = re.compile(r"^(.*\d) ([A-Za-z][\w/+\-]{1,40})$")


def sniff_cef(body: str) -> bool:
    """A CEF header within the first 200 characters."""
    return "CEF:" in body[:200] and _CEF_START.search(body[:200]) is not None


def split_extension(ext: str) -> dict[str, str]:
    """The key=value pairs of a CEF extension, values unescaped and trimmed."""
    out: dict[str, str] = {}
    keys = list(_EXT_KEY.finditer(ext))
    for i, m in enumerate(keys):
        end = keys[i + 1].start() if i + 1 < len(keys) else len(ext)
        raw = ext[m.end() : end].strip()
        key = m.group(1)
        if key not in out:
            out[key] = _UNESCAPE_EXT.sub(lambda e: _EXT_ESCAPES[e.group(1)], raw)
    return out


def _cef_time(value: str, ctx: ParseContext, tz_name: str | None) -> datetime | None:
    """A CEF date: epoch milliseconds, or "MMM dd [yyyy] HH:mm:ss[.SSS] [zone]"."""
    value = value.strip()
    if value.isdigit():
        return datetime.fromtimestamp(int(value) / 1000, UTC)
    tz = ctx.timezone
    zm = _ZONED.match(value)
    if zm is not None:
        value, tz_name = zm.group(1), zm.group(2)
    if tz_name:
        try:
            tz = ZoneInfo(tz_name)
        except (ZoneInfoNotFoundError, ValueError):
            pass
    for fmt in _TIME_FORMATS:
        try:
            ts = datetime.strptime(value, fmt)
        except ValueError:
            continue
        if "%Y" not in fmt:
            ts = ts.replace(year=ctx.received_at.astimezone(tz).year)
        return ts.replace(tzinfo=tz)
    try:
        ts = datetime.fromisoformat(value)
    except ValueError:
        return None
    return ts if ts.tzinfo else ts.replace(tzinfo=tz)


def _append(doc: Doc, field: str, value: str) -> None:
    values = get_path(doc, field) or []
    if value not in values:
        values.append(value)
    set_path(doc, field, values)


@register_message("cef", sniff=sniff_cef, priority=10)
def parse_cef(body: str, doc: Doc, ctx: ParseContext) -> None:
    """Read a CEF message (bare or after a syslog header) into ECS fields of doc."""
    start = _CEF_START.search(body[:4096])
    if start is None:
        raise ParseError("cef_no_header", "no CEF:<version>| header")
    text = body[start.start() :].rstrip("\r\n")
    parts = _HEADER_SPLIT.split(text, maxsplit=7)
    if len(parts) < 7:
        raise ParseError("cef_short_header", f"{len(parts)} header fields, 7 expected")
    hdr = [_UNESCAPE_HDR.sub(r"\1", p) for p in parts[:7]]
    version = hdr[0].split(":", 1)[1].strip()
    vendor, product, dev_version, sig_id, name, severity = (h.strip() for h in hdr[1:7])
    ext = split_extension(parts[7]) if len(parts) > 7 else {}

    set_path(doc, "event.module", "cef")
    set_path(doc, "event.dataset", "cef.log")
    set_path(doc, "cef.version", version)
    set_path(doc, "cef.device.vendor", vendor)
    set_path(doc, "cef.device.product", product)
    set_path(doc, "cef.device.version", dev_version)
    set_path(doc, "cef.device.event_class_id", sig_id)
    set_path(doc, "cef.name", name)
    set_path(doc, "cef.severity", severity)
    set_observer_header(doc, vendor, product, dev_version)
    if sig_id:
        set_path(doc, "event.code", sig_id)
        set_path(doc, "rule.id", sig_id)
    if name:
        set_path(doc, "rule.name", name)
        set_path(doc, "message", name)
    sev = severity.lower()
    if sev.isdigit():
        set_path(doc, "event.severity", int(sev))
    elif _SEVERITY.get(sev) is not None:
        set_path(doc, "event.severity", _SEVERITY[sev])
    set_severity(doc, sev, CEF_SEVERITY)

    partial = False
    tz_name = ext.get("dtz") or ext.get("deviceTimeZone")
    for key, value in ext.items():
        if value == "":
            continue
        set_path(doc, f"cef.extensions.{key}", value)
        if key in _IP:
            ip = valid_ip(value)
            if ip is not None:
                set_path(doc, _IP[key], ip)
        elif key in _INT:
            if value.isdigit():
                set_path(doc, _INT[key], int(value))
        elif key in _STR:
            set_path(doc, _STR[key], value)
        elif key in _TIME:
            try:
                ts = _cef_time(value, ctx, tz_name)
            except (ValueError, OverflowError, OSError):
                ts = None
            if ts is None:
                doc.setdefault("tags", []).append("_timestamp_invalid")
                partial = True
            else:
                set_path(doc, _TIME[key], iso(ts))
        elif key in ("proto", "transportProtocol"):
            set_path(doc, "network.transport", _TRANSPORT.get(value, value.lower()))
        elif key in ("outcome", "categoryOutcome"):
            outcome = value.strip("/").lower()
            if outcome in ("success", "failure"):
                set_path(doc, "event.outcome", outcome)
        elif key in ("deviceDirection",):
            if value in ("0", "1"):
                set_path(doc, "network.direction", "inbound" if value == "0" else "outbound")
    # Custom fields named by their labels (csN/cnN/cN6aN + csNLabel ...).
    for key, value in ext.items():
        if key.endswith("Label") and value.lower() in _LABELS:
            field = _LABELS[value.lower()]
            custom = ext.get(key[: -len("Label")])
            if not custom or get_path(doc, field) is not None:
                continue
            if field.endswith(".ip"):
                ip = valid_ip(custom)
                if ip is not None:
                    set_path(doc, field, ip)
            else:
                set_path(doc, field, custom)

    action = get_path(doc, "event.action")
    if isinstance(action, str):
        set_path(doc, "event.action", action.lower())
    # Analysts search user.name: the acting (source) user, else the target.
    user = get_path(doc, "source.user.name") or get_path(doc, "destination.user.name")
    if user:
        set_path(doc, "user.name", user)
        _append(doc, "related.user", user)
    if get_path(doc, "source.ip") or get_path(doc, "destination.ip"):
        set_path(doc, "event.category", ["network"])
    if partial:
        doc.setdefault("tags", []).append("_parse_partial")
    relate_ips(doc, text)
