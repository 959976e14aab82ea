"""Classification (GB/T 20986-2023 categories) and grading (特别重大 … 一般) of incidents.

Both are pure functions over data: the alerts of an incident (ECS documents as indexed in
`<prefix>-alerts`), the incident document, the asset inventory and the time; the rules are data
too, in reporting/taxonomy.yml (categories and the mapping of alerts onto them) and
reporting/grading.yml (grading rules and escalations), whose headers say where every name, code
and threshold comes from and which criteria are approximated. Every result carries its basis:
the reasons, in Chinese, an analyst (and later a regulator) reads.

- `classify(alerts)`: each mapping rule that one of the alerts matches (ATT&CK tactic or
  technique, tag, rule id pattern, rule name, event.category) is a candidate; the one of highest
  priority wins (the furthest stage of the attack), else the taxonomy's fallback.
- `grade(incident, alerts, inventory, now)`: facts (CII, MLPS level, criticality, severity,
  systems, tenants, duration, data-leak and availability signals, records) → the gravest grading
  rule that holds → escalations (scope, duration), capped.

Rule files are read with soc/yamlfile.py's `load_model` (pydantic models; an error names the file
and the line) and checked across (codes that exist, ids that are unique) the same way.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator

from soc.assets import Asset, AssetInventory
from soc.config import PROJECT_ROOT
from soc.model import Doc, get_path
from soc.yamlfile import FileError, _line, load_model

RULES_DIR = PROJECT_ROOT / "reporting"
TAXONOMY_FILE = RULES_DIR / "taxonomy.yml"
GRADING_FILE = RULES_DIR / "grading.yml"

# The four grades of the measures' 《网络安全事件分级指南》 and GB/T 20986-2023, gravest first,
# with their codes: fixed by the rules themselves, not configurable.
Grade = Literal["特别重大", "重大", "较大", "一般"]
GRADES: tuple[Grade, ...] = ("特别重大", "重大", "较大", "一般")
GRADE_CODES: dict[str, str] = {"特别重大": "I", "重大": "II", "较大": "III", "一般": "IV"}
GRADE_BY_CODE: dict[str, str] = {v: k for k, v in GRADE_CODES.items()}
Criticality = Literal["low", "medium", "high", "critical"]
CRITICALITY: tuple[str, ...] = ("low", "medium", "high", "critical")
Severity = Literal["informational", "low", "medium", "high", "critical"]
SEVERITY: tuple[str, ...] = ("informational", "low", "medium", "high", "critical")
MLPS_NAMES = {1: "第一级", 2: "第二级", 3: "第三级", 4: "第四级"}
TECHNIQUE = r"^T\d{4}(\.\d{3})?$"
CODE = r"^[A-Z][A-Z0-9]{1,15}$"
ID = r"^[a-z0-9][a-z0-9_.-]{0,63}$"


def _severity_rank(grade: str) -> int:
    """一般 0 … 特别重大 3."""
    return len(GRADES) - 1 - GRADES.index(grade)  # type: ignore[arg-type]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# --------------------------------------------------------------------------- taxonomy


class Subcategory(_Strict):
    code: str = Field(pattern=CODE)
    name: str = Field(min_length=1)
    description: str = ""
    formerly: str = ""  # the GB/Z 20986-2007 name it took over, for readers of the old list


class Category(_Strict):
    code: str = Field(pattern=CODE)
    name: str = Field(min_length=1)
    description: str = ""
    subcategories: list[Subcategory] = Field(default_factory=list)


class MatchRule(_Strict):
    """Alerts of a kind → a subcategory (or a category without one). Any criterion matching is a
    match (reporting/taxonomy.yml, "MAPPING")."""

    id: str = Field(pattern=ID)
    subcategory: str | None = Field(None, pattern=CODE)
    category: str | None = Field(None, pattern=CODE)
    priority: int = Field(ge=0, le=1000)
    tactics: list[str] = Field(default_factory=list)
    techniques: list[str] = Field(default_factory=list)
    tags: list[str] = Field(default_factory=list)
    rule_ids: list[str] = Field(default_factory=list)
    rule_names: list[str] = Field(default_factory=list)
    event_categories: list[str] = Field(default_factory=list)
    note: str = ""

    @model_validator(mode="after")
    def _complete(self) -> MatchRule:
        if (self.subcategory is None) == (self.category is None):
            raise ValueError("a mapping rule names either a subcategory or a category (not both, not neither)")
        if not (self.tactics or self.techniques or self.tags or self.rule_ids or self.rule_names
                or self.event_categories):
            raise ValueError("a mapping rule needs a criterion: tactics, techniques, tags, rule_ids, rule_names "
                             "or event_categories")
        for t in self.techniques:
            if not re.match(TECHNIQUE, t):
                raise ValueError(f"not an ATT&CK technique id (T1234 or T1234.001): {t!r}")
        return self


class Mapping(_Strict):
    fallback: str = Field(pattern=CODE)  # a category or subcategory code
    rules: list[MatchRule] = Field(default_factory=list)


class Taxonomy(_Strict):
    standard: str = Field(min_length=1)
    codes_verified: bool = False
    categories: list[Category] = Field(min_length=1)
    mapping: Mapping
    source: str = ""  # the file it came from (set by the loader)

    def lookup(self, code: str) -> tuple[Category, Subcategory | None]:
        """The category (and subcategory) a code names; KeyError when none."""
        for c in self.categories:
            if c.code == code:
                return c, None
            for s in c.subcategories:
                if s.code == code:
                    return c, s
        raise KeyError(code)


# --------------------------------------------------------------------------- grading rules


class When(_Strict):
    """Conditions over the facts (reporting/grading.yml, "HOW THE FILE IS READ"); all must hold."""

    cii: bool | None = None
    mlps_level_gte: int | None = Field(None, ge=1, le=4)
    criticality_gte: Criticality | None = None
    severity_gte: Severity | None = None
    systems_gte: int | None = Field(None, ge=1)
    tenants_gte: int | None = Field(None, ge=1)
    duration_hours_gte: float | None = Field(None, ge=0)
    records_gte: int | None = Field(None, ge=1)
    data_leak: bool | None = None
    availability_impact: bool | None = None
    categories: list[str] | None = None
    subcategories: list[str] | None = None

    @model_validator(mode="after")
    def _something(self) -> When:
        if not self.model_fields_set:
            raise ValueError("a condition is needed (an empty `when` would hold for every incident)")
        return self

    def holds(self, f: Facts) -> bool:
        checks: list[bool] = []
        if self.cii is not None:
            checks.append(f.cii == self.cii)
        if self.mlps_level_gte is not None:
            checks.append(f.mlps_level >= self.mlps_level_gte)
        if self.criticality_gte is not None:
            checks.append(f.criticality is not None
                          and CRITICALITY.index(f.criticality) >= CRITICALITY.index(self.criticality_gte))
        if self.severity_gte is not None:
            checks.append(f.severity is not None
                          and SEVERITY.index(f.severity) >= SEVERITY.index(self.severity_gte))
        if self.systems_gte is not None:
            checks.append(len(f.systems) >= self.systems_gte)
        if self.tenants_gte is not None:
            checks.append(len(f.tenants) >= self.tenants_gte)
        if self.duration_hours_gte is not None:
            checks.append(f.duration_hours >= self.duration_hours_gte)
        if self.records_gte is not None:
            checks.append(f.records is not None and f.records >= self.records_gte)
        if self.data_leak is not None:
            checks.append(f.data_leak == self.data_leak)
        if self.availability_impact is not None:
            checks.append(f.availability_impact == self.availability_impact)
        if self.categories is not None:
            checks.append(f.category in self.categories)
        if self.subcategories is not None:
            checks.append(f.subcategory in self.subcategories)
        return all(checks)


class GradingRule(_Strict):
    id: str = Field(pattern=ID)
    grade: Grade
    when: When
    reason: str = Field(min_length=1)
    source: str = Field(min_length=1)


class Escalation(_Strict):
    id: str = Field(pattern=ID)
    when: When
    steps: int = Field(1, ge=1, le=3)
    max_grade: Grade
    reason: str = Field(min_length=1)
    source: str = Field(min_length=1)


class Signal(_Strict):
    """A sign the facts take from the classification and the alerts' ATT&CK data."""

    subcategories: list[str] = Field(default_factory=list)
    tactics: list[str] = Field(default_factory=list)
    techniques: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _ids(self) -> Signal:
        for t in self.techniques:
            if not re.match(TECHNIQUE, t):
                raise ValueError(f"not an ATT&CK technique id (T1234 or T1234.001): {t!r}")
        return self


