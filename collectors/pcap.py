"""`soc collect pcap`: packets (a capture file or a live interface) → flow events → soc.raw.

scapy reads the packets; this module keeps one flow per connection (the 5-tuple, both
directions together, the first packet's sender as the source) and emits an ECS flow event when
the connection closes (FIN from both sides, or RST; reported CLOSE_GRACE_S later so the
last ACKs count), after `idle_s` of packet time without a
packet, after `active_s` of a long connection (then it goes on as a new record of the same
flow), or at the end of the capture (of a live capture: its stop by SIGTERM/SIGINT). Scans and
floods therefore show as many short flows where no device logs them. Each event is a JSON line
with its own @timestamp, so reading the same capture twice indexes the same documents once.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
from prometheus_client import start_http_server

from collectors.kafka_sink import KafkaSink
from soc.config import PcapSettings, Settings
from soc.metrics import DECODED_PACKETS, ERRORS, RECEIVED, RECEIVED_PACKETS, REGISTRY, SENT
from soc.model import RawBatch, iso

log = logging.getLogger(__name__)

STAGE = "collector.pcap"
TCP_FLAG_NAMES = {"F": "FIN", "S": "SYN", "R": "RST", "P": "PSH", "A": "ACK", "U": "URG", "E": "ECE", "C": "CWR"}
CLOSE_GRACE_S = 2.0
IANA_TRANSPORT = {6: "tcp", 17: "udp", 1: "icmp", 58: "ipv6-icmp"}


@dataclass
class Flow:
    """One connection seen on the wire."""

    src: str
    sport: int
    dst: str
    dport: int
    transport: str
    first: float
    last: float
    src_packets: int = 0
    src_bytes: int = 0
    dst_packets: int = 0
    dst_bytes: int = 0
    flags: set[str] = field(default_factory=set)
    fin_from: set[str] = field(default_factory=set)
    reset: bool = False
    closed_at: float | None = None

    def to_event(self, observer: str, reason: str) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "@timestamp": iso(datetime.fromtimestamp(self.first, UTC)),
            "event": {
                "kind": "event", "category": ["network"], "type": ["connection", "end" if reason == "closed" else "info"],
                "action": f"flow_{reason}", "module": "pcap", "dataset": "pcap.flow",
                "start": iso(datetime.fromtimestamp(self.first, UTC)),
                "end": iso(datetime.fromtimestamp(self.last, UTC)),
                "duration": int((self.last - self.first) * 1e9),
            },
            "source": {"ip": self.src, "packets": self.src_packets, "bytes": self.src_bytes},
            "destination": {"ip": self.dst, "packets": self.dst_packets, "bytes": self.dst_bytes},
            "network": {"transport": self.transport, "type": "ipv6" if ":" in self.src else "ipv4",
                        "packets": self.src_packets + self.dst_packets, "bytes": self.src_bytes + self.dst_bytes},
            "observer": {"type": "sensor", "name": observer, "product": "soc-pcap"},
            "related": {"ip": sorted({self.src, self.dst})},
        }
        if self.transport in ("tcp", "udp"):
            doc["source"]["port"] = self.sport
            doc["destination"]["port"] = self.dport
        if self.flags:
            doc["tcp"] = {"flags": sorted(TCP_FLAG_NAMES.get(f, f) for f in self.flags)}
        return doc


class FlowTable:
    """Packets in, finished flow events out (ordered by when they finished)."""

    def __init__(self, observer: str, idle_s: float, active_s: float, max_flows: int) -> None:
        self.observer = observer
        self.idle_s = idle_s
        self.active_s = active_s
        self.max_flows = max_flows
        self.flows: dict[tuple[str, int, str, int, str], Flow] = {}
        self.now = 0.0
        self.packets = 0  # IP packets counted in a flow

    def packet(self, pkt: Any) -> list[dict[str, Any]]:
        """Account one scapy packet; returns the flow events it finished (maybe none)."""
        from scapy.layers.inet import IP, TCP, UDP
        from scapy.layers.inet6 import IPv6

        if IP not in pkt and IPv6 not in pkt:
            pkt = _raw_ip(pkt)
        if IP in pkt:
            ip, proto = pkt[IP], int(pkt[IP].proto)
        elif IPv6 in pkt:
            ip, proto = pkt[IPv6], int(pkt[IPv6].nh)
        else:
            return []
        self.packets += 1
        ts = float(pkt.time)
        self.now = max(self.now, ts)
        size = len(ip)
        transport = IANA_TRANSPORT.get(proto, str(proto))
        sport = dport = 0
        flags = ""
        if TCP in pkt:
            sport, dport, flags = int(pkt[TCP].sport), int(pkt[TCP].dport), str(pkt[TCP].flags)
        elif UDP in pkt:
            sport, dport = int(pkt[UDP].sport), int(pkt[UDP].dport)
        fwd = (ip.src, sport, ip.dst, dport, transport)
        rev = (ip.dst, dport, ip.src, sport, transport)
        flow = self.flows.get(fwd)
        key = fwd
        if flow is None and rev in self.flows:
            flow, key = self.flows[rev], rev
        done: list[dict[str, Any]] = []
        if flow is not None and flow.closed_at is not None and flags.startswith("S") and "A" not in flags:
            done.append(self.flows.pop(key).to_event(self.observer, "closed"))  # the port is reused
            flow, key = None, fwd
        if flow is None:
            flow = Flow(ip.src, sport, ip.dst, dport, transport, ts, ts)
            self.flows[key] = flow
        flow.last = max(flow.last, ts)
        if key == fwd:
            flow.src_packets += 1
            flow.src_bytes += size
        else:
            flow.dst_packets += 1
            flow.dst_bytes += size
        flow.flags.update(flags)
        if "F" in flags:
            flow.fin_from.add(ip.src)
        if "R" in flags:
            flow.reset = True
        if flow.closed_at is None and (flow.reset or len(flow.fin_from) == 2):
            flow.closed_at = ts  # reported after CLOSE_GRACE_S, so its last ACKs count too
        elif flow.closed_at is None and flow.last - flow.first >= self.active_s:
            done.append(self.flows.pop(key).to_event(self.observer, "active_timeout"))
        if len(self.flows) > self.max_flows:
            done.extend(self.expire(force_oldest=len(self.flows) - self.max_flows))
        return done

    def expire(self, force_oldest: int = 0) -> list[dict[str, Any]]:
        """Flows idle for idle_s of packet time (and the oldest ones when over max_flows)."""
        done = []
        for key, flow in sorted(self.flows.items(), key=lambda kv: kv[1].last):
            if flow.closed_at is not None and self.now - flow.closed_at >= CLOSE_GRACE_S:
                done.append(self.flows.pop(key).to_event(self.observer, "closed"))
            elif self.now - flow.last >= self.idle_s or force_oldest > 0:
                done.append(self.flows.pop(key).to_event(self.observer, "idle_timeout"))
                force_oldest -= 1
        return done

    def drain(self) -> list[dict[str, Any]]:
        """Every open flow, as at the end of a capture."""
        done = [f.to_event(self.observer, "closed" if f.closed_at is not None else "capture_end")
                for f in sorted(self.flows.values(), key=lambda f: f.first)]
        self.flows.clear()
        return done


def _raw_ip(pkt: Any) -> Any:
    """Captures of link type raw IPv4/IPv6 (228, 229, 101) arrive as undecoded bytes."""
    from scapy.layers.inet import IP
    from scapy.layers.inet6 import IPv6

    data = bytes(pkt)
    version = data[0] >> 4 if data else 0
    decoded = IP(data) if version == 4 else IPv6(data) if version == 6 else pkt
    decoded.time = pkt.time
    return decoded


def flow_events(path: Path, cfg: PcapSettings, observer: str) -> list[dict[str, Any]]:
    """All flow events of a capture file, in the order the flows finished."""
    from scapy.utils import PcapReader

    table = FlowTable(observer, cfg.idle_s, cfg.active_s, cfg.max_flows)
    out: list[dict[str, Any]] = []
    with PcapReader(str(path)) as reader:
        for n, pkt in enumerate(reader):
            out.extend(table.packet(pkt))
            if n % 1000 == 999:
                out.extend(table.expire())
    out.extend(table.drain())
    return out


async def run_pcap(settings: Settings, cfg: PcapSettings, file: Path | None, iface: str | None) -> None:
    """Read a capture file to its end, or sniff an interface until SIGINT/SIGTERM."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)
    if (file is None) == (iface is None):
        raise SystemExit("give exactly one of --file CAPTURE or --iface NAME")
    source_id = f"pcap:{file.name if file else iface}"
    sink = KafkaSink(settings.kafka_bootstrap, settings.topic("raw"), STAGE,
                     spool_dir=settings.spool.folder(f"pcap-{source_id[5:]}"), spool_max_bytes=settings.spool.max_bytes)
    await sink.start()

    async def emit(events: list[dict[str, Any]]) -> None:
        if events:
            await sink.put(RawBatch([orjson.dumps(doc) for doc in events], time.time_ns(), "pcap", "", source_id, "json"))

    if file is not None:
        await emit(flow_events(file, cfg, source_id))
        log.info("%s: capture read to its end", file)
    else:
        await _sniff(iface or "", cfg, source_id, emit)
    await sink.stop()


