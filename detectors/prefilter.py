"""A cross-rule prefilter: one Aho-Corasick pass per field instead of every rule's substring tests.

For each rule, `needles` computes literals of which at least one must occur (lowercased) in a
given field for the rule to possibly match, read off the condition tree:

- a string test (equals, contains, startswith, endswith, or a wildcard pattern) needs its
  longest plain part in its field; a keyword needs its literal in the line or the message;
- AND needs what its most selective child needs; OR needs the union of its children's needs
  (and nothing can be said if one child has none); NOT, numbers, CIDR, regex, null... say nothing.

A rule with a need is evaluated only when one of its needles was found; a rule without one is
always evaluated. The prefilter never drops a rule that could match: it only skips rules whose
necessary literal is absent (tests/unit/test_prefilter.py checks both engines agree).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import ahocorasick
from sigma.conditions import (
    ConditionAND,
    ConditionFieldEqualsValueExpression,
    ConditionNOT,
    ConditionOR,
    ConditionValueExpression,
)
from sigma.rule import SigmaRule
from sigma.types import SigmaExpansion, SigmaString

from detectors import runtime
from detectors.compiler import KEYWORD_FIELDS

Need = frozenset[tuple[str, str]]  # (field, lowercased literal)
MIN_NEEDLE = 3  # shorter literals occur everywhere; they select nothing


def _string_need(field: str, value: Any) -> Need | None:
    if isinstance(value, SigmaExpansion):
        needs = [_string_need(field, v) for v in value.values]
        if any(n is None for n in needs):
            return None
        return frozenset().union(*needs)  # type: ignore[arg-type]
    if not isinstance(value, SigmaString) or value.contains_placeholder():
        return None
    plain = [p for p in value.s if isinstance(p, str)]
    longest = max(plain, key=len, default="")
    if len(longest) < MIN_NEEDLE:
        return None
    return frozenset({(field, longest.lower())})


def need(node: Any) -> Need | None:
    """Literals one of which a match requires, or None when the node promises none."""
    if isinstance(node, ConditionAND):
        needs = [n for n in (need(a) for a in node.args) if n is not None]
        if not needs:
            return None
        # The most selective: fewest needles, then the longest shortest needle.
        return min(needs, key=lambda n: (len(n), -min(len(lit) for _, lit in n)))
    if isinstance(node, ConditionOR):
        needs = [need(a) for a in node.args]
        if any(n is None for n in needs):
            return None
        return frozenset().union(*needs)  # type: ignore[arg-type]
    if isinstance(node, ConditionNOT):
        return None
    if isinstance(node, ConditionFieldEqualsValueExpression):
        return _string_need(node.field, node.value)
    if isinstance(node, ConditionValueExpression):
        needs = [_string_need(f, node.value) for f in KEYWORD_FIELDS]
        if any(n is None for n in needs):
            return None
        return frozenset().union(*needs)  # type: ignore[arg-type]
    return None


def rule_need(rule: SigmaRule) -> Need | None:
    needs = [need(c.parsed) for c in rule.detection.parsed_condition]
    if any(n is None for n in needs):
        return None
    return frozenset().union(*needs)  # type: ignore[arg-type]


@dataclass(slots=True)
class _FieldScan:
    field: str
    get: Any
    automaton: Any


class Prefilter:
    """Which rules (by position) an event may match, from one automaton run per field."""

    def __init__(self, needs: Sequence[Need | None]) -> None:
        self.always = frozenset(i for i, n in enumerate(needs) if n is None)
        by_field: dict[str, dict[str, set[int]]] = {}
        for i, n in enumerate(needs):
            for field, literal in n or ():
                by_field.setdefault(field, {}).setdefault(literal, set()).add(i)
        self.scans: list[_FieldScan] = []
        for field, literals in by_field.items():
            automaton = ahocorasick.Automaton()
            for literal, rules in literals.items():
                automaton.add_word(literal, frozenset(rules))
            automaton.make_automaton()
            self.scans.append(_FieldScan(field, runtime.getter(field), automaton))

    def candidates(self, doc: dict[str, Any]) -> set[int]:
        found = set(self.always)
        for scan in self.scans:
            value = runtime.low(scan.get(doc))
            if value is None:
                continue
            for text in value if type(value) is list else (value,):
                if type(text) is str:
                    for _, rules in scan.automaton.iter(text):
                        found |= rules
        return found


def build(rules: Iterable[SigmaRule]) -> tuple[Prefilter, list[Need | None]]:
    needs = [rule_need(r) for r in rules]
    return Prefilter(needs), needs
