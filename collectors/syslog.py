"""`soc collect syslog`: receive syslog over UDP and TCP and produce RawBatches to soc.raw.

TCP framing (RFC 6587) is detected per connection from its first bytes: octet counting
(`<len> <msg>`) when the connection starts with digits and a space, else newline framing (LF,
with a trailing CR removed). The message bytes are passed on exactly as received; decoding and
parsing happen in the normalize stage, which keeps every byte.

The frames of one TCP read become one RawBatch; UDP datagrams of one sender are gathered for at
most UDP_LINGER_S (or UDP_BATCH_LINES lines) into one.
"""

from __future__ import annotations

import asyncio
import logging
import re
import signal
import socket
import ssl
import time

from prometheus_client import start_http_server

from collectors.kafka_sink import KafkaSink
from collectors.sources import Sources, load_sources
from soc.config import Settings, SyslogSettings
from soc.metrics import DROPPED, ERRORS, REGISTRY
from soc.model import RawBatch

log = logging.getLogger(__name__)

OCTET_PREFIX = re.compile(rb"^[1-9][0-9]{0,7} ")
UDP_LINGER_S = 0.005
UDP_BATCH_LINES = 1000


class SyslogReceiver:
    """The UDP and TCP servers of one collector process, sharing one Kafka sink."""

    def __init__(self, cfg: SyslogSettings, sink: KafkaSink, sources: Sources | None = None) -> None:
        self.cfg = cfg
        self.sink = sink
        self.sources = sources or Sources([])
        self.servers: list[asyncio.AbstractServer] = []
        self.transports: list[asyncio.BaseTransport] = []
        self.udp: list[_UdpProtocol] = []

    def batch(self, messages: list[bytes], transport: str, peer: tuple[str, int], received_at_ns: int) -> RawBatch:
        """The messages with their source's header (the sources file, else this collector's defaults)."""
        source = self.sources.for_peer(peer[0])
        declared = bool(source.peers)
        return RawBatch(
            messages=messages,
            received_at_ns=received_at_ns,
            collector=f"syslog-{transport}",
            peer=f"{peer[0]}:{peer[1]}",
            source_id=source.id,
            format_hint=source.format or "syslog",
            charset=source.charset if declared else self.cfg.charset,
            timezone=source.timezone if declared else self.cfg.timezone,
            tenant=source.tenant if declared else self.cfg.tenant,
            device=source.device,
        )

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        if self.cfg.udp_port:
            transport, protocol = await loop.create_datagram_endpoint(
                lambda: _UdpProtocol(self), local_addr=(self.cfg.host, self.cfg.udp_port)
            )
            self.udp.append(protocol)
            _grow_receive_buffer(transport.get_extra_info("socket"))
            self.transports.append(transport)
        if self.cfg.tcp_port:
            server = await asyncio.start_server(
                lambda r, w: self._handle_tcp(r, w, "tcp"), self.cfg.host, self.cfg.tcp_port,
                limit=self.cfg.max_line_bytes,
            )
            self.servers.append(server)
        if self.cfg.tls_port:
            server = await asyncio.start_server(
                lambda r, w: self._handle_tcp(r, w, "tls"), self.cfg.host, self.cfg.tls_port,
                limit=self.cfg.max_line_bytes, ssl=tls_context(self.cfg),
            )
            self.servers.append(server)

    async def stop(self) -> None:
        for server in self.servers:
            server.close()
        for transport in self.transports:
            transport.close()
        for protocol in self.udp:
            protocol.flush()
        for server in self.servers:
            await server.wait_closed()

    async def _handle_tcp(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, transport: str) -> None:
        peer = writer.get_extra_info("peername") or ("unknown", 0)
        framer = Framer(self.cfg.max_line_bytes)
        try:
            while True:
                chunk = await reader.read(256 * 1024)
                if not chunk:
                    break
                received_at_ns = time.time_ns()
                messages = framer.feed(chunk)
                self._count_drops(framer, peer)
                if messages:
                    await self.sink.put(self.batch(messages, transport, peer, received_at_ns))
            rest = framer.finish()
            if rest:
                await self.sink.put(self.batch(rest, transport, peer, time.time_ns()))
        except (ConnectionError, asyncio.IncompleteReadError, ssl.SSLError) as exc:
            ERRORS.labels("collector.syslog", type(exc).__name__).inc()
        except asyncio.CancelledError:
            pass  # the collector stops: this connection ends (asyncio would log each one as an error)
        finally:
            writer.close()

    @staticmethod
    def _count_drops(framer: Framer, peer: tuple[str, int]) -> None:
        for reason in framer.dropped:
            DROPPED.labels("collector.syslog", reason).inc()
            log.warning("%s from %s: dropped (max %d bytes)", reason, peer[0], framer.max_len)
        framer.dropped.clear()


