"""The file collector stops reading while its spool is full: the file keeps the lines.

A sink that can take nothing (Kafka away, the disk spool full) would drop every line read; the
file is still on disk, so the tailer waits instead, and reads on from where it was once the
spool drains. The sink here is a recorder of what it is handed (no Kafka involved)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from collectors.file_tail import FileTailer
from collectors.sources import Source, Sources
from soc.config import FileSettings
from soc.model import RawBatch


class RecordingSink:
    def __init__(self) -> None:
        self.full = False
        self.lines: list[bytes] = []

    async def put(self, batch: RawBatch, ticket: object = None) -> None:
        self.lines += batch.messages

    async def flush(self) -> None:
        return None


def test_nothing_is_read_while_the_spool_is_full_and_everything_after(tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    log.write_bytes(b"".join(f"line {i}\n".encode() for i in range(100)))
    sink = RecordingSink()
    sources = Sources([Source(id="app", paths=[str(tmp_path / "*.log")])])
    tailer = FileTailer(FileSettings(state_dir=tmp_path / "state"), sources, sink, [str(tmp_path / "*.log")])  # type: ignore[arg-type]

    sink.full = True
    assert asyncio.run(tailer.poll_once()) == 0
    assert sink.lines == []
    with log.open("ab") as f:
        f.write(b"line 100\n")
    assert asyncio.run(tailer.poll_once()) == 0

    sink.full = False
    asyncio.run(tailer.poll_once())
    assert sink.lines == [f"line {i}".encode() for i in range(101)]


class FillingSink(RecordingSink):
    """Takes `room` lines, then refuses whole batches on their ticket (the spool is full), as
    KafkaSink does for a batch the full spool cannot hold."""

    def __init__(self, room: int) -> None:
        super().__init__()
        self.room = room

    async def put(self, batch: RawBatch, ticket: object = None) -> None:
        if len(batch.messages) > self.room:
            self.full = True
            ticket.refused += len(batch.messages)  # type: ignore[attr-defined]
            return
        self.room -= len(batch.messages)
        self.lines += batch.messages


def test_lines_the_filling_spool_refused_are_read_again_not_lost(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr("collectors.file_tail.READ_CHUNK", 64)  # many batches in one round
    log = tmp_path / "app.log"
    want = [f"line {i}".encode() for i in range(200)]
    log.write_bytes(b"".join(line + b"\n" for line in want))
    sink = FillingSink(room=50)
    sources = Sources([Source(id="app", paths=[str(tmp_path / "*.log")])])
    tailer = FileTailer(FileSettings(state_dir=tmp_path / "state"), sources, sink, [str(tmp_path / "*.log")])  # type: ignore[arg-type]

    asyncio.run(tailer.poll_once())  # the spool fills during the round
    assert sink.full and 0 < len(sink.lines) < 200
    assert tailer.saved[next(iter(tailer.saved))]["offset"] == 0  # nothing counts as delivered yet

    sink.full, sink.room = False, 10_000  # drained
    asyncio.run(tailer.poll_once())
    assert set(sink.lines) == set(want)  # every line went out; the first round's twice
    assert sink.lines[-200:] == want  # read again from where the round began, in order
    assert tailer.saved[next(iter(tailer.saved))]["offset"] == log.stat().st_size
