"""Playbooks: which are loaded, and their runs (every decision is an action in `<prefix>-actions`).

The approvals queue and the blocklist are soc/api/routers/blocks.py.
"""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel

from soc.api.accounts import Principal
from soc.api.security import SINCE, Services, require, scope, services
from soc.response.playbook import load_playbooks

router = APIRouter(prefix="/api/v1/playbooks", tags=["playbooks"])
READERS = ("analyst", "officer")


class PlaybookOut(BaseModel):
    id: str
    name: str
    description: str
    enabled: bool
    simulate: bool
    steps: list[str]
    source: str


class PlaybookList(BaseModel):
    playbooks: list[PlaybookOut]
    problems: list[str]


@router.get("", response_model=PlaybookList)
async def list_playbooks(who: Principal = Depends(require(*READERS)), svc: Services = Depends(services)) -> PlaybookList:
    """The playbooks of the folder, and the files left out with their problems."""
    books, problems = await asyncio.to_thread(load_playbooks, svc.settings.response.playbooks_dir)
    return PlaybookList(problems=problems, playbooks=[
        PlaybookOut(id=b.id, name=b.name, description=b.description, enabled=b.enabled, simulate=b.simulate,
                    steps=[s.action for s in b.steps], source=b.source) for b in books])


@router.get("/runs")
async def runs(since: str = Query("now-7d", pattern=SINCE), playbook: str | None = Query(None, max_length=64),
               size: int = Query(100, ge=1, le=1000), who: Principal = Depends(require(*READERS)),
               svc: Services = Depends(services)) -> list[dict[str, Any]]:
    """The playbooks' actions, newest first: what was decided, on what, by whom, in which state."""
    flt: list[dict[str, Any]] = [*scope(who), {"range": {"@timestamp": {"gte": since}}}]
    if playbook:
        flt.append({"term": {"soc.action.playbook": playbook}})
    res = await svc.es.options(ignore_status=404).search(
        index=f"{svc.settings.elastic.index_prefix}-actions", query={"bool": {"filter": flt}}, size=size,
        sort=[{"@timestamp": "desc"}])
    return [h["_source"] for h in res["hits"]["hits"]] if res.meta.status == 200 else []
