"""`soc province serve`: the receiver of signed notices, on the real Elasticsearch.

The app runs in-process through httpx's ASGITransport (and once as the real `soc province serve`
command under uvicorn); indices live under a prefix of this module's own, dropped at the end.
"""

from __future__ import annotations

import asyncio
import base64
import copy
import hashlib
import json
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from argon2 import PasswordHasher
from elasticsearch import Elasticsearch

from soc.config import PROJECT_ROOT, Settings
from soc.reporting import envelope, sm
from soc.reporting.province import ProvinceConfig, create_province_app
from tests.integration.conftest import drop_indices

pytestmark = pytest.mark.integration

SENDER = "city-soc"
KEY_ID = "city-soc-2025"
REGULATOR, PASSWORD = "wang.wei", "correct horse battery staple"
TOKEN = "regulator-token-" + uuid.uuid4().hex
PAIR = sm.generate_keypair()
OTHER = sm.generate_keypair()  # a key nobody registered


def notice(**changes: object) -> dict:
    """A notice as docs/notice.schema.json describes it (version 1.0)."""
    n = {
        "schema_version": "1.0",
        "notice_id": f"NTC-{uuid.uuid4().hex[:12]}",
        "incident_id": f"INC-{uuid.uuid4().hex[:12]}",
        "kind": "initial",
        "sequence": 1,
        "sent_at": "2025-06-01T08:00:00Z",
        "recipient": {"endpoint": "province", "kind": "province"},
        "reporting_unit": {"name": "某市大数据中心", "contact": {"name": "李明", "phone": "0571-00000000"}},
        "affected_systems": [{"name": "政务服务网", "mlps_level": 3, "cii": False, "owner": "某市大数据中心"}],
        "discovered_at": "2025-06-01T07:30:00Z",
        "started_at": "2025-06-01T07:00:00Z",
        "classification": {"standard": "GB/T 20986-2023", "category": "网络攻击事件", "category_code": "NAI",
                           "grade": "较大", "grade_code": "III"},
        "impact": "门户网站被篡改约 20 分钟",
        "measures_taken": "已封禁攻击源地址并恢复页面",
        "trend": "已受控",
        "cause": "内容管理系统弱口令",
        "leads": {"attacker_addresses": ["203.0.113.7"], "attack_path": "互联网 → CMS 后台", "vulnerabilities": []},
        "further_measures": "全面排查弱口令",
        "support_requested": "无",
        "scene_preservation": "已保全日志与镜像",
    }
    n.update(changes)
    return n


def body_of(n: dict) -> bytes:
    return json.dumps(n, ensure_ascii=False).encode("utf-8")


def sealed(body: bytes, idem: str | None = None, *, sender: str = SENDER, key_id: str = KEY_ID,
           pair: tuple[str, str] = PAIR, now: datetime | None = None) -> dict[str, str]:
    headers = envelope.seal(body, sender, key_id, idem or f"idem-{uuid.uuid4().hex}", pair[0], pair[1], now)
    return {**headers, "Content-Type": "application/json"}


# A schema of this test's own for the main flow: the receiver's behaviour is under test here, not
# the notice format (which its own tests follow); one test below uses docs/notice.schema.json.
TEST_SCHEMA = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "required": ["notice_id", "kind"],
    "properties": {"notice_id": {"type": "string", "minLength": 1}, "kind": {"enum": ["initial", "follow_up", "final"]}},
}


@pytest.fixture(scope="module")
def prefix(es: Elasticsearch) -> Iterator[str]:
    p = f"it{uuid.uuid4().hex[:8]}"
    yield p
    drop_indices(es, p)


@pytest.fixture(scope="module")
def schema_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("schema") / "notice.schema.json"
    path.write_text(json.dumps(TEST_SCHEMA))
    return path


def make_config(base_settings: Settings, prefix: str, schema: Path | None) -> ProvinceConfig:
    return ProvinceConfig(
        keys={SENDER: {KEY_ID: PAIR[1]}, "county-soc": {"c1": sm.generate_keypair()[1]}},
        data_prefix=prefix, settings=base_settings, schema_file=schema,
        regulator_users={REGULATOR: PasswordHasher().hash(PASSWORD)},
        regulator_tokens={"dashboard": hashlib.sha256(TOKEN.encode()).hexdigest()},
    )


