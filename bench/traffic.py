"""A traffic generator for the end-to-end benchmark: real device lines, with attacks planted.

Background: real lines written by others (../shared/corpus, read at run time, never copied):
the Chinese devices of cn-vendors/samples.jsonl (firewalls, IPS/IDS, WAF, bastion hosts, VPN,
EDR, anti-DDoS... each declared in the sources file as the device the corpus names, as a site
would) and the open formats of Elastic's integration tests (Linux auth and syslog, auditd,
Suricata, Snort, nginx, Apache, ModSecurity, FortiGate, iptables, CEF, Windows Security events
as winlogbeat JSON). Every timestamp in a line is moved (kept in the line's own format and time
zone: syslog, ISO, access-log, FortiOS date= time=, Snort, and Unix times in s/ms/us/ns that are
keyed as a time or lie near the line's other stamps) to the recent past: the k-th use of a
template goes k seconds back from the time the mix was loaded, so the events are recent and no two lines of a device repeat (the same bytes from the
same source are one event: a re-send). A line whose time cannot be moved is left out of the mix
and counted.

Planted: the attack scenarios of our own rule library, each rule's `match` examples
(rules/*/*.examples.yml: raw lines, correlation scenarios with `repeat`), re-timed to the moment
they are planted, and its `no_match` examples as near misses. Each planted instance gets fresh
addresses (every 192.0.2.0/24, 198.51.100.0/24, 203.0.113.0/24 address in it is mapped to one
of its own in 100.64.0.0/10) and is sent from a loopback address of its own, so an
alert is traced back to the instance through its events' observer.ip, and two instances never
share a correlation group by address.
"""

from __future__ import annotations

import functools
import ipaddress
import itertools
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

import yaml

from detectors.rules import repeat_example
from soc.config import PROJECT_ROOT
from soc.model import RawRecord
from soc.stream.normalize import normalize_record

CORPUS = PROJECT_ROOT.parent / "shared" / "corpus"
RULES = PROJECT_ROOT / "rules"
CST = ZoneInfo("Asia/Shanghai")

# Open-format background: corpus folder -> (category, format hint).
ELASTIC = {
    "system/data_stream/auth": ("linux", ""),
    "system/data_stream/syslog": ("linux", ""),
    "auditd/data_stream/log": ("linux", ""),
    "suricata/data_stream/eve": ("ids", ""),
    "snort/data_stream/log": ("ids", ""),
    "nginx/data_stream/access": ("web", ""),
    "apache/data_stream/access": ("web", ""),
    "modsecurity/data_stream/auditlog": ("waf", ""),
    "fortinet_fortigate/data_stream/log": ("firewall", ""),
    "iptables/data_stream/log": ("firewall", ""),
    "cef/data_stream/log": ("firewall", ""),
}
# The share of each category in the background (a city's extranet: mostly firewall sessions).
WEIGHTS = {"firewall": 40, "ids": 8, "ips": 8, "waf": 8, "web": 8, "linux": 12, "windows": 6, "bastion": 4,
           "other": 6}

_TESTNET = re.compile(rb"(?<![\d.])(192\.0\.2|198\.51\.100|203\.0\.113)\.(\d{1,3})(?![\d])")

_MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
_DAYS = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]
_MON = b"(?P<mon>" + b"|".join(m.encode() for m in _MONTHS) + b")"
_YEAR = rb"(?:19|20)\d\d"
# Each form of timestamp, by named groups: Y (year) or y (two digits), mon (month name) or m, d, H, M,
# S, f (fraction digits), wd (weekday name), z (zone); a form without a year is of year 2000 (compared
# with the others as wall time, _delta) and one without a zone of the device's local time.
# BSD syslog "Nov 25 10:00:00", with the year some devices add before the month (DPtech: "2017 Dec 28
# 16:16:00"), after the day (Huawei, Cisco: "Nov 25 2026 10:00:00") or after the time (H3C: "Dec  8
# 01:57:01 2020"; ctime: "Fri May 14 14:52:47 2021").
_BSD = re.compile(rb"(?<![\w:])(?:(?P<Y>" + _YEAR + rb") )?(?:(?P<wd>" + "|".join(_DAYS).encode() + rb") )?" + _MON
                  + rb"(?P<d> {1,2}\d{1,2}) (?:(?P<Y2>" + _YEAR + rb") )?(?P<H>\d\d):(?P<M>\d\d):(?P<S>\d\d)"
                  rb"(?:\.(?P<f>\d{1,9}))?(?: (?P<Y3>" + _YEAR + rb")(?![\w:.]))?")
