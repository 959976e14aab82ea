"""Log retention on the real Elasticsearch (no ILM here: the scheduled deletion): expired daily
events indices are deleted and in-window ones kept, each deletion is in the audit trail, and the
`log_retention` check passes on a full window and names the days missing from it."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from elasticsearch import Elasticsearch

from soc.assets import load_inventory
from soc.audit import AuditTrail
from soc.compliance.engine import EVALUATORS, Context, run_checks
from soc.compliance.evaluators import retention as _registers_log_retention  # noqa: F401
from soc.compliance.model import CheckDef, Result
from soc.config import Settings
from soc.store.client import async_client
from soc.store.retention import Report, apply, probe_ilm
from soc.store.setup import ensure_templates
from soc.yamlfile import load_model

pytestmark = pytest.mark.integration
SOC = str(Path(sys.executable).with_name("soc"))
CHECK = "log-retention-180d"


def settings_for(base: Settings, prefix: str) -> Settings:
    return base.model_copy(update={"elastic": base.elastic.model_copy(update={"index_prefix": prefix})})


def day_index(prefix: str, today: date, age: int) -> str:
    return f"{prefix}-events-{today - timedelta(days=age):%Y.%m.%d}"


def fill(es: Elasticsearch, names: list[str]) -> None:
    """One event in each index (created by the bulk write, with the events template)."""
    ops: list[dict[str, Any]] = []
    for n, name in enumerate(names):
        day = name.rsplit("-", 1)[-1].replace(".", "-")
        ts = f"{day}T12:00:00Z" if day[:4].isdigit() else "2026-01-01T00:00:00Z"
        ops += [{"index": {"_index": name, "_id": f"e{n}"}}, {"@timestamp": ts, "event": {"dataset": "huawei.usg"}}]
    res = es.bulk(operations=ops, refresh=True)
    assert not res["errors"], [i for i in res["items"] if i["index"].get("error")][:3]


def run_apply(s: Settings, now: datetime, dry_run: bool = False) -> Report:
    async def go() -> Report:
        es = async_client(s)
        try:
            return await apply(es, s, now, dry_run=dry_run)
        finally:
            await es.close()

    return asyncio.run(go())


def run_check(s: Settings, now: datetime) -> Result:
    """The check as defined in compliance/checks/log_retention.yml, run by the engine."""
    check = load_model(s.compliance.checks_dir / "log_retention.yml", CheckDef)
    assert check.id == CHECK and check.kind in EVALUATORS

    async def go() -> list[Result]:
        es = async_client(s)
        try:
            return await run_checks(Context(es, s, load_inventory(None), now), [check])
        finally:
            await es.close()

    [result] = asyncio.run(go())
    return result


def drop_indices(es: Elasticsearch, prefix: str) -> None:
    """conftest's drop_indices, by 50 names at a time (181 names outgrow an HTTP line)."""
    names = list(es.indices.get(index=f"{prefix}-*", allow_no_indices=True, ignore_unavailable=True))
    for start in range(0, len(names), 50):
        es.indices.delete(index=",".join(names[start:start + 50]), ignore_unavailable=True)


def event_names(es: Elasticsearch, prefix: str) -> set[str]:
    return set(es.indices.get(index=f"{prefix}-events*", allow_no_indices=True, ignore_unavailable=True))


