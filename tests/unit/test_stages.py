"""The pure parts of the stream stages: normalize, index (bulk items), respond, templates, chunks."""

from __future__ import annotations

import fnmatch
import re
from datetime import UTC, datetime

import orjson
import pytest

from soc.model import RawBatch, RawRecord, get_path
from soc.store.bulk import BulkItem, BulkWriter
from soc.store.templates import index_templates
from soc.stream.deadletter import original_bytes
from soc.stream.index import bulk_items, event_items
from soc.stream.normalize import normalize
from soc.stream.respond import respond

RECEIVED = datetime(2026, 3, 1, 4, 0, 0, 123000, tzinfo=UTC)
RECEIVED_NS = int(RECEIVED.timestamp()) * 10**9 + 123_000_000
PEER_IP = "192.0.2.10"
SSHD_LINE = "<38>Mar  1 12:00:50 web01 sshd[4242]: Failed password for root from 203.0.113.9 port 50122 ssh2"


def raw(message: bytes, **kw) -> bytes:
    fields = dict(
        message=message,
        received_at_ns=RECEIVED_NS,
        collector="syslog-udp",
        peer=f"{PEER_IP}:514",
        source_id=f"syslog:{PEER_IP}",
    )
    fields.update(kw)
    return RawRecord(**fields).encode()


def ok(data: bytes) -> dict:
    key, doc = normalize(data)[0]
    assert key is not None, get_path(doc, "soc.deadletter.error")
    return doc


def dead(data: bytes) -> dict:
    key, doc = normalize(data)[0]
    assert key is None, f"expected a dead letter, got an event: {doc}"
    return doc


