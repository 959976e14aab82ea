"""MLPS 2.0 operations checks (audit continuity, malware handling, firewall rules, clocks) on the
real Elasticsearch, with the check definitions of compliance/checks loaded as they ship.

Each test plants, in an index prefix of its own, events made from real device lines (the Chinese
vendor corpus and Elastic's auditd samples under /work/shared/corpus, read from there; two Windows
lines no corpus has come from the rule library's own example files) re-timed around a fixed
`now`, put through the real normalize stage with a synthetic inventory (tmp_path), and alerts the
real detection stage raises on them, triaged the way the API triages (soc.alert.status/updated).
Then `run_checks` runs the loaded checks, and each result is asserted: status, the counts, and the
sample ids, which must be the ids of the documents planted for that reason.

- audit-continuity (8.1.4.3 d): a system with a 3.5 h silence covered by a declared maintenance
  window, an auditd stop restarted in 8 minutes, a cleared Windows log closed as a false positive,
  a Topsec syslog-server deletion (seen through the alert the library raised on it) resolved, and a
  stop 20 minutes old (pending) passes; a system with a 4 h silence, a silence still going on, an
  auditd stop whose alert is still open, a log host removed and put back 3.5 h later and an
  unhandled Topsec deletion fails naming those three stops and both gaps, while its closed stop
  and the ones back in time (a log host re-added after 10 minutes, the Eventlog-to-Syslog agent
  restarted) do not count; a system with no event is not applicable; a level-2 system is not
  checked. Separately, the library's audit-stop example lines, parsed, are each recognised as the
  stop or the restart of the right family, or as neither.
- malware-handled-network (8.1.3.4 a) / -host (8.1.4.5): alerts raised by IPS lines (via the
  malware events behind them, and via the C2 rule's id) and by an operator's EDR rule (via its
  `malware` tag): in time / late / overdue / pending counted per system, each check counting only
  its own device types, an old open alert counted, an old closed one not; n/a without alerts.
- firewall-any-to-any (8.1.3.2 c) / firewall-rules-unused (8.1.3.2 b): an H3C rule letting 12 /16
  networks reach 60 addresses on 60 ports fails, narrow Huawei rules pass; a declared rule never
  hit fails; a firewall whose logs name no rule, a zone without devices, one without traffic and
  one without a declared list are not applicable.
- clock-consistency (8.1.5.4 d): a firewall 400 s behind and one whose clock is 3 days off (found
  though its @timestamp lies outside the window: the window is on soc.received) fail, a firewall
  within 2 s (one 90 s outlier in 20) passes, lines without a time of their own or tagged
  `_timestamp_invalid` are unknown, never a skew of 0; only unknown devices: not applicable.
"""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import orjson
import pytest
import yaml
from elasticsearch import Elasticsearch

from detectors.rules import RuleSet, load_rules
from soc.assets import load_inventory
from soc.compliance.engine import Context, load_checks, run_checks
from soc.compliance.model import CheckDef, Result
from soc.config import PROJECT_ROOT, Settings
from soc.model import Doc, RawRecord, get_path, iso
from soc.store.bulk import BulkWriter
from soc.store.client import async_client
from soc.store.setup import ensure_templates
from soc.stream.detect import detect
from soc.stream.index import bulk_items
from soc.stream.normalize import normalize_record

from .conftest import drop_indices

pytestmark = pytest.mark.integration

NOW = datetime(2026, 3, 2, 4, 0, tzinfo=UTC)  # 12:00 北京时间
CN = ZoneInfo("Asia/Shanghai")
CORPUS = Path(__file__).resolve().parents[3] / "shared" / "corpus"
CN_SAMPLES = CORPUS / "cn-vendors" / "samples.jsonl"
AUDITD_RAW = CORPUS / "elastic-integrations/packages/auditd/data_stream/log/_dev/test/pipeline/test-auditd-raw.log"
RULES = PROJECT_ROOT / "rules"
PLATFORM = "安全运营子平台"

# An operator's rule beside the library: the endpoint protection's own virus findings, tagged malware.
EDR_RULE = """
title: 终端防护软件检出病毒木马
id: 0d9f6a43-2b7e-4c55-9a61-3f3c2a7e5b10
status: test
description: 终端防护（EDR / 杀毒）上报检出恶意代码。
tags: [soc.malware]
logsource: {category: antivirus}
detection:
  selection:
    event.category: malware
  condition: selection
level: high
"""

INVENTORY = {
    "internal_networks": ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"],
    "assets": [
        {"name": "不动产登记系统", "owner": "市自然资源和规划局", "tenant": "zrzy", "mlps_level": 3,
         "networks": ["10.30.1.0/24"], "hosts": ["gov-app-01", "USG6600", "WIN-I2HJ5KJ28SP", "WIN-RSJ1Q82SGHB"]},
        {"name": "公积金查询系统", "owner": "市住房公积金管理中心", "tenant": "gjj", "mlps_level": 3,
         "networks": ["10.40.1.0/24"], "hosts": ["gjj-app-01", "GOV-APP01", "DESKTOP-OU52KM4"]},
        {"name": "社保查询系统", "owner": "市人力资源和社会保障局", "tenant": "rsj", "mlps_level": 3,
         "networks": ["10.50.1.0/24"], "hosts": ["rsj-app-01"]},
        {"name": "政务公开网站", "owner": "市政府办公室", "tenant": "zfb", "mlps_level": 2,
         "networks": ["10.60.1.0/24"], "hosts": ["www-01"]},
    ],
    "zones": [
        {"name": "互联网边界区", "tenant": "dsj", "boundary_devices": ["FW-IRF", "neiwang-firewall-M"]},
        {"name": "数据中心区", "tenant": "dsj", "boundary_devices": ["USG6600"]},
        {"name": "政务外网区", "tenant": "dsj", "boundary_devices": ["APW1KAIRFM000509"]},
        {"name": "灾备区", "tenant": "dsj", "boundary_devices": ["DR-FW-01"]},
        {"name": "测试区", "tenant": "dsj"},
    ],
}
# The address each device sends from (observer.ip).
PEERS = {"FW-IRF": "10.9.9.1", "neiwang-firewall-M": "10.9.9.2", "USG6600": "10.9.9.3", "APW1KAIRFM000509": "10.9.9.4",
         "hillstone": "10.9.9.5", "nsfocus-ads": "10.9.9.6", "hosts": "10.9.9.7", "ips": "10.9.9.8", "edr": "10.9.9.9"}