@pytest.fixture()
async def client(base_settings: Settings, prefix: str, schema_file: Path) -> AsyncIterator[httpx.AsyncClient]:
    app = create_province_app(make_config(base_settings, prefix, schema_file))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://province.test") as c:
        yield c
    await app.state.province.close()


def stored(es: Elasticsearch, prefix: str, idem: str) -> list[dict]:
    es.indices.refresh(index=f"{prefix}-province-notices")
    res = es.search(index=f"{prefix}-province-notices", query={"term": {"idempotency_key": idem}}, size=10)
    return [h["_source"] for h in res["hits"]["hits"]]


BASIC = "Basic " + base64.b64encode(f"{REGULATOR}:{PASSWORD}".encode()).decode()


# ---------------------------------------------------------------- accepted, retried

async def test_accepted_and_stored_with_a_receipt(client: httpx.AsyncClient, es: Elasticsearch, prefix: str) -> None:
    n = notice()
    body = body_of(n)
    headers = sealed(body, "idem-accepted")
    r = await client.post("/api/notices", content=body, headers=headers)
    assert r.status_code == 200, r.text
    receipt = r.json()
    assert receipt["duplicate"] is False and receipt["notice_id"] == n["notice_id"]
    assert receipt["receipt_id"].startswith("RCPT-") and receipt["received_at"].endswith("Z")
    docs = stored(es, prefix, "idem-accepted")
    assert len(docs) == 1
    doc = docs[0]
    assert doc["receipt_id"] == receipt["receipt_id"] and doc["sender"] == SENDER and doc["key_id"] == KEY_ID
    assert doc["grade"] == "较大" and doc["kind"] == "initial" and doc["notice"] == n
    # The record verifies again on its own: the exact bytes and the envelope as received.
    raw = base64.b64decode(doc["body_b64"])
    assert raw == body and doc["body_sm3"] == sm.sm3_hex(body)
    again = envelope.open_(doc["envelope"], raw, {SENDER: {KEY_ID: PAIR[1]}},
                           datetime.fromisoformat(doc["signed_at"].replace("Z", "+00:00")), lambda _n: False)
    assert isinstance(again, envelope.Sealed)


async def test_retry_gets_the_original_receipt_and_is_stored_once(client: httpx.AsyncClient, es: Elasticsearch,
                                                                  prefix: str) -> None:
    body = body_of(notice())
    first = await client.post("/api/notices", content=body, headers=sealed(body, "idem-retry"))
    assert first.status_code == 200, first.text
    retries = [await client.post("/api/notices", content=body, headers=sealed(body, "idem-retry")) for _ in range(2)]
    for r in retries:
        assert r.status_code == 200, r.text
        assert r.json() == {**first.json(), "duplicate": True}
    assert len(stored(es, prefix, "idem-retry")) == 1


async def test_same_idempotency_key_with_another_body_is_a_conflict(client: httpx.AsyncClient, es: Elasticsearch,
                                                                    prefix: str) -> None:
    body = body_of(notice())
    assert (await client.post("/api/notices", content=body, headers=sealed(body, "idem-clash"))).status_code == 200
    other = body_of(notice())
    r = await client.post("/api/notices", content=other, headers=sealed(other, "idem-clash"))
    assert r.status_code == 409 and r.json()["code"] == "idempotency_conflict"
    assert [d["body_sm3"] for d in stored(es, prefix, "idem-clash")] == [sm.sm3_hex(body)]


# ---------------------------------------------------------------- refused

async def test_tampered_body_is_rejected(client: httpx.AsyncClient, es: Elasticsearch, prefix: str) -> None:
    body = body_of(notice())
    headers = sealed(body, "idem-tampered")
    tampered = body.replace("较大".encode(), "一般".encode())
    r = await client.post("/api/notices", content=tampered, headers=headers)
    assert r.status_code == 401
    assert r.json()["code"] == "bad_signature" and "签名" in r.json()["message"] and "signature" in r.json()["message"]
    assert stored(es, prefix, "idem-tampered") == []


async def test_tampered_header_is_rejected(client: httpx.AsyncClient) -> None:
    body = body_of(notice())
    headers = sealed(body, "idem-header")
    headers[envelope.H_IDEMPOTENCY] = "idem-header-2"
    r = await client.post("/api/notices", content=body, headers=headers)
    assert r.status_code == 401 and r.json()["code"] == "bad_signature"


