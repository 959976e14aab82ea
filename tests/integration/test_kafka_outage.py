"""Kafka stopped for 30 s under steady syslog-over-TCP, file and HTTP load: afterwards every line
is in Elasticsearch exactly once, and the platform recovered without an operator."""

from __future__ import annotations

import asyncio
import threading
import time
import urllib.request
import uuid
from pathlib import Path

import orjson
import pytest
from elasticsearch import Elasticsearch

from soc.config import Settings
from soc.pipeline import count, wait_for_count
from soc.store.setup import ensure_templates
from soc.stream.topics import ensure_topics

from .conftest import drop_indices, new_pipeline
from .test_collector_spool import _own_broker

pytestmark = pytest.mark.integration

OUTAGE_S = 30
LOAD_S = 50


def test_kafka_outage_under_mixed_load_loses_and_duplicates_nothing(
    tmp_path: Path, base_settings: Settings, es: Elasticsearch, kafka: str
) -> None:
    node = _own_broker(tmp_path, base_settings)
    node.up()
    token = uuid.uuid4().hex
    logs = tmp_path / "applogs"
    logs.mkdir()
    sources = tmp_path / "sources.yaml"
    sources.write_text(f"sources:\n  - id: http-src\n    token: {token}\n  - id: file-src\n    paths: ['{logs}/*.log*']\n")
    p = new_pipeline(tmp_path / "run", SOC_KAFKA_BOOTSTRAP=node.bootstrap, SOC_SOURCES_FILE=str(sources))
    settings = p.settings.model_copy(update={"kafka": p.settings.kafka.model_copy(update={"bootstrap": node.bootstrap})})
    asyncio.run(ensure_topics(settings))
    asyncio.run(ensure_templates(settings))
    marker = f"out{uuid.uuid4().hex[:8]}"
    sent = {"syslog": 0, "file": 0, "http": 0}
    stop = threading.Event()

    def line(kind: str, i: int) -> str:
        return f"<14>1 2026-11-25T10:00:00.{i:06d}+08:00 gov-cloud-app-02 app - - - {marker} {kind} n={i}"

    def syslog_load() -> None:
        i = 0
        while not stop.is_set():
            p.send_tcp([line("syslog", i + k).encode() for k in range(20)])
            i += 20
            sent["syslog"] = i
            time.sleep(0.2)

    def file_load() -> None:
        i = 0
        while not stop.is_set():
            with open(logs / "app.log", "a") as f:
                for k in range(10):
                    f.write(line("file", i + k) + "\n")
            i += 10
            sent["file"] = i
            time.sleep(0.2)

    def http_load() -> None:
        i = 0
        while not stop.is_set():
            body = b"\n".join(orjson.dumps({"message": line("http", i + k), "@timestamp": "2026-11-25T02:00:00Z",
                                            "n": i + k}) for k in range(10))
            req = urllib.request.Request(f"http://127.0.0.1:{p.ns.http_port}/v1/logs", data=body, method="POST",
                                         headers={"Authorization": f"Bearer {token}",
                                                  "Content-Type": "application/x-ndjson"})
            with urllib.request.urlopen(req, timeout=120) as resp:  # 202: in Kafka or in the spool
                assert resp.status == 202
            i += 10
            sent["http"] = i
            time.sleep(0.2)

    threads = [threading.Thread(target=f, daemon=True) for f in (syslog_load, file_load, http_load)]
    try:
        p.start_worker()
        p.start_collector()
        p.start_http_collector()
        p.start_file_collector([])
        for t in threads:
            t.start()
        time.sleep(10)
        node.down()  # Kafka goes away for 30 s under load
        time.sleep(OUTAGE_S)
        node.up()
        time.sleep(LOAD_S - 10 - OUTAGE_S)
        stop.set()
        for t in threads:
            t.join(timeout=180)
        total = sum(sent.values())
        q = {"match_phrase": {"message": marker}}
        got = wait_for_count(es, f"{p.ns.prefix}-events-*", total, 300, q)
        assert got == total, f"{got} of {total} lines indexed ({sent}); worker:\n{p.tail('worker')}"
        time.sleep(5)
        assert count(es, f"{p.ns.prefix}-events-*", q) == total  # exactly once
        for kind, n in sent.items():
            assert count(es, f"{p.ns.prefix}-events-*", {"match_phrase": {"message": f"{marker} {kind}"}}) == n
        assert p.worker_alive(), "the worker must recover by itself"
        assert p.metrics("collector").get('soc_spooled_total{stage="collector.syslog"}', 0) > 0
    finally:
        stop.set()
        p.stop()
        node.down()
        drop_indices(es, p.ns.prefix)
