"""`soc collect http` on the real stack: tokens, clear 4xx for bad batches, good batches indexed."""

from __future__ import annotations

import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
from elasticsearch import Elasticsearch

from soc.pipeline import LocalPipeline, wait_for_count

from .conftest import drop_indices, new_pipeline

pytestmark = pytest.mark.integration

TOKEN = f"tok-{uuid.uuid4().hex}"


@pytest.fixture(scope="module")
def http_pipeline(tmp_path_factory: pytest.TempPathFactory, es: Elasticsearch, kafka: str) -> Iterator[LocalPipeline]:
    tmp = tmp_path_factory.mktemp("http")
    sources = tmp / "sources.yaml"
    sources.write_text(
        "sources:\n"
        "  - id: county-a-waf\n"
        "    tenant: A县\n"
        f"    token: {TOKEN}\n"
    )
    p = new_pipeline(tmp, SOC_SOURCES_FILE=str(sources))
    p.start_worker()
    p.start_http_collector()
    yield p
    p.stop()
    drop_indices(es, p.ns.prefix)


def post(p: LocalPipeline, body: bytes, token: str | None = TOKEN,
         ctype: str = "application/x-ndjson") -> tuple[int, dict]:
    req = urllib.request.Request(f"http://127.0.0.1:{p.ns.http_port}/v1/logs", data=body, method="POST")
    req.add_header("Content-Type", ctype)
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=60) as resp:
            return resp.status, orjson.loads(resp.read())
    except urllib.error.HTTPError as err:
        return err.code, orjson.loads(err.read())


def test_a_good_batch_is_accepted_and_indexed_with_its_source_and_tenant(
    http_pipeline: LocalPipeline, es: Elasticsearch
) -> None:
    marker = f"http{uuid.uuid4().hex[:8]}"
    lines = [orjson.dumps({"@timestamp": "2026-11-25T10:00:00+08:00", "message": f"{marker} {i}",
                           "source": {"ip": f"198.51.100.{i}"}, "url": {"original": f"/login?id={i}"}})
             for i in range(20)]
    status, body = post(http_pipeline, b"\n".join(lines) + b"\n")
    assert status == 202 and body["accepted"] == 20
    p = http_pipeline.ns.prefix
    q = {"match_phrase": {"message": marker}}
    assert wait_for_count(es, f"{p}-events-*", 20, 120, q) == 20
    hit = es.search(index=f"{p}-events-*", query=q, size=1)["hits"]["hits"][0]["_source"]
    assert hit["soc"]["source_id"] == "county-a-waf"
    assert hit["labels"]["tenant"] == "A县"
    assert hit["@timestamp"] == "2026-11-25T02:00:00.000Z"


@pytest.mark.parametrize(
    ("body", "token", "ctype", "status", "error"),
    [
        (b'{"message": "x"}\n', None, "application/x-ndjson", 401, "unauthorized"),
        (b'{"message": "x"}\n', "not-a-token", "application/x-ndjson", 401, "unauthorized"),
        (b'{"message": "x"}\n', TOKEN, "application/xml", 415, "unsupported_media_type"),
        (b"\n\n", TOKEN, "application/x-ndjson", 400, "empty"),
        (b'{"message": "ok"}\n{"message": \n[1,2]\n', TOKEN, "application/x-ndjson", 400, "not_ndjson"),
        (b'{"m": "' + b"x" * (2 * 1024 * 1024) + b'"}\n', TOKEN, "application/x-ndjson", 413, "line_too_large"),
        (b"x" * (17 * 1024 * 1024), TOKEN, "application/x-ndjson", 413, "body_too_large"),
    ],
    ids=["no-token", "bad-token", "xml", "empty", "not-json", "line-too-large", "body-too-large"],
)
def test_bad_requests_get_a_clear_4xx_and_nothing_is_accepted(
    http_pipeline: LocalPipeline, body: bytes, token: str | None, ctype: str, status: int, error: str
) -> None:
    before = http_pipeline.metrics("http").get('soc_received_total{stage="collector.http"}', 0.0)
    got, answer = post(http_pipeline, body, token, ctype)
    assert (got, answer["error"]) == (status, error)
    assert answer["message"]
    if error == "not_ndjson":
        assert "[2, 3]" in answer["message"]  # the sender is told which lines to fix
    assert http_pipeline.metrics("http").get('soc_received_total{stage="collector.http"}', 0.0) == before


def test_a_batch_that_meets_a_full_spool_is_refused_503_never_accepted_and_dropped(
    tmp_path: Path, es: Elasticsearch, kafka: str
) -> None:
    """Kafka unreachable and the spool at its limit: the collector answers 503 with Retry-After
    (the sender keeps the batch), and every line it did answer 202 for is in the spool: the
    accepted count and the spooled count are the same, and nothing is counted as dropped."""
    from soc.pipeline import free_port

    sources = tmp_path / "sources.yaml"
    sources.write_text(f"sources:\n  - id: county-b-waf\n    tenant: B县\n    token: {TOKEN}\n")
    p = new_pipeline(tmp_path, SOC_SOURCES_FILE=str(sources),
                     SOC_KAFKA__BOOTSTRAP=f"127.0.0.1:{free_port()}",  # nothing listens there
                     SOC_SPOOL__MAX_BYTES=str(1024 * 1024))  # the smallest limit allowed
    try:
        p.start_http_collector()
        accepted, refused = 0, None
        batch = b"\n".join([orjson.dumps({"message": "x" * 2000})] * 20)
        for _ in range(200):  # 40 kB a batch: the 1 MiB spool is full well before 200
            status, body, headers = post_with_headers(p, batch)
            if status != 202:
                refused = (status, body, headers)
                break
            accepted += body["accepted"]
        assert refused is not None, f"{accepted} lines accepted into a 1 MiB spool, none refused"
        status, body, headers = refused
        assert status == 503 and body["error"] == "spool_full" and headers.get("Retry-After"), refused
        assert post_with_headers(p, batch)[0] == 503  # still full: refused again
        m = p.metrics("http")
        assert m.get('soc_spooled_total{stage="collector.http"}') == accepted
        dropped = {k: v for k, v in m.items() if k.startswith("soc_dropped_total") and "collector.http" in k}
        assert not any(dropped.values()), dropped
    finally:
        p.stop()
        drop_indices(es, p.ns.prefix)


def post_with_headers(p: LocalPipeline, body: bytes) -> tuple[int, dict, dict[str, str]]:
    req = urllib.request.Request(f"http://127.0.0.1:{p.ns.http_port}/v1/logs", data=body, method="POST",
                                 headers={"Content-Type": "application/x-ndjson", "Authorization": f"Bearer {TOKEN}"})
    try:
        with urllib.request.urlopen(req, timeout=60) as resp:
            return resp.status, orjson.loads(resp.read()), dict(resp.headers)
    except urllib.error.HTTPError as err:
        return err.code, orjson.loads(err.read()), dict(err.headers)
