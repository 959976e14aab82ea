"""Incident notices upstream, end to end on the real Elasticsearch and a real receiver: the
provincial platform's app (`create_province_app`, soc/reporting/province.py) under uvicorn on
127.0.0.1, each test with indices of its own.

- A graded incident's initial notice is built, validates against docs/notice.schema.json, is
  delivered SM2-signed; the receiver verifies it (and so does this test, from what it stored), and
  the receipt is recorded; the incident is marked reported.
- The receiver down: the notice is left retrying with the attempt recorded; up again: the next
  drain delivers it, held once upstream.
- The answer lost on the way back (a proxy that lets the receiver store it, then never answers):
  the retry gets `duplicate: true` with the original receipt; delivered is recorded once, the
  receiver holds it once.
- Two workers draining at once never send one notice twice (counted at a proxy).
- Signed with a key the receiver does not know: rejected with the receiver's code, recorded, not
  retried, an alert raised; queued again after the fix, delivered.
- Overdue: one alert per notice, whatever the number of checks and checkers; a notice owed and
  never queued raises one too.
- The API: queue (analyst), list and read, tenant-scoped; regulators see notices of reported
  incidents only.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import threading
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import orjson
import pytest
import uvicorn
from elasticsearch import Elasticsearch
from fastapi import FastAPI, Request, Response

from soc.assets import load_inventory
from soc.config import ReportingSettings, Settings, UpstreamEndpoint
from soc.model import Alert, get_path, parse_iso
from soc.pipeline import count, wait_for_count
from soc.reporting import envelope, sm
from soc.reporting import grading
from soc.reporting.grading import classify
from soc.reporting.incidents import IncidentStore
from soc.reporting.notices import NoticeFields, problems, queue_notices
from soc.reporting.outbox import DELIVERED, OVERDUE_RULE, REJECTED, REJECTED_RULE, RETRYING, Outbox, utcnow
from soc.reporting.province import ProvinceConfig, create_province_app
from soc.reporting.upstream import build_upstreams
from soc.store.bulk import BulkWriter
from soc.store.client import async_client
from soc.stream.index import bulk_items

from .apiseed import SOURCES, api_settings, app_client, free_port, seed, sign_in
from .conftest import drop_indices, new_pipeline

pytestmark = pytest.mark.integration
SENDER, KEY_ID = "city-soc", "city-soc-k1"


# --------------------------------------------------------------------------- servers


@contextlib.contextmanager
def running(app: FastAPI, port: int) -> Iterator[str]:
    """app under uvicorn on 127.0.0.1:port (in a thread); yields its base URL."""
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            if server.started:
                break
            time.sleep(0.05)
        else:
            raise AssertionError(f"nothing answers at {base}")
        yield base
    finally:
        server.should_exit = True
        thread.join(timeout=15)


class Proxy:
    """A forwarding proxy in front of the receiver that counts what it forwards and can drop
    the answer of the next requests (the receiver has stored the notice; the sender never hears)."""

    def __init__(self, target: str, hold_s: float = 0.0) -> None:
        self.target = target
        self.hold_s = hold_s  # delay before forwarding (to widen a race)
        self.drop_next = 0  # answers to swallow (by hanging past the sender's timeout)
        self.seen: list[str] = []  # idempotency key of every request forwarded
        self.tamper = False  # change the body on the way (a man in the middle)
        self.app = FastAPI()

        @self.app.post("/api/notices")
        async def forward(request: Request) -> Response:
            body = await request.body()
            if self.tamper:
                body = body.replace("较大".encode(), "一般".encode(), 1)
            headers = {k: v for k, v in request.headers.items() if k.lower().startswith("x-soc-")
                       or k.lower() == "content-type"}
            self.seen.append(headers.get("x-soc-idempotency-key", ""))
            if self.hold_s:
                await asyncio.sleep(self.hold_s)
            async with httpx.AsyncClient(timeout=30) as c:
                r = await c.post(f"{self.target}/api/notices", content=body, headers=headers)
            if self.drop_next:
                self.drop_next -= 1
                await asyncio.sleep(4)  # the sender (timeout 1 s) has given up: this answer is lost
            return Response(r.content, r.status_code, media_type="application/json")


# --------------------------------------------------------------------------- fixtures


class World:
    """One test's estate: settings, keys, the receiver's config, an incident maker."""

    def __init__(self, base: Settings, tmp: Path) -> None:
        self.tmp = tmp
        self.settings = api_settings(base, tmp)
        self.prefix = self.settings.elastic.index_prefix
        self.province_prefix = f"{self.prefix}-prov"
        self.keys = sm.save_keypair(tmp / "keys", "city")
        self.wrong = sm.save_keypair(tmp / "keys", "impostor")
        self.public = sm.load_public(self.keys.public)
        inventory = tmp / "assets.yaml"
        inventory.write_text(
            "assets:\n"
            "  - {name: A系统, owner: A局, tenant: dept-a, mlps_level: 3, criticality: high, networks: [10.1.0.0/24]}\n"
            "  - {name: B系统, owner: B局, tenant: dept-b, mlps_level: 2, networks: [10.2.0.0/24]}\n", encoding="utf-8")
        self.settings = self.settings.model_copy(update={"assets_file": inventory})

    def reporting(self, url: str, *, wrong_key: bool = False, timeout_s: float = 10.0) -> Settings:
        keys = self.wrong if wrong_key else self.keys
        rep = ReportingSettings(
            unit="某市大数据发展管理局", contact_name="值班员", contact_phone="0571-12345678", operator_type="general",
            endpoints=[UpstreamEndpoint(name="province", urls=[f"{url}/api/notices"], timeout_s=timeout_s)],
            sender_id=SENDER, key_id=KEY_ID, private_key_file=keys.private, public_key_file=keys.public,
            retry_base_s=0.2, retry_max_s=0.5, retry_jitter=0.1, claim_s=30)
        return self.settings.model_copy(update={"reporting": rep})

    def receiver(self) -> FastAPI:
        return create_province_app(ProvinceConfig(keys={SENDER: {KEY_ID: self.public}},
                                                  data_prefix=self.province_prefix, settings=self.settings))

    def held(self, es: Elasticsearch, idempotency_key: str) -> list[dict]:
        """What the receiver holds for this idempotency key."""
        index = f"{self.province_prefix}-province-notices"
        if not es.indices.exists(index=index):
            return []
        es.indices.refresh(index=index)
        res = es.search(index=index, query={"term": {"idempotency_key": idempotency_key}}, size=10)
        return [h["_source"] for h in res["hits"]["hits"]]


@pytest.fixture()
def world(base_settings: Settings, es: Elasticsearch, tmp_path: Path) -> Iterator[World]:
    w = World(base_settings, tmp_path)
    asyncio.run(seed(w.settings))
    yield w
    drop_indices(es, w.prefix)


ASSETS = {"dept-a": ("A系统", "A局", 3, "10.1.0.5"), "dept-b": ("B系统", "B局", 2, "10.2.0.5")}


async def graded_incident(s: Settings, tenant: str = "dept-a", grade: str | None = "较大",
                          discovered_ago: timedelta | None = None) -> str:
    """An incident opened from a brute-force alert on the tenant's system (as the worker indexes
    it: the asset enriched), classified and graded by the real rules (reporting/) and then graded
    `grade` by an analyst's override, stored as POST …/grade stores it (`set_grading`); None:
    left ungraded."""
    when = utcnow() - timedelta(minutes=30)
    name, owner, level, ip = ASSETS[tenant]
    alert = Alert(rule_id="r-brute", rule_name="SSH 暴力破解", level="high", group_key=f"g|{uuid.uuid4().hex}",
                  first_seen=when, last_seen=when + timedelta(minutes=3), event_ids=[uuid.uuid4().hex], count=9,
                  tags=["attack.t1110", "attack.credential_access"],
                  context={"source": {"ip": SOURCES[tenant]}, "destination": {"ip": ip, "port": 22},
                           "labels": {"tenant": tenant},
                           "soc": {"asset": {"name": name, "owner": owner, "mlps_level": level}}}).to_doc()
    es = async_client(s)
    try:
        items, dead = bulk_items("alerts", s.elastic.index_prefix, [orjson.dumps(alert)])
        assert not dead and (await BulkWriter(es, "test", refresh=True).write(items)).written == 1
        store = IncidentStore(es, s.elastic.index_prefix)
        doc = await store.create("SSH 暴力破解", "", [alert["soc"]["alert"]["id"]], "analyst", ["*"])
        iid = doc["soc"]["incident"]["id"]
        if discovered_ago is not None:
            def discovered(inc: dict, now: str) -> None:
                inc["discovered_at"] = (utcnow() - discovered_ago).isoformat().replace("+00:00", "Z")

            doc = (await store._change(iid, ["*"], discovered))[0]
        if grade is not None:
            inventory = load_inventory(s.assets_file)
            automatic = grading.grade(doc, [alert], inventory, utcnow())
            await store.set_grading(iid, classify([alert]), grading.override(automatic, grade, "测试定级", "analyst"),
                                    "analyst", "测试定级", tenants=["*"], operator_type="ordinary")
        return iid
    finally:
        await es.close()


@contextlib.asynccontextmanager
async def outbox_of(s: Settings, worker: str | None = None) -> AsyncIterator[Outbox]:
    es = async_client(s)
    try:
        yield Outbox(es, s.elastic.index_prefix, s.reporting, build_upstreams(s.reporting), worker=worker)
    finally:
        await es.close()


async def queue(s: Settings, iid: str, kind: str = "initial", **fields: object) -> dict:
    es = async_client(s)
    try:
        queued, _ = await queue_notices(es, s, iid, kind, NoticeFields(**fields), "analyst", ["*"],
                                        load_inventory(s.assets_file))
    finally:
        await es.close()
    assert len(queued) == 1
    return queued[0]["soc"]["notice"]


async def notice_doc(s: Settings, nid: str) -> dict:
    async with outbox_of(s) as ob:
        hit = await ob.get(nid)
    assert hit is not None
    return hit["_source"]["soc"]["notice"]


async def wait_due(s: Settings, nid: str) -> None:
    """Until the notice's next attempt time has come (the backoff is a fraction of a second here)."""
    n = await notice_doc(s, nid)
    delay = (parse_iso(n["next_attempt_at"]) - utcnow()).total_seconds()
    if delay > 0:
        await asyncio.sleep(delay + 0.05)


