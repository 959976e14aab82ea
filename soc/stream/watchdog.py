"""A worker that has work waiting but makes no progress starts itself afresh.

faust-streaming can hang after a rebalance (seen here under load when another worker of the
group was SIGKILLed: the survivor's rejoin never completed, or its table recovery never read a
changelog record; faust-streaming#21 and #74 describe the like). Nothing is lost (offsets stay
uncommitted) but nothing is processed either, for ever, while the event loop itself runs on.

So the worker watches itself: when its group has records waiting (end offsets past the
committed ones) and none of its own counters has moved (received, sent, retried: a worker that
waits for Elasticsearch retries, and counts it) for `limit_s`, it re-executes itself: the same
command, a fresh process that rejoins the group and recovers its tables from the changelogs,
as systemd's Restart= would after a crash, without an operator.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Watchdog:
    limit_s: float
    _progress: float | None = None
    _since: float | None = None  # since when work waits and nothing moves
    notes: list[str] = field(default_factory=list)

    def observe(self, now: float, progress: float, backlog: int | None) -> str | None:
        """Feed the sum of this worker's counters and the group's backlog (None: unknown, e.g.
        Kafka unreachable); the reason to start afresh, or None."""
        moved = progress != self._progress
        self._progress = progress
        if moved or not backlog:  # progress, no work, or no way to know: all is well
            self._since = None
            return None
        if self._since is None:
            self._since = now
            return None
        if now - self._since > self.limit_s:
            return (f"{backlog} records wait in the group's topics and this worker has made no progress "
                    f"for {now - self._since:.0f} s (limit {self.limit_s:.0f} s)")
        return None
