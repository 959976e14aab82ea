"""What compiled rules call per event (detectors/compiler.py generates the calls).

Every test takes the field's value as the event holds it: a scalar, a list (any element may
match, as Elasticsearch does for arrays) or None (the field is absent). Case-insensitive tests
get the value already lowercased by `low`, once per field per rule evaluation.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from datetime import datetime
from functools import lru_cache
from re import Pattern
from typing import Any

Doc = dict[str, Any]


def getter(dotted: str) -> Callable[[Doc], Any]:
    """A reader of one dotted field: nested objects, or a flat dotted key."""
    parts = tuple(dotted.split("."))
    if len(parts) == 1:
        return lambda doc: doc.get(dotted)

    def get(doc: Doc) -> Any:
        cur: Any = doc
        for part in parts:
            if type(cur) is not dict:
                return doc.get(dotted)
            cur = cur.get(part)
            if cur is None:
                return doc.get(dotted)
        return cur

    return get


def text(v: Any) -> str | None:
    """The text a Sigma string compares with: strings as they are, numbers and booleans as
    written in JSON; objects are not text."""
    if type(v) is str:
        return v
    if v is True:
        return "true"
    if v is False:
        return "false"
    if isinstance(v, (int, float)):
        return str(v)
    return None


def low(v: Any) -> Any:
    """The value lowercased for case-insensitive tests (a list element by element)."""
    if v is None:
        return None
    if type(v) is str:
        return v.lower()
    if type(v) is list:
        return [low(x) for x in v]
    t = text(v)
    return t.lower() if t is not None else None


def cased(v: Any) -> Any:
    """The value for case-sensitive tests: text, or a list of texts."""
    if v is None:
        return None
    if type(v) is str:
        return v
    if type(v) is list:
        return [cased(x) for x in v]
    return text(v)


def _any(v: Any, test: Callable[[str], bool]) -> bool:
    if type(v) is str:
        return test(v)
    if type(v) is list:
        return any(type(x) is str and test(x) for x in v)
    return False


def eq(v: Any, target: str) -> bool:
    if type(v) is str:
        return v == target
    return type(v) is list and target in v


def inset(v: Any, targets: frozenset[str]) -> bool:
    if type(v) is str:
        return v in targets
    return type(v) is list and any(type(x) is str and x in targets for x in v)


def contains(v: Any, needles: tuple[str, ...]) -> bool:
    if type(v) is str:
        return any(n in v for n in needles)
    return _any(v, lambda s: any(n in s for n in needles))


def contains_all(v: Any, needles: tuple[str, ...]) -> bool:
    """`|contains|all`: every needle in the same value (Sigma: per value)."""
    if type(v) is str:
        return all(n in v for n in needles)
    return _any(v, lambda s: all(n in s for n in needles))


def startswith(v: Any, prefixes: tuple[str, ...]) -> bool:
    if type(v) is str:
        return v.startswith(prefixes)
    return _any(v, lambda s: s.startswith(prefixes))


def endswith(v: Any, suffixes: tuple[str, ...]) -> bool:
    if type(v) is str:
        return v.endswith(suffixes)
    return _any(v, lambda s: s.endswith(suffixes))


def glob(v: Any, rx: Pattern[str]) -> bool:
    """A Sigma string with wildcards, compiled to an anchored regular expression."""
    return _any(v, lambda s: rx.fullmatch(s) is not None)


def regex(v: Any, rx: Pattern[str]) -> bool:
    """`|re`: a search (unanchored), on the value as it is (flags decide the case)."""
    if type(v) is list:
        return any((t := text(x)) is not None and rx.search(t) is not None for x in v)
    t = text(v)
    return t is not None and rx.search(t) is not None


@lru_cache(maxsize=65536)
def _ip(s: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(s)
    except ValueError:
        return None


def cidr(v: Any, networks: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]) -> bool:
    def test(s: str) -> bool:
        ip = _ip(s)
        return ip is not None and any(ip.version == n.version and ip in n for n in networks)

    return _any(v, test)


def number(v: Any) -> float | None:
    if isinstance(v, bool) or v is None:
        return None
    if isinstance(v, (int, float)):
        return float(v)
    if type(v) is str:
        try:
            return float(v)
        except ValueError:
            return None
    return None


def num(v: Any, op: str, target: float) -> bool:
    """Numeric equality (`eq`) or comparison (lt, lte, gt, gte); numeric strings count."""
    if v is None:
        return False
    if type(v) is list:
        return any(num(x, op, target) for x in v)
    n = number(v)
    if n is None:
        return False
    if op == "eq":
        return n == target
    if op == "lt":
        return n < target
    if op == "lte":
        return n <= target
    if op == "gt":
        return n > target
    return n >= target


def boolean(v: Any, target: bool) -> bool:
    if type(v) is list:
        return any(boolean(x, target) for x in v)
    if v is True or v is False:
        return v is target
    return type(v) is str and v.lower() == ("true" if target else "false")


def fieldref(a: Any, b: Any, mode: str) -> bool:
    """`|fieldref`: the field equals (or starts/ends with) another field of the same event."""
    ta, tb = text(a), text(b)
    if ta is None or tb is None:
        return a is not None and a == b
    if mode == "startswith":
        return ta.startswith(tb)
    if mode == "endswith":
        return ta.endswith(tb)
    return ta == tb


_PARTS = {
    "MINUTE": lambda d: d.minute,
    "HOUR": lambda d: d.hour,
    "DAY": lambda d: d.day,
    "WEEK": lambda d: d.isocalendar().week,
    "MONTH": lambda d: d.month,
    "YEAR": lambda d: d.year,
}


def time_part(v: Any, part: str, target: int) -> bool:
    """`|minute`, `|hour`, ... of an ISO-8601 timestamp (in its own offset, UTC for ours)."""
    if type(v) is not str:
        return False
    try:
        when = datetime.fromisoformat(v.replace("Z", "+00:00"))
    except ValueError:
        return False
    return _PARTS[part](when) == target