# --------------------------------------------------------------------------- delivery


def test_initial_notice_is_built_valid_delivered_signed_and_receipted(world: World, es: Elasticsearch) -> None:
    port = free_port()
    s = world.reporting(f"http://127.0.0.1:{port}")

    async def run() -> None:
        iid = await graded_incident(s, discovered_ago=timedelta(minutes=20))
        n = await queue(s, iid, impact="SSH 服务遭持续口令猜解，未发现登录成功", cause="互联网暴露 SSH 且口令策略偏弱")
        assert n["state"] == "queued" and n["kind"] == "initial" and n["sequence"] == 1
        body = orjson.loads(n["body"])
        assert problems(body) == []  # the schema, as sent
        assert body["classification"]["grade"] == "较大" and body["classification"]["grade_code"] == "III"
        assert body["classification"]["category_code"] == "NA"  # 网络攻击事件, by the real taxonomy
        assert body["affected_systems"][0]["name"] == "A系统" and body["affected_systems"][0]["mlps_level"] == 3
        assert body["leads"]["attacker_addresses"] == [SOURCES["dept-a"]]
        assert body["impact"] == "SSH 服务遭持续口令猜解，未发现登录成功"
        assert body["indicators"]["type"] == "bundle"
        # Due 4 hours after discovery (第四条, an ordinary operator, 较大).
        discovered = parse_iso(body["discovered_at"])
        assert parse_iso(n["due_at"]) == discovered + timedelta(hours=4)

        async with outbox_of(s) as ob:
            result = await ob.drain()
            assert result.delivered == [n["id"]] and not result.alerts
            assert (await ob.drain()).delivered == []  # delivered once: nothing more to send
        doc = await notice_doc(s, n["id"])
        assert doc["state"] == DELIVERED and doc["attempt_count"] == 1 and doc["late"] is False
        assert [a["outcome"] for a in doc["attempts"]] == ["delivered"]

        held = world.held(es, n["idempotency_key"])
        assert len(held) == 1
        record = held[0]
        # The receipt recorded is the receiver's.
        assert doc["receipt"]["receipt_id"] == record["receipt_id"] and doc["receipt"]["duplicate"] is False
        assert doc["receipt"]["notice_id"] == n["id"] == record["notice_id"]
        # Signed: the exact bytes queued, verified again here from what the receiver kept.
        raw = base64.b64decode(record["body_b64"])
        assert raw == n["body"].encode("utf-8") and record["body_sm3"] == sm.sm3_hex(raw)
        assert record["sender"] == SENDER and record["key_id"] == KEY_ID
        env = record["envelope"]
        message = envelope.canonical(SENDER, KEY_ID, env[envelope.H_TIMESTAMP], env[envelope.H_NONCE],
                                     n["idempotency_key"], sm.sm3_hex(raw))
        assert sm.verify(world.public, message, env[envelope.H_SIGNATURE])
        assert not sm.verify(sm.load_public(world.wrong.public), message, env[envelope.H_SIGNATURE])

        raw_es = async_client(s)
        try:
            inc = await IncidentStore(raw_es, world.prefix).get(iid, ["*"], reported_only=True)
        finally:
            await raw_es.close()
        assert inc["soc"]["incident"]["reported"] is True
        assert any(n["id"] in e["text"] for e in inc["soc"]["incident"]["timeline"])

    with running(world.receiver(), port):
        asyncio.run(run())


