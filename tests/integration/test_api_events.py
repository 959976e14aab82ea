"""Events through the API on the real Elasticsearch: search by query string, export (CSV and
NDJSON, streamed in pages) and the SOC overview, each scoped to the caller's tenants whatever the
query string says; the expected figures are counted here from what the test seeded."""

from __future__ import annotations

import asyncio
import csv
import io
import ipaddress
import re
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import orjson
import pytest
from elasticsearch import Elasticsearch

from soc.api.accounts import Accounts
from soc.api.main import create_app
from soc.api.routers import events as events_router
from soc.config import Settings
from soc.model import Alert, get_path, iso, parse_iso, set_path
from soc.store.bulk import BulkWriter
from soc.store.client import async_client
from soc.store.setup import ensure_templates
from soc.stream.index import bulk_items

from .conftest import drop_indices

pytestmark = pytest.mark.integration
PASSWORD = "正确的口令-Correct-Horse-2"
A, B = "dept-a", "dept-b"
COLUMNS = ["@timestamp", "event.dataset", "event.action", "event.outcome", "source.ip", "source.port",
           "destination.ip", "destination.port", "user.name", "host.name", "soc.asset.name", "labels.tenant",
           "soc.severity", "message", "event.original"]
BULK = 2500  # more than two export pages of 1,000
FORMULA = "=cmd|'/c calc'!A1"
TRICKY = '登录失败, user "admin"\nsecond line, with a comma'
SINCE_ALL = "now-30d"


