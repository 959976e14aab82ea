"""Every route of the OpenAPI document, not a list kept by hand: nothing but /health (and the
sign-in itself) answers without a sign-in, and the officer of tenant A reads nothing of tenant B by any GET route — the
tenant's name and its attacker's address appear in no answer, whatever the path or query string.
A route added later is covered by the same loop (and fails it if it has a path parameter this
test does not know how to fill)."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import orjson
import pytest
from elasticsearch import Elasticsearch

from soc.api.main import create_app
from soc.config import Settings
from soc.model import now_iso
from soc.response.blocks import ACTIVE, Block, BlockStore, expiry, utcnow
from soc.store.bulk import BulkWriter
from soc.store.client import async_client
from soc.stream.index import bulk_items

from .apiseed import SOURCES, alert_ids, api_settings, app_client, seed, sign_in
from .conftest import drop_indices

pytestmark = pytest.mark.integration
# Query strings an officer might try to reach another tenant with.
PROBES = [{}, {"tenant": "dept-b"}, {"q": "labels.tenant:dept-b"}, {"q": "*"}, {"source_ip": SOURCES["dept-b"]},
          {"since": "now-30d"}, {"labels.tenant": "dept-b"}]


def test_no_route_without_sign_in_and_no_route_across_tenants(base_settings: Settings, es: Elasticsearch,
                                                              tmp_path: Path) -> None:
    inventory = tmp_path / "assets.yaml"
    inventory.write_text(
        "assets:\n"
        "  - {name: A系统, owner: A局, tenant: dept-a, mlps_level: 3, networks: [10.1.0.0/24]}\n"
        "  - {name: B系统, owner: B局, tenant: dept-b, mlps_level: 2, networks: [10.2.0.0/24]}\n", encoding="utf-8")
    s = api_settings(base_settings, tmp_path).model_copy(update={"assets_file": inventory})
    paths = create_app(s).openapi()["paths"]

    async def run() -> None:
        await seed(s)
        raw = async_client(s)
        try:  # something of dept-b behind every kind of route: a block, a playbook's action
            await BlockStore(raw, s.elastic.index_prefix).put(Block(
                target=SOURCES["dept-b"], scope="dept-b", state=ACTIVE, ttl_seconds=3600,
                expires_at=expiry(utcnow(), 3600), playbook="p", reason="dept-b brute force", devices=["feed"],
                decided_by="playbook"))
            items, _ = bulk_items("actions", s.elastic.index_prefix, [orjson.dumps({
                "@timestamp": now_iso(), "labels": {"tenant": "dept-b"}, "event": {"kind": "event", "id": "act-b"},
                "soc": {"action": {"id": "act-b", "kind": "block_ip", "target": SOURCES["dept-b"], "state": "applied"}}})])
            await BulkWriter(raw, "test", refresh=True).write(items)
        finally:
            await raw.close()
        async with app_client(s) as c:
            # Without a session or token: 401 everywhere but /health and the sign-in itself.
            for path, ops in paths.items():
                concrete = re.sub(r"\{[^}]+\}", "x", path)
                for method in ops:
                    r = await c.request(method.upper(), concrete, json={} if method != "get" else None)
                    expected = {"/health": 200, "/api/v1/auth/login": 422}.get(path, 401)
                    assert r.status_code == expected, (method, path, r.status_code)

            csrf = await sign_in(c, "analyst")
            ids = await alert_ids(c)
            r = await c.post("/api/v1/incidents", headers=csrf, json={"title": "B 的事件", "alert_ids": [ids["dept-b"]]})
            assert r.status_code == 201
            fill = {"alert_id": ids["dept-b"], "incident_id": r.json()["id"], "notice_id": "N" + "0" * 31}

            await sign_in(c, "officer-a")
            leaks = ("dept-b", SOURCES["dept-b"], "B系统")
            checked = 0
            for path, ops in paths.items():
                if "get" not in ops or path in ("/api/v1/alerts/stream", "/api/v1/openapi.json"):
                    continue  # the stream is scoped in test_api_platform.py
                names = re.findall(r"\{([^}]+)\}", path)
                assert all(n in fill for n in names), f"{path}: a path parameter this test cannot fill"
                concrete = path.format(**{n: fill[n] for n in names})
                for params in PROBES:
                    r = await c.get(concrete, params=params)
                    assert r.status_code in (200, 403, 404, 422), (concrete, params, r.status_code)
                    body = r.text
                    assert not any(leak in body for leak in leaks), (concrete, params, body[:300])
                    checked += 1
            assert checked >= 10 * len(PROBES)

    try:
        asyncio.run(run())
    finally:
        drop_indices(es, s.elastic.index_prefix)
