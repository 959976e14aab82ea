"""Events: search by Lucene query string, export (CSV or NDJSON, streamed), and the SOC overview.

Tenant scoping is part of every query built here, on the server: the analyst's query string is
one `must` clause of a bool query whose `filter` holds the caller's tenants and the time range,
so no query string (`labels.tenant:…`, `*`, `_index:*`, an OR) reaches another tenant's events.

- Search: `query_string` with `type: phrase`, so a run of Chinese characters (which the standard
  analyzer indexes one character at a time) matches as written, not as any of its characters.
- Export: a point in time and `search_after` on (@timestamp, event.id), pages of 1,000, newest
  first; a cluster without point-in-time search gets the same sorted pages over the live indices
  (the sort is total: event.id is the document id within a daily index). CSV carries a UTF-8
  BOM (Excel opens it as UTF-8) and neutralises formula cells (OWASP "CSV injection").
- Overview: one msearch (events in the window, events of the last 5 minutes, alerts in the
  window with their aggregations), absolute times computed once, so the buckets listed here are
  the buckets Elasticsearch counted.
"""

from __future__ import annotations

import csv
import io
import logging
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

import anyio
import orjson
from elasticsearch import ApiError
from fastapi import APIRouter, Depends, HTTPException, Query
from fastapi.responses import StreamingResponse
from pydantic import BaseModel

from soc.api.accounts import Principal
from soc.api.security import Services, invalid, require, scope, services
from soc.assets import load_inventory
from soc.config import ConfigError
from soc.model import Doc, get_path, iso

log = logging.getLogger(__name__)


class Problem(BaseModel):
    """An error: a sentence in Chinese and English, or (for a malformed parameter) FastAPI's list."""

    detail: str | list[dict[str, Any]]


router = APIRouter(prefix="/api/v1", responses={401: {"model": Problem}, 403: {"model": Problem},
                                                422: {"model": Problem}})
SEARCHERS = ("analyst", "officer", "automation")
EXPORTERS = ("analyst", "officer")
SEVERITIES = ("critical", "high", "medium", "low", "informational")

PAGE = 1000  # events per Elasticsearch request of an export
PIT_KEEP_ALIVE = "5m"  # between two pages: a slow reader of the download must not lose its place
USE_PIT = True  # False: sorted pages over the live indices (the fallback, also tested)
SORT: list[dict[str, Any]] = [{"@timestamp": {"order": "desc", "unmapped_type": "date"}},
                              {"event.id": {"order": "desc", "unmapped_type": "keyword"}}]

# The columns of a CSV export: what an analyst reads first, then the line as received.
COLUMNS = ("@timestamp", "event.dataset", "event.action", "event.outcome", "source.ip", "source.port",
           "destination.ip", "destination.port", "user.name", "host.name", "soc.asset.name", "labels.tenant",
           "soc.severity", "message", "event.original")
# A cell beginning with one of these is a formula to Excel or LibreOffice: prefixed with '.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")

DATE_MATH = re.compile(r"now(?:[+-]\d{1,6}[yMwdhHms])*(?:/[yMwdhHms])?")
WHEN_DOC = "`now-15m` style date math, or an ISO-8601 time (UTC when it names no offset)"

# Never external, whatever the inventory says: RFC 1918, loopback, link-local, CGNAT, ULA.
NON_ROUTABLE = ("0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16", "172.16.0.0/12",
                "192.168.0.0/16", "::1/128", "fc00::/7", "fe80::/10")
# The overview's buckets: the smallest interval giving at most MAX_BUCKETS over the window.
INTERVALS = (("1m", 60), ("5m", 300), ("10m", 600), ("30m", 1800), ("1h", 3600), ("3h", 10800), ("6h", 21600),
             ("12h", 43200), ("1d", 86400), ("7d", 604800))
MAX_BUCKETS = 60
UNIT_S = {"m": 60, "h": 3600, "d": 86400, "w": 604800}
MAX_WINDOW_S = 366 * 86400
EPS_WINDOW_S = 300