async def test_signed_with_another_key_is_rejected(client: httpx.AsyncClient, es: Elasticsearch, prefix: str) -> None:
    body = body_of(notice())
    r = await client.post("/api/notices", content=body, headers=sealed(body, "idem-otherkey", pair=OTHER))
    assert r.status_code == 401 and r.json()["code"] == "bad_signature"
    r = await client.post("/api/notices", content=body, headers=sealed(body, "idem-otherkey", key_id="nope", pair=OTHER))
    assert r.status_code == 401 and r.json()["code"] == "unknown_key"
    # the county's registered key id, but signed as the city: keys are bound to their sender
    r = await client.post("/api/notices", content=body, headers=sealed(body, "idem-otherkey", key_id="c1"))
    assert r.status_code == 401 and r.json()["code"] == "unknown_key"
    assert stored(es, prefix, "idem-otherkey") == []


async def test_exact_replay_is_rejected(client: httpx.AsyncClient, es: Elasticsearch, prefix: str) -> None:
    body = body_of(notice())
    captured = sealed(body, "idem-replay")
    first = await client.post("/api/notices", content=body, headers=captured)
    assert first.status_code == 200, first.text
    r = await client.post("/api/notices", content=body, headers=captured)
    assert r.status_code == 409 and r.json()["code"] == "replayed"
    assert "重放" in r.json()["message"] and "replayed" in r.json()["message"]
    assert len(stored(es, prefix, "idem-replay")) == 1


async def test_replay_to_a_second_receiver_is_rejected(base_settings: Settings, prefix: str, schema_file: Path) -> None:
    """Two receivers on one cluster, the same request at the same moment: one accepts it."""
    apps = [create_province_app(make_config(base_settings, prefix, schema_file)) for _ in range(2)]
    body = body_of(notice())
    captured = sealed(body)
    clients = [httpx.AsyncClient(transport=httpx.ASGITransport(app=a), base_url="http://province.test") for a in apps]
    try:
        answers = await asyncio.gather(*(c.post("/api/notices", content=body, headers=captured) for c in clients))
    finally:
        for c, a in zip(clients, apps, strict=True):
            await c.aclose()
            await a.state.province.close()
    assert sorted(r.status_code for r in answers) == [200, 409], [r.text for r in answers]