def test_receiver_down_then_up_is_delivered_once(world: World, es: Elasticsearch) -> None:
    port = free_port()  # nothing listens there yet
    s = world.reporting(f"http://127.0.0.1:{port}")

    async def first() -> dict:
        iid = await graded_incident(s)
        n = await queue(s, iid)
        async with outbox_of(s) as ob:
            result = await ob.drain()
            assert result.retrying == [n["id"]] and not result.delivered
            doc = await notice_doc(s, n["id"])
            assert doc["state"] == RETRYING and doc["attempt_count"] == 1
            attempt = doc["attempts"][0]
            assert attempt["outcome"] == "retry" and attempt["status"] is None
            assert "ConnectError" in attempt["message"] and attempt["url"].endswith(f":{port}/api/notices")
            assert parse_iso(doc["next_attempt_at"]) > parse_iso(attempt["finished"])
            assert (await ob.drain()).retrying == []  # not due yet: not sent again at once
        await wait_due(s, n["id"])
        async with outbox_of(s) as ob:  # still down: a second failed attempt, backing off
            assert (await ob.drain()).retrying == [n["id"]]
        return await notice_doc(s, n["id"])

    doc = asyncio.run(first())
    assert doc["attempt_count"] == 2 and [a["outcome"] for a in doc["attempts"]] == ["retry", "retry"]
    assert world.held(es, doc["idempotency_key"]) == []

    async def second() -> dict:
        await wait_due(s, doc["id"])
        async with outbox_of(s) as ob:
            assert (await ob.drain()).delivered == [doc["id"]]
            assert (await ob.drain()).delivered == []
        return await notice_doc(s, doc["id"])

    with running(world.receiver(), port):
        after = asyncio.run(second())
    assert after["state"] == DELIVERED and after["attempt_count"] == 3
    assert [a["outcome"] for a in after["attempts"]] == ["retry", "retry", "delivered"]
    held = world.held(es, doc["idempotency_key"])
    assert len(held) == 1 and after["receipt"]["receipt_id"] == held[0]["receipt_id"]
    assert after["receipt"]["duplicate"] is False


