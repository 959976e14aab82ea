"""The rules a worker runs now: loaded from the rule folders, minus the disabled ones, reloaded
when a rule file or the rule-state file changes — without restarting the worker.

The rule-state file (YAML, `worker.rules_state_file`) lists what analysts switched off:

    disabled:
      - 4c1a6b1e-6f0e-4d3e-9d8a-5a0f2b6c9e01   # a rule id (or name)

A reload that fails (a broken state file) keeps the rules running and logs why; a rule file
that does not compile is reported and left out, as at start. Single-event rules that alert get
a suppression window: the same rule and group key within `suppression_s` make one alert with
a count and the event ids (detectors/correlation.py does the windowing).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from detectors.correlation import Condition
from detectors.rules import CompiledRule, CorrelationSpec, RuleSet, load_rules

log = logging.getLogger(__name__)

SUPPRESS = "suppress:"  # the prefix of a suppression window's spec id
# What "the same" means for a single-event alert, unless the rule says (`suppress_by:`).
DEFAULT_SUPPRESS_BY = ("source.ip", "destination.ip", "host.name", "user.name")


def suppression_spec(rule: CompiledRule, seconds: int) -> CorrelationSpec:
    """A single-event rule's alerts as a window: every match counts, the first one alerts."""
    return CorrelationSpec(
        meta=rule.meta,
        type="single",
        rule_ids=[rule.meta.id],
        group_by=list(rule.suppress_by or DEFAULT_SUPPRESS_BY),
        timespan_s=seconds,
        condition=Condition("event_count", "gte", 1),
    )


@dataclass(frozen=True, slots=True)
class Snapshot:
    ruleset: RuleSet
    specs: dict[str, CorrelationSpec]  # correlations and suppressions, by id


@dataclass
class RuleRegistry:
    folders: Sequence[Path]
    placeholders: Mapping[str, list[str]] = field(default_factory=dict)
    state_file: Path | None = None
    suppression_s: int = 0
    now: Snapshot = field(init=False)  # replaced in one assignment: readers never see half a reload
    disabled: frozenset[str] = field(init=False, default=frozenset())
    _stamp: tuple[object, ...] = field(init=False, default=())

    def __post_init__(self) -> None:
        self.disabled = self._read_state()
        self._load()

    def _files_stamp(self) -> tuple[object, ...]:
        """What changes when a rule or the state file changes: paths, sizes, modification times."""
        entries: list[tuple[str, int, int]] = []
        for folder in self.folders:
            folder = Path(folder)
            files = [folder] if folder.is_file() else sorted(folder.rglob("*.yml")) if folder.is_dir() else []
            for f in files:
                try:
                    st = f.stat()
                except FileNotFoundError:
                    continue
                entries.append((str(f), st.st_size, st.st_mtime_ns))
        if self.state_file is not None and self.state_file.exists():
            st = self.state_file.stat()
            entries.append((str(self.state_file), st.st_size, st.st_mtime_ns))
        return tuple(entries)

    def _read_state(self) -> frozenset[str]:
        if self.state_file is None or not self.state_file.exists():
            return frozenset()
        data = yaml.safe_load(self.state_file.read_text(encoding="utf-8")) or {}
        if not isinstance(data, dict) or not isinstance(data.get("disabled", []), list):
            raise ValueError(f"{self.state_file}: expected `disabled: [rule ids]`")
        return frozenset(str(x) for x in data.get("disabled") or [])

    def _load(self) -> None:
        self._stamp = self._files_stamp()
        full = load_rules(self.folders, self.placeholders)
        off = self.disabled
        rules = [r for r in full.rules if r.meta.id not in off and r.meta.name not in off]
        correlations = [c for c in full.correlations if c.meta.id not in off and c.meta.name not in off]
        live = {c.meta.id for c in correlations}
        for r in rules:
            r.correlations = [c for c in r.correlations if c.meta.id in live]
        ruleset = RuleSet(rules, correlations, full.errors, index=full.index)
        specs = {c.meta.id: c for c in correlations}
        if self.suppression_s > 0:
            for r in rules:
                if r.generates_alerts:
                    specs[SUPPRESS + r.meta.id] = suppression_spec(r, self.suppression_s)
        self.now = Snapshot(ruleset, specs)
        log.warning("Sigma rules: %s%s", ruleset.summary(), f", {len(off)} disabled" if off else "")

    @property
    def ruleset(self) -> RuleSet:
        return self.now.ruleset

    @property
    def specs(self) -> dict[str, CorrelationSpec]:
        return self.now.specs

    def maybe_reload(self) -> bool:
        """Reload if anything changed on disk; True when the rules were replaced."""
        stamp = self._files_stamp()
        if stamp == self._stamp:
            return False
        try:
            self.disabled = self._read_state()
        except (OSError, ValueError, yaml.YAMLError) as exc:
            log.error("rule state not reloaded, the current rules keep running: %s", exc)
            self._stamp = stamp
            return False
        self._load()
        return True
