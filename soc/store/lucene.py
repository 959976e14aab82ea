"""Sigma rules as Lucene queries that find in Elasticsearch what the stream engine finds.

pySigma's Lucene backend writes `field:value`, which Elasticsearch compares case-sensitively on
keyword fields, while Sigma (and our stream engine) compares strings case-insensitively; and it
passes `|re` values through, though Lucene's regular expressions are anchored, know no `(?:`,
no inline flags and read `#@&<>~` as operators. `SocLuceneBackend` keeps the backend and
changes three things, using what the index template provides (soc/store/templates.py):

- a string value (unless `|cased`) on a string field is searched in the field's `.ci` sub-field,
  which Elasticsearch lowercases at index time (the built-in `lowercase` normalizer), with the
  value lowercased the same way;
- a keyword (a value bound to no field) is searched in `event.original.ci` and `message.ci`,
  the fields the stream looks in (`query_string`);
- a regular expression is translated from Python's syntax to Lucene's (`lucene_regex`): searched
  unanchored as Sigma means it, with Python's character classes spelled out as ranges and
  case-insensitive parts as `[aA]`. What Lucene cannot express (look-arounds, `\\b`, back
  references, anchors inside the pattern) is refused with the construct named, so a hunt says
  it cannot run the rule rather than run a different one.
"""

from __future__ import annotations

import ipaddress
import re
import re._constants as sre  # noqa: PLC2701 - the parser of the re module is the exact grammar
import re._parser as sre_parse  # noqa: PLC2701
from collections.abc import Callable
from typing import Any

from sigma.backends.elasticsearch import LuceneBackend
from sigma.conditions import ConditionFieldEqualsValueExpression, ConditionItem
from sigma.conversion.state import ConversionState
from sigma.exceptions import SigmaFeatureNotSupportedByBackendError
from sigma.types import SigmaCasedString, SigmaExpansion, SigmaRegularExpression, SigmaString

from detectors.compiler import KEYWORD_FIELDS, regex_flags
from soc.store.templates import CASE_FOLDED, COMMON_FIELDS

_LITERAL_ESCAPE = set('.?+*|{}[]()"\\#@&<>~/')
_MAXREPEAT = sre.MAXREPEAT


def folded_field(name: str) -> str | None:
    """The lowercased sub-field of a field of the template, None for any other field.

    Fields the template does not name (vendor extras) have no such sub-field: on them a hunt
    compares case-sensitively, as Elasticsearch does (docs/detection.md).
    """
    mapping = COMMON_FIELDS.get(name)
    if mapping is not None and CASE_FOLDED in mapping.get("fields", {}):
        return f"{name}.{CASE_FOLDED}"
    return None


def _is_ip(name: str | None) -> bool:
    return name is not None and COMMON_FIELDS.get(name, {}).get("type") == "ip"


def _indexed_as_is(name: str) -> bool:
    """A string field whose own (not lowercased) value is indexed: a regex can run on it."""
    mapping = COMMON_FIELDS.get(name)
    return mapping is None or (mapping.get("type") == "keyword" and mapping.get("index", True))


def query_string(query: str) -> dict[str, Any]:
    """The Elasticsearch query for a query string of `SocLuceneBackend`.

    Unbound keywords are looked for where the stream looks, lowercased; translated look-arounds
    and word boundaries can need more automaton states than Lucene's default 10,000.
    """
    return {"query_string": {"query": query, "analyze_wildcard": True,
                             "fields": [f"{f}.{CASE_FOLDED}" for f in KEYWORD_FIELDS],
                             "max_determinized_states": 100_000}}


def refused_parts(es: Any, index: str, query: str) -> list[str]:
    """Why Elasticsearch would drop parts of the query, [] when it runs all of it.

    A query_string clause Elasticsearch cannot build (a regular expression too complex to
    determinize: Lucene's fixed limit of 10,000 states of effort) becomes MatchNoDocsQuery without
    an error, so a hunt would silently find nothing: the explained query says so.
    """
    res = es.indices.validate_query(index=index, query=query_string(query), explain=True,
                                    ignore_unavailable=True, allow_no_indices=True)
    reasons = [str(e.get("error") or "") for e in res.get("explanations", []) if not e.get("valid", True)]
    for e in res.get("explanations", []):
        reasons += re.findall(r'MatchNoDocsQuery\("failed \[[^\]]*\] query, caused by ([^"]*)"', e.get("explanation", ""))
    return list(dict.fromkeys(r for r in reasons if r))