# 2026-11-25T10:00:00.123+08:00, 2026-11-25 10:00:00, 2022/1/17 09:03:41, 2021-02-23,10:15:29, 2019-06-12 12:25:39 +0800
_ISO = re.compile(rb"(?<!\d)(?P<Y>\d{4})(?P<sep>[-/])(?P<m>\d{1,2})(?P=sep)(?P<d>\d{1,2})(?:[ T]|,)(?P<H>\d{1,2}):(?P<M>\d\d)"
                  rb":(?P<S>\d\d)(?:\.(?P<f>\d{1,9}))?(?P<z>Z|[+-]\d\d:?\d\d(?!\d)| [+-]\d{4}(?![\d:]))?")
# Apache/nginx access logs: 25/Nov/2026:10:00:00 +0800, 25/Nov/2026:10:00:30.3 +0800
_CLF = re.compile(rb"(?<!\d)(?P<d>\d\d)/" + _MON + rb"/(?P<Y>\d{4}):(?P<H>\d\d):(?P<M>\d\d):(?P<S>\d\d)(?:\.(?P<f>\d{1,9}))?"
                  rb" (?P<z>[+-]\d{4})")
# FortiOS and its kin: date=2026-11-25 time=10:00:01 (quoted or not; comma between them: WebRAY), in the
# zone of the line's tz="+0800" field, else local.
_SPLIT = re.compile(rb"(?<![\w])date=\"?(?P<Y>\d{4})(?P<sep>[-/])(?P<m>\d{1,2})(?P=sep)(?P<d>\d{1,2})\"?[ ,;]time=\"?"
                    rb"(?P<H>\d{1,2}):(?P<M>\d\d):(?P<S>\d\d)(?![\d:])")
_SPLIT_TZ = re.compile(rb"(?<![\w])tz=\"?(?:UTC|GMT)?([+-]\d\d:?\d\d)\"?(?![\w:])")
# Snort fast alerts: 11/25-10:00:01.123456 (snort -y: 11/25/26-10:00:01.123456)
_SNORT = re.compile(rb"(?<![\w/.:-])(?P<m>\d\d)/(?P<d>\d\d)(?:/(?P<y>\d\d))?-(?P<H>\d\d):(?P<M>\d\d):(?P<S>\d\d)"
                    rb"(?:\.(?P<f>\d{1,9}))?(?![\d:])")
# Unix time in seconds (fraction or not), milli-, micro- or nanoseconds: time=1795572001,
# "start_time": 1795572001, access_time="1795572001951", msg=audit(1795658400.500:5401), ;;1631605377;;
_EPOCH = re.compile(rb"(?<![\w.\-/+#%@$&])(?P<n>\d{10}(?:\d{3}){0,3})(?:\.(?P<f>\d{1,9}))?(?![\w.\-/@])")
# The key an epoch number is the value of, if any: key=, "key": , key:, key(1003)=, audit(
_KEY = re.compile(rb"(?:([A-Za-z_][\w.\-]{0,63})(?:\(\d{1,5}\))?[\"']?[ \t]{0,3}[=:][ \t]{0,3}[\"']?|(\w{1,32})\()\Z")
# A number keyed by a word (a key's _- or camel-case part) that names a time: cmd_time, write_date,
# r_time_i, timestamp, ts, create_at, msg=audit(...
_TIME_WORDS = ("time", "date", "stamp")
_TIME_KEYS = frozenset("t ts tm at rt audit start end begin epoch when clock".split())
# A number keyed by one of these words (the last that says) counts or names something: not a time;
# by one of _NEVER_TIME anywhere (version_dbtime, serial_num), neither.
_NEVER_TIME = frozenset("version ver serial sn seq uuid guid hash md5 crc".split())
_NOT_TIME = frozenset(
    "no num number nid id count cnt times size len length byte bytes pkt pkts packet packets port ip addr mac pid "
    "ppid uid gid auid ses session duration dur elapsed ttl timeout code phone mobile qq inode offset ofs total sum "
    "rule policy".split())
