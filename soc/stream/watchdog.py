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

A second hang keeps the counters moving: after a rebalance faust-streaming can skip records it
had fetched (it seeks back to the committed offsets, still receives deliveries fetched before,
and drops the re-fetched records below them as already read), then acks the records after them.
The skipped ones are never acked, and nothing is committed past them (soc/stream/offsets.py
makes faust's consumer so), so the partition's commit stops below them for ever, while the
worker goes on with the rest: their lines are lost unless the partition is read again from its
committed offset. Seen
in the worker-SIGKILL drill (30–60 lines of one record, about one run in three). So the worker
also watches its own partitions' acks: a partition whose acked offsets start above its
committed one (a hole at the head) for `limit_s` makes it start afresh as well; the new process
reads on from the committed offset, and what was done twice has the same ids.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Watchdog:
    limit_s: float
    _progress: float | None = None
    _since: float | None = None  # since when work waits and nothing moves
    _holes: dict[str, tuple[int, float]] = field(default_factory=dict)  # partition -> (committed, since)
    notes: list[str] = field(default_factory=list)

    def observe_holes(self, now: float, holes: dict[str, tuple[int, int]]) -> str | None:
        """Feed this worker's partitions whose acks start above their committed offset:
        {partition: (committed, lowest acked)}; the reason to start afresh, or None. A hole that
        closes, or a commit that moves, starts the partition's clock again."""
        self._holes = {tp: (committed, self._holes[tp][1] if tp in self._holes and self._holes[tp][0] == committed
                            else now)
                       for tp, (committed, _) in holes.items()}
        for tp, (committed, since) in sorted(self._holes.items()):
            if now - since > self.limit_s:
                return (f"partition {tp} has acked records from offset {holes[tp][1]} but never {committed}, "
                        f"for {now - since:.0f} s (limit {self.limit_s:.0f} s): a record skipped after a "
                        "rebalance; reading the partition again from its committed offset")
        return None

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
