"""`soc collect http`: NDJSON batches over HTTP, authenticated per source, into soc.raw.

    POST /v1/logs   Authorization: Bearer <the source's token>   Content-Type: application/x-ndjson
    → 202 {"accepted": n} once every line is in Kafka or in the disk spool

A clear 4xx for what the sender must fix, and nothing accepted from a rejected batch:
401 no or unknown token · 415 not NDJSON/plain text · 413 body or a line too large ·
400 empty body, or (for JSON sources) lines that are not JSON objects, named by number.
503 with Retry-After when Kafka is unreachable and the disk spool is full: the batch is not
(wholly) kept and must be resent; it is never answered 202 and then dropped.
GET /metrics serves the collector's Prometheus counters; GET /healthz answers 200.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import time

import orjson
from aiohttp import web

from collectors.kafka_sink import KafkaSink, Ticket
from collectors.sources import Sources, load_sources
from soc.config import HttpSettings, Settings
from soc.metrics import ERRORS, render
from soc.model import RawBatch

log = logging.getLogger(__name__)

STAGE = "collector.http"
ACCEPTED_TYPES = ("application/x-ndjson", "application/ndjson", "application/jsonl", "text/plain",
                  "application/json")
_SINK: web.AppKey[KafkaSink] = web.AppKey("sink", KafkaSink)
_SOURCES: web.AppKey[Sources] = web.AppKey("sources", Sources)
_CFG: web.AppKey[HttpSettings] = web.AppKey("cfg", HttpSettings)


def _error(status: int, reason: str, message: str) -> web.Response:
    ERRORS.labels(STAGE, reason).inc()
    return web.json_response({"error": reason, "message": message}, status=status)


async def ingest(request: web.Request) -> web.Response:
    cfg, sources, sink = request.app[_CFG], request.app[_SOURCES], request.app[_SINK]
    auth = request.headers.get("Authorization", "")
    token = auth[7:].strip() if auth.lower().startswith("bearer ") else ""
    source = sources.for_token(token) if token else None
    if source is None:
        return _error(401, "unauthorized", "missing or unknown bearer token (see the sources file)")
    ctype = request.content_type.lower()
    if ctype not in ACCEPTED_TYPES:
        return _error(415, "unsupported_media_type", f"send application/x-ndjson, not {ctype!r}")
    if request.content_length is not None and request.content_length > cfg.max_body_bytes:
        return _error(413, "body_too_large", f"the body may hold at most {cfg.max_body_bytes} bytes")
    try:
        body = await request.read()
    except web.HTTPRequestEntityTooLarge:
        return _error(413, "body_too_large", f"the body may hold at most {cfg.max_body_bytes} bytes")
    lines = [line.rstrip(b"\r") for line in body.split(b"\n")]
    while lines and not lines[-1].strip():
        lines.pop()
    if not lines:
        return _error(400, "empty", "the body holds no line")
    too_long = [i + 1 for i, line in enumerate(lines) if len(line) > cfg.max_line_bytes]
    if too_long:
        return _error(413, "line_too_large", f"lines longer than {cfg.max_line_bytes} bytes: {too_long[:20]}")
    if source.format in ("", "json"):
        bad = []
        for i, line in enumerate(lines):
            try:
                if not isinstance(orjson.loads(line), dict):
                    bad.append(i + 1)
            except orjson.JSONDecodeError:
                bad.append(i + 1)
        if bad:
            return _error(400, "not_ndjson", f"lines that are not JSON objects: {bad[:20]}"
                          + (f" and {len(bad) - 20} more" if len(bad) > 20 else ""))
    if sink.full:  # Kafka away and the spool full: the sender keeps the batch and retries
        return _spool_full(sink)
    peer = request.remote or "unknown"
    ticket = Ticket()
    await sink.put(RawBatch(
        messages=lines, received_at_ns=time.time_ns(), collector="http", peer=peer, source_id=source.id,
        format_hint=source.format or "json", charset=source.charset, timezone=source.timezone,
        tenant=source.tenant, device=source.device,
    ), ticket)
    await sink.flush()  # 202 means: in Kafka, or in the disk spool
    if ticket.refused:
        return _spool_full(sink)
    return web.json_response({"accepted": len(lines), "source": source.id}, status=202)


def _spool_full(sink: KafkaSink) -> web.Response:
    """503 with Retry-After: the batch is not (wholly) kept, so the sender must resend it (a batch
    partly spooled before the spool filled is resent whole: the same bytes give the same event
    ids, so the part already kept is not indexed twice)."""
    resp = _error(503, "spool_full", f"Kafka is unreachable and the disk spool {sink.spool.dir} is full "
                  "(Kafka 不可达且本地缓存已满): this batch was not kept; send it again later")
    resp.headers["Retry-After"] = "5"
    return resp


async def metrics(request: web.Request) -> web.Response:
    return web.Response(body=render(), content_type="text/plain", charset="utf-8")


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


def make_app(cfg: HttpSettings, sources: Sources, sink: KafkaSink) -> web.Application:
    app = web.Application(client_max_size=cfg.max_body_bytes)
    app[_CFG], app[_SOURCES], app[_SINK] = cfg, sources, sink
    app.router.add_post("/v1/logs", ingest)
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/healthz", healthz)
    return app


async def run_http(settings: Settings, cfg: HttpSettings) -> None:
    """Serve until SIGINT/SIGTERM, then flush to Kafka (or the spool) and stop."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)
    sources = load_sources(settings.sources_file)
    if not any(s.token for s in sources.sources):
        log.warning("no source in the sources file has a token: every request will be refused (401)")
    sink = KafkaSink(settings.kafka_bootstrap, settings.topic("raw"), STAGE,
                     spool_dir=settings.spool.folder(f"http-{cfg.port}"), spool_max_bytes=settings.spool.max_bytes)
    await sink.start()
    runner = web.AppRunner(make_app(cfg, sources, sink), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, cfg.host, cfg.port).start()
    log.info("http collector listening on %s:%s, sending to %s", cfg.host, cfg.port, settings.topic("raw"))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    print("READY", flush=True)
    await stop.wait()
    await runner.cleanup()
    await sink.stop()