# --------------------------------------------------------------------------- models


class EventPage(BaseModel):
    total: int
    events: list[dict[str, Any]]


class TimeCount(BaseModel):
    t: str
    count: int


class SeverityCounts(BaseModel):
    critical: int
    high: int
    medium: int
    low: int
    informational: int


class SeverityBucket(SeverityCounts):
    t: str


class TopSource(BaseModel):
    ip: str
    count: int
    country: str | None
    lat: float | None
    lon: float | None


class TopSystem(BaseModel):
    system: str
    count: int


class Technique(BaseModel):
    technique: str
    tactic: str | None
    count: int


class Overview(BaseModel):
    since: str
    events_total: int
    events_per_second: float
    events_over_time: list[TimeCount]
    alerts_by_severity: SeverityCounts
    alerts_over_time: list[SeverityBucket]
    top_sources: list[TopSource]
    top_systems: list[TopSystem]
    techniques: list[Technique]


# --------------------------------------------------------------------------- queries


def _when(value: str, name: str) -> str:
    """Date math as given, or an ISO-8601 time in the form Elasticsearch's date type reads; 422 else."""
    text = value.strip()
    if DATE_MATH.fullmatch(text):
        return text
    try:
        ts = datetime.fromisoformat(text)
        return iso(ts if ts.tzinfo else ts.replace(tzinfo=UTC))
    except (ValueError, OverflowError):
        raise invalid(f"{name} 须为 now-15m 式的相对时间或 ISO-8601 时间 "
                      f"({name} must be date math like now-15m or an ISO-8601 time)") from None


def _query(who: Principal, q: str | None, since: str, until: str) -> dict[str, Any]:
    """The analyst's query string under the caller's tenant filter and the time range."""
    body: dict[str, Any] = {"filter": [*scope(who), {"range": {"@timestamp": {
        "gte": _when(since, "since"), "lte": _when(until, "until")}}}]}
    if q and q.strip():
        body["must"] = [{"query_string": {"query": q, "type": "phrase"}}]
    return {"bool": body}


def _reason(exc: ApiError) -> str:
    """Elasticsearch's own words for a refused query: the failure and its first cause's first line."""
    error = exc.body.get("error") if isinstance(exc.body, dict) else None
    if not isinstance(error, dict):
        return str(exc.message)
    failures = error.get("failed_shards") or []
    node = failures[0].get("reason", {}) if failures else (error.get("root_cause") or [error])[0]
    reasons = []
    while isinstance(node, dict) and len(reasons) < 2:
        line = str(node.get("reason") or "").strip().splitlines()[:1]
        if line and not any(line[0] in r for r in reasons):
            reasons.append(line[0])
        node = node.get("caused_by")
    return ": ".join(reasons) or str(error.get("reason") or exc.message)


def _bad_query(exc: ApiError) -> HTTPException:
    return invalid(f"查询无效 (invalid query): {_reason(exc)}", "query")


async def _search(svc: Services, missing_ok: bool = True, **kwargs: Any) -> Any:
    """A search whose 400 (the analyst's query string) answers 422 with Elasticsearch's reason;
    no index at all is an empty answer (404, when missing_ok). Partial results are refused: shards
    the time range lets Elasticsearch skip count as successful, so a query string that fails to
    parse on the others would otherwise come back as a 200 with no hits."""
    try:
        return await svc.es.options(ignore_status=404 if missing_ok else ()).search(
            allow_partial_search_results=False, **kwargs)
    except ApiError as exc:
        if exc.meta.status == 400:
            raise _bad_query(exc) from None
        raise


def _events_index(svc: Services) -> str:
    return f"{svc.settings.elastic.index_prefix}-events-*"


# --------------------------------------------------------------------------- search


Q = Query(None, max_length=4000, description="Lucene query-string syntax, e.g. `source.ip:\"203.0.113.0/24\" AND "
                                             "event.outcome:failure`; empty: every event")