# --------------------------------------------------------------------------- real lines


def cn_line(device_type: str, contains: str) -> str:
    """The first line of the Chinese vendor corpus of that device type holding `contains`."""
    for row in CN_SAMPLES.read_text(encoding="utf-8").splitlines():
        rec = json.loads(row)
        if rec["device_type"] == device_type and contains in rec["raw"]:
            return str(rec["raw"])
    raise AssertionError(f"no {device_type} line with {contains!r} in {CN_SAMPLES}")


def auditd_line(contains: str) -> str:
    for line in AUDITD_RAW.read_text(encoding="utf-8").splitlines():
        if contains in line:
            return line
    raise AssertionError(f"no auditd line with {contains!r} in {AUDITD_RAW}")


def example_line(rule_file: str, contains: str) -> str:
    """A `match` example of a library rule (for events no corpus holds)."""
    examples = yaml.safe_load((RULES / rule_file).read_text(encoding="utf-8"))
    return next(e["raw"] for e in examples["match"] if contains in e["raw"])


def _day(ts: datetime) -> str:
    return f"{ts:%b} {ts.day:2d}"


def at(line: str, when: datetime) -> str:
    """The line as its device would have written it at `when`: every time the templates carry
    (syslog headers, body times, epochs) set to it, in China time where the device writes local time."""
    local = when.astimezone(CN)
    subs = [
        (r"msg=audit\(\d+\.\d+:", f"msg=audit({when.timestamp():.3f}:"),
        (r'(?<![_a-z])time="\d{4}-\d\d-\d\d \d\d:\d\d:\d\d"', f'time="{local:%Y-%m-%d %H:%M:%S}"'),
        (r"(?<![_a-z])time=\d{4}/\d{1,2}/\d{1,2} \d\d:\d\d:\d\d", f"time={local:%Y/%m/%d %H:%M:%S}"),
        (r"(?<![_a-z])time=\d{10}(?=[;\s])", f"time={int(when.timestamp())}"),
        (r"date=\d{4}-\d\d-\d\d time=\d\d:\d\d:\d\d", f"date={local:%Y-%m-%d} time={local:%H:%M:%S}"),
        (r"^<(\d+)>[A-Z][a-z]{2} +\d{1,2} \d{4} \d\d:\d\d:\d\d", rf"<\1>{_day(local)} {local:%Y %H:%M:%S}"),
        (r"^<(\d+)>[A-Z][a-z]{2} +\d{1,2} \d\d:\d\d:\d\d \d{4}(?= )", rf"<\1>{_day(local)} {local:%H:%M:%S %Y}"),
        (r"^<(\d+)>[A-Z][a-z]{2} +\d{1,2} \d\d:\d\d:\d\d(?= )", rf"<\1>{_day(local)} {local:%H:%M:%S}"),
        (r"^<(\d+)>\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[-+]\d\d:\d\d", rf"<\1>{local.isoformat(timespec='seconds')}"),
        (r"^<(\d+)>\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", rf"<\1>{local:%Y-%m-%d %H:%M:%S}"),
    ]
    for pattern, repl in subs:
        line = re.sub(pattern, repl, line, count=1)
    return line


# Templates (the corpus lines), read once.
H3C_PERMIT = cn_line("firewall_h3c_F5030-D_syslog", "FILTER_ZONE_IPV4_EXECUTION")
HUAWEI_PERMIT = cn_line("firewall_huawei_firewall_syslog", "POLICYPERMIT")
HUAWEI_DENY = cn_line("firewall_huawei_firewall_syslog", "POLICYDENY")
HUAWEI_UNDO_LOGHOST = cn_line("firewall_huawei_firewall_syslog", "undo info-center loghost")
EASYNET_PERMIT = cn_line("firewall_easynetworks_firewall_syslog", "subtype=allowed")
HILLSTONE_BAD_TIME = cn_line("firewall_hillstone_sg-6000_syslog", "88:88:80")
NSFOCUS_ADS_LOAD = cn_line("antidos_nsfocus_ads_syslog", "Collapsar load")
EVTSYS_STOPPED = cn_line("os_microsoft_windows_eventlog_syslog", "Eventlog to Syslog Service Stopped")
SSHD_ACCEPTED = cn_line("os_linux_linux_syslog", "Accepted password for root from 192.168.20.1")
DPTECH_IPS_VIRUS = cn_line("ips_dptech_ips2000_syslog", "av-file")
NSFOCUS_C2 = cn_line("ids_nsfocus_nids[5.6r11f]_syslog", "cc_log")
HUAWEI_IPS_TROJAN = cn_line("ips_huawei_nip6000_syslog", "trojan horse")
VSECURE_TROJAN = cn_line("eps_v-secure_jc-svr-standard_syslog", "WIN-RSJ1Q82SGHB")
VSECURE_EXPLOIT = cn_line("eps_v-secure_jc-svr-standard_syslog", "DESKTOP-OU52KM4")
AUDITD_END = auditd_line("type=DAEMON_END")
AUDITD_START = auditd_line("type=DAEMON_START")
WIN_LOG_CLEARED = example_line("windows/host_windows_log_cleared.examples.yml", "1102")
TOPSEC_SYSLOG_DELETED = example_line("audit/host_audit_loghost_removed.examples.yml", "log syslog delete server")