_NOT_TIME_ENDS = ("id", "ip", "port", "byte", "bytes", "pkt", "pkts", "num", "count", "cnt", "size", "len")
_EPOCH0 = datetime(1970, 1, 1, tzinfo=UTC)
# Unix times taken as such on their own (no other time in the line or scenario to be near): 2026 +-2 years.
_PLAUSIBLE = (datetime(2024, 1, 1, tzinfo=UTC), datetime(2029, 1, 1, tzinfo=UTC))
_NEAR = timedelta(days=1)


def _tz(suffix: bytes | None) -> Any:
    if not suffix:
        return CST  # no zone in the line: the device's local time (the sources' default zone)
    suffix = suffix.strip()
    if suffix == b"Z":
        return UTC
    s = suffix.decode().replace(":", "")
    sign = 1 if s[0] == "+" else -1
    return timezone(sign * timedelta(hours=int(s[1:3]), minutes=int(s[3:5])))


def _zone(m: re.Match[bytes]) -> Any:
    if m.re is _SPLIT:
        z = _SPLIT_TZ.search(m.string)
        return _tz(z.group(1) if z else None)
    return _tz(m.groupdict().get("z"))


def _when(m: re.Match[bytes]) -> datetime:
    """The time of a date-time form's match (ValueError if it is no date)."""
    g = m.groupdict()
    year = g.get("Y") or g.get("Y2") or g.get("Y3")
    if year:
        y = int(year)
    elif g.get("y"):
        y = 2000 + int(g["y"])
    else:
        y = 2000  # year-less
    month = _MONTHS.index(g["mon"].decode()) + 1 if g.get("mon") else int(g["m"])
    frac = g.get("f") or b""
    micro = int(frac[:6].ljust(6, b"0")) if frac else 0
    return datetime(y, month, int(g["d"]), int(g["H"]), int(g["M"]), int(g["S"]), micro, tzinfo=_zone(m))


def _epoch(m: re.Match[bytes]) -> datetime:
    n = m.group("n")
    sub = n[10:] + (m.group("f") or b"")  # the digits below the second: of ms, us, ns or a fraction
    return _EPOCH0 + timedelta(seconds=int(n[:10]), microseconds=int(sub[:6].ljust(6, b"0")))


def _key_kind(line: bytes, start: int) -> str:
    """What the key of the number at `start` says it is: "time", "other" (a count, an id, an
    address...: never a time) or "" (no key, or a key that does not say)."""
    k = _KEY.search(line[max(0, start - 72):start])
    if k is None:
        return ""
    key = (k.group(1) or k.group(2)).decode()
    parts = [p.lower() for p in re.findall(r"[A-Z]+(?![a-z])|[A-Z]?[a-z0-9]+", key)]
    if any(p in _NEVER_TIME for p in parts):
        return "other"
    for p in reversed([p for p in parts if len(p) > 1] or parts):  # the last word says (r_time_i: time)
        if p in _NOT_TIME or p.endswith(_NOT_TIME_ENDS):
            return "other"
        if p in _TIME_KEYS or any(w in p for w in _TIME_WORDS):
            return "time"
    return ""


def _near(t: datetime, ref: datetime) -> bool:
    if ref.year == 2000 and not 2000 <= t.year < 2038:
        return False
    return abs(_wall(t, ref)) <= _NEAR