def test_a_lost_answer_is_retried_and_held_once(world: World, es: Elasticsearch) -> None:
    rport, pport = free_port(), free_port()
    proxy = Proxy(f"http://127.0.0.1:{rport}")
    proxy.drop_next = 1
    s = world.reporting(f"http://127.0.0.1:{pport}", timeout_s=1.0)

    async def run() -> None:
        iid = await graded_incident(s)
        n = await queue(s, iid)
        async with outbox_of(s) as ob:
            first = await ob.drain()
            assert first.retrying == [n["id"]]
            doc = await notice_doc(s, n["id"])
            assert doc["attempts"][0]["outcome"] == "retry" and "Timeout" in doc["attempts"][0]["message"]
            held = world.held(es, n["idempotency_key"])
            assert len(held) == 1  # the receiver has it: only its answer was lost
            await wait_due(s, n["id"])
            second = await ob.drain()
            assert second.delivered == [n["id"]]
            assert (await ob.drain()).delivered == []
        doc = await notice_doc(s, n["id"])
        assert doc["state"] == DELIVERED and doc["attempt_count"] == 2
        assert [a["outcome"] for a in doc["attempts"]] == ["retry", "delivered"]
        assert doc["attempts"][1]["duplicate"] is True and doc["receipt"]["duplicate"] is True
        # The original receipt, and still one notice upstream.
        held = world.held(es, n["idempotency_key"])
        assert len(held) == 1 and doc["receipt"]["receipt_id"] == held[0]["receipt_id"]
        assert proxy.seen == [n["idempotency_key"]] * 2

    with running(world.receiver(), rport), running(proxy.app, pport):
        asyncio.run(run())


def test_two_drainers_never_send_one_notice_twice(world: World, es: Elasticsearch) -> None:
    rport, pport = free_port(), free_port()
    proxy = Proxy(f"http://127.0.0.1:{rport}", hold_s=0.3)
    s = world.reporting(f"http://127.0.0.1:{pport}")

    async def run() -> None:
        ids = []
        for tenant in ("dept-a", "dept-b"):
            iid = await graded_incident(s, tenant)
            ids.append((await queue(s, iid))["id"])
            ids.append((await queue(s, iid, "follow_up", measures_taken="已封禁攻击源"))["id"])
        async with outbox_of(s, "worker-1") as one, outbox_of(s, "worker-2") as two:
            r1, r2 = await asyncio.gather(one.drain(), two.drain())
        assert sorted(r1.delivered + r2.delivered) == sorted(ids)
        assert not set(r1.delivered) & set(r2.delivered)
        keys = [(await notice_doc(s, i))["idempotency_key"] for i in ids]
        assert sorted(proxy.seen) == sorted(keys)  # each sent exactly once
        for i, key in zip(ids, keys, strict=True):
            doc = await notice_doc(s, i)
            assert doc["state"] == DELIVERED and doc["attempt_count"] == 1
            assert len(world.held(es, key)) == 1

    with running(world.receiver(), rport), running(proxy.app, pport):
        asyncio.run(run())