# --------------------------------------------------------------------------- regular expressions


_CLASS_RANGES = {  # Python's classes under re.ASCII, which Sigma regexes are compiled with
    "digit": ((0x30, 0x39),),
    "space": ((0x09, 0x0D), (0x20, 0x20)),
    "word": ((0x30, 0x39), (0x41, 0x5A), (0x5F, 0x5F), (0x61, 0x7A)),
}


_CATEGORIES = {
    sre.CATEGORY_DIGIT: ("digit", False), sre.CATEGORY_NOT_DIGIT: ("digit", True),
    sre.CATEGORY_SPACE: ("space", False), sre.CATEGORY_NOT_SPACE: ("space", True),
    sre.CATEGORY_WORD: ("word", False), sre.CATEGORY_NOT_WORD: ("word", True),
}


def _class_char(cp: int) -> str:
    c = chr(cp)
    return c if c.isalnum() or cp > 127 or c in " \t\n\r\f\v" else "\\" + c


class _Translator:
    """Python `re` syntax tree → Lucene regexp; `fold`: the searched text is lowercased."""

    def __init__(self, fold: bool) -> None:
        self.fold = fold

    def seq(self, items: Any, icase: bool, dotall: bool) -> str:
        return "".join(self.item(op, av, icase, dotall) for op, av in items)

    def literal(self, cp: int, icase: bool) -> str:
        c = chr(cp)
        if icase or self.fold:
            low, up = c.lower(), c.upper()
            if self.fold:
                # The text is lowercased: a case-insensitive letter is its lowercase.
                c = low if icase or c == low else c
            elif low != up and len(low) == len(up) == 1:
                return f"[{_class_char(ord(low))}{_class_char(ord(up))}]"
        return "\\" + c if c in _LITERAL_ESCAPE else c

    def char_class(self, items: list[tuple[Any, Any]], icase: bool) -> str:
        negate = bool(items) and items[0][0] is sre.NEGATE
        if negate:
            items = items[1:]
        parts: list[str] = []
        for op, av in items:
            if op is sre.LITERAL:
                parts.extend(_class_char(ord(v)) for v in self._cases(chr(av), icase))
            elif op is sre.RANGE:
                lo, hi = av
                parts.append(f"{_class_char(lo)}-{_class_char(hi)}")
                if icase:
                    for a, b in ((ord("a"), ord("z")), (ord("A"), ord("Z"))):
                        x, y = max(lo, a), min(hi, b)
                        if x <= y:
                            shift = 32 if a == ord("A") else -32
                            parts.append(f"{_class_char(x + shift)}-{_class_char(y + shift)}")
            elif op is sre.CATEGORY:
                name, negated = _CATEGORIES[av]
                if negated:
                    if len(items) > 1 or negate:
                        raise ValueError(f"a negated class shorthand inside a set ({items!r})")
                    return "[^" + self._ranges(name) + "]"
                parts.append(self._ranges(name))
            else:
                raise ValueError(f"{op} inside a character set")
        return "[" + ("^" if negate else "") + "".join(parts) + "]"

    def _cases(self, c: str, icase: bool) -> list[str]:
        if self.fold:
            return [c.lower()] if icase else [c]
        if icase and c.lower() != c.upper():
            return [c.lower(), c.upper()]
        return [c]

    @staticmethod
    def _ranges(name: str) -> str:
        return "".join(
            _class_char(lo) if lo == hi else f"{_class_char(lo)}-{_class_char(hi)}" for lo, hi in _CLASS_RANGES[name]
        )

    def item(self, op: Any, av: Any, icase: bool, dotall: bool) -> str:
        if op is sre.LITERAL:
            return self.literal(av, icase)
        if op is sre.NOT_LITERAL:
            return self.char_class([(sre.NEGATE, None), (sre.LITERAL, av)], icase)
        if op is sre.ANY:
            return "." if dotall else "[^\n]"
        if op is sre.IN:
            return self.char_class(list(av), icase)
        if op in (sre.MAX_REPEAT, sre.MIN_REPEAT, getattr(sre, "POSSESSIVE_REPEAT", None)):
            lo, hi, sub = av
            body = self.seq(sub, icase, dotall)
            if len(sub) != 1 or sub[0][0] in (sre.MAX_REPEAT, sre.MIN_REPEAT):
                body = f"({body})"
            if (lo, hi) == (0, _MAXREPEAT):
                return body + "*"
            if (lo, hi) == (1, _MAXREPEAT):
                return body + "+"
            if (lo, hi) == (0, 1):
                return body + "?"
            return body + (f"{{{lo},}}" if hi == _MAXREPEAT else f"{{{lo},{hi}}}" if lo != hi else f"{{{lo}}}")
        if op is sre.SUBPATTERN:
            _group, add, remove, sub = av
            sub_icase = (icase or bool(add & sre.SRE_FLAG_IGNORECASE)) and not remove & sre.SRE_FLAG_IGNORECASE
            sub_dotall = (dotall or bool(add & sre.SRE_FLAG_DOTALL)) and not remove & sre.SRE_FLAG_DOTALL
            return "(" + self.seq(sub, sub_icase, sub_dotall) + ")"
        if op is sre.BRANCH:
            return "(" + "|".join(self.seq(alt, icase, dotall) or "()" for alt in av[1]) + ")"
        if op in _CONTEXT:
            raise ValueError("an anchor or look-around inside a repetition")
        raise ValueError({sre.GROUPREF: "a back reference"}.get(op, str(op)))


