"""The contracts between stages (RawRecord, ids, Alert, Action) and the settings loader."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest

from soc.config import ConfigError, load_settings
from soc.model import (
    Action,
    ActionKind,
    ActionState,
    Alert,
    ContractError,
    RawBatch,
    RawRecord,
    event_id,
    get_path,
)

HEX32 = re.compile(r"^[0-9a-f]{32}$")


def record(message: bytes = b"<13>Feb 20 08:35:22 h app: hello", **kw) -> RawRecord:
    fields = dict(
        message=message,
        received_at_ns=1_772_366_400_123_456_789,
        collector="syslog-udp",
        peer="192.0.2.10:514",
        source_id="syslog:192.0.2.10",
    )
    fields.update(kw)
    return RawRecord(**fields)


# --------------------------------------------------------------------------- RawRecord


@pytest.mark.parametrize(
    "message",
    [
        b"plain line",
        b"",
        b"line one\nline two\n",
        b"\n",
        b"nul\x00inside\x00",
        b"\xff\xfe invalid utf-8 \xc3\x28 \x80",
        "登录失败 用户=张三".encode("gbk"),
        b'{"json": "looking", "header": 1}\n{"x": 2}',
        b"\r\n\r\n",
        bytes(range(256)),
    ],
    ids=["plain", "empty", "newlines", "only-newline", "nul", "invalid-utf8", "gbk", "json-like",
         "crlf", "all-bytes"],
)
def test_raw_record_round_trip_keeps_the_bytes_exactly(message: bytes) -> None:
    rec = record(message, format_hint="syslog", charset="gbk", timezone="UTC", tenant="城管局")
    back = RawRecord.decode(rec.encode())
    assert back.message == message
    assert back == rec


def test_raw_record_round_trip_of_one_megabyte() -> None:
    message = (b"A" * 1023 + b"\n") * 1024
    back = RawRecord.decode(record(message).encode())
    assert back.message == message
    assert len(back.message) == 1024 * 1024


def test_raw_record_defaults_survive_decoding() -> None:
    rec = record()
    back = RawRecord.decode(rec.encode())
    assert (back.charset, back.timezone, back.tenant, back.format_hint) == (
        rec.charset, rec.timezone, rec.tenant, rec.format_hint)
    assert back.received_at_ns == rec.received_at_ns


def test_raw_record_received_at_is_utc() -> None:
    rec = record(received_at_ns=int(datetime(2026, 3, 1, 4, 0, tzinfo=UTC).timestamp()) * 10**9)
    assert rec.received_at == datetime(2026, 3, 1, 4, 0, tzinfo=UTC)
    assert rec.received_at.utcoffset() == timedelta(0)


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"no header at all",
        b"not json\nmessage",
        b"[1, 2, 3]\nmessage",
        b'"a string"\nmessage',
        b"{}\nmessage",
        b'{"collector": "x", "peer": "p", "source_id": "s"}\nmessage',
        b'{"received_at_ns": "soon", "collector": "x", "peer": "p", "source_id": "s"}\nm',
        b'{"received_at_ns": null, "collector": "x", "peer": "p", "source_id": "s"}\nm',
        b'{"received_at_ns": 1, "collector": "x", "peer": "p", "source_id"\nm',
        b"\xff\xfe\x00garbage\nmessage",
    ],
)
def test_raw_record_decode_of_garbage_raises_contract_error(data: bytes) -> None:
    with pytest.raises(ContractError):
        RawRecord.decode(data)


# --------------------------------------------------------------------------- RawBatch

MESSAGES = [b"plain line", b"", b"two\nlines", b"\xff\xfe\x00", "登录失败".encode("gbk"), b"\r\n", b"last"]


def batch(messages: list[bytes], **kw) -> RawBatch:
    rec = record(**kw)
    return RawBatch.of(rec, messages)


def test_a_batch_round_trip_keeps_every_message_exactly_and_in_order() -> None:
    b = batch(MESSAGES, tenant="城管局", device={"vendor": "topsec", "type": "vpn"})
    back = RawBatch.decode(b.encode())
    assert back == b
    assert [r.message for r in back.records()] == MESSAGES
    assert [r.seq for r in back.records()] == list(range(len(MESSAGES)))
    assert {r.tenant for r in back.records()} == {"城管局"}
    assert RawBatch.peek(b.encode()) == (b.source_id, len(MESSAGES))


def test_a_single_record_is_a_batch_of_one() -> None:
    rec = record(b"one\nline")
    assert RawBatch.decode(rec.encode()).messages == [b"one\nline"]
    assert RawBatch.peek(rec.encode()) == (rec.source_id, 1)
    with pytest.raises(ContractError):
        RawRecord.decode(batch([b"a", b"b"]).encode())


@pytest.mark.parametrize("max_messages,max_bytes", [(1, 10**6), (2, 10**6), (100, 5), (3, 12)])
def test_split_keeps_order_and_bounds(max_messages: int, max_bytes: int) -> None:
    parts = list(batch(MESSAGES).split(max_messages, max_bytes))
    assert [m for p in parts for m in p.messages] == MESSAGES
    for p in parts:
        assert len(p.messages) <= max_messages
        assert p.nbytes <= max_bytes or len(p.messages) == 1
        assert p.source_id == "syslog:192.0.2.10"


@pytest.mark.parametrize(
    "head",
    [
        b'"sizes": [1, 2]',  # adds up to 3, the body holds 4
        b'"sizes": [5]',
        b'"sizes": [-1, 5]',
        b'"sizes": "4"',
        b'"sizes": [1.5, 2.5]',
        b'"device": ["x"]',
    ],
)
def test_a_batch_whose_header_does_not_fit_its_body_is_a_contract_error(head: bytes) -> None:
    data = b'{"received_at_ns": 1, "collector": "x", "peer": "p", "source_id": "s", ' + head + b"}\nabcd"
    with pytest.raises(ContractError):
        RawBatch.decode(data)


def test_identical_untimed_lines_of_one_batch_stay_distinct_and_a_redelivery_collapses() -> None:
    b = batch([b"same untimed line"] * 3)
    ids = [event_id(r, device_timestamped=False) for r in b.records()]
    assert len(set(ids)) == 3
    again = [event_id(r, device_timestamped=False) for r in RawBatch.decode(b.encode()).records()]
    assert again == ids
    timed = {event_id(r, device_timestamped=True) for r in b.records()}
    assert len(timed) == 1  # the same timestamped line re-sent is the same event


# --------------------------------------------------------------------------- event ids


def test_event_id_is_deterministic() -> None:
    a = event_id(record(), device_timestamped=True)
    b = event_id(RawRecord.decode(record().encode()), device_timestamped=True)
    assert a == b
    assert HEX32.match(a)


def test_event_id_differs_by_source() -> None:
    a = event_id(record(source_id="syslog:192.0.2.10"), True)
    b = event_id(record(source_id="syslog:192.0.2.11"), True)
    assert a != b


def test_event_id_differs_by_message() -> None:
    assert event_id(record(b"line 1"), True) != event_id(record(b"line 2"), True)


def test_event_id_ignores_receive_time_when_the_device_timestamps() -> None:
    # A forwarder's retry of the same timestamped line is the same event.
    a = event_id(record(received_at_ns=1_000_000_000_000_000_000), True)
    b = event_id(record(received_at_ns=1_000_000_005_000_000_000), True)
    assert a == b


def test_event_id_includes_receive_time_when_the_device_does_not_timestamp() -> None:
    # Two identical untimed lines received at different times are two events...
    a = event_id(record(received_at_ns=1_000_000_000_000_000_000), False)
    b = event_id(record(received_at_ns=1_000_000_005_000_000_000), False)
    assert a != b
    # ...while a re-delivery of one record (same receive time) is the same event.
    assert a == event_id(record(received_at_ns=1_000_000_000_000_000_000), False)


def test_event_id_parts_cannot_be_shifted_into_each_other() -> None:
    # source "ab" + message "c" must not collide with source "a" + message "bc".
    assert event_id(record(b"c", source_id="ab"), True) != event_id(record(b"bc", source_id="a"), True)


# --------------------------------------------------------------------------- Alert


T = datetime(2026, 3, 1, 12, 0, 50, tzinfo=UTC)


def alert(**kw) -> Alert:
    fields = dict(
        rule_id="0d7f3f57-2a55-4a4e-8c1e-4e2b8f0a7c12",
        rule_name="SSH 暴力破解",
        level="high",
        group_key="0d7f|source.ip=203.0.113.50|host.name=web01",
        first_seen=T,
        last_seen=T + timedelta(seconds=20),
        event_ids=["e0", "e1", "e2", "e3", "e4"],
        count=5,
        tags=["attack.credential-access", "attack.t1110.001"],
        description="同一来源地址在 1 分钟内对同一主机 SSH 登录失败 5 次及以上。",
        correlation_type="event_count",
        context={"source": {"ip": "203.0.113.50"}, "host": {"name": "web01"}},
        window_start_id="e0",
    )
    fields.update(kw)
    return Alert(**fields)


def test_alert_id_is_stable_across_revisions_of_one_window() -> None:
    first = alert()
    later = alert(last_seen=T + timedelta(seconds=55), count=9, event_ids=[f"e{k}" for k in range(9)])
    assert first.alert_id == later.alert_id
    assert HEX32.match(first.alert_id)


def test_alert_id_differs_between_windows() -> None:
    assert alert(window_start_id="e0").alert_id != alert(window_start_id="e100").alert_id


def test_alert_id_differs_between_groups_and_rules() -> None:
    base = alert()
    assert base.alert_id != alert(group_key="0d7f|source.ip=198.51.100.7|host.name=web01").alert_id
    assert base.alert_id != alert(rule_id="another-rule").alert_id


def test_alert_doc_is_an_ecs_alert() -> None:
    a = alert()
    doc = a.to_doc()
    assert get_path(doc, "event.kind") == "alert"
    assert get_path(doc, "event.id") == a.alert_id
    assert get_path(doc, "soc.alert.id") == a.alert_id
    assert get_path(doc, "rule.id") == a.rule_id
    assert get_path(doc, "rule.name") == "SSH 暴力破解"
    assert get_path(doc, "rule.description") == a.description
    assert get_path(doc, "@timestamp") == "2026-03-01T12:01:10.000Z"
    assert get_path(doc, "soc.alert.first_seen") == "2026-03-01T12:00:50.000Z"
    assert get_path(doc, "soc.alert.count") == 5
    assert get_path(doc, "soc.alert.status") == "new"
    assert get_path(doc, "ecs.version")
    # the context of the event stays where ECS puts it
    assert get_path(doc, "source.ip") == "203.0.113.50"
    assert get_path(doc, "host.name") == "web01"
    datetime.fromisoformat(get_path(doc, "event.created").replace("Z", "+00:00"))
    orjson.dumps(doc)  # serializable as it travels


def test_alert_doc_severity_orders_with_level() -> None:
    sev = {lvl: get_path(alert(level=lvl).to_doc(), "event.severity")
           for lvl in ("low", "medium", "high", "critical")}
    assert sev["low"] < sev["medium"] < sev["high"] < sev["critical"]


def test_alert_doc_threat_technique_from_attack_tags() -> None:
    doc = alert(tags=["attack.credential-access", "attack.t1110", "attack.t1078"]).to_doc()
    assert get_path(doc, "threat.framework") == "MITRE ATT&CK"
    assert sorted(get_path(doc, "threat.technique.id")) == ["T1078", "T1110"]
    assert get_path(doc, "threat.tactic.name") == ["Credential Access"]


def test_alert_doc_subtechnique_goes_where_ecs_puts_it() -> None:
    # ECS: threat.technique.id holds the technique (e.g. T1059) and
    # threat.technique.subtechnique.id the sub-technique (e.g. T1059.001). An analyst filtering
    # on threat.technique.id: T1110 must find the SSH brute-force alert tagged attack.t1110.001.
    doc = alert(tags=["attack.credential-access", "attack.t1110.001"]).to_doc()
    assert "T1110" in get_path(doc, "threat.technique.id")
    assert "T1110.001" in get_path(doc, "threat.technique.subtechnique.id", [])


def test_alert_doc_without_attack_tags_has_no_threat() -> None:
    doc = alert(tags=["cn.mlps.8-1-4"]).to_doc()
    assert not get_path(doc, "threat.technique.id")


def test_alert_doc_group_and_software_tags_are_not_tactics() -> None:
    doc = alert(tags=["attack.g0007", "attack.s0002", "attack.t1003"]).to_doc()
    assert get_path(doc, "threat.tactic.name", []) == []
    assert get_path(doc, "threat.technique.id") == ["T1003"]


def test_alert_doc_keeps_at_most_a_bounded_number_of_event_ids() -> None:
    ids = [f"e{k}" for k in range(5000)]
    doc = alert(event_ids=ids, count=5000).to_doc()
    kept = get_path(doc, "soc.alert.event_ids")
    assert 0 < len(kept) <= 1000
    assert kept[-1] == "e4999", "the most recent events are the ones kept"
    assert get_path(doc, "soc.alert.count") == 5000


# --------------------------------------------------------------------------- Action


def action(**kw) -> Action:
    fields = dict(
        playbook="builtin.record-alert",
        alert_id="a" * 32,
        kind=ActionKind.BLOCK_IP,
        target="203.0.113.50",
        state=ActionState.PROPOSED,
        decided_by="respond-agent",
        reason="brute force",
    )
    fields.update(kw)
    return Action(**fields)


def test_action_id_is_deterministic() -> None:
    a = action(created="2026-03-01T12:00:00.000Z")
    b = action(created="2026-03-02T08:00:00.000Z", state=ActionState.APPLIED)
    assert a.action_id == b.action_id
    assert HEX32.match(a.action_id)


def test_action_id_differs_by_alert_step_kind_and_playbook() -> None:
    base = action().action_id
    assert base != action(alert_id="b" * 32).action_id
    assert base != action(step=1).action_id
    assert base != action(kind=ActionKind.NOTIFY).action_id
    assert base != action(playbook="pb.other").action_id


def test_action_doc_fields() -> None:
    a = action(ttl_seconds=3600)
    doc = a.to_doc()
    assert get_path(doc, "event.id") == a.action_id
    assert get_path(doc, "soc.action.id") == a.action_id
    assert get_path(doc, "soc.action.alert_id") == "a" * 32
    assert get_path(doc, "soc.action.kind") == "block_ip"
    assert get_path(doc, "soc.action.state") == "proposed"
    assert get_path(doc, "soc.action.ttl_seconds") == 3600
    orjson.loads(orjson.dumps(doc))


# --------------------------------------------------------------------------- settings


@pytest.fixture
def clean_env(monkeypatch, tmp_path):
    """No SOC_* variable from the caller, and no soc.yaml in the working directory."""
    import os

    for name in list(os.environ):
        if name.startswith("SOC_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    return monkeypatch


def test_defaults_use_the_local_stack(clean_env) -> None:
    s = load_settings()
    assert s.uses_local_kafka and s.uses_local_elastic


def test_bad_env_value_names_the_key_and_the_variable(clean_env) -> None:
    clean_env.setenv("SOC_KAFKA__PARTITIONS", "abc")
    with pytest.raises(ConfigError) as err:
        load_settings()
    msg = str(err.value)
    assert "kafka.partitions" in msg
    assert "SOC_KAFKA__PARTITIONS" in msg
    assert "abc" in msg


def test_out_of_range_env_value_is_rejected(clean_env) -> None:
    clean_env.setenv("SOC_ELASTIC__SHARDS", "0")
    with pytest.raises(ConfigError) as err:
        load_settings()
    assert "elastic.shards" in str(err.value)


def test_env_value_is_applied(clean_env) -> None:
    clean_env.setenv("SOC_KAFKA__PARTITIONS", "12")
    clean_env.setenv("SOC_STACK__ES_HEAP", "1g")
    s = load_settings()
    assert s.kafka.partitions == 12
    assert s.stack.es_heap == "1g"


def test_unknown_key_in_the_yaml_is_rejected_by_name(clean_env, tmp_path: Path) -> None:
    cfg = tmp_path / "custom.yaml"
    cfg.write_text("kafka:\n  partitions: 8\n  bootstrapp: kafka1:9092\n", encoding="utf-8")
    clean_env.setenv("SOC_CONFIG", str(cfg))
    with pytest.raises(ConfigError) as err:
        load_settings()
    assert "bootstrapp" in str(err.value)


def test_unknown_top_level_key_in_the_yaml_is_rejected_by_name(clean_env, tmp_path: Path) -> None:
    cfg = tmp_path / "custom.yaml"
    cfg.write_text("elasticsearch:\n  url: http://es:9200\n", encoding="utf-8")
    clean_env.setenv("SOC_CONFIG", str(cfg))
    with pytest.raises(ConfigError) as err:
        load_settings()
    assert "elasticsearch" in str(err.value)


def test_yaml_values_are_read_and_env_wins(clean_env, tmp_path: Path) -> None:
    cfg = tmp_path / "custom.yaml"
    cfg.write_text("kafka:\n  partitions: 8\n  replication: 3\n", encoding="utf-8")
    clean_env.setenv("SOC_CONFIG", str(cfg))
    clean_env.setenv("SOC_KAFKA__PARTITIONS", "16")
    s = load_settings()
    assert s.kafka.partitions == 16
    assert s.kafka.replication == 3


def test_invalid_yaml_is_a_config_error(clean_env, tmp_path: Path) -> None:
    cfg = tmp_path / "custom.yaml"
    cfg.write_text("kafka: [unclosed\n", encoding="utf-8")
    clean_env.setenv("SOC_CONFIG", str(cfg))
    with pytest.raises(ConfigError) as err:
        load_settings()
    assert str(cfg) in str(err.value)


def test_kafka_bootstrap_shortcut_switches_off_the_local_kafka(clean_env) -> None:
    clean_env.setenv("SOC_KAFKA_BOOTSTRAP", "kafka1:9092,kafka2:9092")
    s = load_settings()
    assert s.uses_local_kafka is False
    assert s.kafka_bootstrap == "kafka1:9092,kafka2:9092"
    assert s.uses_local_elastic is True


def test_es_url_shortcut_switches_off_the_local_elastic(clean_env) -> None:
    clean_env.setenv("SOC_ES_URL", "https://es.gov.example:9200")
    s = load_settings()
    assert s.uses_local_elastic is False
    assert s.es_url == "https://es.gov.example:9200"
    assert s.uses_local_kafka is True


def test_shortcuts_combine_with_nested_variables(clean_env) -> None:
    clean_env.setenv("SOC_KAFKA_BOOTSTRAP", "kafka1:9092")
    clean_env.setenv("SOC_KAFKA__PARTITIONS", "8")
    s = load_settings()
    assert s.kafka.bootstrap == "kafka1:9092"
    assert s.kafka.partitions == 8
