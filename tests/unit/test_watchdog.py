"""The worker's watchdog: start afresh only when work waits and nothing moves for too long."""

from __future__ import annotations

from soc.stream.watchdog import Watchdog


def feed(dog: Watchdog, ticks: list[tuple[float, float, int | None]]) -> list[str | None]:
    return [dog.observe(now, progress, backlog) for now, progress, backlog in ticks]


def test_a_worker_stuck_with_work_waiting_is_started_afresh_after_the_limit() -> None:
    dog = Watchdog(limit_s=60)
    out = feed(dog, [(0, 10, 500), (10, 10, 500), (40, 10, 800), (70, 10, 900), (71, 10, 900)])
    assert out[:3] == [None, None, None]
    assert out[3] is None  # 60 s exactly is not past the limit
    assert out[4] is not None and "900 records" in out[4]


def test_progress_or_an_empty_backlog_resets_the_clock() -> None:
    dog = Watchdog(limit_s=60)
    # Slow but moving (a worker retrying Elasticsearch counts its retries): never restarted.
    assert feed(dog, [(t, t // 30, 500) for t in range(0, 600, 10)]) == [None] * 60
    dog = Watchdog(limit_s=60)
    # Idle with nothing to do (no traffic): never restarted.
    assert feed(dog, [(t, 5, 0) for t in range(0, 600, 10)]) == [None] * 60
    dog = Watchdog(limit_s=60)
    # Kafka unreachable: the backlog is unknown, which is no reason to restart.
    assert feed(dog, [(t, 5, None) for t in range(0, 600, 10)]) == [None] * 60


def test_the_clock_starts_again_after_progress() -> None:
    dog = Watchdog(limit_s=60)
    out = feed(dog, [(0, 1, 9), (50, 1, 9), (55, 2, 9), (100, 2, 9), (116, 2, 9)])
    assert out == [None, None, None, None, None]  # 61 s since 55, but the clock started at 100
    assert dog.observe(161, 2, 9) is not None


def test_a_partition_that_can_no_longer_commit_starts_the_worker_afresh() -> None:
    """A record skipped after a rebalance: acks from 358 on, the commit stays at 351."""
    dog = Watchdog(limit_s=60)
    hole = {"soc.raw[0]": (351, 358)}
    assert [dog.observe_holes(t, hole) for t in (0, 30, 60)] == [None, None, None]
    reason = dog.observe_holes(61, hole)
    assert reason is not None and "soc.raw[0]" in reason and "351" in reason


def test_a_hole_that_closes_or_a_commit_that_moves_starts_the_clock_again() -> None:
    dog = Watchdog(limit_s=60)
    # Acks arriving out of order for a moment (the hole closes before the limit): never.
    ticks = [{"soc.raw[0]": (351, 353)}, {}, {"soc.raw[0]": (400, 402)}, {"soc.raw[0]": (450, 452)}]
    assert [dog.observe_holes(30 * k, h) for k, h in enumerate(ticks * 5)] == [None] * 20
    # The commit moves on between ticks (a new hole each time): never.
    assert [dog.observe_holes(100 + 30 * k, {"soc.raw[1]": (10 * k, 10 * k + 5)}) for k in range(10)] == [None] * 10
    # One partition's hole persists while another's comes and goes: that one counts.
    dog = Watchdog(limit_s=60)
    out = [dog.observe_holes(t, {"soc.raw[2]": (7, 9), **({"soc.raw[3]": (1, 3)} if t % 20 else {})})
           for t in range(0, 80, 10)]
    assert out[:7] == [None] * 7 and out[7] is not None and "soc.raw[2]" in out[7]
