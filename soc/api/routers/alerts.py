"""Alerts: the triage queue (list, filter, sort), detail with the events behind, assign, status,
comments, bulk changes, and a live stream of new and revised alerts (Server-Sent Events).

Tenant scoping is part of every query built here, on the server: a caller whose tenants are not
`*` sees only alerts whose `labels.tenant` is one of theirs, whatever the query string says; an
alert of another tenant answers 404, as one that does not exist.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator
from typing import Annotated, Any, Literal

import orjson

from elasticsearch import ConflictError, NotFoundError
from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field, IPvAnyAddress, model_validator

from soc.api.accounts import Principal
from soc.api.security import SINCE, Services, require, scope, services
from soc.model import AlertStatus, Doc, get_path, now_iso

router = APIRouter(prefix="/api/v1/alerts", tags=["alerts"])
READERS = ("analyst", "officer", "automation")
Status = Literal["new", "in_progress", "resolved", "false_positive"]
# Where an alert may go from where it is (reopening a closed one goes back to in_progress).
MOVES: dict[str, set[str]] = {
    "new": {"in_progress", "resolved", "false_positive"},
    "in_progress": {"resolved", "false_positive"},
    "resolved": {"in_progress"},
    "false_positive": {"in_progress"},
}
SORTS = {"-time": [{"@timestamp": "desc"}], "time": [{"@timestamp": "asc"}],
         "-severity": [{"event.severity": "desc"}, {"@timestamp": "desc"}],
         "rule": [{"rule.name": "asc"}, {"@timestamp": "desc"}], "status": [{"soc.alert.status": "asc"}, {"@timestamp": "desc"}]}


class StatusChange(BaseModel):
    status: Status
    reason: str = Field("", max_length=1000)

    @model_validator(mode="after")
    def _reason(self) -> StatusChange:
        if self.status in ("resolved", "false_positive") and not self.reason.strip():
            raise ValueError("closing an alert (resolved, false_positive) needs a reason")
        return self


class Assignment(BaseModel):
    assignee: str = Field(min_length=1, max_length=64)


class NewComment(BaseModel):
    text: str = Field(min_length=1, max_length=5000)


class Comment(BaseModel):
    id: str
    alert_id: str
    author: str
    text: str
    created: str


class Bulk(BaseModel):
    ids: list[Annotated[str, Field(min_length=1, max_length=128)]] = Field(min_length=1, max_length=500)
    action: Literal["assign", "status"]
    assignee: str | None = Field(None, min_length=1, max_length=64)
    status: Status | None = None
    reason: str = Field("", max_length=1000)

    @model_validator(mode="after")
    def _complete(self) -> Bulk:
        if self.action == "assign" and not self.assignee:
            raise ValueError("assign needs an assignee")
        if self.action == "status":
            if self.status is None:
                raise ValueError("status needs a status")
            StatusChange(status=self.status, reason=self.reason)  # the same rule as one by one
        return self


class BulkFailure(BaseModel):
    id: str
    error: str


class BulkResult(BaseModel):
    updated: list[str]
    failed: list[BulkFailure]


@router.get("")
async def list_alerts(
    status: Status | None = None,
    severity: Literal["informational", "low", "medium", "high", "critical"] | None = None,
    rule: str | None = Query(None, max_length=200, description="a rule id or name"),
    source_ip: IPvAnyAddress | None = Query(None, description="an IPv4 or IPv6 address"),
    destination_ip: IPvAnyAddress | None = Query(None, description="an IPv4 or IPv6 address"),
    system: str | None = Query(None, max_length=200, description="the protected system (soc.asset.name)"),
    tenant: str | None = Query(None, max_length=100, description="one of the caller's tenants"),
    since: str = Query("now-7d", pattern=SINCE),
    sort: Literal["-time", "time", "-severity", "rule", "status"] = "-time",
    size: int = Query(50, ge=1, le=500),
    who: Principal = Depends(require(*READERS)), svc: Services = Depends(services),
) -> dict[str, Any]:
    """The triage queue: newest first by default; filters combine."""
    flt: list[dict[str, Any]] = [*scope(who), {"range": {"@timestamp": {"gte": since}}}]
    if status:
        flt.append({"term": {"soc.alert.status": status}})
    if severity:
        flt.append({"term": {"soc.alert.severity": severity}})
    if rule:
        flt.append({"bool": {"should": [{"term": {"rule.id": rule}}, {"term": {"rule.name": rule}}]}})
    if source_ip:
        flt.append({"term": {"source.ip": str(source_ip)}})
    if destination_ip:
        flt.append({"term": {"destination.ip": str(destination_ip)}})
    if system:
        flt.append({"term": {"soc.asset.name": system}})
    if tenant:  # narrows within the caller's scope (above), never widens it
        flt.append({"term": {"labels.tenant": tenant}})
    res = await svc.es.options(ignore_status=404).search(
        index=f"{svc.settings.elastic.index_prefix}-alerts", query={"bool": {"filter": flt}}, size=size,
        sort=SORTS[sort], track_total_hits=True)
    if res.meta.status == 404:
        return {"total": 0, "alerts": []}
    return {"total": res["hits"]["total"]["value"], "alerts": [h["_source"] for h in res["hits"]["hits"]]}


STREAM_POLL_S = 1.0  # Elasticsearch makes a write searchable within its refresh interval (1 s)
STREAM_KEEPALIVE_S = 15.0


@router.get("/stream", response_class=StreamingResponse,
            responses={200: {"content": {"text/event-stream": {}}, "description": "`event: alert` per alert"}})
async def stream(request: Request, who: Principal = Depends(require(*READERS)),
                 svc: Services = Depends(services)) -> StreamingResponse:
    """New and revised alerts as Server-Sent Events (`event: alert`, `data: <alert JSON>`), from
    the moment of connection, scoped to the caller's tenants; a comment line every 15 s keeps
    proxies from closing a quiet stream."""
    index = f"{svc.settings.elastic.index_prefix}-alerts"

    async def events() -> AsyncIterator[bytes]:
        cursor = now_iso()
        quiet = 0.0
        yield b": connected\n\n"
        while not await request.is_disconnected():
            res = await svc.es.options(ignore_status=404).search(
                index=index, size=200, sort=[{"event.created": "asc"}],
                query={"bool": {"filter": [*scope(who), {"range": {"event.created": {"gt": cursor}}}]}})
            hits = res["hits"]["hits"] if res.meta.status == 200 else []
            for h in hits:
                yield b"event: alert\ndata: " + orjson.dumps(h["_source"]) + b"\n\n"
            if hits:
                cursor, quiet = str(get_path(hits[-1]["_source"], "event.created", cursor)), 0.0
            elif quiet >= STREAM_KEEPALIVE_S:
                yield b": keepalive\n\n"
                quiet = 0.0
            await asyncio.sleep(STREAM_POLL_S)
            quiet += STREAM_POLL_S

    return StreamingResponse(events(), media_type="text/event-stream",
                             headers={"X-Accel-Buffering": "no", "Cache-Control": "no-store"})


@router.post("/bulk", response_model=BulkResult)
async def bulk(body: Bulk, who: Principal = Depends(require("analyst")),
               svc: Services = Depends(services)) -> BulkResult:
    """The same change to many alerts; each is checked as if changed alone (tenant, valid move)."""
    out = BulkResult(updated=[], failed=[])
    for alert_id in dict.fromkeys(body.ids):
        try:
            if body.action == "assign":
                await _triage(alert_id, who, svc, {"assignee": body.assignee})
            else:
                assert body.status is not None
                await _move(alert_id, who, svc, StatusChange(status=body.status, reason=body.reason))
            out.updated.append(alert_id)
        except HTTPException as exc:
            out.failed.append(BulkFailure(id=alert_id, error=str(exc.detail)))
    return out


async def _visible(alert_id: str, who: Principal, svc: Services) -> dict[str, Any]:
    try:
        hit = await svc.es.get(index=f"{svc.settings.elastic.index_prefix}-alerts", id=alert_id)
    except NotFoundError:
        raise HTTPException(404, "没有这条告警 (no such alert)") from None
    if not ("*" in who.tenants or who.sees(get_path(hit["_source"], "labels.tenant"))):
        raise HTTPException(404, "没有这条告警 (no such alert)")
    return dict(hit)


@router.get("/{alert_id}")
async def alert_detail(alert_id: str, who: Principal = Depends(require(*READERS)),
                       svc: Services = Depends(services)) -> dict[str, Any]:
    """The alert and the events behind it (normalized, with the line as received)."""
    alert = (await _visible(alert_id, who, svc))["_source"]
    ids = get_path(alert, "soc.alert.event_ids", []) or []
    events: list[Doc] = []
    if ids:
        res = await svc.es.options(ignore_status=404).search(
            index=f"{svc.settings.elastic.index_prefix}-events-*", size=len(ids),
            query={"bool": {"filter": [*scope(who), {"terms": {"event.id": ids}}]}}, sort=[{"@timestamp": "asc"}])
        events = [h["_source"] for h in res["hits"]["hits"]] if res.meta.status == 200 else []
    return {"alert": alert, "events": events, "comments": [c.model_dump() for c in await _comments(alert_id, svc)]}


async def _comments(alert_id: str, svc: Services) -> list[Comment]:
    res = await svc.es.options(ignore_status=404).search(
        index=f"{svc.settings.elastic.index_prefix}-comments", size=500, sort=[{"@timestamp": "asc"}],
        query={"term": {"alert_id": alert_id}})
    hits = res["hits"]["hits"] if res.meta.status == 200 else []
    return [Comment(id=h["_source"]["id"], alert_id=alert_id, author=h["_source"]["author"],
                    text=h["_source"]["text"], created=h["_source"]["@timestamp"]) for h in hits]


@router.get("/{alert_id}/comments", response_model=list[Comment])
async def comments(alert_id: str, who: Principal = Depends(require(*READERS)),
                   svc: Services = Depends(services)) -> list[Comment]:
    await _visible(alert_id, who, svc)
    return await _comments(alert_id, svc)


@router.post("/{alert_id}/comments", response_model=Comment, status_code=201)
async def add_comment(alert_id: str, body: NewComment, who: Principal = Depends(require("analyst", "officer")),
                      svc: Services = Depends(services)) -> Comment:
    """A note on the alert, by an analyst or the department's officer; kept in order, never edited."""
    alert = (await _visible(alert_id, who, svc))["_source"]
    c = Comment(id=secrets.token_hex(12), alert_id=alert_id, author=who.name, text=body.text, created=now_iso())
    await svc.es.index(index=f"{svc.settings.elastic.index_prefix}-comments", id=c.id, refresh=True, document={
        "@timestamp": c.created, "id": c.id, "alert_id": alert_id, "author": c.author, "text": c.text,
        "labels": {"tenant": get_path(alert, "labels.tenant")}})
    return c


