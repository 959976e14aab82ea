"""A bounded first-in first-out spool on local disk, for records Kafka cannot take right now.

Records are appended to segment files as <4-byte big-endian length><bytes>; a small `head` file
says how far the drain has got (segment number and byte offset), so a restarted collector
resumes exactly where it stopped: nothing skipped, at most the last unacknowledged batch sent
twice (its event ids make that harmless downstream). A consumed segment is deleted.
"""

from __future__ import annotations

import os
import struct
from pathlib import Path

SEGMENT_BYTES = 16 * 1024 * 1024
_LEN = struct.Struct(">I")


class SpoolFull(Exception):
    """The spool has reached its configured size."""


class DiskSpool:
    """FIFO of byte records in a directory, bounded by max_bytes on disk."""

    def __init__(self, directory: Path, max_bytes: int) -> None:
        self.dir = directory
        self.max_bytes = max_bytes
        self.dir.mkdir(parents=True, exist_ok=True)
        segs = self._segments()
        self._write_seg = segs[-1] if segs else 0
        self._writer = open(self._path(self._write_seg), "ab")  # noqa: SIM115 - kept open
        self._head_seg, self._head_off = self._read_head(segs)
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

    def _write_head(self) -> None:
        tmp = self.dir / "head.tmp"
        tmp.write_text(f"{self._head_seg} {self._head_off}")
        os.replace(tmp, self.dir / "head")

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
        """Add one record at the tail; SpoolFull when that would pass max_bytes."""
        size = len(record) + 4
        if self._bytes + size > self.max_bytes:
            raise SpoolFull(f"spool {self.dir} is full ({self._bytes} of {self.max_bytes} bytes)")
        if self._writer.tell() + size > SEGMENT_BYTES and self._writer.tell() > 0:
            self._writer.close()
            self._write_seg += 1
            self._writer = open(self._path(self._write_seg), "ab")  # noqa: SIM115
        self._writer.write(_LEN.pack(len(record)))
        self._writer.write(record)
        self._bytes += size
        self._count += 1

    def flush(self) -> None:
        """Push appended records to the operating system (they survive a process crash)."""
        self._writer.flush()

    def peek(self, limit: int) -> list[bytes]:
        """Up to `limit` records from the head, without removing them."""
        self._writer.flush()
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
        self._writer.flush()
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
            # Empty: start the segment afresh so the spool does not grow forever.
            self._writer.close()
            self._path(self._write_seg).unlink(missing_ok=True)
            self._write_seg += 1
            self._head_seg, self._head_off = self._write_seg, 0
            self._writer = open(self._path(self._write_seg), "ab")  # noqa: SIM115
        self._write_head()

    def close(self) -> None:
        self._writer.close()