class Signals(_Strict):
    data_leak: Signal = Field(default_factory=Signal)
    availability_impact: Signal = Field(default_factory=Signal)


class GradingRules(_Strict):
    signals: Signals = Field(default_factory=Signals)
    rules: list[GradingRule] = Field(default_factory=list)
    escalations: list[Escalation] = Field(default_factory=list)
    source: str = ""


# --------------------------------------------------------------------------- results


@dataclass(frozen=True)
class Classification:
    category_code: str
    category: str
    subcategory_code: str | None
    subcategory: str | None
    basis: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Grading:
    grade: str
    code: str
    basis: list[str] = field(default_factory=list)
    facts: dict[str, Any] = field(default_factory=dict)


@dataclass
class Facts:
    cii: bool = False
    mlps_level: int = 0
    criticality: str | None = None
    severity: str | None = None
    systems: list[str] = field(default_factory=list)
    tenants: list[str] = field(default_factory=list)
    duration_hours: float = 0.0
    first_seen: datetime | None = None
    until: datetime | None = None
    records: int | None = None
    data_leak: bool = False
    availability_impact: bool = False
    category: str | None = None
    subcategory: str | None = None
    alerts: int = 0
    assets: list[dict[str, Any]] = field(default_factory=list)


# --------------------------------------------------------------------------- loading


