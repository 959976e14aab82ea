"""The compliance routes (soc/api/routers/compliance.py) on the real Elasticsearch: results written
with ComplianceStore for systems of two departments over two runs, then read back through the API.

- The officer of dept-a sees the latest run's results of dept-a only; the scores are the ones
  counted here by hand; the filters narrow the list (status) without changing the scores.
- The trend has both runs, with each run's status and score.
- The evidence is the result and the documents planted behind it, never a document of dept-b even
  though the result names its id, never a document of an index that is not an event index; a
  dept-b system answers 404 to the officer of dept-a.
- The regulator, the system and the audit administrator are refused (403).
- A run on demand (an inventory and checks of this test) gives results for the caller's systems
  and zones only, is stored as a run of its own (which hides no other department's latest
  results from an analyst), and is audited.
"""

from __future__ import annotations

import asyncio
import shutil
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from elasticsearch import Elasticsearch

from soc.compliance.engine import CHECKS_DIR
from soc.compliance.model import Evidence, Result
from soc.compliance.store import ComplianceStore
from soc.config import Settings
from soc.model import iso
from soc.store.bulk import BulkWriter
from soc.store.client import async_client
from soc.stream.index import bulk_items

from .apiseed import SOURCES, api_settings, app_client, seed, sign_in
from .conftest import drop_indices

pytestmark = pytest.mark.integration

SYSTEMS = {"A系统": "dept-a", "A办公": "dept-a", "B系统": "dept-b"}
C1, C2 = ("logs-received-24h", "8.1.4.3 a"), ("admin-mfa", "8.1.4.1 d")
# run -> (system, check) -> status
PLAN: dict[str, dict[tuple[str, str], str]] = {
    "run-1": {("A系统", C1[0]): "pass", ("A系统", C2[0]): "fail", ("A办公", C1[0]): "pass",
              ("A办公", C2[0]): "not_applicable", ("B系统", C1[0]): "fail", ("B系统", C2[0]): "fail"},
    "run-2": {("A系统", C1[0]): "pass", ("A系统", C2[0]): "pass", ("A办公", C1[0]): "fail",
              ("A办公", C2[0]): "error", ("B系统", C1[0]): "pass", ("B系统", C2[0]): "fail"},
}
A_IDS = [f"{SOURCES['dept-a']}-e0", f"{SOURCES['dept-a']}-e1"]
B_ID = f"{SOURCES['dept-b']}-e0"  # a document of dept-b, named by a dept-a result
PLANTED = "a-system-log-1"  # an event of A系统 for the run on demand to find


def results(prefix: str, now: datetime) -> list[Result]:
    out = []
    for k, (run, plan) in enumerate(PLAN.items()):
        when = iso(now - timedelta(hours=2 - k))
        for (system, check), status in plan.items():
            control = dict([C1, C2])[check]
            ev = Evidence(index=f"{prefix}-events-*", counts={"events": 3}, time_from=iso(now - timedelta(days=1)),
                          time_to=when, query={"bool": {"filter": [{"term": {"soc.asset.name": system}}]}})
            if run == "run-2" and (system, check) == ("A系统", C1[0]):
                ev.samples = [*A_IDS, B_ID, "no-such-id"]
            if run == "run-2" and (system, check) == ("A办公", C2[0]):
                ev.index, ev.samples = f"{prefix}-users", ["officer-a"]  # never read through the API
            out.append(Result(run_id=run, checked_at=when, check_id=check, title=f"检查 {check}", control=control,
                              control_text="条款原文", subject=system, subject_kind="asset", tenant=SYSTEMS[system],
                              mlps_level=3, status=status, reason=f"{status} 的原因", evidence=ev))
    # The platform's own check (no tenant) in run-2: for a caller of every tenant only.
    out.append(Result(run_id="run-2", checked_at=iso(now - timedelta(hours=1)), check_id="platform-audit",
                      title="平台审计", control="8.1.4.3 c", control_text="…", subject="安全运营子平台",
                      subject_kind="platform", status="pass", reason="ok", evidence=Evidence()))
    return out


def count(statuses: list[str]) -> dict[str, Any]:
    """A score counted here, by hand."""
    c = Counter(statuses)
    decided = c["pass"] + c["fail"]
    return {"pass": c["pass"], "fail": c["fail"], "not_applicable": c["not_applicable"], "error": c["error"],
            "score": round(100 * c["pass"] / decided, 1) if decided else None}


