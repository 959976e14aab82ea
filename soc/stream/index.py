"""Stage index: ECS documents -> Elasticsearch, idempotent by document id.

Events come straight from normalize in the same process (`event_items`); alerts, actions and
dead letters from their Kafka topics (`bulk_items`). Which index and which id, per kind:
  events      {prefix}-events-YYYY.MM.DD (UTC day of @timestamp)   event.id
  alerts      {prefix}-alerts                                       soc.alert.id
  actions     {prefix}-actions                                      soc.action.id
  deadletter  {prefix}-deadletter                                   event.id
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime

import orjson

from soc.metrics import INGEST_TO_INDEXED
from soc.model import ContractError, Doc, get_path, loads
from soc.store.bulk import BulkFailure, BulkItem
from soc.stream.deadletter import dead_letter, original_bytes


UNINDEXABLE = "deadletter_unindexable"


def events_index(prefix: str, doc: Doc) -> str:
    ts = doc.get("@timestamp")
    try:
        day = datetime.fromisoformat(str(ts).replace("Z", "+00:00")).astimezone(UTC)
    except ValueError:
        day = datetime.now(UTC)
    return f"{prefix}-events-{day:%Y.%m.%d}"


# kind -> (index for a document, its id field)
TARGETS: dict[str, tuple[Callable[[str, Doc], str], str]] = {
    "events": (events_index, "event.id"),
    "alerts": (lambda prefix, doc: f"{prefix}-alerts", "soc.alert.id"),
    "actions": (lambda prefix, doc: f"{prefix}-actions", "soc.action.id"),
    "deadletter": (lambda prefix, doc: f"{prefix}-deadletter", "event.id"),
}


def bulk_items(kind: str, prefix: str, batch: Sequence[bytes]) -> tuple[list[BulkItem], list[Doc]]:
    """Documents to write, and dead letters for messages that are not documents."""
    index_for, id_field = TARGETS[kind]
    items: list[BulkItem] = []
    dead: list[Doc] = []
    for data in batch:
        try:
            doc = loads(data)
            doc_id = get_path(doc, id_field)
            if not doc_id:
                raise ContractError(f"document has no {id_field}")
        except ContractError as exc:
            dead.append(dead_letter(f"index.{kind}", "contract_invalid", str(exc), data, topic=kind))
            continue
        if kind == "alerts":
            items.append(alert_item(index_for(prefix, doc), str(doc_id), doc, data))
        else:
            items.append(BulkItem(index=index_for(prefix, doc), doc_id=str(doc_id), doc=doc, origin=data, body=data))
    # Several revisions of one alert in a batch: only the last one needs writing.
    latest = {(item.index, item.doc_id): item for item in items}
    if len(latest) < len(items):
        items = list(latest.values())
    return items, dead


def event_items(prefix: str, docs: Sequence[Doc]) -> list[BulkItem]:
    """Bulk items for events normalized in this process: each document serialized once, those
    bytes both the request body and what a refusal's dead letter carries (`origin`). Two events
    of the batch with one id (a re-sent line) are written once."""
    items: dict[tuple[str, str], BulkItem] = {}
    for doc in docs:
        body = orjson.dumps(doc)
        item = BulkItem(index=events_index(prefix, doc), doc_id=str(doc["event"]["id"]), doc=doc, origin=body, body=body)
        items[(item.index, item.doc_id)] = item
    return list(items.values())


# What analysts set on an alert (the triage): a later revision of the same alert must keep it.
TRIAGE_FIELDS = ("status", "assignee")


def alert_item(index: str, doc_id: str, doc: Doc, data: bytes) -> BulkItem:
    """An alert as an upsert: the first revision is written whole (status "new"); a later one
    (a correlation still counting) updates what detection knows and keeps the analysts' triage."""
    detection = {**doc, "soc": {**doc.get("soc", {}),
                                "alert": {k: v for k, v in get_path(doc, "soc.alert", {}).items()
                                          if k not in TRIAGE_FIELDS}}}
    return BulkItem(index=index, doc_id=doc_id, doc=doc, origin=data, op="update",
                    body=orjson.dumps({"doc": detection, "upsert": doc}))


def observe_ingest_latency(items: Sequence[BulkItem], failures: Sequence[BulkFailure]) -> None:
    """Record, for each written event, the time since its collector received it."""
    now = datetime.now(UTC).timestamp()
    failed = {id(f.item) for f in failures}
    for item in items:
        if id(item) in failed:
            continue
        received = get_path(item.doc, "soc.received")
        if isinstance(received, str):
            try:
                INGEST_TO_INDEXED.observe(now - datetime.fromisoformat(received.replace("Z", "+00:00")).timestamp())
            except ValueError:
                pass


def failure_dead_letter(kind: str, failure: BulkFailure) -> Doc:
    """A dead letter for a document Elasticsearch refused for good (mapping conflict...)."""
    doc = failure.item.doc
    if kind == "deadletter":
        # A dead letter that cannot be indexed is kept as a minimal record of fixed shape.
        original = original_bytes(doc) if get_path(doc, "soc.deadletter.original_base64") else failure.item.origin
        return dead_letter("index.deadletter", UNINDEXABLE, failure.detail, original)
    return dead_letter(
        f"index.{kind}",
        failure.reason,
        f"Elasticsearch refused the document (HTTP {failure.status}): {failure.detail}",
        failure.item.origin if isinstance(failure.item.origin, bytes) else orjson.dumps(doc),
        source_id=str(get_path(doc, "soc.source_id", "")),
        topic=kind,
        received=get_path(doc, "soc.received"),
        key=failure.item.doc_id,  # stable across a replay, unlike the bytes (event.ingested)
    )
