"""A document Elasticsearch refuses becomes one dead letter, even when it is processed twice.

After a worker crash, a raw batch is delivered again and normalized again: the event keeps its
id (taken from the raw bytes) but gets a new event.ingested, so its Kafka bytes differ. Its dead
letter must still get the same id, or a replay would file the same refusal twice."""

from __future__ import annotations

import orjson

from soc.store.bulk import BulkFailure, BulkItem
from soc.stream.index import failure_dead_letter


def refused(event_id: str, ingested: str) -> BulkFailure:
    doc = {"event": {"id": event_id, "ingested": ingested}, "source": {"ip": "not-an-address"},
           "soc": {"source_id": "county-a-waf", "received": "2026-12-07T01:00:00Z"}}
    item = BulkItem(index="soc-events-2026.12.07", doc_id=event_id, doc=doc, origin=orjson.dumps(doc))
    return BulkFailure(item=item, status=400, reason="document_parsing_exception",
                       detail="failed to parse field [source.ip] of type [ip]")


def test_the_same_refused_event_processed_twice_gets_one_dead_letter_id() -> None:
    first = failure_dead_letter("events", refused("ev-1", "2026-12-07T01:00:01Z"))
    again = failure_dead_letter("events", refused("ev-1", "2026-12-07T01:07:42Z"))
    assert first["soc"]["deadletter"]["original_base64"] != again["soc"]["deadletter"]["original_base64"]
    assert first["event"]["id"] == again["event"]["id"]


def test_different_refused_events_get_different_dead_letters() -> None:
    a = failure_dead_letter("events", refused("ev-1", "2026-12-07T01:00:01Z"))
    b = failure_dead_letter("events", refused("ev-2", "2026-12-07T01:00:01Z"))
    assert a["event"]["id"] != b["event"]["id"]
    assert a["soc"]["deadletter"]["stage"] == "index.events"
    assert a["soc"]["deadletter"]["reason"] == "document_parsing_exception"
