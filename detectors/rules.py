"""Load Sigma rules (single-event and correlation) from folders with pySigma and compile them.

A rule that pySigma rejects, or that uses what this engine cannot evaluate yet, is not loaded
and is reported with its file and the reason; the other rules still load.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sigma.collection import SigmaCollection
from sigma.correlations import SigmaCorrelationConditionOperator, SigmaCorrelationRule, SigmaCorrelationType
from sigma.exceptions import SigmaError
from sigma.rule import SigmaRule

from detectors.matcher import Predicate, UnsupportedRule, compile_condition

log = logging.getLogger(__name__)

Doc = dict[str, Any]


@dataclass(slots=True)
class RuleMeta:
    """What an alert says about the rule behind it."""

    id: str
    title: str
    level: str
    tags: list[str]
    description: str
    path: str


@dataclass(slots=True)
class CompiledRule:
    """A single-event Sigma rule, ready to test events."""

    meta: RuleMeta
    predicate: Predicate
    generates_alerts: bool = True
    correlations: list[CorrelationSpec] = field(default_factory=list)


@dataclass(slots=True)
class CorrelationSpec:
    """A Sigma correlation rule (event_count in this version)."""

    meta: RuleMeta
    type: str
    rule_ids: list[str]
    group_by: list[str]
    timespan_s: int
    threshold: int  # the count that makes the condition true (gte semantics)


@dataclass(slots=True)
class RuleSet:
    rules: list[CompiledRule]
    correlations: list[CorrelationSpec]
    errors: list[str]

    def match(self, doc: Doc) -> list[CompiledRule]:
        """The rules whose condition holds for this event."""
        return [r for r in self.rules if r.predicate(doc)]

    def summary(self) -> str:
        return (
            f"{len(self.rules)} single-event rules, {len(self.correlations)} correlation rules"
            + (f", {len(self.errors)} not loaded" if self.errors else "")
        )


def _meta(rule: SigmaRule | SigmaCorrelationRule) -> RuleMeta:
    level = rule.level.name.lower() if rule.level else "medium"
    return RuleMeta(
        id=str(rule.id or rule.name or rule.title),
        title=rule.title,
        level=level,
        tags=[f"{t.namespace}.{t.name}" for t in (rule.tags or [])],
        description=rule.description or "",
        path=str(rule.source.path) if rule.source and rule.source.path else "",
    )


def _compile_rule(rule: SigmaRule) -> CompiledRule:
    conditions = rule.detection.parsed_condition
    predicates = [compile_condition(c.parsed) for c in conditions]
    predicate = predicates[0] if len(predicates) == 1 else (lambda doc: any(p(doc) for p in predicates))
    return CompiledRule(meta=_meta(rule), predicate=predicate)


def _compile_correlation(rule: SigmaCorrelationRule) -> CorrelationSpec:
    if rule.type != SigmaCorrelationType.EVENT_COUNT:
        raise UnsupportedRule(f"correlation type {rule.type.name.lower()} is not supported yet (issue 4)")
    cond = rule.condition
    op = getattr(cond, "op", None)
    if op == SigmaCorrelationConditionOperator.GTE:
        threshold = cond.count
    elif op == SigmaCorrelationConditionOperator.GT:
        threshold = cond.count + 1
    else:
        raise UnsupportedRule("only gt/gte event_count conditions are supported yet")
    if rule.aliases and rule.aliases.aliases:
        raise UnsupportedRule("correlation field aliases are not supported yet (issue 4)")
    return CorrelationSpec(
        meta=_meta(rule),
        type="event_count",
        rule_ids=[str(ref.rule.id or ref.rule.name) for ref in rule.rules or []],
        group_by=list(rule.group_by or []),
        timespan_s=rule.timespan.seconds,
        threshold=threshold,
    )


def compile_collection(collection: SigmaCollection) -> RuleSet:
    rules: dict[str, CompiledRule] = {}
    correlations: list[CorrelationSpec] = []
    errors: list[str] = []
    for rule in collection:
        where = str(rule.source.path) if rule.source and rule.source.path else rule.title
        for error in getattr(rule, "errors", []) or []:
            errors.append(f"{where}: {error}")
        if getattr(rule, "errors", None):
            continue
        try:
            if isinstance(rule, SigmaRule):
                compiled = _compile_rule(rule)
                rules[compiled.meta.id] = compiled
            elif isinstance(rule, SigmaCorrelationRule):
                correlations.append(_compile_correlation(rule))
        except (UnsupportedRule, SigmaError) as exc:
            errors.append(f"{where}: {exc}")
    for corr in correlations:
        for rid in corr.rule_ids:
            if rid in rules:
                rules[rid].correlations.append(corr)
    # Sigma v2: rules referenced by a correlation do not alert on their own unless `generate`.
    generated = {
        str(ref.rule.id or ref.rule.name)
        for rule in collection
        if isinstance(rule, SigmaCorrelationRule) and rule.generate
        for ref in rule.rules or []
    }
    for rid, compiled in rules.items():
        if compiled.correlations and rid not in generated:
            compiled.generates_alerts = False
    for error in errors:
        log.warning("Sigma rule not loaded: %s", error)
    return RuleSet(rules=list(rules.values()), correlations=correlations, errors=errors)


def load_rules(paths: Iterable[Path]) -> RuleSet:
    """Load every *.yml under the given folders (or files)."""
    existing = [p for p in paths if Path(p).exists()]
    if not existing:
        return RuleSet([], [], [f"no rule folder found among {list(paths)}"])
    collection = SigmaCollection.load_ruleset(existing, collect_errors=True)
    return compile_collection(collection)
