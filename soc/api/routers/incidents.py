"""Incidents: the list, opening one by hand from alerts, detail with alerts and timeline, notes, status,
classification and grade (GB/T 20986-2023 / 《网络安全事件分级指南》: soc/reporting/grading.py).

Tenant scoping is applied on the server in every query and look-up (soc/reporting/incidents.py):
an incident of another tenant answers 404, as one that does not exist. A regulator sees only
incidents reported upstream (`soc.incident.reported: true`), within their tenants, read-only.

Grading (`POST …/grade`, analysts): computed from the incident's alerts and the asset inventory
by the rules in reporting/; or an analyst's own grade and/or category, which needs a reason: the
reason is kept on the incident, in its timeline (`grading_override`) and in the audit record of
the call.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from pydantic import BaseModel, ConfigDict, Field, model_validator

from soc.api.accounts import Principal
from soc.api.routers.assets import inventory
from soc.api.security import Services, audit_details, invalid, require, services
from soc.config import ConfigError
from soc.model import Doc, get_path
from soc.reporting.deadlines import load_deadlines, operator_type_for
from soc.reporting.grading import (Classification, Taxonomy, classification_of, classify, grade, load_grading,
                                   load_taxonomy, override)
from soc.reporting.incidents import MAX_TIMELINE, IncidentError, IncidentStore
from soc.yamlfile import FileError

router = APIRouter(prefix="/api/v1/incidents", tags=["incidents"])
READERS = ("analyst", "officer", "regulator")
Status = Literal["open", "contained", "closed"]
Kind = Literal["created", "alert_added", "note", "status_change", "grading", "grading_override", "owner"]
Grade = Literal["特别重大", "重大", "较大", "一般"]
CODE = r"^[A-Z][A-Z0-9]{1,15}$"
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
    owner: str | None = Field(None, description="who handles it (负责人)")
    reported: bool = Field(False, description="a notice was sent upstream (regulators see only these)")
    alert_ids: list[str] = []
    source_ips: list[str] = []
    assets: list[str] = []
    rule_names: list[str] = []
    # Classification and grade (null until graded: POST /api/v1/incidents/{id}/grade).
    category: str | None = Field(None, description="GB/T 20986-2023 category, e.g. 网络攻击事件")
    category_code: str | None = None
    subcategory: str | None = None
    subcategory_code: str | None = None
    classification_basis: list[str] | None = Field(None, description="why this category (Chinese)")
    grade: Grade | None = Field(None, description="特别重大 / 重大 / 较大 / 一般")
    grade_code: str | None = Field(None, description="I / II / III / IV")
    grade_basis: list[str] | None = Field(None, description="why this grade (Chinese)")
    graded_by: str | None = None
    graded_at: str | None = Field(None, json_schema_extra=TIME)
    operator_type: str | None = Field(None, description="whose deadlines apply: cii, government, ordinary")
    grade_override: bool | None = Field(None, description="an analyst's own grade or category")
    grade_override_reason: str | None = None
    records_affected: int | None = Field(None, description="personal-information records affected, when known")


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


class GradeRequest(BaseModel):
    """No override: the grade and category are computed. With grade, category_code or
    subcategory_code: the analyst's own, which needs a reason."""

    model_config = ConfigDict(extra="forbid")

    grade: Grade | None = None
    category_code: str | None = Field(None, pattern=CODE, description="a category code of reporting/taxonomy.yml")
    subcategory_code: str | None = Field(None, pattern=CODE, description="a subcategory code of reporting/taxonomy.yml")
    reason: str = Field("", max_length=1000)

    @property
    def overrides(self) -> bool:
        return self.grade is not None or self.category_code is not None or self.subcategory_code is not None

    @model_validator(mode="after")
    def _reason(self) -> GradeRequest:
        if self.overrides and not self.reason.strip():
            raise ValueError("an override (grade, category_code or subcategory_code) needs a reason")
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


class OwnerChange(BaseModel):
    owner: str = Field(min_length=1, max_length=64, description="the analyst who handles the incident")


@router.post("/{incident_id}/assign", response_model=IncidentOut, responses=ERRORS)
async def set_owner(incident_id: str, body: OwnerChange, who: Principal = Depends(require("analyst")),
                    svc: Services = Depends(services)) -> IncidentOut:
    """Hand the incident to an analyst (its owner); the timeline records who gave it to whom."""
    try:
        return _out(await _store(svc).set_owner(incident_id, body.owner, who.name, who.tenants))
    except IncidentError as exc:
        raise _fail(exc) from None


