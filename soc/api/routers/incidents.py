"""Incidents: the list, opening one by hand from alerts, detail with alerts and timeline, notes, status.

Tenant scoping is applied on the server in every query and look-up (soc/reporting/incidents.py):
an incident of another tenant answers 404, as one that does not exist. A regulator sees only
incidents reported upstream (`soc.incident.reported: true`), within their tenants, read-only.
"""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Query
from pydantic import BaseModel, Field, model_validator

from soc.api.accounts import Principal
from soc.api.security import Services, invalid, require, services
from soc.model import Doc, get_path
from soc.reporting.incidents import MAX_TIMELINE, IncidentError, IncidentStore

router = APIRouter(prefix="/api/v1/incidents", tags=["incidents"])
READERS = ("analyst", "officer", "regulator")
Status = Literal["open", "contained", "closed"]
Kind = Literal["created", "alert_added", "note", "status_change"]
TIME = {"format": "date-time"}
ERRORS: dict[int | str, dict[str, Any]] = {404: {"description": "没有这个事件，或不是你的租户的 (absent, or another tenant's)"}}


class IncidentOut(BaseModel):
    id: str
    title: str
    summary: str = ""
    status: Status
    tenant: str | None = Field(None, description="labels.tenant: the tenant of its alerts")
    opened_by: str = Field(description="a user's name, or playbook:<id>")
    created: str = Field(json_schema_extra=TIME)
    updated: str = Field(json_schema_extra=TIME)
    reopened: str | None = Field(None, json_schema_extra=TIME)
    closed: str | None = Field(None, json_schema_extra=TIME)
    status_reason: str | None = None
    reported: bool = Field(False, description="a notice was sent upstream (regulators see only these)")
    alert_ids: list[str] = []
    source_ips: list[str] = []
    assets: list[str] = []
    rule_names: list[str] = []


class TimelineEntry(BaseModel):
    time: str = Field(json_schema_extra=TIME)
    kind: Kind
    actor: str
    text: str


class IncidentDetail(BaseModel):
    incident: IncidentOut
    alerts: list[dict[str, Any]] = Field(description="its alerts (ECS documents) the caller's tenants cover")
    timeline: list[TimelineEntry] = Field(description=f"oldest first; the first and the latest {MAX_TIMELINE - 1} entries are kept")


class NewIncident(BaseModel):
    title: str = Field(min_length=1, max_length=200)
    summary: str = Field("", max_length=4000)
    alert_ids: list[str] = Field(min_length=1, max_length=100, description="alerts of one tenant")


class Note(BaseModel):
    text: str = Field(min_length=1, max_length=4000)

    @model_validator(mode="after")
    def _text(self) -> Note:
        if not self.text.strip():
            raise ValueError("a note needs text")
        return self


class IncidentStatusChange(BaseModel):
    status: Status
    reason: str = Field("", max_length=1000)

    @model_validator(mode="after")
    def _reason(self) -> IncidentStatusChange:
        if self.status == "closed" and not self.reason.strip():
            raise ValueError("closing an incident needs a reason")
        return self


def _store(svc: Services) -> IncidentStore:
    return IncidentStore(svc.es, svc.settings.elastic.index_prefix)


def _out(doc: Doc) -> IncidentOut:
    inc = dict(get_path(doc, "soc.incident", {}) or {})
    inc.pop("timeline", None)
    inc.pop("timeline_dropped", None)
    return IncidentOut.model_validate({**inc, "tenant": get_path(doc, "labels.tenant"),
                                       "summary": inc.get("summary") or "", "reported": inc.get("reported") is True})


def _reported_only(who: Principal) -> bool:
    """A regulator (without a role of the SOC itself) sees reported incidents only."""
    return not who.has("analyst", "officer")


def _fail(exc: IncidentError) -> HTTPException:
    return invalid(str(exc)) if exc.status == 422 else HTTPException(exc.status, str(exc))


@router.get("", response_model=list[IncidentOut])
async def list_incidents(status: Status | None = None, size: int = Query(100, ge=1, le=500),
                         who: Principal = Depends(require(*READERS)),
                         svc: Services = Depends(services)) -> list[IncidentOut]:
    """Incidents of the caller's tenants, most recently changed first."""
    found = await _store(svc).search(who.tenants, status, _reported_only(who), size)
    return [_out(d) for d in found]


@router.post("", response_model=IncidentOut, status_code=201,
             responses={404: {"description": "an alert is absent or another tenant's"},
                        422: {"description": "bad input, or alerts of several tenants"}})
async def create_incident(body: NewIncident, who: Principal = Depends(require("analyst")),
                          svc: Services = Depends(services)) -> IncidentOut:
    """Open an incident by hand from alerts of one tenant (the incident's tenant)."""
    try:
        return _out(await _store(svc).create(body.title, body.summary, body.alert_ids, who.name, who.tenants))
    except IncidentError as exc:
        raise _fail(exc) from None


@router.get("/{incident_id}", response_model=IncidentDetail, responses=ERRORS)
async def incident_detail(incident_id: str, who: Principal = Depends(require(*READERS)),
                          svc: Services = Depends(services)) -> IncidentDetail:
    store = _store(svc)
    try:
        doc = await store.get(incident_id, who.tenants, _reported_only(who))
    except IncidentError as exc:
        raise _fail(exc) from None
    timeline = [TimelineEntry.model_validate(e) for e in get_path(doc, "soc.incident.timeline", []) or []]
    if _reported_only(who):
        # A regulator reads what was reported (the notices, reporting issue), not the SOC's raw
        # alerts or its analysts' working notes.
        return IncidentDetail(incident=_out(doc), alerts=[], timeline=[e for e in timeline if e.kind != "note"])
    return IncidentDetail(incident=_out(doc), alerts=await store.alerts_of(doc, who.tenants), timeline=timeline)


@router.post("/{incident_id}/notes", response_model=TimelineEntry, responses=ERRORS)
async def add_note(incident_id: str, body: Note, who: Principal = Depends(require("analyst")),
                   svc: Services = Depends(services)) -> TimelineEntry:
    """Append a note to the timeline: the entry."""
    try:
        return TimelineEntry.model_validate(await _store(svc).add_note(incident_id, body.text, who.name, who.tenants))
    except IncidentError as exc:
        raise _fail(exc) from None


@router.post("/{incident_id}/status", response_model=IncidentOut,
             responses={**ERRORS, 409: {"description": "not a valid move from the current status"}})
async def set_status(incident_id: str, body: IncidentStatusChange, who: Principal = Depends(require("analyst")),
                     svc: Services = Depends(services)) -> IncidentOut:
    """open → contained → closed (closing needs a reason); open → closed; contained → open; closed → open."""
    try:
        return _out(await _store(svc).set_status(incident_id, body.status, body.reason, who.name, who.tenants))
    except IncidentError as exc:
        raise _fail(exc) from None
