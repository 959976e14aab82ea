"""`soc collect pcap --iface` on a real interface: a veth pair into a network namespace of this test.

The collector captures on the host end; a listener runs in the namespace behind the other end.
Across it go one complete TCP connection, a few SYNs to closed ports (a scan), a connection that
is still open when the collector stops and one UDP exchange. The closed flows reach soc.raw while
the collector runs, the open ones when SIGTERM stops it; /metrics counts every one of them.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import os
import random
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
from elasticsearch import Elasticsearch

from soc.pipeline import LocalPipeline

from .conftest import drop_indices, new_pipeline, raw_messages

pytestmark = pytest.mark.integration

STAGE = 'stage="collector.pcap"'
REPLY_BYTES = 20_000
SCAN_PORTS = 5

# Runs in the namespace: TCP on PORT answers a line with REPLY bytes, then closes, or for a line
# starting with "hold" answers 100 bytes and waits for the client to close; UDP on PORT echoes.
LISTENER = r"""
import socket, sys, threading
port, reply = int(sys.argv[1]), int(sys.argv[2])
def serve(conn):
    with conn:
        data = b""
        while not data.endswith(b"\n"):
            chunk = conn.recv(4096)
            if not chunk:
                return
            data += chunk
        if data.startswith(b"hold"):
            conn.sendall(b"h" * 100)
            while conn.recv(4096):
                pass
        else:
            conn.sendall(b"x" * reply)
def udp():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
        u.bind(("0.0.0.0", port))
        while True:
            data, peer = u.recvfrom(2048)
            u.sendto(data, peer)
threading.Thread(target=udp, daemon=True).start()
srv = socket.create_server(("0.0.0.0", port))
print("READY", flush=True)
while True:
    conn, _ = srv.accept()
    threading.Thread(target=serve, args=(conn,), daemon=True).start()
"""


@dataclass
class Link:
    """A veth pair: `host` end here, `peer` end in network namespace `netns`."""

    netns: str
    host: str
    peer: str
    host_ip: str
    peer_ip: str


def _ip(*args: str) -> None:
    try:
        subprocess.run(["ip", *args], check=True, capture_output=True, text=True, timeout=30)
    except FileNotFoundError as exc:
        pytest.fail(f"the `ip` command (iproute2) is needed to create the test interfaces: {exc}", pytrace=False)
    except subprocess.CalledProcessError as exc:
        pytest.fail(f"`ip {' '.join(args)}` failed ({exc.returncode}): {exc.stderr.strip()}", pytrace=False)


def _free_subnet() -> ipaddress.IPv4Network:
    """A /30 of 10.213.0.0/16 that no interface of this host has an address in."""
    out = subprocess.run(["ip", "-4", "-o", "addr", "show"], check=True, capture_output=True, text=True).stdout
    used = [ipaddress.ip_interface(f.split()[3]).network for f in out.splitlines() if " inet " in f]
    block = ipaddress.ip_network("10.213.0.0/16")
    for _ in range(100):
        net = ipaddress.ip_network(f"{block[random.randrange(0, block.num_addresses, 4)]}/30")
        if not any(net.overlaps(u) for u in used):
            return net
    raise RuntimeError("no free /30 in 10.213.0.0/16")


@contextlib.contextmanager
def _veth_into_netns() -> Iterator[Link]:
    tag = f"{os.getpid():x}{uuid.uuid4().hex[:3]}"[-9:]  # interface names have at most 15 characters
    net = _free_subnet()
    host_ip, peer_ip = (str(a) for a in list(net.hosts())[:2])
    link = Link(netns=f"soc-pcap-{tag}", host=f"scp{tag}h", peer=f"scp{tag}p", host_ip=host_ip, peer_ip=peer_ip)
    _ip("netns", "add", link.netns)
    try:
        _ip("link", "add", link.host, "type", "veth", "peer", "name", link.peer, "netns", link.netns)
        _ip("addr", "add", f"{host_ip}/30", "dev", link.host)
        _ip("link", "set", link.host, "up")
        _ip("-n", link.netns, "addr", "add", f"{peer_ip}/30", "dev", link.peer)
        _ip("-n", link.netns, "link", "set", link.peer, "up")
        _ip("-n", link.netns, "link", "set", "lo", "up")
        yield link
    finally:
        subprocess.run(["ip", "link", "del", link.host], capture_output=True)  # takes the peer end along
        subprocess.run(["ip", "netns", "del", link.netns], capture_output=True)


@contextlib.contextmanager
def _listener(link: Link, port: int) -> Iterator[None]:
    proc = subprocess.Popen(
        ["ip", "netns", "exec", link.netns, sys.executable, "-c", LISTENER, str(port), str(REPLY_BYTES)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.strip() == b"READY", f"the listener in {link.netns} did not start: {line!r}"
        yield
    finally:
        proc.kill()
        proc.wait(timeout=10)


def _flows(p: LocalPipeline, expect: int, timeout: float = 60) -> list[dict[str, Any]]:
    """The flow events in this namespace's soc.raw, once there are at least expect of them."""
    s = p.settings
    return [orjson.loads(m) for m in asyncio.run(raw_messages(s.kafka_bootstrap, s.topic("raw"), expect, timeout))]