SINCE = Query("now-24h", max_length=64, description=WHEN_DOC)
UNTIL = Query("now", max_length=64, description=WHEN_DOC)


@router.get("/events", response_model=EventPage, tags=["events"])
async def search_events(
    q: str | None = Q, since: str = SINCE, until: str = UNTIL, size: int = Query(50, ge=1, le=500),
    who: Principal = Depends(require(*SEARCHERS)), svc: Services = Depends(services),
) -> EventPage:
    """Events of the caller's tenants matching the query string, newest first."""
    res = await _search(svc, index=_events_index(svc), query=_query(who, q, since, until), size=size, sort=SORT,
                        track_total_hits=True)
    if res.meta.status == 404:
        return EventPage(total=0, events=[])
    return EventPage(total=res["hits"]["total"]["value"], events=[h["_source"] for h in res["hits"]["hits"]])


# --------------------------------------------------------------------------- export


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ", ".join(map(_text, value))
    if isinstance(value, dict):
        return orjson.dumps(value).decode()
    return str(value)


def _cell(value: Any) -> str:
    """A field's value as a spreadsheet cell that Excel will not run as a formula."""
    text = _text(value)
    return "'" + text if text.startswith(FORMULA_START) else text


def _csv(docs: list[Doc], header: bool) -> bytes:
    buf = io.StringIO()
    if header:
        buf.write("\ufeff")  # the BOM: Excel (zh-CN) otherwise reads the file as GBK
    out = csv.writer(buf)
    if header:
        out.writerow(COLUMNS)
    out.writerows([_cell(get_path(d, c)) for c in COLUMNS] for d in docs)
    return buf.getvalue().encode("utf-8")


def _ndjson(docs: list[Doc], header: bool) -> bytes:
    return b"".join(orjson.dumps(d) + b"\n" for d in docs)


class _Pages:
    """Sorted pages of the events a query matches, at most `limit` of them, from a point in time
    when the cluster offers it."""

    def __init__(self, svc: Services, query: dict[str, Any], limit: int) -> None:
        self.svc, self.query, self.left = svc, query, limit
        self.pit: str | None = None
        self.after: list[Any] | None = None
        self.done = False

    async def open(self) -> None:
        if not USE_PIT:
            return
        try:
            res = await self.svc.es.open_point_in_time(index=_events_index(self.svc), keep_alive=PIT_KEEP_ALIVE)
            self.pit = res["id"]
        except ApiError as exc:  # a cluster without point-in-time search: live sorted pages
            log.info("export without a point in time: %s", exc)

    async def close(self) -> None:
        pit, self.pit = self.pit, None
        if pit:
            with anyio.CancelScope(shield=True):  # the download may have been abandoned: free it anyway
                try:
                    await self.svc.es.close_point_in_time(id=pit)
                except Exception as exc:  # noqa: BLE001 - it expires after PIT_KEEP_ALIVE in any case
                    log.warning("could not close point in time: %s", exc)

    async def next(self) -> list[Doc]:
        if self.done or self.left <= 0:
            return []
        size = min(PAGE, self.left)
        where: dict[str, Any] = ({"pit": {"id": self.pit, "keep_alive": PIT_KEEP_ALIVE}} if self.pit
                                 else {"index": _events_index(self.svc)})
        if self.after is not None:
            where["search_after"] = self.after
        # A point in time that expired is an error (the download breaks off), never a short file.
        res = await _search(self.svc, missing_ok=self.pit is None, query=self.query, size=size, sort=SORT,
                            track_total_hits=False, **where)
        if res.meta.status == 404:
            self.done = True
            return []
        self.pit = res.get("pit_id", self.pit)
        hits = res["hits"]["hits"]
        self.left -= len(hits)
        self.done = len(hits) < size
        if hits:
            self.after = hits[-1]["sort"]
        return [h["_source"] for h in hits]