@functools.lru_cache(maxsize=16384)  # the same templates are re-timed over and over
def _stamps(line: bytes, near: datetime | None = None) -> tuple[tuple[re.Match[bytes], datetime], ...]:
    """Every timestamp of the line, with its time as an aware datetime. A date before 1990 is a
    placeholder (Thu Jan  1 08:00:00 1970), not a time. A number is a Unix time only if its key
    does not name a count or an id (sentbyte=, serial_num=, tid=...) and it falls within a day of
    another time of the line (or of `near`: the scenario's first), or its key names a time
    (cmd_time:, "timestamp":, msg=audit(...) and it falls within two years of 2026."""
    out = []
    for form in (_BSD, _CLF, _ISO, _SPLIT, _SNORT):
        for m in form.finditer(line):
            try:
                t = _when(m)
            except ValueError:
                continue
            if t.year >= 1990:
                out.append((m, t))
    refs = [t for _, t in out] + ([near] if near is not None else [])
    for m in _EPOCH.finditer(line):
        if len(m.group("n")) > 10 and m.group("f"):
            continue
        kind = _key_kind(line, m.start())
        if kind == "other":
            continue
        t = _epoch(m)
        if any(_near(t, r) for r in refs) or kind == "time" and _PLAUSIBLE[0] <= t < _PLAUSIBLE[1]:
            out.append((m, t))
    return tuple(sorted(out, key=lambda x: x[0].start()))


def _num(value: int, old: bytes) -> str:
    """value written as wide as old was ("5", "05")."""
    return str(value) if len(old) == 1 else f"{value:0{len(old)}d}"


def _bsd_day(day: int, old: str) -> str:
    """The day of a BSD stamp with the spaces before it, as the device writes them: " 25" and
    "  5" (space-padded, the RFC's), " 05", " 5" (Huawei: "Aug 6 2011"), "  25" kept as it was."""
    digits = old.lstrip(" ")
    spaces = old[: len(old) - len(digits)]
    if digits.startswith("0"):
        return f"{spaces}{day:02d}"
    if len(spaces) == len(digits):  # " 5" or "  25": not padded
        return f"{spaces}{day}"
    return f" {day:2d}"


def _render(m: re.Match[bytes], at: datetime) -> bytes:
    """The matched timestamp written as `at`, in its own format and zone."""
    if m.re is _EPOCH:
        n, frac = m.group("n"), m.group("f")
        us = (at - _EPOCH0) // timedelta(microseconds=1)
        digits = (f"{us // 1_000_000}" + f"{us % 1_000_000:06d}" + n[16:].decode())[: len(n)]
        if frac:
            digits += "." + f"{us % 1_000_000:06d}"[: len(frac)].ljust(len(frac), "0")
        return digits.encode()
    t = at.astimezone(_zone(m))
    text = {"Y": f"{t.year:04d}", "Y2": f"{t.year:04d}", "Y3": f"{t.year:04d}", "y": f"{t.year % 100:02d}",
            "mon": _MONTHS[t.month - 1], "wd": _DAYS[t.weekday()], "f": f"{t.microsecond:06d}"}
    nums = {"m": t.month, "d": t.day, "H": t.hour, "M": t.minute, "S": t.second}
    out, pos = bytearray(), m.start()
    for name, old in m.groupdict().items():
        if old is None or name not in text and name not in nums:
            continue  # not there, or not a part of the time (a separator, the zone)
        if name == "f":
            new = text["f"][: len(old)].ljust(len(old), "0")
        elif name == "d" and m.re is _BSD:
            new = _bsd_day(t.day, old.decode())
        elif name in nums:
            new = _num(nums[name], old)
        else:
            new = text[name]
        s, e = m.span(name)
        out += m.string[pos:s] + new.encode()
        pos = e
    return bytes(out + m.string[pos:m.end()])


def retime(line: bytes, at: datetime, base: datetime | None = None) -> bytes:
    """The line with every timestamp moved: the first to `at` (or each by its distance from
    `base`, for the lines of one scenario), in its own format and zone."""
    stamps = _stamps(line, base)
    if not stamps:
        return line
    origin = base if base is not None else stamps[0][1]
    out, pos = bytearray(), 0
    for m, t in stamps:
        if m.start() < pos:
            continue  # overlapping matches: the first wins
        out += line[pos:m.start()] + _render(m, at + _delta(t, origin))
        pos = m.end()
    return bytes(out + line[pos:])


def _wall(t: datetime, origin: datetime) -> timedelta:
    """t - origin; with a year-less stamp (year 2000) as local wall time of the same year."""
    if t.year == 2000 or origin.year == 2000:
        t, origin = (x.astimezone(CST).replace(year=2000, tzinfo=None) for x in (t, origin))
    return t - origin


