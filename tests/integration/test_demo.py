"""The README's first command runs `soc demo`: on the real stack it must end with exit code 0, the
attacker blocked and released, and the incident notice delivered upstream, and so again when the
demo runs a second time on the same stack (the analysts' habit: run it again to show a colleague)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from elasticsearch import Elasticsearch

from soc.config import Settings

from .conftest import drop_indices

pytestmark = pytest.mark.integration
SOC = str(Path(sys.executable).with_name("soc"))


def demo(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([SOC, "demo"], env={**os.environ, **env, "COLUMNS": "200"}, capture_output=True,
                          text=True, timeout=600)


def test_demo_runs_to_the_end_and_again_on_the_same_stack(base_settings: Settings, es: Elasticsearch) -> None:
    tag = uuid.uuid4().hex[:8]
    prefix = f"demo{tag}"
    env = {"SOC_ELASTIC__INDEX_PREFIX": prefix, "SOC_TOPIC_PREFIX": f"demo{tag}"}
    try:
        first = demo(env)
        assert first.returncode == 0, first.stdout[-4000:] + first.stderr[-2000:]
        assert "演示完成" in first.stdout
        assert "封禁到期，已自动解除" in first.stdout  # blocked, then released at its TTL
        receipt = re.search(r"首报 (N\w+) .*回执 receipt (\S+)", first.stdout)
        assert receipt and receipt.group(2) != "?", first.stdout[-3000:]
        assert "此前演示中已首报" not in first.stdout

        second = demo(env)
        assert second.returncode == 0, second.stdout[-4000:] + second.stderr[-2000:]
        assert "演示完成" in second.stdout
        # Same attacker, same tenant: the alerts join the first run's open incident, whose initial
        # notice is the one shown (a second initial notice for one incident would be refused).
        assert "此前演示中已首报" in second.stdout
        again = re.search(r"首报 (N\w+) ", second.stdout)
        assert again and again.group(1) == receipt.group(1)
        # One attacker, one incident: the province got one initial notice (初报) over both runs,
        # though an IDS alert and the correlation rules each ran the playbook.
        es.indices.refresh(index=f"{prefix}-outbox")
        initials = es.search(index=f"{prefix}-outbox", size=10, query={"term": {"soc.notice.kind": "initial"}})
        assert [h["_source"]["soc"]["notice"]["id"] for h in initials["hits"]["hits"]] == [receipt.group(1)]
    finally:
        drop_indices(es, prefix)