@router.get("/events/export", response_class=StreamingResponse, tags=["events"], responses={200: {
    "description": "the events, newest first: CSV (UTF-8 with a BOM) or NDJSON (one stored document a line)",
    "content": {"text/csv": {"schema": {"type": "string"}}, "application/x-ndjson": {"schema": {"type": "string"}}}}})
async def export_events(
    q: str | None = Q, since: str = SINCE, until: str = UNTIL,
    fmt: Literal["csv", "ndjson"] = Query("csv", alias="format"),
    limit: int = Query(10_000, ge=1, le=100_000, description="at most this many events"),
    who: Principal = Depends(require(*EXPORTERS)), svc: Services = Depends(services),
) -> StreamingResponse:
    """A download of the events of the caller's tenants matching the query string."""
    pages = _Pages(svc, _query(who, q, since, until), limit)
    await pages.open()
    try:
        first = await pages.next()  # a bad query string answers 422 here, before the download starts
    except BaseException:
        await pages.close()
        raise
    render = _csv if fmt == "csv" else _ndjson
    # Taking data out is recorded like a change (who, what query, how much): MLPS 8.1.4.3.
    await svc.audit.append(actor=who.name, action="GET /api/v1/events/export", outcome="success",
                           details={"q": q, "since": since, "until": until, "format": fmt, "limit": limit})

    async def body() -> AsyncIterator[bytes]:
        try:
            docs, header = first, True
            while True:
                yield render(docs, header)
                docs, header = await pages.next(), False
                if not docs:
                    break
        except Exception:
            log.exception("event export failed part way")
            raise
        finally:
            await pages.close()

    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    media = "text/csv; charset=utf-8" if fmt == "csv" else "application/x-ndjson"
    return StreamingResponse(body(), media_type=media, headers={
        "Content-Disposition": f"attachment; filename=events-{stamp}.{fmt}", "X-Accel-Buffering": "no"})


# --------------------------------------------------------------------------- overview


@lru_cache(maxsize=4)
def _internal(assets_file: Path | None) -> tuple[str, ...]:
    """Addresses that are never an external source: the non-routable ones and the inventory's."""
    try:
        nets = [str(n) for n in load_inventory(assets_file).internal]
    except ConfigError as exc:
        log.warning("overview without the inventory's internal networks: %s", exc)
        nets = []
    return tuple(dict.fromkeys([*NON_ROUTABLE, *nets]))


def _window(since: str) -> int:
    m = re.fullmatch(r"now-(\d{1,6})([mhdw])", since)
    seconds = int(m.group(1)) * UNIT_S[m.group(2)] if m else 0
    if not 60 <= seconds <= MAX_WINDOW_S:
        raise invalid("since 须为 now-1m 到 now-366d 之间 (since must be now-1m … now-366d)")
    return seconds


def _histogram(interval: str, start_ms: int, now_ms: int) -> dict[str, Any]:
    return {"date_histogram": {"field": "@timestamp", "fixed_interval": interval, "min_doc_count": 0,
                               "extended_bounds": {"min": start_ms, "max": now_ms}}}


