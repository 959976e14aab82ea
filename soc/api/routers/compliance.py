"""MLPS 2.0 (等级保护 2.0) compliance for the security officers: per system and per control, pass
or fail with the evidence, the scores, the trend over runs, the documents behind a result, and a
run of the checks on demand (soc/compliance/).

Who: analysts and officers read and may run the checks; an officer only ever for the systems of
their tenants. The regulator, the administrators and automation have no part in it (the audit
administrator's audit is the platform's own trail, /audit).

- "The latest results" are, per tenant, the results of the latest run that covered that tenant:
  a run started by an officer covers their tenants only, so the latest run overall would hide
  the other departments' systems from a caller who sees them all. Results of no tenant (the
  platform's own checks) come from the latest run that had them.
- Tenant scoping is part of every query, on the server (`labels.tenant` of the results and of the
  evidence documents): a result or a document of another tenant answers as one that does not
  exist, whatever id or name the caller knows.
- Evidence documents are fetched by the sample ids the result names, from the index it names,
  only if that index is one of the platform's event, alert or action indices of this prefix.
"""

from __future__ import annotations

import logging
import re
from functools import lru_cache
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from soc.api.accounts import Principal
from soc.api.routers.assets import inventory
from soc.api.routers.events import Problem
from soc.api.security import SINCE, Services, require, scope, services
from soc.assets import AssetInventory, InventoryFile
from soc.compliance.model import CheckDef, Result, Status
from soc.compliance.store import ComplianceStore, scores
from soc.config import ConfigError
from soc.model import get_path
from soc.response.blocks import utcnow

log = logging.getLogger(__name__)
router = APIRouter(prefix="/api/v1/compliance", tags=["compliance"],
                   responses={401: {"model": Problem}, 403: {"model": Problem}, 422: {"model": Problem}})
READERS = ("analyst", "officer")
RUNNERS = ("analyst", "officer")
NO_TENANT = "\x00none"  # the bucket of results without a tenant (the platform's own checks)
MAX_DOCUMENTS = 100  # evidence documents fetched for one result
CHECK_ID = r"^[a-z0-9][a-z0-9_.-]{2,63}$"
# The worst status first: what a set of results (a run, a cell) says as a whole.
SEVERITY: tuple[Status, ...] = ("fail", "error", "pass", "not_applicable")


# --------------------------------------------------------------------------- models


class Score(BaseModel):
    """pass / fail / not applicable / error counts, and the share that pass among those that
    pass or fail (null when none does either)."""

    model_config = ConfigDict(populate_by_name=True)

    passed: int = Field(alias="pass")
    fail: int
    not_applicable: int
    error: int
    score: float | None


class Scores(BaseModel):
    system: dict[str, Score] = Field(description="per protected system (asset subjects only)")
    tenant: dict[str, Score] = Field(description="per department or county (`*`: results of no tenant)")
    control: dict[str, Score] = Field(description="per GB/T 22239-2019 clause")


class RunRef(BaseModel):
    run_id: str
    checked_at: str
    tenant: str | None = Field(description="the tenant whose latest run this is (null: results of no tenant)")


class ComplianceView(BaseModel):
    checked_at: str | None = Field(description="the newest of the runs")
    runs: list[RunRef]
    results: list[Result]
    scores: Scores


class TrendPoint(Score):
    run_id: str
    checked_at: str
    status: Status = Field(description="the run as a whole: fail if any fails, else error, else pass, else n/a")


class Trend(BaseModel):
    system: str | None
    check_id: str | None
    since: str
    runs: list[TrendPoint] = Field(description="oldest first")


class CheckInfo(BaseModel):
    id: str
    title: str
    title_en: str
    control: str
    control_text: str
    level2_control: str
    levels: list[int]
    window: str
    remediation: str


class EvidenceDoc(BaseModel):
    id: str
    index: str
    document: dict[str, Any]


class EvidenceView(BaseModel):
    result: Result
    check: CheckInfo | None = Field(description="the check's definition, when it is still loaded")
    documents: list[EvidenceDoc]
    missing: list[str] = Field(description="sample ids not found among the documents the caller may read "
                                           "(expired, or never theirs)")


