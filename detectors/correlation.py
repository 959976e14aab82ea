"""Sliding event-time windows for Sigma correlation rules (all the types of Sigma v2).

The state of one group (a correlation rule and its group-by values) is a small JSON-able dict,
so it can live in a changelogged Faust table and survive a worker restart:

    {"w": [[ts_ms, event_id, rule, value], ...],   # recent matches, sorted by event time
     "a": {"anchor", "first", "last", "count", "rev", "ids", "floor"} | None}   # the open alert

`rule` is the position of the matched rule among the correlation's rules (temporal types) and
`value` the event's value of the condition's field (value_* types), else None.

A window is any span of `timespan` that holds the new match; it is not aligned to the clock.
Matches may arrive out of order by up to `lateness` (older ones are counted as late and
ignored). After each new match, every window of `timespan` holding it is tested; the first
whose matches satisfy the condition opens an alert. While matches keep coming within
`timespan` of the open alert's last one, they extend that alert: the same id with a larger
count and a new revision, so the index keeps one document per alert. A match that arrives out
of order from within `timespan` before the alert's first extends it too (its first moves back),
unless it is not after the previous alert's last (`floor`): that one was that alert's to count.

Most conditions are decided when a match arrives. That is exact for the conditions that only
become true as matches accumulate (event_count, value_count and value_sum with gt/gte; temporal;
temporal_ordered); value_avg / value_percentile / value_median with any operator hold for a
window that ends at the new match.

A count that must stay low or equal a value (event_count, value_count, value_sum, temporal with
lt/lte/eq/neq) can only be decided when its window closes (`Condition.at_close`). Such a
window opens at the first match of the group not yet in a closed window and spans `timespan`;
it closes when event time (the group's newest match, or the worker's watermark for a quiet
group) passes its end by the lateness bound (`close`). Its matches then leave the state, and
the next match opens the next window. A group exists only once it has a match, so
"fewer than 5" means 1 to 4 in the window; a late match for a closed window is late.
"""

from __future__ import annotations

import bisect
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

State = dict[str, Any]
Entry = list[Any]  # [ts_ms, event_id, rule index, value]

# Per group, at most this many matches are kept (the oldest go first): bounds memory whatever
# the rule. A count threshold above it can never be reached (refused at load).
MAX_WINDOW = 5000
CLOSE_TYPES = ("event_count", "value_count", "value_sum", "temporal")
OPS: dict[str, Callable[[float, float], bool]] = {
    "gt": lambda a, b: a > b,
    "gte": lambda a, b: a >= b,
    "lt": lambda a, b: a < b,
    "lte": lambda a, b: a <= b,
    "eq": lambda a, b: a == b,
    "neq": lambda a, b: a != b,
}


@dataclass(frozen=True, slots=True)
class Condition:
    """What a window must hold: the correlation type, its operator and threshold."""

    type: str  # event_count, value_count, temporal, temporal_ordered, value_sum, value_avg, ...
    op: str = "gte"
    threshold: float = 1
    rules: int = 1  # how many rules the correlation refers to
    percentile: int = 50
    # temporal with an extended condition ("a and (b or not c)"): ("and"|"or", (...)), ("not", x)
    # or ("rule", index)
    expr: tuple[Any, ...] | None = None

    @property
    def monotone(self) -> bool:
        """Whether more matches can only make the condition truer (counts, sums, temporal)."""
        if (self.expr is not None and _has_not(self.expr)) or self.at_close:
            return False
        return self.type in ("event_count", "value_count", "temporal", "temporal_ordered", "value_sum")

    @property
    def at_close(self) -> bool:
        """Whether the condition is decided when its window closes (a count kept low or exact)."""
        return self.op in ("lt", "lte", "eq", "neq") and self.type in CLOSE_TYPES and self.expr is None

    @property
    def cap(self) -> int:
        """The matches a group keeps: enough for every window the condition may need."""
        if self.at_close:
            return MAX_WINDOW
        if self.type in ("event_count", "value_count"):
            return int(min(MAX_WINDOW, max(2 * self.threshold, 64)))
        if self.type in ("temporal", "temporal_ordered"):
            return min(MAX_WINDOW, 64 * self.rules)
        return MAX_WINDOW

    def holds(self, members: Sequence[Entry]) -> bool:
        cmp = OPS[self.op]
        t = self.type
        if t == "event_count":
            return cmp(len(members), self.threshold)
        if t == "value_count":
            return cmp(len({_key(e[3]) for e in members if e[3] is not None}), self.threshold)
        if t == "temporal":
            if self.expr is not None:
                return _truth(self.expr, {e[2] for e in members})
            return cmp(len({e[2] for e in members}), self.threshold)
        if t == "temporal_ordered":
            return _in_order(members, self.rules)
        numbers = [n for e in members if (n := _number(e[3])) is not None]
        if not numbers:
            return False
        if t == "value_sum":
            return cmp(sum(numbers), self.threshold)
        if t == "value_avg":
            return cmp(statistics.fmean(numbers), self.threshold)
        if t == "value_median":
            return cmp(statistics.median(numbers), self.threshold)
        if t == "value_percentile":
            return cmp(_percentile(numbers, self.percentile), self.threshold)
        raise ValueError(f"unknown correlation type {t!r}")


