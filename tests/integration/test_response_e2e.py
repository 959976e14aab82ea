"""End to end on the real stack: a brute force replayed as syslog → alert → playbook → the source
is in the blocklist feed and in a real nftables set inside a network namespace, a packet from it
is dropped while others pass → at its TTL the element is gone and traffic passes again."""

from __future__ import annotations

import asyncio
import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from elasticsearch import Elasticsearch

from soc.netns import NetLab
from soc.pipeline import wait_for_count
from soc.response.adapters.nftables import NftablesAdapter, NftablesConfig
from soc.response.feed import feed_app
from soc.story import CST

from .conftest import drop_indices, new_pipeline

pytestmark = pytest.mark.integration

PLAYBOOK = """\
id: block-bruteforce-e2e
name: 封禁暴力破解来源（测试）
trigger:
  tags: [attack.t1110]
  min_level: high
  when:
    - {field: source.ip, exists: true}
steps:
  - action: block_ip
    ttl: 8s
    devices: [feed, nftables]
"""


def failures(n: int, attacker: str) -> list[bytes]:
    start = datetime.now(UTC) - timedelta(seconds=30)
    out = []
    for i in range(n):
        ts = (start + timedelta(seconds=i)).astimezone(CST)
        out.append((ts.strftime("<38>%b ") + f"{ts.day:2d}" + ts.strftime(" %H:%M:%S")
                    + f" gov-cloud-db-02 sshd[{7000 + i}]: Failed password for root from {attacker} "
                      f"port {41000 + i} ssh2").encode())
    return out


def until(check, timeout: float, what: str, log: callable) -> None:  # type: ignore[valid-type]
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"{what} did not happen; worker log:\n{log()}"
        time.sleep(0.5)


def test_brute_force_is_blocked_in_the_feed_and_the_kernel_then_released(tmp_path: Path, es: Elasticsearch,
                                                                         kafka: str, lab: NetLab) -> None:
    books = tmp_path / "playbooks"
    books.mkdir()
    (books / "block.yml").write_text(PLAYBOOK, encoding="utf-8")
    p = new_pipeline(tmp_path, SOC_RESPONSE__PLAYBOOKS_DIR=str(books), SOC_RESPONSE__SWEEP_INTERVAL_S="1",
                     SOC_RESPONSE__NFTABLES=json.dumps({"namespace": lab.name}))
    nft = NftablesAdapter(NftablesConfig(namespace=lab.name))
    elements = lambda: asyncio.run(nft.elements())  # noqa: E731

    async def feed() -> list[str]:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=feed_app(p.settings)),
                                     base_url="http://feed") as c:
            return (await c.get("/blocklist.txt")).text.split()

    assert lab.reaches(lab.attacker) and lab.reaches(lab.bystander)
    p.start()
    try:
        p.send_tcp(failures(8, lab.attacker))
        until(lambda: elements() == [lab.attacker], 120, "the block in nftables", lambda: p.tail("worker"))
        assert asyncio.run(feed()) == [lab.attacker]
        assert not lab.reaches(lab.attacker), "a packet from the blocked source passed"
        assert lab.reaches(lab.bystander), "a packet from another source was dropped"

        # At its TTL the worker lifts it: gone from the kernel's set and the feed; traffic passes.
        until(lambda: elements() == [], 60, "the release at the TTL", lambda: p.tail("worker"))
        assert asyncio.run(feed()) == []
        assert lab.reaches(lab.attacker)
        prefix = p.ns.prefix
        done = {"bool": {"filter": [{"term": {"soc.action.target": lab.attacker}}, {"term": {"soc.action.device": "nftables"}}]}}
        assert wait_for_count(es, f"{prefix}-actions", 2, 60, done, at_least=True) >= 2

        def recorded() -> bool:  # both transitions are in the audit trail (soc-actions)
            es.indices.refresh(index=f"{prefix}-actions")
            kinds = {(h["_source"]["soc"]["action"]["kind"], h["_source"]["soc"]["action"]["state"])
                     for h in es.search(index=f"{prefix}-actions", query=done, size=50)["hits"]["hits"]}
            return {("block_ip", "applied"), ("unblock", "expired")} <= kinds

        until(recorded, 60, "the block and its release in soc-actions", lambda: p.tail("worker"))
    finally:
        p.stop()
        drop_indices(es, p.ns.prefix)