class RunOutcome(BaseModel):
    run_id: str | None
    checked_at: str | None
    results: list[Result]
    scores: Scores


# --------------------------------------------------------------------------- helpers


def _store(svc: Services) -> ComplianceStore:
    return ComplianceStore(svc.es, svc.settings.elastic.index_prefix)


def _scores(results: list[Result]) -> Scores:
    return Scores.model_validate(scores(results))


def _overall(statuses: set[str]) -> Status:
    return next((s for s in SEVERITY if s in statuses), "not_applicable")


def _tenant_clause(tenant: str | None) -> dict[str, Any]:
    if tenant is None:
        return {"bool": {"must_not": [{"exists": {"field": "labels.tenant"}}]}}
    return {"term": {"labels.tenant": tenant}}


async def _latest_runs(svc: Services, who: Principal) -> list[RunRef]:
    """Per tenant the caller sees, the latest run that has results of it."""
    res = await svc.es.options(ignore_status=404).search(
        index=_store(svc).index, size=0, query={"bool": {"filter": scope(who)}},
        aggs={"tenant": {"terms": {"field": "labels.tenant", "size": 1000, "missing": NO_TENANT},
                         "aggs": {"last": {"top_hits": {"size": 1, "sort": [{"@timestamp": "desc"}], "_source": {
                             "includes": ["soc.compliance.run_id", "soc.compliance.checked_at"]}}}}}})
    if res.meta.status == 404:
        return []
    runs = []
    for b in get_path(res.body, "aggregations.tenant.buckets", []) or []:
        hit = b["last"]["hits"]["hits"][0]["_source"]["soc"]["compliance"]
        runs.append(RunRef(run_id=hit["run_id"], checked_at=hit["checked_at"],
                           tenant=None if b["key"] == NO_TENANT else b["key"]))
    return sorted(runs, key=lambda r: (r.tenant or "", r.run_id))


def _narrow(system: str | None, control: str | None, check_id: str | None = None) -> list[dict[str, Any]]:
    flt: list[dict[str, Any]] = []
    if system:
        flt.append({"term": {"soc.compliance.subject": system}})
    if control:
        flt.append({"term": {"soc.compliance.control": control}})
    if check_id:
        flt.append({"term": {"soc.compliance.check_id": check_id}})
    return flt


@lru_cache(maxsize=4)
def _checks(folder: str, signature: tuple[tuple[str, int], ...]) -> dict[str, CheckDef]:
    from soc.compliance.engine import load_checks

    checks, problems = load_checks(Path(folder))
    for p in problems:
        log.warning("compliance check not loaded: %s", p)
    return {c.id: c for c in checks}


def _check_defs(svc: Services) -> dict[str, CheckDef]:
    """The check definitions, read again only when a file of the folder changed; an evaluator
    module that fails to import raises (and is tried again at the next call)."""
    folder = Path(svc.settings.compliance.checks_dir)
    try:
        signature = tuple(sorted((p.name, p.stat().st_mtime_ns) for p in folder.glob("*.yml")))
    except OSError:
        return {}
    return _checks(str(folder), signature)


def _unloadable(exc: Exception) -> HTTPException:
    log.error("compliance checks could not be loaded", exc_info=exc)
    return HTTPException(503, f"合规检查定义无法加载，请联系平台管理员 (the compliance checks could not be loaded: "
                              f"{type(exc).__name__}; see the API's log)")


def _evidence_indices(svc: Services, index: str) -> str | None:
    """The index expression of a result's evidence, if every part of it is one of the platform's
    event, alert or action indices of this prefix (never its accounts, sessions or audit)."""
    prefix = re.escape(svc.settings.elastic.index_prefix)
    allowed = re.compile(rf"^{prefix}-(events-[0-9.*]+|alerts|actions)$")
    parts = [p.strip() for p in index.split(",") if p.strip()]
    return ",".join(parts) if parts and all(allowed.match(p) for p in parts) else None