def _delta(t: datetime, origin: datetime) -> timedelta:
    d = _wall(t, origin)
    return d if abs(d) < timedelta(days=1) else timedelta(0)


def first_stamp(lines: list[bytes]) -> datetime | None:
    for line in lines:
        s = _stamps(line)
        if s:
            return s[0][1]
    return None


# ---------------------------------------------------------------------------- sources


@dataclass(frozen=True)
class Device:
    """A source of the sources file: lines of one format from one kind of device."""

    name: str  # source id
    category: str
    net: str  # its loopback addresses: 127.2.<n>.0/24 (background), 127.<100+n>.0.0/16 (planted)
    vendor: str = ""
    product: str = ""
    type: str = ""
    format: str = ""

    def source(self) -> dict[str, Any]:
        src: dict[str, Any] = {"id": self.name, "peers": [self.net], "timezone": "Asia/Shanghai", "tenant": "市大数据局"}
        for k in ("vendor", "product", "type", "format"):
            if getattr(self, k):
                src[k] = getattr(self, k)
        return src

    def read(self, line: bytes, received_ns: int) -> tuple[Any, dict[str, Any]]:
        """How the platform reads a line of this device received then (ns since the epoch):
        normalize_record's (key, document), the key None for a dead letter."""
        device = {k: getattr(self, k) for k in ("vendor", "product", "type") if getattr(self, k)}
        return normalize_record(RawRecord(line, received_ns, "syslog-tcp", "127.2.0.1:1", self.name, self.format,
                                          device=device))


@dataclass
class Template:
    device: Device
    line: bytes


MAX_AGE_S = 6 * 3600  # how far back the background's re-timed lines go


