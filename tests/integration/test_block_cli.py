"""Operators' `soc block` on the real Elasticsearch: add, list, remove; the allowlist refuses; the
worker's sweep applies and lifts; each decision is in the audit trail; `soc playbooks check`."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid
from pathlib import Path

import httpx
import orjson
import pytest
from elasticsearch import Elasticsearch

from soc.config import Settings
from soc.response.feed import feed_app
from soc.response.service import build
from soc.store.client import async_client
from soc.store.setup import ensure_templates

from .conftest import drop_indices

pytestmark = pytest.mark.integration
SOC = str(Path(sys.executable).with_name("soc"))


def soc(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([SOC, *args], env={**os.environ, **env}, capture_output=True, text=True, timeout=120)


def test_operators_add_list_and_remove_blocks(tmp_path: Path, base_settings: Settings, es: Elasticsearch) -> None:
    prefix = f"blk{uuid.uuid4().hex[:8]}"
    s = base_settings.model_copy(update={"elastic": base_settings.elastic.model_copy(update={"index_prefix": prefix})})
    env = {"SOC_ELASTIC__INDEX_PREFIX": prefix}
    target = "203.0.113.50"

    async def sweep_and_feed() -> list[str]:
        client = async_client(s)
        try:
            await build(s, client).enforcer.sweep()
        finally:
            await client.close()
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=feed_app(s)), base_url="http://f") as c:
            return (await c.get("/blocklist.txt")).text.split()

    try:
        asyncio.run(ensure_templates(s))
        added = soc(env, "block", "add", target, "--ttl", "2h", "--reason", "值班研判：持续扫描")
        assert added.returncode == 0, added.stderr
        listed = soc(env, "block", "list", "--json")
        [block] = [orjson.loads(line) for line in listed.stdout.splitlines()]
        assert (block["target"], block["state"], block["ttl_seconds"]) == (target, "approved", 7200)
        assert block["decided_by"].startswith("operator")
        assert asyncio.run(sweep_and_feed()) == [target]  # the worker's sweep puts it in force

        refused = soc(env, "block", "add", "127.0.0.9", "--reason", "误操作")
        assert refused.returncode == 1 and "白名单" in refused.stderr

        removed = soc(env, "block", "remove", target)
        assert removed.returncode == 0, removed.stderr
        assert asyncio.run(sweep_and_feed()) == []
        every = [orjson.loads(line) for line in soc(env, "block", "list", "--all", "--json").stdout.splitlines()]
        assert [(b["target"], b["state"]) for b in every] == [(target, "removed")]

        es.indices.refresh(index=f"{prefix}-actions")
        trail = es.search(index=f"{prefix}-actions", size=20)["hits"]["hits"]
        reasons = {h["_source"]["soc"]["action"]["reason"] for h in trail
                   if h["_source"]["soc"]["action"]["decided_by"].startswith("operator")}
        assert "人工封禁: 值班研判：持续扫描" in reasons and "解除封禁" in reasons
    finally:
        drop_indices(es, prefix)


def test_playbooks_check_names_file_line_and_problem(tmp_path: Path) -> None:
    (tmp_path / "bad.yml").write_text("id: bad\nname: x\ntrigger: {tags: [attack.t1110]}\nsteps:\n"
                                      "  - action: block_ip\n    ttl: 0s\n", encoding="utf-8")
    out = soc({}, "playbooks", "check", str(tmp_path))
    assert out.returncode == 1
    assert f"{tmp_path / 'bad.yml'}:6: steps.0.block_ip.ttl" in out.stderr.replace("\n", "")
    shipped = soc({}, "playbooks", "check")
    assert shipped.returncode == 0 and "block-bruteforce" in shipped.stdout
