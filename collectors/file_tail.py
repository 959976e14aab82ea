"""`soc collect file`: follow log files by glob into soc.raw, surviving rotation, truncation, restarts.

Files are followed by identity (device, inode), not by name: a rotated file (renamed away) is
read to its end through the descriptor already open, while the new file under the old name
is read from its start. A file that shrinks below the read offset was truncated (copytruncate)
and is read again from its start. Offsets are saved only after what was read is in Kafka or the
disk spool, so a restart neither skips a line nor (except for the last unsaved read) repeats one.
While Kafka is away and the spool is full, nothing more is read: the file holds the lines until
the spool drains. Lines the full spool refuses from batches already handed over are not lost
either: the file is read again from where that round began once the spool has room (lines of
the round that did go out are sent twice; their events have the same ids, so are indexed once).
A source may declare `multiline_start` (a regex): lines that do not match it continue the
previous record (stack traces, bastion-host command blocks).
"""

from __future__ import annotations

import asyncio
import glob
import json
import logging
import os
import re
import signal
import time
from dataclasses import dataclass, field

from collectors.kafka_sink import KafkaSink, Ticket
from collectors.sources import Source, Sources, load_sources
from soc.config import FileSettings, Settings
from prometheus_client import start_http_server

from soc.metrics import ERRORS, REGISTRY
from soc.model import RawBatch

log = logging.getLogger(__name__)

STAGE = "collector.file"
READ_CHUNK = 1024 * 1024


@dataclass
class Followed:
    """One file being followed."""

    key: str  # "dev:inode"
    path: str
    fd: int
    offset: int
    source: Source
    partial: bytes = b""
    pending: list[bytes] = field(default_factory=list)  # multi-line record being assembled
    last_data: float = field(default_factory=time.monotonic)
    start: re.Pattern[bytes] | None = None
    ticket: Ticket = field(default_factory=Ticket)  # this round's lines the full spool refused

    @property
    def delivered(self) -> int:
        """The offset of the first line not yet handed over whole (what the state file keeps)."""
        return self.offset - len(self.partial) - sum(len(p) + 1 for p in self.pending)