_STARTS = (sre.AT_BEGINNING, sre.AT_BEGINNING_STRING)
_ENDS = (sre.AT_END, sre.AT_END_STRING)
_CONTEXT = (sre.AT, sre.ASSERT, sre.ASSERT_NOT)
_ANY = ".*"


def _holds(items: Any, test: Callable[[int, Any, Any], bool]) -> bool:
    """Whether test(position, op, argument) holds for an item, in groups and alternatives too."""
    for i, (op, av) in enumerate(items):
        if test(i, op, av):
            return True
        if op is sre.SUBPATTERN and _holds(av[3], test):
            return True
        if op is sre.BRANCH and any(_holds(alt, test) for alt in av[1]):
            return True
    return False


def _needs_context(items: Any) -> bool:
    """Whether items hold an anchor or a look-around: a test of the text around a position."""
    return _holds(items, lambda _i, op, _av: op in _CONTEXT)


def _looks_behind(items: Any) -> bool:
    """Whether items test what precedes them: a start anchor, a look-behind, or a leading \\b."""
    return _holds(items, lambda i, op, av: (
        (op is sre.AT and (av in _STARTS or (i == 0 and av in (sre.AT_BOUNDARY, sre.AT_NON_BOUNDARY))))
        or (op in (sre.ASSERT, sre.ASSERT_NOT) and av[0] < 0)))


def _word_kind(item: tuple[Any, Any] | None, last: bool = False) -> bool | None:
    """Whether the first (`last`: the last) character item matches, when it matches one, is a word
    character (ASCII \\w): True always, False never, None not known."""
    if item is None:
        return None
    op, av = item
    if op in (sre.SUBPATTERN, sre.BRANCH):
        alts = [av[3]] if op is sre.SUBPATTERN else av[1]
        kinds = {_edge_kind(list(alt), last) for alt in alts}
        return kinds.pop() if len(kinds) == 1 else None
    if op in (sre.MAX_REPEAT, sre.MIN_REPEAT):  # when it matches at all (_edge_kind: when it may not)
        return _edge_kind(list(av[2]), last)
    if op is sre.LITERAL:
        return chr(av).isascii() and (chr(av).isalnum() or av == ord("_"))
    if op is sre.IN and av and av[0][0] is not sre.NEGATE:
        kinds = set()
        for sub_op, sub_av in av:
            if sub_op is sre.LITERAL:
                kinds.add(_word_kind((sub_op, sub_av)))
            elif sub_op is sre.CATEGORY and sub_av in (sre.CATEGORY_WORD, sre.CATEGORY_DIGIT):
                kinds.add(True)
            elif sub_op is sre.CATEGORY and sub_av is sre.CATEGORY_SPACE:
                kinds.add(False)
            else:
                return None
        return kinds.pop() if len(kinds) == 1 else None
    return None