def _at(path: Path, text: str, problems: list[tuple[tuple[int | str, ...], str]]) -> FileError:
    """Problems found after validation, each with the line its location reaches."""
    node = yaml.compose(text, Loader=yaml.SafeLoader)
    return FileError([f"{path}:{_line(node, loc)}: {'.'.join(map(str, loc)) or '(the file)'}: {msg}"
                      for loc, msg in problems])


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise FileError([f"{path}: cannot be read: {exc}"]) from None


def parse_taxonomy(path: Path, text: str) -> Taxonomy:
    """Validate a taxonomy file's text; FileError with `path:line: problem` per problem."""
    tax = load_model(path, Taxonomy, text)
    problems: list[tuple[tuple[int | str, ...], str]] = []
    seen: dict[str, tuple[int | str, ...]] = {}
    for i, c in enumerate(tax.categories):
        for loc, code in [(("categories", i, "code"), c.code)] + [
                (("categories", i, "subcategories", j, "code"), s.code) for j, s in enumerate(c.subcategories)]:
            if code in seen:
                problems.append((loc, f"code {code!r} is already used at {'.'.join(map(str, seen[code]))}"))
            seen.setdefault(code, loc)
    categories = {c.code for c in tax.categories}
    subcategories = {s.code for c in tax.categories for s in c.subcategories}
    if tax.mapping.fallback not in seen:
        problems.append((("mapping", "fallback"), f"no category or subcategory has the code {tax.mapping.fallback!r}"))
    ids: set[str] = set()
    for i, r in enumerate(tax.mapping.rules):
        if r.id in ids:
            problems.append((("mapping", "rules", i, "id"), f"rule id {r.id!r} is already used"))
        ids.add(r.id)
        if r.subcategory is not None and r.subcategory not in subcategories:
            problems.append((("mapping", "rules", i, "subcategory"), f"no subcategory has the code {r.subcategory!r}"))
        if r.category is not None and r.category not in categories:
            problems.append((("mapping", "rules", i, "category"), f"no category has the code {r.category!r}"))
    if problems:
        raise _at(path, text, problems)
    return tax.model_copy(update={"source": str(path)})