class FileTailer:
    """Discover files by glob, read what is new, hand complete records to the sink."""

    def __init__(self, cfg: FileSettings, sources: Sources, sink: KafkaSink, globs: list[str]) -> None:
        self.cfg = cfg
        self.sources = sources
        self.sink = sink
        self.globs = globs
        self.state_path = cfg.state_dir / "offsets.json"
        self.saved: dict[str, dict[str, object]] = self._load_state()
        self.files: dict[str, Followed] = {}

    def _load_state(self) -> dict[str, dict[str, object]]:
        try:
            return json.loads(self.state_path.read_text())
        except (FileNotFoundError, ValueError):
            return {}

    def _save_state(self) -> None:
        state = {f.key: {"path": f.path, "offset": f.delivered} for f in self.files.values()}
        self.cfg.state_dir.mkdir(parents=True, exist_ok=True)
        tmp = self.state_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(state))
        os.replace(tmp, self.state_path)
        self.saved = state

    def _discover(self) -> None:
        current: dict[str, str] = {}
        for pattern in self.globs:
            for path in glob.glob(pattern):
                try:
                    st = os.stat(path)
                except FileNotFoundError:
                    continue
                current[f"{st.st_dev}:{st.st_ino}"] = path
        for key, path in current.items():
            if key in self.files:
                self.files[key].path = path  # renamed but still matched: keep following
                continue
            try:
                fd = os.open(path, os.O_RDONLY)
            except OSError as exc:
                ERRORS.labels(STAGE, type(exc).__name__).inc()
                continue
            offset = int(self.saved.get(key, {}).get("offset", 0))  # type: ignore[arg-type]
            if offset > os.fstat(fd).st_size:
                offset = 0  # truncated while we were away
            source = self.sources.for_path(path)
            start = re.compile(source.multiline_start.encode()) if source.multiline_start else None
            self.files[key] = Followed(key, path, fd, offset, source, start=start)
            log.info("following %s from byte %d (source %s)", path, offset, source.id)

    async def poll_once(self) -> int:
        """One pass over every followed file; returns the number of records handed to the sink."""
        self._discover()
        sent = 0
        began: dict[str, int] = {}
        for key in list(self.files):
            f = self.files[key]
            size = os.fstat(f.fd).st_size
            if size < f.offset:
                log.warning("%s was truncated (%d < %d bytes read): reading it again from the start",
                            f.path, size, f.offset)
                f.offset, f.partial, f.pending = 0, b"", []
            began[key], f.ticket = f.delivered, Ticket()
            while f.offset < size and not self.sink.full:  # a full spool: the file keeps the lines
                chunk = os.pread(f.fd, min(READ_CHUNK, size - f.offset), f.offset)
                if not chunk:
                    break
                f.offset += len(chunk)
                f.last_data = time.monotonic()
                sent += await self._lines(f, f.partial + chunk)
            idle = time.monotonic() - f.last_data
            if idle >= self.cfg.flush_idle_s and (f.partial or f.pending):
                # A last line without newline, or a multi-line record nobody will continue.
                last = [f.partial] if f.partial else []
                f.partial = b""
                if f.pending:
                    last.append(b"\n".join(f.pending))
                    f.pending = []
                await self._records(f, last)
                sent += len(last)
        if sent:
            await self.sink.flush()
        for key, f in list(self.files.items()):
            if f.ticket.refused and key in began:
                log.warning("%s: the full spool refused %d lines: reading them again from byte %d once it "
                            "has room", f.path, f.ticket.refused, began[key])
                f.offset, f.partial, f.pending = began[key], b"", []
            elif not self._still_there(f) and f.offset >= os.fstat(f.fd).st_size and not f.partial \
                    and not f.pending:
                os.close(f.fd)  # rotated away and read to its end
                del self.files[key]
        self._save_state()
        return sent

    def _still_there(self, f: Followed) -> bool:
        try:
            st = os.stat(f.path)
        except FileNotFoundError:
            return False
        return f"{st.st_dev}:{st.st_ino}" == f.key

    async def _lines(self, f: Followed, data: bytes) -> int:
        """Hand the complete records of data to the sink, as one batch; keep the rest."""
        *complete, f.partial = data.split(b"\n")
        complete = [line[:-1] if line.endswith(b"\r") else line for line in complete]
        if f.start is None:
            await self._records(f, complete)
            return len(complete)
        records = []
        for line in complete:
            if f.start.match(line) and f.pending:
                records.append(b"\n".join(f.pending))
                f.pending = [line]
            else:
                f.pending.append(line)
        await self._records(f, records)
        return len(records)

    async def _records(self, f: Followed, messages: list[bytes]) -> None:
        if not messages:
            return
        s = f.source
        await self.sink.put(RawBatch(
            messages=messages, received_at_ns=time.time_ns(), collector="file", peer="", source_id=s.id,
            format_hint=s.format, charset=s.charset, timezone=s.timezone, tenant=s.tenant, device=s.device,
        ), f.ticket)


async def run_file(settings: Settings, cfg: FileSettings, globs: list[str]) -> None:
    """Follow until SIGINT/SIGTERM; then flush, save offsets and stop."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)
    sources = load_sources(settings.sources_file)
    globs = globs or [g for s in sources.sources for g in s.paths]
    if not globs:
        raise SystemExit("no files to follow: give --path GLOB or declare `paths` in the sources file")
    sink = KafkaSink(settings.kafka_bootstrap, settings.topic("raw"), STAGE,
                     spool_dir=settings.spool.folder("file"), spool_max_bytes=settings.spool.max_bytes)
    await sink.start()
    tailer = FileTailer(cfg, sources, sink, globs)
    if cfg.metrics_port:
        start_http_server(cfg.metrics_port, addr=cfg.metrics_host, registry=REGISTRY)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    log.info("file collector following %s, sending to %s", globs, settings.topic("raw"))
    print("READY", flush=True)
    while not stop.is_set():
        await tailer.poll_once()
        try:
            await asyncio.wait_for(stop.wait(), timeout=cfg.poll_interval_s)
        except TimeoutError:
            pass
    await tailer.poll_once()
    await sink.stop()
