"""Detection rules: the library as the workers run it, switching rules off and on, testing a rule
against sample events, and retro-hunting one over the indexed events.

Switching is written to the rule-state file (`worker.rules_state_file`, `disabled: [ids]`) that
every worker re-reads within `worker.rules_reload_interval_s` (detectors/registry.py), so a rule
stops or starts without a restart. A test runs the stream's own evaluation (soc.stream.detect
.evaluate, correlations included) on the events given; a hunt is soc/hunt.py, tenant-scoped.
"""

from __future__ import annotations

import asyncio
import fcntl
import os
from pathlib import Path
from typing import Any, Literal

import yaml
from fastapi import APIRouter, Depends, HTTPException
from pydantic import BaseModel, Field
from sigma.collection import SigmaCollection
from sigma.exceptions import SigmaError

from detectors.registry import RuleRegistry
from detectors.rules import CompiledRule, CorrelationSpec, compile_collection
from soc.api.accounts import Principal
from soc.api.security import Services, invalid, require, scope, services
from soc.hunt import hunt
from soc.store.client import sync_client
from soc.stream.detect import evaluate

router = APIRouter(prefix="/api/v1/rules", tags=["rules"])
READERS = ("analyst", "officer", "sysadmin")


class Rule(BaseModel):
    id: str
    title: str
    level: str
    kind: Literal["single", "correlation"]
    enabled: bool
    tags: list[str]
    description: str
    path: str
    correlation_type: str = ""


class RuleTest(BaseModel):
    rule: str = Field(min_length=10, max_length=100_000, description="one Sigma rule (or several, with their correlation) in YAML")
    events: list[dict[str, Any]] = Field(min_length=1, max_length=1000, description="ECS events, in order")


class TestHit(BaseModel):
    rule_id: str
    title: str
    events: list[int] = Field(description="0-based positions of the events behind the hit")
    count: int | None = None


class TestResult(BaseModel):
    matches: list[int] = Field(description="positions of the events a single-event rule matched")
    hits: list[TestHit]
    errors: list[str]


class HuntRequest(BaseModel):
    since: str = Field("7d", pattern=r"^\d{1,4}[smhdw]$", description="how far back: 30m, 12h, 7d, 2w")
    size: int = Field(100, ge=1, le=1000)


class HuntOut(BaseModel):
    rule_id: str
    query: str | None
    total: int
    hits: list[dict[str, Any]]
    error: str | None


def _registry(svc: Services) -> RuleRegistry:
    """Every rule of the library (none left out: the state says which are on), reloaded when a
    rule file changes."""
    if svc.rule_catalog is None:
        svc.rule_catalog = RuleRegistry(svc.settings.worker.rules_dirs, svc.settings.worker.sigma_placeholders)
    else:
        svc.rule_catalog.maybe_reload()
    return svc.rule_catalog


def _state_path(svc: Services) -> Path:
    return Path(svc.settings.worker.rules_state_file)


def _disabled(path: Path) -> list[str]:
    if not path.exists():
        return []
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    return [str(x) for x in (data.get("disabled") or [])] if isinstance(data, dict) else []