def parse_grading(path: Path, text: str, taxonomy: Taxonomy | None = None) -> GradingRules:
    """Validate a grading file's text (against the taxonomy's codes when given)."""
    rules = load_model(path, GradingRules, text)
    problems: list[tuple[tuple[int | str, ...], str]] = []
    for key, items in (("rules", rules.rules), ("escalations", rules.escalations)):
        ids: set[str] = set()
        for i, r in enumerate(items):
            if r.id in ids:
                problems.append(((key, i, "id"), f"id {r.id!r} is already used"))
            ids.add(r.id)
    if taxonomy is not None:
        known = {c.code for c in taxonomy.categories} | {s.code for c in taxonomy.categories for s in c.subcategories}
        where: list[tuple[tuple[int | str, ...], list[str] | None]] = [
            (("signals", name, "subcategories"), list(getattr(rules.signals, name).subcategories))
            for name in ("data_leak", "availability_impact")]
        for key, items in (("rules", rules.rules), ("escalations", rules.escalations)):
            for i, r in enumerate(items):
                where += [((key, i, "when", "categories"), r.when.categories),
                          ((key, i, "when", "subcategories"), r.when.subcategories)]
        for loc, codes in where:
            for code in codes or []:
                if code not in known:
                    problems.append((loc, f"no category or subcategory of {taxonomy.standard} has the code {code!r}"))
    if problems:
        raise _at(path, text, problems)
    return rules.model_copy(update={"source": str(path)})


@lru_cache(maxsize=8)
def _taxonomy_cached(path: Path, mtime_ns: int) -> Taxonomy:
    return parse_taxonomy(path, _read(path))


@lru_cache(maxsize=8)
def _grading_cached(path: Path, mtime_ns: int, taxonomy_path: Path, taxonomy_mtime_ns: int) -> GradingRules:
    return parse_grading(path, _read(path), _taxonomy_cached(taxonomy_path, taxonomy_mtime_ns))


def _mtime(path: Path) -> int:
    try:
        return path.stat().st_mtime_ns
    except OSError as exc:
        raise FileError([f"{path}: cannot be read: {exc}"]) from None


def load_taxonomy(path: Path | None = None) -> Taxonomy:
    """reporting/taxonomy.yml (or path), read again only when the file changed."""
    path = path or TAXONOMY_FILE
    return _taxonomy_cached(path, _mtime(path))


def load_grading(path: Path | None = None, taxonomy_path: Path | None = None) -> GradingRules:
    """reporting/grading.yml (or path), its codes checked against the taxonomy."""
    path, taxonomy_path = path or GRADING_FILE, taxonomy_path or TAXONOMY_FILE
    return _grading_cached(path, _mtime(path), taxonomy_path, _mtime(taxonomy_path))


# --------------------------------------------------------------------------- alert features


def _list(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, (list, tuple, set)) else [value]


def _tactic(name: str) -> str:
    return " ".join(str(name).lower().replace("-", " ").replace("_", " ").split())


@dataclass(frozen=True)
class _Features:
    tactics: frozenset[str]
    techniques: frozenset[str]
    tags: frozenset[str]
    rule_id: str
    rule_name: str
    event_categories: frozenset[str]


def _features(alert: Doc) -> _Features:
    tags = {str(t).lower() for t in _list(alert.get("tags")) + _list(get_path(alert, "rule.tags"))}
    tactics = {_tactic(t) for t in _list(get_path(alert, "threat.tactic.name"))}
    techniques = {str(t).upper() for t in _list(get_path(alert, "threat.technique.id"))
                  + _list(get_path(alert, "threat.technique.subtechnique.id"))}
    for t in tags:  # alerts without threat.* (other products) may still carry Sigma's tags
        if t.startswith("attack.t") and re.match(r"^attack\.t\d{4}(\.\d{3})?$", t):
            techniques.add(t.split(".", 1)[1].upper())
        elif t.startswith("attack.") and not re.match(r"^attack\.[tgs]\d", t):
            tactics.add(_tactic(t.split(".", 1)[1]))
    return _Features(frozenset(tactics), frozenset(techniques), frozenset(tags),
                     str(get_path(alert, "rule.id", "") or ""), str(get_path(alert, "rule.name", "") or ""),
                     frozenset(str(c).lower() for c in _list(get_path(alert, "event.category"))))


def _technique_hits(wanted: Iterable[str], have: frozenset[str]) -> list[str]:
    """T1110 hits T1110 and T1110.xxx; T1110.001 hits itself only."""
    hits: list[str] = []
    for w in wanted:
        w = w.upper()
        hits += sorted(h for h in have if h == w or ("." not in w and h.startswith(w + ".")))
    return list(dict.fromkeys(hits))