@pytest.mark.parametrize("offset_s", [-400, 400])
async def test_stale_timestamp_is_rejected(client: httpx.AsyncClient, offset_s: int) -> None:
    body = body_of(notice())
    when = datetime.now(UTC) + timedelta(seconds=offset_s)
    r = await client.post("/api/notices", content=body, headers=sealed(body, now=when))
    assert r.status_code == 401 and r.json()["code"] == "stale_timestamp"
    ok = await client.post("/api/notices", content=body,
                           headers=sealed(body, now=datetime.now(UTC) + timedelta(seconds=offset_s // 2)))
    assert ok.status_code == 200, ok.text  # within ±300 s is fine


async def test_unknown_sender_is_rejected(client: httpx.AsyncClient) -> None:
    body = body_of(notice())
    r = await client.post("/api/notices", content=body, headers=sealed(body, sender="rogue-soc"))
    assert r.status_code == 401 and r.json()["code"] == "unknown_sender"


async def test_missing_header_is_malformed(client: httpx.AsyncClient) -> None:
    body = body_of(notice())
    headers = sealed(body)
    del headers[envelope.H_NONCE]
    r = await client.post("/api/notices", content=body, headers=headers)
    assert r.status_code == 400 and r.json()["code"] == "malformed" and envelope.H_NONCE in r.json()["detail"]


async def test_body_not_json_is_400(client: httpx.AsyncClient) -> None:
    for body in (b"not json at all", "\ufeff{}".encode("utf-16"), b"[1, 2]"):
        r = await client.post("/api/notices", content=body, headers=sealed(body))
        assert r.status_code == 400 and r.json()["code"] in ("not_json", "not_object"), r.text


async def test_body_against_the_schema(client: httpx.AsyncClient) -> None:
    body = body_of({"kind": "initial"})
    r = await client.post("/api/notices", content=body, headers=sealed(body))
    assert r.status_code == 422 and r.json()["code"] == "schema_invalid" and "notice_id" in r.json()["detail"]


async def test_repository_schema_is_used_when_present(base_settings: Settings, prefix: str) -> None:
    schema = PROJECT_ROOT / "docs" / "notice.schema.json"
    if not schema.exists():
        pytest.fail("docs/notice.schema.json is missing", pytrace=False)
    app = create_province_app(make_config(base_settings, prefix, schema))
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://p.test") as c:
            health = (await c.get("/health")).json()
            assert not health["schema_validation"].startswith("off"), health
            bad = body_of({**notice(), "kind": "rumour"})
            r = await c.post("/api/notices", content=bad, headers=sealed(bad))
            assert r.status_code == 422 and r.json()["code"] == "schema_invalid", r.text
    finally:
        await app.state.province.close()


async def test_nonces_are_forgotten_after_the_window(base_settings: Settings, prefix: str, es: Elasticsearch) -> None:
    config = make_config(base_settings, prefix, None).model_copy(update={"window_s": 1.0})
    app = create_province_app(config)
    service = app.state.province
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://p.test") as c:
            body = body_of(notice())
            headers = sealed(body)
            assert (await c.post("/api/notices", content=body, headers=headers)).status_code == 200
        nonce = headers[envelope.H_NONCE]
        es.indices.refresh(index=service.nonces_index)
        count = lambda: es.count(index=service.nonces_index, query={"term": {"nonce": nonce}})["count"]  # noqa: E731
        assert count() == 1
        await asyncio.sleep(2.5)  # keep_until = acceptance + 2 x window
        assert await service.sweep_nonces() >= 1
        es.indices.refresh(index=service.nonces_index)
        assert count() == 0
    finally:
        await service.close()


# ---------------------------------------------------------------- the regulators' view

async def test_regulator_view_lists_the_notice_and_refuses_without_credentials(client: httpx.AsyncClient) -> None:
    n = notice(impact="<script>alert('x')</script> 篡改", reporting_unit={"name": "某区<b>政务</b>中心",
                                                                            "contact": {"name": "李", "phone": "1"}})
    body = body_of(n)
    r = await client.post("/api/notices", content=body, headers=sealed(body))
    assert r.status_code == 200, r.text
    record = r.json()["record_id"]

    for path in ("/", f"/notices/{record}", "/api/notices", f"/api/notices/{record}"):
        refused = await client.get(path)
        assert refused.status_code == 401, path
        assert refused.headers["www-authenticate"].startswith("Basic ")
        assert n["notice_id"] not in refused.text
        wrong = await client.get(path, headers={"Authorization": "Basic " + base64.b64encode(
            f"{REGULATOR}:wrong password".encode()).decode()})
        assert wrong.status_code == 401, path
        assert (await client.get(path, headers={"Authorization": "Bearer not-the-token"})).status_code == 401

    page = await client.get("/", headers={"Authorization": BASIC})
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert n["notice_id"] in page.text and SENDER in page.text and "较大" in page.text and "初报" in page.text
    assert "<b>政务</b>" not in page.text and "&lt;b&gt;政务&lt;/b&gt;" in page.text
    assert page.headers["x-frame-options"] == "DENY"

    detail = await client.get(f"/notices/{record}", headers={"Authorization": BASIC})
    assert detail.status_code == 200
    assert "<script>" not in detail.text and "&lt;script&gt;" in detail.text
    assert "已造成的影响和危害" in detail.text and n["incident_id"] in detail.text

    listing = await client.get("/api/notices", headers={"Authorization": f"Bearer {TOKEN}"})
    assert listing.status_code == 200
    assert n["notice_id"] in [x["notice_id"] for x in listing.json()["notices"]]
    one = await client.get(f"/api/notices/{n['notice_id']}", headers={"Authorization": f"Bearer {TOKEN}"})
    assert one.status_code == 200 and one.json()["notice"] == n
    assert (await client.get("/notices/nothing-here", headers={"Authorization": BASIC})).status_code == 404


async def test_no_regulators_configured_refuses_everyone(base_settings: Settings, prefix: str) -> None:
    config = make_config(base_settings, prefix, None).model_copy(update={"regulator_users": {},
                                                                         "regulator_tokens": {}})
    app = create_province_app(config)
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://p.test") as c:
            assert (await c.get("/", headers={"Authorization": BASIC})).status_code == 401
    finally:
        await app.state.province.close()


# ---------------------------------------------------------------- the command itself

def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_soc_province_serve_command(tmp_path: Path, es: Elasticsearch, prefix: str) -> None:
    files = sm.save_keypair(tmp_path, "city")
    (tmp_path / "keys.yaml").write_text(f"{SENDER}:\n  {KEY_ID}: city.pub.pem\n")
    reg = tmp_path / "regulators.yaml"
    subprocess.run([sys.executable, "-m", "soc.cli", "province", "regulator", REGULATOR, "--file", str(reg),
                    "--password-stdin"], input=PASSWORD + "\n", text=True, check=True, capture_output=True,
                   cwd=PROJECT_ROOT)
    assert oct(reg.stat().st_mode & 0o777) == "0o600"
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "soc.cli", "province", "serve", "--port", str(port), "--keys", str(tmp_path / "keys.yaml"),
         "--data-prefix", prefix, "--regulators", str(reg)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, cwd=PROJECT_ROOT, env=os.environ.copy())
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert proc.poll() is None, proc.stdout.read().decode() if proc.stdout else ""
            assert time.monotonic() < deadline, "soc province serve did not answer"
            time.sleep(0.3)
        pair = (sm.load_private(files.private), sm.load_public(files.public))
        n = notice()
        body = body_of(n)
        headers = sealed(body, "idem-cli", pair=pair)
        r = httpx.post(f"{base}/api/notices", content=body, headers=headers, timeout=30)
        assert r.status_code == 200, r.text
        assert httpx.post(f"{base}/api/notices", content=body, headers=headers, timeout=30).json()["code"] == "replayed"
        page = httpx.get(f"{base}/", auth=(REGULATOR, PASSWORD), timeout=30)
        assert page.status_code == 200 and n["notice_id"] in page.text
        assert httpx.get(f"{base}/", timeout=30).status_code == 401
    finally:
        proc.terminate()
        proc.wait(timeout=30)


# ---------------------------------------------------------------- envelope.open_ on its own

def test_open_checks_in_order_and_offers_the_nonce_only_after_a_good_signature() -> None:
    body = b'{"notice_id": "N-1", "kind": "initial"}'
    now = datetime.now(UTC)
    headers = envelope.seal(body, SENDER, KEY_ID, "idem-open", PAIR[0], PAIR[1], now)
    assert set(headers) == set(envelope.HEADERS)
    offered: list[str] = []
    seen: set[str] = set()

    def seen_nonce(nonce: str) -> bool:
        offered.append(nonce)
        if nonce in seen:
            return True
        seen.add(nonce)
        return False

    keys = {SENDER: {KEY_ID: PAIR[1]}}
    lower = {k.lower(): v for k, v in headers.items()}  # header names are case-insensitive
    ok = envelope.open_(lower, body, keys, now, seen_nonce)
    assert isinstance(ok, envelope.Sealed) and ok.ok and ok.idempotency_key == "idem-open"
    assert ok.body_sm3 == sm.sm3_hex(body) and offered == [headers[envelope.H_NONCE]]
    again = envelope.open_(headers, body, keys, now, seen_nonce)
    assert isinstance(again, envelope.Rejection) and again.code == "replayed" and again.status == 409
    bad = envelope.open_(envelope.seal(body + b" ", SENDER, KEY_ID, "i", *OTHER, now), body, keys, now, seen_nonce)
    assert bad.code == "bad_signature" and len(offered) == 2  # a forged request never reaches seen_nonce
    flat = envelope.open_(envelope.seal(body, "anyone", KEY_ID, "i", *PAIR, now), body, {KEY_ID: PAIR[1]}, now,
                          lambda _n: False)
    assert isinstance(flat, envelope.Sealed)  # key id -> public key: the signed sender name is trusted
    twice = httpx.Headers([*headers.items(), (envelope.H_NONCE, "0" * 32)])
    assert envelope.open_(twice, body, keys, now, seen_nonce).code == "malformed"
    late = envelope.open_(headers, body, keys, now + timedelta(seconds=301), seen_nonce)
    assert late.code == "stale_timestamp" and "±300" in late.message
    assert envelope.open_(headers, body, keys, now.timestamp() + 299, lambda _n: False).ok


def test_notice_fixture_is_independent() -> None:
    a, b = notice(), notice()
    assert a["notice_id"] != b["notice_id"] and copy.deepcopy(a) == a