def test_a_notice_signed_with_the_wrong_key_is_rejected_recorded_and_alerted(world: World,
                                                                             es: Elasticsearch) -> None:
    port = free_port()
    wrong = world.reporting(f"http://127.0.0.1:{port}", wrong_key=True)
    right = world.reporting(f"http://127.0.0.1:{port}")

    async def run() -> None:
        iid = await graded_incident(wrong)
        n = await queue(wrong, iid)
        async with outbox_of(wrong) as ob:
            result = await ob.drain()
            assert result.rejected == [n["id"]] and not result.delivered and not result.retrying
            assert len(result.alerts) == 1
            alert = result.alerts[0]
            assert alert["rule"]["id"] == REJECTED_RULE and alert["labels"]["tenant"] == "dept-a"
            assert "bad_signature" in alert["rule"]["description"]
            doc = await notice_doc(wrong, n["id"])
            assert doc["state"] == REJECTED and doc["attempt_count"] == 1
            assert doc["rejection"]["code"] == "bad_signature" and doc["rejection"]["status"] == 401
            assert doc["attempts"][0]["code"] == "bad_signature"
            await asyncio.sleep(0.6)  # past any backoff: a rejection is still not retried
            again = await ob.drain()
            assert again.rejected == [] and again.alerts == []
        assert (await notice_doc(wrong, n["id"]))["attempt_count"] == 1
        assert world.held(es, n["idempotency_key"]) == []
        # The key fixed, the analyst queues it again: the same bytes, delivered.
        async with outbox_of(right) as ob:
            assert (await ob.requeue(n["id"], "analyst")) is not None
            assert (await ob.drain()).delivered == [n["id"]]
        doc = await notice_doc(right, n["id"])
        assert doc["state"] == DELIVERED and doc["body"] == n["body"]
        assert [a["outcome"] for a in doc["attempts"]] == ["rejected", "requeued", "delivered"]
        assert len(world.held(es, n["idempotency_key"])) == 1

    with running(world.receiver(), port):
        asyncio.run(run())


def test_a_notice_tampered_on_the_way_is_refused_and_the_sender_records_it(world: World, es: Elasticsearch) -> None:
    """A man in the middle lowers the grade in the body: the receiver refuses it (the signature no
    longer holds) and the sender records the rejection with the receiver's code, and alerts."""
    receiver, front = free_port(), free_port()
    proxy = Proxy(f"http://127.0.0.1:{receiver}")
    proxy.tamper = True
    s = world.reporting(f"http://127.0.0.1:{front}")

    async def run() -> None:
        iid = await graded_incident(s)
        n = await queue(s, iid)
        async with outbox_of(s) as ob:
            result = await ob.drain()
        assert result.rejected == [n["id"]] and len(result.alerts) == 1
        doc = await notice_doc(s, n["id"])
        assert doc["state"] == REJECTED and doc["rejection"]["code"] == "bad_signature"
        assert world.held(es, n["idempotency_key"]) == []

    with running(world.receiver(), receiver), running(proxy.app, front):
        asyncio.run(run())


# --------------------------------------------------------------------------- deadlines


def test_an_overdue_notice_raises_exactly_one_alert(world: World) -> None:
    s = world.reporting(f"http://127.0.0.1:{free_port()}")  # down for good

    async def run() -> None:
        iid = await graded_incident(s, discovered_ago=timedelta(hours=5))  # 较大, ordinary: 4 h
        n = await queue(s, iid)
        assert parse_iso(n["due_at"]) < utcnow()
        async with outbox_of(s, "w1") as one, outbox_of(s, "w2") as two:
            assert (await one.drain()).retrying == [n["id"]]
            first = await asyncio.gather(one.check_deadlines(), two.check_deadlines())
            later = [await one.check_deadlines(), await two.check_deadlines()]
            # Two days on, the same notice raises nothing more; what is new is the follow-up owed
            # (every 24 h while the incident is open: reporting/deadlines.yml, local policy).
            days_on = await one.check_deadlines(utcnow() + timedelta(days=2))
            assert [(get_path(a, "soc.notice.kind"), get_path(a, "soc.notice.state")) for a in days_on] == [
                ("follow_up", "missing")]
            assert await two.check_deadlines(utcnow() + timedelta(days=2)) == []
        alerts = [a for batch in first for a in batch]
        assert len(alerts) == 1, alerts
        alert = alerts[0]
        assert alert["rule"]["id"] == OVERDUE_RULE and get_path(alert, "soc.notice.id") == n["id"]
        assert alert["labels"]["tenant"] == "dept-a" and "应于" in alert["rule"]["description"]
        assert all(batch == [] for batch in later)
        doc = await notice_doc(s, n["id"])
        assert doc["overdue_alert_id"] == alert["soc"]["alert"]["id"] and doc["state"] == RETRYING

    asyncio.run(run())


