"""`soc collect pcap` on a real capture file: connections, a port scan and DNS become flow events."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from elasticsearch import Elasticsearch
from scapy.layers.dns import DNS, DNSQR
from scapy.layers.inet import IP, TCP, UDP
from scapy.packet import Raw
from scapy.utils import wrpcap

from soc.pipeline import count, wait_for_count

from .conftest import drop_indices, new_pipeline

pytestmark = pytest.mark.integration

CLIENT, SERVER, SCANNER = "10.20.1.15", "10.10.0.8", "203.0.113.66"


def _capture(path: Path) -> int:
    """A capture with one HTTP connection, one DNS exchange and a SYN scan of 30 ports."""
    t = 1_764_000_000.0
    pkts = []

    def at(p, dt):  # type: ignore[no-untyped-def]
        nonlocal t
        t += dt
        p.time = t
        pkts.append(p)

    c, s = IP(src=CLIENT, dst=SERVER), IP(src=SERVER, dst=CLIENT)
    at(c / TCP(sport=50000, dport=80, flags="S", seq=1), 0.0)
    at(s / TCP(sport=80, dport=50000, flags="SA", seq=100, ack=2), 0.001)
    at(c / TCP(sport=50000, dport=80, flags="A", seq=2, ack=101), 0.001)
    at(c / TCP(sport=50000, dport=80, flags="PA", seq=2, ack=101) / Raw(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"), 0.01)
    at(s / TCP(sport=80, dport=50000, flags="PA", seq=101, ack=30) / Raw(b"HTTP/1.1 200 OK\r\n\r\n" + b"x" * 1000), 0.02)
    at(c / TCP(sport=50000, dport=80, flags="FA", seq=30, ack=1120), 0.01)
    at(s / TCP(sport=80, dport=50000, flags="FA", seq=1120, ack=31), 0.001)
    at(c / TCP(sport=50000, dport=80, flags="A", seq=31, ack=1121), 0.001)
    at(IP(src=CLIENT, dst="10.10.0.53") / UDP(sport=53001, dport=53) / DNS(rd=1, qd=DNSQR(qname="www.gov.cn")), 0.1)
    at(IP(src="10.10.0.53", dst=CLIENT) / UDP(sport=53, dport=53001) / DNS(id=0, qr=1, qd=DNSQR(qname="www.gov.cn")), 0.002)
    for port in range(20, 50):
        at(IP(src=SCANNER, dst=SERVER) / TCP(sport=61000, dport=port, flags="S"), 0.001)
        at(IP(src=SERVER, dst=SCANNER) / TCP(sport=port, dport=61000, flags="RA"), 0.0005)
    wrpcap(str(path), pkts)
    return 1 + 1 + 30


def test_a_capture_file_becomes_flow_events(tmp_path: Path, es: Elasticsearch, kafka: str) -> None:
    cap = tmp_path / f"dmz-{uuid.uuid4().hex[:6]}.pcap"
    flows = _capture(cap)
    p = new_pipeline(tmp_path / "run")
    prefix = p.ns.prefix
    try:
        p.start_worker()
        assert p.run_once("pcap", ["collect", "pcap", "--file", str(cap)]) == 0, p.tail("pcap")
        q = {"term": {"event.dataset": "pcap.flow"}}
        assert wait_for_count(es, f"{prefix}-events-*", flows, 120, q) == flows
        http = es.search(index=f"{prefix}-events-*", query={"term": {"destination.port": 80}})["hits"]["hits"]
        assert len(http) == 1
        f = http[0]["_source"]
        assert (f["source"]["ip"], f["source"]["port"], f["destination"]["ip"]) == (CLIENT, 50000, SERVER)
        assert f["source"]["packets"] == 5 and f["destination"]["packets"] == 3
        assert f["destination"]["bytes"] > 1000  # the response body went server → client
        assert {"SYN", "ACK", "FIN", "PSH"} <= set(f["tcp"]["flags"])
        assert f["event"]["action"] == "flow_closed"
        assert f["event"]["start"] < f["event"]["end"]
        # The scan: one short flow per probed port from the scanner, each refused (RST).
        scan = {"term": {"source.ip": SCANNER}}
        assert count(es, f"{prefix}-events-*", scan) == 30
        # Reading the same capture again adds nothing.
        assert p.run_once("pcap2", ["collect", "pcap", "--file", str(cap)]) == 0
        import time

        time.sleep(5)
        assert count(es, f"{prefix}-events-*", q) == flows
    finally:
        p.stop()
        drop_indices(es, prefix)
