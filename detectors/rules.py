"""Load Sigma rules (single-event and correlation) from folders with pySigma and compile them.

A rule that pySigma rejects, or that uses what this engine cannot evaluate yet, is not loaded
and is reported with its file and the reason; the other rules still load.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sigma.collection import SigmaCollection
from sigma.correlations import (
    CorrelationConditionAND,
    CorrelationConditionNOT,
    CorrelationConditionOR,
    SigmaCorrelationCondition,
    SigmaCorrelationRule,
    SigmaExtendedCorrelationCondition,
    SigmaRuleReference,
)
from sigma.exceptions import SigmaError
from sigma.rule import SigmaRule

from detectors.correlation import Condition
from detectors.logsource import LogsourceIndex
from detectors.pipelines import apply, load_pipeline
from detectors.prefilter import Need, Prefilter, rule_need
from detectors.compiler import Predicate, UnsupportedRule, compile_rule

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
    name: str = ""  # the rule's `name` (correlations refer to rules by it)


@dataclass(slots=True)
class CompiledRule:
    """A single-event Sigma rule, ready to test events."""

    meta: RuleMeta
    predicate: Predicate
    source: str = ""  # the generated Python (detectors/compiler.py)
    need: Need | None = None  # literals one of which a match requires (detectors/prefilter.py)
    suppress_by: list[str] | None = None  # the rule's `suppress_by` fields (alert suppression)
    keys: frozenset[str] | None = None  # its logsource's routing keys; None: every event
    generates_alerts: bool = True
    correlations: list[CorrelationSpec] = field(default_factory=list)


@dataclass(slots=True)
class CorrelationSpec:
    """A Sigma correlation rule, ready for detectors/correlation.py."""

    meta: RuleMeta
    type: str
    rule_ids: list[str]  # in the rule's order (temporal_ordered)
    group_by: list[str]  # field names, or aliases
    timespan_s: int
    condition: Condition
    value_field: str | None = None  # value_count / value_sum / ...: the condition's field (or alias)
    aliases: dict[str, dict[str, str]] = field(default_factory=dict)  # alias -> rule id -> field

    def field_for(self, name: str, rule_id: str) -> str:
        """The event field behind a group-by name or the value field, for a match of rule_id."""
        return self.aliases.get(name, {}).get(rule_id, name)


@dataclass(slots=True)
class RuleSet:
    """Compiled rules, routed by logsource and prefiltered by their necessary literals."""

    rules: list[CompiledRule]
    correlations: list[CorrelationSpec]
    errors: list[str]
    index: LogsourceIndex | None = None  # None: every rule meets every event (pipeline "none")
    _routes: dict[frozenset[str], tuple[list[CompiledRule], Prefilter]] = field(default_factory=dict)

    def _routed(self, keys: frozenset[str]) -> tuple[list[CompiledRule], Prefilter]:
        """The rules for an event with these logsource keys, and their prefilter (built once per
        distinct key set: a few dozen in practice)."""
        routed = self._routes.get(keys)
        if routed is None:
            rules = [r for r in self.rules if r.keys is None or not r.keys.isdisjoint(keys)]
            routed = self._routes[keys] = (rules, Prefilter([r.need for r in rules]))
        return routed

    def match(self, doc: Doc) -> list[CompiledRule]:
        """The rules whose condition holds for this event: only those of its log source, and of
        those only the ones whose necessary literals it holds are evaluated."""
        keys = self.index.keys_for_event(doc) if self.index is not None else _ALL
        rules, prefilter = self._routed(keys)
        return [rules[i] for i in sorted(prefilter.candidates(doc)) if rules[i].predicate(doc)]

    def match_all(self, doc: Doc) -> list[CompiledRule]:
        """Every rule of the event's log source tried, no prefilter: what the prefilter must
        agree with."""
        keys = self.index.keys_for_event(doc) if self.index is not None else _ALL
        return [r for r in self._routed(keys)[0] if r.predicate(doc)]

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
        name=str(rule.name or ""),
    )


def _compile_rule(rule: SigmaRule, placeholders: Mapping[str, list[str]] | None = None) -> CompiledRule:
    compiled = compile_rule(rule, placeholders)
    suppress_by = (rule.custom_attributes or {}).get("suppress_by")
    if suppress_by is not None and not (isinstance(suppress_by, list) and all(isinstance(f, str) for f in suppress_by)):
        raise UnsupportedRule("suppress_by must be a list of field names")
    return CompiledRule(meta=_meta(rule), predicate=compiled.predicate, source=compiled.source, need=rule_need(rule),
                        suppress_by=suppress_by)


# Count conditions that only become true as matches accumulate can be decided per match.


def _ref_id(ref: Any) -> str:
    return str(ref.rule.id or ref.rule.name)


def _aliases(rule: SigmaCorrelationRule, refs: list[Any]) -> dict[str, dict[str, str]]:
    resolved = {ref.reference: _ref_id(ref) for ref in refs}
    return {
        alias.alias: {resolved.get(ref.reference, ref.reference): str(fld) for ref, fld in alias.mapping.items()}
        for alias in (rule.aliases or [])
    }


def _extended(node: Any, names: list[str]) -> tuple[Any, ...]:
    """pySigma's parse tree of an extended condition as nested tuples over rule positions."""
    if isinstance(node, SigmaRuleReference):
        if node.reference not in names:
            raise UnsupportedRule(f"the condition names {node.reference!r}, which is not among the correlation's rules")
        return ("rule", names.index(node.reference))
    if isinstance(node, CorrelationConditionNOT):
        return ("not", _extended(node.args[0], names))
    op = "and" if isinstance(node, CorrelationConditionAND) else "or" if isinstance(node, CorrelationConditionOR) else None
    if op is None:
        raise UnsupportedRule(f"condition element {type(node).__name__} is not supported")
    return (op, tuple(_extended(a, names) for a in node.args))