def test_a_notice_owed_and_never_queued_raises_one_alert(world: World) -> None:
    s = world.reporting(f"http://127.0.0.1:{free_port()}")

    async def run() -> None:
        late = await graded_incident(s, discovered_ago=timedelta(hours=5))
        await graded_incident(s, "dept-b", discovered_ago=timedelta(hours=1))  # not due yet
        await graded_incident(s, "dept-b", grade="一般", discovered_ago=timedelta(days=3))  # no deadline
        async with outbox_of(s) as ob:
            alerts = await ob.check_deadlines()
            assert [get_path(a, "soc.notice.incident_id") for a in alerts] == [late]
            assert alerts[0]["rule"]["id"] == OVERDUE_RULE and get_path(alerts[0], "soc.notice.kind") == "initial"
            assert await ob.check_deadlines() == []
            assert await ob.drain() is not None  # the markers are no notices
            assert await ob.search([]) == []

    asyncio.run(run())


# --------------------------------------------------------------------------- the API


def test_the_api_queues_lists_and_scopes_notices(world: World) -> None:
    port = free_port()
    s = world.reporting(f"http://127.0.0.1:{port}")

    async def run() -> None:
        a_inc = await graded_incident(s, "dept-a", grade=None)
        b_inc = await graded_incident(s, "dept-b")
        async with app_client(s) as c:
            csrf = await sign_in(c, "analyst")
            r = await c.post(f"/api/v1/incidents/{a_inc}/notices", headers=csrf, json={"kind": "initial"})
            assert r.status_code == 409 and "定级" in r.text  # not graded yet
            r = await c.post(f"/api/v1/incidents/{a_inc}/grade", headers=csrf,
                             json={"grade": "较大", "reason": "政务外网核心业务系统受影响"})
            assert r.status_code == 200 and r.json()["grade"] == "较大", r.text
            r = await c.post(f"/api/v1/incidents/{a_inc}/notices", headers=csrf,
                             json={"kind": "initial", "impact": "暂无业务影响", "support_requested": "无"})
            assert r.status_code == 201, r.text
            [a_notice] = r.json()["notices"]
            assert a_notice["state"] == "queued" and a_notice["tenant"] == "dept-a" and a_notice["due_status"] == "due"
            r = await c.post(f"/api/v1/incidents/{a_inc}/notices", headers=csrf, json={"kind": "initial"})
            assert r.status_code == 409 and "follow_up" in r.text  # one initial per receiver
            r = await c.post(f"/api/v1/incidents/{a_inc}/notices", headers=csrf, json={"kind": "final"})
            assert r.status_code == 409  # not closed yet
            r = await c.post(f"/api/v1/incidents/{b_inc}/notices", headers=csrf, json={"kind": "initial"})
            b_notice = r.json()["notices"][0]
            assert r.status_code == 201
            r = await c.post(f"/api/v1/incidents/{a_inc}/notices", headers=csrf, json={"kind": "sideways"})
            assert r.status_code == 422

            detail = (await c.get(f"/api/v1/notices/{a_notice['id']}")).json()
            assert problems(detail["body"]) == [] and detail["body"]["impact"] == "暂无业务影响"
            listed = {n["id"] for n in (await c.get("/api/v1/notices", params={"state": "queued"})).json()}
            assert listed == {a_notice["id"], b_notice["id"]}
            assert {n["id"] for n in (await c.get("/api/v1/notices", params={"due": "due"})).json()} == listed
            assert (await c.get("/api/v1/notices", params={"due": "overdue"})).json() == []

            await sign_in(c, "officer-a")
            assert [n["id"] for n in (await c.get("/api/v1/notices")).json()] == [a_notice["id"]]
            assert (await c.get(f"/api/v1/notices/{b_notice['id']}")).status_code == 404
            assert (await c.post(f"/api/v1/incidents/{a_inc}/notices", json={"kind": "follow_up"})).status_code == 403

            await sign_in(c, "regulator")  # nothing reported yet
            assert (await c.get("/api/v1/notices")).json() == []
            assert (await c.get(f"/api/v1/notices/{a_notice['id']}")).status_code == 404

            async with outbox_of(s) as ob:
                assert sorted((await ob.drain()).delivered) == sorted([a_notice["id"], b_notice["id"]])
            got = (await c.get("/api/v1/notices")).json()
            assert {n["id"] for n in got} == {a_notice["id"], b_notice["id"]}
            assert all(n["state"] == "delivered" and n["receipt"]["receipt_id"] for n in got)
            one = (await c.get(f"/api/v1/notices/{a_notice['id']}")).json()
            assert [a["outcome"] for a in one["attempts"]] == ["delivered"]
            assert one["notice"]["due_status"] == "on_time"
            assert {n["id"] for n in (await c.get("/api/v1/notices", params={"due": "on_time"})).json()} == {
                a_notice["id"], b_notice["id"]}

            await sign_in(c, "officer-b")
            assert [n["id"] for n in (await c.get("/api/v1/notices")).json()] == [b_notice["id"]]
            assert (await c.get(f"/api/v1/notices/{a_notice['id']}")).status_code == 404

    with running(world.receiver(), port):
        asyncio.run(run())