def _chosen(taxonomy: Taxonomy, body: GradeRequest, actor: str, auto: Classification) -> Classification:
    """The analyst's category/subcategory; ValueError (422) for an unknown or inconsistent code."""
    try:
        if body.subcategory_code is not None:
            chosen = classification_of(taxonomy, body.subcategory_code)
            if chosen.subcategory_code is None:
                raise ValueError(f"{body.subcategory_code} is a category code, not a subcategory code")
            if body.category_code is not None and body.category_code != chosen.category_code:
                raise ValueError(f"subcategory {body.subcategory_code} is not in category {body.category_code}")
        else:
            assert body.category_code is not None
            chosen = classification_of(taxonomy, body.category_code)
            if chosen.subcategory_code is not None:
                raise ValueError(f"{body.category_code} is a subcategory code: give it as subcategory_code")
            if auto.category_code == chosen.category_code:  # same category: keep the computed subcategory
                chosen = auto
    except KeyError as exc:
        raise ValueError(f"no category or subcategory of {taxonomy.standard} has the code {exc.args[0]!r}") from None
    sub = f" / {chosen.subcategory}（{chosen.subcategory_code}）" if chosen.subcategory else ""
    basis = [f"分析员 {actor} 人工分类为 {chosen.category}（{chosen.category_code}）{sub}，原因：{body.reason.strip()}",
             f"自动分类结果为 {auto.category}（{auto.category_code}）"
             + (f" / {auto.subcategory}（{auto.subcategory_code}）" if auto.subcategory else "") + "，其依据如下：",
             *auto.basis]
    return Classification(chosen.category_code, chosen.category, chosen.subcategory_code, chosen.subcategory, basis)


@router.post("/{incident_id}/grade", response_model=IncidentOut,
             responses={**ERRORS, 409: {"description": "changed concurrently too often: try again"},
                        422: {"description": "an override without a reason, or an unknown code"},
                        503: {"description": "a rule file (reporting/) or the asset inventory is unusable"}})
async def grade_incident(incident_id: str, request: Request, body: GradeRequest | None = None,
                         who: Principal = Depends(require("analyst")),
                         svc: Services = Depends(services)) -> IncidentOut:
    """Classify and grade the incident from its alerts and the asset inventory (reporting/
    taxonomy.yml, grading.yml); or set the analyst's own grade and/or category, with a reason."""
    body = body or GradeRequest()
    reason = body.reason.strip()
    # On the audit record of this call whatever happens next (soc/api/security.py audit_call).
    audit_details(request, incident_id=incident_id, override=body.overrides,
                  **({"reason": reason} if reason else {}),
                  **{k: v for k, v in (("requested_grade", body.grade), ("requested_category_code", body.category_code),
                                       ("requested_subcategory_code", body.subcategory_code)) if v is not None})
    store = _store(svc)
    try:
        doc = await store.get(incident_id, who.tenants)
    except IncidentError as exc:
        raise _fail(exc) from None
    try:
        taxonomy, rules, table = load_taxonomy(), load_grading(), load_deadlines()
        assets = inventory(svc.settings.assets_file)
    except (FileError, ConfigError) as exc:
        raise HTTPException(503, f"定级规则或资产清单不可用 (grading rules or asset inventory unusable): {exc}") from None
    alerts = await store.alerts_of(doc, who.tenants)
    auto = classify(alerts, taxonomy)
    chosen = auto
    if body.category_code is not None or body.subcategory_code is not None:
        try:
            chosen = _chosen(taxonomy, body, who.name, auto)
        except ValueError as exc:
            raise invalid(str(exc)) from None
    graded = grade(doc, alerts, assets, datetime.now(UTC), rules, classification=chosen)
    if body.grade is not None:
        graded = override(graded, body.grade, reason, who.name)
    configured = getattr(getattr(svc.settings, "reporting", None), "operator_type", None)
    try:
        operator = operator_type_for(bool(graded.facts.get("cii")), configured, table)
    except ValueError as exc:
        raise HTTPException(503, f"运营者类型配置无效 (reporting.operator_type): {exc}") from None
    audit_details(request, grade=graded.grade, grade_code=graded.code, category_code=chosen.category_code,
                  subcategory_code=chosen.subcategory_code, operator_type=operator)
    try:
        doc = await store.set_grading(incident_id, chosen, graded, who.name, reason if body.overrides else None,
                                      tenants=who.tenants, operator_type=operator,
                                      note="" if body.overrides else reason)
    except IncidentError as exc:
        raise _fail(exc) from None
    return _out(doc)
