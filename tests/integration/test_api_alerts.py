"""Alerts through the API on the real Elasticsearch: the triage queue and detail are scoped to the
caller's tenants on every route and query string; an analyst assigns and resolves (with a
reason), and a later revision of the alert keeps it."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import httpx
import orjson
import pytest
from elasticsearch import Elasticsearch

from soc.api.accounts import Accounts
from soc.api.main import create_app
from soc.api.security import CSRF_COOKIE, CSRF_HEADER
from soc.config import Settings
from soc.model import Alert
from soc.store.bulk import BulkWriter
from soc.store.client import async_client
from soc.store.setup import ensure_templates
from soc.stream.index import bulk_items

from .conftest import drop_indices

pytestmark = pytest.mark.integration
PASSWORD = "正确的口令-Correct-Horse-2"


def alert(tenant: str, src: str, count: int = 5) -> bytes:
    now = datetime.now(UTC) - timedelta(minutes=5)
    doc = Alert(rule_id="r-brute", rule_name="SSH 暴力破解", level="high", group_key=f"g|{src}", first_seen=now,
                last_seen=now, event_ids=[f"{src}-e{k}" for k in range(count)], count=count,
                context={"source": {"ip": src}, "labels": {"tenant": tenant}}, window_start_id=f"{src}-e0").to_doc()
    return orjson.dumps(doc)


def event(tenant: str, src: str, k: int) -> bytes:
    return orjson.dumps({"@timestamp": (datetime.now(UTC) - timedelta(minutes=5)).isoformat(),
                         "event": {"id": f"{src}-e{k}", "dataset": "linux.auth"}, "source": {"ip": src},
                         "labels": {"tenant": tenant}, "soc": {"received": datetime.now(UTC).isoformat()},
                         "message": f"Failed password for root from {src}"})


def test_tenant_isolation_and_triage(base_settings: Settings, es: Elasticsearch) -> None:
    prefix = f"apa{uuid.uuid4().hex[:8]}"
    s = base_settings.model_copy(update={"elastic": base_settings.elastic.model_copy(update={"index_prefix": prefix})})

    async def run() -> None:
        await ensure_templates(s)
        raw = async_client(s)
        try:
            writer = BulkWriter(raw, "test", refresh=True)
            for kind, batch in (("alerts", [alert("dept-a", "203.0.113.1"), alert("dept-b", "203.0.113.2")]),
                                ("events", [event("dept-a", "203.0.113.1", k) for k in range(5)]
                                 + [event("dept-b", "203.0.113.2", k) for k in range(5)])):
                items, dead = bulk_items(kind, prefix, batch)
                assert not dead and (await writer.write(items)).written == len(items)
            acc = Accounts(raw, prefix, s.api)
            await acc.put_user("officer-a", PASSWORD, ["officer"], ["dept-a"])
            await acc.put_user("analyst", PASSWORD, ["analyst"], ["*"])
        finally:
            await raw.close()

        app = create_app(s)
        async with app.router.lifespan_context(app):
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://soc") as c:
                assert (await c.get("/api/v1/alerts")).status_code == 401
                await c.post("/api/v1/auth/login", json={"username": "officer-a", "password": PASSWORD})
                mine = (await c.get("/api/v1/alerts")).json()
                assert mine["total"] == 1 and mine["alerts"][0]["labels"]["tenant"] == "dept-a"
                # No query string reaches another tenant's alerts.
                for params in ({"source_ip": "203.0.113.2"}, {"rule": "r-brute", "tenant": "dept-b"},
                               {"since": "now-30d", "labels.tenant": "dept-b"}):
                    got = (await c.get("/api/v1/alerts", params=params)).json()["alerts"]
                    assert all(a["labels"]["tenant"] == "dept-a" for a in got), params
                c.cookies.clear()

                await c.post("/api/v1/auth/login", json={"username": "analyst", "password": PASSWORD})
                queue = (await c.get("/api/v1/alerts", params={"status": "new"})).json()["alerts"]
                ids = {a["labels"]["tenant"]: a["soc"]["alert"]["id"] for a in queue}
                assert set(ids) == {"dept-a", "dept-b"}
                detail = (await c.get(f"/api/v1/alerts/{ids['dept-b']}")).json()
                assert len(detail["events"]) == 5 and detail["alert"]["soc"]["alert"]["count"] == 5
                csrf = {CSRF_HEADER: c.cookies[CSRF_COOKIE]}
                r = await c.post(f"/api/v1/alerts/{ids['dept-b']}/assign", json={"assignee": "zhangsan"}, headers=csrf)
                assert r.status_code == 200 and r.json()["soc"]["alert"]["assignee"] == "zhangsan"
                r = await c.post(f"/api/v1/alerts/{ids['dept-b']}/status", json={"status": "resolved"}, headers=csrf)
                assert r.status_code == 422  # closing needs a reason
                r = await c.post(f"/api/v1/alerts/{ids['dept-b']}/status", headers=csrf,
                                 json={"status": "in_progress"})
                assert r.status_code == 200
                r = await c.post(f"/api/v1/alerts/{ids['dept-b']}/status", headers=csrf,
                                 json={"status": "resolved", "reason": "已封禁来源，确认无成功登录"})
                assert r.status_code == 200 and r.json()["soc"]["alert"]["status"] == "resolved"
                assert (await c.post(f"/api/v1/alerts/{ids['dept-b']}/status", headers=csrf,
                                     json={"status": "false_positive", "reason": "x"})).status_code == 409
                c.cookies.clear()

                # The officer of dept-a cannot read dept-b's alert by its id either.
                await c.post("/api/v1/auth/login", json={"username": "officer-a", "password": PASSWORD})
                assert (await c.get(f"/api/v1/alerts/{ids['dept-b']}")).status_code == 404
                assert (await c.get(f"/api/v1/alerts/{ids['dept-a']}")).status_code == 200
                assert (await c.post(f"/api/v1/alerts/{ids['dept-a']}/assign", json={"assignee": "x"},
                                     headers={CSRF_HEADER: c.cookies[CSRF_COOKIE]})).status_code == 403

        # The brute force goes on: a later revision keeps the analyst's triage.
        raw = async_client(s)
        try:
            items, _ = bulk_items("alerts", prefix, [alert("dept-b", "203.0.113.2", count=9)])
            await BulkWriter(raw, "test", refresh=True).write(items)
            kept = (await raw.get(index=f"{prefix}-alerts", id=ids["dept-b"]))["_source"]["soc"]["alert"]
            assert (kept["count"], kept["status"], kept["assignee"]) == (9, "resolved", "zhangsan")
        finally:
            await raw.close()

    try:
        asyncio.run(run())
    finally:
        drop_indices(es, prefix)