def _visible_inventory(inv: AssetInventory, who: Principal) -> AssetInventory:
    """The caller's part of the inventory: their systems and zones."""
    return AssetInventory(InventoryFile(
        internal_networks=[str(n) for n in inv.internal],
        assets=[a for a in inv.assets if who.sees(a.tenant or None)],
        zones=[z for z in inv.zones if who.sees(z.tenant or None)]))


# --------------------------------------------------------------------------- routes


@router.get("", response_model=ComplianceView)
async def latest(
    system: str | None = Query(None, max_length=200, description="a protected system (or zone) by name"),
    control: str | None = Query(None, max_length=64, description="a GB/T 22239-2019 clause, e.g. `8.1.4.3 a`"),
    status: Status | None = Query(None, description="only results of this status (the scores count every status)"),
    who: Principal = Depends(require(*READERS)), svc: Services = Depends(services),
) -> ComplianceView:
    """The latest results within the caller's tenants (per tenant, its latest run), with the
    scores per system, department and control of the results the system and control filters
    keep."""
    runs = await _latest_runs(svc, who)
    if not runs:
        return ComplianceView(checked_at=None, runs=[], results=[], scores=_scores([]))
    which = {"bool": {"minimum_should_match": 1, "should": [
        {"bool": {"filter": [_tenant_clause(r.tenant), {"term": {"soc.compliance.run_id": r.run_id}}]}} for r in runs]}}
    results = await _store(svc).search([*scope(who), which, *_narrow(system, control)], size=10_000)
    results.sort(key=lambda r: (r.subject_kind != "asset", r.tenant, r.subject, r.control, r.check_id))
    shown = [r for r in results if status is None or r.status == status]
    return ComplianceView(checked_at=max(r.checked_at for r in runs), runs=runs, results=shown,
                          scores=_scores(results))


@router.get("/trend", response_model=Trend)
async def trend(
    system: str | None = Query(None, max_length=200, description="a protected system (or zone); every one if absent"),
    check_id: str | None = Query(None, max_length=64, description="one check; every check if absent"),
    since: str = Query("now-30d", pattern=SINCE, description="`now-30d` style"),
    runs: int = Query(100, ge=1, le=500, description="at most this many runs, the latest"),
    who: Principal = Depends(require(*READERS)), svc: Services = Depends(services),
) -> Trend:
    """Per run (oldest first): when, the status of the selection as a whole and its counts and
    score, over the caller's results of the system and check."""
    flt = [*scope(who), {"range": {"@timestamp": {"gte": since}}}, *_narrow(system, None, check_id)]
    res = await svc.es.options(ignore_status=404).search(
        index=_store(svc).index, size=0, query={"bool": {"filter": flt}},
        aggs={"run": {"terms": {"field": "soc.compliance.run_id", "size": runs, "order": {"last": "desc"}}, "aggs": {
            "last": {"max": {"field": "@timestamp"}},
            "status": {"terms": {"field": "soc.compliance.status", "size": 10}},
            "when": {"top_hits": {"size": 1, "_source": {"includes": ["soc.compliance.checked_at"]}}}}}})
    points: list[TrendPoint] = []
    for b in (get_path(res.body, "aggregations.run.buckets", []) or []) if res.meta.status == 200 else []:
        counts = {s["key"]: s["doc_count"] for s in b["status"]["buckets"]}
        decided = counts.get("pass", 0) + counts.get("fail", 0)
        points.append(TrendPoint(
            run_id=b["key"], checked_at=b["when"]["hits"]["hits"][0]["_source"]["soc"]["compliance"]["checked_at"],
            status=_overall(set(counts)), passed=counts.get("pass", 0), fail=counts.get("fail", 0),
            not_applicable=counts.get("not_applicable", 0), error=counts.get("error", 0),
            score=round(100.0 * counts.get("pass", 0) / decided, 1) if decided else None))
    points.sort(key=lambda p: (p.checked_at, p.run_id))
    return Trend(system=system, check_id=check_id, since=since, runs=points)