def event(t0: datetime, tenant: str, eid: str, age_s: float, dataset: str, **fields: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {"@timestamp": iso(t0 - timedelta(seconds=age_s)),
                           "event": {"id": eid, "dataset": dataset}, "labels": {"tenant": tenant}}
    for dotted, value in fields.items():
        set_path(doc, dotted.replace("__", "."), value)
    return doc


def special(tenant: str, eid: str, age_s: float, **fields: Any) -> tuple[tuple[Any, ...], dict[str, Any]]:
    return (tenant, eid, age_s, "special"), fields


SPECIAL = [
    special(A, "a-cn", 100, message="SSH 暴力破解 来自境外 203.0.113.7", **{
        "user__name": "root", "source__ip": "203.0.113.7", "source__port": 52211, "destination__ip": "10.0.0.5",
        "destination__port": 22, "host__name": "web-01", "soc__asset__name": "政务服务网", "soc__severity": "high",
        "event__action": "ssh_login", "event__outcome": "failure",
        "event__original": "Dec  7 11:00:00 web-01 sshd[1]: Failed password for root from 203.0.113.7"}),
    special(A, "a-csv", 110, message=TRICKY, user__name="admin", event__original=f"raw: {TRICKY}"),
    special(A, "a-formula", 120, message=FORMULA, user__name="@SUM(1+1)", host__name="-2+3",
            event__original="\t=1+1"),
    special(A, "a-reverse", 130, message="破解了暴力的说法"),  # the characters, not the phrase
    special(B, "b-cn", 100, message="SSH 暴力破解 dept-b 机密", user__name="root", event__outcome="failure"),
    special(B, "b-formula", 120, message='=HYPERLINK("http://evil.example")'),
]


def seed_events(t0: datetime) -> list[dict[str, Any]]:
    """Events of two tenants at known ages before t0: tricky text; a bulk larger than two export
    pages (10 to 50 minutes old); the last 5 minutes; the last day; the last week."""
    rows = [
        *SPECIAL,
        *(((A, f"a-bulk-{k:04d}", 600 + k * 0.96, "bulk"), {"user__name": f"u{k % 7}"}) for k in range(BULK)),
        *(((B, f"b-bulk-{k:04d}", 600 + k * 10, "bulk"), {}) for k in range(200)),
        *(((A, f"a-recent-{k}", 20 + k * 6, "recent"), {}) for k in range(30)),
        *(((B, f"b-recent-{k}", 20 + k * 10, "recent"), {}) for k in range(15)),
        *(((A, f"a-day-{k}", 7200 + k * 1600, "day"), {}) for k in range(40)),
        *(((B, f"b-day-{k}", 7200 + k * 6000, "day"), {}) for k in range(10)),
        *(((A, f"a-old-{k}", 3 * 86400 + k * 60, "old"), {}) for k in range(5)),
        *(((B, f"b-old-{k}", 3 * 86400 + k * 60, "old"), {}) for k in range(5)),
    ]
    return [event(t0, *args, **fields) for args, fields in rows]


CN = {"country_iso_code": "CN", "location": {"lat": 39.9, "lon": 116.4}}
US = {"country_iso_code": "US", "location": {"lat": 37.7, "lon": -122.4}}
RU = {"country_iso_code": "RU", "location": {"lat": 55.7, "lon": 37.6}}
# tenant, level, source ip, network.direction, geo, asset, ATT&CK tags, age in seconds
ALERTS: list[tuple[str, str, str | None, str | None, dict[str, Any] | None, str | None, list[str], int]] = [
    (A, "high", "203.0.113.7", None, CN, "政务服务网", ["attack.credential_access", "attack.t1110.001"], 600),
    (A, "high", "203.0.113.7", None, CN, "政务服务网", ["attack.credential_access", "attack.t1110.001"], 900),
    (A, "critical", "203.0.113.7", "inbound", CN, "社保系统", ["attack.initial_access", "attack.t1190"], 1200),
    (A, "medium", "198.51.100.20", None, None, "政务服务网", ["attack.discovery", "attack.t1046"], 1500),
    (A, "low", "10.1.2.3", "internal", None, "社保系统", ["attack.discovery", "attack.t1046"], 1800),
    (A, "medium", "192.168.7.7", "inbound", None, None, [], 2000),
    (A, "informational", "203.0.113.50", None, US, None, [], 3 * 3600),
    (A, "critical", "172.16.5.5", None, None, "政务服务网", ["attack.credential_access", "attack.t1110"], 2 * 86400),
    (A, "low", None, None, None, "政务服务网", [], 2400),
    (B, "critical", "203.0.113.99", "inbound", RU, "B系统", ["attack.initial_access", "attack.t1190"], 600),
    (B, "high", "203.0.113.7", None, CN, "B系统", ["attack.credential_access", "attack.t1110"], 700),
    (B, "low", "203.0.113.99", None, RU, "B系统", ["attack.impact", "attack.t1499"], 3 * 3600),
]
SEVERITIES = ["critical", "high", "medium", "low", "informational"]
PRIVATE = [ipaddress.ip_network(n) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16")]


def alert_doc(t0: datetime, k: int, row: tuple[Any, ...]) -> bytes:
    tenant, level, src, direction, geo, asset, tags, age = row
    ts = t0 - timedelta(seconds=age)
    context: dict[str, Any] = {"labels": {"tenant": tenant}}
    if src:
        context["source"] = {"ip": src, **({"geo": geo} if geo else {})}
    if direction:
        context["network"] = {"direction": direction}
    if asset:
        context["soc"] = {"asset": {"name": asset}}
    doc = Alert(rule_id=f"r-{k}", rule_name=f"规则 {k}", level=level, group_key=f"g{k}", first_seen=ts, last_seen=ts,
                event_ids=[f"x{k}"], count=1, tags=tags, context=context).to_doc()
    return orjson.dumps(doc)


def ms(ts: str) -> int:
    return int(parse_iso(ts).timestamp() * 1000)


def bucket(ts_ms: int, step_s: int) -> str:
    key = ts_ms - ts_ms % (step_s * 1000)
    return datetime.fromtimestamp(key / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def expected_overview(seeded: list[dict[str, Any]], t0: datetime, tenants: set[str], window_s: int,
                      step_s: int) -> dict[str, Any]:
    """The overview's figures, counted from the seeds."""
    evs = [e for e in seeded if e["labels"]["tenant"] in tenants
           and (t0 - parse_iso(e["@timestamp"])).total_seconds() <= window_s]
    recent = [e for e in evs if (t0 - parse_iso(e["@timestamp"])).total_seconds() <= 300]
    als = [a for a in ALERTS if a[0] in tenants and a[7] <= window_s]
    ext = [a for a in als if a[2] and (a[3] == "inbound"
                                       or not any(ipaddress.ip_address(a[2]) in n for n in PRIVATE))]
    per_bucket: dict[str, Counter[str]] = {}
    for a in als:
        per_bucket.setdefault(bucket(ms(iso(t0 - timedelta(seconds=a[7]))), step_s), Counter())[a[1]] += 1
    techniques: dict[str, tuple[str, int]] = {}
    for a in als:
        tech = next((t.split(".")[1].upper() for t in a[6] if t.startswith("attack.t")), None)
        tactic = next((t.split(".")[1].replace("_", " ").title() for t in a[6] if not t.startswith("attack.t")), None)
        if tech:
            techniques[tech] = (str(tactic), techniques.get(tech, ("", 0))[1] + 1)
    geo = {a[2]: a[4] for a in ext}
    return {
        "events_total": len(evs),
        "events_per_second": len(recent) / 300,
        "events_over_time": Counter(bucket(ms(e["@timestamp"]), step_s) for e in evs),
        "alerts_by_severity": {s: sum(1 for a in als if a[1] == s) for s in SEVERITIES},
        "alerts_over_time": {t: {s: c[s] for s in SEVERITIES} for t, c in per_bucket.items()},
        "top_sources": {ip: (n, (geo[ip] or {}).get("country_iso_code"), (geo[ip] or {}).get("location"))
                        for ip, n in Counter(a[2] for a in ext).items()},
        "top_systems": dict(Counter(a[5] for a in als if a[5])),
        "techniques": techniques,
    }


def check_overview(got: dict[str, Any], want: dict[str, Any], since: str, step_s: int, window_s: int) -> None:
    assert got["since"] == since
    assert got["events_total"] == want["events_total"]
    assert got["events_per_second"] == pytest.approx(want["events_per_second"], abs=0.001)
    times = [parse_iso(b["t"]) for b in got["events_over_time"]]
    assert all(b - a == timedelta(seconds=step_s) for a, b in zip(times, times[1:], strict=False))
    assert window_s // step_s <= len(times) <= window_s // step_s + 1  # the whole window, empty buckets too
    assert {b["t"]: b["count"] for b in got["events_over_time"] if b["count"]} == want["events_over_time"]
    assert got["alerts_by_severity"] == want["alerts_by_severity"]
    assert [b["t"] for b in got["alerts_over_time"]] == [b["t"] for b in got["events_over_time"]]
    assert all(set(b) == {"t", *SEVERITIES} for b in got["alerts_over_time"])
    assert {b["t"]: {s: b[s] for s in SEVERITIES} for b in got["alerts_over_time"]
            if any(b[s] for s in SEVERITIES)} == want["alerts_over_time"]
    sources = {s["ip"]: s for s in got["top_sources"]}
    assert set(sources) == set(want["top_sources"])
    for ip, (count, country, location) in want["top_sources"].items():
        assert (sources[ip]["count"], sources[ip]["country"]) == (count, country), ip
        if location:
            assert sources[ip]["lat"] == pytest.approx(location["lat"], abs=1e-4)
            assert sources[ip]["lon"] == pytest.approx(location["lon"], abs=1e-4)
        else:
            assert sources[ip]["lat"] is None and sources[ip]["lon"] is None
    assert {s["system"]: s["count"] for s in got["top_systems"]} == want["top_systems"]
    assert {t["technique"]: (t["tactic"], t["count"]) for t in got["techniques"]} == want["techniques"]


def expected_cell(value: Any) -> str:
    text = "" if value is None else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") and text else text


def read_csv(body: bytes) -> list[dict[str, str]]:
    assert body.startswith(b"\xef\xbb\xbf"), body[:20]
    rows = list(csv.reader(io.StringIO(body.decode("utf-8-sig"), newline="")))
    assert rows[0] == COLUMNS
    return [dict(zip(COLUMNS, r, strict=True)) for r in rows[1:]]


def read_ndjson(body: bytes) -> list[dict[str, Any]]:
    assert body == b"" or body.endswith(b"\n")
    return [orjson.loads(line) for line in body.splitlines()]


def ids(docs: list[dict[str, Any]]) -> list[str]:
    return [d["event"]["id"] for d in docs]


def newest(seeded: list[dict[str, Any]], tenant: str, dataset: str) -> list[dict[str, Any]]:
    docs = [e for e in seeded if e["labels"]["tenant"] == tenant and e["event"]["dataset"] == dataset]
    return sorted(docs, key=lambda e: (e["@timestamp"], e["event"]["id"]), reverse=True)


def test_search_export_overview(base_settings: Settings, es: Elasticsearch, monkeypatch: pytest.MonkeyPatch) -> None:
    prefix = f"apev{uuid.uuid4().hex[:8]}"
    s = base_settings.model_copy(update={"elastic": base_settings.elastic.model_copy(update={"index_prefix": prefix})})
    t0 = datetime.now(UTC)
    seeded = seed_events(t0)
    a_all = sum(1 for e in seeded if e["labels"]["tenant"] == A)

    async def run() -> None:
        await ensure_templates(s)
        raw = async_client(s)
        try:
            writer = BulkWriter(raw, "test", refresh=True)
            for kind, batch in (("events", [orjson.dumps(e) for e in seeded]),
                                ("alerts", [alert_doc(t0, k, row) for k, row in enumerate(ALERTS)])):
                items, dead = bulk_items(kind, prefix, batch)
                assert not dead and (await writer.write(items)).written == len(items)
            acc = Accounts(raw, prefix, s.api)
            for name, roles, tenants in (("officer-a", ["officer"], [A]), ("analyst", ["analyst"], ["*"]),
                                         ("sysadmin", ["sysadmin"], ["*"]), ("auditor", ["auditadmin"], ["*"]),
                                         ("regulator", ["regulator"], ["*"])):
                await acc.put_user(name, PASSWORD, roles, tenants)
            token = await acc.new_token("soar", ["automation"], [A], 3600, datetime.now(UTC))
        finally:
            await raw.close()

        app = create_app(s)
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)

            async def client(name: str) -> httpx.AsyncClient:
                c = httpx.AsyncClient(transport=transport, base_url="http://soc", timeout=60)
                assert (await c.post("/api/v1/auth/login", json={"username": name, "password": PASSWORD})).is_success
                return c

            officer, analyst = await client("officer-a"), await client("analyst")
            others = [await client(n) for n in ("sysadmin", "auditor", "regulator")]
            robot = httpx.AsyncClient(transport=transport, base_url="http://soc",
                                      headers={"Authorization": f"Bearer {token}"})
            try:
                await searches(officer, analyst, robot)
                await exports(officer, analyst)
                await overviews(officer, analyst)
                for c in others:  # sysadmin, auditadmin, regulator: none of the three
                    for path in ("/api/v1/events", "/api/v1/events/export", "/api/v1/overview"):
                        assert (await c.get(path)).status_code == 403, path
                for path, code in (("/api/v1/events", 200), ("/api/v1/events/export", 403), ("/api/v1/overview", 403)):
                    assert (await robot.get(path)).status_code == code, path
                assert (await httpx.AsyncClient(transport=transport, base_url="http://soc").get(
                    "/api/v1/events")).status_code == 401
            finally:
                for c in (officer, analyst, robot, *others):
                    await c.aclose()

    async def searches(officer: httpx.AsyncClient, analyst: httpx.AsyncClient, robot: httpx.AsyncClient) -> None:
        async def find(c: httpx.AsyncClient, q: str, **params: Any) -> dict[str, Any]:
            r = await c.get("/api/v1/events", params={"q": q, "since": SINCE_ALL, "size": 500, **params})
            assert r.status_code == 200, (q, r.text)
            return r.json()

        # A run of Chinese characters matches as a phrase, quoted or not; only the caller's tenant.
        for q in ('message:"暴力破解"', "暴力破解", 'message:暴力破解 AND event.dataset:special'):
            assert ids((await find(officer, q))["events"]) == ["a-cn"], q
        assert sorted(ids((await find(analyst, "暴力破解"))["events"])) == ["a-cn", "b-cn"]
        assert ids((await find(officer, "user.name:root AND event.outcome:failure"))["events"]) == ["a-cn"]
        assert ids((await find(officer, 'source.ip:"203.0.113.0/24"'))["events"]) == ["a-cn"]
        assert ids((await find(robot, "user.name:root"))["events"]) == ["a-cn"]  # automation, scoped to dept-a
        # Newest first; size bounds the page, total counts them all.
        assert ids((await find(officer, "event.dataset:special"))["events"]) == [
            "a-cn", "a-csv", "a-formula", "a-reverse"]
        page = await find(officer, "event.dataset:bulk", size=25)
        assert page["total"] == BULK and ids(page["events"]) == ids(newest(seeded, A, "bulk"))[:25]
        # The time range: date math, ISO-8601 with an offset, and naive ISO-8601 (UTC).
        window = {"since": iso(t0 - timedelta(seconds=125)), "until": iso(t0 - timedelta(seconds=105))}
        assert ids((await find(officer, "event.dataset:special", **window))["events"]) == ["a-csv", "a-formula"]
        naive = {k: v.removesuffix("Z") for k, v in window.items()}
        assert ids((await find(officer, "event.dataset:special", **naive))["events"]) == ["a-csv", "a-formula"]
        assert (await find(officer, "event.dataset:day", since="now-1h"))["total"] == 0
        assert (await find(officer, "event.dataset:day", since="now-1d/d", until="now"))["total"] > 0

        # No query string reaches another tenant's events.
        assert (await find(officer, "*"))["total"] == a_all
        assert (await find(analyst, "*"))["total"] == len(seeded)
        escapes = {"labels.tenant:dept-b": 0, "labels.tenant:dept-b OR labels.tenant:dept-a": a_all, "*": a_all,
                   "*:*": a_all, "_index:*": a_all, "NOT labels.tenant:dept-a": 0, "event.id:b-cn": 0,
                   'message:"暴力破解" OR labels.tenant:dept-b': 1, f"_index:{prefix}* OR event.id:b-cn": a_all}
        for q, total in escapes.items():
            got = await find(officer, q)
            assert got["total"] == total and all(e["labels"]["tenant"] == A for e in got["events"]), q
        assert (await officer.get("/api/v1/events", params={"q": ") OR (labels.tenant:dept-b"})).status_code == 422

        # A bad query string or time is the caller's mistake: 422 with Elasticsearch's reason, not 500.
        for q in ("a AND (", 'message:"unclosed', "user.name:[a TO"):
            r = await officer.get("/api/v1/events", params={"q": q, "since": SINCE_ALL})
            assert r.status_code == 422, (q, r.text)
            assert r.json()["detail"][0]["msg"].startswith("查询无效 (invalid query): "), r.text
        # Over the last 24 h Elasticsearch skips the older daily indices; the query still fails whole.
        r = await officer.get("/api/v1/events", params={"q": "a AND ("})
        assert r.status_code == 422 and "Cannot parse" in r.json()["detail"][0]["msg"], r.text
        for params in ({"since": "yesterday"}, {"until": "now-1x"}, {"since": "2026-13-45"}, {"size": 501},
                       {"size": 0}):
            assert (await officer.get("/api/v1/events", params=params)).status_code == 422, params

    async def exports(officer: httpx.AsyncClient, analyst: httpx.AsyncClient) -> None:
        async def export(c: httpx.AsyncClient, q: str, fmt: str, **params: Any) -> httpx.Response:
            r = await c.get("/api/v1/events/export", params={"q": q, "format": fmt, "since": SINCE_ALL, **params})
            assert r.status_code == 200, (q, r.text)
            assert re.fullmatch(rf"attachment; filename=events-\d{{8}}T\d{{6}}Z\.{fmt}",
                                r.headers["content-disposition"]), r.headers
            return r

        # CSV: BOM, the fixed columns, tricky values back as written, formulas neutralised.
        r = await export(officer, "event.dataset:special", "csv")
        assert r.headers["content-type"].startswith("text/csv")
        rows = read_csv(r.content)
        want = newest(seeded, A, "special")
        assert len(rows) == len(want) == 4
        for row, doc in zip(rows, want, strict=True):
            assert row == {c: expected_cell(get_path(doc, c)) for c in COLUMNS}, doc["event"]["id"]
        by_id = dict(zip(ids(want), rows, strict=True))
        assert by_id["a-formula"]["message"] == "'" + FORMULA
        assert by_id["a-formula"]["user.name"] == "'@SUM(1+1)"
        assert by_id["a-formula"]["host.name"] == "'-2+3"
        assert by_id["a-formula"]["event.original"] == "'\t=1+1"
        assert by_id["a-csv"]["message"] == TRICKY and by_id["a-csv"]["event.original"] == f"raw: {TRICKY}"
        assert by_id["a-cn"]["message"] == "SSH 暴力破解 来自境外 203.0.113.7"
        assert (by_id["a-cn"]["source.port"], by_id["a-cn"]["soc.asset.name"]) == ("52211", "政务服务网")
        assert not any(cell.startswith(("=", "+", "-", "@", "\t", "\r")) for row in rows for cell in row.values())

        # NDJSON: the documents as stored, one a line.
        r = await export(officer, "event.dataset:special", "ndjson")
        assert r.headers["content-type"].startswith("application/x-ndjson")
        assert read_ndjson(r.content) == want

        # limit bounds it; larger than a page comes out whole, without duplicates, newest first;
        # and the same without a point in time (the fallback for a cluster lacking it).
        bulk_ids = ids(newest(seeded, A, "bulk"))
        assert events_router.PAGE < BULK
        assert len(read_csv((await export(officer, "event.dataset:bulk", "csv", limit=7)).content)) == 7
        got = read_ndjson((await export(officer, "event.dataset:bulk", "ndjson", limit=1500)).content)
        assert ids(got) == bulk_ids[:1500]
        for use_pit in (True, False):
            monkeypatch.setattr(events_router, "USE_PIT", use_pit)
            got = read_ndjson((await export(officer, "event.dataset:bulk", "ndjson", limit=100_000)).content)
            assert ids(got) == bulk_ids and len(set(ids(got))) == BULK, use_pit
        rows = read_csv((await export(officer, "event.dataset:bulk", "csv")).content)
        assert [r["@timestamp"] for r in rows] == [e["@timestamp"] for e in newest(seeded, A, "bulk")]
        assert (await officer.get("/api/v1/events/export", params={"limit": 100_001})).status_code == 422
        assert (await officer.get("/api/v1/events/export", params={"limit": 0})).status_code == 422

        # Tenant scope: nothing of dept-b, whatever the query string.
        got = read_ndjson((await export(officer, "labels.tenant:dept-b OR *", "ndjson", limit=100_000)).content)
        assert len(got) == a_all and {d["labels"]["tenant"] for d in got} == {A}
        assert read_csv((await export(officer, "labels.tenant:dept-b", "csv")).content) == []
        assert read_ndjson((await export(officer, "_index:* AND event.id:b-*", "ndjson")).content) == []
        got = read_ndjson((await export(analyst, "event.dataset:special", "ndjson")).content)
        assert {d["labels"]["tenant"] for d in got} == {A, B}

        # Every download is in the audit trail: who, which query, how much.
        es.indices.refresh(index=f"{prefix}-audit")
        trail = [h["_source"] for h in es.search(index=f"{prefix}-audit", size=100, query={
            "term": {"action": "GET /api/v1/events/export"}})["hits"]["hits"]]
        assert ("officer-a", "labels.tenant:dept-b OR *", "ndjson") in {
            (t["actor"], t["details"]["q"], t["details"]["format"]) for t in trail}

        # A bad query string answers 422 before any byte of a file.
        for fmt in ("csv", "ndjson"):
            r = await officer.get("/api/v1/events/export", params={"q": "a AND (", "format": fmt})
            assert r.status_code == 422 and r.json()["detail"][0]["msg"].startswith("查询无效"), r.text
        assert (await officer.get("/api/v1/events/export", params={"format": "xlsx"})).status_code == 422
        # Every point in time an export opened is closed again (the 422 ones too).
        stats = es.indices.stats(index=f"{prefix}-events-*", metric="search")
        assert stats["_all"]["total"]["search"]["open_contexts"] == 0

    async def overviews(officer: httpx.AsyncClient, analyst: httpx.AsyncClient) -> None:
        for since, window_s, step_s in (("now-1h", 3600, 60), ("now-24h", 86400, 1800), ("now-7d", 7 * 86400, 10800)):
            r = await officer.get("/api/v1/overview", params={"since": since})
            assert r.status_code == 200, r.text
            check_overview(r.json(), expected_overview(seeded, t0, {A}, window_s, step_s), since, step_s, window_s)
        r = await analyst.get("/api/v1/overview", params={"since": "now-1h"})
        check_overview(r.json(), expected_overview(seeded, t0, {A, B}, 3600, 60), "now-1h", 60, 3600)
        assert (await officer.get("/api/v1/overview")).json()["since"] == "now-24h"
        for since in ("now-0m", "now-400d", "yesterday", "now-1y"):
            assert (await officer.get("/api/v1/overview", params={"since": since})).status_code == 422, since

    try:
        asyncio.run(run())
    finally:
        drop_indices(es, prefix)