def topsec(when: datetime, admin: str) -> str:
    """The Topsec configuration log, at `when` (NGTOS writes UTC in time=) from an admin's address."""
    line = re.sub(r'time="[^"]+"', f'time="{when:%Y-%m-%d %H:%M:%S}"', TOPSEC_SYSLOG_DELETED)
    return line.replace('src="10.20.1.5"', f'src="{admin}"')


# --------------------------------------------------------------------------- the estate


class Estate:
    """One test's index prefix, inventory and planted documents."""

    def __init__(self, s: Settings, inventory_file: Path, rules: RuleSet) -> None:
        self.s = s
        self.inventory = load_inventory(inventory_file)
        self.rules = rules
        self.events: list[Doc] = []
        self.alerts: list[Doc] = []
        self.es: Any = None

    def event(self, line: str, when: datetime, peer: str, *, received: datetime | None = None,
              retime: bool = True, alerts: bool = False) -> Doc:
        """The event normalize makes of the line (re-timed to `when` unless told not), received
        at `received` (default a second later) from `peer`; with its alerts when asked."""
        text = at(line, when) if retime else line
        got = received or when + timedelta(seconds=1)
        record = RawRecord(text.encode(), int(got.timestamp() * 1e9), "syslog-udp", f"{peer}:514", f"src-{peer}")
        key, doc = normalize_record(record, [self.inventory])
        assert key is not None, doc
        if retime:
            assert doc["@timestamp"] == iso(when), (text, doc["@timestamp"])
        self.events.append(doc)
        if alerts:
            raised, _ = detect(self.rules, doc)
            self.alerts.extend(raised)
        return doc

    def alerts_of(self, doc: Doc) -> list[str]:
        """The ids of the alerts raised on an event (until they are flushed)."""
        return [a["soc"]["alert"]["id"] for a in self.alerts if doc["event"]["id"] in a["soc"]["alert"]["event_ids"]]

    async def flush(self) -> None:
        writer = BulkWriter(self.es, "test", refresh=True)
        for kind, docs in (("events", self.events), ("alerts", self.alerts)):
            if docs:
                items, dead = bulk_items(kind, self.s.elastic.index_prefix, [orjson.dumps(d) for d in docs])
                assert not dead
                assert (await writer.write(items)).written == len(items)
        self.events, self.alerts = [], []

    async def triage(self, alert_id: str, status: str, when: datetime) -> None:
        """What POST /api/v1/alerts/{id}/status writes, at `when`."""
        await self.es.update(index=f"{self.s.elastic.index_prefix}-alerts", id=alert_id, refresh=True, doc={
            "soc": {"alert": {"status": status, "status_reason": "处置完毕" if status == "resolved" else "误报",
                              "updated_by": "analyst", "updated": iso(when)}}})

    async def run(self, checks: list[CheckDef]) -> dict[tuple[str, str], Result]:
        results = await run_checks(Context(self.es, self.s, self.inventory, NOW), checks)
        out = {(r.check_id, r.subject): r for r in results}
        assert len(out) == len(results)
        return out


@pytest.fixture(scope="module")
def ruleset(tmp_path_factory: pytest.TempPathFactory, base_settings: Settings) -> RuleSet:
    extra = tmp_path_factory.mktemp("operator-rules")
    (extra / "edr_malware.yml").write_text(EDR_RULE, encoding="utf-8")
    rules = load_rules([RULES, extra], base_settings.worker.sigma_placeholders)
    assert not rules.errors, rules.errors
    return rules


@pytest.fixture(scope="module")
def checks() -> dict[str, CheckDef]:
    loaded, problems = load_checks()
    assert not problems, problems
    return {c.id: c for c in loaded}


def tuned(check: CheckDef, **params: Any) -> CheckDef:
    """The check as shipped, with these params of the test's estate added."""
    return check.model_copy(update={"params": {**check.params, **params}})


@pytest.fixture()
def make_estate(base_settings: Settings, es: Elasticsearch, tmp_path: Path, ruleset: RuleSet) -> Any:
    inventory = tmp_path / "assets.yaml"
    inventory.write_text(yaml.safe_dump(INVENTORY, allow_unicode=True), encoding="utf-8")
    prefixes: list[str] = []

    @asynccontextmanager
    async def make() -> AsyncIterator[Estate]:
        prefix = f"cop{uuid.uuid4().hex[:8]}"
        prefixes.append(prefix)
        s = base_settings.model_copy(update={
            "elastic": base_settings.elastic.model_copy(update={"index_prefix": prefix}), "assets_file": inventory})
        await ensure_templates(s)
        estate = Estate(s, inventory, ruleset)
        estate.es = async_client(s)
        try:
            yield estate
        finally:
            await estate.es.close()

    yield make
    for prefix in prefixes:
        drop_indices(es, prefix)


def ids(docs: list[Doc]) -> list[str]:
    return [d["event"]["id"] for d in docs]


def counts(r: Result) -> dict[str, float]:
    return r.evidence.counts


# --------------------------------------------------------------------------- audit continuity


def background(estate: Estate, host: str, start: datetime, end: datetime,
               skip: Callable[[datetime], bool] = lambda t: False) -> list[Doc]:
    """An sshd login line of the host every 30 minutes from start to end, but where skip says."""
    line = SSHD_ACCEPTED.replace("bak-server-120", host)
    out, t = [], start
    while t <= end:
        if not skip(t):
            out.append(estate.event(line, t, PEERS["hosts"]))
        t += timedelta(minutes=30)
    return out


def alert_of(e: Estate, doc: Doc) -> str:
    """The one alert the detection stage raised on the event."""
    found = e.alerts_of(doc)
    assert len(found) == 1, found
    return found[0]


def by_time(docs: list[Doc], when: datetime) -> str:
    return next(d["event"]["id"] for d in docs if d["@timestamp"] == iso(when))