async def _triage(alert_id: str, who: Principal, svc: Services, change: dict[str, Any]) -> dict[str, Any]:
    hit = await _visible(alert_id, who, svc)
    try:
        await svc.es.update(index=f"{svc.settings.elastic.index_prefix}-alerts", id=alert_id, refresh=True,
                            doc={"soc": {"alert": {**change, "updated_by": who.name, "updated": now_iso()}}},
                            if_seq_no=hit["_seq_no"], if_primary_term=hit["_primary_term"])
    except ConflictError:
        raise HTTPException(409, "告警同时被他人或新的检测结果修改，请刷新后重试 (changed meanwhile; reload and retry)") from None
    return (await _visible(alert_id, who, svc))["_source"]


@router.post("/{alert_id}/assign")
async def assign(alert_id: str, body: Assignment, who: Principal = Depends(require("analyst")),
                 svc: Services = Depends(services)) -> dict[str, Any]:
    return await _triage(alert_id, who, svc, {"assignee": body.assignee})


@router.post("/{alert_id}/status")
async def set_status(alert_id: str, body: StatusChange, who: Principal = Depends(require("analyst")),
                     svc: Services = Depends(services)) -> dict[str, Any]:
    """new → in_progress → resolved / false_positive (with a reason); a closed alert reopens."""
    return await _move(alert_id, who, svc, body)


async def _move(alert_id: str, who: Principal, svc: Services, body: StatusChange) -> dict[str, Any]:
    current = str(get_path((await _visible(alert_id, who, svc))["_source"], "soc.alert.status",
                           AlertStatus.NEW.value))
    if body.status not in MOVES.get(current, set()):
        raise HTTPException(409, f"不能从 {current} 改为 {body.status} (not a valid move)")
    return await _triage(alert_id, who, svc, {"status": body.status, "status_reason": body.reason})