@router.get("/evidence", response_model=EvidenceView, responses={404: {"model": Problem}})
async def evidence(
    system: str = Query(..., min_length=1, max_length=200, description="the system (or zone, or platform) checked"),
    check_id: str = Query(..., pattern=CHECK_ID),
    run_id: str | None = Query(None, max_length=64, description="that run's result instead of the latest"),
    who: Principal = Depends(require(*READERS)), svc: Services = Depends(services),
) -> EvidenceView:
    """The latest result of the check for the system, its check definition, and the documents
    behind it (the sample ids it names) that the caller may read."""
    flt = [*scope(who), *_narrow(system, None, check_id)]
    if run_id:
        flt.append({"term": {"soc.compliance.run_id": run_id}})
    found = await _store(svc).search(flt, size=1)
    if not found:
        raise HTTPException(404, "没有这项检查结果 (no such compliance result)")
    result = found[0]
    try:
        check = _check_defs(svc).get(result.check_id)
    except Exception as exc:  # noqa: BLE001 - the result and its documents are shown without the definition
        log.error("compliance checks could not be loaded", exc_info=exc)
        check = None
    ids = list(dict.fromkeys(result.evidence.samples))[:MAX_DOCUMENTS]
    documents: list[EvidenceDoc] = []
    index = _evidence_indices(svc, result.evidence.index)
    if ids and index is None:
        log.warning("evidence of %s/%s names an index outside the platform's: %r", system, check_id,
                    result.evidence.index)
    if ids and index:
        res = await svc.es.options(ignore_status=404).search(
            index=index, size=len(ids), ignore_unavailable=True, allow_no_indices=True,
            query={"bool": {"filter": [*scope(who), {"ids": {"values": ids}}]}})
        hits = res["hits"]["hits"] if res.meta.status == 200 else []
        by_id = {h["_id"]: h for h in hits}
        documents = [EvidenceDoc(id=i, index=by_id[i]["_index"], document=by_id[i]["_source"]) for i in ids if i in by_id]
    got = {d.id for d in documents}
    return EvidenceView(
        result=result, documents=documents, missing=[i for i in ids if i not in got],
        check=CheckInfo(id=check.id, title=check.title, title_en=check.title_en, control=check.control,
                        control_text=check.control_text, level2_control=check.level2_control,
                        levels=list(check.levels), window=check.window, remediation=check.remediation)
        if check else None)


@router.post("/run", response_model=RunOutcome,
             responses={409: {"model": Problem}, 503: {"model": Problem}})
async def run_now(request: Request, who: Principal = Depends(require(*RUNNERS)),
                  svc: Services = Depends(services)) -> RunOutcome:
    """Run every check now over the caller's systems and zones (the platform's own checks too, for
    a caller of every tenant); the results are stored as a run of their own and returned. One run
    at a time per API process (409 while one is going)."""
    from soc.compliance.engine import Context, run_checks

    try:
        inv = _visible_inventory(inventory(svc.settings.assets_file), who)
    except ConfigError as exc:
        raise HTTPException(503, f"资产清单不可用 (asset inventory unavailable): {exc}") from None
    try:
        checks = list(_check_defs(svc).values())
    except Exception as exc:  # noqa: BLE001 - a broken evaluator module: no run, said so
        raise _unloadable(exc) from None
    if "*" not in who.tenants:  # the platform is no department's: its checks are run for every tenant's callers
        checks = [c for c in checks if c.scope != "platform"]
    if getattr(request.app.state, "compliance_running", False):
        raise HTTPException(409, "已有一次合规检查正在进行，请稍后再试 (a compliance run is in progress; try again shortly)")
    request.app.state.compliance_running = True
    try:
        results = await run_checks(Context(svc.es, svc.settings, inv, utcnow()), checks)
        results = [r for r in results if who.sees(r.tenant or None)]
        await _store(svc).write(results)
    finally:
        request.app.state.compliance_running = False
    return RunOutcome(run_id=results[0].run_id if results else None,
                      checked_at=results[0].checked_at if results else None, results=results,
                      scores=_scores(results))

