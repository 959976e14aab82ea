"""Snort / Suricata "fast" alert lines (alert_fast, fast.log), bare or carried in syslog."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

from soc.model import get_path, iso, set_path

from . import register_message
from .base import Doc, ParseContext, ParseError
from .kv import RULE_PRIORITY, relate_ips, set_observer_dataset, set_severity, valid_ip

TAG_TIMESTAMP_INVALID = "_timestamp_invalid"
TAG_PARTIAL = "_parse_partial"

# "05/30-19:09:10.917356" (no year) or "09/03/21-12:37:16.428952" (snort -y).
_TS = r"(?P<ts>(?P<mon>\d{2})/(?P<day>\d{2})(?:/(?P<year>\d{2}|\d{4}))?-(?P<h>\d{2}):(?P<m>\d{2}):(?P<s>\d{2})(?:\.(?P<frac>\d{1,6}))?)"
# [**] [gid:sid:rev] msg [**]  (alert_fast) or  [gid:sid:rev] msg  (alert_syslog).
_ALERT = re.compile(
    rf"(?:{_TS}\s+)?(?:\[(?P<verdict>w?Drop)\]\s+)?(?P<stars>\[\*\*\]\s+)?"
    r"\[(?P<gid>\d{1,10}):(?P<sid>\d{1,10}):(?P<rev>\d{1,10})\]\s+(?P<msg>.{0,2048}?)\s*"
    r"(?:\[\*\*\]\s*)?"
    r"(?:\[Classification:\s*(?P<cls>[^\]]{0,256})\]\s*)?"
    r"(?:\[Priority:\s*(?P<prio>\d{1,3})\]\s*)?:?\s*"
    r"(?:<(?P<iface>[^>]{0,64})>\s*)?"
    r"\{(?P<proto>[^}]{1,32})\}\s+(?P<src>\S{1,64})\s+->\s+(?P<dst>\S{1,64})"
)
_SNIFF = re.compile(
    r"(?:\d{2}/\d{2}(?:/\d{2,4})?-\d{2}:\d{2}:\d{2}(?:\.\d{1,6})?\s+(?:\[w?Drop\]\s+)?\[\*\*\]\s+)?"
    r"\[\d{1,10}:\d{1,10}:\d{1,10}\]\s"
)
_GID_SID_REV = re.compile(r"\[(\d{1,10}):(\d{1,10}):(\d{1,10})\]")
_PROTO_NAMES = {"ipv6-icmp": "ipv6-icmp", "icmpv6": "ipv6-icmp", "proto:58": "ipv6-icmp"}
# A year-less timestamp further than this ahead of the receive time is last year's.
_FUTURE_SLACK = timedelta(days=1)


def _sniff(body: str) -> bool:
    """A fast.log line, or the body of a snort/suricata syslog alert: "[gid:sid:rev] msg"."""
    return _SNIFF.match(body[:200]) is not None


def _address(value: str, ports: bool) -> tuple[str | None, int | None]:
    """An "ip:port", "[v6]:port", bare IPv4 or IPv6 address as (ip, port).

    Snort 2 appends ":port" to an IPv6 address too; for port-less protocols (ICMP) nothing is split.
    """
    if value.startswith("["):
        host, _, port = value[1:].partition("]")
        port = port.lstrip(":")
        ip = valid_ip(host)
        return ip, int(port) if ports and port.isdigit() and int(port) <= 65535 else None
    if ports and ":" in value:
        head, _, port = value.rpartition(":")
        ip = valid_ip(head)
        if ip is not None and port.isdigit() and int(port) <= 65535:
            return ip, int(port)
    return valid_ip(value), None


def _timestamp(m: re.Match[str], ctx: ParseContext) -> datetime:
    """The alert time; a year-less one is placed in the year around ctx.received_at."""
    tz = ctx.timezone
    micro = int((m.group("frac") or "0").ljust(6, "0"))
    month, day = int(m.group("mon")), int(m.group("day"))
    hms = int(m.group("h")), int(m.group("m")), int(m.group("s"))
    year_text = m.group("year")
    if year_text:
        year = int(year_text) + (2000 if len(year_text) == 2 else 0)
        return datetime(year, month, day, *hms, micro, tzinfo=tz)
    received = ctx.received_at
    ts = datetime(received.astimezone(tz).year, month, day, *hms, micro, tzinfo=tz)
    if ts - received > _FUTURE_SLACK:
        ts = ts.replace(year=ts.year - 1)
    return ts


@register_message("snort_fast", sniff=_sniff, programs=("snort",), priority=30)
def enrich_snort_fast(body: str, doc: Doc, ctx: ParseContext) -> None:
    """Read a Snort/Suricata fast alert into ECS fields of `doc`, in place."""
    app = get_path(doc, "process.name")
    vendor = "suricata" if isinstance(app, str) and app.lower() == "suricata" else "snort"
    m = _ALERT.match(body)
    if m is None:
        if app == "snort" and _SNIFF.match(body[:200]) is None:
            # snort's other syslog messages (start-up, statistics): an event of the sensor.
            set_observer_dataset(doc, vendor, vendor, "ids", "log")
            relate_ips(doc, body)
            return
        if _SNIFF.match(body[:200]) is None:
            raise ParseError("snort_not_alert", "no [gid:sid:rev] alert header")
    set_observer_dataset(doc, vendor, vendor, "ids", "log" if vendor == "snort" else "fast")
    set_path(doc, "event.kind", "alert")
    set_path(doc, "event.category", ["network", "intrusion_detection"])
    if m is None:
        # The alert header is there but not the rest (a truncated line): keep what is sure.
        head = _GID_SID_REV.search(body[:200])
        if head is not None:
            set_path(doc, "rule.id", head.group(2))
        set_path(doc, "event.type", ["info"])
        doc.setdefault("tags", []).append(TAG_PARTIAL)
        relate_ips(doc, body)
        return

    if m.group("ts"):
        try:
            set_path(doc, "@timestamp", iso(_timestamp(m, ctx)))
        except (ValueError, OverflowError):
            doc.setdefault("tags", []).append(TAG_TIMESTAMP_INVALID)
    set_path(doc, "rule.id", str(int(m.group("sid"))))
    set_path(doc, "rule.version", str(int(m.group("rev"))))
    set_path(doc, f"{vendor}.gid", int(m.group("gid")))
    msg = m.group("msg").strip()
    if msg:
        set_path(doc, "rule.name", msg)
        set_path(doc, "rule.description", msg)
    if m.group("cls"):
        set_path(doc, "rule.category", m.group("cls").strip())
    if m.group("prio"):
        set_path(doc, "event.severity", int(m.group("prio")))
        set_severity(doc, int(m.group("prio")), RULE_PRIORITY)  # classification priority, 1 highest
    verdict = m.group("verdict")
    if verdict:
        set_path(doc, "event.action", verdict.lower())
        set_path(doc, "event.type", ["denied"] if verdict == "Drop" else ["info"])
    else:
        set_path(doc, "event.type", ["info"])
    if m.group("iface"):
        set_path(doc, "observer.ingress.interface.name", m.group("iface"))
    proto = m.group("proto").strip().lower()
    if proto.isdigit():
        set_path(doc, "network.iana_number", proto)
    else:
        set_path(doc, "network.transport", _PROTO_NAMES.get(proto, proto))
    ports = proto not in ("icmp", "ipv6-icmp", "icmpv6", "ip", "esp", "ah", "gre")
    for side, text in (("source", m.group("src")), ("destination", m.group("dst"))):
        ip, port = _address(text, ports)
        if ip is not None:
            set_path(doc, f"{side}.ip", ip)
            set_path(doc, f"{side}.address", ip)
        if port is not None:
            set_path(doc, f"{side}.port", port)
        if ip is None:
            doc.setdefault("tags", []).append(TAG_PARTIAL)
    relate_ips(doc, body)
