"""Drill: the collectors' disk spool full, under steady TCP, file and HTTP load.

The spool only fills while Kafka cannot take records, so the drill stops the broker with every
collector's spool limited to 1 MiB (spool.max_bytes, its smallest allowed value) and lines of
about 1 KiB. Each collector must say so clearly (an ERROR line naming the spool), keep running,
and resume by itself once the broker is back and the spool drains. The syslog collector has no
way to tell its sender, so it drops, counted (soc_dropped_total{reason="spool_full"}); the HTTP
collector answers 503 with Retry-After, so its sender keeps the batch and nothing of HTTP is
lost. The reckoning includes the drops: per transport, sent = indexed + dead-lettered +
dropped-and-counted, up to the lines counted as unconfirmed (conftest.py), and HTTP drops nothing.

The file collector is the exception, measured rather than required: it waits for each read to be
delivered before it reads on and stops reading while the spool is full (its file is its buffer),
so it drops at most the batches it had handed over when the spool filled; what it does drop must
be counted and logged like the others'. (A run of 2026-12-07 before it stopped reading: 4,012
lines dropped, all counted.)

The planted brute force is sent before and after the outage only: lines that meet a full spool
are dropped by design, and the alert count must stay exact.
(test_spool_enospc.py is the same with a real full file system instead of the limit.)
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
from .conftest import COLLECTOR_OF, FAILURES, KINDS, STAGE, Drill

pytestmark = [pytest.mark.faults, pytest.mark.timeout(1800)]

SPOOL_MAX = 1024 * 1024
PAD = 900  # bytes added to each line: the 1 MiB spools fill in seconds
PRE_S = 15
FULL_S = 15  # how long the collectors go on dropping once all three are full
POST_S = 20
SPOOLING = ("collector", "http")  # the collectors that must fill their spool (not "file": see above)
DROPPING = ("collector",)  # of those, the ones that drop (HTTP refuses with a 503 instead)


@pytest.fixture(scope="module")
def drill(make_drill: Callable[..., Drill]) -> Drill:
    d = make_drill(env={"SOC_SPOOL__MAX_BYTES": str(SPOOL_MAX)}, pad=PAD)
    d.start()
    d.wait_flowing()
    d.plant(range(0, FAILURES // 2))
    time.sleep(PRE_S)

    t0 = d.inject("Kafka stopped: the spools fill")
    d.engines.stop_kafka()
    d.mark("Kafka stopped")
    first_drop: dict[str, float] = {}
    deadline = time.monotonic() + 180
    while len(first_drop) < len(SPOOLING) and time.monotonic() < deadline:
        for c in SPOOLING:
            full = d.senders["http"].refused > 0 if c == "http" else d.dropped(c, "spool_full") > 0
            if c not in first_drop and full:
                first_drop[c] = round(time.monotonic() - t0, 1)
        time.sleep(0.5)
    d.mark(f"spool full (first drop or 503, s after the stop: {first_drop})")
    time.sleep(FULL_S)
    d.numbers["first_drop_s"] = first_drop
    d.numbers["dropped_while_full"] = {c: d.dropped(c) for c in STAGE}
    d.numbers["alive_while_full"] = {c: d.p.alive(c) for c in STAGE}
    d.numbers["spool_bytes_while_full"] = d.spool_bytes()
    d.numbers["logged"] = {c: "is full" in (d.p.log_dir / f"{c}.log").read_text(errors="replace") for c in STAGE}

    took = d.engines.start_kafka()
    t_lift = d.lift(f"Kafka restarted, healthy after {took:.1f}s")
    deadline = time.monotonic() + 300
    while any(v != 0 for v in d.spool_bytes().values()) and time.monotonic() < deadline:
        time.sleep(0.5)
    d.numbers["drained_s"] = round(time.monotonic() - t_lift, 1)
    d.numbers["dropped_when_drained"] = {c: d.dropped(c) for c in STAGE}
    d.mark("spools drained")
    d.plant(range(FAILURES // 2, FAILURES))
    time.sleep(POST_S)
    d.finish(drops=True)
    d.numbers["dropped_at_end"] = {c: d.dropped(c) for c in STAGE}
    return d


def test_each_collector_reports_the_full_spool(drill: Drill) -> None:
    """An ERROR line names the full spool; the syslog collector counts its drops
    (soc_dropped_total{reason="spool_full"}), the HTTP and file collectors drop nothing (HTTP
    answers 503, the file is read again from where the refused round began)."""
    assert set(drill.numbers["first_drop_s"]) == set(SPOOLING), f"first drops: {drill.numbers['first_drop_s']}"
    dropped, logged = drill.numbers["dropped_while_full"], drill.numbers["logged"]
    assert all(logged[c] for c in SPOOLING), f"'spool ... is full' logged: {logged}"
    assert all(dropped[c] > 0 for c in DROPPING) and dropped["http"] == 0, f"dropped {dropped}"
    assert dropped["file"] == 0, f"the file collector dropped {dropped['file']}: it reads them again instead"


def test_the_collectors_keep_running_while_the_spool_is_full(drill: Drill) -> None:
    assert all(drill.numbers["alive_while_full"].values()), drill.numbers["alive_while_full"]
    full = drill.numbers["spool_bytes_while_full"]
    assert all(0 < full[c] <= SPOOL_MAX for c in SPOOLING), f"spool bytes while full: {full}"


def test_they_resume_once_the_spool_drains(drill: Drill) -> None:
    """No drop once the spools are empty again; lines sent afterwards flow (fresh_s)."""
    assert drill.numbers["dropped_when_drained"] == drill.numbers["dropped_at_end"]
    assert drill.numbers["fresh_s"] is not None


def test_sent_equals_indexed_plus_dead_lettered_plus_dropped(drill: Drill) -> None:
    drill.check_accounted()
    for kind in KINDS:
        if COLLECTOR_OF[kind] in DROPPING:
            assert drill.numbers[kind]["dropped"] > 0, f"{kind}: nothing dropped, so the spool was never full"
        elif kind == "http":
            assert drill.numbers[kind]["dropped"] == 0 and drill.numbers[kind]["missing"] == 0, drill.numbers[kind]
        assert drill.numbers[kind]["dropped"] == drill.numbers["dropped_at_end"][COLLECTOR_OF[kind]]


def test_back_to_normal_without_an_operator(drill: Drill) -> None:
    drill.check_back_to_normal(restarted=[])


def test_http_refuses_503_and_the_resent_batches_are_all_kept(drill: Drill) -> None:
    """A batch that met the full spool was answered 503 (never 202 and then dropped), resent,
    and every line of it indexed or dead-lettered."""
    row, t = drill.numbers["http"], drill.tallies["http"]
    assert row["refused_503"] > 0, f"the HTTP collector never refused a batch: {row}"
    assert not t["missing"], f"{len(t['missing'])} HTTP lines lost: {sorted(t['missing'])[:20]}"
