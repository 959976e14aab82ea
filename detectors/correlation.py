"""Sliding event-time windows for Sigma event_count correlations.

The state of one group (a correlation rule and its group-by values) is a small JSON-able dict,
so it can live in a changelogged Faust table and survive a worker restart:

    {"w": [[ts_ms, event_id], ...],       # recent matches, sorted by event time
     "a": {"anchor", "first", "last", "count", "rev", "ids"} | None}   # the open alert

A window is any span of `timespan` that holds the new match; it is not aligned to the clock.
Matches may arrive out of order by up to `lateness` (older ones are counted as late and
ignored). While matches keep coming within `timespan` of the open alert's last one, they
extend that alert: the same id with a larger count and a new revision, so the index keeps one
document per alert (the index stage writes only the newest revision of a batch).
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass
from typing import Any

State = dict[str, Any]


@dataclass(slots=True)
class WindowAlert:
    anchor: str  # the id of the first event of the window: part of the alert id
    first_ms: int
    last_ms: int
    count: int
    revision: int
    event_ids: list[str]


def observe(
    state: State | None,
    ts_ms: int,
    event_id: str,
    timespan_ms: int,
    threshold: int,
    lateness_ms: int,
) -> tuple[State, WindowAlert | None, bool]:
    """Add one match; returns (new state, an alert to emit or None, whether the match was late)."""
    st: State = state if state is not None else {"w": [], "a": None}
    window: list[list[Any]] = st["w"]
    newest = window[-1][0] if window else ts_ms
    if ts_ms < newest - timespan_ms - lateness_ms:
        return st, None, True
    if any(eid == event_id for _, eid in window):
        return st, None, False  # a re-delivered match changes nothing
    bisect.insort(window, [ts_ms, event_id])
    newest = window[-1][0]
    horizon = newest - timespan_ms - lateness_ms
    cut = bisect.bisect_left(window, [horizon, ""])
    if cut:
        del window[:cut]
    cap = max(2 * threshold, 64)
    if len(window) > cap:
        del window[: len(window) - cap]

    alert = st.get("a")
    if alert is not None and alert["first"] <= ts_ms <= alert["last"] + timespan_ms:
        alert["count"] += 1
        alert["last"] = max(alert["last"], ts_ms)
        alert.setdefault("ids", []).append(event_id)
        del alert["ids"][:-100]
        alert["rev"] += 1
        return st, _as_alert(alert), False

    # Only matches after the previous alert's last one may form a new window.
    floor = alert["last"] if alert is not None else None
    candidates = [e for e in window if floor is None or e[0] > floor]
    times = [e[0] for e in candidates]
    i = bisect.bisect_left(times, ts_ms - timespan_ms)
    # Slide the window start over matches up to ts: the first span holding `threshold` wins.
    for start in range(i, len(candidates)):
        if times[start] > ts_ms:
            break
        end = bisect.bisect_right(times, times[start] + timespan_ms)
        if end - start >= threshold and times[end - 1] >= ts_ms:
            members = candidates[start:end]
            st["a"] = {
                "anchor": members[0][1],
                "first": members[0][0],
                "last": members[-1][0],
                "count": len(members),
                "rev": 1,
                "ids": [eid for _, eid in members][-100:],
            }
            return st, _as_alert(st["a"]), False
    if alert is not None and newest > alert["last"] + timespan_ms + lateness_ms:
        # Nothing can extend it any more (an older match would be late): forget it.
        st["a"] = None
    return st, None, False


def _as_alert(a: dict[str, Any]) -> WindowAlert:
    return WindowAlert(
        anchor=a["anchor"],
        first_ms=a["first"],
        last_ms=a["last"],
        count=a["count"],
        revision=a["rev"],
        event_ids=list(a.get("ids", [])),
    )
