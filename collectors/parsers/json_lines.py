"""One JSON object per line, ECS-shaped (nested or with flat dotted keys) or vendor-shaped."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from soc.model import iso, set_path

from . import register
from .base import Doc, ParseContext, Parsed, ParseError, decode_json

TIMESTAMP_KEYS = ("@timestamp", "timestamp", "time", "ts")
TAG_TIMESTAMP_INVALID = "_timestamp_invalid"
TAG_ECS_CONFLICT = "_json_ecs_conflict"
# Where a vendor's scalar sits on a name ECS reserves for an object ("event": "登录"),
# Elasticsearch would reject the whole document, so the value moves to json.<name>.
CONFLICT_HOME = "json"

# ECS field sets that are objects at the top level of a document.
ECS_OBJECTS = frozenset(
    """agent as client cloud container data_stream destination device dll dns ecs email error
    event faas file group host http labels log network observer orchestrator organization
    package process registry related rule server service source span threat tls trace
    transaction url user user_agent vulnerability""".split()
)

# Epoch numbers: above these magnitudes the unit is ms, us or ns rather than seconds.
_EPOCH_MS, _EPOCH_US, _EPOCH_NS = 1e11, 1e14, 1e17


def _nest(obj: dict[str, Any]) -> dict[str, Any]:
    """Turn flat dotted keys into nested objects, recursively, without clobbering scalars."""
    dotted = [k for k in obj if "." in k]
    for key, value in obj.items():
        if isinstance(value, dict):
            obj[key] = _nest(value)
    for key in dotted:
        parts = key.split(".")
        if "" in parts:
            continue
        cur = obj
        for part in parts[:-1]:
            nxt = cur.get(part)
            if nxt is None:  # from here on every level is new, so nothing is left half-built
                nxt = cur[part] = {}
            elif not isinstance(nxt, dict):
                break  # a scalar is in the way: the flat key stays as it is
            cur = nxt
        else:
            value = obj.pop(key)
            old = cur.get(parts[-1])
            if isinstance(old, dict) and isinstance(value, dict):
                old.update(value)
            else:
                cur[parts[-1]] = value
    return obj


def _epoch(value: float) -> datetime:
    """A datetime from positive epoch seconds, milliseconds, microseconds or nanoseconds."""
    if not value > 0:  # 0 (and NaN) is how many devices write "unknown"
        raise ValueError(f"epoch {value} is not a time")
    magnitude = value
    if magnitude >= _EPOCH_NS:
        value /= 1e9
    elif magnitude >= _EPOCH_US:
        value /= 1e6
    elif magnitude >= _EPOCH_MS:
        value /= 1e3
    return datetime.fromtimestamp(value, timezone.utc)


def _timestamp(value: Any, ctx: ParseContext) -> datetime:
    """The instant a JSON timestamp value denotes; ValueError if it denotes none."""
    if isinstance(value, bool):
        raise ValueError("boolean timestamp")
    if isinstance(value, int | float):
        return _epoch(value)
    if isinstance(value, str):
        s = value.strip()
        if s.isascii() and s.isdigit():
            return _epoch(int(s))
        if s.endswith(("Z", "z")):
            s = s[:-1] + "+00:00"
        ts = datetime.fromisoformat(s)
        return ts if ts.tzinfo is not None else ts.replace(tzinfo=ctx.timezone)
    raise ValueError(f"unsupported timestamp type {type(value).__name__}")


@register("json")
def parse_json(text: str, ctx: ParseContext) -> Parsed:
    """Parse one JSON object into an ECS document."""
    if not text or text.isspace():
        raise ParseError("empty", "empty line")
    obj = decode_json(text, "json_invalid")
    if not isinstance(obj, dict):
        raise ParseError("json_invalid", f"a JSON {type(obj).__name__}, not an object")
    doc: Doc = _nest(obj)
    tags: list[str] = []

    conflicts = [k for k, v in doc.items() if k in ECS_OBJECTS and not isinstance(v, dict)]
    if "message" in doc and not isinstance(doc["message"], str):
        conflicts.append("message")
    for name in conflicts:
        set_path(doc, f"{CONFLICT_HOME}.{name}", doc.pop(name))
    if conflicts:
        tags.append(TAG_ECS_CONFLICT)

    device_ts = False
    for key in TIMESTAMP_KEYS:
        if key in doc:
            try:
                doc["@timestamp"] = iso(_timestamp(doc[key], ctx))
                device_ts = True
            except (ValueError, OverflowError, OSError):
                tags.append(TAG_TIMESTAMP_INVALID)
                if key == "@timestamp":
                    # An unparsable @timestamp would make Elasticsearch reject the document.
                    set_path(doc, f"{CONFLICT_HOME}.@timestamp", doc.pop("@timestamp"))
            break

    event = doc.setdefault("event", {})
    event.setdefault("kind", "event")
    if "module" not in event and "dataset" not in event:
        event["module"] = "json"
        event["dataset"] = "json.lines"
    return Parsed(doc=doc, device_timestamped=device_ts, tags=tags)
