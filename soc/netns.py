"""A network namespace with a veth link to the host, for tests and the demo of blocking.

The namespace (`inside`) stands for a protected host whose nftables the platform drives; the
host side of the link carries two addresses, an attacker's and a bystander's, so a packet from
each can be sent in and seen dropped or passed. Each lab takes its own /29 of the benchmarking
range (RFC 2544, 198.18.0.0/15), so labs made at once (tests, the demo) do not collide, on a link
that leads nowhere else: nothing else is ever a target. Needs root and iproute2.
"""

from __future__ import annotations

import ipaddress
import random
import subprocess
import uuid
from dataclasses import dataclass

RANGE = ipaddress.ip_network("198.18.0.0/15")


def _run(*argv: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, check=check, capture_output=True, text=True, timeout=30)


@dataclass
class NetLab:
    name: str
    host_if: str
    bystander: str
    inside: str
    attacker: str

    @classmethod
    def create(cls) -> NetLab:
        tag = uuid.uuid4().hex[:6]
        base = RANGE.network_address + 8 * random.randrange(RANGE.num_addresses // 8)
        net = cls(f"soc-{tag}", f"soch{tag}", str(base + 1), str(base + 2), str(base + 6))
        peer = f"socn{tag}"
        _run("ip", "netns", "add", net.name)
        try:
            _run("ip", "link", "add", net.host_if, "type", "veth", "peer", "name", peer)
            _run("ip", "link", "set", peer, "netns", net.name)
            for addr in (net.bystander, net.attacker):
                _run("ip", "addr", "add", f"{addr}/32", "dev", net.host_if)
            _run("ip", "link", "set", net.host_if, "up")
            _run("ip", "route", "add", f"{net.inside}/32", "dev", net.host_if, "src", net.bystander)
            _run("ip", "netns", "exec", net.name, "ip", "addr", "add", f"{net.inside}/29", "dev", peer)
            _run("ip", "netns", "exec", net.name, "ip", "link", "set", peer, "up")
            _run("ip", "netns", "exec", net.name, "ip", "link", "set", "lo", "up")
        except subprocess.CalledProcessError:
            net.delete()
            raise
        return net

    def reaches(self, source: str) -> bool:
        """Whether a ping from `source` (a host-side address) into the namespace is answered."""
        return _run("ping", "-c", "1", "-W", "1", "-I", source, self.inside, check=False).returncode == 0

    def delete(self) -> None:
        _run("ip", "link", "del", self.host_if, check=False)
        _run("ip", "netns", "del", self.name, check=False)
