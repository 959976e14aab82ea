"""Drill: the three collectors (syslog, file, HTTP) SIGKILLed while their senders keep sending.

The supervisor restarts each RESTART_SEC later. What each transport guarantees across the crash
(the conftest docstring has the definitions):

- file: nothing lost, nothing repeated: the restarted collector resumes from the offsets it saved
  after the lines were in Kafka or the spool (a read not yet saved is read again, and collapses
  onto the same event ids);
- HTTP: every line of every batch answered 202 is indexed; the sender resends the batch the
  crash cut off until it gets its 202, and the resend collapses onto the same ids;
- syslog over TCP: no application-level acknowledgement, so the lines written to the killed
  collector that it had not yet handed to Kafka may be lost, and only those: everything it had
  sent to Kafka (soc_sent_total just before the kill) is indexed, and everything written to the
  restarted collector, the chunk the sender failed on included, is indexed.

The planted brute force travels by file here, the one transport that is lossless across a
collector crash, so its alert count stays exact.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from .judgments import (  # noqa: F401 - pytest runs them against this module's drill
    test_no_event_is_indexed_twice,
    test_no_dead_letter_is_written_twice,
    test_nothing_else_is_dead_lettered,
    test_the_brute_force_raises_one_alert_with_the_exact_count,
)
from .conftest import FAILURES, STAGE, Drill

pytestmark = [pytest.mark.faults, pytest.mark.timeout(1800)]

PRE_S = 20
POST_S = 20
COLLECTORS = ("collector", "file", "http")
BURST = 20_000  # lines written by TCP and appended to the file just before the kill


@pytest.fixture(scope="module")
def drill(make_drill: Callable[..., Drill]) -> Drill:
    d = make_drill(brute_via=("file",))
    d.start()
    d.wait_flowing()
    d.plant(range(0, 4))
    time.sleep(PRE_S)

    # A burst on TCP and into the file just before the kill, so the kill lands while the
    # collectors hold lines they have not yet handed to Kafka (or saved the offsets of).
    delivered = {k: len(d.senders[k].sent) for k in ("tcp", "file")}
    for k in delivered:
        d.senders[k].burst = BURST
    deadline = time.monotonic() + 60
    while any(len(d.senders[k].sent) < delivered[k] + BURST for k in delivered):
        assert time.monotonic() < deadline, "the burst was not delivered"
        time.sleep(0.01)
    before = {c: d.metrics(c) for c in COLLECTORS}  # read just before the kill
    t_kill = d.inject("collectors SIGKILL")
    for c in COLLECTORS:
        d.supervisor.kill(c)
    d.mark("collectors dead")
    d.plant(range(4, 8))
    restarted = max(d.supervisor.wait_restarted(c, after=t_kill) for c in COLLECTORS)
    d.lift(f"collectors restarted by the supervisor ({restarted - t_kill:.1f}s after the kill)")
    d.numbers["sent_to_kafka_before_kill"] = {
        c: before[c].get(f'soc_sent_total{{stage="{STAGE[c]}"}}', 0.0) for c in COLLECTORS}
    d.numbers["received_before_kill"] = {
        c: before[c].get(f'soc_received_total{{stage="{STAGE[c]}"}}', 0.0) for c in COLLECTORS}
    d.plant(range(8, FAILURES))
    time.sleep(POST_S)
    acked = before["collector"].get('soc_sent_total{stage="collector.syslog"}', 0.0)
    d.finish(lossless=False, tcp_killed_at=t_kill, tcp_acked=acked)
    d.numbers["file_reread_after_restart"] = _reread(d)
    return d


def _reread(d: Drill) -> float:
    """Lines the restarted file collector read that its predecessor had read already: received by
    both incarnations minus the lines appended; 0 or the last unsaved read."""
    after = d.metrics("file").get('soc_received_total{stage="collector.file"}', 0.0)
    sent = d.numbers["file"]["sent"] + d.numbers["brute"]["delivered"]
    return d.numbers["received_before_kill"]["file"] + after - sent


def test_every_line_is_accounted_for(drill: Drill) -> None:
    """file and HTTP: all; TCP: all but lines written to the killed collector, never one it had
    sent to Kafka."""
    drill.check_accounted()


def test_back_to_normal_without_an_operator(drill: Drill) -> None:
    drill.check_back_to_normal(restarted=list(COLLECTORS))
