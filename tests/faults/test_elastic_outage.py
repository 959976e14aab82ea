"""Drill: Elasticsearch stopped for two minutes under steady TCP, file and HTTP load.

Collection and normalization go on into Kafka; the index stage retries without committing for
as long as it takes (soc/store/bulk.py), so nobody restarts anything. When the node is back the
worker catches up: every line indexed or dead-lettered, no event twice, the brute force planted
before, during and after the outage one alert with the exact count, and its playbook run (the
respond stage waits for Elasticsearch too, rather than dead-letter the alert).
"""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from .judgments import (  # noqa: F401 - pytest runs them against this module's drill
    test_every_line_is_indexed_or_dead_lettered,
    test_no_event_is_indexed_twice,
    test_no_dead_letter_is_written_twice,
    test_the_brute_force_raises_one_alert_with_the_exact_count,
)
from .conftest import FAILURES, Drill

pytestmark = [pytest.mark.faults, pytest.mark.timeout(2400)]

PRE_S = 20
OUTAGE_S = 120
POST_S = 30

@pytest.fixture(scope="module")
def drill(make_drill: Callable[..., Drill]) -> Drill:
    d = make_drill()
    d.start()
    d.wait_flowing()
    d.plant(range(0, 4))
    time.sleep(PRE_S)

    t_stop = d.inject("Elasticsearch stopping")
    d.engines.stop_elastic()
    d.mark("Elasticsearch stopped")
    d.plant(range(4, 8))
    time.sleep(max(0.0, OUTAGE_S - (time.monotonic() - t_stop)))
    d.mark("Elasticsearch starting")
    took = d.engines.start_elastic()
    d.lift(f"Elasticsearch healthy after {took:.1f}s")
    d.numbers["es_start_s"] = round(took, 1)
    d.numbers["es_down_s"] = round(d.t_lift - t_stop, 1) if d.t_lift else None
    d.plant(range(8, FAILURES))
    time.sleep(POST_S)
    d.finish()
    return d


def test_nothing_else_is_dead_lettered(drill: Drill) -> None:
    """Alerts raised while Elasticsearch was away are not dead-lettered as failed playbooks:
    the respond stage waits for it and runs them then (soc/stream/app.py _run_playbooks)."""
    drill.check_nothing_else_dead_lettered()


def test_back_to_normal_without_an_operator(drill: Drill) -> None:
    drill.check_back_to_normal(restarted=[])
