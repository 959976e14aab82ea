"""The rest of the analysts' API on the real Elasticsearch: comments, bulk triage, the live alert
stream, rules (switch off and on, test, retro-hunt), playbooks, users, the audit trail and
metrics — and who may call what (roles on the server, tenants in every query)."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import orjson
import pytest
import yaml
from elasticsearch import Elasticsearch
from prometheus_client.parser import text_string_to_metric_families

from detectors.registry import RuleRegistry
from soc.api.accounts import Accounts
from soc.config import PROJECT_ROOT, Settings
from soc.store.bulk import BulkWriter
from soc.store.client import async_client
from soc.stream.index import bulk_items

from .apiseed import (PASSWORD, SOURCES, alert_ids, alert_line, api_settings, app_client, event_line, seed, serve,
                      sign_in)
from .conftest import drop_indices

pytestmark = pytest.mark.integration
BRUTE_FORCE = "0d7f3f57-2a55-4a4e-8c1e-4e2b8f0a7c12"  # rules/correlation/ssh_bruteforce.yml
SSHD_FAILED = "4c1a6b1e-6f0e-4d3e-9d8a-5a0f2b6c9e01"  # rules/linux/sshd_failed_password.yml


@pytest.fixture
def estate(base_settings: Settings, es: Elasticsearch, tmp_path: Path) -> Iterator[Settings]:
    s = api_settings(base_settings, tmp_path)
    asyncio.run(seed(s))
    yield s
    drop_indices(es, s.elastic.index_prefix)


def test_comments_bulk_roles_users_audit_metrics(estate: Settings) -> None:
    async def run() -> None:
        async with app_client(estate) as c:
            csrf = await sign_in(c, "analyst")
            ids = await alert_ids(c)
            r = await c.post(f"/api/v1/alerts/{ids['dept-a']}/comments", json={"text": "已联系网信办值班，核实中"},
                             headers=csrf)
            assert r.status_code == 201 and r.json()["author"] == "analyst"
            csrf = await sign_in(c, "officer-a")
            assert (await c.post(f"/api/v1/alerts/{ids['dept-a']}/comments", json={"text": "本单位确认：测试账户"},
                                 headers=csrf)).status_code == 201
            assert (await c.post(f"/api/v1/alerts/{ids['dept-b']}/comments", json={"text": "x"},
                                 headers=csrf)).status_code == 404
            detail = (await c.get(f"/api/v1/alerts/{ids['dept-a']}")).json()
            assert [(x["author"], x["text"]) for x in detail["comments"]] == [
                ("analyst", "已联系网信办值班，核实中"), ("officer-a", "本单位确认：测试账户")]
            assert (await c.get(f"/api/v1/alerts/{ids['dept-b']}/comments")).status_code == 404

            # Bulk: each alert checked as if alone; one unknown id fails without stopping the rest.
            csrf = await sign_in(c, "analyst")
            r = await c.post("/api/v1/alerts/bulk", headers=csrf, json={
                "ids": [ids["dept-a"], ids["dept-b"], "no-such-alert"], "action": "status", "status": "in_progress"})
            assert r.status_code == 200
            assert sorted(r.json()["updated"]) == sorted([ids["dept-a"], ids["dept-b"]])
            assert [f["id"] for f in r.json()["failed"]] == ["no-such-alert"]
            assert (await c.post("/api/v1/alerts/bulk", headers=csrf, json={
                "ids": [ids["dept-a"]], "action": "status", "status": "resolved"})).status_code == 422
            r = await c.post("/api/v1/alerts/bulk", headers=csrf, json={
                "ids": list(ids.values()), "action": "assign", "assignee": "lisi"})
            assert len(r.json()["updated"]) == 2
            queue = (await c.get("/api/v1/alerts")).json()["alerts"]
            assert {(a["soc"]["alert"]["status"], a["soc"]["alert"]["assignee"]) for a in queue} == {("in_progress", "lisi")}

            # Filters: a tenant narrows the analyst's queue; it never widens an officer's.
            only_b = (await c.get("/api/v1/alerts", params={"tenant": "dept-b", "sort": "rule"})).json()
            assert [a["labels"]["tenant"] for a in only_b["alerts"]] == ["dept-b"]
            by_src = (await c.get("/api/v1/alerts", params={"source_ip": SOURCES["dept-a"]})).json()["alerts"]
            assert [a["labels"]["tenant"] for a in by_src] == ["dept-a"]
            assert (await c.get("/api/v1/alerts", params={"source_ip": "not-an-ip"})).status_code == 422
            await sign_in(c, "officer-a")
            assert (await c.get("/api/v1/alerts", params={"tenant": "dept-b"})).json()["total"] == 0

            # Who may call what: the server refuses, whatever the UI shows.
            refusals = {
                "sysadmin": [("GET", "/api/v1/alerts"), ("GET", "/api/v1/audit"), ("GET", "/api/v1/incidents")],
                "auditadmin": [("GET", "/api/v1/alerts"), ("GET", "/api/v1/users"), ("GET", "/api/v1/rules"),
                               ("GET", "/api/v1/blocks"), ("GET", "/metrics")],
                "regulator": [("GET", "/api/v1/alerts"), ("GET", "/api/v1/rules"), ("GET", "/api/v1/playbooks"),
                              ("GET", "/api/v1/audit"), ("GET", "/api/v1/users")],
                "officer-a": [("POST", f"/api/v1/rules/{SSHD_FAILED}/disable"), ("POST", "/api/v1/alerts/bulk"),
                              ("GET", "/api/v1/users"), ("GET", "/api/v1/audit"), ("GET", "/metrics")],
            }
            for name, calls in refusals.items():
                csrf = await sign_in(c, name)
                for method, path in calls:
                    r = await c.request(method, path, headers=csrf, json={} if method == "POST" else None)
                    assert r.status_code == 403, (name, method, path, r.status_code)

            # Users: the system administrator manages accounts; one person is never also the auditor.
            csrf = await sign_in(c, "sysadmin")
            assert (await c.post("/api/v1/users", headers=csrf, json={
                "name": "both", "password": PASSWORD, "roles": ["sysadmin", "auditadmin"]})).status_code == 422
            assert (await c.post("/api/v1/users", headers=csrf, json={
                "name": "wangwu", "password": PASSWORD, "roles": ["analyst"], "tenants": ["dept-a"]})).status_code == 201
            listed = {u["name"]: u for u in (await c.get("/api/v1/users")).json()}
            assert listed["wangwu"]["tenants"] == ["dept-a"] and "password_hash" not in listed["wangwu"]
            assert (await c.post("/api/v1/users/sysadmin/disable", headers=csrf, json={})).status_code == 409
            await sign_in(c, "wangwu")
            csrf = await sign_in(c, "sysadmin")
            assert (await c.post("/api/v1/users/wangwu/disable", headers=csrf, json={})).status_code == 200
            c.cookies.clear()
            assert (await c.post("/api/v1/auth/login", json={"username": "wangwu", "password": PASSWORD})).status_code == 401

            # Metrics in the Prometheus text format, the same counters as every stage.
            await sign_in(c, "sysadmin")
            text = (await c.get("/metrics")).text
            families = {f.name: f for f in text_string_to_metric_families(text)}
            received = [s.value for s in families["soc_received"].samples
                        if s.name == "soc_received_total" and s.labels.get("stage") == "api"]
            assert received and received[0] > 10

            # The audit administrator reads the trail: sign-ins (failed too) and changes, chain intact.
            await sign_in(c, "auditadmin")
            trail = (await c.get("/api/v1/audit", params={"size": 1000})).json()
            actions = {(t["actor"], t["action"], t["outcome"].split(":")[0]) for t in trail}
            assert ("wangwu", "sign_in", "failure") in actions
            assert ("analyst", "POST /api/v1/alerts/bulk", "success") in actions
            assert ("officer-a", f"POST /api/v1/rules/{SSHD_FAILED}/disable", "failure") in actions
            assert ("sysadmin", "POST /api/v1/users", "success") in actions
            verified = (await c.get("/api/v1/audit/verify")).json()
            assert verified["ok"] and verified["records"] == len(trail)

    asyncio.run(run())


def test_playbooks_and_runs_by_tenant(estate: Settings) -> None:
    async def run() -> None:
        raw = async_client(estate)
        try:
            actions = [orjson.dumps({"@timestamp": "2026-12-07T01:00:00Z", "labels": {"tenant": t}, "event": {
                "kind": "event", "dataset": "soc.actions", "id": f"act-{t}"}, "soc": {"action": {
                    "id": f"act-{t}", "playbook": "block_ssh_bruteforce", "kind": "block_ip", "target": ip,
                    "state": "applied", "decided_by": "playbook"}}}) for t, ip in SOURCES.items()]
            items, dead = bulk_items("actions", estate.elastic.index_prefix, actions)
            assert not dead
            await BulkWriter(raw, "test", refresh=True).write(items)
        finally:
            await raw.close()
        async with app_client(estate) as c:
            await sign_in(c, "analyst")
            books = (await c.get("/api/v1/playbooks")).json()
            shipped = [p.stem for p in (PROJECT_ROOT / "playbooks").glob("*.yml")]
            assert sorted(b["source"].rsplit("/", 1)[-1].removesuffix(".yml") for b in books["playbooks"]) == sorted(shipped)
            assert not books["problems"]
            runs = (await c.get("/api/v1/playbooks/runs", params={"since": "now-30d"})).json()
            assert sorted(r["soc"]["action"]["target"] for r in runs) == sorted(SOURCES.values())
            await sign_in(c, "officer-a")
            runs = (await c.get("/api/v1/playbooks/runs", params={"since": "now-30d"})).json()
            assert [r["soc"]["action"]["target"] for r in runs] == [SOURCES["dept-a"]]

    asyncio.run(run())


SSHD_RULE = (PROJECT_ROOT / "rules/linux/sshd_failed_password.yml").read_text(encoding="utf-8")
BRUTE_RULE = (PROJECT_ROOT / "rules/correlation/ssh_bruteforce.yml").read_text(encoding="utf-8")


def test_rules_switch_test_and_hunt(estate: Settings) -> None:
    state = Path(estate.worker.rules_state_file)

    async def run() -> None:
        raw = async_client(estate)
        try:
            await Accounts(raw, estate.elastic.index_prefix, estate.api).put_user(
                "analyst-a", PASSWORD, ["analyst"], ["dept-a"])
        finally:
            await raw.close()
        async with app_client(estate) as c:
            csrf = await sign_in(c, "analyst")
            rules = {r["id"]: r for r in (await c.get("/api/v1/rules")).json()}
            assert rules[BRUTE_FORCE]["kind"] == "correlation" and rules[SSHD_FAILED]["kind"] == "single"
            assert all(r["enabled"] for r in rules.values())

            # Off: the state file the workers read says so, and a worker's registry leaves it out.
            r = await c.post(f"/api/v1/rules/{BRUTE_FORCE}/disable", headers=csrf)
            assert r.status_code == 200 and r.json()["enabled"] is False
            assert yaml.safe_load(state.read_text(encoding="utf-8"))["disabled"] == [BRUTE_FORCE]
            worker_rules = RuleRegistry(estate.worker.rules_dirs, state_file=state)
            assert BRUTE_FORCE not in {x.meta.id for x in worker_rules.ruleset.correlations}
            listed = {x["id"]: x["enabled"] for x in (await c.get("/api/v1/rules")).json()}
            assert listed[BRUTE_FORCE] is False and listed[SSHD_FAILED] is True
            assert (await c.post(f"/api/v1/rules/{BRUTE_FORCE}/enable", headers=csrf)).json()["enabled"] is True
            worker_rules.maybe_reload()
            assert BRUTE_FORCE in {x.meta.id for x in worker_rules.ruleset.correlations}
            assert (await c.post("/api/v1/rules/not-a-rule/disable", headers=csrf)).status_code == 404

            # Test a rule: the stream's own evaluation of the events given.
            events = [orjson.loads(event_line("dept-a", "203.0.113.99", k)) for k in range(5)]
            accepted = dict(events[0], event={**events[0]["event"], "outcome": "success", "id": "ok-1"})
            r = await c.post("/api/v1/rules/test", headers=csrf, json={"rule": SSHD_RULE, "events": [accepted, events[0]]})
            assert r.status_code == 200 and r.json()["matches"] == [1]
            r = await c.post("/api/v1/rules/test", headers=csrf,
                             json={"rule": SSHD_RULE + "\n---\n" + BRUTE_RULE, "events": events})
            corr = [h for h in r.json()["hits"] if h["rule_id"] == BRUTE_FORCE]
            assert len(corr) == 1 and corr[0]["count"] == 5 and corr[0]["events"] == [0, 1, 2, 3, 4]
            r = await c.post("/api/v1/rules/test", headers=csrf, json={"rule": SSHD_RULE[:200] + "\n  : [", "events": events})
            assert r.status_code == 422

            # Retro-hunt over the seeded events: one brute force per tenant, within the caller's tenants.
            r = await c.post(f"/api/v1/rules/{BRUTE_FORCE}/hunt", headers=csrf, json={"since": "1h"})
            assert r.status_code == 200 and r.json()["error"] is None
            assert sorted(h["group"]["source.ip"] for h in r.json()["hits"]) == sorted(SOURCES.values())
            csrf = await sign_in(c, "analyst-a")
            r = await c.post(f"/api/v1/rules/{BRUTE_FORCE}/hunt", headers=csrf, json={"since": "1h"})
            assert [h["group"]["source.ip"] for h in r.json()["hits"]] == [SOURCES["dept-a"]]

    asyncio.run(run())


def test_live_alert_stream_is_tenant_scoped(estate: Settings) -> None:
    """Server-Sent Events over a real HTTP server: a new alert reaches the analyst and the
    officer of its tenant, and never the officer of another."""
    with serve(estate) as base:
        got: dict[str, list[dict[str, object]]] = {}
        opened = threading.Barrier(3)

        def listen(name: str, want: int) -> None:
            with httpx.Client(base_url=base, timeout=30) as c:
                assert c.post("/api/v1/auth/login", json={"username": name, "password": PASSWORD}).status_code == 200
                with c.stream("GET", "/api/v1/alerts/stream") as r:
                    assert r.headers["content-type"].startswith("text/event-stream")
                    opened.wait()
                    got[name] = []
                    for line in r.iter_lines():
                        if line.startswith("data: "):
                            got[name].append(orjson.loads(line[6:]))
                            if len(got[name]) == want:
                                return

        listeners = [threading.Thread(target=listen, args=a, daemon=True) for a in (("analyst", 2), ("officer-b", 1))]
        for t in listeners:
            t.start()
        opened.wait()
        time.sleep(1.5)  # the stream's cursor starts at its first poll; write after it

        async def write() -> None:
            raw = async_client(estate)
            try:
                for line in (alert_line("dept-a", "203.0.113.77", minutes_ago=0),
                             alert_line("dept-b", "198.51.100.77", minutes_ago=0)):
                    items, _ = bulk_items("alerts", estate.elastic.index_prefix, [line])
                    await BulkWriter(raw, "test", refresh=True).write(items)
            finally:
                await raw.close()

        asyncio.run(write())
        for t in listeners:
            t.join(timeout=30)
        assert sorted(a["source"]["ip"] for a in got["analyst"]) == ["198.51.100.77", "203.0.113.77"]  # type: ignore[index]
        assert [a["source"]["ip"] for a in got["officer-b"]] == ["198.51.100.77"]  # type: ignore[index]
