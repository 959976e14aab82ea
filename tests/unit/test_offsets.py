"""What the worker may commit: never past a record its agents did not process (soc/stream/offsets.py).

The bookkeeping is faust-streaming's own (`Consumer._acked`, `_committed_offset`, `_new_offset`);
these tests drive its real commit rule with the state a rebalance leaves behind.
"""

from __future__ import annotations

from collections import defaultdict
from types import SimpleNamespace

from faust.types import TP
from intervaltree import IntervalTree

from soc.stream import offsets

RAW = TP("soc.raw", 0)


def consumer(committed: int | None, acked: list[int]) -> SimpleNamespace:
    """A consumer's offset bookkeeping, as faust keeps it."""
    state = SimpleNamespace(_acked=defaultdict(list), _acked_index=defaultdict(set), _gap=defaultdict(IntervalTree),
                            _committed_offset=defaultdict(lambda: None), _commit_fut=None)
    state._committed_offset[RAW] = committed
    state._acked[RAW].extend(acked)
    state._acked_index[RAW].update(acked)
    return state


def test_acks_from_the_committed_offset_on_are_committed() -> None:
    # committed 31 = the next record to read is 31; 31..34 done -> commit 35
    assert offsets.new_offset(consumer(31, [31, 32, 33, 34]), RAW) == 35


def test_nothing_is_committed_past_the_record_at_the_committed_offset_until_it_is_acked() -> None:
    # The rebalance case: a stale delivery of 32 arrives first and is processed, 31 is dropped
    # when fetched again. faust's own rule commits 33 here, and record 31 is gone for good.
    state = consumer(31, [32])
    assert offsets.new_offset(state, RAW) is None
    assert state._acked[RAW] == [32]  # still waiting for 31, nothing forgotten
    state._acked[RAW].append(31)
    assert offsets.new_offset(state, RAW) == 33


def test_a_larger_jump_is_not_committed_either() -> None:
    assert offsets.new_offset(consumer(31, [40, 41]), RAW) is None


def test_only_the_consecutive_run_is_committed() -> None:
    assert offsets.new_offset(consumer(10, [10, 11, 13, 14]), RAW) == 12


def test_holes_names_the_partitions_waiting_for_their_committed_record() -> None:
    other = TP("soc.alerts", 2)
    state = consumer(31, [32, 33])
    state._committed_offset[other] = 7
    state._acked[other].extend([7, 8])
    assert offsets.holes(state) == {"soc.raw[0]": (31, 32)}


def test_no_hole_is_seen_while_a_commit_is_in_flight() -> None:
    # faust takes 31..34 out of the acked offsets, then waits for the broker (during a Kafka
    # outage, for the whole outage) before it moves the committed offset to 35.
    state = consumer(31, [31, 32, 33, 34, 35])
    assert offsets.new_offset(state, RAW) == 36
    state._acked[RAW].append(36)
    state._commit_fut = object()
    assert offsets.holes(state) == {}
    state._commit_fut, state._committed_offset[RAW] = None, 36
    assert offsets.holes(state) == {}


def test_a_jump_in_deliveries_is_not_counted_as_done() -> None:
    import asyncio

    # After the seek to 31 a stale delivery of 40 arrives: faust would count 32..39 as a gap
    # of a compacted topic, done, and commit 41.
    state = consumer(31, [40])
    asyncio.run(offsets.skipped(state, RAW, 32, 39))
    assert not state._gap[RAW] and offsets.new_offset(state, RAW) is None