def write_setup(tmp: Path) -> tuple[Path, Path]:
    inventory = tmp / "assets.yaml"
    inventory.write_text(
        "assets:\n"
        "  - {name: A系统, owner: A局, tenant: dept-a, mlps_level: 3, networks: [10.1.0.0/24]}\n"
        "  - {name: A办公, owner: A局, tenant: dept-a, mlps_level: 2, networks: [10.1.1.0/24]}\n"
        "  - {name: A档案, owner: A局, tenant: dept-a, mlps_level: 1, networks: [10.1.2.0/24]}\n"
        "  - {name: B系统, owner: B局, tenant: dept-b, mlps_level: 2, networks: [10.2.0.0/24]}\n"
        "zones:\n"
        "  - {name: A区, tenant: dept-a, networks: [10.1.0.0/16]}\n"
        "  - {name: B区, tenant: dept-b, networks: [10.2.0.0/16]}\n", encoding="utf-8")
    checks = tmp / "checks"
    checks.mkdir()
    shutil.copy(CHECKS_DIR / "logs_received.yml", checks / "logs_received.yml")
    base = (CHECKS_DIR / "logs_received.yml").read_text(encoding="utf-8")
    (checks / "zone.yml").write_text(base.replace("id: logs-received-24h", "id: zone-logs-24h")
                                     .replace("scope: asset", "scope: zone"), encoding="utf-8")
    (checks / "platform.yml").write_text(base.replace("id: logs-received-24h", "id: platform-logs-24h")
                                         .replace("scope: asset", "scope: platform"), encoding="utf-8")
    return inventory, checks


