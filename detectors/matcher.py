"""Turn a pySigma condition tree into a Python predicate over an ECS document, once per rule.

Each leaf becomes a closure that does the cheapest test its value allows (equality, prefix,
suffix, substring, a compiled regex, a CIDR membership); AND/OR/NOT compose closures. Nothing
of the rule's YAML is looked at per event. Values are case-insensitive unless the rule uses
`|cased`, as the Sigma specification says. Issue 4 replaces this with generated source and a
cross-rule prefilter; the semantics tested here stay.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from typing import Any

from sigma.conditions import (
    ConditionAND,
    ConditionFieldEqualsValueExpression,
    ConditionNOT,
    ConditionOR,
    ConditionValueExpression,
)
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
    SigmaTimestampPart,
    SpecialChars,
)

Doc = dict[str, Any]
Predicate = Callable[[Doc], bool]
ValueTest = Callable[[Any], bool]

# Where unbound keywords are looked for: the whole line as received, then the message.
KEYWORD_FIELDS = ("event.original", "message")


class UnsupportedRule(ValueError):
    """The rule uses something this engine does not evaluate; the rule is not loaded."""


def field_getter(dotted: str) -> Callable[[Doc], Any]:
    """A fast reader of one dotted field (nested objects, or a flat dotted key)."""
    parts = tuple(dotted.split("."))

    def get(doc: Doc) -> Any:
        if dotted in doc:
            return doc[dotted]
        cur: Any = doc
        for part in parts:
            if type(cur) is not dict:
                return None
            cur = cur.get(part)
            if cur is None:
                return None
        return cur

    return get


def _as_text(value: Any) -> str | None:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    return None


def _any_value(test: ValueTest) -> ValueTest:
    """Apply a scalar test to a value or to any element of a list value."""

    def check(value: Any) -> bool:
        if isinstance(value, list):
            return any(test(v) for v in value)
        return test(value)

    return check


def string_test(value: SigmaString) -> ValueTest:
    """The cheapest scalar test equivalent to a Sigma string with wildcards."""
    if value.contains_placeholder():
        raise UnsupportedRule(f"placeholder in {value.original!r} has no configured value (|expand)")
    cased = isinstance(value, SigmaCasedString)
    parts = list(value.s)
    fold: Callable[[str], str] = (lambda s: s) if cased else str.lower
    plain_parts = [p for p in parts if isinstance(p, str)]
    multi = SpecialChars.WILDCARD_MULTI
    if not value.contains_special():
        # The plain parts, not to_plain(): that would put the escape back in front of \* and \?.
        target = fold("".join(plain_parts))

        def equals(v: Any) -> bool:
            text = _as_text(v)
            return text is not None and fold(text) == target

        return equals
    if SpecialChars.WILDCARD_SINGLE not in parts and len(plain_parts) == 1:
        needle = fold(plain_parts[0])
        if parts == [multi, plain_parts[0], multi]:
            return lambda v: (t := _as_text(v)) is not None and needle in fold(t)
        if parts == [plain_parts[0], multi]:
            return lambda v: (t := _as_text(v)) is not None and fold(t).startswith(needle)
        if parts == [multi, plain_parts[0]]:
            return lambda v: (t := _as_text(v)) is not None and fold(t).endswith(needle)
    pattern = "".join(
        re.escape(p) if isinstance(p, str) else (".*" if p is multi else ".") for p in parts
    )
    rx = re.compile(pattern, re.DOTALL | (0 if cased else re.IGNORECASE))
    return lambda v: (t := _as_text(v)) is not None and rx.fullmatch(t) is not None


def regex_test(value: SigmaRegularExpression) -> ValueTest:
    flags = 0
    for flag in value.flags:
        flags |= SigmaRegularExpression.sigma_to_python_flags[flag]
    rx = re.compile(str(value.regexp), flags)
    return lambda v: (t := _as_text(v)) is not None and rx.search(t) is not None


def cidr_test(value: SigmaCIDRExpression) -> ValueTest:
    network = value.network

    def check(v: Any) -> bool:
        if not isinstance(v, str):
            return False
        try:
            return ipaddress.ip_address(v) in network
        except ValueError:
            return False

    return check


def number_test(value: SigmaNumber) -> ValueTest:
    target = value.number

    def check(v: Any) -> bool:
        if isinstance(v, bool):
            return False
        if isinstance(v, (int, float)):
            return v == target
        if isinstance(v, str):
            try:
                return float(v) == target
            except ValueError:
                return False
        return False

    return check


def compare_test(value: SigmaCompareExpression) -> ValueTest:
    ops = SigmaCompareExpression.CompareOperators
    target = value.number.number
    op = {
        ops.LT: lambda a: a < target,
        ops.LTE: lambda a: a <= target,
        ops.GT: lambda a: a > target,
        ops.GTE: lambda a: a >= target,
    }[value.op]

    def check(v: Any) -> bool:
        if isinstance(v, bool):
            return False
        if isinstance(v, str):
            try:
                v = float(v)
            except ValueError:
                return False
        return isinstance(v, (int, float)) and op(v)

    return check


def value_test(value: Any) -> ValueTest:
    """Scalar test for one typed Sigma value (not for null/exists/field references)."""
    if isinstance(value, SigmaString):
        return string_test(value)
    if isinstance(value, SigmaRegularExpression):
        return regex_test(value)
    if isinstance(value, SigmaCIDRExpression):
        return cidr_test(value)
    if isinstance(value, SigmaTimestampPart):
        raise UnsupportedRule("time-part modifiers (|minute, |hour, ...) are not supported yet (issue 4)")
    if isinstance(value, SigmaNumber):
        return number_test(value)
    if isinstance(value, SigmaCompareExpression):
        return compare_test(value)
    if isinstance(value, SigmaBool):
        target = value.boolean
        return lambda v: v is target or (isinstance(v, str) and v.lower() == str(target).lower())
    if isinstance(value, SigmaExpansion):
        tests = [value_test(v) for v in value.values]
        return lambda v: any(t(v) for t in tests)
    raise UnsupportedRule(f"value type {type(value).__name__} is not supported yet")


def leaf(expr: ConditionFieldEqualsValueExpression) -> Predicate:
    get = field_getter(expr.field)
    value = expr.value
    if isinstance(value, SigmaNull):
        return lambda doc: get(doc) is None
    if isinstance(value, SigmaExists):
        want = value.exists
        return lambda doc: (get(doc) is not None) is want
    if isinstance(value, SigmaFieldReference):
        other = field_getter(value.field)
        return lambda doc: (a := get(doc)) is not None and a == other(doc)
    test = _any_value(value_test(value))
    return lambda doc: (v := get(doc)) is not None and test(v)


def keyword(expr: ConditionValueExpression) -> Predicate:
    """An unbound value: searched anywhere in the line (Sigma keywords are substring matches)."""
    value = expr.value
    if isinstance(value, SigmaString):
        multi = SpecialChars.WILDCARD_MULTI
        if not value.startswith(multi):
            value = multi + value
        if not value.endswith(multi):
            value = value + multi
    test = _any_value(value_test(value))
    getters = [field_getter(f) for f in KEYWORD_FIELDS]
    return lambda doc: any((v := g(doc)) is not None and test(v) for g in getters)


def compile_condition(node: Any) -> Predicate:
    """A predicate for a parsed condition (after pySigma has expanded selections)."""
    if isinstance(node, ConditionAND):
        args = [compile_condition(a) for a in node.args]
        return lambda doc: all(p(doc) for p in args)
    if isinstance(node, ConditionOR):
        args = [compile_condition(a) for a in node.args]
        return lambda doc: any(p(doc) for p in args)
    if isinstance(node, ConditionNOT):
        inner = compile_condition(node.args[0])
        return lambda doc: not inner(doc)
    if isinstance(node, ConditionFieldEqualsValueExpression):
        return leaf(node)
    if isinstance(node, ConditionValueExpression):
        return keyword(node)
    raise UnsupportedRule(f"condition element {type(node).__name__} is not supported")
