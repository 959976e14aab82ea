"""Compile a Sigma rule's condition into Python source, once, and that source into a function.

pySigma parses the rule (modifiers applied, `1 of`/`all of` expanded); this module walks the
condition tree and writes one function per rule, e.g. for `process.name: sshd` and
`event.outcome: failure`:

    def rule(doc):
        f0 = G0(doc)
        l0 = low(f0)
        f1 = G1(doc)
        l1 = low(f1)
        return (eq(l0, 'sshd') and eq(l1, 'failure'))

Each field is read once and lowercased once per evaluation; values in an OR on one field
become one set look-up or one tuple test (`str.startswith((...))`); regular expressions, CIDR
networks and wildcard patterns are built at compile time. The helpers called are in
detectors/runtime.py. Values are case-insensitive unless the rule says `|cased`, and `|re`
follows its own flags, as the Sigma specification says.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
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
    Placeholder,
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

from detectors import runtime

Doc = dict[str, Any]
Predicate = Callable[[Doc], bool]

# Where unbound keywords are looked for: the whole line as received, then the message.
KEYWORD_FIELDS = ("event.original", "message")
_MULTI, _SINGLE = SpecialChars.WILDCARD_MULTI, SpecialChars.WILDCARD_SINGLE
_RUNTIME = {name: getattr(runtime, name) for name in (
    "low", "cased", "eq", "inset", "contains", "startswith", "endswith", "glob", "regex", "cidr", "num",
    "boolean", "fieldref", "time_part",
)}
_COMPARE = {"LT": "lt", "LTE": "lte", "GT": "gt", "GTE": "gte"}


class UnsupportedRule(ValueError):
    """The rule uses something this engine does not evaluate; the rule is not loaded."""


@dataclass(slots=True)
class _Simple:
    """A string test that can merge with others of its kind on the same variable in an OR."""

    kind: str  # eq, contains, startswith, endswith
    var: str
    literal: str


@dataclass
class _Gen:
    placeholders: Mapping[str, list[str]]
    fields: dict[str, int] = field(default_factory=dict)
    lowered: set[int] = field(default_factory=set)
    kept: set[int] = field(default_factory=set)
    consts: list[Any] = field(default_factory=list)

    def field(self, name: str) -> int:
        return self.fields.setdefault(name, len(self.fields))

    def const(self, value: Any) -> str:
        self.consts.append(value)
        return f"C[{len(self.consts) - 1}]"

    # ------------------------------------------------------------------ the tree

    def expr(self, node: Any) -> str:
        if isinstance(node, ConditionAND):
            return "(" + " and ".join(self.expr(a) for a in node.args) + ")"
        if isinstance(node, ConditionOR):
            return self._or(node.args)
        if isinstance(node, ConditionNOT):
            return f"(not {self.expr(node.args[0])})"
        if isinstance(node, ConditionFieldEqualsValueExpression):
            return self.leaf(node.field, node.value)
        if isinstance(node, ConditionValueExpression):
            return self.keyword(node.value)
        raise UnsupportedRule(f"condition element {type(node).__name__} is not supported")

    def _or(self, args: list[Any]) -> str:
        groups: dict[tuple[str, str], list[str]] = {}
        rest: list[str] = []
        for arg in args:
            simple = self.simple(arg)
            if simple is None:
                rest.append(self.expr(arg))
            else:
                groups.setdefault((simple.kind, simple.var), []).append(simple.literal)
        merged = [self._merged(kind, var, literals) for (kind, var), literals in groups.items()]
        return "(" + " or ".join(merged + rest) + ")"

    def simple(self, node: Any) -> _Simple | None:
        """The node as a plain string test, if it is one."""
        if not isinstance(node, ConditionFieldEqualsValueExpression):
            return None
        value = node.value
        if type(value) not in (SigmaString, SigmaCasedString) or value.contains_placeholder():
            return None
        shape = _shape(value)
        if shape is None:
            return None
        kind, literal = shape
        return _Simple(kind, self._var(node.field, isinstance(value, SigmaCasedString)), literal)

    def _merged(self, kind: str, var: str, literals: list[str]) -> str:
        if kind == "eq":
            if len(literals) == 1:
                return f"eq({var}, {literals[0]!r})"
            return f"inset({var}, {self.const(frozenset(literals))})"
        return f"{kind}({var}, {tuple(dict.fromkeys(literals))!r})"

    def _var(self, name: str, is_cased: bool) -> str:
        i = self.field(name)
        (self.kept if is_cased else self.lowered).add(i)
        return f"{'c' if is_cased else 'l'}{i}"

    # ------------------------------------------------------------------ values

    def leaf(self, name: str, value: Any) -> str:
        i = self.field(name)
        raw = f"f{i}"
        if isinstance(value, SigmaNull):
            return f"({raw} is None)"
        if isinstance(value, SigmaExists):
            return f"({raw} is {'not ' if value.exists else ''}None)"
        if isinstance(value, SigmaFieldReference):
            mode = "startswith" if value.starts_with else "endswith" if value.ends_with else "eq"
            return f"fieldref({raw}, f{self.field(value.field)}, {mode!r})"
        if isinstance(value, SigmaExpansion):
            return "(" + " or ".join(self.leaf(name, v) for v in value.values) + ")"
        if isinstance(value, SigmaString):
            return self.string(name, value)
        if isinstance(value, SigmaRegularExpression):
            return f"regex({raw}, {self.const(_regex(value))})"
        if isinstance(value, SigmaCIDRExpression):
            return f"cidr({raw}, {self.const((value.network,))})"
        if isinstance(value, SigmaTimestampPart):
            return f"time_part({raw}, {value.timestamp_part.name!r}, {int(value.number)})"
        if isinstance(value, SigmaNumber):
            return f"num({raw}, 'eq', {float(value.number)!r})"
        if isinstance(value, SigmaCompareExpression):
            return f"num({raw}, {_COMPARE[value.op.name]!r}, {float(value.number.number)!r})"
        if isinstance(value, SigmaBool):
            return f"boolean({raw}, {value.boolean!r})"
        raise UnsupportedRule(f"value type {type(value).__name__} is not supported")

    def string(self, name: str, value: SigmaString) -> str:
        if value.contains_placeholder():
            return "(" + " or ".join(self.string(name, v) for v in self._expand(value)) + ")"
        is_cased = isinstance(value, SigmaCasedString)
        var = self._var(name, is_cased)
        shape = _shape(value)
        if shape is not None:
            return self._merged(shape[0], var, [shape[1]])
        pattern = "".join(
            re.escape(p if is_cased else p.lower()) if isinstance(p, str) else (".*" if p is _MULTI else ".")
            for p in value.s
        )
        return f"glob({var}, {self.const(re.compile(pattern, re.DOTALL))})"

    def _expand(self, value: SigmaString) -> list[SigmaString]:
        """`|expand`: each placeholder replaced by every configured value."""

        def values(p: Placeholder) -> Any:
            if p.name not in self.placeholders:
                raise UnsupportedRule(f"placeholder %{p.name}% has no configured values (worker.sigma_placeholders)")
            for v in self.placeholders[p.name]:
                yield SigmaString(v)  # configured values may hold wildcards too

        expanded = value.replace_placeholders(values)
        if isinstance(value, SigmaCasedString):
            expanded = [SigmaCasedString.from_sigma_string(v) for v in expanded]
        return expanded

    def keyword(self, value: Any) -> str:
        """An unbound value: searched in the line and the message (a substring, for strings)."""
        if isinstance(value, SigmaString) and not value.contains_placeholder():
            if not value.startswith(_MULTI):
                value = _MULTI + value
            if not value.endswith(_MULTI):
                value = value + _MULTI
        return "(" + " or ".join(self.leaf(f, value) for f in KEYWORD_FIELDS) + ")"

    # ------------------------------------------------------------------ source

    def source(self, body: str) -> str:
        lines = ["def rule(doc):"]
        for name, i in self.fields.items():
            lines.append(f"    f{i} = G{i}(doc)  # {name}")
            if i in self.lowered:
                lines.append(f"    l{i} = f{i}.lower() if f{i}.__class__ is str else low(f{i})")
            if i in self.kept:
                lines.append(f"    c{i} = f{i} if f{i}.__class__ is str else cased(f{i})")
        lines.append(f"    return {body}")
        return "\n".join(lines) + "\n"


def _shape(value: SigmaString) -> tuple[str, str] | None:
    """(kind, literal) when the string is plain, `*x*`, `x*` or `*x` (lowercased unless cased)."""
    parts = value.s
    fold: Callable[[str], str] = (lambda s: s) if isinstance(value, SigmaCasedString) else str.lower
    plain = [p for p in parts if isinstance(p, str)]
    if not value.contains_special():
        return "eq", fold("".join(plain))
    if _SINGLE in parts or len(plain) != 1:
        return None
    literal = fold(plain[0])
    if len(parts) == 3 and parts[0] is _MULTI and parts[2] is _MULTI:
        return "contains", literal
    if len(parts) == 2 and parts[1] is _MULTI:
        return "startswith", literal
    if len(parts) == 2 and parts[0] is _MULTI:
        return "endswith", literal
    return None


def regex_flags(value: SigmaRegularExpression) -> int:
    """Python flags of a Sigma `|re`: its i/m/s, and ASCII, as in PCRE without UCP (Sigma's
    reference) and in Lucene: `\\w`, `\\d`, `\\s` and `\\b` mean ASCII classes, so `\\bcurl\\b`
    finds the command in "执行curl命令" (docs/sigma-compatibility.md)."""
    flags = re.ASCII
    for flag in value.flags:
        flags |= SigmaRegularExpression.sigma_to_python_flags[flag]
    return flags


def _regex(value: SigmaRegularExpression) -> re.Pattern[str]:
    flags = regex_flags(value)
    try:
        return re.compile(str(value.regexp), flags)
    except re.error as exc:
        raise UnsupportedRule(f"regular expression {value.regexp!r} does not compile in Python: {exc}") from None


@dataclass(slots=True)
class Compiled:
    predicate: Predicate
    source: str


def compile_rule(rule: SigmaRule, placeholders: Mapping[str, list[str]] | None = None) -> Compiled:
    """The rule's conditions (several are ORed) as one generated Python function."""
    gen = _Gen(placeholders or {})
    conditions = [gen.expr(c.parsed) for c in rule.detection.parsed_condition]
    body = conditions[0] if len(conditions) == 1 else "(" + " or ".join(conditions) + ")"
    source = gen.source(body)
    namespace: dict[str, Any] = {**_RUNTIME, "C": gen.consts}
    for name, i in gen.fields.items():
        namespace[f"G{i}"] = runtime.getter(name)
    code = compile(source, f"<sigma {rule.id or rule.title}>", "exec")
    exec(code, namespace)  # noqa: S102 - our own generated source, from a parsed rule
    return Compiled(predicate=namespace["rule"], source=source)
