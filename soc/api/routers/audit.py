"""The platform's audit trail, for the audit administrator only (MLPS 2.0 8.1.4.3, 8.1.5.3)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel

from soc.api.accounts import Principal
from soc.api.security import SINCE, Services, require, services

router = APIRouter(prefix="/api/v1/audit", tags=["audit"])


class VerifyOut(BaseModel):
    ok: bool
    records: int
    head_seq: int
    problems: list[str]


@router.get("")
async def records(since: str = Query("now-7d", pattern=SINCE), actor: str | None = Query(None, max_length=64),
                  size: int = Query(200, ge=1, le=1000), who: Principal = Depends(require("auditadmin")),
                  svc: Services = Depends(services)) -> list[dict[str, Any]]:
    """Sign-ins and changes, newest first."""
    flt: list[dict[str, Any]] = [{"range": {"@timestamp": {"gte": since}}}]
    if actor:
        flt.append({"term": {"actor": actor}})
    await svc.es.options(ignore_status=404).indices.refresh(index=svc.audit.index)  # up to the last record
    res = await svc.es.options(ignore_status=404).search(
        index=svc.audit.index, query={"bool": {"filter": flt}}, size=size, sort=[{"seq": "desc"}])
    return [h["_source"] for h in res["hits"]["hits"]] if res.meta.status == 200 else []


@router.get("/verify", response_model=VerifyOut)
async def verify(who: Principal = Depends(require("auditadmin")), svc: Services = Depends(services)) -> VerifyOut:
    """Walk the hash chain: a deleted, altered or re-ordered record is named."""
    v = await svc.audit.verify()
    return VerifyOut(ok=v.ok, records=v.records, head_seq=v.head_seq, problems=v.problems)
