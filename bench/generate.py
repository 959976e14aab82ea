"""Synthetic traffic for the benchmarks: a mix of the city's log sources, every line unique.

The mix (per 20 lines): 6 firewall sessions as JSON lines, 5 WAF access lines (RFC 5424 with
structured data and Chinese), 4 cron/systemd lines (RFC 3164), 4 internal sshd logins and
1 failed sshd login from a rotating set of external addresses (which feeds the brute-force
correlation, so detection and windows carry load too). Device clocks are China Standard Time.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import orjson

from soc.story import CST


def _bsd(ts: datetime) -> str:
    return ts.strftime("%b ") + f"{ts.day:2d}" + ts.strftime(" %H:%M:%S")


def lines(n: int, start: datetime | None = None, per_second: int = 5000, tag: str = "bench") -> list[bytes]:
    """n unique lines whose device timestamps advance at per_second lines per second."""
    t0 = (start or datetime.now(CST)).astimezone(CST)
    out: list[bytes] = []
    for i in range(n):
        ts = t0 + timedelta(seconds=i / per_second)
        k = i % 20
        if k < 6:
            doc = {
                "@timestamp": ts.isoformat(timespec="milliseconds"),
                "observer": {"vendor": "Huawei", "product": "USG6000E", "type": "firewall", "name": "extranet-fw-01"},
                "event": {"action": "permit" if i % 7 else "deny", "category": ["network"]},
                "source": {"ip": f"10.{30 + i % 8}.{(i >> 8) % 256}.{i % 256}", "port": 1024 + i % 60000},
                "destination": {"ip": f"10.10.{i % 16}.8", "port": (443, 80, 22, 3306)[i % 4]},
                "network": {"transport": "tcp", "bytes": 200 + i % 5000},
                "message": f"会话 {tag}-{i}",
            }
            out.append(orjson.dumps(doc))
        elif k < 11:
            out.append(
                (f"<134>1 {ts.isoformat(timespec='milliseconds')} gov-waf-01 waf {i % 65536} ACCESS "
                 f'[access@32473 tenant="市大数据局" site="政务服务网"] '
                 f"GET /api/portal/news?page={i} 200 from 198.51.100.{i % 250} {tag}-{i}").encode()
            )
        elif k < 15:
            out.append(
                f"<78>{_bsd(ts)} gov-cloud-app-0{i % 9} CROND[{i % 65536}]: (root) CMD (run-parts /etc/cron.hourly) "
                f"{tag}-{i}".encode()
            )
        elif k < 19:
            out.append(
                f"<86>{_bsd(ts)} gov-cloud-db-0{i % 9} sshd[{i % 65536}]: Accepted publickey for deploy from "
                f"10.20.{i % 200}.15 port {1024 + i % 60000} ssh2: RSA SHA256:{tag}{i}".encode()
            )
        else:
            out.append(
                f"<38>{_bsd(ts)} gov-cloud-web-0{i % 3} sshd[{i % 65536}]: Failed password for root from "
                f"203.0.113.{(i // 20) % 50} port {1024 + i % 60000} ssh2".encode()
            )
    return out