class Framer:
    """RFC 6587 framing of one TCP stream: bytes in, complete messages out, in order.

    The framing is chosen from the stream's first bytes: octet counting (`<len> <msg>`) when it
    starts with digits and a space, else newline framing (LF, a trailing CR removed). A sender
    that breaks octet counting falls back to newlines for the rest of the stream. A frame or
    line longer than max_len is skipped whole and its reason kept in `dropped`.
    """

    def __init__(self, max_len: int) -> None:
        self.max_len = max_len
        self.buf = bytearray()
        self.octet_mode: bool | None = None
        self.skip = 0  # bytes still to discard of an over-long frame
        self.skipping_line = False  # discarding an over-long line up to its newline
        self.dropped: list[str] = []

    def feed(self, chunk: bytes) -> list[bytes]:
        """The messages completed by chunk."""
        buf = self.buf
        buf += chunk
        if self.octet_mode is None:
            if not buf or (len(buf) < 9 and buf.isdigit()):
                return []
            self.octet_mode = OCTET_PREFIX.match(buf) is not None
        messages: list[bytes] = []
        while buf:
            if self.skip:
                n = min(self.skip, len(buf))
                del buf[:n]
                self.skip -= n
                continue
            if self.octet_mode:
                m = OCTET_PREFIX.match(buf)
                if m is None:
                    if len(buf) < 9 and buf.isdigit():
                        break  # the length prefix is still arriving
                    self.octet_mode = False  # a sender that mixes framings
                    continue
                length, start = int(m.group(0)), m.end()
                if length > self.max_len:
                    self.dropped.append("frame_too_long")
                    del buf[:start]
                    self.skip = length
                    continue
                if len(buf) < start + length:
                    break
                messages.append(bytes(buf[start : start + length]).rstrip(b"\r\n"))
                del buf[: start + length]
            else:
                end = buf.rfind(b"\n")
                if end < 0:
                    if len(buf) > self.max_len:
                        if not self.skipping_line:
                            self.dropped.append("line_too_long")
                        self.skipping_line = True
                        buf.clear()
                    break
                block = bytes(buf[:end])
                del buf[: end + 1]
                lines = block.split(b"\n")
                if self.skipping_line:  # the tail of an over-long line
                    lines = lines[1:]
                    self.skipping_line = False
                if len(block) > self.max_len and any(len(line) > self.max_len for line in lines):
                    self.dropped.extend("line_too_long" for line in lines if len(line) > self.max_len)
                    lines = [line for line in lines if len(line) <= self.max_len]
                if b"\r" in block:
                    lines = [line[:-1] if line.endswith(b"\r") else line for line in lines]
                messages.extend(lines)
        return messages

    def finish(self) -> list[bytes]:
        """The last message of a stream that ended without its newline."""
        rest = bytes(self.buf).rstrip(b"\r\n")
        self.buf.clear()
        if self.skip or self.skipping_line or not rest.strip():
            return []
        return [rest]


UDP_RCVBUF = 32 * 1024 * 1024


def _grow_receive_buffer(sock: socket.socket | None) -> None:
    """A bigger kernel buffer for UDP bursts (as root past net.core.rmem_max, SO_RCVBUFFORCE)."""
    if sock is None:
        return
    for opt in (getattr(socket, "SO_RCVBUFFORCE", None), socket.SO_RCVBUF):
        if opt is None:
            continue
        try:
            sock.setsockopt(socket.SOL_SOCKET, opt, UDP_RCVBUF)
            return
        except OSError:
            continue


def tls_context(cfg: SyslogSettings) -> ssl.SSLContext:
    """Server context for RFC 5425: TLS 1.2+, the configured certificate, optional client certs."""
    if cfg.tls_cert is None or cfg.tls_key is None:
        raise ValueError("syslog.tls_port needs syslog.tls_cert and syslog.tls_key (PEM files)")
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(cfg.tls_cert, cfg.tls_key)
    if cfg.tls_client_ca is not None:
        ctx.load_verify_locations(cfg.tls_client_ca)
        ctx.verify_mode = ssl.CERT_REQUIRED
    return ctx


class _UdpProtocol(asyncio.DatagramProtocol):
    """Gathers each sender's datagrams for up to UDP_LINGER_S, then offers them as one batch."""

    def __init__(self, receiver: SyslogReceiver) -> None:
        self.receiver = receiver
        self.pending: dict[tuple[str, int], tuple[int, list[bytes]]] = {}
        self.lines = 0
        self.timer: asyncio.TimerHandle | None = None

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        # One message per datagram (RFC 5426); some senders pack several lines into one.
        lines = [line.rstrip(b"\r") for line in data.rstrip(b"\r\n\x00").split(b"\n")]
        entry = self.pending.get(addr)
        if entry is None:
            self.pending[addr] = (time.time_ns(), lines)
        else:
            entry[1].extend(lines)
        self.lines += len(lines)
        if self.lines >= UDP_BATCH_LINES:
            self.flush()
        elif self.timer is None:
            self.timer = asyncio.get_running_loop().call_later(UDP_LINGER_S, self.flush)

    def flush(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        pending, self.pending, self.lines = self.pending, {}, 0
        for addr, (received_at_ns, lines) in pending.items():
            self.receiver.sink.offer(self.receiver.batch(lines, "udp", addr, received_at_ns))

    def connection_lost(self, exc: Exception | None) -> None:
        self.flush()

    def error_received(self, exc: Exception) -> None:
        ERRORS.labels("collector.syslog", type(exc).__name__).inc()


async def run_syslog(settings: Settings, cfg: SyslogSettings) -> None:
    """Run until SIGINT/SIGTERM, then flush what was received to Kafka and stop."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)  # the sink reports outages itself
    sources = load_sources(settings.sources_file)  # before anything starts: a bad file stops here
    name = f"syslog-{cfg.tcp_port or cfg.udp_port}"
    sink = KafkaSink(
        settings.kafka_bootstrap, settings.topic("raw"), "collector.syslog",
        spool_dir=settings.spool.folder(name), spool_max_bytes=settings.spool.max_bytes,
    )
    await sink.start()
    receiver = SyslogReceiver(cfg, sink, sources)
    await receiver.start()
    if cfg.metrics_port:
        start_http_server(cfg.metrics_port, addr=cfg.host, registry=REGISTRY)
    log.info(
        "syslog collector listening on %s (udp %s, tcp %s, tls %s), sending to %s at %s",
        cfg.host, cfg.udp_port, cfg.tcp_port, cfg.tls_port, settings.topic("raw"), settings.kafka_bootstrap,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    print("READY", flush=True)
    await stop.wait()
    await receiver.stop()
    await sink.stop()
