"""Drill: the stream worker SIGKILLed mid-stream under steady TCP, file and HTTP load.

The supervisor restarts it after RESTART_SEC (systemd's Restart=always); it re-processes what it
had not committed. Afterwards every line is indexed or dead-lettered, no event twice, and the
brute force planted before, during and after the crash is one alert with the exact count.
(tests/integration/test_worker_crash.py is the same crash on a pre-loaded topic, without load.)
"""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from .judgments import (  # noqa: F401 - pytest runs them against this module's drill
    test_every_line_is_indexed_or_dead_lettered,
    test_no_event_is_indexed_twice,
    test_nothing_else_is_dead_lettered,
    test_the_brute_force_raises_one_alert_with_the_exact_count,
)
from .conftest import FAILURES, Drill

pytestmark = [pytest.mark.faults, pytest.mark.timeout(1800)]

PRE_S = 20
POST_S = 20

@pytest.fixture(scope="module")
def drill(make_drill: Callable[..., Drill]) -> Drill:
    d = make_drill()
    d.start()
    d.wait_flowing()
    d.plant(range(0, 4))
    time.sleep(PRE_S)

    t_kill = d.inject("worker SIGKILL")
    d.supervisor.kill("worker")
    d.plant(range(4, 8))
    d.supervisor.wait_restarted("worker", after=t_kill)
    d.lift("worker restarted by the supervisor")
    d.plant(range(8, FAILURES))
    time.sleep(POST_S)
    d.finish()
    return d


def test_no_dead_letter_is_written_twice(drill: Drill) -> None:
    """A refused event re-processed after the crash (a new event.ingested) is still one dead
    letter: its id comes from the event's own id (tests/unit/test_index_dead_letters.py)."""
    drill.check_no_duplicate_dead_letters()


def test_back_to_normal_without_an_operator(drill: Drill) -> None:
    drill.check_back_to_normal(restarted=["worker"])
