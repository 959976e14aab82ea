"""`soc collect syslog`: receive syslog over UDP and TCP and produce RawRecords to soc.raw.

TCP framing (RFC 6587) is detected per connection from its first bytes: octet counting
(`<len> <msg>`) when the connection starts with digits and a space, else newline framing (LF,
with a trailing CR removed). The message bytes are passed on exactly as received; decoding and
parsing happen in the normalize stage, which keeps every byte.
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
from soc.model import RawRecord

log = logging.getLogger(__name__)

OCTET_PREFIX = re.compile(rb"^[1-9][0-9]{0,7} ")


class SyslogReceiver:
    """The UDP and TCP servers of one collector process, sharing one Kafka sink."""

    def __init__(self, cfg: SyslogSettings, sink: KafkaSink, sources: Sources | None = None) -> None:
        self.cfg = cfg
        self.sink = sink
        self.sources = sources or Sources([])
        self.servers: list[asyncio.AbstractServer] = []
        self.transports: list[asyncio.BaseTransport] = []

    def record(self, message: bytes, transport: str, peer: tuple[str, int]) -> RawRecord:
        source = self.sources.for_peer(peer[0])
        declared = bool(source.peers)
        return RawRecord(
            message=message,
            received_at_ns=time.time_ns(),
            collector=f"syslog-{transport}",
            peer=f"{peer[0]}:{peer[1]}",
            source_id=source.id,
            format_hint=source.format or "syslog",
            charset=source.charset if declared else self.cfg.charset,
            timezone=source.timezone if declared else self.cfg.timezone,
            tenant=source.tenant if declared else self.cfg.tenant,
        )

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        if self.cfg.udp_port:
            transport, _ = await loop.create_datagram_endpoint(
                lambda: _UdpProtocol(self), local_addr=(self.cfg.host, self.cfg.udp_port)
            )
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
        for server in self.servers:
            await server.wait_closed()

    async def _handle_tcp(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, transport: str) -> None:
        peer = writer.get_extra_info("peername") or ("unknown", 0)
        buf = bytearray()
        octet_mode: bool | None = None
        max_len = self.cfg.max_line_bytes
        try:
            while True:
                chunk = await reader.read(256 * 1024)
                if not chunk:
                    break
                buf += chunk
                if octet_mode is None:
                    if len(buf) < 9 and buf[:1].isdigit() and b" " not in buf:
                        continue
                    octet_mode = OCTET_PREFIX.match(buf) is not None
                octet_mode = await self._drain(buf, octet_mode, peer, max_len, transport)
            if buf.strip(b"\r\n"):
                await self.sink.put(self.record(bytes(buf.rstrip(b"\r\n")), transport, peer))
        except (ConnectionError, asyncio.IncompleteReadError, ssl.SSLError) as exc:
            ERRORS.labels("collector.syslog", type(exc).__name__).inc()
        finally:
            writer.close()

    async def _drain(
        self, buf: bytearray, octet_mode: bool, peer: tuple[str, int], max_len: int, transport: str
    ) -> bool:
        """Emit every complete frame at the start of buf; keep the incomplete rest."""
        while buf:
            if octet_mode:
                m = OCTET_PREFIX.match(buf)
                if m is None:
                    # A sender that mixes framings: fall back to newlines for the rest.
                    octet_mode = False
                    continue
                length = int(m.group(0))
                start = m.end()
                if length > max_len:
                    DROPPED.labels("collector.syslog", "frame_too_long").inc()
                    log.warning("dropping a %d-byte frame from %s (max %d)", length, peer[0], max_len)
                    del buf[: min(len(buf), start + length)]
                    continue
                if len(buf) < start + length:
                    return octet_mode
                message = bytes(buf[start : start + length])
                del buf[: start + length]
                await self.sink.put(self.record(message.rstrip(b"\r\n"), transport, peer))
            else:
                end = buf.find(b"\n")
                if end < 0:
                    if len(buf) > max_len:
                        DROPPED.labels("collector.syslog", "line_too_long").inc()
                        log.warning("dropping a line over %d bytes from %s", max_len, peer[0])
                        buf.clear()
                    return octet_mode
                line = bytes(buf[:end])
                del buf[: end + 1]
                if line.endswith(b"\r"):
                    line = line[:-1]
                await self.sink.put(self.record(line, transport, peer))
        return octet_mode


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
    def __init__(self, receiver: SyslogReceiver) -> None:
        self.receiver = receiver

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        # One message per datagram (RFC 5426); some senders pack several lines into one.
        for line in data.rstrip(b"\r\n\x00").split(b"\n"):
            self.receiver.sink.offer(self.receiver.record(line.rstrip(b"\r"), "udp", addr))

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