CAPTURE_RETRY_S = 5.0


class CaptureError(RuntimeError):
    """The interface could not be opened for capture (no such interface, no CAP_NET_RAW, a bad filter)."""


async def _sniff(iface: str, cfg: PcapSettings, observer: str, emit: Any) -> None:
    """Capture until SIGINT/SIGTERM; flows finished meanwhile are emitted every second and the
    ones still open at the stop are emitted then (`capture_end`), so a stop loses no flow.

    scapy's sniffer runs in its own thread and ends silently when its socket fails (the
    interface was deleted, say): that is logged, counted as an error and the capture is opened
    again every CAPTURE_RETRY_S, keeping the open flows.
    """
    loop = asyncio.get_running_loop()
    table = FlowTable(observer, cfg.idle_s, cfg.active_s, cfg.max_flows)
    lock = threading.Lock()
    finished: list[dict[str, Any]] = []  # flow events from the capture thread, taken every second
    seen = [0]

    def on_packet(pkt: Any) -> None:
        with lock:
            seen[0] += 1
            try:
                finished.extend(table.packet(pkt))
            except Exception as exc:  # noqa: BLE001 - in scapy's thread an exception would end the capture
                ERRORS.labels(STAGE, type(exc).__name__).inc()

    try:
        sniffer = await _open_capture(iface, cfg, on_packet)
    except CaptureError as exc:
        raise SystemExit(f"pcap: {exc}") from None
    _serve_metrics(cfg)
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    log.info("capturing on %s, flows to %s", iface, observer)
    print("READY", flush=True)
    counted = [0, 0]  # packets seen and decoded, as last published
    retry_at = 0.0
    while not stop.is_set():
        try:
            await asyncio.wait_for(stop.wait(), timeout=1.0)
        except TimeoutError:
            pass
        if sniffer is None or not sniffer.thread.is_alive():
            if sniffer is not None:
                log.error("capture on %s ended (%s); opening it again every %.0f s",
                          iface, sniffer.exception or "see scapy's warning above", CAPTURE_RETRY_S)
                ERRORS.labels(STAGE, "capture_lost").inc()
                sniffer, retry_at = None, time.monotonic() + CAPTURE_RETRY_S
            elif time.monotonic() >= retry_at and not stop.is_set():
                try:
                    sniffer = await _open_capture(iface, cfg, on_packet)
                    log.warning("capture on %s open again", iface)
                except CaptureError as exc:
                    ERRORS.labels(STAGE, "capture_open").inc()
                    log.error("%s", exc)
                    retry_at = time.monotonic() + CAPTURE_RETRY_S
        with lock:
            table.now = max(table.now, time.time())
            batch = finished + table.expire()
            finished.clear()
        _count_packets(seen[0], table.packets, counted)
        await emit(batch)
    if sniffer is not None:
        _close_capture(sniffer)
    with lock:  # the capture thread has ended: nothing adds to finished or the table any more
        batch = finished + table.drain()
        finished.clear()
    _count_packets(seen[0], table.packets, counted)
    await emit(batch)
    log.info("capture on %s stopped; its last %d flows are sent", iface, len(batch))


