"""The platform's audit trail on the real Elasticsearch: concurrent writers make one unbroken
chain; `soc audit verify` names a record removed or altered directly in Elasticsearch, and the
last record removed."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from elasticsearch import Elasticsearch

from soc.audit import AuditTrail
from soc.config import Settings
from soc.store.client import async_client
from soc.store.setup import ensure_templates

from .conftest import drop_indices

pytestmark = pytest.mark.integration
SOC = str(Path(sys.executable).with_name("soc"))


def verify_cli(prefix: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([SOC, "audit", "verify"], env={**os.environ, "SOC_ELASTIC__INDEX_PREFIX": prefix},
                          capture_output=True, text=True, timeout=120)


def test_a_concurrent_chain_verifies_and_tampering_is_named(base_settings: Settings, es: Elasticsearch) -> None:
    prefix = f"aud{uuid.uuid4().hex[:8]}"
    s = base_settings.model_copy(update={"elastic": base_settings.elastic.model_copy(update={"index_prefix": prefix})})

    async def write() -> None:
        await ensure_templates(s)
        clients = [async_client(s) for _ in range(3)]
        try:
            trails = [AuditTrail(c, prefix) for c in clients]
            # Three writers at once (three API processes): one chain, no number lost or doubled.
            await asyncio.gather(*(t.append(f"user{w}", "sign_in", "success" if k % 3 else "failure",
                                            source_ip="192.0.2.10", details={"k": k, "姓名": "张三"})
                                   for k in range(10) for w, t in enumerate(trails)))
        finally:
            for c in clients:
                await c.close()

    try:
        asyncio.run(write())
        ok = verify_cli(prefix)
        assert ok.returncode == 0, ok.stderr
        assert "30 records, head 30" in ok.stdout and "intact" in ok.stdout

        # Someone with access to Elasticsearch alters a record, then removes one.
        es.update(index=f"{prefix}-audit", id="7", doc={"outcome": "success", "actor": "admin"}, refresh=True)
        altered = verify_cli(prefix)
        assert altered.returncode == 1 and "record 7 was altered" in altered.stderr
        es.delete(index=f"{prefix}-audit", id="12", refresh=True)
        removed = verify_cli(prefix)
        assert removed.returncode == 1 and "records 12–11" not in removed.stderr
        assert "records 12–12 are missing" in removed.stderr
        # Removing the last records is seen against the head.
        es.delete(index=f"{prefix}-audit", id="30", refresh=True)
        tail = verify_cli(prefix)
        assert "records 30–30 are missing: the head says 30 were written" in tail.stderr
    finally:
        drop_indices(es, prefix)
