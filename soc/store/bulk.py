"""Bulk writes to Elasticsearch: batched, retried with backoff, idempotent by document id.

Transient failures (HTTP 429 and 5xx, timeouts, refused connections), whole-request or
per-item, and a refused authentication (401/403: an operator must fix it) are retried with capped exponential backoff for as long as it takes: the caller's
Kafka offsets are not committed meanwhile, so nothing is lost and the stage back-pressures.
Permanent per-item failures (a mapping conflict, a malformed value) are returned to the
caller, which sends them to soc.deadletter with the reason.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson
from elasticsearch import AsyncElasticsearch
from elasticsearch import ConnectionError as ESConnectionError
from elasticsearch import ConnectionTimeout
from elasticsearch import TransportError, ApiError

from soc.metrics import ERRORS, RETRIES

log = logging.getLogger(__name__)

TRANSIENT_STATUS = frozenset({408, 429, 500, 502, 503, 504})


def unavailable(exc: BaseException) -> bool:
    """Whether an error says Elasticsearch is away or overloaded for now (refused or timed-out
    connections, HTTP 429/5xx, a cluster with no master...): worth waiting for, not a verdict on
    the request. Anything in its cause chain counts."""
    seen: set[int] = set()
    cur: BaseException | None = exc
    while cur is not None and id(cur) not in seen:
        seen.add(id(cur))
        if isinstance(cur, TransportError):  # connection refused or reset, timeouts, TLS
            return True
        if isinstance(cur, ApiError) and cur.meta.status in TRANSIENT_STATUS:
            return True
        cur = cur.__cause__ or cur.__context__
    return False


@dataclass(slots=True)
class BulkItem:
    """One document to write; `origin` travels back with a failure (e.g. the Kafka value)."""

    index: str
    doc_id: str
    doc: dict[str, Any]
    origin: Any = None
    body: bytes = b""
    op: str = "index"  # or "update": then body is {"doc": ..., "upsert": ...}


@dataclass(slots=True)
class BulkFailure:
    item: BulkItem
    status: int
    reason: str  # the error type, e.g. document_parsing_exception
    detail: str


@dataclass(slots=True)
class BulkResult:
    written: int = 0
    failures: list[BulkFailure] = field(default_factory=list)
    attempts: int = 0


class BulkWriter:
    """Writes batches of documents; one instance per stage."""

    def __init__(
        self,
        es: AsyncElasticsearch,
        stage: str,
        max_bytes: int = 8 * 1024 * 1024,
        max_backoff_s: float = 30.0,
        refresh: bool = False,
    ) -> None:
        self.es = es
        self.stage = stage
        self.max_bytes = max_bytes
        self.max_backoff_s = max_backoff_s
        self.refresh = refresh

    async def write(self, items: Sequence[BulkItem]) -> BulkResult:
        """Write all items; returns only when each is written or permanently failed."""
        result = BulkResult()
        for item in items:
            if not item.body:
                item.body = orjson.dumps(item.doc)
        for chunk in self._chunks(items):
            await self._write_chunk(chunk, result)
        return result

    def _chunks(self, items: Sequence[BulkItem]) -> list[list[BulkItem]]:
        chunks: list[list[BulkItem]] = []
        current: list[BulkItem] = []
        size = 0
        for item in items:
            n = len(item.body) + 100
            if current and size + n > self.max_bytes:
                chunks.append(current)
                current, size = [], 0
            current.append(item)
            size += n
        if current:
            chunks.append(current)
        return chunks

    async def _write_chunk(self, pending: list[BulkItem], result: BulkResult) -> None:
        backoff = 0.5
        while pending:
            result.attempts += 1
            body = bytearray()
            for item in pending:
                body += orjson.dumps({item.op: {"_index": item.index, "_id": item.doc_id}})
                body += b"\n"
                body += item.body
                body += b"\n"
            try:
                resp = await self.es.bulk(operations=bytes(body), refresh=self.refresh)
            except (ESConnectionError, ConnectionTimeout) as exc:
                await self._backoff(f"connection: {exc}", "connection", backoff)
                backoff = min(backoff * 2, self.max_backoff_s)
                continue
            except ApiError as exc:
                status = exc.meta.status
                if status == 413 and len(pending) > 1:
                    # Too large for this cluster's http.max_content_length: halve and go on.
                    half = len(pending) // 2
                    await self._write_chunk(pending[:half], result)
                    pending = pending[half:]
                    continue
                if status == 413:
                    result.failures.append(BulkFailure(pending[0], status, "request_too_large", str(exc)))
                    ERRORS.labels(self.stage, "request_too_large").inc()
                    return
                if status in TRANSIENT_STATUS or status in (401, 403):
                    # 401/403: credentials or privileges an operator must fix; wait, do not drop.
                    await self._backoff(f"HTTP {status} {exc.message}", f"http_{status}", backoff)
                    backoff = min(backoff * 2, self.max_backoff_s)
                    continue
                raise
            except TransportError as exc:
                await self._backoff(f"transport: {exc}", "transport", backoff)
                backoff = min(backoff * 2, self.max_backoff_s)
                continue
            retry: list[BulkItem] = []
            for item, entry in zip(pending, resp["items"], strict=True):
                outcome = entry.get("index") or next(iter(entry.values()))
                status = int(outcome.get("status", 500))
                if status < 300:
                    result.written += 1
                elif status in TRANSIENT_STATUS:
                    retry.append(item)
                else:
                    error = outcome.get("error") or {}
                    reason = str(error.get("type", f"http_{status}"))
                    detail = str(error.get("reason", ""))
                    caused = error.get("caused_by") or {}
                    if caused:
                        detail += f" (caused by {caused.get('type')}: {caused.get('reason')})"
                    result.failures.append(BulkFailure(item, status, reason, detail))
                    ERRORS.labels(self.stage, reason).inc()
            if retry:
                await self._backoff(f"{len(retry)} items rejected as transient", "item_transient", backoff)
                backoff = min(backoff * 2, self.max_backoff_s)
            pending = retry

    async def _backoff(self, what: str, reason: str, delay: float) -> None:
        RETRIES.labels(self.stage, reason).inc()
        ERRORS.labels(self.stage, reason).inc()
        jittered = delay * (0.5 + random.random())
        log.warning("%s: Elasticsearch write failed (%s); retrying in %.1fs", self.stage, what, jittered)
        await asyncio.sleep(jittered)