def _compile_correlation(rule: SigmaCorrelationRule) -> CorrelationSpec:
    ctype = rule.type.name.lower()
    cond = rule.condition
    refs = list(rule.rules or [])
    if isinstance(cond, SigmaExtendedCorrelationCondition):
        if ctype != "temporal":
            raise UnsupportedRule(f"an extended (boolean) condition on {ctype} is not supported (temporal only)")
        expr = _extended(cond.parsed, [str(r.reference) for r in refs])
        return CorrelationSpec(
            meta=_meta(rule), type=ctype, rule_ids=[_ref_id(ref) for ref in refs],
            group_by=list(rule.group_by or []), timespan_s=rule.timespan.seconds,
            condition=Condition(type=ctype, rules=len(refs), expr=expr), aliases=_aliases(rule, refs),
        )
    if not isinstance(cond, SigmaCorrelationCondition):
        raise UnsupportedRule(f"correlation condition {type(cond).__name__} is not supported")
    op = cond.op.name.lower()
    condition = Condition(type=ctype, op=op, threshold=cond.count, rules=len(refs),
                          percentile=cond.percentile if cond.percentile is not None else 50)
    if ctype in ("event_count", "value_count") and cond.count > condition.cap:
        raise UnsupportedRule(f"a threshold of {cond.count} is above the {condition.cap} matches a group keeps")
    if ctype == "temporal_ordered" and cond.count != len(refs):
        raise UnsupportedRule("temporal_ordered is supported for all of its rules in order only")
    value_field = cond.fieldref if isinstance(cond.fieldref, str) else None
    if ctype.startswith("value_") and not value_field:
        raise UnsupportedRule(f"{ctype} needs exactly one condition field")
    aliases = _aliases(rule, refs)
    return CorrelationSpec(
        meta=_meta(rule),
        type=ctype,
        rule_ids=[_ref_id(ref) for ref in refs],
        group_by=list(rule.group_by or []),
        timespan_s=rule.timespan.seconds,
        condition=condition,
        value_field=value_field,
        aliases=aliases,
    )


def _where(rule: Any) -> str:
    return str(rule.source.path) if rule.source and rule.source.path else rule.title


def _compile_one(rule: Any, placeholders: Mapping[str, list[str]] | None) -> CompiledRule | CorrelationSpec:
    """One parsed rule compiled; UnsupportedRule (or SigmaError) with the reason if it cannot be."""
    errors = getattr(rule, "errors", None)
    if errors:
        raise SigmaError("; ".join(str(e) for e in errors))
    if isinstance(rule, SigmaCorrelationRule):
        return _compile_correlation(rule)
    if isinstance(rule, SigmaRule):
        return _compile_rule(rule, placeholders)
    raise UnsupportedRule(f"{type(rule).__name__} is not supported")