def test_apply_deletes_exactly_the_expired_indices_and_audits_each(base_settings: Settings, es: Elasticsearch) -> None:
    prefix = f"ret{uuid.uuid4().hex[:8]}"
    s = settings_for(base_settings, prefix)
    now = datetime.now(UTC)
    today = now.date()
    ages = [200, 181, 180, 179, 10, 0]
    asyncio.run(ensure_templates(s))
    try:
        fill(es, [day_index(prefix, today, a) for a in ages] + [f"{prefix}-events-archive", f"{prefix}-alerts"])
        expired = {day_index(prefix, today, 200), day_index(prefix, today, 181)}
        kept = {day_index(prefix, today, a) for a in (180, 179, 10, 0)} | {f"{prefix}-events-archive"}

        # The dry run (and the CLI's) names the two expired indices and deletes nothing; no ILM
        # on this node, so the job itself deletes.
        dry = run_apply(s, now, dry_run=True)
        assert not dry.ilm.available
        assert {d.index for d in dry.plan.delete} == expired and dry.deleted == []
        cli = subprocess.run([SOC, "retention", "apply", "--dry-run"], capture_output=True, text=True, timeout=120,
                             env={**os.environ, "SOC_ELASTIC__INDEX_PREFIX": prefix, "COLUMNS": "250"})
        assert cli.returncode == 0, cli.stderr
        assert "2 expired" in cli.stdout and all(name in cli.stdout for name in expired)
        assert event_names(es, prefix) == expired | kept

        report = run_apply(s, now)
        assert sorted(report.deleted) == sorted(expired) and not report.failed
        assert event_names(es, prefix) == kept
        assert es.indices.exists(index=f"{prefix}-alerts")

        # Each deletion is one record of the audit trail, and the chain still verifies.
        es.indices.refresh(index=f"{prefix}-audit")
        hits = es.search(index=f"{prefix}-audit", size=10, query={"term": {"actor": "retention"}},
                         sort=[{"seq": "asc"}])["hits"]["hits"]
        records = [h["_source"] for h in hits]
        assert {r["target"] for r in records} == expired
        assert all(r["action"] == "retention.delete_index" and r["outcome"] == "success" for r in records)
        assert {r["target"]: r["details"]["age_days"] for r in records} == {
            day_index(prefix, today, 200): 200, day_index(prefix, today, 181): 181}
        assert all(r["details"]["keep_days"] == 180 for r in records)

        async def verify() -> Any:
            client = async_client(s)
            try:
                return await AuditTrail(client, prefix).verify()
            finally:
                await client.close()

        v = asyncio.run(verify())
        assert v.ok and v.records == 2, v.problems

        # A second run has nothing to do and records nothing.
        again = run_apply(s, now)
        assert again.deleted == [] and asyncio.run(verify()).records == 2
    finally:
        drop_indices(es, prefix)


def test_log_retention_passes_on_a_full_window_and_names_missing_days(base_settings: Settings,
                                                                       es: Elasticsearch) -> None:
    prefix = f"ret{uuid.uuid4().hex[:8]}"
    s = settings_for(base_settings, prefix)
    now = datetime.now(UTC)
    today = now.date()
    asyncio.run(ensure_templates(s))
    try:
        full = [day_index(prefix, today, a) for a in range(181)]  # 180 days back to today
        fill(es, full + [f"{prefix}-alerts"])

        # Nothing in the window is deleted.
        report = run_apply(s, now)
        assert report.deleted == [] and event_names(es, prefix) == set(full)

        ok = run_check(s, now)
        assert ok.status == "pass", ok.reason
        assert ok.control == "8.1.5.4 d" and ok.subject_kind == "platform"
        assert "every day of the last 180 days is kept" in ok.reason
        counts = ok.evidence.counts
        assert counts["policy.events"] == 180 and counts["policy.audit"] == 365
        assert counts["events_indices"] == 181 and counts["oldest_age_days"] == 180 and counts["missing_days"] == 0
        assert any(n.startswith(f"oldest events index {full[-1]}") for n in ok.evidence.notes)
        assert any(n.startswith("ILM: not available (GET _ilm/status → 405") for n in ok.evidence.notes)

        # Someone deletes three in-window days by hand: the check fails and names them.
        gone = [day_index(prefix, today, a) for a in (37, 100, 101)]
        es.indices.delete(index=",".join(gone))
        bad = run_check(s, now)
        assert bad.status == "fail"
        d37, d100, d101 = (today - timedelta(days=a) for a in (37, 100, 101))
        assert f"{d101:%Y.%m.%d}–{d100:%Y.%m.%d} (2 days)" in bad.reason and f"{d37:%Y.%m.%d}" in bad.reason
        assert "3 days within the kept window have no events index" in bad.reason
        assert bad.evidence.counts["missing_days"] == 3
    finally:
        drop_indices(es, prefix)


def test_the_probe_reports_what_a_cluster_without_ilm_answers(base_settings: Settings) -> None:
    async def go() -> Any:
        client = async_client(base_settings)
        try:
            return await probe_ilm(client)
        finally:
            await client.close()

    probe = asyncio.run(go())
    assert not probe.available and probe.status == 405
    assert probe.detail == ("GET _ilm/status → 405: Incorrect HTTP method for uri [/_ilm/status] "
                            "and method [GET], allowed: [POST]")
