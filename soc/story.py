"""The demo's attack story as real syslog lines: ordinary traffic with an SSH brute force in it.

A cloud host of the government cloud (gov-cloud-web-01) is attacked from an external address
(203.0.113.45, a documentation range standing in for the internet): a burst of failed root
logins, then a successful one. Around it runs the ordinary traffic of the extranet and the
cloud: cron, systemd, internal administrators logging in, a WAF access log in RFC 5424, and
firewall sessions as JSON lines. Device clocks are China Standard Time, as in the city.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import orjson

CST = timezone(timedelta(hours=8))
ATTACKER = "203.0.113.45"
TARGET_HOST = "gov-cloud-web-01"
# The alert the story must raise (the title of rules/correlation/ssh_bruteforce.yml).
BRUTE_FORCE_RULE = "SSH 暴力破解"


@dataclass(frozen=True, slots=True)
class StoryLine:
    """One line to send, how to send it, and what it is in the story."""

    data: bytes
    transport: str  # "tcp" or "udp"
    role: str  # "ordinary" or "attack"


def _bsd(ts: datetime) -> str:
    return ts.strftime("%b ") + f"{ts.day:2d}" + ts.strftime(" %H:%M:%S")


def story(start: datetime | None = None, failures: int = 12, ordinary_rounds: int = 20) -> list[StoryLine]:
    """The lines, in sending order; timestamps advance a second or so per line from start."""
    t = (start or datetime.now(CST)).astimezone(CST).replace(microsecond=0)
    lines: list[StoryLine] = []

    def tick(seconds: float = 1.0) -> datetime:
        nonlocal t
        t += timedelta(seconds=seconds)
        return t

    def ordinary(i: int) -> None:
        ts = tick(0.5)
        lines.append(StoryLine(
            f"<78>{_bsd(ts)} gov-cloud-app-02 CROND[{3100 + i}]: (root) CMD (run-parts /etc/cron.hourly)".encode(),
            "udp", "ordinary"))
        ts = tick(0.5)
        lines.append(StoryLine(
            f"<86>{_bsd(ts)} gov-cloud-db-01 sshd[{4200 + i}]: Accepted publickey for deploy from 10.20.1.15 "
            f"port {50100 + i} ssh2: RSA SHA256:q1w2e3r4t5".encode(), "tcp", "ordinary"))
        ts = tick(0.5)
        lines.append(StoryLine(
            (f"<134>1 {ts.isoformat(timespec='milliseconds')} gov-waf-01 waf {7000 + i} ACCESS "
             f'[access@32473 tenant="市大数据局" site="政务服务网"] '
             f"GET /api/portal/news?page={i} 200 from 198.51.100.{10 + i % 50}").encode(), "tcp", "ordinary"))
        ts = tick(0.5)
        fw = {
            "@timestamp": ts.isoformat(timespec="seconds"),
            "observer": {"vendor": "Huawei", "product": "USG6000E", "type": "firewall", "name": "extranet-fw-01"},
            "event": {"action": "permit", "category": ["network"], "type": ["connection", "allowed"]},
            "source": {"ip": f"10.30.{i % 8}.{20 + i}", "port": 40000 + i},
            "destination": {"ip": "10.10.0.8", "port": 443},
            "network": {"transport": "tcp"},
            "labels": {"zone": "电子政务外网"},
            "message": "会话建立: 允许",
        }
        lines.append(StoryLine(orjson.dumps(fw), "tcp", "ordinary"))

    for i in range(ordinary_rounds // 2):
        ordinary(i)
    for n in range(failures):
        ts = tick(2)
        user = "root" if n % 4 else "invalid user admin"
        lines.append(StoryLine(
            f"<38>{_bsd(ts)} {TARGET_HOST} sshd[{9100 + n}]: Failed password for {user} from {ATTACKER} "
            f"port {52000 + n} ssh2".encode(), "tcp", "attack"))
    ts = tick(3)
    lines.append(StoryLine(
        f"<38>{_bsd(ts)} {TARGET_HOST} sshd[{9100 + failures}]: Accepted password for root from {ATTACKER} "
        f"port {52000 + failures} ssh2".encode(), "tcp", "attack"))
    for i in range(ordinary_rounds // 2, ordinary_rounds):
        ordinary(i)
    return lines
