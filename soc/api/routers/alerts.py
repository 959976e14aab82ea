"""Alerts: the triage queue (list, filter, sort), detail with the events behind, assign, status.

Tenant scoping is part of every query built here, on the server: a caller whose tenants are not
`*` sees only alerts whose `labels.tenant` is one of theirs, whatever the query string says; an
alert of another tenant answers 404, as one that does not exist.
"""

from __future__ import annotations

from typing import Any, Literal

from elasticsearch import NotFoundError
from fastapi import APIRouter, Depends, HTTPException, Query
from pydantic import BaseModel, Field, model_validator

from soc.api.accounts import Principal
from soc.api.security import Services, require, services
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
         "-severity": [{"event.severity": "desc"}, {"@timestamp": "desc"}]}


def scope(who: Principal) -> list[dict[str, Any]]:
    """The tenant filter of every alert query for this caller."""
    return [] if "*" in who.tenants else [{"terms": {"labels.tenant": who.tenants}}]


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


@router.get("")
async def list_alerts(
    status: Status | None = None,
    severity: Literal["informational", "low", "medium", "high", "critical"] | None = None,
    rule: str | None = Query(None, max_length=200, description="a rule id or name"),
    source_ip: str | None = Query(None, max_length=64),
    since: str = Query("now-7d", pattern=r"^now(-\d+[smhdw])?$"),
    sort: Literal["-time", "time", "-severity"] = "-time",
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
        flt.append({"term": {"source.ip": source_ip}})
    res = await svc.es.options(ignore_status=404).search(
        index=f"{svc.settings.elastic.index_prefix}-alerts", query={"bool": {"filter": flt}}, size=size,
        sort=SORTS[sort], track_total_hits=True)
    if res.meta.status == 404:
        return {"total": 0, "alerts": []}
    return {"total": res["hits"]["total"]["value"], "alerts": [h["_source"] for h in res["hits"]["hits"]]}


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
    return {"alert": alert, "events": events}


async def _triage(alert_id: str, who: Principal, svc: Services, change: dict[str, Any]) -> dict[str, Any]:
    hit = await _visible(alert_id, who, svc)
    await svc.es.update(index=f"{svc.settings.elastic.index_prefix}-alerts", id=alert_id, refresh=True,
                        doc={"soc": {"alert": {**change, "updated_by": who.name, "updated": now_iso()}}},
                        if_seq_no=hit["_seq_no"], if_primary_term=hit["_primary_term"])
    return (await _visible(alert_id, who, svc))["_source"]


@router.post("/{alert_id}/assign")
async def assign(alert_id: str, body: Assignment, who: Principal = Depends(require("analyst")),
                 svc: Services = Depends(services)) -> dict[str, Any]:
    return await _triage(alert_id, who, svc, {"assignee": body.assignee})


@router.post("/{alert_id}/status")
async def set_status(alert_id: str, body: StatusChange, who: Principal = Depends(require("analyst")),
                     svc: Services = Depends(services)) -> dict[str, Any]:
    """new → in_progress → resolved / false_positive (with a reason); a closed alert reopens."""
    current = str(get_path((await _visible(alert_id, who, svc))["_source"], "soc.alert.status",
                           AlertStatus.NEW.value))
    if body.status not in MOVES.get(current, set()):
        raise HTTPException(409, f"不能从 {current} 改为 {body.status} (not a valid move)")
    return await _triage(alert_id, who, svc, {"status": body.status, "status_reason": body.reason})