def test_audit_continuity(make_estate: Any, checks: dict[str, CheckDef]) -> None:
    check = tuned(checks["audit-continuity"], maintenance=[
        {"from": "2026-03-01T17:30:00", "to": "2026-03-01T21:30:00", "systems": ["公积金查询系统"],
         "reason": "变更单 CH-0301"}])  # 09:30-13:30 UTC, China time as written
    assert check.window == "24h" and check.params["max_gap"] == "2h" and check.params["restart_within"] == "1h"
    day = datetime(2026, 3, 1, tzinfo=UTC)

    async def scenario() -> None:
        async with make_estate() as e:
            # 公积金查询系统: silent 09:45 → 13:15 inside its maintenance window; every stop handled.
            gjj = background(e, "gjj-app-01", day + timedelta(hours=4, minutes=15), NOW - timedelta(minutes=15),
                             skip=lambda t: day + timedelta(hours=10) < t < day + timedelta(hours=13))
            node = "node=gjj-app-01 "
            restarted = e.event(node + AUDITD_END, day + timedelta(hours=15, minutes=2), PEERS["hosts"], alerts=True)
            e.event(AUDITD_START.replace("node=localhost.localdomain", "node=gjj-app-01"),
                    day + timedelta(hours=15, minutes=10), PEERS["hosts"])
            cleared = e.event(WIN_LOG_CLEARED, day + timedelta(hours=18), PEERS["hosts"], alerts=True)
            pending = e.event(node + AUDITD_END, NOW - timedelta(minutes=20), PEERS["hosts"])
            # Words only event.original holds: a stop because the library's rule raised an alert on it.
            topsec_closed = e.event(topsec(day + timedelta(hours=16), "10.40.1.5"), day + timedelta(hours=16),
                                    PEERS["USG6600"], retime=False, alerts=True)
            # 不动产登记系统: silent 05:45 → 09:45 and since 01:45; two stops not handled.
            bdc = background(e, "gov-app-01", day + timedelta(hours=4, minutes=15), NOW - timedelta(hours=2, minutes=15),
                             skip=lambda t: day + timedelta(hours=6) < t < day + timedelta(hours=9, minutes=30))
            node = "node=gov-app-01 "
            closed = e.event(node + AUDITD_END, day + timedelta(hours=11), PEERS["hosts"], alerts=True)
            still_open = e.event(node + AUDITD_END, day + timedelta(hours=14), PEERS["hosts"], alerts=True)
            loghost_off = e.event(HUAWEI_UNDO_LOGHOST, day + timedelta(hours=16), PEERS["USG6600"], alerts=True)
            e.event(HUAWEI_UNDO_LOGHOST.replace("undo info-center", "info-center"),
                    day + timedelta(hours=19, minutes=30), PEERS["USG6600"])  # back, but 3.5 h later
            loghost_back = e.event(HUAWEI_UNDO_LOGHOST.replace("210.30.96.110", "210.30.96.111"),
                                   day + timedelta(hours=22), PEERS["USG6600"])
            e.event(HUAWEI_UNDO_LOGHOST.replace("undo info-center loghost 210.30.96.110", "info-center loghost 210.30.96.111"),
                    day + timedelta(hours=22, minutes=10), PEERS["USG6600"])  # back within the hour
            evtsys_off = e.event(EVTSYS_STOPPED, day + timedelta(hours=20), PEERS["hosts"])
            topsec_open = e.event(topsec(day + timedelta(hours=12), "10.30.1.5"), day + timedelta(hours=12),
                                  PEERS["USG6600"], retime=False, alerts=True)
            e.event(EVTSYS_STOPPED.replace("Stopped", "Started"), day + timedelta(hours=20, minutes=5), PEERS["hosts"])
            assert {get_path(d, "soc.asset.name")
                    for d in (*gjj, restarted, cleared, pending, topsec_closed)} == {"公积金查询系统"}
            assert {get_path(d, "soc.asset.name")
                    for d in (*bdc, closed, still_open, loghost_off, loghost_back, evtsys_off, topsec_open)} == {"不动产登记系统"}
            assert topsec_open["@timestamp"] == iso(day + timedelta(hours=12)) and "message" not in topsec_open
            open_alert, cleared_alert, closed_alert, topsec_alert, topsec_open_alert = (
                alert_of(e, d) for d in (still_open, cleared, closed, topsec_closed, topsec_open))
            assert alert_of(e, loghost_off) and alert_of(e, restarted)
            await e.flush()
            await e.triage(cleared_alert, "false_positive", day + timedelta(hours=18, minutes=30))
            await e.triage(closed_alert, "resolved", day + timedelta(hours=11, minutes=20))
            await e.triage(topsec_alert, "resolved", day + timedelta(hours=16, minutes=30))
            got = await e.run([check])

        assert ("audit-continuity", "政务公开网站") not in got  # level 2 has no audit-process clause
        ok = got[("audit-continuity", "公积金查询系统")]
        assert ok.status == "pass", ok.reason
        assert ok.control == "8.1.4.3 d" and ok.control_text == "应对审计进程进行保护，防止未经授权的中断。"
        c = counts(ok)
        assert c["events"] == len(gjj) + 5
        assert (c["gaps"], c["gaps_in_maintenance"], c["stops"], c["stops_restarted"], c["stops_alert_closed"],
                c["stops_pending"], c["stops_unresolved"]) == (0, 1, 4, 1, 2, 1, 0)
        assert set(ok.evidence.samples) == set(ids([restarted, cleared, pending, topsec_closed]))
        assert any("pending" in n and pending["event"]["id"] in n for n in ok.evidence.notes)

        bad = got[("audit-continuity", "不动产登记系统")]
        assert bad.status == "fail", bad.reason
        c = counts(bad)
        assert (c["gaps"], c["gaps_in_maintenance"], c["stops"], c["stops_restarted"], c["stops_alert_closed"],
                c["stops_pending"], c["stops_unresolved"]) == (2, 0, 6, 2, 1, 0, 3)
        assert "2 处超过 2h 的日志中断" in bad.reason and "3 次审计停止" in bad.reason
        # The unresolved stops first, in time order; then the events around each gap.
        assert bad.evidence.samples[:3] == ids([topsec_open, still_open, loghost_off])
        before = by_time(bdc, day + timedelta(hours=5, minutes=45))
        after = by_time(bdc, day + timedelta(hours=9, minutes=45))
        last = by_time(bdc, NOW - timedelta(hours=2, minutes=15))
        assert set(bad.evidence.samples[3:6]) == {before, after, last}
        assert set(bad.evidence.samples[6:]) == set(ids([closed, evtsys_off, loghost_back]))
        notes = "\n".join(bad.evidence.notes)
        assert f"{iso(day + timedelta(hours=5, minutes=45))} → {iso(day + timedelta(hours=9, minutes=45))}, 4h " in notes
        assert f"{iso(NOW - timedelta(hours=2, minutes=15))} → 至今 (ongoing), 2h15m " in notes
        assert f"{still_open['event']['id']} auditd shutdown-audit on gov-app-01" in notes
        assert f"alert {open_alert} still open" in notes
        assert f"{loghost_off['event']['id']} loghost cmdrecord on USG6600" in notes
        assert f"{topsec_open['event']['id']} alert 网络设备删除日志服务器配置 on TopsecOS" in notes
        assert f"alert {topsec_open_alert} still open" in notes

        none = got[("audit-continuity", "社保查询系统")]
        assert none.status == "not_applicable" and counts(none)["events"] == 0

    asyncio.run(scenario())


