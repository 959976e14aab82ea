"""The collector's disk spool: first in, first out, bounded, and it survives a restart."""

from __future__ import annotations

from pathlib import Path

import pytest

import collectors.spool as spool_mod
from collectors.spool import DiskSpool, SpoolFull


@pytest.fixture(autouse=True)
def small_segments(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(spool_mod, "SEGMENT_BYTES", 1000)  # many segments with little data


def records(n: int, start: int = 0) -> list[bytes]:
    return [f"record {i} ".encode() * (1 + i % 7) for i in range(start, start + n)]


def test_records_come_out_in_the_order_they_went_in(tmp_path: Path) -> None:
    sp = DiskSpool(tmp_path, 1_000_000)
    for r in records(500):
        sp.append(r)
    assert len(sp) == 500
    out: list[bytes] = []
    while len(sp):
        batch = sp.peek(37)
        out.extend(batch)
        sp.pop(len(batch))
    assert out == records(500)
    assert len(list(tmp_path.glob("*.seg"))) <= 1  # consumed segments are deleted


def test_a_restart_resumes_where_the_drain_stopped(tmp_path: Path) -> None:
    sp = DiskSpool(tmp_path, 1_000_000)
    for r in records(300):
        sp.append(r)
    sp.pop(len(sp.peek(120)))
    sp.flush()
    sp.close()  # the collector stops (or is killed after the flush)

    again = DiskSpool(tmp_path, 1_000_000)
    assert len(again) == 180
    for r in records(10, start=300):
        again.append(r)
    assert again.peek(1000) == records(180, start=120) + records(10, start=300)


def test_a_full_spool_refuses_and_says_so(tmp_path: Path) -> None:
    sp = DiskSpool(tmp_path, 2_000)
    accepted = 0
    with pytest.raises(SpoolFull, match="full"):
        for r in records(1000):
            sp.append(r)
            accepted += 1
    assert 0 < accepted < 1000
    assert sp.bytes <= 2_000
    # Draining makes room again.
    sp.pop(len(sp.peek(10)))
    sp.append(b"after drain")
    assert sp.peek(1000)[-1] == b"after drain"


def test_a_full_disk_is_refused_like_the_limit_and_leaves_no_torn_record(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The file system gives out half-way through a record (ENOSPC): append raises SpoolFull
    with its own reason, the half-written bytes are cut back, and once space returns the spool
    goes on, in order, also after a restart."""
    import errno
    import os

    sp = DiskSpool(tmp_path, 1_000_000)
    for r in records(20):
        sp.append(r)
    real_write = os.write
    disk_full = True

    def write(fd: int, data: bytes | memoryview) -> int:
        if not disk_full:
            return real_write(fd, data)
        if len(data) > 3:
            return real_write(fd, bytes(data[: len(data) // 2]))  # part of it fits
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(spool_mod.os, "write", write)
    for r in records(5, start=20):
        with pytest.raises(SpoolFull, match="No space left") as caught:
            sp.append(r)
        assert caught.value.reason == "spool_disk_full"
    assert len(sp) == 20
    assert sp.bytes == sum(p.stat().st_size for p in tmp_path.glob("*.seg"))  # nothing torn left behind

    disk_full = False
    for r in records(5, start=25):
        sp.append(r)
    assert sp.peek(1000) == records(20) + records(5, start=25)
    sp.close()
    assert DiskSpool(tmp_path, 1_000_000).peek(1000) == records(20) + records(5, start=25)


def test_moving_the_head_needs_no_new_file(tmp_path: Path) -> None:
    """The head is rewritten in place (a full disk cannot stop the drain), and a head written
    by an older version ("seg off") is still understood."""
    sp = DiskSpool(tmp_path, 1_000_000)
    for r in records(50):
        sp.append(r)
    sp.close()
    (tmp_path / "head").write_text("0 0")  # the older format
    again = DiskSpool(tmp_path, 1_000_000)
    inode = (tmp_path / "head").stat().st_ino
    again.pop(len(again.peek(10)))
    assert (tmp_path / "head").stat().st_ino == inode
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.endswith(".seg")) == ["head"]
    assert again.peek(1000) == records(40, start=10)