def test_compliance_routes(base_settings: Settings, es: Elasticsearch, tmp_path: Path) -> None:
    inventory, checks = write_setup(tmp_path)
    s = api_settings(base_settings, tmp_path).model_copy(update={
        "assets_file": inventory, "compliance": base_settings.compliance.model_copy(update={"checks_dir": checks})})
    prefix = s.elastic.index_prefix
    now = datetime.now(UTC).replace(microsecond=0)
    written = results(prefix, now)

    async def run() -> None:
        await seed(s)
        raw = async_client(s)
        try:
            assert await ComplianceStore(raw, prefix).write(written) == len(written)
            items, _ = bulk_items("events", prefix, [orjson.dumps({
                "@timestamp": iso(now - timedelta(minutes=3)), "message": "A系统 登录成功",
                "event": {"id": PLANTED, "kind": "event", "dataset": "test.app", "original": "<14>A系统 login ok user=张三"},
                "labels": {"tenant": "dept-a"}, "soc": {"asset": {"name": "A系统"}, "source_id": "src-a"}})])
            assert (await BulkWriter(raw, "test", refresh=True).write(items)).written == 1
        finally:
            await raw.close()

        async with app_client(s) as c:
            await officer_reads(c)
            await refused(c)
            await run_on_demand(c)

    async def officer_reads(c: httpx.AsyncClient) -> None:
        await sign_in(c, "officer-a")
        r = await c.get("/api/v1/compliance")
        assert r.status_code == 200, r.text
        body = r.json()
        mine = {(x["subject"], x["check_id"]): x["status"] for x in body["results"]}
        assert mine == {k: v for k, v in PLAN["run-2"].items() if SYSTEMS[k[0]] == "dept-a"}
        assert {x["run_id"] for x in body["results"]} == {"run-2"}
        assert [(x["run_id"], x["tenant"]) for x in body["runs"]] == [("run-2", "dept-a")]
        assert "dept-b" not in r.text and "B系统" not in r.text and "安全运营子平台" not in r.text
        a2 = {k: v for k, v in PLAN["run-2"].items() if SYSTEMS[k[0]] == "dept-a"}
        assert body["scores"]["system"] == {
            "A系统": count(["pass", "pass"]), "A办公": count(["fail", "error"])}
        assert body["scores"]["system"]["A系统"]["score"] == 100.0 and body["scores"]["system"]["A办公"]["score"] == 0.0
        assert body["scores"]["tenant"] == {"dept-a": count(list(a2.values()))}
        assert body["scores"]["tenant"]["dept-a"] == {"pass": 2, "fail": 1, "not_applicable": 0, "error": 1,
                                                      "score": 66.7}
        assert body["scores"]["control"] == {
            C1[1]: count([a2[("A系统", C1[0])], a2[("A办公", C1[0])]]),
            C2[1]: count([a2[("A系统", C2[0])], a2[("A办公", C2[0])]])}
        assert body["checked_at"] == iso(now - timedelta(hours=1))

        # Filters: system and control narrow results and scores; status narrows the list only.
        r = await c.get("/api/v1/compliance", params={"system": "A系统"})
        assert {x["subject"] for x in r.json()["results"]} == {"A系统"}
        assert list(r.json()["scores"]["system"]) == ["A系统"]
        r = await c.get("/api/v1/compliance", params={"control": C2[1]})
        assert {x["check_id"] for x in r.json()["results"]} == {C2[0]}
        r = await c.get("/api/v1/compliance", params={"status": "fail"})
        assert [(x["subject"], x["check_id"]) for x in r.json()["results"]] == [("A办公", C1[0])]
        assert r.json()["scores"]["tenant"]["dept-a"]["score"] == 66.7
        assert (await c.get("/api/v1/compliance", params={"system": "B系统"})).json()["results"] == []
        assert (await c.get("/api/v1/compliance", params={"status": "maybe"})).status_code == 422

        # The trend: both runs, oldest first, with the status and score of the selection.
        r = await c.get("/api/v1/compliance/trend", params={"system": "A系统"})
        assert r.status_code == 200, r.text
        runs = r.json()["runs"]
        assert [(p["run_id"], p["status"], p["pass"], p["fail"], p["score"]) for p in runs] == [
            ("run-1", "fail", 1, 1, 50.0), ("run-2", "pass", 2, 0, 100.0)]
        assert [p["checked_at"] for p in runs] == [iso(now - timedelta(hours=2)), iso(now - timedelta(hours=1))]
        r = await c.get("/api/v1/compliance/trend", params={"system": "A办公", "check_id": C2[0]})
        assert [(p["run_id"], p["status"]) for p in r.json()["runs"]] == [("run-1", "not_applicable"),
                                                                          ("run-2", "error")]
        r = await c.get("/api/v1/compliance/trend")  # every system of the caller's
        assert [(p["pass"], p["fail"], p["not_applicable"], p["error"]) for p in r.json()["runs"]] == [
            (2, 1, 1, 0), (2, 1, 0, 1)]
        assert (await c.get("/api/v1/compliance/trend", params={"system": "B系统"})).json()["runs"] == []

        # The evidence: the result, its check, and the dept-a documents it names (never dept-b's).
        r = await c.get("/api/v1/compliance/evidence", params={"system": "A系统", "check_id": C1[0]})
        assert r.status_code == 200, r.text
        ev = r.json()
        assert ev["result"]["run_id"] == "run-2" and ev["result"]["status"] == "pass"
        assert [d["id"] for d in ev["documents"]] == A_IDS
        assert all(d["document"]["labels"]["tenant"] == "dept-a" for d in ev["documents"])
        assert "Failed password for root from " + SOURCES["dept-a"] in ev["documents"][0]["document"]["event"]["original"]
        assert ev["missing"] == [B_ID, "no-such-id"]
        assert SOURCES["dept-b"] not in "".join(orjson.dumps(d).decode() for d in ev["documents"])
        assert ev["check"]["id"] == C1[0] and ev["check"]["remediation"]
        r = await c.get("/api/v1/compliance/evidence", params={"system": "A系统", "check_id": C2[0], "run_id": "run-1"})
        assert r.json()["result"]["status"] == "fail" and r.json()["check"] is None  # a check this test never loaded
        for params in ({"system": "B系统", "check_id": C1[0]}, {"system": "A系统", "check_id": "no-such-check"}):
            r = await c.get("/api/v1/compliance/evidence", params=params)
            assert r.status_code == 404, (params, r.text)
            assert "B系统" not in r.json()["detail"]
        assert (await c.get("/api/v1/compliance/evidence", params={"system": "A系统"})).status_code == 422

        # The analyst sees both departments and the platform, and a result naming an index that
        # is not an event index gets no document from it.
        await sign_in(c, "analyst")
        body = (await c.get("/api/v1/compliance")).json()
        assert {x["subject"] for x in body["results"]} == {*SYSTEMS, "安全运营子平台"}
        assert body["scores"]["tenant"]["dept-b"] == count(["pass", "fail"])
        assert body["scores"]["tenant"]["*"] == count(["pass"])
        assert "安全运营子平台" not in body["scores"]["system"]
        r = await c.get("/api/v1/compliance/evidence", params={"system": "B系统", "check_id": C2[0]})
        assert r.status_code == 200 and r.json()["result"]["tenant"] == "dept-b"
        r = await c.get("/api/v1/compliance/evidence", params={"system": "A办公", "check_id": C2[0]})
        assert r.json()["documents"] == [] and r.json()["missing"] == ["officer-a"]
        assert "password_hash" not in r.text
        r = await c.get("/api/v1/compliance/evidence", params={"system": "A系统", "check_id": C1[0]})
        assert [d["id"] for d in r.json()["documents"]] == [*A_IDS, B_ID]  # the analyst reads every tenant

    async def refused(c: httpx.AsyncClient) -> None:
        for name in ("regulator", "sysadmin", "auditadmin"):
            csrf = await sign_in(c, name)
            for path, params in (("/api/v1/compliance", {}), ("/api/v1/compliance/trend", {}),
                                 ("/api/v1/compliance/evidence", {"system": "A系统", "check_id": C1[0]})):
                r = await c.get(path, params=params)
                assert r.status_code == 403, (name, path, r.status_code)
            assert (await c.post("/api/v1/compliance/run", headers=csrf)).status_code == 403, name
        c.cookies.clear()
        assert (await c.get("/api/v1/compliance")).status_code == 401

    async def run_on_demand(c: httpx.AsyncClient) -> None:
        csrf = await sign_in(c, "officer-a")
        assert (await c.post("/api/v1/compliance/run")).status_code == 403  # no CSRF header
        r = await c.post("/api/v1/compliance/run", headers=csrf)
        assert r.status_code == 200, r.text
        out = r.json()
        got = {(x["subject"], x["check_id"]): x["status"] for x in out["results"]}
        # Level 2-4 systems of dept-a (A档案 is level 1) and dept-a's zone; nothing of dept-b,
        # not the platform's own check.
        assert got == {("A系统", "logs-received-24h"): "pass", ("A办公", "logs-received-24h"): "fail",
                       ("A区", "zone-logs-24h"): "fail"}
        assert {x["tenant"] for x in out["results"]} == {"dept-a"} and "B系统" not in r.text and "B区" not in r.text
        assert out["run_id"] and {x["run_id"] for x in out["results"]} == {out["run_id"]}
        assert out["scores"]["system"] == {"A系统": count(["pass"]), "A办公": count(["fail"])}
        passed = next(x for x in out["results"] if x["subject"] == "A系统")
        assert passed["evidence"]["samples"] == [PLANTED]

        # Stored: the officer's latest results are this run's, its evidence the planted event.
        body = (await c.get("/api/v1/compliance")).json()
        assert {x["run_id"] for x in body["results"]} == {out["run_id"]}
        ev = (await c.get("/api/v1/compliance/evidence", params={"system": "A系统", "check_id": C1[0]})).json()
        assert ev["result"]["run_id"] == out["run_id"]
        assert [d["document"]["event"]["original"] for d in ev["documents"]] == ["<14>A系统 login ok user=张三"]
        trend = (await c.get("/api/v1/compliance/trend", params={"system": "A系统"})).json()["runs"]
        assert [p["run_id"] for p in trend] == ["run-1", "run-2", out["run_id"]]

        # The analyst still sees dept-b's latest results (run-2) beside dept-a's new run.
        csrf = await sign_in(c, "analyst")
        body = (await c.get("/api/v1/compliance")).json()
        by_subject = {x["subject"]: x["run_id"] for x in body["results"]}
        assert by_subject["B系统"] == "run-2" and by_subject["A系统"] == out["run_id"]
        assert by_subject["安全运营子平台"] == "run-2"
        # An analyst's run covers every department and the platform.
        r = await c.post("/api/v1/compliance/run", headers=csrf)
        assert {x["subject"] for x in r.json()["results"]} == {"A系统", "A办公", "B系统", "A区", "B区", "安全运营子平台"}

        # Audited, as every change.
        await sign_in(c, "auditadmin")
        trail = (await c.get("/api/v1/audit", params={"since": "now-1h"})).json()
        runs = [(a["actor"], a["outcome"]) for a in trail if a["action"] == "POST /api/v1/compliance/run"]
        assert ("officer-a", "success") in runs and ("analyst", "success") in runs
        assert ("regulator", "failure: HTTP 403") in runs

    try:
        asyncio.run(run())
    finally:
        drop_indices(es, prefix)
