"""RFC 5424 syslog, and the PRI and RFC 3339 timestamp helpers that BSD syslog shares."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone, tzinfo

from soc.model import iso, set_path

from . import register
from .base import Doc, ParseContext, Parsed, ParseError

DATASET = "syslog.rfc5424"
NIL = "-"

# RFC 5424 table 1 (the names are the usual syslog.h keywords) and table 2.
FACILITY_NAMES = (
    "kern", "user", "mail", "daemon", "auth", "syslog", "lpr", "news",
    "uucp", "cron", "authpriv", "ftp", "ntp", "security", "console", "solaris-cron",
    "local0", "local1", "local2", "local3", "local4", "local5", "local6", "local7",
)  # fmt: skip
SEVERITY_NAMES = (
    "Emergency", "Alert", "Critical", "Error", "Warning", "Notice", "Informational", "Debug",
)  # fmt: skip

TAG_PRI_INVALID = "_syslog_pri_invalid"
TAG_SD_INVALID = "_syslog_sd_invalid"
TAG_TIMESTAMP_INVALID = "_timestamp_invalid"

# An RFC 3339 date-time, leniently: "/" as date separator, "T" or a space, a fraction of up to
# nine digits after "." or ",", and a zone that may be missing, "Z", "+08", "+0800" or "+08:00".
RFC3339 = re.compile(
    r"(\d{4})([-/])(\d{1,2})\2(\d{1,2})[Tt ](\d{1,2}):(\d{2}):(\d{2})(?:[.,](\d{1,9}))?"
    r"(?:([Zz])|([+-])(\d{2})(?::?(\d{2}))?)?"
)
_HEADER = re.compile(
    r"<(\d{1,3})>(\d{1,2}) (\S{1,64}) (\S{1,255}) (\S{1,128}) (\S{1,128}) (\S{1,128})(?: |$)"
)
_SD_ID = re.compile(r'\[([^\s=\]"]+)')
_SD_PARAM = re.compile(r' ([^\s=\]"]+)="([^"\\]*(?:\\.[^"\\]*)*)"', re.DOTALL)
_SD_UNESCAPE = re.compile(r'\\(["\\\]])')


def set_priority(doc: Doc, pri_text: str) -> bool:
    """Set log.syslog priority, facility and severity from PRI digits; False if out of range."""
    pri = int(pri_text)
    if pri > 191 or (len(pri_text) > 1 and pri_text[0] == "0"):
        return False
    facility, severity = divmod(pri, 8)
    set_path(doc, "log.syslog.priority", pri)
    set_path(doc, "log.syslog.facility", {"code": facility, "name": FACILITY_NAMES[facility]})
    set_path(doc, "log.syslog.severity", {"code": severity, "name": SEVERITY_NAMES[severity]})
    return True


def rfc3339_datetime(m: re.Match[str], default_tz: tzinfo) -> datetime:
    """The aware datetime of an RFC3339 match; ValueError for an impossible date or offset."""
    year, _, month, day, hour, minute, second, frac, zulu, sign, off_h, off_m = m.groups()
    micro = int(frac[:6].ljust(6, "0")) if frac else 0
    sec = min(int(second), 59)  # a leap second (":60") is kept within its minute
    if zulu:
        tz: tzinfo = timezone.utc
    elif sign:
        offset = timedelta(hours=int(off_h), minutes=int(off_m or 0))
        tz = timezone(-offset if sign == "-" else offset)
    else:
        tz = default_tz
    return datetime(int(year), int(month), int(day), int(hour), int(minute), sec, micro, tzinfo=tz)


def _unescape(value: str) -> str:
    """Undo the RFC 5424 PARAM-VALUE escapes \\", \\\\ and \\]; other backslashes stay."""
    return _SD_UNESCAPE.sub(r"\1", value) if "\\" in value else value


def _structured_data(text: str, pos: int) -> tuple[dict[str, dict[str, object]], int] | None:
    """Parse SD-ELEMENTs from `pos`; the elements and the end position, or None if malformed."""
    sd: dict[str, dict[str, object]] = {}
    n = len(text)
    while pos < n and text[pos] == "[":
        m = _SD_ID.match(text, pos)
        if m is None:
            return None
        params = sd.setdefault(m.group(1), {})
        pos = m.end()
        while (pm := _SD_PARAM.match(text, pos)) is not None:
            name, value = pm.group(1), _unescape(pm.group(2))
            old = params.get(name)
            if old is None:
                params[name] = value
            elif isinstance(old, list):
                old.append(value)
            else:
                params[name] = [old, value]
            pos = pm.end()
        if pos >= n or text[pos] != "]":
            return None
        pos += 1
    if pos < n and text[pos] != " ":
        return None
    return sd, pos


@register("rfc5424")
def parse_rfc5424(text: str, ctx: ParseContext) -> Parsed:
    """Parse an RFC 5424 line into ECS."""
    line = text.rstrip("\r\n\x00").lstrip(" \ufeff")
    if not line or line.isspace():
        raise ParseError("empty", "empty line")
    if not line.startswith("<"):
        raise ParseError("syslog_no_pri", "RFC 5424 line does not start with <PRI>")
    m = _HEADER.match(line)
    if m is None:
        raise ParseError("syslog_header_invalid", f"not an RFC 5424 header: {line[:64]!r}")
    pri, version, ts, host, app, procid, msgid = m.groups()
    doc: Doc = {}
    tags: list[str] = []
    if not set_priority(doc, pri):
        tags.append(TAG_PRI_INVALID)
    set_path(doc, "log.syslog.version", version)

    device_ts = False
    if ts != NIL:
        tm = RFC3339.fullmatch(ts)
        try:
            if tm is None:
                raise ValueError(ts)
            doc["@timestamp"] = iso(rfc3339_datetime(tm, ctx.timezone))
            device_ts = True
        except (ValueError, OverflowError):
            tags.append(TAG_TIMESTAMP_INVALID)
    if host != NIL:
        set_path(doc, "host.hostname", host)
        set_path(doc, "host.name", host)
        set_path(doc, "log.syslog.hostname", host)
    if app != NIL:
        set_path(doc, "process.name", app)
        set_path(doc, "log.syslog.appname", app)
    if procid != NIL:
        if procid.isascii() and procid.isdigit():
            set_path(doc, "process.pid", int(procid))
        else:
            set_path(doc, "log.syslog.procid", procid)
    if msgid != NIL:
        set_path(doc, "log.syslog.msgid", msgid)

    pos = m.end()
    message: str | None = None
    if pos < len(line):
        if line[pos] == "-" and (pos + 1 == len(line) or line[pos + 1] == " "):
            end = pos + 1
        else:
            result = _structured_data(line, pos) if line[pos] == "[" else None
            if result is None:
                tags.append(TAG_SD_INVALID)
                message = line[pos:]
                end = len(line)
            else:
                sd, end = result
                if sd:
                    set_path(doc, "log.syslog.structured_data", sd)
        if message is None and end < len(line):
            message = line[end + 1 :]
    if message is not None:
        doc["message"] = message[1:] if message.startswith("\ufeff") else message

    set_path(doc, "event.kind", "event")
    set_path(doc, "event.module", "syslog")
    set_path(doc, "event.dataset", DATASET)
    return Parsed(doc=doc, device_timestamped=device_ts, tags=tags)