@dataclass
class Background:
    anchor: datetime
    devices: dict[str, Device] = field(default_factory=dict)
    templates: dict[str, list[Template]] = field(default_factory=dict)  # category -> templates
    left_out: dict[str, int] = field(default_factory=dict)  # why -> lines
    _turn: int = 0
    _uses: dict[str, int] = field(default_factory=dict)  # category -> lines made of it

    def device(self, key: tuple[str, ...], **kw: str) -> Device:
        name = "bg-" + re.sub(r"[^\w.\-]", "_", "-".join(k for k in key if k))[:100]
        if name not in self.devices:
            self.devices[name] = Device(name=name, net=f"127.2.{len(self.devices) + 1}.0/24", **kw)  # type: ignore[arg-type]
        return self.devices[name]

    def add(self, dev: Device, line: bytes, now: datetime) -> None:
        """Keep the line if, re-timed to now, the pipeline reads it as an event of about now."""
        if not _stamps(line):
            self.left_out["no timestamp to move"] = self.left_out.get("no timestamp to move", 0) + 1
            return
        moved = retime(line, now)
        if any(t.device == dev and retime(t.line, now) == moved for t in self.templates.get(dev.category, [])):
            self.left_out["the same line at another time"] = self.left_out.get("the same line at another time", 0) + 1
            return
        key, doc = dev.read(moved, int(now.timestamp() * 1e9))
        if key is None:
            why = "not parsed: " + str(doc["soc"]["deadletter"]["reason"])
            self.left_out[why] = self.left_out.get(why, 0) + 1
            return
        ts = datetime.fromisoformat(str(doc["@timestamp"]).replace("Z", "+00:00"))
        if abs(ts - now) > timedelta(hours=1):
            self.left_out["time not moved"] = self.left_out.get("time not moved", 0) + 1
            return
        self.templates.setdefault(dev.category, []).append(Template(dev, line))

    def lines(self, n: int) -> Iterator[tuple[Device, bytes]]:
        """n lines in the mix's proportions. The k-th use of a template is re-timed to k seconds
        before the anchor (the time the mix was loaded), so no two lines of a device are the
        same bytes (the same event id: a device's re-send) for the first six hours of uses."""
        cats = [c for c in WEIGHTS if self.templates.get(c)]
        wheel = list(itertools.chain.from_iterable([c] * WEIGHTS[c] for c in cats))
        for _ in range(n):
            cat = wheel[self._turn % len(wheel)]
            self._turn += 1
            ts = self.templates[cat]
            k = self._uses.get(cat, 0)
            self._uses[cat] = k + 1
            t = ts[k % len(ts)]
            yield t.device, retime(t.line, self.anchor - timedelta(seconds=(k // len(ts)) % MAX_AGE_S))

    def mix(self) -> dict[str, int]:
        return {c: len(ts) for c, ts in sorted(self.templates.items())}


def _category(cat: str) -> str:
    if cat in ("firewall", "utm"):
        return "firewall"
    if cat in ("ids", "ips", "apt", "antidos"):
        return "ips" if cat in ("ips", "antidos") else "ids"
    if cat in ("waf", "bastion"):
        return cat
    if cat == "os":
        return "linux"
    return "other"


def load_background(now: datetime) -> Background:
    """The background templates, each tried through the real normalize stage."""
    from tests.unit.parsers.cn_acceptance import DECLARED_TYPE

    bg = Background(anchor=now)
    cn = CORPUS / "cn-vendors" / "samples.jsonl"
    if not cn.is_file():
        raise SystemExit(f"the corpus is missing: {cn} (../shared beside the project)")
    for text in cn.read_text(encoding="utf-8").splitlines():
        if not text.strip():
            continue
        rec = json.loads(text)
        cat = rec["category"]
        if cat not in DECLARED_TYPE:
            bg.left_out[f"category {cat} not a security device"] = bg.left_out.get(f"category {cat} not a security device", 0) + 1
            continue
        dev = bg.device((rec["vendor"], rec["product"], cat), category=_category(cat), vendor=rec["vendor"],
                        product=rec["product"], type=DECLARED_TYPE[cat])
        bg.add(dev, rec["raw"].encode(), now)
    pkgs = CORPUS / "elastic-integrations" / "packages"
    for folder, (cat, hint) in ELASTIC.items():
        dev = bg.device((folder.split("/")[0], folder.rsplit("/", 1)[-1]), category=cat, format=hint)
        for path in sorted((pkgs / folder).glob("_dev/test/pipeline/test-*.log")):
            for line in path.read_bytes().splitlines():
                if line.strip():
                    bg.add(dev, line, now)
    win = bg.device(("windows", "security"), category="windows")
    for path in sorted((pkgs / "windows" / "data_stream" / "forwarded").glob("_dev/test/pipeline/test-security-*.json")):
        for event in json.loads(path.read_text(encoding="utf-8")).get("events", []):
            bg.add(win, json.dumps(event, ensure_ascii=False).encode(), now)
    return bg


# ---------------------------------------------------------------------------- planted attacks


@dataclass
class Scenario:
    """One rule example: the raw lines (in order, their stamps relative to the first)."""

    rule_id: str
    rule_title: str
    positive: bool
    lines: list[bytes]
    device: dict[str, str]
    format: str

    def span(self) -> timedelta:
        """From its first line's time to its latest line's."""
        base = first_stamp(self.lines)
        stamps = [st[0][1] for st in (_stamps(line, base) for line in self.lines) if st]
        return max((_delta(t, stamps[0]) for t in stamps), default=timedelta(0))


@dataclass(eq=False)
class Instance:
    scenario: Scenario
    peer: str  # 127.<100+n>.x.y: the instance's own sending address
    at: datetime  # the time of its first line
    lines: list[bytes]


def _raw_items(items: list[dict[str, Any]]) -> list[dict[str, Any]] | None:
    out = []
    for item in items:
        for i in range(int(item.get("repeat", 1))):
            one = repeat_example(item, i)
            if "raw" not in one:
                return None  # an ECS-document example cannot be sent as a line
            out.append(one)
    return out


def load_scenarios() -> list[Scenario]:
    """Every raw example of the rules that alert, positive (match) and near miss (no_match).
    A rule that only feeds a correlation (Sigma: no alert of its own unless the correlation
    says `generate`) plants nothing: its examples are not attacks on their own."""
    from detectors.rules import load_rules

    library = load_rules([RULES])
    feeds_only = {r.meta.id for r in library.rules if not r.generates_alerts}
    out = []
    for path in sorted(RULES.rglob("*.examples.yml")):
        rule = yaml.safe_load(path.with_name(path.name.replace(".examples.yml", ".yml")).read_text(encoding="utf-8"))
        if str(rule["id"]) in feeds_only:
            continue
        ex = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        for positive, key in ((True, "match"), (False, "no_match")):
            for item in ex.get(key) or []:
                items = _raw_items(item["events"] if "events" in item else [item])
                if not items:
                    continue
                devices = {json.dumps(i.get("device") or {}, sort_keys=True) for i in items}
                formats = {i.get("format", "") for i in items}
                if len(devices) > 1 or len(formats) > 1:
                    continue  # one instance is one source: one device, one format
                out.append(Scenario(str(rule["id"]), str(rule.get("title", "")), positive,
                                    [i["raw"].encode() for i in items], json.loads(devices.pop()), formats.pop()))
    return out


class Planter:
    """Makes instances of scenarios: fresh documentation addresses, re-timed, own peer."""

    def __init__(self) -> None:
        self.devices: dict[str, Device] = {}
        self._addr = itertools.count(1)
        self._peer: dict[str, itertools.count[int]] = {}
        self._shifts: dict[str, timedelta] = {}
        self._sent: set[tuple[str, bytes]] = set()  # (device, line) of every instance made

    def device_of(self, s: Scenario) -> Device:
        key = json.dumps([s.device, s.format], sort_keys=True)
        if key not in self.devices:
            self.devices[key] = Device(name=f"planted-{len(self.devices) + 1}", category="planted",
                                       net=f"127.{100 + len(self.devices)}.0.0/16", format=s.format,
                                       **{k: str(v) for k, v in s.device.items() if k in ("vendor", "product", "type")})
        return self.devices[key]

    def _fresh(self) -> bytes:
        """An address of 100.64.0.0/10 (shared address space: external to every inventory, and
        never a real attacker), one per documentation address of each instance."""
        n = next(self._addr)
        return str(ipaddress.ip_address("100.64.0.0") + 256 * n + 7).encode()

    def instance(self, s: Scenario, at: datetime) -> Instance:
        dev = self.device_of(s)
        k = next(self._peer.setdefault(dev.name, itertools.count(0)))
        second = dev.net.split(".")[1]
        mapping: dict[bytes, bytes] = {}

        def fresh(m: re.Match[bytes]) -> bytes:
            return mapping.setdefault(m.group(0), self._fresh())

        base = first_stamp(s.lines)
        shift = self._zone_shift(s, dev, at, base)
        for _ in range(60):
            lines = [_TESTNET.sub(fresh, retime(line, at - shift, base)) for line in s.lines]
            # The same bytes from the same device are one event (a re-send): two rules' examples
            # that share a line, planted in the same second, would be one event of two instances.
            if not self._sent.intersection((dev.name, line) for line in lines):
                break
            at += timedelta(seconds=1)
        self._sent.update((dev.name, line) for line in lines)
        return Instance(s, f"127.{second}.{k // 250}.{k % 250 + 2}", at, lines)

    def _zone_shift(self, s: Scenario, dev: Device, at: datetime, base: datetime | None) -> timedelta:
        """How far the platform reads the scenario's re-timed first line from `at`, when that is a
        zone's worth (a format the parser reads as UTC where the generator wrote local time, as
        Topsec NGTOS's `time`): the lines are then written that much earlier, so every planted
        event is of about now, as the background's are (Background.add leaves such lines out)."""
        key = s.rule_id + repr(s.lines[0][:64])
        if key not in self._shifts:
            shift = timedelta(0)
            key_, doc = dev.read(retime(s.lines[0], at, base), int(at.timestamp() * 1e9))
            if key_ is not None and doc.get("@timestamp"):
                off = datetime.fromisoformat(str(doc["@timestamp"]).replace("Z", "+00:00")) - at
                quarters = round(off / timedelta(minutes=15))
                if 2 <= abs(quarters) <= 14 * 4:
                    shift = quarters * timedelta(minutes=15)
            self._shifts[key] = shift
        return self._shifts[key]
