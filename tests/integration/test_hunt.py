"""Retro-hunt on the real Elasticsearch: Sigma rules converted by pySigma's backend find the
indexed events the stream would have matched, correlations included, within the time range."""

from __future__ import annotations

import asyncio
import textwrap
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from elasticsearch import Elasticsearch

from soc.config import Settings
from soc.hunt import hunt
from soc.model import RawRecord
from soc.store.setup import ensure_templates
from soc.stream.index import events_index
from soc.stream.normalize import normalize_record

from .conftest import drop_indices

pytestmark = pytest.mark.integration
RULES = Path(__file__).resolve().parents[2] / "rules"


def sshd(at: datetime, text: str, k: int) -> bytes:
    return f"<86>1 {at:%Y-%m-%dT%H:%M:%S}.000Z gov-cloud-app-09 sshd {4000 + k} - - {text}".encode()


def test_hunt_finds_what_the_stream_would_have(tmp_path: Path, base_settings: Settings, es: Elasticsearch) -> None:
    prefix = f"hunt{uuid.uuid4().hex[:8]}"
    settings = base_settings.model_copy(update={"elastic": base_settings.elastic.model_copy(update={"index_prefix": prefix})})
    asyncio.run(ensure_templates(settings))
    now = datetime.now(UTC).replace(microsecond=0)
    old = now - timedelta(days=40)
    lines = [
        sshd(now - timedelta(hours=1), "Accepted password for root from 203.0.113.77 port 40001 ssh2", 1),
        sshd(now - timedelta(hours=1), "Accepted password for root from 10.20.1.5 port 40002 ssh2", 2),  # internal
        sshd(old, "Accepted password for root from 203.0.113.78 port 40003 ssh2", 3),  # before --since
        *[sshd(now - timedelta(minutes=30, seconds=-k), f"Failed password for root from 198.51.100.9 port {41000 + k} ssh2", 10 + k)
          for k in range(6)],
    ]
    try:
        for k, line in enumerate(lines):
            key, doc = normalize_record(RawRecord(line, time.time_ns() + k, "syslog-tcp", "10.20.1.9:514",
                                                  "gov-cloud-app-09", "syslog"))
            assert key is not None, doc
            es.index(index=events_index(prefix, doc), id=doc["event"]["id"], document=doc)
        es.indices.refresh(index=f"{prefix}-events-*")
        index = f"{prefix}-events-*"

        [root] = hunt(es, index, [RULES / "linux" / "ssh_root_login_external.yml"], "30d")
        assert root.error is None
        assert [h["source"]["ip"] for h in root.hits] == ["203.0.113.77"]
        assert "user.name.ci:root" in (root.query or "")  # case-insensitive, as the stream
        [older] = hunt(es, index, [RULES / "linux" / "ssh_root_login_external.yml"], "60d")
        assert sorted(h["source"]["ip"] for h in older.hits) == ["203.0.113.77", "203.0.113.78"]

        results = hunt(es, index, [RULES / "correlation", RULES / "linux" / "sshd_failed_password.yml"], "30d")
        [brute] = [r for r in results if r.title == "SSH 暴力破解"]
        assert len(brute.hits) == 1
        assert brute.hits[0]["group"] == {"source.ip": "198.51.100.9", "host.name": "gov-cloud-app-09"}
        assert brute.hits[0]["count"] == 6
        assert not [r for r in results if r.title == "SSH 登录失败"], "a rule that only feeds a correlation"

        # Sigma compares strings case-insensitively, and so does a hunt; a regex too complex
        # for Lucene is an error, not an empty answer (Elasticsearch would drop it silently).
        upper = tmp_path / "upper.yml"
        upper.write_text(textwrap.dedent("""
            title: Root in capitals
            logsource: {product: linux, service: sshd}
            detection:
                sel:
                    user.name: ROOT
                    message|contains: 'ACCEPTED PASSWORD'
                condition: sel
        """), encoding="utf-8")
        [found] = hunt(es, index, [upper], "30d")
        assert found.error is None and sorted(h["source"]["ip"] for h in found.hits) == ["10.20.1.5", "203.0.113.77"]
        cased = tmp_path / "cased.yml"
        cased.write_text(upper.read_text(encoding="utf-8").replace("user.name:", "user.name|cased:")
                         .replace("message|contains: 'ACCEPTED PASSWORD'", "message|contains: 'accepted password'"),
                         encoding="utf-8")
        [none] = hunt(es, index, [cased], "30d")
        assert none.error is None and none.hits == []  # |cased: ROOT is not root
        cased.write_text(cased.read_text(encoding="utf-8").replace("ROOT", "root"), encoding="utf-8")
        [both] = hunt(es, index, [cased], "30d")
        assert len(both.hits) == 2
        heavy = tmp_path / "heavy.yml"
        heavy.write_text(textwrap.dedent("""
            title: Sixteen characters after an o
            logsource: {product: linux, service: sshd}
            detection:
                sel:
                    user.name|re: 'o.{16}'
                condition: sel
        """), encoding="utf-8")
        [refused] = hunt(es, index, [heavy], "30d")
        assert refused.error and "would require more than" in refused.error

        fieldref = tmp_path / "fieldref.yml"
        fieldref.write_text(textwrap.dedent("""
            title: Same user both sides
            logsource: {product: linux}
            detection:
                sel:
                    user.name|fieldref: user.target.name
                condition: sel
        """), encoding="utf-8")
        [ref] = hunt(es, index, [fieldref], "30d")
        assert ref.error and "field reference" in ref.error
        with pytest.raises(ValueError, match="--since"):
            hunt(es, index, [fieldref], "a month")
    finally:
        drop_indices(es, prefix)
