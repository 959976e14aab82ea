"""The index stage on the real Elasticsearch: refused documents are dead-lettered, outages retried."""

from __future__ import annotations

import asyncio
import base64
import os
import socket
import subprocess
import sys
import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest
from elasticsearch import Elasticsearch

from soc.config import Settings
from soc.metrics import REGISTRY
from soc.pipeline import LocalPipeline, count, free_port, wait_for_count
from soc.store.bulk import BulkItem, BulkWriter
from soc.stack.elastic import local_credentials
from soc.store.client import async_client

pytestmark = pytest.mark.integration


def test_a_mapping_conflict_goes_to_the_dead_letters_with_elasticsearchs_reason(
    pipeline: LocalPipeline, es: Elasticsearch
) -> None:
    p = pipeline.ns.prefix
    marker = f"map{uuid.uuid4().hex[:8]}"
    bad = orjson.dumps({"@timestamp": datetime.now(UTC).isoformat(), "message": marker,
                        "source": {"ip": "not-an-address"}})
    good = orjson.dumps({"@timestamp": datetime.now(UTC).isoformat(), "message": f"{marker} fine",
                         "source": {"ip": "192.0.2.1"}})
    pipeline.send_tcp([bad, good])
    fine = wait_for_count(es, f"{p}-events-*", 1, 120, {"match_phrase": {"message": f"{marker} fine"}})
    assert fine == 1, f"the good line was not indexed; worker log:\n{pipeline.tail('worker')}"
    query = {"term": {"soc.deadletter.stage": "index.events"}}
    mine: list[dict] = []
    deadline = time.monotonic() + 120
    while not mine and time.monotonic() < deadline:
        if count(es, f"{p}-deadletter", query):
            hits = es.search(index=f"{p}-deadletter", query=query, size=50)["hits"]["hits"]
            mine = [h["_source"]["soc"]["deadletter"] for h in hits
                    if marker.encode() in base64.b64decode(h["_source"]["soc"]["deadletter"]["original_base64"])]
        if not mine:
            time.sleep(0.5)
    assert len(mine) == 1, f"dead letters of {marker}: {mine}; worker log:\n{pipeline.tail('worker')}"
    assert mine[0]["reason"] == "document_parsing_exception", mine[0]
    assert "source.ip" in mine[0]["error"]
    # The original bytes are the event the index stage could not write, event.original inside.
    doc = orjson.loads(base64.b64decode(mine[0]["original_base64"]))
    assert doc["event"]["original"] == bad.decode()
    assert count(es, f"{p}-events-*", {"match_phrase": {"message": marker}}) == 1  # only the good one


class _Forwarder:
    """A TCP forwarder to Elasticsearch that can be started late: a network outage, not a fake."""

    def __init__(self, listen_port: int, target: tuple[str, int]) -> None:
        self.listen_port = listen_port
        self.target = target
        self.server: socket.socket | None = None

    def start(self) -> None:
        self.server = socket.create_server(("127.0.0.1", self.listen_port))
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        assert self.server is not None
        while True:
            try:
                client, _ = self.server.accept()
            except OSError:
                return
            upstream = socket.create_connection(self.target)
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def stop(self) -> None:
        if self.server is not None:
            self.server.close()


def test_bulk_writes_wait_out_an_outage_and_then_land(base_settings: Settings, es: Elasticsearch) -> None:
    port = free_port()
    host, es_port = base_settings.es_url.rsplit("//", 1)[1].split(":")
    forwarder = _Forwarder(port, (host, int(es_port)))
    creds = local_credentials(base_settings.stack)
    assert creds is not None, "the local stack must be up"
    settings = base_settings.model_copy(update={"elastic": base_settings.elastic.model_copy(
        update={"url": f"http://127.0.0.1:{port}", "username": creds[0], "password": creds[1]})})
    index = f"itbulk{uuid.uuid4().hex[:8]}-events-2026.01.01"
    items = [BulkItem(index, f"id-{i}", {"@timestamp": "2026-01-01T00:00:00Z", "message": f"n{i}"})
             for i in range(100)]
    stage = f"test.bulk.{uuid.uuid4().hex[:6]}"

    async def scenario() -> int:
        client = async_client(settings)
        writer = BulkWriter(client, stage, max_backoff_s=1.0)
        task = asyncio.create_task(writer.write(items))
        # Elasticsearch is unreachable: the writer retries instead of failing or dropping.
        while (REGISTRY.get_sample_value("soc_retries_total", {"stage": stage, "reason": "connection"}) or 0) < 2:
            assert not task.done(), "the write gave up during the outage"
            await asyncio.sleep(0.1)
        forwarder.start()
        result = await asyncio.wait_for(task, 60)
        await client.close()
        assert not result.failures
        return result.written

    try:
        assert asyncio.run(scenario()) == 100
    finally:
        forwarder.stop()
    assert count(es, index) == 100
    es.indices.delete(index=index)


def test_integration_tests_fail_rather_than_skip_without_the_engines() -> None:
    env = {**os.environ, "SOC_ES_URL": "http://127.0.0.1:1", "SOC_KAFKA_BOOTSTRAP": "127.0.0.1:1"}
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
         "tests/integration/test_syslog_pipeline.py::test_worker_and_collector_expose_prometheus_metrics"],
        env=env, capture_output=True, text=True, timeout=300, cwd=Path(__file__).resolve().parents[2],
    )
    assert proc.returncode != 0
    assert "Elasticsearch is not reachable" in proc.stdout
    assert "skipped" not in proc.stdout
