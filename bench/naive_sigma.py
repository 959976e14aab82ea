"""A naive per-event Sigma interpreter: the baseline the compiled engine is measured against.

For every event and every rule it walks pySigma's condition tree and turns each value into a
test on the spot (a wildcard string becomes a regular expression through `re`, whose own cache
is all the reuse there is). Same semantics as detectors/compiler.py (case-insensitive strings,
lists match on any element), so the two must find the same matches — the benchmark checks it.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Any

from sigma.conditions import (
    ConditionAND,
    ConditionFieldEqualsValueExpression,
    ConditionNOT,
    ConditionOR,
    ConditionValueExpression,
)
from sigma.rule import SigmaRule
from sigma.types import (
    SigmaBool,
    SigmaCasedString,
    SigmaCIDRExpression,
    SigmaCompareExpression,
    SigmaExists,
    SigmaExpansion,
    SigmaFieldReference,
    SigmaNull,
    SigmaNumber,
    SigmaRegularExpression,
    SigmaString,
    SpecialChars,
)

from detectors.compiler import KEYWORD_FIELDS
from detectors.runtime import text
from soc.model import get_path


def _values(v: Any) -> list[Any]:
    return v if isinstance(v, list) else [v]


def _value(value: Any, v: Any) -> bool:
    if isinstance(value, SigmaExpansion):
        return any(_value(x, v) for x in value.values)
    if isinstance(value, SigmaString):
        pattern = "".join(
            re.escape(p) if isinstance(p, str) else (".*" if p is SpecialChars.WILDCARD_MULTI else ".")
            for p in value.s
        )
        flags = re.DOTALL | (0 if isinstance(value, SigmaCasedString) else re.IGNORECASE)
        return any((t := text(x)) is not None and re.fullmatch(pattern, t, flags) is not None for x in _values(v))
    if isinstance(value, SigmaRegularExpression):
        flags = 0
        for flag in value.flags:
            flags |= SigmaRegularExpression.sigma_to_python_flags[flag]
        return any((t := text(x)) is not None and re.search(str(value.regexp), t, flags) for x in _values(v))
    if isinstance(value, SigmaCIDRExpression):
        for x in _values(v):
            try:
                if isinstance(x, str) and ipaddress.ip_address(x) in value.network:
                    return True
            except ValueError:
                pass
        return False
    if isinstance(value, (SigmaNumber, SigmaCompareExpression)):
        target = value.number if isinstance(value, SigmaNumber) else value.number.number
        op = "eq" if isinstance(value, SigmaNumber) else value.op.name.lower()
        for x in _values(v):
            try:
                n = float(x) if not isinstance(x, bool) else None
            except (TypeError, ValueError):
                n = None
            if n is not None and {"eq": n == target, "lt": n < target, "lte": n <= target, "gt": n > target,
                                  "gte": n >= target}[op]:
                return True
        return False
    if isinstance(value, SigmaBool):
        return any(x is value.boolean or (isinstance(x, str) and x.lower() == str(value.boolean).lower())
                   for x in _values(v))
    return False


def evaluate(node: Any, doc: dict[str, Any]) -> bool:
    if isinstance(node, ConditionAND):
        return all(evaluate(a, doc) for a in node.args)
    if isinstance(node, ConditionOR):
        return any(evaluate(a, doc) for a in node.args)
    if isinstance(node, ConditionNOT):
        return not evaluate(node.args[0], doc)
    if isinstance(node, ConditionFieldEqualsValueExpression):
        v = get_path(doc, node.field)
        value = node.value
        if isinstance(value, SigmaNull):
            return v is None
        if isinstance(value, SigmaExists):
            return (v is not None) is value.exists
        if isinstance(value, SigmaFieldReference):
            return v is not None and text(v) == text(get_path(doc, value.field))
        return v is not None and _value(value, v)
    if isinstance(node, ConditionValueExpression):
        value = node.value
        if isinstance(value, SigmaString):
            if not value.startswith(SpecialChars.WILDCARD_MULTI):
                value = SpecialChars.WILDCARD_MULTI + value
            if not value.endswith(SpecialChars.WILDCARD_MULTI):
                value = value + SpecialChars.WILDCARD_MULTI
        return any((v := get_path(doc, f)) is not None and _value(value, v) for f in KEYWORD_FIELDS)
    return False


def matches(rule: SigmaRule, doc: dict[str, Any]) -> bool:
    return any(evaluate(c.parsed, doc) for c in rule.detection.parsed_condition)
