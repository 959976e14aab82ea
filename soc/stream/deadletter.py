"""The dead-letter record: what a stage could not handle, why, and the original bytes."""

from __future__ import annotations

import base64
from typing import Any

from soc.model import ECS_VERSION, Doc, now_iso, stable_id

TEXT_PREVIEW_BYTES = 64 * 1024


def dead_letter(
    stage: str,
    reason: str,
    error: str,
    original: bytes,
    *,
    source_id: str = "",
    topic: str = "",
    received: str | None = None,
    record: dict[str, Any] | None = None,
    key: str = "",
) -> Doc:
    """A soc.deadletter document; its id is stable, so a replay does not duplicate it. By
    default the id comes from the original bytes; `key` replaces them when those bytes differ
    from one processing to the next (an event refused by Elasticsearch carries its
    event.ingested: its own stable id is the key)."""
    doc_id = stable_id("deadletter", stage, reason, key or original)
    return {
        "@timestamp": now_iso(),
        "ecs": {"version": ECS_VERSION},
        "event": {"kind": "pipeline_error", "id": doc_id, "dataset": "soc.deadletter", "module": "soc"},
        "error": {"type": reason, "message": error[:4000]},
        "soc": {
            "deadletter": {
                "stage": stage,
                "reason": reason,
                "error": error[:4000],
                "topic": topic,
                "source_id": source_id,
                "received": received,
                "original_base64": base64.b64encode(original).decode("ascii"),
                "original_text": original[:TEXT_PREVIEW_BYTES].decode("utf-8", errors="replace"),
                "original_bytes": len(original),
                "record": record or {},
            }
        },
    }


def original_bytes(doc: Doc) -> bytes:
    """The exact bytes a dead-letter document carries."""
    return base64.b64decode(doc["soc"]["deadletter"]["original_base64"])
