"""What faust-streaming's consumer may commit, made exact for our topics.

faust keeps, per partition, the offsets its streams have acked (`Consumer._acked`) and the
offset committed last (`_committed_offset`: Kafka's meaning, the next offset to read), and
commits the run of acked offsets that starts there. Two of its rules lose records here:

- a jump in the offsets it delivers is taken for a gap of a compacted or transactional topic
  and counted as done (`_add_gap`); our topics are neither, so a jump is a record it fetched
  and dropped (after a rebalance, the stale deliveries it abandons);
- its head check lets acks start one above the committed offset (`min(acked) - committed > 1`),
  so when the first record after a rebalance is a stale delivery of `committed + 1`, the record
  at `committed` is passed over, and dropped when it is fetched again ("below the read
  offset"), with nothing logged. Seen in the worker-SIGKILL drill: one record, 10 lines.

`install()` replaces both: a jump is logged and left unacked, and nothing is committed past an
offset that was not acked. Such a partition stops committing; `holes()` shows it to the
watchdog (soc/stream/watchdog.py), which starts the worker afresh to read it again.
"""

from __future__ import annotations

import logging
from typing import Any

from faust.transport.consumer import Consumer

log = logging.getLogger(__name__)

_FAUST_NEW_OFFSET = Consumer._new_offset


async def skipped(self: Any, tp: Any, offset_from: int, offset_to: int) -> None:
    """Replaces `Consumer._add_gap`: the offsets not delivered stay unacked, and say so."""
    log.warning("partition %s: offsets %d-%d were not delivered by the consumer; they stay unacknowledged "
                "and the partition will be read again from its committed offset", tp, offset_from, offset_to)


def new_offset(self: Any, tp: Any) -> int | None:
    """Replaces `Consumer._new_offset`: the offset to commit for `tp`, or None while the record at
    the committed offset (the next one to read) has not been acked, whatever was acked after it."""
    acked, committed = self._acked[tp], self._committed_offset[tp]
    if acked and committed is not None and min(acked) > committed:
        return None
    return _FAUST_NEW_OFFSET(self, tp)


def holes(consumer: Any) -> dict[str, tuple[int, int]]:
    """The partitions whose acked offsets start above the committed one: {"topic[n]": (committed,
    lowest acked)}. They cannot commit until the record at the committed offset is read again.
    None are reported while a commit is in flight: faust takes the offsets it commits out of the acked ones
    before the broker answers, and moves the committed offset after (a commit waits for the
    whole of a Kafka outage: the spool drills saw one take 49 s)."""
    if getattr(consumer, "_commit_fut", None) is not None:
        return {}
    acked = getattr(consumer, "_acked", {})
    committed = getattr(consumer, "_committed_offset", {})
    out: dict[str, tuple[int, int]] = {}
    for tp, offsets in list(acked.items()):
        done = committed.get(tp)
        if offsets and done is not None and min(offsets) > done:
            out[f"{tp.topic}[{tp.partition}]"] = (int(done), int(min(offsets)))
    return out


def install() -> None:
    """Patch faust's consumer class (once per process; idempotent)."""
    Consumer._add_gap = skipped  # type: ignore[method-assign]
    Consumer._new_offset = new_offset  # type: ignore[method-assign]