def _mine(docs: list[dict[str, Any]], link: Link) -> list[dict[str, Any]]:
    """Flows between the two ends (the kernel's own IPv6 neighbour discovery is left out)."""
    return [d for d in docs if {d["source"]["ip"], d["destination"]["ip"]} == {link.host_ip, link.peer_ip}]


def _ts(value: str) -> float:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


def _assert_times(flow: dict[str, Any], t0: float, t1: float) -> None:
    start, end = _ts(flow["event"]["start"]), _ts(flow["event"]["end"])
    assert t0 - 1 <= start <= end <= t1 + 1, (flow["event"], t0, t1)
    assert flow["@timestamp"] == flow["event"]["start"]
    assert flow["event"]["duration"] == pytest.approx((end - start) * 1e9, abs=2e6)


def _wait_metrics(p: LocalPipeline, flows: int, timeout: float = 60) -> dict[str, float]:
    """The collector's counters once it has received and sent (Kafka acknowledged) `flows` events."""
    deadline = time.monotonic() + timeout
    m: dict[str, float] = {}
    while time.monotonic() < deadline:
        m = p.metrics("pcap")
        if m.get(f"soc_received_total{{{STAGE}}}") == flows and m.get(f"soc_sent_total{{{STAGE}}}") == flows:
            return m
        time.sleep(0.5)
    raise AssertionError(f"the collector never counted {flows} flows received and sent: "
                         f"{ {k: v for k, v in m.items() if 'pcap' in k} }\n{p.tail('pcap-iface')}")


