"""Response on the real Elasticsearch and a real nftables set in a network namespace: an alert's
playbook blocks its source (store, feed, kernel), packets from it are dropped while others pass,
and at its TTL the block is lifted; allowlist, simulate, approval, idempotency, escalation,
restart and adapter failure."""

from __future__ import annotations

import asyncio
import ipaddress
import json
import threading
import time
import uuid
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from elasticsearch import Elasticsearch

from soc.config import AllowEntry, Settings
from soc.model import Alert, get_path
from soc.netns import NetLab
from soc.response.adapters.nftables import NftablesAdapter, NftablesConfig
from soc.response.blocks import ACTIVE, APPROVED, EXPIRED, PENDING
from soc.response.feed import feed_app
from soc.response.service import build
from soc.store.client import async_client
from soc.store.setup import ensure_templates

from .conftest import drop_indices

pytestmark = pytest.mark.integration

PLAYBOOK = """\
id: block-test
name: 测试封禁
simulate: {simulate}
trigger:
  tags: [attack.t1110]
  min_level: high
steps:
  - action: {action}
    ttl: {ttl}
    {extra}
    escalate: {{factor: 2, max: 1h}}
    devices: [feed, nftables]
"""


def settings_for(base: Settings, tmp: Path, lab: NetLab, *, simulate: bool = False, ttl: str = "4s",
                 action: str = "block_ip", extra: str = "", allow: list[dict[str, str]] | None = None,
                 namespace: str | None = None) -> Settings:
    books = tmp / f"playbooks-{uuid.uuid4().hex[:6]}"
    books.mkdir()
    (books / "block.yml").write_text(PLAYBOOK.format(simulate=str(simulate).lower(), ttl=ttl, action=action,
                                                     extra=extra), encoding="utf-8")
    response = base.response.model_copy(update={
        "playbooks_dir": books, "nftables": {"namespace": namespace or lab.name},
        "allowlist": [AllowEntry(**a) for a in (allow or [])],
        "apply_attempts": 2,
    })
    elastic = base.elastic.model_copy(update={"index_prefix": f"resp{uuid.uuid4().hex[:8]}"})
    return base.model_copy(update={"response": response, "elastic": elastic})


def alert(source: str, alert_id: str = "a1", revision: int = 1) -> dict[str, Any]:
    """An alert as the detect stage writes it (soc.model.Alert), with a chosen id and revision."""
    now = datetime.now(UTC)
    doc = Alert(rule_id="r-brute", rule_name="SSH 暴力破解", level="high", group_key=f"g|{source}", first_seen=now,
                last_seen=now, event_ids=["e1"], count=5, tags=["attack.credential_access", "attack.t1110.001"],
                context={"source": {"ip": source}, "network": {"direction": "inbound"}}).to_doc()
    doc["soc"]["alert"]["id"] = alert_id
    doc["soc"]["alert"]["revision"] = revision
    return doc


def states(actions: list[dict[str, Any]]) -> list[tuple[str, str, str]]:
    return [(get_path(a, "soc.action.kind"), get_path(a, "soc.action.state"), get_path(a, "soc.action.device") or "")
            for a in actions]


async def feed(s: Settings) -> list[str]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=feed_app(s)), base_url="http://feed") as c:
        r = await c.get("/blocklist.txt")
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
        return r.text.split()


