"""Stage normalize: RawRecord bytes -> an ECS event, or a dead letter with the reason."""

from __future__ import annotations

import ipaddress
import time
from datetime import UTC, datetime
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from collectors.parsers import parse
from collectors.parsers.base import ParseContext, ParseError
from soc.assets import AssetInventory
from soc.model import ECS_VERSION, ContractError, Doc, RawRecord, event_id, iso, set_path
from soc.stream.deadletter import dead_letter

STAGE = "normalize"
UTF8_NAMES = frozenset({"utf-8", "utf8"})


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


def normalize(data: bytes, inventory: AssetInventory | None = None) -> tuple[bytes, Doc] | tuple[None, Doc]:
    """(key, ECS event) for a good record, or (None, dead letter) for one that cannot be read.

    With an asset inventory, the event is enriched with its asset, tenant and direction.
    """
    try:
        record = RawRecord.decode(data)
    except ContractError as exc:
        return None, dead_letter(STAGE, "contract_invalid", str(exc), data, topic="raw")
    text, tags = decode_text(record.message, record.charset)
    text = text.rstrip("\r\n\x00")
    ctx = ParseContext(
        source_id=record.source_id,
        received_at=record.received_at,
        timezone=_zone(record.timezone),
        tenant=record.tenant,
        peer=record.peer,
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
    all_tags = [*doc.get("tags", []), *parsed.tags, *tags]
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
    if inventory is not None:
        inventory.enrich(doc)
    return record.source_id.encode(), doc


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
    inventory: AssetInventory | None = None,
) -> Doc:
    """What normalize makes of one line, always as one document (`soc parse`).

    A line that cannot be parsed gives a document with error.type/error.message set and
    event.original kept, so a tool's output stays aligned with its input, line for line.
    """
    record = RawRecord(
        message=line, received_at_ns=time.time_ns(), collector="soc-parse", peer="", source_id=source_id,
        format_hint=format_hint, charset=charset, timezone=timezone, tenant=tenant,
    )
    key, doc = normalize(record.encode(), inventory)
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
