"""The analysts' API on the real Elasticsearch: sign-in with lockout, session timeout, CSRF,
bearer tokens, roles on the server, tenant scoping of blocks, the approvals queue, and the
audit trail of it all (soc audit verify intact)."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator

import httpx
import pytest
from elasticsearch import Elasticsearch

from soc.api.accounts import Accounts
from soc.api.main import create_app
from soc.api.security import CSRF_COOKIE, CSRF_HEADER
from soc.audit import AuditTrail
from soc.config import Settings
from soc.response.blocks import PENDING, Block, BlockStore, expiry, utcnow
from soc.store.client import async_client
from soc.store.setup import ensure_templates

from .conftest import drop_indices

pytestmark = pytest.mark.integration
PASSWORD = "正确的口令-Correct-Horse-1"


async def client(s: Settings) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(s)
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://soc") as c:
            yield c


async def sign_in(c: httpx.AsyncClient, name: str, password: str = PASSWORD) -> httpx.Response:
    return await c.post("/api/v1/auth/login", json={"username": name, "password": password})


def test_sign_in_sessions_roles_tenants_approvals_and_audit(base_settings: Settings, es: Elasticsearch) -> None:
    prefix = f"api{uuid.uuid4().hex[:8]}"
    s = base_settings.model_copy(update={
        "elastic": base_settings.elastic.model_copy(update={"index_prefix": prefix}),
        "api": base_settings.api.model_copy(update={"lockout_failures": 3, "lockout_s": 600, "session_idle_s": 2}),
    })

    async def run() -> None:
        await ensure_templates(s)
        raw = async_client(s)
        try:
            accounts = Accounts(raw, prefix, s.api)
            await accounts.put_user("zhangsan", PASSWORD, ["analyst"], ["*"])
            await accounts.put_user("officer-a", PASSWORD, ["officer"], ["dept-a"])
            await accounts.put_user("reg", PASSWORD, ["regulator"], ["*"])
            store = BlockStore(raw, prefix)
            for target, scope in (("203.0.0.0/16", "all"), ("198.51.100.7", "dept-b")):
                await store.put(Block(target=target, scope=scope, state=PENDING, ttl_seconds=3600,
                                      expires_at=expiry(utcnow(), 3600), playbook="p", reason="r",
                                      decided_by="playbook:p", approval_reason="网段 /16 宽于 /24"))
            token = await accounts.new_token("soar", ["automation"], ["*"], 3600, utcnow())
        finally:
            await raw.close()

        gen = client(s)
        c = await gen.__anext__()
        try:
            # Nothing but health without signing in.
            assert (await c.get("/health")).status_code == 200
            assert (await c.get("/api/v1/blocks")).status_code == 401
            assert (await c.get("/api/v1/openapi.json")).status_code == 401
            assert (await c.get("/docs")).status_code == 404
            r = await c.get("/api/v1/blocks", headers={"Authorization": "Bearer not-a-token"})
            assert r.status_code == 401
            assert r.headers["X-Frame-Options"] == "DENY" and "nosniff" in r.headers["X-Content-Type-Options"]

            # Wrong passwords lock the account, even for the right one afterwards.
            for _ in range(2):
                assert (await sign_in(c, "zhangsan", "wrong")).status_code == 401
            assert (await sign_in(c, "zhangsan", "wrong")).status_code == 423  # the third locks it
            locked = await sign_in(c, "zhangsan")
            assert locked.status_code == 423 and "锁定" in locked.json()["detail"]
            assert (await sign_in(c, "nobody")).status_code == 401
        finally:
            await gen.aclose()

        # A fresh account signs in: session cookie, CSRF cookie.
        async def fresh() -> None:
            raw2 = async_client(s)
            try:
                await Accounts(raw2, prefix, s.api).put_user("lisi", PASSWORD, ["analyst"], ["*"])
            finally:
                await raw2.close()

        await fresh()
        gen = client(s)
        c = await gen.__anext__()
        try:
            r = await sign_in(c, "lisi")
            assert r.status_code == 200 and r.json()["roles"] == ["analyst"]
            spec = (await c.get("/api/v1/openapi.json")).json()
            assert "/api/v1/blocks/{ref}/approve" in spec["paths"] and spec["openapi"].startswith("3.")
            queue = (await c.get("/api/v1/blocks", params={"state": "pending"})).json()
            assert {b["target"] for b in queue} == {"203.0.0.0/16", "198.51.100.7"}
            ref = next(b["id"] for b in queue if b["target"] == "203.0.0.0/16")
            # A mutating call with the cookie but without the CSRF token is refused.
            assert (await c.post(f"/api/v1/blocks/{ref}/approve")).status_code == 403
            csrf = c.cookies[CSRF_COOKIE]
            ok = await c.post(f"/api/v1/blocks/{ref}/approve", headers={CSRF_HEADER: csrf})
            assert ok.status_code == 200 and ok.json()["state"] == "approved"
            again = await c.post(f"/api/v1/blocks/{ref}/approve", headers={CSRF_HEADER: csrf})
            assert again.status_code == 409  # approved once
            # The allowlist still applies to a person's block.
            refused = await c.post("/api/v1/blocks", headers={CSRF_HEADER: csrf},
                                   json={"target": "127.0.0.5", "reason": "试验"})
            assert refused.status_code == 409 and "白名单" in refused.json()["detail"]
            # Idle past the session timeout: signed out.
            time.sleep(3)
            assert (await c.get("/api/v1/me")).status_code == 401
        finally:
            await gen.aclose()

        gen = client(s)
        c = await gen.__anext__()
        try:
            # Roles on the server: a regulator may not approve; an officer sees only her tenant.
            await sign_in(c, "reg")
            r = await c.post(f"/api/v1/blocks/{ref}/reject", headers={CSRF_HEADER: c.cookies[CSRF_COOKIE]})
            assert r.status_code == 403
            c.cookies.clear()
            await sign_in(c, "officer-a")
            seen = {b["target"] for b in (await c.get("/api/v1/blocks", params={"state": "all"})).json()}
            assert seen == {"203.0.0.0/16"}  # not dept-b's block
            c.cookies.clear()
            # Automation: a bearer token may block, but never approve.
            bearer = {"Authorization": f"Bearer {token}"}
            made = await c.post("/api/v1/blocks", headers=bearer, json={"target": "192.0.2.99", "ttl": "2h",
                                                                         "reason": "SOAR 联动"})
            assert made.status_code == 201 and made.json()["state"] == "approved"
            pending_ref = next(b["id"] for b in (await c.get("/api/v1/blocks", headers=bearer,
                                                             params={"state": "pending"})).json())
            assert (await c.post(f"/api/v1/blocks/{pending_ref}/approve", headers=bearer)).status_code == 403
        finally:
            await gen.aclose()

        raw3 = async_client(s)
        try:
            v = await AuditTrail(raw3, prefix).verify()
            assert v.ok, v.problems
            await raw3.indices.refresh(index=f"{prefix}-audit")
            res = await raw3.search(index=f"{prefix}-audit", size=100, sort=[{"seq": "asc"}])
            trail = [(h["_source"]["actor"], h["_source"]["action"], h["_source"]["outcome"]) for h in res["hits"]["hits"]]
            assert trail[0] == ("zhangsan", "sign_in", "failure: unknown user or wrong password")
            assert any(a == "zhangsan" and o.startswith("failure: account locked") for a, _, o in trail)
            assert ("lisi", f"POST /api/v1/blocks/{ref}/approve", "success") in trail
            assert ("lisi", f"POST /api/v1/blocks/{ref}/approve", "failure: HTTP 403") in trail  # the CSRF refusal
            assert ("soar", "POST /api/v1/blocks", "success") in trail
        finally:
            await raw3.close()

    try:
        asyncio.run(run())
    finally:
        drop_indices(es, prefix)
