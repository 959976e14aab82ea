"""Real syslog over real sockets, through Kafka and the Faust worker, found in Elasticsearch."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from elasticsearch import Elasticsearch

from soc.pipeline import LocalPipeline, count, wait_for_count
from soc.story import ATTACKER, BRUTE_FORCE_RULE, CST, TARGET_HOST, story

pytestmark = pytest.mark.integration

WAIT = 120.0


def _bsd(ts: datetime) -> str:
    ts = ts.astimezone(CST)
    return ts.strftime("%b ") + f"{ts.day:2d}" + ts.strftime(" %H:%M:%S")


def _marker_query(marker: str) -> dict:
    return {"match_phrase": {"message": marker}}


def test_attack_story_is_indexed_and_the_brute_force_alerted(pipeline: LocalPipeline, es: Elasticsearch) -> None:
    p = pipeline.ns.prefix
    lines = story(start=datetime.now(CST) - timedelta(minutes=5))
    pipeline.send_tcp([sl.data for sl in lines if sl.transport == "tcp"])
    pipeline.send_udp([sl.data for sl in lines if sl.transport == "udp"])

    got = wait_for_count(es, f"{p}-events-*", len(lines), WAIT)
    assert got == len(lines), f"{got} of {len(lines)} lines indexed; worker log:\n{pipeline.tail('worker')}"

    failures = sum(1 for sl in lines if sl.role == "attack" and b"Failed password" in sl.data)
    brute = {"bool": {"filter": [{"term": {"rule.name": BRUTE_FORCE_RULE}}, {"term": {"source.ip": ATTACKER}}]}}
    assert wait_for_count(es, f"{p}-alerts", 1, WAIT, brute) == 1, pipeline.tail("worker")
    # The alert keeps one document whose count reaches every failed login of the burst.
    deadline = time.monotonic() + WAIT
    alert: dict = {}
    while time.monotonic() < deadline:
        es.indices.refresh(index=f"{p}-alerts")
        alert = es.search(index=f"{p}-alerts", query=brute)["hits"]["hits"][0]["_source"]
        if alert["soc"]["alert"]["count"] == failures:
            break
        time.sleep(0.5)
    assert alert["soc"]["alert"]["count"] == failures
    assert alert["host"]["name"] == TARGET_HOST
    assert alert["event"]["kind"] == "alert"
    assert alert["threat"]["technique"]["id"] == ["T1110"]
    assert alert["threat"]["technique"]["subtechnique"]["id"] == ["T1110.001"]
    assert len(alert["soc"]["alert"]["event_ids"]) == failures
    # Every event id the alert cites is an indexed event from the attacker.
    ids = alert["soc"]["alert"]["event_ids"]
    cited = es.search(index=f"{p}-events-*", query={"ids": {"values": ids}}, size=len(ids))["hits"]["hits"]
    assert {h["_source"]["source"]["ip"] for h in cited} == {ATTACKER}

    root_login = {"term": {"rule.id": "9a3e2c41-7b6d-4f1a-b8e5-2c7d9f0e1a23"}}
    assert wait_for_count(es, f"{p}-alerts", 1, WAIT, root_login) == 1, pipeline.tail("worker")
    # The WAF's Chinese log of the SQL injection raises the WAF rule's alert, with the asset's IP.
    sqli = {"bool": {"filter": [{"term": {"rule.id": "6b2f0c8e-3d41-4b7a-9f15-8a0e4c2d7b31"}},
                                {"term": {"destination.ip": "10.10.0.8"}}]}}
    assert wait_for_count(es, f"{p}-alerts", 1, WAIT, sqli) == 1, pipeline.tail("worker")
    # The IDS's SSH password-attack signature and the WAF's high severity raise their rules too;
    # internal administrators' logins and the ordinary traffic raise nothing else.
    expected = {
        "0d7f3f57-2a55-4a4e-8c1e-4e2b8f0a7c12",  # SSH brute force (correlation)
        "9a3e2c41-7b6d-4f1a-b8e5-2c7d9f0e1a23",  # root login from outside
        "6b2f0c8e-3d41-4b7a-9f15-8a0e4c2d7b31",  # WAF SQL injection
        "c5b2182b-a623-4861-89f6-9cde91762e16",  # WAF high-severity attack
        "4eb57c49-dc8e-4305-a904-7361e70d5544",  # IDS SSH/RDP password attack
    }
    assert wait_for_count(es, f"{p}-alerts", len(expected), WAIT, at_least=True) >= len(expected)
    es.indices.refresh(index=f"{p}-alerts")
    raised = es.search(index=f"{p}-alerts", size=0, aggs={"r": {"terms": {"field": "rule.id", "size": 50}}})
    buckets = {b["key"]: b["doc_count"] for b in raised["aggregations"]["r"]["buckets"]}
    assert set(buckets) == expected, buckets
    assert count(es, f"{p}-alerts") == len(expected), buckets  # suppression: one alert per rule and group
    # Each alert gets its actions: the brute force's playbook blocks the attacker in the feed
    # (nftables is not configured for this worker: recorded as failed, never retried); the others
    # are recorded.
    alert_ids = {h["_source"]["soc"]["alert"]["id"]: h["_source"]["rule"]["id"]
                 for h in es.search(index=f"{p}-alerts", size=50)["hits"]["hits"]}
    blocked = {"bool": {"filter": [{"term": {"soc.action.kind": "block_ip"}}, {"term": {"soc.action.state": "applied"}},
                                   {"term": {"soc.action.device": "feed"}}, {"term": {"soc.action.target": ATTACKER}}]}}
    assert wait_for_count(es, f"{p}-actions", 1, WAIT, blocked, at_least=True) >= 1, pipeline.tail("worker")
    deadline = time.monotonic() + WAIT
    while True:
        es.indices.refresh(index=f"{p}-actions")
        acted = es.search(index=f"{p}-actions", size=0,
                          aggs={"a": {"terms": {"field": "soc.action.alert_id", "size": 50}}})["aggregations"]["a"]
        missing = set(alert_ids) - {b["key"] for b in acted["buckets"]}
        if not missing or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert not missing, f"alerts without an action: {[alert_ids[m] for m in missing]}\n{pipeline.tail('worker')}"
    # Addresses are indexed as IPs: a CIDR query finds every line that names the attacker,
    # whatever device wrote it (host sshd, Huawei firewall, Sangfor WAF, Venustech IDS).
    naming_attacker = sum(1 for sl in lines if ATTACKER.encode() in sl.data)
    assert count(es, f"{p}-events-*", {"term": {"source.ip": "203.0.113.0/24"}}) == naming_attacker
    by_vendor = es.search(index=f"{p}-events-*", size=0, query={"term": {"source.ip": ATTACKER}},
                          aggs={"v": {"terms": {"field": "observer.vendor"}}})["aggregations"]["v"]["buckets"]
    assert {b["key"] for b in by_vendor} >= {"huawei", "sangfor", "venus"}
    # Chinese text arrives intact and searchable.
    assert count(es, f"{p}-events-*", {"match_phrase": {"message": "会话建立"}}) > 0


def test_same_records_twice_do_not_duplicate(pipeline: LocalPipeline, es: Elasticsearch) -> None:
    p = pipeline.ns.prefix
    marker = f"dup{uuid.uuid4().hex[:8]}"
    now = datetime.now(UTC)
    lines = [
        f"<13>{_bsd(now)} gov-cloud-app-02 app[{i}]: {marker} record {i}".encode() for i in range(50)
    ]
    before = pipeline.metrics().get('soc_received_total{stage="index.events"}', 0.0)
    pipeline.send_tcp(lines)
    assert wait_for_count(es, f"{p}-events-*", 50, WAIT, _marker_query(marker)) == 50
    pipeline.send_tcp(lines)
    pipeline.send_udp(lines[:10])
    # Wait until the index stage has received all 110 copies, then count documents.
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        if pipeline.metrics().get('soc_received_total{stage="index.events"}', 0.0) - before >= 110:
            break
        time.sleep(0.5)
    assert pipeline.metrics()['soc_received_total{stage="index.events"}'] - before >= 110
    assert count(es, f"{p}-events-*", _marker_query(marker)) == 50


def test_bad_input_is_dead_lettered_or_kept_and_never_stops_the_worker(
    pipeline: LocalPipeline, es: Elasticsearch
) -> None:
    p = pipeline.ns.prefix
    marker = f"bad{uuid.uuid4().hex[:8]}"
    now = datetime.now(UTC)
    big = b"x" * (1024 * 1024)
    gbk = f"<13>{_bsd(now)} fw-01 auth: {marker} 用户 admin 登录失败".encode("gbk")
    cases = {
        "gbk": gbk,  # not UTF-8
        "binary": b"\xff\xfe\x00\x81" + marker.encode() + b"\xc3\x28",  # no charset decodes this
        "empty": b"",
        "big": f"<13>{_bsd(now)} gov-cloud-app-02 app: {marker} big ".encode() + big,
        "truncated_json": b'{"message": "' + marker.encode() + b'", "source": {"ip": "1.2.',
        "impossible_date": f"<13>1 2026-02-30T25:61:00Z gov-cloud-app-02 app - - - {marker} bad date".encode(),
    }
    sent_before = count(es, f"{p}-deadletter")
    pipeline.send_tcp(list(cases.values()))
    good = f"<13>{_bsd(now)} gov-cloud-app-02 app: {marker} still alive".encode()
    pipeline.send_tcp([good])

    # The good line after the bad ones arrives: nothing stopped the stage.
    assert wait_for_count(es, f"{p}-events-*", 1, WAIT, {"match_phrase": {"message": f"{marker} still alive"}}) == 1
    assert pipeline.worker_alive()

    # The GBK line was decoded (GB18030 fallback): its Chinese text is searchable.
    assert wait_for_count(es, f"{p}-events-*", 1, WAIT, {"match_phrase": {"message": "登录失败"}}, at_least=True) >= 1
    # The 1 MB line is indexed whole, event.original kept.
    hits = es.search(index=f"{p}-events-*", query={"match_phrase": {"message": f"{marker} big"}})["hits"]["hits"]
    assert len(hits) == 1
    assert len(hits[0]["_source"]["event"]["original"]) > 1024 * 1024
    # The impossible date is indexed with the receive time, tagged, original kept.
    bad_date = es.search(index=f"{p}-events-*", query={"term": {"tags": "_timestamp_invalid"}})["hits"]["hits"]
    assert any("2026-02-30T25:61:00Z" in h["_source"]["event"]["original"] for h in bad_date)

    # The rest are dead letters with a reason and their exact original bytes.
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline and count(es, f"{p}-deadletter") < sent_before + 3:
        time.sleep(0.5)
    es.indices.refresh(index=f"{p}-deadletter")
    dead = [h["_source"]["soc"]["deadletter"] for h in es.search(index=f"{p}-deadletter", size=100)["hits"]["hits"]]
    import base64

    originals = {base64.b64decode(d["original_base64"]): d for d in dead}
    for name in ("binary", "empty", "truncated_json"):
        assert cases[name] in originals, f"{name} was neither indexed nor dead-lettered"
        assert originals[cases[name]]["reason"], name
    assert originals[cases["truncated_json"]]["reason"] == "json_invalid"
    assert originals[cases["empty"]]["reason"] == "empty"


def test_octet_counted_tcp_frames_keep_embedded_newlines(pipeline: LocalPipeline, es: Elasticsearch) -> None:
    p = pipeline.ns.prefix
    marker = f"oct{uuid.uuid4().hex[:8]}"
    frames = [
        f"<14>1 {datetime.now(UTC).isoformat()} gov-cloud-app-02 java 77 - - {marker} frame {i}\n"
        f"    at com.example.Svc.call(Svc.java:{i})".encode()
        for i in range(3)
    ]
    pipeline.send_tcp(frames, octet_counting=True)
    assert wait_for_count(es, f"{p}-events-*", 3, WAIT, _marker_query(marker)) == 3
    hits = es.search(index=f"{p}-events-*", query=_marker_query(marker))["hits"]["hits"]
    assert all("\n    at com.example.Svc.call" in h["_source"]["message"] for h in hits)


def test_worker_and_collector_expose_prometheus_metrics(pipeline: LocalPipeline, es: Elasticsearch) -> None:
    # Lines of its own, so the test holds when it runs alone: their arrival proves both are up.
    marker = f"metrics{uuid.uuid4().hex[:8]}"
    pipeline.send_tcp([f"<14>1 {datetime.now(UTC).isoformat()} host app - - - {marker} {i}".encode()
                       for i in range(5)])
    assert wait_for_count(es, f"{pipeline.ns.prefix}-events-*", 5, WAIT, _marker_query(marker)) == 5
    worker = pipeline.metrics("worker")
    collector = pipeline.metrics("collector")
    assert worker['soc_received_total{stage="normalize"}'] > 0
    assert collector['soc_received_total{stage="collector.syslog"}'] > 0
    assert collector['soc_sent_total{stage="collector.syslog"}'] == collector['soc_received_total{stage="collector.syslog"}']


def test_many_concurrent_senders_lose_nothing(pipeline: LocalPipeline, es: Elasticsearch) -> None:
    import threading

    p = pipeline.ns.prefix
    marker = f"conc{uuid.uuid4().hex[:8]}"
    senders, per_sender = 24, 250

    def sender(k: int) -> None:
        lines = [f"<14>1 {datetime.now(UTC).isoformat()} host-{k} app {i} - - {marker} s{k} n{i}".encode()
                 for i in range(per_sender)]
        if k % 4 == 0:
            pipeline.send_udp(lines)
        else:
            pipeline.send_tcp(lines, octet_counting=k % 2 == 1)

    threads = [threading.Thread(target=sender, args=(k,)) for k in range(senders)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    expected = senders * per_sender
    assert wait_for_count(es, f"{p}-events-*", expected, WAIT, _marker_query(marker)) == expected


def test_a_collector_stopped_with_connections_open_stops_cleanly(tmp_path: Path, es: Elasticsearch, kafka: str) -> None:
    """An operator stops the collector (SIGTERM) while devices hold their TCP connections open:
    what it had received is delivered, it exits 0, and its log has no error or traceback (a
    stop used to log one asyncio 'CancelledError' traceback per open connection)."""
    import signal
    import socket

    from .conftest import drop_indices, new_pipeline

    p = new_pipeline(tmp_path)
    try:
        p.start_collector()
        marker = f"stop{uuid.uuid4().hex[:8]}"
        open_conns = []
        for i in range(5):
            s = socket.create_connection(("127.0.0.1", p.ns.syslog_port))
            s.sendall(f"<13>Dec  7 10:00:00 host{i} app: {marker} open {i}\n".encode())
            open_conns.append(s)
        deadline = time.monotonic() + 30
        sent = 'soc_sent_total{stage="collector.syslog"}'
        while p.metrics("collector").get(sent, 0) < 5:
            assert time.monotonic() < deadline, p.tail("collector")
            time.sleep(0.2)
        assert p.collector is not None
        p.collector.send_signal(signal.SIGTERM)
        assert p.collector.wait(timeout=60) == 0
        log = (p.log_dir / "collector.log").read_text(errors="replace")
        assert "Traceback" not in log and " ERROR " not in log, log[-3000:]
        for s in open_conns:
            s.close()
    finally:
        p.stop()
        drop_indices(es, p.ns.prefix)