# What the stop/restart queries make of the rule library's audit-stop examples once parsed:
# (rule examples file, a piece of the line, families it stops, families it restarts).
STOP_EXAMPLES = [
    ("linux/host_linux_auditd_tampering", "type=DAEMON_END", {"auditd"}, set()),
    ("linux/host_linux_auditd_tampering", "unit=rsyslog", {"syslog"}, set()),
    ("linux/host_linux_auditd_tampering", "audit_enabled=0", {"auditd"}, set()),
    ("linux/host_linux_auditd_tampering", 'a1="-D"', set(), set()),  # rules wiped, auditd running: its alert
    ("linux/host_linux_auditd_tampering", "proctitle=73797374656D63746C0073746F7000617564697464", {"auditd"}, set()),
    ("linux/host_linux_auditd_tampering", 'a1="-l"', set(), set()),
    ("linux/host_linux_auditd_tampering", "unit=nginx", set(), set()),
    ("linux/host_linux_auditd_tampering", "audit_enabled=1", set(), {"auditd"}),
    ("linux/host_linux_logging_stopped", "The audit daemon is exiting", {"auditd"}, set()),
    ("linux/host_linux_logging_stopped", "Stopping System Logging Service", {"syslog"}, set()),
    ("linux/host_linux_logging_stopped", "exiting on signal 15", {"syslog"}, set()),
    ("linux/host_linux_logging_stopped", "Started System Logging Service", set(), {"syslog"}),
    ("linux/host_linux_logging_stopped", "] start", set(), {"syslog"}),
    ("linux/host_linux_logging_stopped", "rotating log files", set(), set()),
    ("windows/host_windows_log_cleared", "1102", {"windows_log_cleared"}, set()),
    ("windows/host_windows_log_cleared", '"channel":"System","event_id":104', {"windows_log_cleared"}, set()),
    ("windows/host_windows_log_cleared", "MSSQLSERVER", set(), set()),
    ("windows/host_windows_log_cleared", "event_id\":1100", {"windows_eventlog"}, set()),
    ("windows/host_windows_audit_policy_disabled", "%%8448, %%8450", {"windows_audit_policy"}, set()),
    ("windows/host_windows_audit_policy_disabled", "已删除成功", {"windows_audit_policy"}, set()),
    ("windows/host_windows_audit_policy_disabled", "%%8449, %%8451", set(), {"windows_audit_policy"}),
    ("windows/host_windows_audit_policy_disabled", "已添加成功", set(), {"windows_audit_policy"}),
    ("audit/host_audit_loghost_removed", 'Command="undo info-center loghost', {"loghost"}, set()),
    ("audit/host_audit_loghost_removed", "Command is undo info-center loghost", {"loghost"}, set()),
    ("audit/host_audit_loghost_removed", "executed 'no logging host", {"loghost"}, set()),
    ("audit/host_audit_loghost_removed", "log syslog delete server", set(), set()),  # only event.original: its alert
    ("audit/host_audit_loghost_removed", 'Command="info-center loghost', set(), {"loghost"}),
    ("audit/host_audit_loghost_removed", "Command is display info-center", set(), set()),
    ("audit/host_audit_loghost_removed", "executed 'logging host", set(), {"loghost"}),
    ("audit/host_audit_loghost_removed", "define host delete", set(), set()),
]


def test_audit_stop_events_as_parsed(make_estate: Any) -> None:
    from soc.compliance.evaluators import audit_stops

    examples = {f: yaml.safe_load((RULES / f"{f}.examples.yml").read_text(encoding="utf-8"))
                for f in {x[0] for x in STOP_EXAMPLES}}

    def line(f: str, piece: str) -> str:
        found = [e["raw"] for kind in ("match", "no_match") for e in examples[f].get(kind, []) if piece in e["raw"]]
        assert len(found) == 1, (f, piece, found)
        return found[0]

    async def scenario() -> dict[str, tuple[set[str], set[str]]]:
        async with make_estate() as e:
            docs = [e.event(line(f, piece), NOW - timedelta(minutes=k + 1), PEERS["hosts"], retime=False)
                    for k, (f, piece, _, _) in enumerate(STOP_EXAMPLES)]
            await e.flush()
            res = await e.es.search(index=f"{e.s.elastic.index_prefix}-events-*", size=100, query={
                "bool": {"should": audit_stops.named_clauses(), "minimum_should_match": 1}})
            got = {h["_id"]: audit_stops.classify(h.get("matched_queries", [])) for h in res["hits"]["hits"]}
            return {piece: got.get(d["event"]["id"], (set(), set())) for (_, piece, _, _), d in zip(STOP_EXAMPLES, docs, strict=True)}

    got = asyncio.run(scenario())
    assert got == {piece: (stops, restarts) for _, piece, stops, restarts in STOP_EXAMPLES}


