"""The demo's attack story as real syslog lines: ordinary traffic with an SSH brute force in it.

A cloud host of the government cloud (gov-cloud-web-01, 10.10.0.8, part of 政务服务网) is
attacked from an external address (203.0.113.45, a documentation range standing in for the
internet): the extranet firewall (Huawei USG) denies its port scan, the WAF (Sangfor) blocks
its SQL injection, the IDS (Venustech) sees an SSH password attack, and the host logs a burst of
failed root logins, then a successful one. Around it runs the ordinary traffic of the extranet
and the cloud: cron, internal administrators logging in (some through the Topsec bastion host),
a WAF access log in RFC 5424, and firewall sessions as JSON lines. Device clocks are China
Standard Time, as in the city (Topsec NGTOS writes UTC in its `time` field, as real ones do).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import orjson

CST = timezone(timedelta(hours=8))
STORY_SECONDS = 90
ATTACKER = "203.0.113.45"
TARGET_HOST = "gov-cloud-web-01"
TARGET_IP = "10.10.0.8"
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
    """The lines, in sending order; timestamps advance a second or so per line from start.

    By default the story ends about now (it starts STORY_SECONDS ago): device clocks are never
    in the future, and a second run a minute later is a new attack, not the old one continued.
    """
    t = (start or datetime.now(CST) - timedelta(seconds=STORY_SECONDS)).astimezone(CST).replace(microsecond=0)
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

    def bastion(i: int, ok: bool) -> None:
        ts = tick(0.5).astimezone(timezone.utc)
        lines.append(StoryLine(
            (f'id="ngtos" version="1.0" time="{ts:%Y-%m-%d %H:%M:%S}" dev="TopsecOS" pri="info" type="user_login" '
             f'recorder="user_auth" vsid="" vsys_name="default" subtype="用户登录" op="login" user="ops{i % 3}" '
             f'src="10.20.1.{15 + i % 5}" result="{0 if not ok else 1}" msg="{"登录用户成功" if ok else "登录用户失败"}"').encode(),
            "tcp", "ordinary"))

    def firewall_deny(port: int) -> None:
        ts = tick(0.3)
        lines.append(StoryLine(
            (f"<188>{ts:%b %d %Y %H:%M:%S} extranet-fw-01 %%01POLICY/4/POLICYDENY(l):vsys=public, protocol=6, "
             f"source-ip={ATTACKER}, source-port={40000 + port}, destination-ip={TARGET_IP}, destination-port={port}, "
             f"time={ts:%Y/%m/%d %H:%M:%S}, source-zone=untrust, destination-zone=dmz, application-name=, "
             f"rule-name=untrust-dmz-deny.").encode(), "udp", "attack"))

    for i in range(ordinary_rounds // 2):
        ordinary(i)
        if i % 3 == 0:
            bastion(i, ok=i % 2 == 0)
    for port in (21, 22, 23, 445, 1433, 3306, 3389, 8080):
        firewall_deny(port)
    ts = tick(1)
    lines.append(StoryLine(
        (f"<134>{_bsd(ts)} waf-01 fwlog: 日志类型:WEB应用防护, 策略名称:政务服务网防护, 规则ID:13010001, "
         f"源IP:{ATTACKER}, 源端口:52311, 目的IP:{TARGET_IP}, 目的端口:443, 攻击类型:SQL注入, 严重级别:高, "
         f"系统动作:拒绝, URL:zwfw.example.gov.cn/api/login?user=admin%27%20or%201=1--").encode(), "tcp", "attack"))
    ts = tick(1)
    ids = {"dt": "VENUS_IDS_0700R0200B20140925112801", "level": 30, "id": "152323099", "type": "Alert Log",
           "time": int(ts.timestamp() * 1000), "source": {"ip": ATTACKER, "port": 52400},
           "destination": {"ip": TARGET_IP, "port": 22}, "protocol": "TCP", "subject": "SSH_口令暴力破解",
           "message": "nic=1;数据长度=96"}
    lines.append(StoryLine(f"<12>{_bsd(ts)} (none) : ".encode() + orjson.dumps(ids), "tcp", "attack"))
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