@dataclass(slots=True)
class WindowAlert:
    anchor: str  # the id of the first event of the window: part of the alert id
    first_ms: int
    last_ms: int
    count: int
    revision: int
    event_ids: list[str]


def _key(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None


def _percentile(numbers: list[float], p: int) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(numbers)
    rank = max(1, -(-p * len(ordered) // 100))
    return ordered[min(rank, len(ordered)) - 1]


def _truth(expr: tuple[Any, ...], present: set[int]) -> bool:
    """An extended temporal condition over the rules that matched in the window."""
    op, arg = expr
    if op == "rule":
        return arg in present
    if op == "not":
        return not _truth(arg, present)
    if op == "and":
        return all(_truth(a, present) for a in arg)
    return any(_truth(a, present) for a in arg)


def _has_not(expr: tuple[Any, ...]) -> bool:
    op, arg = expr
    if op == "rule":
        return False
    if op == "not":
        return True
    return any(_has_not(a) for a in arg)


def _in_order(members: Sequence[Entry], rules: int) -> bool:
    """Whether the rules 0, 1, ..., rules-1 matched in that order (by event time)."""
    want = 0
    for entry in members:
        if entry[2] == want:
            want += 1
            if want == rules:
                return True
    return False


def observe(
    state: State | None,
    ts_ms: int,
    event_id: str,
    timespan_ms: int,
    condition: Condition,
    lateness_ms: int,
    rule: int = 0,
    value: Any = None,
) -> tuple[State, WindowAlert | None, bool]:
    """Add one match; returns (new state, an alert to emit or None, whether the match was late)."""
    st: State = state if state is not None else {"w": [], "a": None}
    window: list[Entry] = st["w"]
    newest = window[-1][0] if window else ts_ms
    if ts_ms < newest - timespan_ms - lateness_ms or ts_ms <= st.get("c", -1):
        return st, None, True
    if any(e[1] == event_id and (len(e) < 3 or e[2] == rule) for e in window):
        return st, None, False  # a re-delivered match changes nothing
    entry: Entry = [ts_ms, event_id, rule, value]
    if condition.type == "value_count" and value is not None:
        # For distinct values only the latest match of each value matters.
        same = _key(value)
        older = [e for e in window if _key(e[3]) == same and e[0] <= ts_ms]
        if older:
            window[:] = [e for e in window if not (_key(e[3]) == same and e[0] <= ts_ms)]
    bisect.insort(window, entry, key=lambda e: (e[0], e[1]))
    if condition.at_close:
        # Kept until its window closes (`close`); the oldest go only past the memory bound.
        del window[: max(0, len(window) - condition.cap)]
        return st, None, False
    newest = window[-1][0]
    horizon = newest - timespan_ms - lateness_ms
    cut = bisect.bisect_left(window, horizon, key=lambda e: e[0])
    if cut:
        del window[:cut]
    if len(window) > condition.cap:
        del window[: len(window) - condition.cap]

    alert = st.get("a")
    if alert is not None and alert.get("floor", -1) < ts_ms \
            and alert["first"] - timespan_ms <= ts_ms <= alert["last"] + timespan_ms:
        # A match within the timespan of the open alert extends it, also one that arrives out
        # of order from before its first (not before the previous alert's last, `floor`).
        alert["count"] += 1
        alert["first"] = min(alert["first"], ts_ms)
        alert["last"] = max(alert["last"], ts_ms)
        alert["ids"] = kept_ids([*alert.get("ids", []), event_id])
        alert["rev"] += 1
        return st, _as_alert(alert), False

    # Only matches after the previous alert's last one may form a new window.
    floor = alert["last"] if alert is not None else None
    candidates = [e for e in window if floor is None or e[0] > floor]
    times = [e[0] for e in candidates]
    if not condition.monotone:
        # An average or a percentile: the window is the timespan that ends at this match.
        members = [e for e in candidates if ts_ms - timespan_ms <= e[0] <= ts_ms]
        if members and condition.holds(members):
            return st, _open(st, members), False
        return st, None, False
    i = bisect.bisect_left(times, ts_ms - timespan_ms)
    if times and times[-1] == ts_ms:
        # The newest match (in-order arrival): every window holding it is part of the one that
        # ends at it, and the condition only grows truer with more matches: test that one.
        members = candidates[i:]
        if condition.holds(members):
            return st, _open(st, members), False
        return st, None, False
    # A late match: slide the window start over matches up to ts; the first span that holds.
    for start in range(i, len(candidates)):
        if times[start] > ts_ms:
            break
        end = bisect.bisect_right(times, times[start] + timespan_ms)
        if times[end - 1] < ts_ms:
            continue
        members = candidates[start:end]
        if condition.holds(members):
            return st, _open(st, members), False
    if alert is not None and newest > alert["last"] + timespan_ms + lateness_ms:
        # Nothing can extend it any more (an older match would be late): forget it.
        st["a"] = None
    return st, None, False


def close(state: State, watermark_ms: int, timespan_ms: int, condition: Condition,
          lateness_ms: int) -> list[WindowAlert]:
    """Decide the windows of an `at_close` condition that event time has passed: an alert for each
    whose matches satisfy it. Their matches leave the state."""
    window: list[Entry] = state.get("w") or []
    out: list[WindowAlert] = []
    while window and window[0][0] + timespan_ms + lateness_ms < watermark_ms:
        end = window[0][0] + timespan_ms
        k = bisect.bisect_right(window, end, key=lambda e: e[0])
        members = window[:k]
        if condition.holds(members):
            out.append(_as_alert({"anchor": members[0][1], "first": members[0][0], "last": members[-1][0],
                                  "count": len(members), "rev": 1, "ids": kept_ids([e[1] for e in members])}))
        del window[:k]
        state["c"] = end
    return out


def closable(state: State, watermark_ms: int, timespan_ms: int, lateness_ms: int) -> bool:
    """Whether `close` would decide a window now."""
    window = state.get("w") or []
    return bool(window) and window[0][0] + timespan_ms + lateness_ms < watermark_ms


def idle(state: State, watermark_ms: int, timespan_ms: int, lateness_ms: int) -> bool:
    """Whether a group can be forgotten: every match is too old to count in a window with a
    match that is not yet late, given the newest event time seen (the watermark)."""
    window = state.get("w") or []
    newest = window[-1][0] if window else 0
    return newest < watermark_ms - 2 * timespan_ms - lateness_ms


def _open(st: State, members: list[Entry]) -> WindowAlert:
    previous = st.get("a")
    st["a"] = {
        "floor": previous["last"] if previous is not None else -1,
        "anchor": members[0][1],
        "first": members[0][0],
        "last": members[-1][0],
        "count": len(members),
        "rev": 1,
        "ids": kept_ids([e[1] for e in members]),
    }
    return _as_alert(st["a"])


KEPT_IDS = 100  # event ids an alert lists; its count says how many events it has


def kept_ids(ids: list[str]) -> list[str]:
    """The event ids an alert lists, in the order they came: all of them up to KEPT_IDS, else the
    first half and the newest half, so an analyst sees how it began and where it is now."""
    if len(ids) <= KEPT_IDS:
        return ids
    half = KEPT_IDS // 2
    return ids[:half] + ids[-(KEPT_IDS - half):]


def _as_alert(a: dict[str, Any]) -> WindowAlert:
    return WindowAlert(
        anchor=a["anchor"],
        first_ms=a["first"],
        last_ms=a["last"],
        count=a["count"],
        revision=a["rev"],
        event_ids=list(a.get("ids", [])),
    )