# --------------------------------------------------------------------------- malware handled


def test_malware_handled(make_estate: Any, checks: dict[str, CheckDef]) -> None:
    network, host = checks["malware-handled-network"], checks["malware-handled-host"]
    assert network.params["handle_within"] == host.params["handle_within"] == "24h"
    assert (network.control, network.level2_control, host.control) == ("8.1.3.4 a", "7.1.3.4", "8.1.4.5")
    ago = NOW.__sub__

    def dptech(dst: str) -> str:
        return DPTECH_IPS_VIRUS.replace("destination-ip:1.2.106.194", f"destination-ip:{dst}")

    def nip(dst: str) -> str:
        return HUAWEI_IPS_TROJAN.replace("DstIp=192.168.0.22", f"DstIp={dst}")

    async def scenario() -> dict[str, Any]:
        async with make_estate() as e:
            ips, edr = PEERS["ips"], PEERS["edr"]
            # 不动产登记系统
            n0 = e.event(dptech("10.30.1.25"), ago(timedelta(days=10)), ips, alerts=True)  # open since before the window
            nx = e.event(dptech("10.30.1.26"), ago(timedelta(days=9)), ips, alerts=True)  # closed before the window
            n1 = e.event(dptech("10.30.1.27"), ago(timedelta(days=3)), ips, alerts=True)  # open 3 days
            n2 = e.event(NSFOCUS_C2.replace("dip=10.70.43.152", "dip=10.30.1.152"), ago(timedelta(days=2)), ips,
                         alerts=True)  # C2: the rule's id says malware; resolved after 30 h
            n3 = e.event(nip("10.30.1.22"), ago(timedelta(hours=26)), ips, alerts=True)  # resolved after 1 h
            h1 = e.event(VSECURE_TROJAN, ago(timedelta(days=2)), edr, alerts=True)  # EDR finding, open 2 days
            # 公积金查询系统
            n4 = e.event(dptech("10.40.1.25"), ago(timedelta(days=2)), ips, alerts=True)  # resolved after 2 h
            n5 = e.event(nip("10.40.1.22"), ago(timedelta(hours=3)), ips, alerts=True)  # open 3 h: within the deadline
            h2 = e.event(VSECURE_EXPLOIT, ago(timedelta(days=1)), edr, alerts=True)  # false positive after 40 min
            assert {get_path(d, "soc.asset.name") for d in (n0, nx, n1, n2, n3, h1)} == {"不动产登记系统"}
            assert {get_path(d, "soc.asset.name") for d in (n4, n5, h2)} == {"公积金查询系统"}
            assert "malware" not in n2["event"]["category"] and "malware" in n1["event"]["category"]
            a = {name: alert_of(e, doc) for name, doc in
                 (("n0", n0), ("nx", nx), ("n1", n1), ("n2", n2), ("n3", n3), ("h1", h1), ("n4", n4), ("n5", n5), ("h2", h2))}
            rules = {name: next(x["rule"]["id"] for x in e.alerts if x["soc"]["alert"]["id"] == aid) for name, aid in a.items()}
            assert rules["n2"] in network.params["rule_ids"] and "soc.malware" in next(
                x["tags"] for x in e.alerts if x["soc"]["alert"]["id"] == a["h1"])
            await e.flush()
            for name, doc, status, after in (("nx", nx, "resolved", timedelta(hours=40)),
                                             ("n2", n2, "resolved", timedelta(hours=30)),
                                             ("n3", n3, "resolved", timedelta(hours=1)),
                                             ("n4", n4, "resolved", timedelta(hours=2)),
                                             ("h2", h2, "false_positive", timedelta(minutes=40))):
                await e.triage(a[name], status, datetime.fromisoformat(doc["@timestamp"].replace("Z", "+00:00")) + after)
            return {"alerts": a, "results": await e.run([network, host])}

    out = asyncio.run(scenario())
    a, got = out["alerts"], out["results"]

    bad = got[("malware-handled-network", "不动产登记系统")]
    assert bad.status == "fail", bad.reason
    c = counts(bad)
    assert (c["alerts"], c["handled_in_time"], c["handled_late"], c["open_overdue"], c["open_within_deadline"]) == (4, 1, 1, 2, 0)
    assert c["median_handling_s"] == 15.5 * 3600  # 1 h and 30 h
    assert bad.evidence.samples == [a["n0"], a["n1"], a["n2"], a["n3"]]  # overdue, late, then in time
    assert a["nx"] not in bad.evidence.samples
    assert "2 条超过 24h 仍未处置、1 条超时处置" in bad.reason
    assert any(a["n2"] in n and "after 1d6h" in n for n in bad.evidence.notes)
    bad_host = got[("malware-handled-host", "不动产登记系统")]
    assert bad_host.status == "fail" and bad_host.evidence.samples == [a["h1"]], bad_host.reason
    assert counts(bad_host)["alerts"] == 1 and counts(bad_host)["open_overdue"] == 1

    ok = got[("malware-handled-network", "公积金查询系统")]
    assert ok.status == "pass", ok.reason
    c = counts(ok)
    assert (c["alerts"], c["handled_in_time"], c["handled_late"], c["open_overdue"], c["open_within_deadline"]) == (2, 1, 0, 0, 1)
    assert c["median_handling_s"] == 7200 and set(ok.evidence.samples) == {a["n4"], a["n5"]}
    ok_host = got[("malware-handled-host", "公积金查询系统")]
    assert ok_host.status == "pass" and ok_host.evidence.samples == [a["h2"]], ok_host.reason
    assert counts(ok_host)["median_handling_s"] == 2400

    for check_id in ("malware-handled-network", "malware-handled-host"):
        none = got[(check_id, "社保查询系统")]
        assert none.status == "not_applicable" and counts(none)["alerts"] == 0, none.reason
    assert got[("malware-handled-network", "政务公开网站")].status == "not_applicable"
    assert ("malware-handled-host", "政务公开网站") not in got  # 7.1.4.5 asks for something else