def _edge_kind(items: list[tuple[Any, Any]], last: bool = False) -> bool | None:
    """`_word_kind` of the first (`last`: the last) character of a sequence, skipping optional items
    that agree with what follows them."""
    seen: set[bool | None] = set()
    for item in reversed(items) if last else items:
        kind = _word_kind(item, last)
        seen.add(kind)
        optional = item[0] in (sre.MAX_REPEAT, sre.MIN_REPEAT) and item[1][0] == 0
        if kind is None or not optional:
            return kind if len(seen) == 1 else None
    return None


def _and(a: str, b: str) -> str:
    """The intersection of two languages (`.*` is everything: the other one)."""
    if b == _ANY:
        return f"({a})"
    if a == _ANY:
        return f"({b})"
    return f"(({a})&({b}))"


class _Sequence:
    """Lucene has no anchors and no look-arounds, but has intersection (`&`) and complement (`~`).

    The whole term is read left to right: `prefix` is the language of what precedes the current
    position (`.*` at first: Sigma's `re` searches). A test of what precedes (`^`, look-behind) narrows
    the prefix by intersection; a test of what follows (`$`, look-ahead) intersects the rest of the
    term; `\\b` is the union of its two cases. A group whose alternatives test their context is
    distributed over the sequence, one alternative at a time.
    """

    def __init__(self, tr: _Translator, icase: bool, dotall: bool, multiline: bool) -> None:
        self.tr, self.icase, self.dotall, self.multiline = tr, icase, dotall, multiline
        self.word = self.tr.char_class([(sre.CATEGORY, sre.CATEGORY_WORD)], False)
        self.nonword = self.tr.char_class([(sre.CATEGORY, sre.CATEGORY_NOT_WORD)], False)

    def term(self, items: list[tuple[Any, Any]], prefix: str) -> str:
        consumed: list[tuple[Any, Any]] = []  # the items that end the prefix
        for i, (op, av) in enumerate(items):
            rest = items[i + 1:]
            if op is sre.AT:
                return self.anchor(av, rest, prefix, consumed)
            if op in (sre.ASSERT, sre.ASSERT_NOT):
                direction, sub = av
                body = self.tr.seq(sub, self.icase, self.dotall)
                if direction < 0:  # look-behind: the text before ends with (or without) it
                    cond = f"{_ANY}{body}" if op is sre.ASSERT else f"~({_ANY}{body})"
                    prefix = _and(prefix, cond)
                    continue
                cond = f"{body}{_ANY}" if op is sre.ASSERT else f"~({body}{_ANY})"
                return f"({prefix})" + _and(cond, self.term(rest, ""))
            if op in (sre.SUBPATTERN, sre.BRANCH) and _needs_context([(op, av)]):
                if op is sre.SUBPATTERN:
                    if av[1] or av[2]:
                        raise ValueError("inline flags on a group that tests its context")
                    alts = [list(av[3])]
                else:
                    alts = [list(alt) for alt in av[1]]
                if not any(_looks_behind(alt) for alt in alts):  # the prefix is the same for all
                    return f"({prefix})(" + "|".join(self.term(alt + rest, "") or "()" for alt in alts) + ")"
                return "(" + "|".join(self.term(alt + rest, prefix) for alt in alts) + ")"
            prefix += self.tr.item(op, av, self.icase, self.dotall)  # prefixes are parenthesized
            consumed.append((op, av))
        return prefix + _ANY

    def anchor(self, at: Any, rest: list[tuple[Any, Any]], prefix: str, consumed: list[tuple[Any, Any]]) -> str:
        if at in _STARTS:
            before = "(()|.*\n)" if self.multiline and at is sre.AT_BEGINNING else "()"
            return self.term(rest, before if prefix == _ANY else _and(prefix, before))
        if at in _ENDS:
            after = "()|\n.*" if self.multiline and at is sre.AT_END else "()|\n" if at is sre.AT_END else "()"
            return f"({prefix})" + _and(after, self.term(rest, ""))
        if at in (sre.AT_BOUNDARY, sre.AT_NON_BOUNDARY):
            return self.boundary(at is sre.AT_BOUNDARY, rest, prefix, consumed)
        raise ValueError(f"the anchor {at}")


    def boundary(self, word_boundary: bool, rest: list[tuple[Any, Any]], prefix: str,
                 consumed: list[tuple[Any, Any]]) -> str:
        """`\\b` (or `\\B`): the cases of the characters on either side (word, other, or none: the
        term's edge), of which those the pattern already decides are dropped or not tested."""
        w, n, r = self.word, self.nonword, self.term(rest, "")
        before = {True: f"{_ANY}{w}", False: f"{_ANY}{n}", None: "()"}  # what the prefix ends with
        after = {True: f"{w}{_ANY}", False: f"{n}{_ANY}", None: "()"}  # what the rest starts with
        # \b: a word character on one side only; \B: on both or neither (in Python, never where
        # the term is empty).
        sides = [(True, False), (True, None), (False, True), (None, True)] if word_boundary else \
            [(True, True), (False, False), (False, None), (None, False)]
        known_before, known_after = _edge_kind(consumed, last=True), _edge_kind(rest)
        out = []
        for b, a in sides:
            # A side the pattern decides is not tested, and the cases it rules out are dropped.
            if known_before is not None and b is not known_before:
                continue
            if known_after is not None and a is not known_after:
                continue
            out.append((before[b] if known_before is None else None, after[a] if known_after is None else None))
        if not out:
            return "#"  # Lucene: the empty language
        # Cases that share a side are written once, with the other side's alternatives joined:
        # repeated copies of the rest make an automaton Lucene may refuse to determinize.
        by_next: dict[str | None, list[str | None]] = {}
        for pre, nxt in out:
            by_next.setdefault(nxt, []).append(pre)
        by_head: dict[str, list[str]] = {}
        for nxt, pres in by_next.items():
            tests = [p for p in pres if p is not None]
            head = prefix if not tests else (f"({'|'.join(tests)})" if prefix == _ANY
                                             else _and(prefix, "|".join(tests)))
            by_head.setdefault(head, []).append(r if nxt is None else _and(nxt, r))
        return "(" + "|".join(f"({head})({'|'.join(nexts)})" for head, nexts in by_head.items()) + ")"

