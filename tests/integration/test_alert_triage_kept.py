"""An analyst's triage of an alert (status, assignee) survives the alert's later revisions: a
correlation still counting rewrites what detection knows, never what the analyst set."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import orjson
import pytest
from elasticsearch import Elasticsearch

from soc.config import Settings
from soc.model import Alert
from soc.store.bulk import BulkWriter
from soc.store.client import async_client
from soc.store.setup import ensure_templates
from soc.stream.index import bulk_items

from .conftest import drop_indices

pytestmark = pytest.mark.integration


def revision(count: int) -> bytes:
    t0 = datetime(2026, 11, 25, 2, 0, tzinfo=UTC)
    doc = Alert(rule_id="r-brute", rule_name="SSH 暴力破解", level="high", group_key="g|203.0.113.7", first_seen=t0,
                last_seen=t0 + timedelta(seconds=count), event_ids=[f"e{k}" for k in range(count)], count=count,
                context={"source": {"ip": "203.0.113.7"}}, window_start_id="e0").to_doc()
    doc["soc"]["alert"]["revision"] = count - 4
    return orjson.dumps(doc)


def test_later_revisions_keep_the_analysts_status_and_assignee(base_settings: Settings, es: Elasticsearch) -> None:
    prefix = f"tri{uuid.uuid4().hex[:8]}"
    s = base_settings.model_copy(update={"elastic": base_settings.elastic.model_copy(update={"index_prefix": prefix})})

    async def write(data: bytes) -> str:
        client = async_client(s)
        try:
            items, dead = bulk_items("alerts", prefix, [data])
            assert not dead
            result = await BulkWriter(client, "index.alerts", refresh=True).write(items)
            assert result.written == 1 and not result.failures
            return items[0].doc_id
        finally:
            await client.close()

    try:
        asyncio.run(ensure_templates(s))
        alert_id = asyncio.run(write(revision(5)))
        assert es.get(index=f"{prefix}-alerts", id=alert_id)["_source"]["soc"]["alert"]["status"] == "new"
        # An analyst takes it.
        es.update(index=f"{prefix}-alerts", id=alert_id, refresh=True,
                  doc={"soc": {"alert": {"status": "in_progress", "assignee": "zhangsan"}}})
        # The brute force goes on: revisions 2 and 3 of the same alert.
        asyncio.run(write(revision(6)))
        asyncio.run(write(revision(9)))
        got = es.get(index=f"{prefix}-alerts", id=alert_id)["_source"]["soc"]["alert"]
        assert (got["count"], len(got["event_ids"]), got["revision"]) == (9, 9, 5)  # detection's latest
        assert (got["status"], got["assignee"]) == ("in_progress", "zhangsan")  # the analyst's, kept
    finally:
        drop_indices(es, prefix)