def compile_collection(
    collection: SigmaCollection,
    placeholders: Mapping[str, list[str]] | None = None,
    pipeline: str = "ecs",
) -> RuleSet:
    """Compile every rule of the collection (after the field-mapping pipeline); rules that
    cannot be are reported in `errors`. Pipeline "none": no mapping and no routing."""
    mapping = load_pipeline(pipeline) if pipeline != "none" else None
    index = LogsourceIndex.build() if pipeline != "none" else None
    rules: dict[str, CompiledRule] = {}
    correlations: list[CorrelationSpec] = []
    errors: list[str] = []
    for rule in collection:
        try:
            if mapping is not None and not getattr(rule, "errors", None):
                apply(mapping, rule)
            compiled = _compile_one(rule, placeholders)
        except (UnsupportedRule, SigmaError) as exc:
            errors.append(f"{_where(rule)}: {exc}")
            continue
        if isinstance(compiled, CorrelationSpec):
            correlations.append(compiled)
        else:
            if index is not None:
                compiled.keys = index.keys_for_rule(rule.logsource)
            rules[compiled.meta.id] = compiled
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
        if getattr(ref, "rule", None) is not None
    }
    for rid, compiled in rules.items():
        if compiled.correlations and rid not in generated:
            compiled.generates_alerts = False
    for error in errors:
        log.warning("Sigma rule not loaded: %s", error)
    return RuleSet(rules=list(rules.values()), correlations=correlations, errors=errors, index=index)


def load_collection(paths: Iterable[Path]) -> tuple[SigmaCollection, list[str]]:
    """Every rule file under paths, each loaded on its own (a broken file does not stop the
    others), then references between them resolved; the errors of files that did not load."""
    files = [f for f in SigmaCollection.resolve_paths(list(paths)) if _not_examples(f)]
    collections, errors = [], []
    for f in sorted(files):
        try:
            collections.append(SigmaCollection.load_ruleset([f], collect_errors=True, resolve_references=False))
        except Exception as exc:  # noqa: BLE001 - YAML or structure errors of one file
            errors.append(f"{f}: {type(exc).__name__}: {exc}")
    merged = SigmaCollection.merge(collections, resolve_references=False)
    for rule in merged.rules:
        if isinstance(rule, SigmaCorrelationRule):
            try:
                rule.resolve_rule_references(merged)
            except SigmaError as exc:
                rule.errors.append(exc)
    return merged, errors


def load_rules(paths: Iterable[Path], placeholders: Mapping[str, list[str]] | None = None,
               pipeline: str = "ecs") -> RuleSet:
    """Load every *.yml under the given folders (or files), but the rules' example files."""
    existing = [Path(p) for p in paths if Path(p).exists()]
    if not existing:
        return RuleSet([], [], [f"no rule folder found among {list(paths)}"])
    collection, file_errors = load_collection(existing)
    ruleset = compile_collection(collection, placeholders, pipeline)
    for error in file_errors:
        log.warning("Sigma rule file not loaded: %s", error)
    ruleset.errors[:0] = file_errors
    return ruleset


def check_rules(paths: Iterable[Path], placeholders: Mapping[str, list[str]] | None = None) -> list[dict[str, Any]]:
    """Per rule file: {path, id, status (compiled | unsupported | invalid), reason}."""
    collection, file_errors = load_collection([Path(p) for p in paths])
    out: dict[str, dict[str, Any]] = {}
    for error in file_errors:
        path, _, reason = error.partition(": ")
        out[path] = {"path": path, "id": None, "status": "invalid", "reason": reason}
    for rule in collection:
        path = _where(rule)
        entry = out.setdefault(path, {"path": path, "id": [], "status": "compiled", "reason": None})
        entry["id"].append(str(rule.id or rule.name or rule.title))
        try:
            _compile_one(rule, placeholders)
        except UnsupportedRule as exc:
            entry["status"], entry["reason"] = "unsupported", str(exc)
        except SigmaError as exc:
            entry["status"], entry["reason"] = "invalid", str(exc)
    for entry in out.values():
        if isinstance(entry["id"], list):
            entry["id"] = entry["id"][0] if len(entry["id"]) == 1 else entry["id"]
    return sorted(out.values(), key=lambda e: e["path"])


EXAMPLES_SUFFIX = ".examples.yml"


def repeat_example(value: Any, i: int) -> Any:
    """The i-th copy of an example item with `repeat: N`: `{i}` in its strings becomes i."""
    if isinstance(value, str):
        return value.replace("{i}", str(i))
    if isinstance(value, dict):
        return {k: repeat_example(v, i) for k, v in value.items()}
    if isinstance(value, list):
        return [repeat_example(v, i) for v in value]
    return value
_ALL: frozenset[str] = frozenset()


def _not_examples(path: Path) -> Path | None:
    """Rule folders also hold each rule's test events (`<rule>.examples.yml`): not rules."""
    return None if path.name.endswith(EXAMPLES_SUFFIX) else path
