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

from collections.abc import Sequence
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
from sigma.types import SigmaExpansion, SigmaNumber, SigmaString, SpecialChars

from detectors import runtime
from detectors.compiler import KEYWORD_FIELDS

Needle = tuple[str, str, Any]  # (kind: sub | eq | num, field, value)
Need = frozenset[Needle]
MIN_NEEDLE = 3  # shorter literals occur everywhere; they select nothing


def _string_need(field: str, value: Any) -> Need | None:
    if isinstance(value, SigmaExpansion):
        needs = [_string_need(field, v) for v in value.values]
        if any(n is None for n in needs):
            return None
        return frozenset().union(*needs)  # type: ignore[arg-type]
    if type(value) is SigmaNumber:
        return frozenset({("num", field, float(value.number))})
    if not isinstance(value, SigmaString) or value.contains_placeholder():
        return None
    plain = [p for p in value.s if isinstance(p, str)]
    if not value.contains_special():
        return frozenset({("eq", field, "".join(plain).lower())})
    longest = max(plain, key=len, default="")
    if len(longest) < MIN_NEEDLE:
        return None
    return frozenset({("sub", field, longest.lower())})


def _rank(n: Need) -> tuple[int, int, int]:
    """Smaller is more selective: exact needles first, then fewer needles, then longer ones."""
    exact = all(kind != "sub" for kind, _, _ in n)
    shortest = min((len(v) for kind, _, v in n if kind == "sub"), default=99)
    return (0 if exact else 1, len(n), -shortest)


def need(node: Any) -> Need | None:
    """Literals one of which a match requires, or None when the node promises none."""
    if isinstance(node, ConditionAND):
        needs = [n for n in (need(a) for a in node.args) if n is not None]
        if not needs:
            return None
        return min(needs, key=_rank)
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
        value = node.value
        if isinstance(value, SigmaString) and not value.contains_special():
            value = SpecialChars.WILDCARD_MULTI + value + SpecialChars.WILDCARD_MULTI  # a keyword is a substring
        needs = [_string_need(f, value) for f in KEYWORD_FIELDS]
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
    get: Any
    automaton: Any  # substrings -> rules, or None
    exact: dict[str, frozenset[int]]  # lowercased text -> rules
    numbers: dict[float, frozenset[int]]  # number -> rules


class Prefilter:
    """Which rules (by position) an event may match: per field, one automaton run over its
    lowercased text and two dictionary look-ups."""

    def __init__(self, needs: Sequence[Need | None]) -> None:
        self.always = frozenset(i for i, n in enumerate(needs) if n is None)
        by_field: dict[str, dict[str, dict[Any, set[int]]]] = {}
        for i, n in enumerate(needs):
            for kind, field, value in n or ():
                by_field.setdefault(field, {"sub": {}, "eq": {}, "num": {}})[kind].setdefault(value, set()).add(i)
        self.scans: list[_FieldScan] = []
        for field, kinds in by_field.items():
            automaton = None
            if kinds["sub"]:
                automaton = ahocorasick.Automaton()
                for literal, rules in kinds["sub"].items():
                    automaton.add_word(literal, frozenset(rules))
                automaton.make_automaton()
            self.scans.append(_FieldScan(
                runtime.getter(field), automaton,
                {k: frozenset(v) for k, v in kinds["eq"].items()},
                {k: frozenset(v) for k, v in kinds["num"].items()},
            ))

    def candidates(self, doc: dict[str, Any]) -> set[int]:
        found = set(self.always)
        for scan in self.scans:
            raw = scan.get(doc)
            if raw is None:
                continue
            values = raw if type(raw) is list else (raw,)
            if scan.numbers:
                for v in values:
                    n = runtime.number(v)
                    if n is not None and n in scan.numbers:
                        found |= scan.numbers[n]
            if scan.exact or scan.automaton is not None:
                for v in values:
                    text = runtime.low(v)
                    if type(text) is not str:
                        continue
                    hit = scan.exact.get(text)
                    if hit:
                        found |= hit
                    if scan.automaton is not None:
                        for _, rules in scan.automaton.iter(text):
                            found |= rules
        return found
