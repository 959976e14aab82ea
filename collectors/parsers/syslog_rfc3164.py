"""BSD syslog (RFC 3164) as devices really send it: optional PRI, loose timestamps and tags."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, tzinfo

from soc.model import iso, set_path

from . import register
from .base import Doc, ParseContext, Parsed, ParseError
from .syslog_rfc5424 import (
    RFC3339,
    TAG_PRI_INVALID,
    TAG_TIMESTAMP_INVALID,
    rfc3339_datetime,
    set_priority,
)

DATASET = "syslog.rfc3164"

MONTHS = {m: i for i, m in enumerate(
    ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"), 1
)}  # fmt: skip

# How far past its receive time a year-less timestamp may lie before it is taken as last year's.
FUTURE_SLACK = timedelta(days=1)

_PRI = re.compile(r"<(-?\d{1,4})>")
# "Mmm dd hh:mm:ss", day space-padded or not, with the year some devices add either after the
# day (Huawei, Cisco: "Jan 18 2022 23:55:54") or after the time (H3C: "Nov 14 02:00:00 2020").
_BSD_TS = re.compile(
    r"([A-Za-z]{3}) {1,2}(\d{1,2})(?: (\d{4}))? (\d{1,2}):(\d{2}):(\d{2})(?:\.(\d{1,6}))?"
    r"(?: (\d{4})(?= ))?(?= |$)"
)
_ISO_END = re.compile(r"(?= |$)")
# TAG: "prog[pid]:" (the space after the colon is optional then) or "prog:" before a space.
# Both are ASCII only: a token of Chinese text is message content (or a device name mangled
# by a wrong charset), and a wrong host.name misleads more than a missing one.
_TAG = re.compile(r"([A-Za-z0-9_.\-/@]{1,64})(?:\[([^\]\s]{0,32})\]: ?|:(?: |$))")
_HOST = re.compile(r"([A-Za-z0-9_.\-:%@]{1,255}) +")


def _year_inferred(m: re.Match[str], ctx: ParseContext, tz: tzinfo) -> datetime:
    """The aware datetime of a year-less BSD timestamp, placed in the year around received_at."""
    month = MONTHS[m.group(1).lower()]
    day, hour, minute, sec = int(m.group(2)), int(m.group(4)), int(m.group(5)), int(m.group(6))
    micro = int(m.group(7).ljust(6, "0")) if m.group(7) else 0
    explicit_year = m.group(3) or m.group(8)
    if explicit_year:
        return datetime(int(explicit_year), month, day, hour, minute, sec, micro, tzinfo=tz)
    received = ctx.received_at
    local_year = received.astimezone(tz).year
    ts = datetime(local_year, month, day, hour, minute, sec, micro, tzinfo=tz)
    if ts - received > FUTURE_SLACK:
        # "Dec 31 23:59:59" received on Jan 1: last year's line.
        return ts.replace(year=local_year - 1)
    if month == 1 and received - ts > timedelta(days=300):
        # "Jan 1 00:00:01" from a device a little ahead, received on Dec 31: next year's line.
        nxt = ts.replace(year=local_year + 1)
        if nxt - received <= FUTURE_SLACK:
            return nxt
    return ts


@register("rfc3164")
def parse_rfc3164(text: str, ctx: ParseContext) -> Parsed:
    """Parse a BSD syslog line (or a file-tail line without PRI) into ECS."""
    line = text.rstrip("\r\n\x00").lstrip("\ufeff")
    if not line or line.isspace():
        raise ParseError("empty", "empty line")
    doc: Doc = {}
    tags: list[str] = []
    pos = 0
    pm = _PRI.match(line)
    if pm is not None:
        pri = pm.group(1)
        if pri.startswith("-") or not set_priority(doc, pri):
            tags.append(TAG_PRI_INVALID)
        pos = pm.end()
        while pos < len(line) and line[pos] == " ":
            pos += 1

    tz = ctx.timezone
    device_ts = False
    ts_match: re.Match[str] | None = None
    first = line[pos : pos + 1]
    try:
        if first.isdigit():
            ts_match = RFC3339.match(line, pos)
            if ts_match is not None and _ISO_END.match(line, ts_match.end()) is None:
                ts_match = None
            if ts_match is not None:
                doc["@timestamp"] = iso(rfc3339_datetime(ts_match, tz))
                device_ts = True
        elif first.isalpha():
            ts_match = _BSD_TS.match(line, pos)
            if ts_match is not None and ts_match.group(1).lower() not in MONTHS:
                ts_match = None
            if ts_match is not None:
                doc["@timestamp"] = iso(_year_inferred(ts_match, ctx, tz))
                device_ts = True
    except (ValueError, OverflowError):
        tags.append(TAG_TIMESTAMP_INVALID)

    if ts_match is None:
        if pm is None:
            raise ParseError("syslog_no_pri", "no <PRI> and no syslog timestamp")
        # RFC 3164 4.3.3: without a valid TIMESTAMP the whole rest is the content.
        doc["message"] = line[pos:]
    else:
        pos = ts_match.end()
        while pos < len(line) and line[pos] == " ":
            pos += 1
        tag = _TAG.match(line, pos)
        if tag is None:
            host = _HOST.match(line, pos)
            if host is not None and not host.group(1).endswith(":"):
                name = host.group(1)
                set_path(doc, "host.hostname", name)
                set_path(doc, "host.name", name)
                set_path(doc, "log.syslog.hostname", name)
                pos = host.end()
                tag = _TAG.match(line, pos)
        if tag is not None:
            set_path(doc, "process.name", tag.group(1))
            set_path(doc, "log.syslog.appname", tag.group(1))
            pid = tag.group(2)
            if pid:
                if pid.isascii() and pid.isdigit():
                    set_path(doc, "process.pid", int(pid))
                else:
                    set_path(doc, "log.syslog.procid", pid)
            pos = tag.end()
        doc["message"] = line[pos:]

    set_path(doc, "event.kind", "event")
    set_path(doc, "event.module", "syslog")
    set_path(doc, "event.dataset", DATASET)
    return Parsed(doc=doc, device_timestamped=device_ts, tags=tags)
