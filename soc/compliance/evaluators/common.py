"""What several evaluators share: durations and times in a check's params, the device a stored
event came from, and the queries that pick a subject's events.

No evaluator here: this module only holds helpers (load_evaluators imports it like the others).
"""

from __future__ import annotations

import ipaddress
import math
import re
from collections.abc import Sequence
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from soc.compliance.engine import asset_filter
from soc.compliance.model import CheckDef, Subject
from soc.model import Doc, get_path, parse_iso

DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd])\s*$")
UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}
# A time in params without an offset is China time, as the devices and the console write it.
LOCAL = ZoneInfo("Asia/Shanghai")
# The device an event came from, by name (first present wins), then by the address it sent from.
DEVICE_NAMES = ("observer.name", "observer.hostname", "host.name")
DEVICE_IP = "observer.ip"
CLOSED = ("resolved", "false_positive")
OPEN = ("new", "in_progress")


def duration(check: CheckDef, key: str, default: str) -> timedelta:
    """A duration param ("90s", "30m", "2h", "1d"; a bare number is seconds); ValueError naming
    the check and the key otherwise."""
    value = check.params.get(key, default)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return timedelta(seconds=float(value))
    m = DURATION.match(str(value))
    if not m:
        raise ValueError(f"{check.id}: params.{key} must be a duration such as 30m, 2h or 1d (got {value!r})")
    return timedelta(**{UNITS[m.group(2)]: float(m.group(1))})


def es_interval(check: CheckDef, key: str, default: str) -> str:
    """A duration param as Elasticsearch writes a fixed interval (whole units only)."""
    value = str(check.params.get(key, default)).strip()
    if not re.fullmatch(r"\d+[smhd]", value):
        raise ValueError(f"{check.id}: params.{key} must be a whole number of s, m, h or d (got {value!r})")
    return value


def number(check: CheckDef, key: str, default: float) -> float:
    value = check.params.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{check.id}: params.{key} must be a number (got {value!r})")
    return float(value)


def param_time(value: Any, where: str) -> datetime:
    """A point in time from params: a YAML timestamp or an ISO string; China time without an offset."""
    if isinstance(value, datetime):
        ts = value
    elif isinstance(value, date):
        ts = datetime(value.year, value.month, value.day)
    else:
        try:
            ts = datetime.fromisoformat(str(value).strip().replace("Z", "+00:00"))
        except ValueError:
            raise ValueError(f"{where}: not a time (got {value!r}); write 2026-03-01T02:00:00+08:00") from None
    return ts if ts.tzinfo is not None else ts.replace(tzinfo=LOCAL)


def for_subject(value: Any, subject: Subject) -> list[Any]:
    """A param given for every subject (a list) or per subject (a mapping of names to lists)."""
    if value is None:
        return []
    if isinstance(value, dict):
        got = value.get(subject.name, [])
        return list(got) if isinstance(got, list | tuple) else [got]
    return list(value) if isinstance(value, list | tuple) else [value]


def device_label(name: Any, ip: Any) -> str:
    """How a device is named in evidence: its name and, when known, the address it sent from."""
    if name and ip and str(name) != str(ip):
        return f"{name} ({ip})"
    return str(name or ip or "?")


def device_of(source: Doc) -> str:
    """The device of a stored event (its _source), as device_label names it."""
    name = next((v for f in DEVICE_NAMES if (v := get_path(source, f))), None)
    return device_label(name, get_path(source, DEVICE_IP))


def host_of(source: Doc) -> str:
    """The host or device an event is about, by name when it has one, else by address."""
    name = next((v for f in DEVICE_NAMES if (v := get_path(source, f))), None)
    return str(name or get_path(source, DEVICE_IP) or "?")


def device_sources() -> list[dict[str, Any]]:
    """Composite-aggregation sources that tell devices apart (missing values kept)."""
    return [{f: {"terms": {"field": f, "missing_bucket": True}}} for f in (*DEVICE_NAMES, DEVICE_IP)]


def device_from_key(key: dict[str, Any]) -> str:
    name = next((key.get(f) for f in DEVICE_NAMES if key.get(f)), None)
    return device_label(name, key.get(DEVICE_IP))


def device_filter(devices: Sequence[str]) -> dict[str, Any]:
    """Events sent by any of these devices (names or addresses, as a zone lists them)."""
    should: list[dict[str, Any]] = [{"terms": {f: list(devices)}} for f in DEVICE_NAMES]
    ips = [d for d in devices if _is_ip(d)]
    if ips:
        should.append({"terms": {DEVICE_IP: ips}})
    return {"bool": {"should": should, "minimum_should_match": 1}}


def network_filter(networks: Sequence[str], fields: Sequence[str] = ("source.ip", "destination.ip")) -> dict[str, Any]:
    return {"bool": {"should": [{"term": {f: n}} for f in fields for n in networks], "minimum_should_match": 1}}


def subject_filter(subject: Subject) -> dict[str, Any] | None:
    """The events of a subject: a system's (enriched with its name), a zone's boundary devices' (or
    traffic of its networks when it lists no device), everything for the platform. None: a zone
    that registers neither."""
    if subject.kind == "asset":
        return asset_filter(subject)
    if subject.kind == "zone":
        if subject.devices:
            return device_filter(subject.devices)
        if subject.networks:
            return network_filter(subject.networks)
        return None
    return {"match_all": {}}


def hit_time(hit: Doc, field: str = "@timestamp") -> datetime:
    return parse_iso(str(get_path(hit["_source"], field)))


def percentile(values: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile (the value at or below which pct % of the values lie)."""
    ordered = sorted(values)
    rank = max(1, math.ceil(pct / 100.0 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def median(values: Sequence[float]) -> float:
    ordered = sorted(values)
    mid = len(ordered) // 2
    return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2


def human(td: timedelta | float) -> str:
    """A duration for a reason: 2h05m, 45m, 30s, 3d4h."""
    seconds = td.total_seconds() if isinstance(td, timedelta) else float(td)
    sign, seconds = ("-" if seconds < 0 else ""), abs(round(seconds))
    d, rest = divmod(seconds, 86400)
    h, rest = divmod(rest, 3600)
    m, s = divmod(rest, 60)
    if d:
        return f"{sign}{d}d{h}h" if h else f"{sign}{d}d"
    if h:
        return f"{sign}{h}h{m:02d}m" if m else f"{sign}{h}h"
    if m:
        return f"{sign}{m}m{s:02d}s" if s and m < 10 else f"{sign}{m}m"
    return f"{sign}{s}s"


def _is_ip(value: str) -> bool:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True