def test_live_capture_emits_flows_and_flushes_open_ones_at_stop(
    tmp_path: Path, es: Elasticsearch, kafka: str
) -> None:
    p = new_pipeline(tmp_path / "run", SOC_PCAP__IDLE_S="600")  # only closes and the stop end a flow here
    prefix = p.ns.prefix
    port = random.randint(20000, 29000)
    held: socket.socket | None = None
    try:
        with _veth_into_netns() as link, _listener(link, port):
            p.start_pcap_collector(link.host)
            t0 = time.time()
            # One whole connection: request, a 20 kB answer, FIN from both sides.
            with socket.create_connection((link.peer_ip, port), timeout=10) as c:
                client_port = c.getsockname()[1]
                c.sendall(b"GET /\n")
                got = b""
                while chunk := c.recv(65536):
                    got += chunk
            assert len(got) == REPLY_BYTES
            # A scan: SYNs to closed ports, each refused with a RST.
            scan_ports = {port + 1 + i for i in range(SCAN_PORTS)}
            for dport in sorted(scan_ports):
                with socket.socket() as s, pytest.raises(ConnectionRefusedError):
                    s.settimeout(10)
                    s.connect((link.peer_ip, dport))
            # Still open when the collector stops: a connection and a UDP exchange.
            held = socket.create_connection((link.peer_ip, port), timeout=10)
            held.sendall(b"hold\n")
            assert held.recv(100)
            held_port = held.getsockname()[1]
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
                u.settimeout(10)
                u.sendto(b"ping", (link.peer_ip, port))
                assert u.recvfrom(100)[0] == b"ping"
                udp_port = u.getsockname()[1]

            # The closed flows are sent while the collector runs (2 s after their close).
            closed = 1 + SCAN_PORTS
            m = _wait_metrics(p, closed)
            with urllib.request.urlopen(f"http://127.0.0.1:{p.ns.pcap_metrics_port}/metrics", timeout=5) as resp:
                assert resp.headers["Content-Type"].startswith("text/plain")
                text = resp.read().decode()
            assert "# TYPE soc_received_total counter" in text and "# TYPE soc_received_packets_total counter" in text
            docs = _flows(p, closed)
            assert len(docs) == closed, docs  # exactly what the counters say, nothing more
            packets = sum(d["network"]["packets"] for d in docs)
            assert m[f"soc_received_packets_total{{{STAGE}}}"] >= m[f"soc_decoded_packets_total{{{STAGE}}}"] >= packets
            assert not any(k.startswith("soc_errors_total") and "pcap" in k and v for k, v in m.items()), m

            conn = [d for d in docs if d["destination"].get("port") == port]
            assert len(conn) == 1, docs
            f = conn[0]
            assert (f["source"]["ip"], f["source"]["port"], f["destination"]["ip"], f["destination"]["port"],
                    f["network"]["transport"]) == (link.host_ip, client_port, link.peer_ip, port, "tcp")
            assert f["event"]["action"] == "flow_closed" and f["event"]["dataset"] == "pcap.flow"
            assert {"SYN", "ACK", "PSH", "FIN"} <= set(f["tcp"]["flags"])
            assert f["source"]["packets"] >= 3 and f["destination"]["packets"] >= 2
            assert f["destination"]["bytes"] > REPLY_BYTES  # the answer went server → client
            assert 0 < f["source"]["bytes"] < f["destination"]["bytes"]
            assert f["observer"]["name"] == f"pcap:{link.host}"
            _assert_times(f, t0, time.time())

            scan = [d for d in docs if d["destination"].get("port") in scan_ports]
            assert {d["destination"]["port"] for d in scan} == scan_ports
            assert len({d["source"]["port"] for d in scan}) == SCAN_PORTS  # one flow per probe
            for d in scan:
                assert d["source"]["ip"] == link.host_ip and d["destination"]["ip"] == link.peer_ip
                assert set(d["tcp"]["flags"]) == {"SYN", "RST", "ACK"}
                assert (d["source"]["packets"], d["destination"]["packets"]) == (1, 1)
                assert d["source"]["bytes"] > 0 and d["destination"]["bytes"] > 0
                assert d["event"]["action"] == "flow_closed"
                _assert_times(d, t0, time.time())

            # SIGTERM: the flows still open are sent before the collector exits.
            assert p.stop_pcap_collector() == 0, p.tail("pcap-iface")
            t1 = time.time()
            held.close()
            held = None
            docs = _mine(_flows(p, closed + 2), link)
            at_stop = [d for d in docs if d["event"]["action"] == "flow_capture_end"]
            assert len(docs) == closed + 2 and len(at_stop) == 2, docs
            tcp = next(d for d in at_stop if d["network"]["transport"] == "tcp")
            assert (tcp["source"]["ip"], tcp["source"]["port"], tcp["destination"]["ip"],
                    tcp["destination"]["port"]) == (link.host_ip, held_port, link.peer_ip, port)
            assert {"SYN", "ACK", "PSH"} <= set(tcp["tcp"]["flags"]) and "FIN" not in tcp["tcp"]["flags"]
            assert tcp["source"]["packets"] >= 3 and tcp["destination"]["bytes"] > 100
            _assert_times(tcp, t0, t1)
            udp = next(d for d in at_stop if d["network"]["transport"] == "udp")
            assert (udp["source"]["ip"], udp["source"]["port"], udp["destination"]["ip"],
                    udp["destination"]["port"]) == (link.host_ip, udp_port, link.peer_ip, port)
            assert (udp["source"]["packets"], udp["destination"]["packets"]) == (1, 1)
            assert udp["source"]["bytes"] == udp["destination"]["bytes"] == 20 + 8 + 4
            assert "tcp" not in udp
            _assert_times(udp, t0, t1)
    finally:
        if held is not None:
            held.close()
        p.stop()
        drop_indices(es, prefix)
