"""A small estate for the API's tests on the real Elasticsearch: one user per role, alerts and
their events in two tenants, and a client of the app signed in as any of them."""

from __future__ import annotations

import socket
import threading
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import orjson
import uvicorn

from soc.api.accounts import Accounts
from soc.api.main import create_app
from soc.api.security import CSRF_COOKIE, CSRF_HEADER
from soc.config import Settings
from soc.model import Alert, RawRecord
from soc.store.bulk import BulkWriter
from soc.store.client import async_client
from soc.store.setup import ensure_templates
from soc.stream.index import bulk_items
from soc.stream.normalize import normalize_record

PASSWORD = "测试口令-Test-Only-Passw0rd"  # a test-only account password, never a real one
# name -> (roles, tenants)
USERS: dict[str, tuple[list[str], list[str]]] = {
    "analyst": (["analyst"], ["*"]),
    "officer-a": (["officer"], ["dept-a"]),
    "officer-b": (["officer"], ["dept-b"]),
    "sysadmin": (["sysadmin"], ["*"]),
    "auditadmin": (["auditadmin"], ["*"]),
    "regulator": (["regulator"], ["*"]),
}
SOURCES = {"dept-a": "203.0.113.10", "dept-b": "198.51.100.20"}


def api_settings(base: Settings, tmp: Path, **api: object) -> Settings:
    """The settings of one test: its own indices and its own rule-state file."""
    prefix = f"api{uuid.uuid4().hex[:8]}"
    return base.model_copy(update={
        "elastic": base.elastic.model_copy(update={"index_prefix": prefix}),
        "worker": base.worker.model_copy(update={"rules_state_file": tmp / "rules-state.yml"}),
        "api": base.api.model_copy(update=api),
    })


def alert_line(tenant: str, src: str, count: int = 5, minutes_ago: int = 5) -> bytes:
    when = datetime.now(UTC) - timedelta(minutes=minutes_ago)
    doc = Alert(rule_id="r-brute", rule_name="SSH 暴力破解", level="high", group_key=f"g|{src}", first_seen=when,
                last_seen=when, event_ids=[f"{src}-e{k}" for k in range(count)], count=count, tags=["attack.t1110"],
                context={"source": {"ip": src}, "labels": {"tenant": tenant}}, window_start_id=f"{src}-e0").to_doc()
    return orjson.dumps(doc)


def event_line(tenant: str, src: str, k: int) -> bytes:
    """An sshd failure from src, through the real normalize stage (as the worker indexes it)."""
    when = (datetime.now(UTC) - timedelta(minutes=5, seconds=-k)).strftime("%Y-%m-%dT%H:%M:%SZ")
    raw = f"<38>1 {when} web01 sshd 811 - - Failed password for root from {src} port {40000 + k} ssh2"
    record = RawRecord(raw.encode(), time.time_ns(), "syslog-udp", "192.0.2.1:514", f"src-{tenant}", tenant=tenant)
    key, doc = normalize_record(record)
    assert key is not None, doc
    doc["event"]["id"] = f"{src}-e{k}"  # the ids the seeded alert names
    return orjson.dumps(doc)


async def seed(s: Settings, events_per_tenant: int = 5) -> None:
    """Templates, one user per role, one brute-force alert and its events per tenant."""
    await ensure_templates(s)
    prefix = s.elastic.index_prefix
    raw = async_client(s)
    try:
        writer = BulkWriter(raw, "test", refresh=True)
        for kind, batch in (
                ("alerts", [alert_line(t, ip) for t, ip in SOURCES.items()]),
                ("events", [event_line(t, ip, k) for t, ip in SOURCES.items() for k in range(events_per_tenant)])):
            items, dead = bulk_items(kind, prefix, batch)
            assert not dead and (await writer.write(items)).written == len(items)
        accounts = Accounts(raw, prefix, s.api)
        for name, (roles, tenants) in USERS.items():
            await accounts.put_user(name, PASSWORD, roles, tenants)
    finally:
        await raw.close()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def serve(s: Settings) -> Iterator[str]:
    """The app behind a real HTTP server on 127.0.0.1 (for what ASGI in-process cannot show:
    streams, a browser); yields its base URL."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(s), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                if httpx.get(f"{base}/health").status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        else:
            raise AssertionError(f"the API did not answer at {base}")
        yield base
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@asynccontextmanager
async def app_client(s: Settings) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(s)
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://soc") as c:
            yield c


async def sign_in(c: httpx.AsyncClient, name: str) -> dict[str, str]:
    """Sign in as name (dropping whoever was signed in); the CSRF header for mutating calls."""
    c.cookies.clear()
    r = await c.post("/api/v1/auth/login", json={"username": name, "password": PASSWORD})
    assert r.status_code == 200, r.text
    return {CSRF_HEADER: c.cookies[CSRF_COOKIE]}


async def alert_ids(c: httpx.AsyncClient) -> dict[str, str]:
    """tenant -> id of its alert, as the signed-in caller sees them."""
    got = (await c.get("/api/v1/alerts")).json()["alerts"]
    return {a["labels"]["tenant"]: a["soc"]["alert"]["id"] for a in got}