def _t(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _buckets(res: dict[str, Any], name: str) -> dict[int, dict[str, Any]]:
    return {int(b["key"]): b for b in get_path(res, f"aggregations.{name}.buckets", []) or []}


def _severities(buckets: list[dict[str, Any]]) -> dict[str, int]:
    counts = dict.fromkeys(SEVERITIES, 0)
    for b in buckets:
        if b["key"] in counts:
            counts[b["key"]] = b["doc_count"]
    return counts


@router.get("/overview", response_model=Overview, tags=["overview"])
async def overview(
    since: str = Query("now-24h", max_length=16, pattern=r"^now-\d{1,6}[mhdw]$",
                       description="the window: `now-1h`, `now-24h`, `now-7d` …"),
    who: Principal = Depends(require(*EXPORTERS)), svc: Services = Depends(services),
) -> Overview:
    """The SOC overview's figures for the caller's tenants over the window."""
    window = _window(since)
    now_ms = int(datetime.now(UTC).timestamp() * 1000)
    start_ms = now_ms - window * 1000
    interval, step_s = next(((n, s) for n, s in INTERVALS if window / s <= MAX_BUCKETS), INTERVALS[-1])
    step = step_s * 1000
    keys = range(start_ms - start_ms % step, now_ms + 1, step)  # date_histogram's keys: epoch-aligned

    def within(gte: int) -> dict[str, Any]:
        return {"bool": {"filter": [*scope(who), {"range": {"@timestamp": {
            "gte": gte, "lte": now_ms, "format": "epoch_millis"}}}]}}

    external = {"bool": {"minimum_should_match": 1, "should": [
        {"term": {"network.direction": "inbound"}},
        {"bool": {"filter": [{"exists": {"field": "source.ip"}}],
                  "must_not": [{"terms": {"source.ip": list(_internal(svc.settings.assets_file))}}]}}]}}
    prefix = svc.settings.elastic.index_prefix
    head = {"index": f"{prefix}-events-*", "ignore_unavailable": True, "allow_no_indices": True}
    res = await svc.es.msearch(searches=[
        head, {"size": 0, "track_total_hits": True, "query": within(start_ms),
               "aggs": {"t": _histogram(interval, start_ms, now_ms)}},
        head, {"size": 0, "track_total_hits": True, "query": within(now_ms - EPS_WINDOW_S * 1000)},
        {**head, "index": f"{prefix}-alerts"}, {"size": 0, "query": within(start_ms), "aggs": {
            "severity": {"terms": {"field": "soc.alert.severity", "size": 10}},
            "t": {**_histogram(interval, start_ms, now_ms),
                  "aggs": {"severity": {"terms": {"field": "soc.alert.severity", "size": 10}}}},
            "external": {"filter": external, "aggs": {"ip": {"terms": {"field": "source.ip", "size": 10}, "aggs": {
                "country": {"terms": {"field": "source.geo.country_iso_code", "size": 1}},
                "where": {"geo_centroid": {"field": "source.geo.location"}}}}}},
            "systems": {"terms": {"field": "soc.asset.name", "size": 10}},
            "techniques": {"terms": {"field": "threat.technique.id", "size": 10},
                           "aggs": {"tactic": {"terms": {"field": "threat.tactic.name", "size": 1}}}}}},
    ])
    events, recent, alerts = res["responses"]
    for r in (events, recent, alerts):
        if "error" in r:
            raise RuntimeError(f"overview search failed: {orjson.dumps(r['error']).decode()[:2000]}")

    per_t = _buckets(events, "t")
    alert_t = _buckets(alerts, "t")
    sources = []
    for b in get_path(alerts, "aggregations.external.ip.buckets", []) or []:
        country = (b["country"]["buckets"] or [{}])[0].get("key")
        where = b["where"].get("location") or {}
        sources.append(TopSource(ip=b["key"], count=b["doc_count"], country=country, lat=where.get("lat"),
                                 lon=where.get("lon")))
    return Overview(
        since=since,
        events_total=events["hits"]["total"]["value"],
        events_per_second=round(recent["hits"]["total"]["value"] / EPS_WINDOW_S, 3),
        events_over_time=[TimeCount(t=_t(k), count=per_t[k]["doc_count"] if k in per_t else 0) for k in keys],
        alerts_by_severity=SeverityCounts(**_severities(get_path(alerts, "aggregations.severity.buckets", []) or [])),
        alerts_over_time=[SeverityBucket(t=_t(k), **_severities(alert_t[k]["severity"]["buckets"] if k in alert_t
                                                               else [])) for k in keys],
        top_sources=sources,
        top_systems=[TopSystem(system=b["key"], count=b["doc_count"])
                     for b in get_path(alerts, "aggregations.systems.buckets", []) or []],
        techniques=[Technique(technique=b["key"], count=b["doc_count"],
                              tactic=(b["tactic"]["buckets"] or [{}])[0].get("key"))
                    for b in get_path(alerts, "aggregations.techniques.buckets", []) or []],
    )
