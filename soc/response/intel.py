"""A local threat-intelligence file of indicators: addresses and networks, each with a label.

One indicator per line, `indicator,label[,source]` (CSV, UTF-8), `#` for comments, e.g.
`203.0.113.0/24,已知扫描源,CNCERT 通报 2026-11`. Loaded once per process; a line that is no
address or network is refused with its line number, so a typo is found at start, not missed.
Nothing is downloaded: the SOC puts the file there (as its feeds are usually delivered).
"""

from __future__ import annotations

import csv
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from soc.config import ConfigError


@dataclass(frozen=True, slots=True)
class Indicator:
    network: ipaddress.IPv4Network | ipaddress.IPv6Network
    label: str
    source: str


class ThreatIntel:
    def __init__(self, indicators: list[Indicator]) -> None:
        self.indicators = sorted(indicators, key=lambda i: i.network.prefixlen, reverse=True)

    def match(self, ip: str) -> list[dict[str, str]]:
        try:
            addr = ipaddress.ip_address(ip)
        except ValueError:
            return []
        return [{"indicator": str(i.network), "label": i.label, "source": i.source}
                for i in self.indicators if i.network.version == addr.version and addr in i.network]


def load_intel(path: Path | None) -> ThreatIntel:
    if path is None:
        return ThreatIntel([])
    out = []
    try:
        with path.open(encoding="utf-8", newline="") as f:
            for n, row in enumerate(csv.reader(f), start=1):
                if not row or not row[0].strip() or row[0].lstrip().startswith("#"):
                    continue
                try:
                    net = ipaddress.ip_network(row[0].strip(), strict=False)
                except ValueError:
                    raise ConfigError(f"{path}:{n}: {row[0]!r} is no address or network") from None
                out.append(Indicator(net, (row[1] if len(row) > 1 else "").strip() or "情报指标",
                                     (row[2] if len(row) > 2 else "").strip()))
    except OSError as exc:
        raise ConfigError(f"response.threat_intel_file: {exc}") from None
    return ThreatIntel(out)
