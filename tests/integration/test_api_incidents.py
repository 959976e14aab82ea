"""Incidents and assets through the API on the real Elasticsearch.

An analyst opens an incident from two alerts of one tenant, adds notes and moves it (closing
needs a reason, a move the status does not allow is 409); the timeline keeps every entry in
order with its actor. Another tenant's officer gets 404 and does not see it listed; alerts of two
tenants make no incident; a regulator sees it only once it is reported, and may change nothing.
An incident a playbook opened (open_or_update, one per attacker) is listed too. Updates racing on one incident all
land or lose with 409, never silently. The asset inventory is scoped to the caller's tenants.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from elasticsearch import Elasticsearch

from soc.api.accounts import Accounts
from soc.api.main import create_app
from soc.api.security import CSRF_COOKIE, CSRF_HEADER
from soc.config import Settings
from soc.model import Alert
from soc.reporting.incidents import IncidentStore, NotFound
from soc.store.bulk import BulkWriter
from soc.store.client import async_client
from soc.store.setup import ensure_templates
from soc.stream.index import bulk_items

from .conftest import drop_indices

pytestmark = pytest.mark.integration
PASSWORD = "正确的口令-Correct-Horse-2"
USERS = {  # name: (roles, tenants)
    "analyst": (["analyst"], ["*"]),
    "analyst2": (["analyst"], ["*"]),
    "analyst-a": (["analyst"], ["dept-a"]),
    "officer-a": (["officer"], ["dept-a"]),
    "officer-b": (["officer"], ["dept-b"]),
    "regulator": (["regulator"], ["dept-a"]),
    "sysadmin": (["sysadmin"], ["*"]),
    "auditadmin": (["auditadmin"], ["*"]),
}
ASSETS = """
internal_networks: [10.0.0.0/8]
assets:
  - {name: 政务服务网, owner: 市政务服务管理局, tenant: dept-a, mlps_level: 3, criticality: critical, cii: true,
     networks: [10.10.0.0/24], hosts: [gov-web-01]}
  - {name: A办公自动化系统, owner: A办, tenant: dept-a, mlps_level: 2, networks: [10.60.0.0/16]}
  - {name: 一网通办数据库, owner: 市大数据局, tenant: dept-b, mlps_level: 3, criticality: high}
  - {name: 公共门户, owner: 市信息中心, mlps_level: 2}
