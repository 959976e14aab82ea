"""Idle correlation groups are forgotten by the real worker (bounded memory), and a group that
is forgotten can still alert when a new burst comes."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from elasticsearch import Elasticsearch

from soc.pipeline import wait_for_count

from .conftest import drop_indices, new_pipeline

pytestmark = pytest.mark.integration


def failed_login(at: datetime, src: str, k: int) -> bytes:
    # RFC 5424 carries the year and the zone, so the event time is exactly `at`.
    ts = at.strftime("%Y-%m-%dT%H:%M:%S.000Z")
    return f"<86>1 {ts} gov-cloud-app-07 sshd 4{k:03d} - - Failed password for root from {src} port {40000 + k} ssh2".encode()


def worker_metric(p, name: str, default: float) -> float:
    """A worker counter, or default while the worker's web server is not up yet."""
    try:
        return p.metrics().get(name, default)
    except OSError:
        return default


def test_idle_groups_are_expired_and_a_later_burst_still_alerts(tmp_path: Path, es: Elasticsearch, kafka: str) -> None:
    p = new_pipeline(tmp_path, SOC_WORKER__CORRELATION_EXPIRY_INTERVAL_S="1", SOC_WORKER__CORRELATION_LATENESS_S="5")
    p.start()
    try:
        t0 = datetime.now(UTC) - timedelta(hours=2)
        # 30 sources fail twice each (below the threshold of 5): 30 idle groups.
        old = [failed_login(t0 + timedelta(seconds=k), f"198.51.100.{k}", k) for k in range(30)]
        old += [failed_login(t0 + timedelta(seconds=k, milliseconds=500), f"198.51.100.{k}", 100 + k) for k in range(30)]
        p.send_tcp(old)
        deadline = time.monotonic() + 60
        while worker_metric(p, "soc_correlation_groups", 0) < 30:
            assert time.monotonic() < deadline, p.tail("worker")
            time.sleep(0.5)
        # Two hours later (event time), a real burst from another source.
        now = datetime.now(UTC)
        p.send_tcp([failed_login(now + timedelta(seconds=k), "203.0.113.66", 200 + k) for k in range(6)])
        deadline = time.monotonic() + 60
        # Each failed login feeds several correlations (brute force, spraying, failure rate):
        # at least the 30 brute-force groups go; the burst keeps a handful of its own.
        while worker_metric(p, "soc_correlation_expired_total", 0) < 30:
            assert time.monotonic() < deadline, p.tail("worker")
            time.sleep(0.5)
        deadline = time.monotonic() + 60
        while worker_metric(p, "soc_correlation_groups", 99) > 5:
            assert time.monotonic() < deadline, p.tail("worker")
            time.sleep(0.5)
        # The burst's group was not expired: its alert is raised.
        query = {"bool": {"filter": [{"term": {"source.ip": "203.0.113.66"}}, {"term": {"rule.category": "event_count"}}]}}
        assert wait_for_count(es, f"{p.ns.prefix}-alerts", 1, 60, query, at_least=True) >= 1, \
            "the brute force after the expiry raised no alert"
    finally:
        p.stop()
        drop_indices(es, p.ns.prefix)


FEW_FAILURES = """
title: 一分钟内少量 SSH 失败（测试）
id: 6a0c3e55-1f0e-4b7a-9a51-0d3c2f7e9b10
correlation:
    type: event_count
    rules:
        - sshd_failed_login
    group-by:
        - source.ip
    timespan: 1m
    condition:
        lt: 3
level: low
"""


def test_a_fewer_than_window_is_decided_when_event_time_passes_it(tmp_path: Path, es: Elasticsearch,
                                                                 kafka: str) -> None:
    extra = tmp_path / "rules-extra"
    extra.mkdir()
    (extra / "few_failures.yml").write_text(FEW_FAILURES, encoding="utf-8")
    rules = Path(__file__).resolve().parents[2] / "rules" / "linux"
    p = new_pipeline(tmp_path, SOC_WORKER__CORRELATION_EXPIRY_INTERVAL_S="1", SOC_WORKER__CORRELATION_LATENESS_S="5",
                     SOC_WORKER__RULES_DIRS=f'["{rules}", "{extra}"]')
    p.start()
    try:
        t0 = datetime.now(UTC) - timedelta(hours=1)
        # Two failures from one source, then nothing from it: a quiet group, undecided...
        p.send_tcp([failed_login(t0, "198.51.100.201", 1), failed_login(t0 + timedelta(seconds=20), "198.51.100.201", 2)])
        query = {"bool": {"filter": [{"term": {"rule.id": "6a0c3e55-1f0e-4b7a-9a51-0d3c2f7e9b10"}},
                                     {"term": {"source.ip": "198.51.100.201"}}]}}
        deadline = time.monotonic() + 60
        while worker_metric(p, "soc_correlation_groups", 0) < 1:
            assert time.monotonic() < deadline, p.tail("worker")
            time.sleep(0.5)
        # ...until event time (another source's event, ten minutes on) passes its window and the
        # expiry tick decides it: two failures, fewer than three.
        p.send_tcp([failed_login(t0 + timedelta(minutes=10), "203.0.113.90", 3)])
        assert wait_for_count(es, f"{p.ns.prefix}-alerts", 1, 90, query) == 1, p.tail("worker")
        [hit] = es.search(index=f"{p.ns.prefix}-alerts", query=query)["hits"]["hits"]
        assert hit["_source"]["soc"]["alert"]["count"] == 2
    finally:
        p.stop()
        drop_indices(es, p.ns.prefix)
