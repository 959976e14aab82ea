"""Drill: the file system under the collectors' spool really full (ENOSPC), under steady load.

test_spool_full.py fills the spool up to its configured limit (spool.max_bytes); here the limit
is the default 1 GiB and the disk gives out first: the spool folder is a 3 MiB tmpfs (mounted
as root, unmounted afterwards), Kafka is stopped, and the three collectors spool into it until
writes fail with "No space left on device". The requirement is the same as for the limit:
reported clearly (a log line naming the device's error; the syslog collector's drops counted as
soc_dropped_total{reason="spool_disk_full"}, the HTTP collector answering 503 so its sender
resends), still running and accepting, resuming by itself once space returns (the broker back,
the spool drained), every line accounted for (sent = indexed + dead-lettered +
dropped-and-counted, up to the lines counted as unconfirmed (conftest.py), and nothing of HTTP or
the file lost).

Without root (no tmpfs) the drill is skipped; the limit drill still runs.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from .judgments import (  # noqa: F401 - pytest runs them against this module's drill
    test_no_event_is_indexed_twice,
    test_nothing_else_is_dead_lettered,
    test_the_brute_force_raises_one_alert_with_the_exact_count,
)
from .conftest import FAILURES, STAGE, Drill

pytestmark = [pytest.mark.faults, pytest.mark.timeout(1800)]

TMPFS_BYTES = 3 * 1024 * 1024
PAD = 900
PRE_S = 15
FULL_S = 20
RESUME_WAIT_S = 45
POST_S = 20

@pytest.fixture(scope="module")
def spool_fs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    if os.geteuid() != 0:
        pytest.skip("a real full file system needs a tmpfs mount, which needs root")
    mnt = tmp_path_factory.mktemp("spool-tmpfs")
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={TMPFS_BYTES}", "tmpfs", str(mnt)],
                          capture_output=True, text=True, check=False)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs on {mnt}: {done.stderr.strip()}")
    yield mnt
    if subprocess.run(["umount", str(mnt)], check=False).returncode != 0:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


@pytest.fixture(scope="module")
def drill(spool_fs: Path, make_drill: Callable[..., Drill]) -> Drill:
    """Runs the drill and records what it saw; the tests judge (a half-working collector must
    not turn the drill into an error before the judging)."""
    d = make_drill(env={"SOC_SPOOL__DIR": str(spool_fs)}, pad=PAD)
    d.start()
    d.wait_flowing()
    d.plant(range(0, FAILURES // 2))
    time.sleep(PRE_S)

    t0 = d.inject("Kafka stopped: the spool file system fills")
    d.engines.stop_kafka()
    deadline = time.monotonic() + 180
    while shutil.disk_usage(spool_fs).free > 64 * 1024 and time.monotonic() < deadline:
        time.sleep(0.5)
    d.numbers["disk_full_s"] = round(time.monotonic() - t0, 1)
    d.numbers["disk_free_bytes"] = shutil.disk_usage(spool_fs).free
    d.mark("spool file system full")
    sent_at_full = {k: len(s.sent) for k, s in d.senders.items()}
    refused_at_full = d.senders["http"].refused
    time.sleep(FULL_S)
    d.numbers["accepted_while_full"] = {k: len(s.sent) - sent_at_full[k] for k, s in d.senders.items()}
    d.numbers["refused_while_full"] = d.senders["http"].refused - refused_at_full
    d.numbers["dropped_while_full"] = {c: d.dropped(c) for c in STAGE}
    d.numbers["dropped_disk_full"] = {c: d.dropped(c, "spool_disk_full") for c in STAGE}
    d.numbers["alive_while_full"] = {c: d.p.alive(c) for c in STAGE}
    logs = {c: (d.p.log_dir / f"{c}.log").read_text(errors="replace") for c in STAGE}
    d.numbers["logged"] = {c: ("No space left" in text or "is full" in text) for c, text in logs.items()}
    d.numbers["log_excerpt"] = {c: [line for line in text.splitlines() if "rror" in line or "space" in line][-3:]
                                for c, text in logs.items()}

    took = d.engines.start_kafka()
    t_lift = d.lift(f"Kafka restarted, healthy after {took:.1f}s")
    deadline = time.monotonic() + RESUME_WAIT_S
    while any(v != 0 for v in d.spool_bytes().values()) and time.monotonic() < deadline:
        time.sleep(0.5)
    d.numbers["spool_bytes_after_lift"] = d.spool_bytes()
    d.numbers["drained_s"] = round(time.monotonic() - t_lift, 1)
    d.plant(range(FAILURES // 2, FAILURES))
    time.sleep(POST_S)
    d.finish(drops=True, settle_timeout=60)
    return d


def test_each_collector_reports_the_full_disk(drill: Drill) -> None:
    """The device's error is logged; only the syslog collector drops (counted with the disk's
    own reason); the HTTP collector refuses with 503; the file collector waits."""
    dropped, logged = drill.numbers["dropped_while_full"], drill.numbers["logged"]
    assert logged["collector"] and logged["http"], (
        f"logged: {logged}; last errors: {drill.numbers['log_excerpt']}")
    assert drill.numbers["dropped_disk_full"]["collector"] > 0, drill.numbers["dropped_disk_full"]
    assert dropped["http"] == 0 and dropped["file"] == 0, dropped
    assert drill.numbers["http"]["refused_503"] > 0, drill.numbers["http"]


def test_the_collectors_keep_running(drill: Drill) -> None:
    assert all(drill.numbers["alive_while_full"].values()), drill.numbers["alive_while_full"]


def test_they_keep_accepting_while_the_disk_is_full(drill: Drill) -> None:
    """Syslog and file lines are taken while the disk is full (dropped-and-counted, or waiting
    in the file); HTTP batches are answered 503 at once, not left hanging."""
    accepted = drill.numbers["accepted_while_full"]
    assert accepted["tcp"] > 0 and accepted["file"] > 0, f"lines taken in the {FULL_S}s after the disk filled: {accepted}"
    assert drill.numbers["refused_while_full"] > 0, "no HTTP batch was answered while the disk was full"


def test_they_resume_once_space_returns(drill: Drill) -> None:
    spool = drill.numbers["spool_bytes_after_lift"]
    assert all(v == 0 for v in spool.values()), f"spool bytes {RESUME_WAIT_S}s after Kafka returned: {spool}"
    assert drill.numbers["fresh_s"] is not None, "no line sent after Kafka returned was indexed"


def test_sent_equals_indexed_plus_dead_lettered_plus_dropped(drill: Drill) -> None:
    drill.check_accounted()
    assert drill.numbers["http"]["missing"] == 0 and drill.numbers["file"]["missing"] == 0


def test_back_to_normal_without_an_operator(drill: Drill) -> None:
    drill.check_back_to_normal(restarted=[])