def lucene_regex(pattern: str, flags: int = 0, fold: bool = False) -> str:
    """A Lucene regexp matching a whole term exactly when Python's `re.search(pattern)` matches it.

    `fold`: the term is the lowercased text (a `.ci` sub-field), so case-insensitive letters are
    written lowercase. Raises ValueError naming a construct Lucene cannot express.
    """
    parsed = sre_parse.parse(pattern, flags)
    gflags = parsed.state.flags
    icase, dotall, multiline = (bool(gflags & f) for f in
                                (sre.SRE_FLAG_IGNORECASE, sre.SRE_FLAG_DOTALL, sre.SRE_FLAG_MULTILINE))
    return _Sequence(_Translator(fold), icase, dotall, multiline).term(list(parsed), _ANY)


# --------------------------------------------------------------------------- the backend


class SocLuceneBackend(LuceneBackend):
    """pySigma's Lucene backend, for the platform's index mapping (see the module doc)."""

    # `|cased`: the field itself, a keyword, compares case-sensitively (wildcards in the value).
    case_sensitive_match_expression = "{field}:{value}"

    def convert_condition(self, cond: ConditionItem, state: ConversionState) -> Any:
        for arg in getattr(cond, "args", None) or [cond]:
            if isinstance(arg, ConditionFieldEqualsValueExpression):
                _fold(arg)
        return super().convert_condition(cond, state)

    def decide_convert_condition_as_in_expression(self, cond: Any, state: ConversionState) -> bool:
        # Values on an address field are converted one by one (convert_condition_field_eq_val_str).
        fields = {getattr(a, "field", None) for a in getattr(cond, "args", [])}
        return not any(_is_ip(f) for f in fields) and super().decide_convert_condition_as_in_expression(cond, state)

    def convert_condition_field_eq_val_str(self, cond: ConditionFieldEqualsValueExpression,
                                           state: ConversionState) -> Any:
        if not _is_ip(cond.field):
            return super().convert_condition_field_eq_val_str(cond, state)
        # An `ip` field takes addresses and CIDR blocks, not wildcards: `10.1.*` is the block
        # 10.1.0.0/16, a value no address can be written as matches nothing (as in the stream).
        field, text = self.escape_and_quote_field(cond.field), str(cond.value)
        if not cond.value.contains_special():
            try:
                ipaddress.ip_address(text)
            except ValueError:
                return f"(_exists_:{field} AND NOT _exists_:{field})"
            return f"{field}:{text.replace(':', chr(92) + ':')}"
        m = re.fullmatch(r"((?:\d{1,3}\.){1,3})\*", text)
        if m:
            octets = m.group(1).rstrip(".").split(".")
            if all(int(o) <= 255 for o in octets):
                net = ".".join(octets + ["0"] * (4 - len(octets)))
                return f"{field}:{net}\\/{8 * len(octets)}"
        if re.search(r"[^0-9a-fA-F.:*?]", text):
            return f"(_exists_:{field} AND NOT _exists_:{field})"
        raise SigmaFeatureNotSupportedByBackendError(
            f"the wildcard value {text!r} on the address field {cond.field} (only whole octets: 10.1.*)")

    def convert_condition_field_eq_val_str_case_sensitive(self, cond: ConditionFieldEqualsValueExpression,
                                                         state: ConversionState) -> Any:
        if not _indexed_as_is(cond.field):
            raise SigmaFeatureNotSupportedByBackendError(
                f"a case-sensitive (|cased) value on {cond.field}, which is indexed lowercased only")
        return super().convert_condition_field_eq_val_str_case_sensitive(cond, state)

    def convert_condition_field_eq_val_re(self, cond: ConditionFieldEqualsValueExpression,
                                          state: ConversionState) -> Any:
        value: SigmaRegularExpression = cond.value
        pattern, flags, name = str(value.regexp), regex_flags(value), cond.field
        folded = folded_field(name)
        try:
            # The lowercased sub-field answers a pattern that ignores case (and is the smaller
            # automaton); the field itself, where its value is indexed, any other.
            if folded is not None and (case_blind(pattern, flags) or not _indexed_as_is(name)):
                if not case_blind(pattern, flags):
                    raise SigmaFeatureNotSupportedByBackendError(
                        f"a case-sensitive regular expression on {name}, which is indexed lowercased only")
                target, regex = folded, lucene_regex(pattern, flags, fold=True)
            elif _indexed_as_is(name):
                target, regex = name, lucene_regex(pattern, flags)
            else:
                raise SigmaFeatureNotSupportedByBackendError(f"a regular expression on the non-string field {name}")
        except (ValueError, re.error) as exc:
            raise SigmaFeatureNotSupportedByBackendError(
                f"regular expression {pattern!r} has no Lucene equivalent: {exc}") from None
        # `/` is escaped by lucene_regex
        return self.re_expression.format(field=self.escape_and_quote_field(target), regex=regex)


