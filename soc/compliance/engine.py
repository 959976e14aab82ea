"""Run the checks: load the definitions, pick the subjects each applies to, call its evaluator.

Evaluators are registered by kind (`@evaluator("log_presence")`) in the modules of
soc/compliance/evaluators/ and receive a Context (Elasticsearch, the settings, the inventory,
the time range) and a Subject; they return a Verdict. An evaluator that raises gives an `error`
result naming the exception, never a stopped run.
"""

from __future__ import annotations

import importlib
import logging
import pkgutil
import re
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from elasticsearch import AsyncElasticsearch

from soc.assets import AssetInventory
from soc.compliance.model import CheckDef, Evidence, Result, Subject, Verdict
from soc.config import PROJECT_ROOT, Settings
from soc.model import iso
from soc.yamlfile import FileError, load_model

log = logging.getLogger(__name__)
CHECKS_DIR = PROJECT_ROOT / "compliance" / "checks"
WINDOW = re.compile(r"^(\d+)([mhd])$")


@dataclass
class Context:
    es: AsyncElasticsearch
    settings: Settings
    inventory: AssetInventory
    now: datetime

    @property
    def prefix(self) -> str:
        return self.settings.elastic.index_prefix

    @property
    def events(self) -> str:
        return f"{self.prefix}-events-*"

    @property
    def alerts(self) -> str:
        return f"{self.prefix}-alerts"

    def since(self, check: CheckDef) -> datetime:
        m = WINDOW.match(check.window)
        assert m, check.window
        unit = {"m": "minutes", "h": "hours", "d": "days"}[m.group(2)]
        return self.now - timedelta(**{unit: int(m.group(1))})

    def evidence(self, check: CheckDef, index: str, query: dict[str, Any] | None = None, **kw: Any) -> Evidence:
        """Evidence over the check's window, as of now."""
        return Evidence(index=index, time_from=iso(self.since(check)), time_to=iso(self.now), query=query, **kw)

    def time_range(self, check: CheckDef, field: str = "@timestamp") -> dict[str, Any]:
        return {"range": {field: {"gte": iso(self.since(check)), "lte": iso(self.now)}}}


Evaluator = Callable[[Context, CheckDef, Subject], Awaitable[Verdict]]
EVALUATORS: dict[str, Evaluator] = {}


def evaluator(kind: str) -> Callable[[Evaluator], Evaluator]:
    def register(fn: Evaluator) -> Evaluator:
        if kind in EVALUATORS:
            raise ValueError(f"two evaluators of kind {kind!r}")
        EVALUATORS[kind] = fn
        return fn

    return register


def load_evaluators() -> dict[str, Evaluator]:
    """Import every module of soc/compliance/evaluators/ (each registers its kinds)."""
    from soc.compliance import evaluators

    for mod in pkgutil.iter_modules(evaluators.__path__):
        importlib.import_module(f"{evaluators.__name__}.{mod.name}")
    return EVALUATORS


def load_checks(folder: Path = CHECKS_DIR) -> tuple[list[CheckDef], list[str]]:
    """Every check definition of the folder; a bad file is left out with its problems, as is a
    check whose kind has no evaluator or whose id repeats another's."""
    kinds = load_evaluators()
    checks: list[CheckDef] = []
    problems: list[str] = []
    seen: dict[str, str] = {}
    for path in sorted(folder.glob("*.yml")):
        try:
            check = load_model(path, CheckDef)
        except FileError as exc:
            problems.extend(exc.problems)
            continue
        if check.kind not in kinds:
            problems.append(f"{path}:1: kind: no evaluator named {check.kind!r} (known: {', '.join(sorted(kinds))})")
            continue
        if check.id in seen:
            problems.append(f"{path}:1: id: {check.id!r} is already the id of {seen[check.id]}")
            continue
        seen[check.id] = str(path)
        checks.append(check.model_copy(update={"source": str(path)}))
    return checks, problems


def subjects(check: CheckDef, inventory: AssetInventory, systems: set[str] | None = None) -> list[Subject]:
    """What the check runs on: the in-scope systems of its levels, the zones, or the platform."""
    if check.scope == "platform":
        return [Subject(kind="platform", name="安全运营子平台")]
    if check.scope == "zone":
        return [Subject(kind="zone", name=z.name, tenant=z.tenant, networks=z.networks, devices=z.boundary_devices)
                for z in inventory.zones]
    return [Subject(kind="asset", name=a.name, tenant=a.tenant, mlps_level=a.mlps_level, networks=a.networks,
                    hosts=a.hosts)
            for a in inventory.assets
            if a.mlps_level in check.levels and (systems is None or a.name in systems)]


async def run_checks(ctx: Context, checks: list[CheckDef], systems: set[str] | None = None,
                     only: set[str] | None = None) -> list[Result]:
    """Every check over its subjects (only the named systems or checks, when given)."""
    run_id = f"{ctx.now.strftime('%Y%m%dT%H%M%SZ')}-{secrets.token_hex(4)}"
    results: list[Result] = []
    for check in checks:
        if only is not None and check.id not in only:
            continue
        for subject in subjects(check, ctx.inventory, systems):
            try:
                verdict = await EVALUATORS[check.kind](ctx, check, subject)
            except Exception as exc:  # noqa: BLE001 - one check's failure is a result, not a stopped run
                log.exception("compliance check %s on %s failed", check.id, subject.name)
                verdict = Verdict(status="error", reason=f"检查执行出错 (the check failed to run): {exc!r}",
                                  evidence=ctx.evidence(check, ctx.events))
            results.append(Result(
                run_id=run_id, checked_at=iso(ctx.now), check_id=check.id, title=check.title, control=check.control,
                control_text=check.control_text, subject=subject.name, subject_kind=subject.kind,
                tenant=subject.tenant, mlps_level=subject.mlps_level, status=verdict.status, reason=verdict.reason,
                evidence=verdict.evidence))
    return results


def asset_filter(subject: Subject) -> dict[str, Any]:
    """Events that concern a protected system: enriched with its name (soc.asset.name)."""
    return {"term": {"soc.asset.name": subject.name}}
