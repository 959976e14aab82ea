"""`soc collect file` on real files: rotation, truncation, a restart, multi-line records."""

from __future__ import annotations

import os
import time
import uuid
from pathlib import Path

import pytest
from elasticsearch import Elasticsearch

from soc.pipeline import count, wait_for_count

from .conftest import drop_indices, new_pipeline

pytestmark = pytest.mark.integration


def _lines(marker: str, start: int, n: int) -> list[str]:
    return [f"<14>1 2026-11-25T10:00:{i % 60:02d}.{i:06d}+08:00 gov-cloud-app-02 app - - - {marker} n={i}"
            for i in range(start, start + n)]


def _append(path: Path, lines: list[str]) -> None:
    with open(path, "a", encoding="utf-8") as f:
        for line in lines:
            f.write(line + "\n")


def test_rotation_truncation_and_restart_lose_and_repeat_nothing(
    tmp_path: Path, es: Elasticsearch, kafka: str
) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    marker = f"file{uuid.uuid4().hex[:8]}"
    p = new_pipeline(tmp_path / "run")
    prefix = p.ns.prefix
    q = {"match_phrase": {"message": marker}}
    app = logs / "app.log"
    try:
        p.start_worker()
        _append(app, _lines(marker, 0, 100))
        p.start_file_collector([str(logs / "app.log*")])
        assert wait_for_count(es, f"{prefix}-events-*", 100, 120, q) == 100

        # Rotation: the file is renamed and a new one takes its name; lines written to the old
        # file just before the rename are still read.
        _append(app, _lines(marker, 100, 50))
        app.rename(logs / "app.log.1")
        _append(app, _lines(marker, 150, 50))
        assert wait_for_count(es, f"{prefix}-events-*", 200, 120, q) == 200

        # Truncation in place (copytruncate): the file shrinks and is read again from its start.
        time.sleep(1.5)
        with open(app, "r+") as f:
            f.truncate(0)
        _append(app, _lines(marker, 200, 10))
        assert wait_for_count(es, f"{prefix}-events-*", 210, 120, q) == 210

        # Restart: lines written while the collector is down are read once it is back.
        p.stop_file_collector()
        _append(app, _lines(marker, 210, 40))
        p.start_file_collector([str(logs / "app.log*")])
        assert wait_for_count(es, f"{prefix}-events-*", 250, 120, q) == 250
        time.sleep(3)
        assert count(es, f"{prefix}-events-*", q) == 250
        # Nothing was read twice: the restarted collector read exactly the 40 new lines.
        assert p.metrics("file")['soc_received_total{stage="collector.file"}'] == 40
    finally:
        p.stop()
        drop_indices(es, prefix)


def test_multi_line_records_are_kept_whole(tmp_path: Path, es: Elasticsearch, kafka: str) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    marker = f"ml{uuid.uuid4().hex[:8]}"
    sources = tmp_path / "sources.yaml"
    sources.write_text(
        "sources:\n"
        "  - id: java-app\n"
        f"    paths: ['{logs}/*.log']\n"
        "    multiline_start: '^<\\d+>'\n"
    )
    p = new_pipeline(tmp_path / "run", SOC_SOURCES_FILE=str(sources))
    prefix = p.ns.prefix
    try:
        p.start_worker()
        with open(logs / "svc.log", "w") as f:
            for i in range(3):
                f.write(f"<11>1 2026-11-25T10:00:0{i}+08:00 app svc - - - {marker} failure {i}\n")
                f.write("java.lang.IllegalStateException: boom\n")
                f.write(f"\tat gov.city.Svc.call(Svc.java:{i})\n")
        os.sync()
        p.start_file_collector([])
        q = {"match_phrase": {"message": marker}}
        assert wait_for_count(es, f"{prefix}-events-*", 3, 120, q) == 3
        hits = es.search(index=f"{prefix}-events-*", query=q, size=3)["hits"]["hits"]
        for h in hits:
            assert "IllegalStateException: boom\n\tat gov.city.Svc.call" in h["_source"]["message"]
            assert h["_source"]["soc"]["source_id"] == "java-app"
    finally:
        p.stop()
        drop_indices(es, prefix)
