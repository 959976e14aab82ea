"""Incident notices upstream: queue one for an incident, list them with their delivery and deadline,
read one with its attempts and the notice as sent (soc/reporting/notices.py, outbox.py).

Tenant-scoped like everything: a notice carries its incident's tenant (`labels.tenant`) and the
caller's tenants filter every query; another tenant's notice answers 404, as one that does not
exist. A regulator (without a role of the SOC itself) sees only notices of incidents reported
upstream (`soc.incident.reported: true`, set when a notice is delivered).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from pydantic import BaseModel, Field

from soc.api.accounts import Principal
from soc.api.routers.assets import inventory
from soc.api.security import Services, audit_details, invalid, require, scope, services
from soc.config import ConfigError
from soc.model import Doc, get_path, parse_iso
from soc.reporting.incidents import IncidentError, IncidentStore
from soc.reporting.notices import NoticeFields, queue_notices
from soc.reporting.outbox import Outbox, utcnow

router = APIRouter(tags=["notices"])
READERS = ("analyst", "officer", "regulator")
TIME = {"format": "date-time"}
State = Literal["queued", "sending", "delivered", "rejected", "retrying"]
DueStatus = Literal["due", "overdue", "on_time", "late"]
ERRORS: dict[int | str, dict[str, Any]] = {404: {"description": "没有这个通报，或不是你的租户的 (absent, or another tenant's)"}}
MAX_REPORTED = 10_000  # incidents a regulator's notice list is joined against


class Receipt(BaseModel):
    receipt_id: str
    notice_id: str
    received_at: str
    duplicate: bool


class Rejection(BaseModel):
    status: int | None = None
    code: str | None = None
    message: str | None = None


class NoticeOut(BaseModel):
    id: str
    incident_id: str
    kind: Literal["initial", "follow_up", "final"]
    sequence: int
    endpoint: str = Field(description="the receiver (reporting.endpoints[].name)")
    recipient: str = Field(description="province or authority")
    state: State
    tenant: str | None = None
    grade: str | None = None
    grade_code: str | None = None
    category_code: str | None = None
    subcategory_code: str | None = None
    created: str = Field(json_schema_extra=TIME)
    created_by: str
    updated: str = Field(json_schema_extra=TIME)
    due_at: str | None = Field(None, json_schema_extra=TIME, description="None: no deadline (一般)")
    due_status: DueStatus | None = Field(None, description="due, overdue, on_time, late (None: no deadline)")
    attempt_count: int = 0
    next_attempt_at: str | None = Field(None, json_schema_extra=TIME)
    first_attempt_at: str | None = Field(None, json_schema_extra=TIME)
    delivered_at: str | None = Field(None, json_schema_extra=TIME)
    late: bool | None = None
    receipt: Receipt | None = None
    rejection: Rejection | None = None
    last_error: str | None = None
    overdue_alert_id: str | None = None


class Attempt(BaseModel):
    n: int | None = None
    started: str | None = None
    finished: str | None = None
    worker: str | None = None
    outcome: str
    status: int | None = None
    code: str | None = None
    message: str | None = None
    url: str | None = None
    tried: list[str] = []
    receipt_id: str | None = None
    duplicate: bool | None = None


class NoticeDetail(BaseModel):
    notice: NoticeOut
    attempts: list[Attempt] = Field(description="every delivery attempt, oldest first")
    body: dict[str, Any] = Field(description="the notice as sent (docs/notice.schema.json)")


class NewNotice(NoticeFields):
    kind: Literal["initial", "follow_up", "final"] = Field(description="initial 初报, follow_up 续报, final 总结报告")


class Skipped(BaseModel):
    endpoint: str
    reason: str


class QueuedNotices(BaseModel):
    notices: list[NoticeOut] = Field(description="one per receiver the incident's grade calls for")
    skipped: list[Skipped] = Field(description="receivers left out, and why")


def _reported_only(who: Principal) -> bool:
    return not who.has("analyst", "officer")


def _out(doc: Doc, now: datetime) -> NoticeOut:
    from soc.reporting import deadlines

    n = dict(get_path(doc, "soc.notice", {}) or {})
    due_status = None
    if n.get("due_at"):
        sent = parse_iso(n["delivered_at"]) if n.get("delivered_at") else None
        due_status = deadlines.status(parse_iso(n["due_at"]), sent, now)
    receipt = n.get("receipt") or None
    return NoticeOut.model_validate({
        **{k: v for k, v in n.items() if k in NoticeOut.model_fields},
        "tenant": get_path(doc, "labels.tenant"), "due_status": due_status,
        "receipt": {k: receipt[k] for k in Receipt.model_fields} if receipt else None})


def _fail(exc: IncidentError) -> HTTPException:
    return invalid(str(exc)) if exc.status == 422 else HTTPException(exc.status, str(exc))


def _outbox(svc: Services) -> Outbox:
    return Outbox(svc.es, svc.settings.elastic.index_prefix, svc.settings.reporting)


async def _reported_incidents(svc: Services, who: Principal) -> list[str]:
    res = await svc.es.options(ignore_status=404).search(
        index=f"{svc.settings.elastic.index_prefix}-incidents", size=MAX_REPORTED, source=False,
        query={"bool": {"filter": [*scope(who), {"term": {"soc.incident.reported": True}}]}})
    return [] if res.meta.status == 404 else [h["_id"] for h in res["hits"]["hits"]]


@router.post("/api/v1/incidents/{incident_id}/notices", response_model=QueuedNotices, status_code=201,
             responses={404: ERRORS[404], 409: {"description": "not graded, no receiver or reporting unit configured, "
                                                              "or no notice of this kind possible now"},
                        422: {"description": "bad input, or the notice does not validate against its schema"},
                        503: {"description": "the asset inventory is unusable"}})
async def create_notice(incident_id: str, body: NewNotice, request: Request,
                        who: Principal = Depends(require("analyst")),
                        svc: Services = Depends(services)) -> QueuedNotices:
    """Build, validate and queue the notice of this kind to every receiver the incident's grade
    calls for (the province; the authorities for 较大 and graver); the outbox delivers it."""
    audit_details(request, incident_id=incident_id, kind=body.kind)
    fields = NoticeFields.model_validate(body.model_dump(exclude={"kind"}))
    try:
        assets = inventory(svc.settings.assets_file)
    except ConfigError as exc:
        raise HTTPException(503, str(exc)) from None
    try:
        queued, skipped = await queue_notices(svc.es, svc.settings, incident_id, body.kind, fields, who.name,
                                              who.tenants, assets)
    except IncidentError as exc:
        raise _fail(exc) from None
    audit_details(request, notices=[d["soc"]["notice"]["id"] for d in queued])
    now = utcnow()
    return QueuedNotices(notices=[_out(d, now) for d in queued], skipped=[Skipped(**s) for s in skipped])


@router.get("/api/v1/notices", response_model=list[NoticeOut])
async def list_notices(state: State | None = None, due: DueStatus | None = None, incident_id: str | None = None,
                       size: int = Query(100, ge=1, le=500), who: Principal = Depends(require(*READERS)),
                       svc: Services = Depends(services)) -> list[NoticeOut]:
    """Notices of the caller's tenants, newest first; `state` (queued, sending, delivered, rejected,
    retrying), `due` (due, overdue, on_time, late: against each notice's deadline, now)."""
    filters: list[dict[str, Any]] = list(scope(who))
    if state:
        filters.append({"term": {"soc.notice.state": state}})
    if incident_id:
        filters.append({"term": {"soc.notice.incident_id": incident_id}})
    if due:
        filters.append({"exists": {"field": "soc.notice.due_at"}})
        if due in ("due", "overdue"):
            filters.append({"bool": {"must_not": [{"term": {"soc.notice.state": "delivered"}}]}})
            filters.append({"range": {"soc.notice.due_at": {"gte" if due == "due" else "lt": "now"}}})
        else:
            filters.append({"term": {"soc.notice.state": "delivered"}})
            filters.append({"term": {"soc.notice.late": due == "late"}})
    if _reported_only(who):
        reported = await _reported_incidents(svc, who)
        if not reported:
            return []
        filters.append({"terms": {"soc.notice.incident_id": reported}})
    hits = await _outbox(svc).search(filters, size=size, source_excludes=["soc.notice.body", "soc.notice.attempts"])
    now = utcnow()
    out = [_out(h["_source"], now) for h in hits]
    return [n for n in out if due is None or n.due_status == due]


async def _visible(svc: Services, who: Principal, notice_id: str) -> Doc:
    hit = await _outbox(svc).get(notice_id)
    src = hit["_source"] if hit else None
    if src is None or get_path(src, "event.dataset") != "soc.notice" or not (
            "*" in who.tenants or get_path(src, "labels.tenant") in who.tenants):
        raise HTTPException(404, "没有这个通报 (no such notice)")
    if _reported_only(who):
        try:
            await IncidentStore(svc.es, svc.settings.elastic.index_prefix).get(
                str(get_path(src, "soc.notice.incident_id")), who.tenants, reported_only=True)
        except IncidentError:
            raise HTTPException(404, "没有这个通报 (no such notice)") from None
    return src


@router.get("/api/v1/notices/{notice_id}", response_model=NoticeDetail, responses=ERRORS)
async def notice_detail(notice_id: str, who: Principal = Depends(require(*READERS)),
                        svc: Services = Depends(services)) -> NoticeDetail:
    """The notice with its delivery attempts and the notice as sent."""
    import orjson

    src = await _visible(svc, who, notice_id)
    n = src["soc"]["notice"]
    return NoticeDetail(notice=_out(src, utcnow()), attempts=[Attempt.model_validate(a) for a in n.get("attempts") or []],
                        body=orjson.loads(n.get("body") or "{}"))


@router.post("/api/v1/notices/{notice_id}/requeue", response_model=NoticeOut,
             responses={**ERRORS, 409: {"description": "the notice is not rejected"}})
async def requeue_notice(notice_id: str, who: Principal = Depends(require("analyst")),
                         svc: Services = Depends(services)) -> NoticeOut:
    """Queue a rejected notice again, unchanged (once what the receiver refused is fixed)."""
    await _visible(svc, who, notice_id)
    doc = await _outbox(svc).requeue(notice_id, who.name)
    if doc is None:
        raise HTTPException(409, "只能重新排队被拒收的通报 (only a rejected notice can be queued again)")
    return _out(doc, utcnow())