def _why(rule: MatchRule, f: _Features) -> list[str]:
    """What of the alert matched the rule (empty: no match)."""
    why: list[str] = []
    tactics = [t for t in rule.tactics if _tactic(t) in f.tactics]
    if tactics:
        why.append("ATT&CK 战术 " + "、".join(tactics))
    techniques = _technique_hits(rule.techniques, f.techniques)
    if techniques:
        why.append("ATT&CK 技术 " + "、".join(techniques))
    tags = [t for t in rule.tags if t.lower() in f.tags]
    if tags:
        why.append("标签 " + "、".join(tags))
    if f.rule_id and any(fnmatch.fnmatchcase(f.rule_id, p) for p in rule.rule_ids):
        why.append(f"规则 ID {f.rule_id}")
    names = [n for n in rule.rule_names if n.lower() in f.rule_name.lower()]
    if names:
        why.append("规则名称含“" + "”“".join(names) + "”")
    cats = [c for c in rule.event_categories if c.lower() in f.event_categories]
    if cats:
        why.append("event.category " + "、".join(cats))
    return why


def _alert_label(alert: Doc) -> str:
    name = get_path(alert, "rule.name") or get_path(alert, "rule.id") or "?"
    aid = get_path(alert, "soc.alert.id") or get_path(alert, "event.id")
    return f"「{name}」" + (f"（{aid}）" if aid else "")


def _named(taxonomy: Taxonomy, code: str) -> tuple[Category, Subcategory | None]:
    return taxonomy.lookup(code)


def _classification(taxonomy: Taxonomy, code: str, basis: list[str]) -> Classification:
    cat, sub = _named(taxonomy, code)
    return Classification(cat.code, cat.name, sub.code if sub else None, sub.name if sub else None, basis)


def _label(c: Category, s: Subcategory | None) -> str:
    return f"{c.name}（{c.code}）" + (f" / {s.name}（{s.code}）" if s else "")


# --------------------------------------------------------------------------- classify


def classify(alerts: Sequence[Doc], taxonomy: Taxonomy | None = None) -> Classification:
    """The incident's category and subcategory from its alerts (reporting/taxonomy.yml)."""
    taxonomy = taxonomy or load_taxonomy()
    feats = [(a, _features(a)) for a in alerts]
    candidates: list[tuple[int, int, int, MatchRule, list[tuple[Doc, list[str]]]]] = []
    for order, rule in enumerate(taxonomy.mapping.rules):
        matched = [(a, why) for a, f in feats if (why := _why(rule, f))]
        if matched:
            candidates.append((rule.priority, len(matched), -order, rule, matched))
    std = f"{taxonomy.standard} 5.2/附录B" + ("" if taxonomy.codes_verified else "（分类代码待核对标准原文）")
    if not candidates:
        basis = [f"{len(alerts)} 条告警均未匹配分类映射规则" if alerts else "事件没有可见的告警",
                 f"归为 {_label(*_named(taxonomy, taxonomy.mapping.fallback))}（映射规则的兜底分类，需人工确认；{std}）"]
        return _classification(taxonomy, taxonomy.mapping.fallback, basis)
    candidates.sort(key=lambda c: (c[0], c[1], c[2]), reverse=True)
    _, _, _, best, matched = candidates[0]
    code = best.subcategory or best.category
    assert code is not None
    basis = []
    for alert, why in matched[:3]:
        basis.append(f"告警{_alert_label(alert)}：{'；'.join(why)}，匹配映射规则 {best.id}（优先级 {best.priority}）")
    if len(matched) > 3:
        basis.append(f"另有 {len(matched) - 3} 条告警匹配该规则")
    others = [f"{r.id}（{_label(*_named(taxonomy, r.subcategory or r.category or ''))}，"
              f"优先级 {p}，{len(m)} 条告警）" for p, _, _, r, m in candidates[1:4]]
    if others:
        basis.append("同时匹配：" + "；".join(others) + "；取优先级最高者（攻击链中最靠后的阶段）")
    basis.append(f"归为 {_label(*_named(taxonomy, code))}（{std}）")
    return _classification(taxonomy, code, basis)


def classification_of(taxonomy: Taxonomy, code: str, basis: list[str] | None = None) -> Classification:
    """The classification a category or subcategory code names (KeyError for an unknown code)."""
    return _classification(taxonomy, code, list(basis or []))


# --------------------------------------------------------------------------- grade