# --------------------------------------------------------------------------- firewall rules


def h3c(src: str, dst: str, port: int) -> str:
    line = re.sub(r"SrcIPAddr\(1003\)=[^;]+", f"SrcIPAddr(1003)={src}", H3C_PERMIT)
    line = re.sub(r"DstIPAddr\(1007\)=[^;]+", f"DstIPAddr(1007)={dst}", line)
    return re.sub(r"DstPort\(1008\)=\d+", f"DstPort(1008)={port}", line)


def huawei(template: str, device: str, rule: str, src: str, dst: str, port: int) -> str:
    line = template.replace("neiwang-firewall-M", device)
    line = re.sub(r"source-ip=[^,]+", f"source-ip={src}", line)
    line = re.sub(r"destination-ip=[^,]+", f"destination-ip={dst}", line)
    line = re.sub(r"destination-port=\d+", f"destination-port={port}", line)
    return re.sub(r"rule-name=[^.]+\.$", f"rule-name={rule}.", line)


def test_firewall_rules(make_estate: Any, checks: dict[str, CheckDef]) -> None:
    declared = {"互联网边界区": ["t-u", "trust-untrust", "web-publish"], "数据中心区": ["av_22-23", "db-sync", "旧业务-ftp"],
                "政务外网区": ["3"], "灾备区": ["dr-any"]}
    wide_check = checks["firewall-any-to-any"]
    unused = tuned(checks["firewall-rules-unused"], declared_rules=declared)
    assert (wide_check.control, unused.control) == ("8.1.3.2 c", "8.1.3.2 b") and wide_check.scope == "zone"
    assert (wide_check.params["any_sources"], wide_check.params["any_destinations"], wide_check.params["any_ports"]) == (10, 50, 20)
    start = NOW - timedelta(days=1)

    async def scenario() -> dict[tuple[str, str], Result]:
        async with make_estate() as e:
            wide = [e.event(h3c(f"{60 + k % 12}.1.{k}.9", f"10.30.2.{k + 1}", 2000 + k), start + timedelta(minutes=k),
                            PEERS["FW-IRF"]) for k in range(60)]  # 12 /16 sources, 60 addresses, 60 ports
            narrow = [e.event(huawei(HUAWEI_PERMIT, "neiwang-firewall-M", "trust-untrust", f"10.{30 + k % 2}.5.{k + 1}",
                                     f"203.0.113.{k + 1}", (80, 443, 53)[k % 3]), start + timedelta(minutes=k),
                              PEERS["neiwang-firewall-M"]) for k in range(30)]
            narrow += [e.event(huawei(HUAWEI_PERMIT, "neiwang-firewall-M", "web-publish", f"{100 + k}.2.3.4", "10.30.1.80",
                                      443), start + timedelta(minutes=40 + k), PEERS["neiwang-firewall-M"]) for k in range(20)]
            dc = [e.event(huawei(HUAWEI_PERMIT, "USG6600", "db-sync", "10.30.1.10", "10.80.1.10", 3306),
                          start + timedelta(hours=2, minutes=k), PEERS["USG6600"]) for k in range(10)]
            dc += [e.event(huawei(HUAWEI_DENY, "USG6600", "av_22-23", f"103.146.174.{k + 1}", "10.80.1.10", 1433),
                           start + timedelta(hours=3, minutes=k), PEERS["USG6600"]) for k in range(5)]
            unnamed = [e.event(EASYNET_PERMIT.replace("src_port=138", f"src_port={138 + k}"),
                               start + timedelta(hours=4, minutes=k), PEERS["APW1KAIRFM000509"]) for k in range(10)]
            assert {(get_path(d, "rule.name"), get_path(d, "rule.id")) for d in wide} == {("t-u", "1")}
            assert all("allowed" in d["event"]["type"] for d in (*wide, *narrow, *unnamed))
            assert all(get_path(d, "rule.name") is None and get_path(d, "rule.id") is None for d in unnamed)
            assert {d["observer"]["hostname"] for d in dc} == {"USG6600"}
            await e.flush()
            got = await e.run([wide_check, unused])
            got[("ids", "wide")] = [d["event"]["id"] for d in wide]  # type: ignore[assignment]
            return got

    got = asyncio.run(scenario())
    wide_ids = got.pop(("ids", "wide"))

    flagged = got[("firewall-any-to-any", "互联网边界区")]
    assert flagged.status == "fail", flagged.reason
    c = counts(flagged)
    assert (c["any_to_any_rules"], c["rules_seen"], c["permits"], c["permits_with_rule"]) == (1, 3, 110, 110)
    assert "t-u (id 1)" in flagged.reason
    assert flagged.evidence.notes[0] == ("等效任意到任意 any-to-any: t-u (id 1) on FW-IRF (10.9.9.1): 60 permitted sessions "
                                         "from 12 source networks to 60 destinations on 60 ports")
    assert len(flagged.evidence.samples) == 1 and flagged.evidence.samples[0] in wide_ids
    narrow_zone = got[("firewall-any-to-any", "数据中心区")]
    assert narrow_zone.status == "pass" and counts(narrow_zone)["rules_seen"] == 2, narrow_zone.reason
    no_names = got[("firewall-any-to-any", "政务外网区")]
    assert no_names.status == "not_applicable" and "未记录策略名称" in no_names.reason
    assert counts(no_names)["traffic_events"] == 10 and counts(no_names)["events_with_rule"] == 0
    silent = got[("firewall-any-to-any", "灾备区")]
    assert silent.status == "not_applicable" and "无该区域边界防火墙的流量日志" in silent.reason
    assert got[("firewall-any-to-any", "测试区")].status == "not_applicable"

    hit = got[("firewall-rules-unused", "互联网边界区")]
    assert hit.status == "pass" and counts(hit)["declared_never_hit"] == 0, hit.reason
    stale = got[("firewall-rules-unused", "数据中心区")]
    assert stale.status == "fail" and counts(stale)["declared_never_hit"] == 1, stale.reason
    assert "旧业务-ftp" in stale.reason and stale.evidence.notes == ["规则未命中 never hit: 旧业务-ftp"]
    assert got[("firewall-rules-unused", "政务外网区")].status == "not_applicable"
    assert "无该区域边界防火墙的流量日志" in got[("firewall-rules-unused", "灾备区")].reason
    undeclared = got[("firewall-rules-unused", "测试区")]
    assert undeclared.status == "not_applicable" and "declared_rules" in undeclared.reason


