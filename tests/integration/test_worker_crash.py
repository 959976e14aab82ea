"""A worker killed with SIGKILL mid-stream and restarted loses nothing and duplicates nothing."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from elasticsearch import Elasticsearch

from soc.pipeline import LocalPipeline, count, wait_for_count
from soc.story import BRUTE_FORCE_RULE, CST

from .conftest import drop_indices, new_pipeline

pytestmark = pytest.mark.integration

TOTAL = 40_000
FAILURES = 10
ATTACKER = "198.51.100.99"


@pytest.fixture()
def crash_pipeline(tmp_path: Path, es: Elasticsearch, kafka: str) -> Iterator[LocalPipeline]:
    p = new_pipeline(tmp_path)
    yield p
    p.stop()
    drop_indices(es, p.ns.prefix)


def _lines(marker: str) -> list[bytes]:
    start = datetime.now(UTC) - timedelta(minutes=2)
    every = TOTAL // FAILURES
    lines = []
    for i in range(TOTAL):
        ts = start + timedelta(milliseconds=i)
        if i % every == every // 2:
            bsd = ts.astimezone(CST)
            lines.append(
                (bsd.strftime("<38>%b ") + f"{bsd.day:2d}" + bsd.strftime(" %H:%M:%S")
                 + f" gov-cloud-db-01 sshd[{i}]: Failed password for root from {ATTACKER} port {30000 + i} ssh2")
                .encode()
            )
        else:
            lines.append(
                f"<14>1 {ts.isoformat(timespec='milliseconds')} gov-cloud-app-02 app {i} - - {marker} n={i}".encode()
            )
    return lines


def test_sigkill_mid_stream_loses_nothing(crash_pipeline: LocalPipeline, es: Elasticsearch) -> None:
    p = crash_pipeline
    prefix = p.ns.prefix
    marker = f"crash{uuid.uuid4().hex[:8]}"
    p.start_collector()
    p.send_tcp(_lines(marker))
    p.start_worker()

    # Kill the worker while it is part-way through.
    deadline = time.monotonic() + 180
    at_kill = 0
    while time.monotonic() < deadline:
        at_kill = count(es, f"{prefix}-events-*")
        if at_kill >= 2000:
            break
        time.sleep(0.1)
    p.kill_worker()
    assert 0 < at_kill < TOTAL, f"the kill must land mid-stream (indexed {at_kill} of {TOTAL})"

    p.start_worker()
    got = wait_for_count(es, f"{prefix}-events-*", TOTAL, 300)
    assert got == TOTAL, f"{got} of {TOTAL} indexed after the restart; worker log:\n{p.tail('worker1')}"
    # No duplicates: one document per sent line, whatever was re-delivered.
    assert count(es, f"{prefix}-events-*", {"match_phrase": {"message": marker}}) == TOTAL - FAILURES
    assert count(es, f"{prefix}-deadletter") == 0

    # The correlation window survived the crash: one brute-force alert, every failure counted once.
    brute = {"bool": {"filter": [{"term": {"rule.name": BRUTE_FORCE_RULE}}, {"term": {"source.ip": ATTACKER}}]}}
    assert wait_for_count(es, f"{prefix}-alerts", 1, 120, brute) == 1
    deadline = time.monotonic() + 60
    alert_count = 0
    while time.monotonic() < deadline:
        es.indices.refresh(index=f"{prefix}-alerts")
        alert_count = es.search(index=f"{prefix}-alerts", query=brute)["hits"]["hits"][0]["_source"]["soc"]["alert"]["count"]
        if alert_count == FAILURES:
            break
        time.sleep(0.5)
    assert alert_count == FAILURES
