"""The checks run on their schedule inside the real worker: a system that sends logs through the
pipeline passes "logs received", a silent one fails, and each run is kept (the history the
trend is drawn from)."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from elasticsearch import Elasticsearch

from .conftest import drop_indices, new_pipeline

pytestmark = pytest.mark.integration


def test_worker_runs_the_checks_on_schedule(tmp_path: Path, es: Elasticsearch, kafka: str) -> None:
    inventory = tmp_path / "assets.yaml"
    inventory.write_text(
        "assets:\n"
        "  - {name: 办公系统, tenant: dept-a, mlps_level: 3, hosts: [oa-01]}\n"
        "  - {name: 静默系统, tenant: dept-b, mlps_level: 2, hosts: [quiet-01]}\n", encoding="utf-8")
    p = new_pipeline(tmp_path, SOC_COMPLIANCE__INTERVAL_S="3", SOC_ASSETS_FILE=str(inventory))
    index = f"{p.ns.prefix}-compliance"
    try:
        p.start()
        now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        p.send_tcp([f"<38>1 {now} oa-01 sshd 811 - - Accepted password for ops from 10.1.2.3 port 50000 ssh2".encode()])
        runs: dict[str, dict[str, str]] = {}
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if es.indices.exists(index=index):
                es.indices.refresh(index=index)
                hits = es.search(index=index, size=200, query={"term": {"soc.compliance.check_id": "logs-received-24h"}})
                runs = {}
                for h in hits["hits"]["hits"]:
                    r = h["_source"]["soc"]["compliance"]
                    runs.setdefault(r["run_id"], {})[r["subject"]] = r["status"]
                if len([r for r in runs.values() if r.get("办公系统") == "pass"]) >= 2:
                    break
            assert p.worker_alive(), p.tail("worker")
            time.sleep(1)
        passing = [r for r in runs.values() if r.get("办公系统") == "pass"]
        assert len(passing) >= 2, (runs, p.tail("worker"))
        assert all(r.get("静默系统") == "fail" for r in passing)
    finally:
        p.stop()
        drop_indices(es, p.ns.prefix)
