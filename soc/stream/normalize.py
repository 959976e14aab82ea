"""Stage normalize: a RawBatch -> one ECS event per message, or a dead letter with the reason."""

from __future__ import annotations

import ipaddress
import time
from datetime import UTC, datetime
from collections.abc import Sequence
from functools import lru_cache
from typing import Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from collectors.parsers import parse
from collectors.parsers.base import DeviceHint, ParseContext, ParseError
from soc.assets import load_inventory
from soc.config import Settings
from soc.geoip import load_geoip
from soc.model import ECS_VERSION, ContractError, Doc, RawBatch, RawRecord, event_id, iso, set_path
from soc.stream.deadletter import dead_letter

STAGE = "normalize"
UTF8_NAMES = frozenset({"utf-8", "utf8"})


class Enricher(Protocol):
    """Adds facts from outside the line to an event, in place (asset inventory, GeoIP)."""

    def enrich(self, doc: Doc) -> None: ...


def load_enrichers(settings: Settings) -> list[Enricher]:
    """The configured enrichers, in order; a bad file is a ConfigError naming it."""
    enrichers: list[Enricher] = [load_inventory(settings.assets_file)]
    geoip = load_geoip(settings)
    if geoip is not None:
        enrichers.append(geoip)
    return enrichers


@lru_cache(maxsize=64)
def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("Asia/Shanghai")


def decode_text(message: bytes, charset: str) -> tuple[str, list[str]]:
    """Decode with the source's charset; UTF-8 sources fall back to GB18030, then escapes.

    The text never loses information: undecodable bytes become \\xNN escapes and the event is
    tagged, and the exact bytes stay in Kafka (soc.raw) for as long as it retains them.
    """
    charset = charset.lower() or "utf-8"
    try:
        return message.decode(charset), []
    except LookupError:
        charset = "utf-8"
    except UnicodeDecodeError:
        pass
    if charset in UTF8_NAMES:
        try:
            return message.decode("gb18030"), ["_charset_fallback_gb18030"]
        except UnicodeDecodeError:
            pass
    return message.decode(charset, errors="backslashreplace"), ["_charset_invalid"]


Result = tuple[bytes, Doc] | tuple[None, Doc]


def normalize(data: bytes, enrichers: Sequence[Enricher] = ()) -> list[Result]:
    """For each message of a soc.raw value, in order: (key, ECS event), or (None, dead letter)
    for one that cannot be read. A value that is not a RawBatch is one dead letter."""
    try:
        batch = RawBatch.decode(data)
    except ContractError as exc:
        return [(None, dead_letter(STAGE, "contract_invalid", str(exc), data, topic="raw"))]
    return [normalize_record(record, enrichers) for record in batch.records()]


def normalize_record(record: RawRecord, enrichers: Sequence[Enricher] = ()) -> Result:
    """(key, ECS event) for a good record, or (None, dead letter) for one that cannot be read.

    The enrichers add what the inventory and GeoIP know (asset, tenant, direction, location).
    """
    text, tags = decode_text(record.message, record.charset)
    text = text.rstrip("\r\n\x00")
    ctx = ParseContext(
        source_id=record.source_id,
        received_at=record.received_at,
        timezone=_zone(record.timezone),
        tenant=record.tenant,
        peer=record.peer,
        device=_device(record.device),
    )
    try:
        parsed = parse(text, record.format_hint, ctx)
    except ParseError as exc:
        return None, _dead(record, exc.reason, str(exc))
    except Exception as exc:  # noqa: BLE001 - a parser bug must not stop the stage
        return None, _dead(record, "parser_crashed", f"{type(exc).__name__}: {exc}")
    doc = parsed.doc
    event = doc.setdefault("event", {})
    event.setdefault("kind", "event")
    event["original"] = text
    event["id"] = event_id(record, parsed.device_timestamped)
    event["ingested"] = iso(datetime.now(UTC))
    if "@timestamp" not in doc:
        doc["@timestamp"] = iso(record.received_at)
    doc["ecs"] = {"version": ECS_VERSION}
    own = doc.get("tags", [])
    own = [own] if isinstance(own, str) else [str(t) for t in own] if isinstance(own, list) else [str(own)]
    all_tags = [*own, *parsed.tags, *tags]
    if all_tags:
        doc["tags"] = sorted(set(all_tags))
    if record.tenant:
        set_path(doc, "labels.tenant", record.tenant)
    peer_ip = _peer_ip(record.peer)
    if peer_ip:
        set_path(doc, "observer.ip", peer_ip)
    doc["soc"] = {
        **doc.get("soc", {}),
        "source_id": record.source_id,
        "collector": record.collector,
        "received": iso(record.received_at),
    }
    for enricher in enrichers:
        enricher.enrich(doc)
    return record.source_id.encode(), doc


def _device(declared: dict[str, str]) -> DeviceHint | None:
    """The device the sources file declares for the record's source, if any."""
    if not declared:
        return None
    return DeviceHint(declared.get("vendor", ""), declared.get("product", ""), declared.get("type", ""))


def _peer_ip(peer: str) -> str | None:
    """The address part of "ip:port" or "[v6]:port", if it is an IP address."""
    host = peer.rsplit(":", 1)[0].strip("[]") if ":" in peer else peer
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        return None


def _dead(record: RawRecord, reason: str, error: str) -> Doc:
    return dead_letter(
        STAGE,
        reason,
        error,
        record.message,
        source_id=record.source_id,
        topic="raw",
        received=iso(record.received_at),
        record={"collector": record.collector, "peer": record.peer, "format_hint": record.format_hint,
                "charset": record.charset},
    )


def preview(
    line: bytes, source_id: str, format_hint: str, charset: str, timezone: str, tenant: str = "",
    enrichers: Sequence[Enricher] = (), device: dict[str, str] | None = None,
) -> Doc:
    """What normalize makes of one line, always as one document (`soc parse`).

    A line that cannot be parsed gives a document with error.type/error.message set and
    event.original kept, so a tool's output stays aligned with its input, line for line.
    """
    record = RawRecord(
        message=line, received_at_ns=time.time_ns(), collector="soc-parse", peer="", source_id=source_id,
        format_hint=format_hint, charset=charset, timezone=timezone, tenant=tenant, device=device or {},
    )
    key, doc = normalize_record(record, enrichers)
    if key is not None:
        return doc
    dl = doc["soc"]["deadletter"]
    text, _ = decode_text(line, charset)
    return {
        "@timestamp": iso(record.received_at),
        "event": {"kind": "pipeline_error", "original": text},
        "error": {"type": dl["reason"], "message": dl["error"]},
        "soc": {"source_id": source_id},
    }