async def _open_capture(iface: str, cfg: PcapSettings, on_packet: Any) -> Any:
    """A running AsyncSniffer, once its socket is open (so no packet after READY is missed)."""
    # The link layers must be registered before the socket opens: it picks its decoder from
    # conf.l2types then, and without scapy.layers.l2 an Ethernet interface is read as raw bytes
    # ("Unable to guess type"), so no packet would ever be decoded.
    import scapy.layers.inet
    import scapy.layers.inet6
    import scapy.layers.l2  # noqa: F401
    from scapy.config import conf
    from scapy.sendrecv import AsyncSniffer

    conf.ifaces.reload()  # scapy caches interface indexes: one deleted and re-created has a new one
    started = threading.Event()
    sniffer = AsyncSniffer(iface=iface, prn=on_packet, store=False, filter=cfg.bpf_filter or None,
                           started_callback=started.set)
    sniffer.start()
    while not started.is_set():
        if not sniffer.thread.is_alive():
            raise CaptureError(f"cannot capture on {iface!r}: {sniffer.exception!r}")
        await asyncio.sleep(0.02)
    return sniffer


def _close_capture(sniffer: Any) -> None:
    from scapy.error import Scapy_Exception

    try:
        sniffer.stop()  # also joins the thread
    except (Scapy_Exception, OSError) as exc:  # it had ended by itself meanwhile
        log.warning("capture ended before the stop: %s", exc)
        sniffer.thread.join(timeout=5)


def _serve_metrics(cfg: PcapSettings) -> None:
    """GET /metrics on 127.0.0.1:pcap.metrics_port (live capture; a capture file is read and done)."""
    if not cfg.metrics_port:
        return
    for family in (RECEIVED, SENT, RECEIVED_PACKETS, DECODED_PACKETS):
        family.labels(STAGE)  # shown as 0 until the first flow or packet
    start_http_server(cfg.metrics_port, addr="127.0.0.1", registry=REGISTRY)


def _count_packets(seen: int, decoded: int, counted: list[int]) -> None:
    """Publish the packet counters once a second instead of once a packet."""
    RECEIVED_PACKETS.labels(STAGE).inc(seen - counted[0])
    DECODED_PACKETS.labels(STAGE).inc(decoded - counted[1])
    counted[0], counted[1] = seen, decoded