def test_notice_ids_and_keys_are_fixed_per_notice(world: World) -> None:
    s = world.reporting(f"http://127.0.0.1:{free_port()}")

    async def run() -> None:
        iid = await graded_incident(s)
        first = await queue(s, iid)
        follow = await queue(s, iid, "follow_up")
        assert follow["sequence"] == 2 and orjson.loads(follow["body"])["previous_notice_id"] == first["id"]
        assert first["idempotency_key"] != follow["idempotency_key"]
        async with outbox_of(s) as ob:
            await ob.drain()
            await wait_due(s, first["id"])
            await wait_due(s, follow["id"])
            await ob.drain()
        for n in (first, follow):
            doc = await notice_doc(s, n["id"])
            assert doc["attempt_count"] == 2 and doc["idempotency_key"] == n["idempotency_key"]
            assert doc["body"] == n["body"]  # every attempt sends the bytes queued

    asyncio.run(run())



# --------------------------------------------------------------------------- the worker


def test_the_worker_drains_the_outbox_and_raises_overdue_alerts_once(tmp_path: Path, es: Elasticsearch,
                                                                      kafka: str) -> None:
    """`soc worker` with reporting configured: its `drain_outbox` timer delivers a queued notice
    (the incident marked reported) and sends one overdue alert, indexed once, for an incident
    whose initial report is owed — however many ticks go by."""
    keys = sm.save_keypair(tmp_path / "keys", "city")
    port = free_port()
    endpoints = [{"name": "province", "urls": [f"http://127.0.0.1:{port}/api/notices"]}]
    env = {"SOC_REPORTING__UNIT": "某市大数据发展管理局", "SOC_REPORTING__CONTACT_NAME": "值班员",
           "SOC_REPORTING__CONTACT_PHONE": "0571-12345678", "SOC_REPORTING__SENDER_ID": SENDER,
           "SOC_REPORTING__KEY_ID": KEY_ID, "SOC_REPORTING__PRIVATE_KEY_FILE": str(keys.private),
           "SOC_REPORTING__PUBLIC_KEY_FILE": str(keys.public), "SOC_REPORTING__INTERVAL_S": "1",
           "SOC_REPORTING__RETRY_BASE_S": "0.5", "SOC_REPORTING__RETRY_MAX_S": "2",
           "SOC_REPORTING__ENDPOINTS": orjson.dumps(endpoints).decode()}
    p = new_pipeline(tmp_path / "pipeline", **env)
    prefix = p.ns.prefix
    s = p.settings.model_copy(update={"reporting": ReportingSettings.model_validate(
        {k.removeprefix("SOC_REPORTING__").lower(): v for k, v in env.items() if k != "SOC_REPORTING__ENDPOINTS"}
        | {"endpoints": endpoints}),
        "assets_file": None})
    receiver = create_province_app(ProvinceConfig(keys={SENDER: {KEY_ID: sm.load_public(keys.public)}},
                                                  data_prefix=f"{prefix}-prov", settings=s))

    async def prepare() -> tuple[str, dict]:
        late = await graded_incident(s, "dept-a", discovered_ago=timedelta(hours=5))  # initial owed since 1 h
        sent = await graded_incident(s, "dept-b")
        return late, await queue(s, sent)

    late, n = asyncio.run(prepare())
    overdue = {"bool": {"filter": [{"term": {"rule.id": OVERDUE_RULE}}]}}
    try:
        with running(receiver, port):
            p.start_worker()
            deadline = time.monotonic() + 180
            while time.monotonic() < deadline:
                doc = es.get(index=f"{prefix}-outbox", id=n["id"])["_source"]["soc"]["notice"]
                if doc["state"] == DELIVERED and doc.get("incident_marked"):
                    break
                time.sleep(0.5)
            else:
                raise AssertionError(f"not delivered: {doc['state']} {doc.get('last_error')}\n{p.tail('worker')}")
            assert wait_for_count(es, f"{prefix}-alerts*", 1, 120, overdue) == 1, p.tail("worker")
            time.sleep(5)  # five more ticks of the timer
            assert count(es, f"{prefix}-alerts*", overdue) == 1
            hit = es.search(index=f"{prefix}-alerts*", query=overdue)["hits"]["hits"][0]["_source"]
            assert get_path(hit, "soc.notice.incident_id") == late and get_path(hit, "soc.notice.kind") == "initial"
            assert hit["labels"]["tenant"] == "dept-a"
        held = f"{prefix}-prov-province-notices"
        es.indices.refresh(index=held)
        assert es.count(index=held, query={"term": {"idempotency_key": n["idempotency_key"]}})["count"] == 1
        assert es.get(index=f"{prefix}-incidents", id=n["incident_id"])["_source"]["soc"]["incident"]["reported"]
        log = p.tail("worker", 500)
        assert "notice outbox drain failed" not in log and "notice deadline check failed" not in log, log
    finally:
        p.stop()
        drop_indices(es, prefix)


