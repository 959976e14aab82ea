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
