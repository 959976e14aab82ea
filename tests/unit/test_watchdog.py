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