def parse_ts(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


# --------------------------------------------------------------------------- normalize


def test_sshd_line_becomes_an_ecs_event() -> None:
    key, doc = normalize(raw(SSHD_LINE.encode()))[0]
    assert key == f"syslog:{PEER_IP}".encode()
    assert get_path(doc, "event.original") == SSHD_LINE
    assert re.fullmatch(r"[0-9a-f]{32}", get_path(doc, "event.id"))
    assert get_path(doc, "event.kind") == "event"
    # Mar 1 12:00:50 in the source's zone (Asia/Shanghai by default) is 04:00:50 UTC.
    assert parse_ts(doc["@timestamp"]) == datetime(2026, 3, 1, 4, 0, 50, tzinfo=UTC)
    assert get_path(doc, "soc.source_id") == f"syslog:{PEER_IP}"
    assert get_path(doc, "observer.ip") == PEER_IP
    assert get_path(doc, "ecs.version")
    # the sshd fields an analyst filters on
    assert get_path(doc, "process.name") == "sshd"
    assert get_path(doc, "host.name") == "web01"
    assert get_path(doc, "source.ip") == "203.0.113.9"
    assert get_path(doc, "event.outcome") == "failure"
    assert parse_ts(get_path(doc, "soc.received")) == RECEIVED
    orjson.dumps(doc)


def test_observer_ip_from_an_ipv6_peer() -> None:
    # The syslog collector writes the peer as f"{host}:{port}".
    doc = ok(raw(SSHD_LINE.encode(), peer="2001:db8::5:514"))
    assert get_path(doc, "observer.ip") == "2001:db8::5"


def test_same_record_normalized_twice_has_the_same_event_id() -> None:
    data = raw(SSHD_LINE.encode())
    assert get_path(ok(data), "event.id") == get_path(ok(data), "event.id")


def test_same_line_from_two_sources_is_two_events() -> None:
    a = ok(raw(SSHD_LINE.encode(), source_id="syslog:192.0.2.10"))
    b = ok(raw(SSHD_LINE.encode(), source_id="syslog:192.0.2.11"))
    assert get_path(a, "event.id") != get_path(b, "event.id")


def test_tenant_is_labelled() -> None:
    doc = ok(raw(SSHD_LINE.encode(), tenant="城管局"))
    assert get_path(doc, "labels.tenant") == "城管局"


@pytest.mark.parametrize(
    "message",
    [
        b"",
        b'{"@timestamp": "2026-03-01T12:00:00Z", "message": "login", "user": {"na',
        b"hello, this is not a log line at all",
        b"   \t  ",
    ],
    ids=["empty", "truncated-json", "headerless-garbage", "blank"],
)
def test_unreadable_messages_become_dead_letters_with_their_exact_bytes(message: bytes) -> None:
    doc = dead(raw(message))
    assert original_bytes(doc) == message
    reason = get_path(doc, "soc.deadletter.reason")
    assert isinstance(reason, str) and re.fullmatch(r"[a-z0-9_.]+", reason), reason
    assert get_path(doc, "soc.deadletter.stage") == "normalize"
    assert get_path(doc, "soc.deadletter.source_id") == f"syslog:{PEER_IP}"
    assert get_path(doc, "event.kind") == "pipeline_error"
    assert re.fullmatch(r"[0-9a-f]{32}", get_path(doc, "event.id"))
    orjson.dumps(doc)


def test_dead_letter_is_the_same_document_id_when_replayed() -> None:
    data = raw(b"hello, this is not a log line at all")
    assert get_path(dead(data), "event.id") == get_path(dead(data), "event.id")


def test_a_record_that_breaks_the_contract_is_a_dead_letter_with_its_bytes() -> None:
    data = b"\x00\x01 not a raw record"
    doc = dead(data)
    assert original_bytes(doc) == data
    assert get_path(doc, "soc.deadletter.reason")


def test_gbk_line_is_not_lost() -> None:
    line = "<38>Mar  1 12:00:50 web01 login: 用户 admin 登录失败 来自 203.0.113.9".encode("gbk")
    key, doc = normalize(raw(line))[0]
    if key is None:
        assert original_bytes(doc) == line
    else:
        original = get_path(doc, "event.original")
        assert "登录失败" in original
        assert "用户 admin" in original


def test_gbk_line_from_a_gbk_source_decodes_without_a_fallback_tag() -> None:
    line = "<38>Mar  1 12:00:50 fw01 fw: 登录失败".encode("gbk")
    doc = ok(raw(line, charset="gbk"))
    assert "登录失败" in get_path(doc, "event.original")
    assert not [t for t in doc.get("tags", []) if "charset" in t]


def test_undecodable_bytes_are_kept_as_escapes_and_tagged() -> None:
    line = b"<38>Mar  1 12:00:50 web01 app: bad \xff\xff bytes end"
    doc = ok(raw(line))
    original = get_path(doc, "event.original")
    assert original.startswith("<38>Mar  1 12:00:50 web01 app: bad ")
    assert original.endswith(" bytes end")
    assert original.count("\\xff") == 2
    assert [t for t in doc["tags"] if "charset" in t]


def test_one_megabyte_line_survives() -> None:
    body = "x" * (1024 * 1024)
    line = f"<38>Mar  1 12:00:50 web01 app: {body}"
    doc = ok(raw(line.encode()))
    assert get_path(doc, "event.original") == line
    assert doc["message"].endswith(body)


@pytest.mark.parametrize(
    "line",
    [
        "<34>1 2026-02-30T10:00:00Z web01 app - - - impossible date",
        "<34>Feb 30 10:00:00 web01 app: impossible date",
        "<34>1 2026-03-01T25:61:00Z web01 app - - - impossible time",
    ],
)
def test_impossible_date_is_indexed_at_receive_time_and_tagged(line: str) -> None:
    doc = ok(raw(line.encode()))
    assert parse_ts(doc["@timestamp"]) == RECEIVED
    assert "_timestamp_invalid" in doc["tags"]
    assert get_path(doc, "event.original") == line


# --------------------------------------------------------------------------- index: bulk items


def event_doc(ts: str, eid: str = "e" * 32) -> bytes:
    return orjson.dumps({"@timestamp": ts, "event": {"id": eid, "kind": "event"}})


@pytest.mark.parametrize(
    ("ts", "index"),
    [
        ("2026-01-01T23:30:00+08:00", "soc-events-2026.01.01"),
        ("2026-01-01T01:00:00+08:00", "soc-events-2025.12.31"),
        ("2026-01-01T00:00:00Z", "soc-events-2026.01.01"),
        ("2025-12-31T23:59:59.999Z", "soc-events-2025.12.31"),
        ("2026-01-01T00:30:00-05:00", "soc-events-2026.01.01"),
        ("2026-01-01T20:30:00-05:00", "soc-events-2026.01.02"),
    ],
)
def test_events_go_to_the_utc_day_index(ts: str, index: str) -> None:
    items, dead_ = bulk_items("events", "soc", [event_doc(ts)])
    assert dead_ == []
    assert [i.index for i in items] == [index]


def test_index_prefix_is_used() -> None:
    items, _ = bulk_items("events", "city-soc", [event_doc("2026-03-01T00:00:00Z")])
    assert items[0].index == "city-soc-events-2026.03.01"


@pytest.mark.parametrize(
    ("kind", "doc", "index", "doc_id"),
    [
        ("events", {"@timestamp": "2026-03-01T00:00:00Z", "event": {"id": "ev1"}},
         "soc-events-2026.03.01", "ev1"),
        ("alerts", {"event": {"id": "x"}, "soc": {"alert": {"id": "al1", "revision": 1}}},
         "soc-alerts", "al1"),
        ("actions", {"event": {"id": "x"}, "soc": {"action": {"id": "ac1"}}}, "soc-actions", "ac1"),
        ("deadletter", {"event": {"id": "dl1"}, "soc": {"deadletter": {}}}, "soc-deadletter", "dl1"),
    ],
)
def test_document_ids_and_indices(kind: str, doc: dict, index: str, doc_id: str) -> None:
    data = orjson.dumps(doc)
    items, dead_ = bulk_items(kind, "soc", [data])
    assert dead_ == []
    [item] = items
    assert (item.index, item.doc_id) == (index, doc_id)
    assert item.doc == doc
    assert item.origin == data


@pytest.mark.parametrize("data", [b"not json at all", b"[1, 2]", b'{"no": "id"}', b"\xff\xfe"])
def test_message_that_is_not_a_document_becomes_a_dead_letter(data: bytes) -> None:
    good = event_doc("2026-03-01T00:00:00Z", "good")
    items, dead_ = bulk_items("events", "soc", [good, data])
    assert [i.doc_id for i in items] == ["good"]
    [dl] = dead_
    assert original_bytes(dl) == data
    assert get_path(dl, "soc.deadletter.reason")


def alert_rev(alert_id: str, rev: int, count: int) -> bytes:
    return orjson.dumps({
        "@timestamp": "2026-03-01T12:01:10.000Z",
        "event": {"kind": "alert", "id": alert_id},
        "soc": {"alert": {"id": alert_id, "revision": rev, "count": count}},
    })


def test_two_revisions_of_one_alert_in_a_batch_are_written_once_with_the_later() -> None:
    batch = [alert_rev("A", 1, 5), alert_rev("B", 1, 5), alert_rev("A", 2, 6)]
    items, dead_ = bulk_items("alerts", "soc", batch)
    assert dead_ == []
    by_id = {i.doc_id: i for i in items}
    assert len(items) == 2
    assert get_path(by_id["A"].doc, "soc.alert.revision") == 2
    assert get_path(by_id["A"].doc, "soc.alert.count") == 6
    assert by_id["A"].origin == batch[2]
    assert get_path(by_id["B"].doc, "soc.alert.revision") == 1


def test_distinct_events_in_a_batch_are_all_written() -> None:
    batch = [event_doc("2026-03-01T00:00:00Z", f"e{k}") for k in range(50)]
    items, _ = bulk_items("events", "soc", batch)
    assert [i.doc_id for i in items] == [f"e{k}" for k in range(50)]


def raw_batch(messages: list[bytes]) -> bytes:
    first = RawRecord(messages[0], RECEIVED_NS, "syslog-tcp", f"{PEER_IP}:514", f"syslog:{PEER_IP}")
    return RawBatch.of(first, messages).encode()


def test_events_of_a_raw_batch_are_written_under_their_own_id_and_day() -> None:
    """The normalize agent indexes its events itself: each document is serialized once, and
    those bytes are the body and what a refusal's dead letter carries."""
    data = raw_batch([SSHD_LINE.encode(), b"<13>1 2026-03-01T23:59:59.5-02:00 h app - - - late"])
    docs = [doc for _, doc in normalize(data)]
    items = event_items("soc", docs)
    assert [(i.index, i.doc_id) for i in items] == [
        ("soc-events-2026.03.01", docs[0]["event"]["id"]), ("soc-events-2026.03.02", docs[1]["event"]["id"])]
    for item, doc in zip(items, docs, strict=True):
        assert item.body == item.origin and orjson.loads(item.body) == doc
        assert item.op == "index"


def test_a_raw_batch_delivered_again_gives_the_same_documents_and_a_repeated_line_one() -> None:
    lines = [SSHD_LINE.encode(), b"<13>untimed line", b"<13>untimed line", SSHD_LINE.encode()]
    data = raw_batch(lines)
    first = event_items("soc", [doc for _, doc in normalize(data)])
    again = event_items("soc", [doc for _, doc in normalize(data)])
    # The timed line sent twice is one event; the two untimed lines stay two (their place in
    # the batch is in their id); a re-delivery makes the same ids.
    assert len(first) == 3
    assert [(i.index, i.doc_id) for i in first] == [(i.index, i.doc_id) for i in again]


def test_every_index_written_matches_exactly_one_template() -> None:
    templates = index_templates("soc", 1, 0)
    names = [
        bulk_items("events", "soc", [event_doc("2026-03-01T00:00:00Z")])[0][0].index,
        bulk_items("alerts", "soc", [alert_rev("A", 1, 5)])[0][0].index,
        bulk_items("actions", "soc", [orjson.dumps({"soc": {"action": {"id": "x"}}})])[0][0].index,
        bulk_items("deadletter", "soc", [orjson.dumps({"event": {"id": "x"}})])[0][0].index,
    ]
    for name in names:
        hits = [t for t, body in templates.items()
                if any(fnmatch.fnmatchcase(name, p) for p in body["index_patterns"])]
        assert len(hits) == 1, (name, hits)


# --------------------------------------------------------------------------- respond


def alert_doc(revision: int) -> dict:
    return {
        "@timestamp": "2026-03-01T12:01:10.000Z",
        "event": {"kind": "alert", "id": "f" * 32},
        "rule": {"id": "r1", "name": "SSH 暴力破解"},
        "source": {"ip": "203.0.113.50"},
        "soc": {"alert": {"id": "f" * 32, "revision": revision, "group_key": "r1|x"}},
    }


def test_first_revision_of_an_alert_yields_one_action() -> None:
    action = respond(alert_doc(1))
    assert action is not None
    assert get_path(action, "soc.action.alert_id") == "f" * 32
    assert get_path(action, "soc.action.id") == get_path(action, "event.id")
    assert get_path(action, "soc.action.target") == "203.0.113.50"


def test_later_revisions_yield_no_action() -> None:
    assert respond(alert_doc(2)) is None
    assert respond(alert_doc(17)) is None


def test_action_for_an_alert_is_the_same_document_when_replayed() -> None:
    assert get_path(respond(alert_doc(1)), "soc.action.id") == get_path(respond(alert_doc(1)), "soc.action.id")


def test_actions_for_two_alerts_differ() -> None:
    other = alert_doc(1)
    other["soc"]["alert"]["id"] = "e" * 32
    assert get_path(respond(alert_doc(1)), "soc.action.id") != get_path(respond(other), "soc.action.id")


# --------------------------------------------------------------------------- templates


def mapping(template: dict, dotted: str) -> dict | None:
    node = template["template"]["mappings"]
    for part in dotted.split("."):
        props = node.get("properties")
        if props is None or part not in props:
            return None
        node = props[part]
    return node


@pytest.fixture(scope="module")
def templates():
    return index_templates("soc", 1, 0)


def test_every_template_pattern_starts_with_the_prefix() -> None:
    for prefix in ("soc", "city-soc"):
        ts = index_templates(prefix, 1, 0)
        assert len(ts) >= 4
        for name, body in ts.items():
            assert body["index_patterns"], name
            for p in body["index_patterns"]:
                assert p.startswith(prefix + "-"), (name, p)


@pytest.mark.parametrize("field", ["source.ip", "destination.ip", "host.ip", "observer.ip", "related.ip"])
def test_address_fields_are_ip(templates, field: str) -> None:
    for name in ("soc-events", "soc-alerts"):
        m = mapping(templates[name], field)
        assert m is not None and m["type"] == "ip", (name, field)


def test_timestamp_is_a_date_everywhere(templates) -> None:
    for name, body in templates.items():
        m = mapping(body, "@timestamp")
        assert m is not None and m["type"] == "date", name


def test_event_original_is_not_indexed(templates) -> None:
    checked = 0
    for name, body in templates.items():
        m = mapping(body, "event.original")
        if m is None:
            continue
        checked += 1
        assert m.get("index") is False, name
    assert checked >= 1


def test_counts_and_ports_are_numbers(templates) -> None:
    ev = templates["soc-events"]
    for field in ("source.port", "destination.port", "process.pid"):
        assert mapping(ev, field)["type"] in {"long", "integer"}, field
    assert mapping(templates["soc-alerts"], "soc.alert.count")["type"] in {"long", "integer"}


def test_template_settings_follow_the_arguments() -> None:
    for body in index_templates("soc", 3, 2).values():
        settings = body["template"]["settings"]
        assert settings["number_of_shards"] == 3
        assert settings["number_of_replicas"] == 2


def test_normalized_event_fits_the_event_mapping(templates) -> None:
    """Every mapped field of a real normalized event holds a value of the mapped type."""
    doc = ok(raw(SSHD_LINE.encode()))
    ev = templates["soc-events"]

    def walk(obj, prefix=""):
        for k, v in obj.items():
            path = f"{prefix}{k}"
            if isinstance(v, dict):
                yield from walk(v, path + ".")
            else:
                yield path, v

    import ipaddress

    for path, value in walk(doc):
        m = mapping(ev, path)
        if m is None:
            continue
        values = value if isinstance(value, list) else [value]
        for v in values:
            if m["type"] == "ip":
                ipaddress.ip_address(v)
            elif m["type"] == "date":
                parse_ts(v)
            elif m["type"] == "long":
                assert isinstance(v, int) and not isinstance(v, bool), (path, v)


# --------------------------------------------------------------------------- bulk chunks


def bulk_request_size(items: list[BulkItem]) -> int:
    """The NDJSON body of an Elasticsearch _bulk request for these items."""
    size = 0
    for item in items:
        size += len(orjson.dumps({"index": {"_index": item.index, "_id": item.doc_id}})) + 1
        size += len(item.body) + 1
    return size


def make_items(sizes: list[int]) -> list[BulkItem]:
    out = []
    for n, size in enumerate(sizes):
        body = orjson.dumps({"event": {"id": f"{n:032x}"}, "message": "x" * size})
        out.append(BulkItem(index="soc-events-2026.03.01", doc_id=f"{n:032x}", doc={}, body=body))
    return out


@pytest.mark.parametrize(
    "sizes",
    [
        [100] * 50,
        [10, 5000, 10, 10, 3000, 2900, 1, 0, 7000],
        [20_000, 10, 20_000],  # items larger than max_bytes on their own
        [4000] * 3,
        [],
    ],
)
def test_chunks_respect_max_bytes_without_losing_or_reordering(sizes: list[int]) -> None:
    writer = BulkWriter(es=None, stage="test", max_bytes=8 * 1024)
    items = make_items(sizes)
    chunks = writer._chunks(items)
    flat = [i for c in chunks for i in c]
    assert [id(i) for i in flat] == [id(i) for i in items]
    assert all(chunks), "no empty chunk"
    for chunk in chunks:
        if len(chunk) > 1:
            assert bulk_request_size(chunk) <= writer.max_bytes
    if items and bulk_request_size(items) > writer.max_bytes:
        assert len(chunks) > 1


def test_small_batch_is_one_request() -> None:
    writer = BulkWriter(es=None, stage="test", max_bytes=1024 * 1024)
    items = make_items([100] * 20)
    assert len(writer._chunks(items)) == 1


def test_a_json_line_with_a_single_string_tag_keeps_it_whole() -> None:
    doc = ok(raw(b'{"message": "hello", "tags": "perimeter"}', format_hint="json"))
    assert "perimeter" in doc["tags"]
    assert "p" not in doc["tags"]