def case_blind(pattern: str, flags: int = 0) -> bool:
    """True when searching the lowercased text gives the same answer as searching the text.

    So when the whole pattern ignores case, or when it names no letter at all (only digits,
    punctuation and the shorthands \\d \\s \\w, which hold both cases alike).
    """
    parsed = sre_parse.parse(pattern, flags)
    if parsed.state.flags & sre.SRE_FLAG_IGNORECASE:
        return True

    def letters(items: Any) -> bool:
        for op, av in items:
            if op in (sre.LITERAL, sre.NOT_LITERAL) and chr(av).lower() != chr(av).upper():
                return True
            if op is sre.RANGE and any(chr(c).lower() != chr(c).upper() for c in range(av[0], av[1] + 1)):
                return True
            if op is sre.SUBPATTERN and not av[1] & sre.SRE_FLAG_IGNORECASE and letters(av[3]):
                return True
            if op is sre.IN and letters(av):
                return True
            if op is sre.BRANCH and any(letters(alt) for alt in av[1]):
                return True
            if op in (sre.MAX_REPEAT, sre.MIN_REPEAT) and letters(av[2]):
                return True
        return False

    return not letters(parsed)


def _fold(cond: ConditionFieldEqualsValueExpression) -> None:
    """Point a case-insensitive string comparison at the field's lowercased sub-field (in place)."""
    value = cond.value
    if cond.field is None or cond.field.endswith(f".{CASE_FOLDED}"):
        return
    values = value.values if isinstance(value, SigmaExpansion) else [value]
    if not values or not all(isinstance(v, SigmaString) and not isinstance(v, SigmaCasedString) for v in values):
        return
    target = folded_field(cond.field)
    if target is not None:
        cond.field = target
        lowered = [v.map_str_parts(str.lower) for v in values]
        cond.value = SigmaExpansion(lowered) if isinstance(value, SigmaExpansion) else lowered[0]