async def wait_until(predicate: Any, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not await predicate():
        assert time.monotonic() < deadline, "condition not reached"
        await asyncio.sleep(0.5)


def test_a_blocked_source_is_dropped_then_released_at_its_ttl(tmp_path: Path, base_settings: Settings,
                                                               es: Elasticsearch, lab: NetLab) -> None:
    s = settings_for(base_settings, tmp_path, lab)

    async def run() -> None:
        await ensure_templates(s)
        client = async_client(s)
        try:
            r = build(s, client)
            assert r.problems == []
            assert lab.reaches(lab.attacker) and lab.reaches(lab.bystander)
            actions = await r.responder.handle(alert(lab.attacker))
            assert ("block_ip", "applied", "nftables") in states(actions)
            assert ("block_ip", "applied", "feed") in states(actions)
            nft = NftablesAdapter(NftablesConfig(namespace=lab.name))
            assert await nft.elements() == [lab.attacker]
            assert await feed(s) == [lab.attacker]
            assert not lab.reaches(lab.attacker), "a packet from the blocked source passed"
            assert lab.reaches(lab.bystander), "a packet from another source was dropped"
            # The same alert again (a later revision): one block, nothing new on the devices' side.
            await r.responder.handle(alert(lab.attacker, revision=2))
            [block] = await r.enforcer.store.search({"match_all": {}})
            assert block.state == ACTIVE and block.offenses == 1 and block.alert_ids == ["a1"]

            # The TTL passes: the sweep lifts it everywhere and traffic passes again.
            async def lifted() -> bool:
                acts, _ = await r.enforcer.sweep()
                return any(get_path(a, "soc.action.kind") == "unblock" for a in acts)

            await wait_until(lifted)
            assert (await r.enforcer.store.get("all", lab.attacker)).state == EXPIRED  # type: ignore[union-attr]
            assert await nft.elements() == []
            assert await feed(s) == []
            assert lab.reaches(lab.attacker)

            # A repeat offender: the next block lasts twice as long.
            await r.responder.handle(alert(lab.attacker, "a2"))
            again = await r.enforcer.store.get("all", lab.attacker)
            assert again is not None and again.state == ACTIVE and again.offenses == 2 and again.ttl_seconds == 8
        finally:
            await client.close()

    try:
        asyncio.run(run())
    finally:
        drop_indices(es, s.elastic.index_prefix)


def test_allowlist_simulate_and_approval(tmp_path: Path, base_settings: Settings, es: Elasticsearch,
                                         lab: NetLab) -> None:
    allow = [{"cidr": f"{lab.attacker}/30", "reason": "省平台测试段"}]
    plain = settings_for(base_settings, tmp_path, lab, allow=allow)
    sim = settings_for(base_settings, tmp_path, lab, simulate=True)
    wide = settings_for(base_settings, tmp_path, lab, action="block_cidr", extra="prefix: 16", ttl="1h")
    nft = NftablesAdapter(NftablesConfig(namespace=lab.name))

    async def run() -> None:
        for s in (plain, sim, wide):
            await ensure_templates(s)
        clients = [async_client(s) for s in (plain, sim, wide)]
        try:
            # An allowlisted source is never blocked, though its rule fired.
            r = build(plain, clients[0])
            acts = await r.responder.handle(alert(lab.attacker))
            assert states(acts) == [("block_ip", "reverted", "")]
            assert "省平台测试段" in get_path(acts[0], "soc.action.reason")
            assert await r.enforcer.store.get("all", lab.attacker) is None and await nft.elements() == []

            # Simulate: the decision is recorded, nothing is applied.
            r = build(sim, clients[1])
            acts = await r.responder.handle(alert(lab.attacker))
            assert states(acts) == [("block_ip", "proposed", "")] and get_path(acts[0], "soc.action.simulated")
            assert await r.enforcer.store.get("all", lab.attacker) is None and await nft.elements() == []

            # A /16 waits for approval; the sweep does not apply it; approved, it is applied once.
            r = build(wide, clients[2])
            acts = await r.responder.handle(alert(lab.attacker))
            assert states(acts) == [("block_ip", "proposed", "")]
            [pending] = await r.enforcer.store.by_state(PENDING)
            wide16 = str(ipaddress.ip_network(f"{lab.attacker}/16", strict=False))
            assert pending.target == wide16 and "/16" in pending.approval_reason
            assert (await r.enforcer.sweep())[0] == [] and await nft.elements() == []
            pending.state = APPROVED
            assert await r.enforcer.store.put(pending)
            other = build(wide, clients[2])  # a second worker sweeping at the same time
            (a1, _), (a2, _) = await asyncio.gather(r.enforcer.sweep(), other.enforcer.sweep())
            applied = [a for a in a1 + a2 if get_path(a, "soc.action.device") == "nftables"]
            assert [get_path(a, "soc.action.state") for a in applied] == ["applied"]  # exactly once
            assert await nft.elements() == [wide16]
            assert not lab.reaches(lab.attacker) and not lab.reaches(lab.bystander)  # the whole /16
        finally:
            for c in clients:
                await c.close()

    try:
        asyncio.run(run())
    finally:
        for s in (plain, sim, wide):
            drop_indices(es, s.elastic.index_prefix)


def test_a_restart_keeps_the_ttl_and_a_failing_device_raises_an_alert(tmp_path: Path, base_settings: Settings,
                                                                      es: Elasticsearch, lab: NetLab) -> None:
    s = settings_for(base_settings, tmp_path, lab, ttl="3s")
    broken = settings_for(base_settings, tmp_path, lab, namespace="soc-no-such-namespace", ttl="1h")
    nft = NftablesAdapter(NftablesConfig(namespace=lab.name))

    async def run() -> None:
        await ensure_templates(s)
        await ensure_templates(broken)
        c1, c2, c3 = async_client(s), async_client(s), async_client(broken)
        try:
            await build(s, c1).responder.handle(alert(lab.attacker))
            assert await nft.elements() == [lab.attacker]
            await c1.close()  # the worker dies with the block in force

            restarted = build(s, c2)  # ...and a new one starts after its TTL

            async def expired() -> bool:
                await restarted.enforcer.sweep()
                b = await restarted.enforcer.store.get("all", lab.attacker)
                return b is not None and b.state == EXPIRED

            await wait_until(expired)
            assert await nft.elements() == [] and lab.reaches(lab.attacker)

            # A device that cannot be reached: failed actions, retries, then an alert.
            r = build(broken, c3)
            acts = await r.responder.handle(alert(lab.attacker))
            failed = [a for a in acts if get_path(a, "soc.action.device") == "nftables"]
            assert [get_path(a, "soc.action.state") for a in failed] == ["failed"]
            assert "soc-no-such-namespace" in get_path(failed[0], "soc.action.reason")
            raised: list[dict[str, Any]] = []

            async def gave_up() -> bool:
                _, alerts = await r.enforcer.sweep()
                raised.extend(alerts)
                return bool(raised)

            await wait_until(gave_up, 60)
            assert get_path(raised[0], "rule.name") == "封禁执行失败"
            assert get_path(raised[0], "source.ip") == lab.attacker
        finally:
            for c in (c2, c3):
                await c.close()

    try:
        asyncio.run(run())
    finally:
        drop_indices(es, s.elastic.index_prefix)
        drop_indices(es, broken.elastic.index_prefix)


FULL = """\
id: full-test
name: 全流程测试
trigger: {tags: [attack.t1110], min_level: high}
steps:
  - action: enrich
    history: 1h
  - action: block_ip
    ttl: 1h
    devices: [feed]
  - action: notify
    channel: duty
    template: block_notice
  - action: open_incident
on_failure: continue
"""


def recorder(answer: bytes) -> tuple[ThreadingHTTPServer, list[tuple[str, str, Any]]]:
    """A local HTTP server (a chat robot, a firewall API) that answers `answer` and records each
    request as (method, path, JSON body)."""
    calls: list[tuple[str, str, Any]] = []

    class Handler(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            calls.append((self.command, self.path, json.loads(self.rfile.read(length)) if length else None))
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(answer)

        do_POST = do_DELETE = _answer  # noqa: N815 - the http.server API

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, calls


def test_enrichment_notice_and_incident(tmp_path: Path, base_settings: Settings, es: Elasticsearch,
                                        lab: NetLab) -> None:
    intel = tmp_path / "intel.csv"
    intel.write_text(f"# 本地情报\n{lab.attacker}/30,已知扫描源,CNCERT 通报\n", encoding="utf-8")
    books = tmp_path / "full"
    books.mkdir()
    (books / "full.yml").write_text(FULL, encoding="utf-8")
    (books / "templates").symlink_to(Path(__file__).resolve().parents[2] / "playbooks" / "templates")
    server, received = recorder(b"{}")
    s = settings_for(base_settings, tmp_path, lab)
    s = s.model_copy(update={"response": s.response.model_copy(update={
        "playbooks_dir": books, "threat_intel_file": intel,
        "channels": {"duty": {"type": "webhook", "url": f"http://127.0.0.1:{server.server_port}/hook"}}})})

    async def run() -> None:
        await ensure_templates(s)
        client = async_client(s)
        try:
            r = build(s, client)
            assert r.warnings == []
            acts = await r.responder.handle(alert(lab.attacker, "a1"))
            reasons = " | ".join(get_path(a, "soc.action.reason") for a in acts)
            assert "情报命中" in reasons and "已知扫描源" in reasons, reasons
            assert ("notify", "applied", "") in states(acts), reasons
            [(_, _, notice)] = received
            assert lab.attacker in notice["body"] and "封禁" in notice["subject"] + notice["body"]
            [incident] = [a for a in acts if get_path(a, "soc.action.kind") == "open_incident"]
            assert get_path(incident, "soc.action.state") == "applied" and "新开事件" in get_path(incident, "soc.action.reason")
            # The same group again: the open incident is updated, not duplicated.
            again = await r.responder.handle(alert(lab.attacker, "a2"))
            [inc2] = [a for a in again if get_path(a, "soc.action.kind") == "open_incident"]
            assert get_path(inc2, "soc.action.target") == get_path(incident, "soc.action.target")
            doc = await client.get(index=f"{s.elastic.index_prefix}-incidents", id=get_path(incident, "soc.action.target"))
            assert doc["_source"]["soc"]["incident"]["alert_ids"] == ["a1", "a2"]
        finally:
            await client.close()

    try:
        asyncio.run(run())
    finally:
        server.shutdown()
        drop_indices(es, s.elastic.index_prefix)


def test_rate_limit_allowlist_revocation_and_a_rest_firewall(tmp_path: Path, base_settings: Settings,
                                                            es: Elasticsearch, lab: NetLab) -> None:
    server, calls = recorder(b'{"code": 0, "msg": "success"}')  # a vendor-style firewall API
    fw = {"name": "dc-ngfw", "base_url": f"http://127.0.0.1:{server.server_port}",
          "success_json": {"path": "code", "equals": 0},
          "block": {"method": "POST", "path": "/v1/blacklist",
                    "body": '{"ip": "{{ ip }}", "mask": {{ prefix }}, "age": {{ ttl_min }}}'},
          "unblock": {"method": "DELETE", "path": "/v1/blacklist/{{ ip }}"}}
    s = settings_for(base_settings, tmp_path, lab, ttl="1h")
    s = s.model_copy(update={"response": s.response.model_copy(update={
        "rest_adapters": [fw], "max_blocks_per_minute": 2})})
    (s.response.playbooks_dir / "block.yml").write_text(
        PLAYBOOK.format(simulate="false", ttl="1h", action="block_ip", extra="").replace("nftables", "dc-ngfw"),
        encoding="utf-8")

    async def run() -> None:
        await ensure_templates(s)
        client = async_client(s)
        try:
            r = build(s, client)
            assert r.warnings == []
            sources = ["203.0.113.10", "203.0.113.11", "203.0.113.12"]
            results = [await r.responder.handle(alert(src, f"a{i}")) for i, src in enumerate(sources)]
            # Two blocks a minute for this playbook: the third is refused and recorded.
            assert ("block_ip", "applied", "dc-ngfw") in states(results[0])
            assert states(results[2]) == [("block_ip", "failed", "")]
            assert "速率限制" in get_path(results[2][0], "soc.action.reason")
            assert [(m, p, b) for m, p, b in calls] == [
                ("POST", "/v1/blacklist", {"ip": "203.0.113.10", "mask": 32, "age": 60}),
                ("POST", "/v1/blacklist", {"ip": "203.0.113.11", "mask": 32, "age": 60})]

            # An allowlist entry added later lifts the active block it covers, on the device too.
            safer = s.model_copy(update={"response": s.response.model_copy(update={
                "allowlist": [AllowEntry(cidr="203.0.113.11/32", reason="新增: 省平台出口")]})})
            acts, _ = await build(safer, client).enforcer.sweep()
            assert ("unblock", "reverted", "dc-ngfw") in states(acts)
            assert "省平台出口" in get_path(acts[0], "soc.action.reason")
            assert calls[-1][:2] == ("DELETE", "/v1/blacklist/203.0.113.11")
            assert (await r.enforcer.store.get("all", "203.0.113.11")).state == "removed"  # type: ignore[union-attr]
            assert (await r.enforcer.store.get("all", "203.0.113.10")).state == ACTIVE  # type: ignore[union-attr]
        finally:
            await client.close()

    try:
        asyncio.run(run())
    finally:
        server.shutdown()
        drop_indices(es, s.elastic.index_prefix)
