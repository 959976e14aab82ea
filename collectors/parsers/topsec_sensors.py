"""Topsec detection sensors to ECS: TopAPT file events, TopHPP honeypot alerts, TopNTA flow records.

- TopAPT: `LogFile="File";Time="2019-06-12 12:25:39 +0800";SIP="...";DIP="...";SPort=...;AttackerIP=...`
- TopHPP: `type=alert_collect,timestamp=...,severity=Low,attack_type=...,sip=...,dport=9200,...`
- TopNTA: `tbl_ori_flow_ipv4_realtime;<comma separated numbers>` (addresses as integers: only
  observer and the record kind are read).
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from urllib.parse import unquote

from soc.model import iso, set_path

from . import register_message
from .base import Doc, ParseContext, ParseError
from .kv import apply_fields, relate_ips, set_observer_dataset, set_severity, split_kv

_APT_SNIFF = re.compile(r'LogFile="[A-Za-z]{1,32}";Time="')
_HPP_SNIFF = re.compile(r"type=alert_collect,timestamp=")
_NTA_SNIFF = re.compile(r"tbl_[a-z0-9_]{1,64}_realtime;\d")
_TIME = re.compile(r"(\d{4})-(\d{1,2})-(\d{1,2})\s(\d{1,2}):(\d{2}):(\d{2})(?:\s([+-])(\d{2}):?(\d{2}))?")

APT_EXTRA: dict[str, str] = {
    "SIP": "source.ip",
    "DIP": "destination.ip",
    "SPort": "source.port",
    "DPort": "destination.port",
    "SGEO": "source.geo.country_iso_code",
    "DGEO": "destination.geo.country_iso_code",
    "Filename": "file.name",
    "Type": "file.extension",
    "MD5": "file.hash.md5",
    "Level": "log.level",
    "AV": "soc.device.av_result",
}
HPP_EXTRA: dict[str, str] = {
    "attack_brief": "rule.name",
    "attack_type": "rule.category",
    "cve_id": "vulnerability.id",
    "severity": "log.level",
}


def _when(value: str, ctx: ParseContext) -> datetime | None:
    """A `YYYY-MM-DD hh:mm:ss [+hhmm]` time; without offset it is local (ctx.timezone)."""
    m = _TIME.search(value)
    if m is None:
        return None
    try:
        ts = datetime(*(int(g) for g in m.groups()[:6]), tzinfo=ctx.timezone)  # type: ignore[misc]
    except ValueError:
        return None
    if m.group(7):
        sign = 1 if m.group(7) == "+" else -1
        offset = timezone(sign * timedelta(hours=int(m.group(8)), minutes=int(m.group(9))))
        ts = ts.replace(tzinfo=offset)
    return ts


def _set_time(doc: Doc, value: str, ctx: ParseContext) -> None:
    """@timestamp from the body's time, tagged when present but invalid."""
    ts = _when(value, ctx)
    if ts is not None:
        doc["@timestamp"] = iso(ts)
    elif value:
        doc.setdefault("tags", []).append("_timestamp_invalid")


@register_message("topsec_topapt", sniff=lambda body: _APT_SNIFF.match(body[:40]) is not None, priority=20)
def parse_topsec_topapt(body: str, doc: Doc, ctx: ParseContext) -> None:
    """TopAPT file/traffic event: semicolon-separated Key="value" pairs."""
    pairs = split_kv(body, seps="=")
    if "LogFile" not in pairs:
        raise ParseError("not_topsec_topapt", "no LogFile=")
    set_observer_dataset(doc, "topsec", "topapt", "ids", "topapt")
    _set_time(doc, pairs.get("Time", ""), ctx)
    apply_fields(doc, {k: v for k, v in pairs.items() if k in APT_EXTRA and v not in ("", "NA")}, extra=APT_EXTRA,
                 keep_rest=False)
    proto = pairs.get("Proto", "").lower()
    if proto:
        set_path(doc, "network.protocol", proto)
    if pairs.get("From"):
        set_path(doc, "url.original", unquote(pairs["From"]))
    if pairs.get("AttackerIP"):
        set_path(doc, "threat.indicator.ip", pairs["AttackerIP"])
    av = pairs.get("AV", "")
    clean = av == "" or av.lower().startswith("no virus")
    set_path(doc, "event.kind", "event" if clean else "alert")
    set_path(doc, "event.category", ["intrusion_detection", "network"] if not clean else ["network", "file"])
    set_path(doc, "event.type", ["info"])
    set_path(doc, "event.action", pairs["LogFile"].lower())
    relate_ips(doc, body)


@register_message("topsec_tophpp", sniff=lambda body: _HPP_SNIFF.match(body[:40]) is not None, priority=20)
def parse_topsec_tophpp(body: str, doc: Doc, ctx: ParseContext) -> None:
    """TopHPP honeypot alert: comma-separated key=value pairs."""
    pairs = split_kv(body, seps="=")
    set_observer_dataset(doc, "topsec", "tophpp", "honeypot", "tophpp")
    stamp = re.search(r"timestamp=([^,]{0,40})", body)
    _set_time(doc, stamp.group(1) if stamp else "", ctx)
    fields = {k: v for k, v in pairs.items() if k not in ("type", "timestamp")}
    apply_fields(doc, fields, extra=HPP_EXTRA)
    set_severity(doc, pairs.get("severity"))  # Low, Medium, High
    set_path(doc, "event.kind", "alert")
    set_path(doc, "event.category", ["intrusion_detection", "network"])
    set_path(doc, "event.type", ["info"])
    relate_ips(doc, body)


@register_message("topsec_topnta", sniff=lambda body: _NTA_SNIFF.match(body[:80]) is not None, priority=40)
def parse_topsec_topnta(body: str, doc: Doc, ctx: ParseContext) -> None:
    """TopNTA real-time table record: only the table name is understood."""
    table = body.split(";", 1)[0]
    set_observer_dataset(doc, "topsec", "topnta", "nta", "topnta")
    set_path(doc, "event.category", ["network"])
    set_path(doc, "event.type", ["info"])
    set_path(doc, "soc.device.table", table)
    doc.setdefault("tags", []).append("_parse_partial")
    relate_ips(doc, body)