# --------------------------------------------------------------------------- clocks


def test_clock_consistency(make_estate: Any, checks: dict[str, CheckDef]) -> None:
    check = checks["clock-consistency"]
    assert check.scope == "platform" and check.params["max_skew_s"] == 60 and check.control == "8.1.5.4 d"

    def times(n: int) -> list[datetime]:
        return [NOW - timedelta(minutes=10 * (k + 1)) for k in range(n)]

    def good(e: Estate, n: int) -> list[Doc]:  # 2 s from the device to the collector, one 90 s outlier in 20
        return [e.event(huawei(HUAWEI_PERMIT, "neiwang-firewall-M", "trust-untrust", "10.30.5.1", "203.0.113.9", 443), t,
                        PEERS["neiwang-firewall-M"], received=t + timedelta(seconds=90 if k == 4 else 2))
                for k, t in enumerate(times(n))]

    def unknown(e: Estate, n: int) -> list[Doc]:  # an invalid time, no time at all
        docs = [e.event(HILLSTONE_BAD_TIME.replace("62167", str(62167 + k)), t, PEERS["hillstone"], received=t,
                        retime=False) for k, t in enumerate(times(n))]
        docs += [e.event(NSFOCUS_ADS_LOAD.replace("0.05%", f"0.{k + 10}%"), t, PEERS["nsfocus-ads"], received=t,
                         retime=False) for k, t in enumerate(times(n))]
        assert all("_timestamp_invalid" in d["tags"] for d in docs[:n])
        assert all(d["@timestamp"] == d["soc"]["received"] and "tags" not in d for d in docs[n:])
        return docs

    async def skewed() -> tuple[Result, dict[str, list[str]]]:
        async with make_estate() as e:
            good(e, 20)
            behind = [e.event(h3c("10.30.5.1", "203.0.113.9", 443), t, PEERS["FW-IRF"], received=t + timedelta(seconds=400))
                      for t in times(10)]
            days_off = [e.event(huawei(HUAWEI_DENY, "USG6600", "av_22-23", "103.146.174.9", "10.80.1.10", 1433),
                                t - timedelta(days=3), PEERS["USG6600"], received=t) for t in times(6)]
            e.event(EVTSYS_STOPPED, NOW - timedelta(hours=1), PEERS["hosts"])  # too few to judge
            e.event(EVTSYS_STOPPED.replace("Stopped", "Started"), NOW - timedelta(minutes=50), PEERS["hosts"])
            unknown(e, 6)
            await e.flush()
            got = await e.run([check])
            return got[("clock-consistency", PLATFORM)], {"behind": ids(behind), "days_off": ids(days_off)}

    async def fine() -> Result:
        async with make_estate() as e:
            good(e, 20)
            unknown(e, 6)
            await e.flush()
            return (await e.run([check]))[("clock-consistency", PLATFORM)]

    async def only_unknown() -> Result:
        async with make_estate() as e:
            unknown(e, 6)
            await e.flush()
            return (await e.run([check]))[("clock-consistency", PLATFORM)]

    bad, planted = asyncio.run(skewed())
    assert bad.status == "fail", bad.reason
    c = counts(bad)
    assert (c["devices"], c["devices_judged"], c["devices_skewed"], c["devices_unknown"]) == (6, 3, 2, 3)
    assert c["events_without_device_time"] == 12 and c["samples"] == 36 and c["worst_p_skew_s"] == 3 * 86400
    assert bad.evidence.samples[0] in planted["days_off"] and bad.evidence.samples[1] in planted["behind"]
    assert len(bad.evidence.samples) == 2
    notes = "\n".join(bad.evidence.notes)
    assert "时钟偏差 skewed: USG6600 (10.9.9.3): p95 3d" in notes
    assert "时钟偏差 skewed: FW-IRF (10.9.9.1): p95 6m40s" in notes
    assert "neiwang-firewall-M" not in notes.split("时间未知")[0]  # 2 s at p95, the 90 s outlier aside
    assert "时间未知 unknown: 10.182.184.103 (10.9.9.5): 0 events with a device time, 6 without" in notes
    assert "时间未知 unknown: 10.9.9.6: 0 events with a device time, 6 without" in notes
    assert "时间未知 unknown: WIN-I2HJ5KJ28SP (10.9.9.7): 2 events with a device time, 0 without" in notes
    assert "2/3 台设备" in bad.reason

    ok = asyncio.run(fine())
    assert ok.status == "pass", ok.reason
    assert (counts(ok)["devices_judged"], counts(ok)["devices_unknown"], counts(ok)["worst_p_skew_s"]) == (1, 2, 2)
    assert "2 台设备时间未知" in ok.reason

    none = asyncio.run(only_unknown())
    assert none.status == "not_applicable", none.reason
    assert (counts(none)["devices"], counts(none)["devices_judged"], counts(none)["events_without_device_time"]) == (2, 0, 12)