def _time(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if not isinstance(value, str) or not value:
        return None
    try:
        t = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return t if t.tzinfo else t.replace(tzinfo=UTC)


def _inventory_assets(inventory: AssetInventory | Iterable[Asset] | None) -> dict[str, Asset]:
    if inventory is None:
        return {}
    assets = inventory.assets if isinstance(inventory, AssetInventory) else list(inventory)
    return {a.name: a for a in assets}


def _signal(sig: Signal, subcategory: str | None, tactics: set[str], techniques: set[str]) -> list[str]:
    why: list[str] = []
    if subcategory and subcategory in sig.subcategories:
        why.append(f"分类 {subcategory}")
    tac = [t for t in sig.tactics if _tactic(t) in tactics]
    if tac:
        why.append("ATT&CK 战术 " + "、".join(tac))
    tech = _technique_hits(sig.techniques, frozenset(techniques))
    if tech:
        why.append("ATT&CK 技术 " + "、".join(tech))
    return why


def facts_of(incident: Doc, alerts: Sequence[Doc], inventory: AssetInventory | Iterable[Asset] | None,
             now: datetime, rules: GradingRules, classification: Classification | None = None) -> tuple[Facts, list[str]]:
    """The facts the grading rules read, and the lines of the basis that state them."""
    inc = get_path(incident, "soc.incident", {}) or {}
    known = _inventory_assets(inventory)
    f = Facts(alerts=len(alerts))
    names: list[str] = []
    for a in alerts:
        n = get_path(a, "soc.asset.name")
        if n and n not in names:
            names.append(str(n))
    for n in _list(inc.get("assets")):
        if n and n not in names:
            names.append(str(n))
    enriched = {str(get_path(a, "soc.asset.name")): get_path(a, "soc.asset", {}) or {}
                for a in alerts if get_path(a, "soc.asset.name")}
    for n in names:
        asset = known.get(n)
        if asset is not None:
            row = {"name": n, "mlps_level": asset.mlps_level, "cii": asset.cii, "criticality": asset.criticality,
                   "from": "inventory"}
        elif n in enriched:
            e = enriched[n]
            row = {"name": n, "mlps_level": e.get("mlps_level"), "cii": e.get("cii") is True,
                   "criticality": e.get("criticality"), "from": "alert"}
        else:
            row = {"name": n, "mlps_level": None, "cii": False, "criticality": None, "from": "unknown"}
        f.assets.append(row)
    f.systems = names
    f.cii = any(r["cii"] for r in f.assets)
    f.mlps_level = max([int(r["mlps_level"]) for r in f.assets if isinstance(r["mlps_level"], int)], default=0)
    crits = [r["criticality"] for r in f.assets if r["criticality"] in CRITICALITY]
    f.criticality = max(crits, key=CRITICALITY.index) if crits else None
    sevs = [s for a in alerts if (s := get_path(a, "soc.alert.severity")) in SEVERITY]
    f.severity = max(sevs, key=SEVERITY.index) if sevs else None
    tenants = [str(t) for t in [get_path(incident, "labels.tenant")] + [get_path(a, "labels.tenant") for a in alerts] if t]
    f.tenants = list(dict.fromkeys(tenants))
    firsts = [t for a in alerts if (t := _time(get_path(a, "soc.alert.first_seen")) or _time(a.get("@timestamp")))]
    f.first_seen = min(firsts) if firsts else None
    closed = _time(inc.get("closed")) if inc.get("status") == "closed" else None
    f.until = closed or now
    if f.first_seen is not None:
        f.duration_hours = max(0.0, (f.until - f.first_seen).total_seconds() / 3600)
    records = inc.get("records_affected")
    f.records = int(records) if isinstance(records, int) and not isinstance(records, bool) and records >= 0 else None
    if classification is not None:
        f.category, f.subcategory = classification.category_code, classification.subcategory_code
    else:
        f.category, f.subcategory = inc.get("category_code"), inc.get("subcategory_code")
    tactics: set[str] = set()
    techniques: set[str] = set()
    for a in alerts:
        feat = _features(a)
        tactics |= feat.tactics
        techniques |= feat.techniques
    leak = _signal(rules.signals.data_leak, f.subcategory, tactics, techniques)
    avail = _signal(rules.signals.availability_impact, f.subcategory, tactics, techniques)
    f.data_leak, f.availability_impact = bool(leak), bool(avail)

    lines: list[str] = []
    if f.assets:
        parts = []
        for r in f.assets:
            props = [f"等保{MLPS_NAMES.get(r['mlps_level'], '级别未知')}" if r["mlps_level"] else "等保级别未知"]
            if r["cii"]:
                props.append("关键信息基础设施")
            if r["criticality"]:
                props.append(f"重要程度 {r['criticality']}")
            if r["from"] == "unknown":
                props.append("未在资产清单中")
            parts.append(f"{r['name']}（{'，'.join(props)}）")
        lines.append(f"受影响系统 {len(f.assets)} 个：" + "、".join(parts))
    else:
        lines.append("告警未关联到资产清单中的系统")
    lines.append(f"涉及租户 {len(f.tenants)} 个" + (f"：{'、'.join(f.tenants)}" if f.tenants else ""))
    if f.first_seen is not None:
        end = "事件关闭" if closed else "定级时"
        lines.append(f"告警 {f.alerts} 条，最高级别 {f.severity or '未知'}；自 {f.first_seen.isoformat()} 首次告警至{end}"
                     f"持续 {f.duration_hours:.1f} 小时")
    else:
        lines.append("事件没有可见的告警，持续时长无法计算")
    lines.append("数据泄露/窃取迹象：" + ("有（" + "；".join(leak) + "）" if leak else "无"))
    lines.append("可用性破坏迹象：" + ("有（" + "；".join(avail) + "）" if avail else "无"))
    lines.append(f"受影响个人信息记录：{f.records} 条（分析员填报）" if f.records is not None
                 else "受影响个人信息记录：未知（未填报，按记录数的定级规则不适用）")
    return f, lines


def grade(incident: Doc, alerts: Sequence[Doc], inventory: AssetInventory | Iterable[Asset] | None,
          now: datetime, rules: GradingRules | None = None,
          classification: Classification | None = None) -> Grading:
    """The incident's grade (reporting/grading.yml) with the reasons for it.

    classification: the one to grade with (its codes feed the signals); by default the codes stored
    on the incident, if any."""
    rules = rules or load_grading()
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    f, basis = facts_of(incident, alerts, inventory, now, rules, classification)
    rank = 0
    held = [r for r in rules.rules if r.when.holds(f)]
    for r in sorted(held, key=lambda r: _severity_rank(r.grade), reverse=True):
        basis.append(f"定级规则 {r.id}：{r.reason} → {r.grade}（{r.source}）")
        rank = max(rank, _severity_rank(r.grade))
    if not held:
        basis.append("未达到较大以上任一情形 → 一般（《网络安全事件分级指南》四：除上述网络安全事件外）")
    for e in rules.escalations:
        cap = _severity_rank(e.max_grade)
        if e.when.holds(f) and rank < cap:
            new = min(rank + e.steps, cap)
            basis.append(f"升级 {e.id}：{e.reason}，{GRADES[3 - rank]} → {GRADES[3 - new]}（至多 {e.max_grade}；{e.source}）")
            rank = new
    g = GRADES[3 - rank]
    basis.append(f"定级结果：{g}（{GRADE_CODES[g]}）")
    facts = {"cii": f.cii, "mlps_level": f.mlps_level, "criticality": f.criticality, "severity": f.severity,
             "systems": f.systems, "tenants": f.tenants, "duration_hours": round(f.duration_hours, 3),
             "records": f.records, "data_leak": f.data_leak, "availability_impact": f.availability_impact,
             "category": f.category, "subcategory": f.subcategory, "rules": [r.id for r in held]}
    return Grading(g, GRADE_CODES[g], basis, facts)


def override(automatic: Grading, grade_name: str, reason: str, actor: str) -> Grading:
    """An analyst's grade in place of the computed one: the reason first, the computation after."""
    if grade_name not in GRADE_CODES:
        raise ValueError(f"grade must be one of {', '.join(GRADES)}")
    basis = [f"分析员 {actor} 人工定级为 {grade_name}（{GRADE_CODES[grade_name]}），原因：{reason}",
             f"自动定级结果为 {automatic.grade}（{automatic.code}），其依据如下："] + automatic.basis
    return Grading(grade_name, GRADE_CODES[grade_name], basis, {**automatic.facts, "automatic_grade": automatic.grade})
