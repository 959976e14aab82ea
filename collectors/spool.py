"""A bounded first-in first-out spool on local disk, for records Kafka cannot take right now.

Records are appended to segment files as <4-byte big-endian length><bytes>; a small `head` file
says how far the drain has got (segment number and byte offset), so a restarted collector
resumes exactly where it stopped: nothing skipped, at most the last unacknowledged batch sent
twice (its event ids make that harmless downstream). A consumed segment is deleted.

Each record is written through to the operating system in one call (a record is a whole Kafka
record, up to a thousand lines, so this costs one system call per batch): once `append` returns,
the record survives a crash of the collector. A write the file system refuses (ENOSPC, EDQUOT,
EIO...) is undone (the segment is cut back to where it was) and raised as SpoolFull, like the
configured limit: the spool stays consistent and usable, and works again once space returns.
The head is rewritten in place at a fixed width, so moving it never needs a free block.
"""

from __future__ import annotations

import errno
import os
import struct
from pathlib import Path

SEGMENT_BYTES = 16 * 1024 * 1024
_LEN = struct.Struct(">I")


class SpoolFull(Exception):
    """The spool cannot take the record: its configured size is reached, or its disk is full."""

    def __init__(self, message: str, reason: str = "spool_full") -> None:
        super().__init__(message)
        self.reason = reason  # spool_full (the limit) or spool_disk_full (the file system)


_HEAD = "{:020d} {:020d}\n"  # fixed width: rewritten in place


class DiskSpool:
    """FIFO of byte records in a directory, bounded by max_bytes on disk."""

    def __init__(self, directory: Path, max_bytes: int) -> None:
        self.dir = directory
        self.max_bytes = max_bytes
        self.dir.mkdir(parents=True, exist_ok=True)
        segs = self._segments()
        self._write_seg = segs[-1] if segs else 0
        self._writer = self._open_segment(self._write_seg)
        self._head_seg, self._head_off = self._read_head(segs)
        self._head_fd = os.open(self.dir / "head", os.O_RDWR | os.O_CREAT, 0o600)
        self._write_head()
        self._bytes = sum(p.stat().st_size for p in self.dir.glob("*.seg")) - self._head_off
        self._count = self._count_records()

    # ------------------------------------------------------------------ state

    def _segments(self) -> list[int]:
        return sorted(int(p.stem) for p in self.dir.glob("*.seg"))

    def _path(self, seg: int) -> Path:
        return self.dir / f"{seg:012d}.seg"

    def _read_head(self, segs: list[int]) -> tuple[int, int]:
        try:
            seg, off = (int(x) for x in (self.dir / "head").read_text().split())
        except (FileNotFoundError, ValueError):
            return (segs[0] if segs else 0), 0
        return seg, off

    def _open_segment(self, seg: int) -> int:
        return os.open(self._path(seg), os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)

    def _write_head(self) -> None:
        os.pwrite(self._head_fd, _HEAD.format(self._head_seg, self._head_off).encode(), 0)

    def _count_records(self) -> int:
        n = 0
        for seg in self._segments():
            if seg < self._head_seg:
                continue
            with open(self._path(seg), "rb") as f:
                if seg == self._head_seg:
                    f.seek(self._head_off)
                while (hdr := f.read(4)) and len(hdr) == 4:
                    (length,) = _LEN.unpack(hdr)
                    f.seek(length, 1)
                    n += 1
        return n

    def __len__(self) -> int:
        return self._count

    @property
    def bytes(self) -> int:
        return self._bytes

    # ------------------------------------------------------------------ use

    def append(self, record: bytes) -> None:
        """Add one record at the tail, written through to the operating system; SpoolFull when
        that would pass max_bytes, or when the file system refuses the write (nothing of the
        record is left behind then)."""
        size = len(record) + 4
        if self._bytes + size > self.max_bytes:
            raise SpoolFull(f"spool {self.dir} is full ({self._bytes} of {self.max_bytes} bytes)")
        end = os.fstat(self._writer).st_size
        try:
            if end + size > SEGMENT_BYTES and end > 0:
                writer = self._open_segment(self._write_seg + 1)
                os.close(self._writer)
                self._writer, self._write_seg, end = writer, self._write_seg + 1, 0
            data = memoryview(_LEN.pack(len(record)) + record)
            while data:
                data = data[os.write(self._writer, data):]
        except OSError as exc:
            try:
                os.ftruncate(self._writer, end)  # cutting back never needs space
            except OSError:
                pass
            what = errno.errorcode.get(exc.errno or 0, "error")
            raise SpoolFull(f"spool {self.dir} cannot write: {exc.strerror or exc} ({what})",
                            reason="spool_disk_full") from exc
        self._bytes += size
        self._count += 1

    def flush(self) -> None:
        """Appended records are already with the operating system (they survive a crash of the
        process); kept so callers need not know."""

    def peek(self, limit: int) -> list[bytes]:
        """Up to `limit` records from the head, without removing them."""
        out: list[bytes] = []
        seg, off = self._head_seg, self._head_off
        while len(out) < limit and seg <= self._write_seg:
            path = self._path(seg)
            if path.exists():
                with open(path, "rb") as f:
                    f.seek(off)
                    while len(out) < limit and (hdr := f.read(4)) and len(hdr) == 4:
                        (length,) = _LEN.unpack(hdr)
                        out.append(f.read(length))
            seg, off = seg + 1, 0
        return out

    def pop(self, n: int) -> None:
        """Remove the first n records (after Kafka acknowledged them) and persist the head."""
        while n > 0:
            path = self._path(self._head_seg)
            with open(path, "rb") as f:
                f.seek(self._head_off)
                while n > 0 and (hdr := f.read(4)) and len(hdr) == 4:
                    (length,) = _LEN.unpack(hdr)
                    f.seek(length, 1)
                    self._head_off += 4 + length
                    self._bytes -= 4 + length
                    self._count -= 1
                    n -= 1
                at_end = f.read(1) == b""
            if n > 0 or (at_end and self._head_seg < self._write_seg):
                if not at_end:
                    raise RuntimeError(f"spool {self.dir}: cannot pop past segment {self._head_seg}")
                path.unlink()
                self._head_seg += 1
                self._head_off = 0
                if self._head_seg > self._write_seg:
                    break
        if self._count == 0 and self._head_seg == self._write_seg:
            # Empty: cut the segment back to nothing so the spool does not grow forever.
            os.ftruncate(self._writer, 0)
            self._head_off = 0
        self._write_head()

    def close(self) -> None:
        os.close(self._writer)
        os.close(self._head_fd)