PLAYBOOK = """\
id: report-cii-bruteforce
name: 关键设施暴力破解上报
trigger:
  tags: [attack.t1110]
  min_level: high
steps:
  - action: open_incident
  - action: report_upstream
    kind: initial
"""


def test_a_playbook_opens_grades_and_reports_its_incident(world: World, es: Elasticsearch) -> None:
    """The response playbook's `report_upstream`: the incident it opened is graded from its alerts
    (a CII system at level 3 under a high alert: 较大 by reporting/grading.yml) and its initial
    notice reaches the receiver, verified, with the receipt recorded."""
    books = world.tmp / "playbooks"
    books.mkdir()
    (books / "report.yml").write_text(PLAYBOOK, encoding="utf-8")
    inventory = world.tmp / "cii.yaml"
    inventory.write_text("assets:\n  - {name: 关基系统, owner: A局, tenant: dept-a, mlps_level: 3, cii: true, "
                         "criticality: critical, networks: [10.9.0.0/24]}\n", encoding="utf-8")
    from soc.response.service import build

    with running(world.receiver(), free_port()) as url:
        s = world.reporting(url).model_copy(update={
            "assets_file": inventory,
            "response": world.settings.response.model_copy(update={"playbooks_dir": books})})
        when = utcnow() - timedelta(minutes=5)
        alert = Alert(rule_id="r-brute", rule_name="SSH 暴力破解", level="high", group_key="g|cii", first_seen=when,
                      last_seen=when, event_ids=["e-cii-1"], count=12, tags=["attack.t1110"],
                      context={"source": {"ip": "203.0.113.66"}, "destination": {"ip": "10.9.0.5"},
                               "labels": {"tenant": "dept-a"},
                               "soc": {"asset": {"name": "关基系统", "mlps_level": 3, "cii": True,
                                                 "criticality": "critical"}}}).to_doc()

        async def run() -> tuple[list[dict], str]:
            client = async_client(s)
            try:
                items, _ = bulk_items("alerts", s.elastic.index_prefix, [orjson.dumps(alert)])
                await BulkWriter(client, "test", refresh=True).write(items)
                actions = await build(s, client).responder.handle(alert)
            finally:
                await client.close()
            async with outbox_of(s) as ob:
                await ob.drain()
                mine = await ob.of_incident(str(get_path(actions[0], "soc.action.target")))
            return actions, mine[0]["soc"]["notice"]["id"] if mine else ""

        actions, nid = asyncio.run(run())
        kinds = {get_path(a, "soc.action.kind"): a["soc"]["action"] for a in actions}
        assert kinds["report"]["state"] == "applied", kinds["report"]
        assert "较大" in kinds["report"]["reason"]
        notice = asyncio.run(notice_doc(s, nid))
        assert notice["state"] == DELIVERED and notice["receipt"]["receipt_id"]
        held = world.held(es, notice["idempotency_key"])
        assert len(held) == 1
        incident = es.get(index=f"{world.prefix}-incidents", id=kinds["open_incident"]["target"])["_source"]
        assert incident["soc"]["incident"]["grade"] == "较大" and incident["soc"]["incident"]["reported"] is True