def _write_state(path: Path, rule_id: str, enabled: bool) -> None:
    """Read-modify-write under an exclusive lock, replaced atomically: a worker never reads half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_suffix(".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        off = [x for x in _disabled(path) if x != rule_id] + ([] if enabled else [rule_id])
        tmp = path.with_suffix(".tmp")
        tmp.write_text("# Rules switched off through the API (soc/api/routers/rules.py); workers re-read this file.\n"
                       + yaml.safe_dump({"disabled": off}, allow_unicode=True), encoding="utf-8")
        os.replace(tmp, path)


def _out(r: CompiledRule | CorrelationSpec, off: set[str]) -> Rule:
    m = r.meta
    return Rule(id=m.id, title=m.title, level=m.level, tags=list(m.tags), description=m.description, path=m.path,
                kind="correlation" if isinstance(r, CorrelationSpec) else "single",
                correlation_type=r.type if isinstance(r, CorrelationSpec) else "",
                enabled=not ({m.id, m.name} & off))


def _all(svc: Services) -> list[Rule]:
    rs = _registry(svc).ruleset
    off = set(_disabled(_state_path(svc)))
    return [_out(r, off) for r in [*rs.rules, *rs.correlations]]


@router.get("", response_model=list[Rule])
async def list_rules(who: Principal = Depends(require(*READERS)), svc: Services = Depends(services)) -> list[Rule]:
    """The library, single-event rules and correlations, each with whether it runs."""
    return await asyncio.to_thread(_all, svc)


async def _switch(rule_id: str, enabled: bool, svc: Services) -> Rule:
    known = {r.id: r for r in await asyncio.to_thread(_all, svc)}
    if rule_id not in known:
        raise HTTPException(404, "没有这条规则 (no such rule)")
    await asyncio.to_thread(_write_state, _state_path(svc), rule_id, enabled)
    return known[rule_id].model_copy(update={"enabled": enabled})


@router.post("/{rule_id}/enable", response_model=Rule)
async def enable(rule_id: str, who: Principal = Depends(require("analyst")), svc: Services = Depends(services)) -> Rule:
    return await _switch(rule_id, True, svc)


@router.post("/{rule_id}/disable", response_model=Rule)
async def disable(rule_id: str, who: Principal = Depends(require("analyst")), svc: Services = Depends(services)) -> Rule:
    """Switch a rule off in every worker (within their reload interval); audited like every change."""
    return await _switch(rule_id, False, svc)


@router.post("/test", response_model=TestResult)
async def test_rule(body: RuleTest, who: Principal = Depends(require("analyst")),
                    svc: Services = Depends(services)) -> TestResult:
    """What the stream would raise for these events with this rule (a YAML or rule error: 422)."""
    try:
        if not all(isinstance(d, dict) for d in yaml.safe_load_all(body.rule)):
            raise invalid("每个 YAML 文档须是一条 Sigma 规则 (each YAML document must be a Sigma rule)", "rule")
        collection = SigmaCollection.from_yaml(body.rule)
    # pySigma reports some malformed rules as plain Python errors rather than SigmaError.
    except (SigmaError, yaml.YAMLError, AttributeError, TypeError, ValueError, KeyError) as exc:
        raise invalid(f"规则无法解析 (the rule does not parse): {exc}", "rule") from None
    if not list(collection):
        raise invalid("YAML 中没有规则 (no rule in the YAML)")
    ruleset = await asyncio.to_thread(compile_collection, collection, svc.settings.worker.sigma_placeholders)
    if ruleset.errors and not (ruleset.rules or ruleset.correlations):
        raise invalid("规则无法编译 (the rule does not compile): " + "; ".join(ruleset.errors))
    found = await asyncio.to_thread(evaluate, ruleset, body.events)
    singles = sorted({h.indexes[0] for h in found if h.alert is None and isinstance(h.rule, CompiledRule)})
    hits = [TestHit(rule_id=h.rule.meta.id, title=h.rule.meta.title, events=h.indexes,
                    count=h.alert["soc"]["alert"]["count"] if h.alert is not None else None) for h in found]
    return TestResult(matches=singles, hits=hits, errors=ruleset.errors)


@router.post("/{rule_id}/hunt", response_model=HuntOut)
async def retro_hunt(rule_id: str, body: HuntRequest, who: Principal = Depends(require("analyst")),
                     svc: Services = Depends(services)) -> HuntOut:
    """Run one rule of the library over the events already indexed, within the caller's tenants."""
    rules = {r.id: r for r in await asyncio.to_thread(_all, svc)}
    if rule_id not in rules:
        raise HTTPException(404, "没有这条规则 (no such rule)")
    # A correlation needs the rules it refers to: the whole library is converted, one rule searched.
    paths = [Path(p) for p in svc.settings.worker.rules_dirs] if rules[rule_id].kind == "correlation" \
        else [Path(rules[rule_id].path)]

    def run() -> list[Any]:
        es = sync_client(svc.settings)
        try:
            return hunt(es, f"{svc.settings.elastic.index_prefix}-events-*", paths, body.since, limit=body.size,
                        only={rule_id}, scope=scope(who))
        finally:
            es.close()

    results = await asyncio.to_thread(run)
    if not results:
        raise invalid("这条规则无法检索 (the rule cannot be hunted)")
    r = results[0]
    return HuntOut(rule_id=rule_id, query=r.query, total=len(r.hits), hits=r.hits[: body.size], error=r.error)