"""


def alert_doc(tenant: str, src: str, rule: str = "r-brute") -> dict[str, Any]:
    now = datetime.now(UTC) - timedelta(minutes=5)
    return Alert(rule_id=rule, rule_name="SSH 暴力破解", level="high", group_key=f"{rule}|source.ip={src}",
                 first_seen=now, last_seen=now, event_ids=[f"{src}-e0"], count=1,
                 context={"source": {"ip": src}, "labels": {"tenant": tenant}}, window_start_id=f"{src}-e0").to_doc()


def settings_for(base: Settings, prefix: str, assets_file: Path | None) -> Settings:
    return base.model_copy(update={"elastic": base.elastic.model_copy(update={"index_prefix": prefix}),
                                   "assets_file": assets_file})


async def seed(s: Settings, alerts: list[dict[str, Any]]) -> None:
    await ensure_templates(s)
    raw = async_client(s)
    try:
        if alerts:
            items, dead = bulk_items("alerts", s.elastic.index_prefix, [orjson.dumps(a) for a in alerts])
            assert not dead and (await BulkWriter(raw, "test", refresh=True).write(items)).written == len(items)
        acc = Accounts(raw, s.elastic.index_prefix, s.api)
        for name, (roles, tenants) in USERS.items():
            await acc.put_user(name, PASSWORD, roles, tenants)
    finally:
        await raw.close()


async def login(c: httpx.AsyncClient, name: str) -> dict[str, str]:
    """Sign in as name (signing out whoever was): the CSRF header for that session."""
    c.cookies.clear()
    r = await c.post("/api/v1/auth/login", json={"username": name, "password": PASSWORD})
    assert r.status_code == 200, r.text
    return {CSRF_HEADER: c.cookies[CSRF_COOKIE]}


def test_incident_lifecycle_tenants_regulator_and_races(base_settings: Settings, es: Elasticsearch) -> None:
    prefix = f"api{uuid.uuid4().hex[:8]}"
    s = settings_for(base_settings, prefix, None)
    a1, a2, b1 = alert_doc("dept-a", "203.0.113.1"), alert_doc("dept-a", "203.0.113.9"), alert_doc("dept-b", "198.51.100.2")
    ida1, ida2, idb1 = (a["soc"]["alert"]["id"] for a in (a1, a2, b1))

    async def run() -> None:
        await seed(s, [a1, a2, b1])
        app = create_app(s)
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://soc") as c, \
                    httpx.AsyncClient(transport=transport, base_url="http://soc") as c2:
                assert (await c.get("/api/v1/incidents")).status_code == 401
                csrf = await login(c, "analyst")
                assert (await c.get("/api/v1/incidents")).json() == []  # no index yet: an empty list

                # Alerts of two tenants make no incident; nor do unknown alerts.
                r = await c.post("/api/v1/incidents", headers=csrf,
                                 json={"title": "跨租户", "alert_ids": [ida1, idb1], "summary": ""})
                assert r.status_code == 422 and "several tenants" in r.json()["detail"][0]["msg"], r.text
                r = await c.post("/api/v1/incidents", headers=csrf, json={"title": "x", "alert_ids": ["nope"]})
                assert r.status_code == 404
                assert (await c.post("/api/v1/incidents", headers=csrf,
                                     json={"title": "x", "alert_ids": []})).status_code == 422

                r = await c.post("/api/v1/incidents", headers=csrf, json={
                    "title": "政务服务网 SSH 暴力破解", "summary": "两个来源对同一系统爆破", "alert_ids": [ida1, ida2, ida1]})
                assert r.status_code == 201, r.text
                inc = r.json()
                iid = inc["id"]
                assert (inc["tenant"], inc["status"], inc["reported"], inc["opened_by"]) == ("dept-a", "open", False, "analyst")
                assert inc["alert_ids"] == [ida1, ida2] and set(inc["source_ips"]) == {"203.0.113.1", "203.0.113.9"}

                r = await c.post(f"/api/v1/incidents/{iid}/notes", headers=csrf, json={"text": "已通知责任单位"})
                assert r.status_code == 200 and r.json()["kind"] == "note" and r.json()["actor"] == "analyst"
                assert (await c.post(f"/api/v1/incidents/{iid}/notes", headers=csrf, json={"text": "  "})).status_code == 422
                r = await c.post(f"/api/v1/incidents/{iid}/status", headers=csrf, json={"status": "contained"})
                assert r.status_code == 200 and r.json()["status"] == "contained", r.text
                r = await c.post(f"/api/v1/incidents/{iid}/status", headers=csrf, json={"status": "closed"})
                assert r.status_code == 422  # closing needs a reason
                r = await c.post(f"/api/v1/incidents/{iid}/status", headers=csrf, json={"status": "contained"})
                assert r.status_code == 409  # contained → contained is no move

                csrf2 = await login(c2, "analyst2")
                r = await c2.post(f"/api/v1/incidents/{iid}/notes", headers=csrf2, json={"text": "来源已封禁 24 小时"})
                assert r.status_code == 200 and r.json()["actor"] == "analyst2"
                r = await c2.post(f"/api/v1/incidents/{iid}/status", headers=csrf2,
                                  json={"status": "closed", "reason": "来源已封禁，未发现成功登录"})
                assert r.status_code == 200 and r.json()["status"] == "closed" and r.json()["closed"]
                assert r.json()["status_reason"] == "来源已封禁，未发现成功登录"
                r = await c.post(f"/api/v1/incidents/{iid}/status", headers=csrf, json={"status": "contained"})
                assert r.status_code == 409  # closed → contained: reopen first
                r = await c.post(f"/api/v1/incidents/{iid}/status", headers=csrf, json={"status": "open", "reason": "复发"})
                assert r.status_code == 200 and r.json()["status"] == "open" and r.json()["closed"] is None

                detail = (await c.get(f"/api/v1/incidents/{iid}")).json()
                assert {a["soc"]["alert"]["id"] for a in detail["alerts"]} == {ida1, ida2}
                got = [(e["kind"], e["actor"]) for e in detail["timeline"]]
                assert got == [("created", "analyst"), ("alert_added", "analyst"), ("alert_added", "analyst"),
                               ("note", "analyst"), ("status_change", "analyst"), ("note", "analyst2"),
                               ("status_change", "analyst2"), ("status_change", "analyst")], got
                texts = [e["text"] for e in detail["timeline"]]
                assert texts[3] == "已通知责任单位" and texts[4] == "open → contained"
                assert texts[6] == "contained → closed: 来源已封禁，未发现成功登录" and texts[7] == "closed → open: 复发"
                times = [e["time"] for e in detail["timeline"]]
                assert times == sorted(times)
                # An owner: handed to analyst2, in the timeline.
                r = await c.post(f"/api/v1/incidents/{iid}/assign", headers=csrf, json={"owner": "analyst2"})
                assert r.status_code == 200 and r.json()["owner"] == "analyst2"
                last = (await c.get(f"/api/v1/incidents/{iid}")).json()["timeline"][-1]
                assert (last["kind"], last["actor"], last["text"]) == ("owner", "analyst", "— → analyst2")
                assert (await c.post(f"/api/v1/incidents/{iid}/assign", headers=csrf, json={"owner": ""})).status_code == 422
                assert [i["id"] for i in (await c.get("/api/v1/incidents", params={"status": "open"})).json()] == [iid]
                assert (await c.get("/api/v1/incidents", params={"status": "closed"})).json() == []
                assert (await c.get("/api/v1/incidents", params={"status": "bogus"})).status_code == 422

                # An analyst of dept-a cannot open one from dept-b's alert: it is absent for them.
                csrf_a = await login(c2, "analyst-a")
                r = await c2.post("/api/v1/incidents", headers=csrf_a, json={"title": "x", "alert_ids": [ida1, idb1]})
                assert r.status_code == 404 and idb1 in r.json()["detail"]

                # Two analysts writing at once: every note lands; of two identical moves one wins, one is 409.
                csrf2 = await login(c2, "analyst2")
                for k in range(4):
                    rs = await asyncio.gather(
                        c.post(f"/api/v1/incidents/{iid}/notes", headers=csrf, json={"text": f"甲 {k}"}),
                        c2.post(f"/api/v1/incidents/{iid}/notes", headers=csrf2, json={"text": f"乙 {k}"}))
                    assert [r.status_code for r in rs] == [200, 200], [r.text for r in rs]
                rs = await asyncio.gather(
                    c.post(f"/api/v1/incidents/{iid}/status", headers=csrf, json={"status": "contained"}),
                    c2.post(f"/api/v1/incidents/{iid}/status", headers=csrf2, json={"status": "contained"}))
                assert sorted(r.status_code for r in rs) == [200, 409], [r.text for r in rs]
                rs = await asyncio.gather(
                    c.post(f"/api/v1/incidents/{iid}/notes", headers=csrf, json={"text": "甲 收尾"}),
                    c2.post(f"/api/v1/incidents/{iid}/status", headers=csrf2, json={"status": "closed", "reason": "处置完毕"}))
                assert [r.status_code for r in rs] == [200, 200], [r.text for r in rs]
                detail = (await c.get(f"/api/v1/incidents/{iid}")).json()
                notes = [e["text"] for e in detail["timeline"] if e["kind"] == "note"]
                assert sorted(notes[2:]) == sorted([f"甲 {k}" for k in range(4)] + [f"乙 {k}" for k in range(4)] + ["甲 收尾"])
                assert detail["incident"]["status"] == "closed"
                assert [e["text"] for e in detail["timeline"] if e["kind"] == "status_change"][-2:] == [
                    "open → contained", "contained → closed: 处置完毕"]

                # A playbook's incident (dept-b) is listed beside the analyst's.
                raw = async_client(s)
                try:
                    pid, created = await IncidentStore(raw, prefix).open_or_update(b1, "暴力破解", "playbook:brute")
                    assert created
                finally:
                    await raw.close()
                csrf = await login(c, "analyst")
                listed = {i["id"]: i for i in (await c.get("/api/v1/incidents")).json()}
                assert set(listed) == {iid, pid}
                assert (listed[pid]["tenant"], listed[pid]["opened_by"], listed[pid]["alert_ids"]) == (
                    "dept-b", "playbook:brute", [idb1])
                detail = (await c.get(f"/api/v1/incidents/{pid}")).json()
                assert [(e["kind"], e["actor"]) for e in detail["timeline"]] == [
                    ("created", "playbook:brute"), ("alert_added", "playbook:brute")]

                # Tenants: dept-b's officer neither reads nor lists dept-a's incident; dept-a's the reverse.
                await login(c, "officer-b")
                assert (await c.get(f"/api/v1/incidents/{iid}")).status_code == 404
                assert (await c.get("/api/v1/incidents/no-such-id")).status_code == 404
                assert [i["id"] for i in (await c.get("/api/v1/incidents")).json()] == [pid]
                assert (await c.get(f"/api/v1/incidents/{pid}")).status_code == 200
                csrf = await login(c, "officer-a")
                assert [i["id"] for i in (await c.get("/api/v1/incidents")).json()] == [iid]
                assert (await c.get(f"/api/v1/incidents/{pid}")).status_code == 404
                assert (await c.post(f"/api/v1/incidents/{iid}/notes", headers=csrf, json={"text": "x"})).status_code == 403

                # The regulator (dept-a) sees nothing until the incident is reported upstream.
                csrf = await login(c, "regulator")
                assert (await c.get("/api/v1/incidents")).json() == []
                assert (await c.get(f"/api/v1/incidents/{iid}")).status_code == 404
                raw = async_client(s)
                try:  # as the reporting issue will, when the notice is sent
                    for i in (iid, pid):
                        await raw.update(index=f"{prefix}-incidents", id=i, refresh=True,
                                         doc={"soc": {"incident": {"reported": True}}})
                finally:
                    await raw.close()
                listed = (await c.get("/api/v1/incidents")).json()
                assert [i["id"] for i in listed] == [iid] and listed[0]["reported"] is True  # pid is dept-b's
                r = await c.get(f"/api/v1/incidents/{iid}")
                assert r.status_code == 200 and r.json()["incident"]["reported"] is True
                # ...but not the SOC's raw alerts nor its analysts' working notes.
                assert r.json()["alerts"] == [] and r.json()["timeline"]
                assert not [e for e in r.json()["timeline"] if e["kind"] == "note"]
                assert (await c.get(f"/api/v1/incidents/{pid}")).status_code == 404
                for path, body in (("/api/v1/incidents", {"title": "x", "alert_ids": [ida1]}),
                                   (f"/api/v1/incidents/{iid}/notes", {"text": "x"}),
                                   (f"/api/v1/incidents/{iid}/status", {"status": "open"})):
                    assert (await c.post(path, headers=csrf, json=body)).status_code == 403, path
                assert (await c.get("/api/v1/alerts")).status_code == 403
                assert (await c.get(f"/api/v1/alerts/{ida1}")).status_code == 403

                # The OpenAPI document describes the routes with their models.
                spec = (await c.get("/api/v1/openapi.json")).json()
                assert {"/api/v1/incidents", "/api/v1/incidents/{incident_id}", "/api/v1/incidents/{incident_id}/notes",
                        "/api/v1/incidents/{incident_id}/status", "/api/v1/assets"} <= set(spec["paths"])
                out = spec["components"]["schemas"]["IncidentOut"]["properties"]
                assert {"type": "null"} in out["closed"]["anyOf"] and out["reported"]["type"] == "boolean"

    try:
        asyncio.run(run())
    finally:
        drop_indices(es, prefix)


def test_a_playbook_opens_one_incident_per_attacker(base_settings: Settings, es: Elasticsearch) -> None:
    """The IDS's brute-force alert and the correlation rule's over the same logins are one attack:
    one incident (and so one initial notice upstream), whichever rule alerts first. Another
    attacker, or the same attacker in another tenant, is another incident; alerts without a source
    address keep one incident per rule group."""
    prefix = f"api{uuid.uuid4().hex[:8]}"
    s = settings_for(base_settings, prefix, None)
    ids_alert = alert_doc("dept-a", "203.0.113.45", rule="r-ids-brute")
    brute = alert_doc("dept-a", "203.0.113.45", rule="r-ssh-brute")
    other = alert_doc("dept-a", "198.51.100.7", rule="r-ssh-brute")
    elsewhere = alert_doc("dept-b", "203.0.113.45", rule="r-ssh-brute")
    hostless = [alert_doc("dept-a", "", rule=r) for r in ("r-malware", "r-audit-off")]
    for doc in hostless:
        del doc["source"]

    async def run() -> None:
        await seed(s, [])
        raw = async_client(s)
        try:
            store = IncidentStore(raw, prefix)
            # Both rules' alerts at once, as one batch's playbooks run.
            (first, made1), (second, made2) = await asyncio.gather(
                store.open_or_update(ids_alert, "IDS 暴力破解", "playbook:brute"),
                store.open_or_update(brute, "SSH 暴力破解", "playbook:brute"))
            assert first == second and sorted([made1, made2]) == [False, True]
            inc = (await store.get(first, ["dept-a"]))["soc"]["incident"]
            assert sorted(inc["alert_ids"]) == sorted([ids_alert["soc"]["alert"]["id"], brute["soc"]["alert"]["id"]])
            assert sorted(inc["rule_names"]) == ["SSH 暴力破解"] and inc["source_ips"] == ["203.0.113.45"]
            others = [await store.open_or_update(d, "x", "playbook:brute") for d in (other, elsewhere, *hostless)]
            assert all(created for _, created in others)
            assert len({first, *(iid for iid, _ in others)}) == 5
        finally:
            await raw.close()

    try:
        asyncio.run(run())
    finally:
        drop_indices(es, prefix)


def test_concurrent_writers_never_lose_an_update(base_settings: Settings, es: Elasticsearch) -> None:
    """Notes, status moves and a playbook adding alerts, all at once on one incident."""
    prefix = f"api{uuid.uuid4().hex[:8]}"
    s = settings_for(base_settings, prefix, None)
    first = alert_doc("dept-a", "203.0.113.50")

    async def run() -> None:
        await seed(s, [first])
        raw = async_client(s)
        try:
            store = IncidentStore(raw, prefix)
            inc = await store.create("并发", "", [first["soc"]["alert"]["id"]], "analyst", ["*"])
            iid = inc["soc"]["incident"]["id"]
            pid, _ = await store.open_or_update(first, "playbook", "playbook:pb")
            extra = []
            for k in range(6):
                doc = alert_doc("dept-a", "203.0.113.50")
                doc["soc"]["alert"]["id"] = f"late-{k}"
                extra.append(doc)
            results = await asyncio.gather(
                *(store.add_note(iid, f"note {k}", f"analyst{k % 3}", ["dept-a"]) for k in range(12)),
                store.set_status(iid, "contained", "", "analyst", ["*"]),
                *(store.add_note(pid, f"pb note {k}", "analyst", ["*"]) for k in range(4)),
                *(store.open_or_update(doc, "playbook", "playbook:pb") for doc in extra),
                return_exceptions=True)
            assert not [r for r in results if isinstance(r, BaseException)], results
            tl = (await store.get(iid, ["*"]))["soc"]["incident"]
            assert sorted(e["text"] for e in tl["timeline"] if e["kind"] == "note") == sorted(f"note {k}" for k in range(12))
            assert tl["status"] == "contained"
            pb = (await store.get(pid, ["dept-a"]))["soc"]["incident"]
            assert sorted(pb["alert_ids"]) == sorted([first["soc"]["alert"]["id"]] + [f"late-{k}" for k in range(6)])
            assert sorted(e["text"] for e in pb["timeline"] if e["kind"] == "note") == [f"pb note {k}" for k in range(4)]
            assert len([e for e in pb["timeline"] if e["kind"] == "alert_added"]) == 7
            # Another tenant's caller: absent.
            with pytest.raises(NotFound):
                await store.add_note(iid, "x", "officer-b", ["dept-b"])
        finally:
            await raw.close()

    try:
        asyncio.run(run())
    finally:
        drop_indices(es, prefix)


def test_assets_scoped_to_tenants(base_settings: Settings, es: Elasticsearch, tmp_path: Path) -> None:
    prefix = f"api{uuid.uuid4().hex[:8]}"
    inventory = tmp_path / "assets.yaml"
    inventory.write_text(ASSETS, encoding="utf-8")
    s = settings_for(base_settings, prefix, inventory)

    async def run() -> None:
        await seed(s, [])
        app = create_app(s)
        async with app.router.lifespan_context(app):
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://soc") as c:
                assert (await c.get("/api/v1/assets")).status_code == 401
                await login(c, "officer-a")
                mine = (await c.get("/api/v1/assets")).json()
                assert {a["name"] for a in mine} == {"政务服务网", "A办公自动化系统"}
                web = next(a for a in mine if a["name"] == "政务服务网")
                assert web == {"name": "政务服务网", "owner": "市政务服务管理局", "tenant": "dept-a", "mlps_level": 3,
                               "criticality": "critical", "cii": True, "networks": ["10.10.0.0/24"], "hosts": ["gov-web-01"]}
                assert [a["name"] for a in (await c.get("/api/v1/assets", params={"mlps_level": 3})).json()] == ["政务服务网"]
                assert [a["name"] for a in (await c.get("/api/v1/assets", params={"q": "办公"})).json()] == ["A办公自动化系统"]
                assert (await c.get("/api/v1/assets", params={"q": "数据库"})).json() == []  # dept-b's
                assert (await c.get("/api/v1/assets", params={"mlps_level": 5})).status_code == 422
                await login(c, "sysadmin")
                assert len((await c.get("/api/v1/assets")).json()) == 4
                await login(c, "analyst-a")
                assert len((await c.get("/api/v1/assets")).json()) == 2
                for name in ("regulator", "auditadmin"):
                    await login(c, name)
                    assert (await c.get("/api/v1/assets")).status_code == 403, name

        bare = create_app(settings_for(base_settings, prefix, None))  # no inventory configured
        async with bare.router.lifespan_context(bare):
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=bare), base_url="http://soc") as c:
                await login(c, "sysadmin")
                r = await c.get("/api/v1/assets")
                assert r.status_code == 200 and r.json() == []

    try:
        asyncio.run(run())
    finally:
        drop_indices(es, prefix)
