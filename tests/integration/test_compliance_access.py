"""MLPS 2.0 checks of audit records, intrusion detection, failed-login handling and clear-text
administration (compliance/checks/, soc/compliance/evaluators/) on the real Elasticsearch.

The estate: three systems (two at level 3 in dept-a and dept-b, one at level 2 in dept-b) and
three zones (two with boundary devices, one without), in an inventory of this test. The events are
real log lines, read through the real normalize stage (parsers and inventory enrichment) as the
worker would index them: the corpus lines of ../shared/corpus (Chinese devices, Elastic's system,
iptables and Suricata test logs), referenced by path and never copied; where the corpus has no
failure and lockout of one account on one host, the example lines of the platform's own rule
library (rules/*/…examples.yml, also read by path). A line's own time is years old: each document
is placed in the test's timeline (its @timestamp; a repeated line gets its own event id, as a
repeated attempt would). Each check's scene is planted in its own ten-day slot, and the check run
as of that slot (Context.now), so the scenes do not mix; the checks are the definitions of
compliance/checks/ (load_checks), run by run_checks.

- audit-record-fields (8.1.4.3 b): 政务服务网's bastion hosts, Windows and database auditor send
  8 audit records of which 5 lack fields (fail: the counts per field, the 5 ids); 公积金's Linux
  hosts send 19 complete records and 1 without a user (pass at exactly 95 %); the county system
  sends only traffic (not applicable).
- boundary-audit-record-fields (8.1.3.5 b): zone 1's devices' admin records are complete (pass),
  zone 2's lack outcome and user (fail), zone 3 lists no device (not applicable).
- ids-boundary-coverage (8.1.3.3 a/b): zone 1's two devices (one by address, one by name) send
  intrusion events (pass); zone 2 has a device with no log at all and one with only traffic
  (fail, both named and told apart); zone 3 lists no device (not applicable).
- severe-intrusion-alerted (8.1.3.3 d): zone 1's three high-severity intrusions are covered by
  alerts of the real IDS rule (by event id) and by a correlation alert of the attacker (by
  source.ip and time); zone 2 has one covered and two not (an alert of the same attacker two hours
  before does not cover): fail naming them; zone 3 had no severe intrusion (not applicable).
- login-failure-lockout (8.1.4.1 b): 政务服务网's root brute force is locked by pam_faillock and
  zhangsan's on the bastion by its "account locked" record (pass); 公积金's root brute force (six
  attempts, each logged by sshd and by PAM) is not locked — a lock of user test does not cover it
  (fail); the county system's failures are three users once each (not applicable, no brute force).
  Run as of the audit slot: no authentication record, no failure, and six failure records of which
  five are root's two attempts logged by sshd, PAM and pam_succeed_if (each not applicable, with its
  reason; with a threshold of 2 the same records are a brute force).
- cleartext-remote-admin (8.1.4.1 c): a network auditor's telnet session, a NAT record of FTP and
  a Suricata HTTP record on 8080 to 政务服务网 (fail, counted per protocol, their ids), an
  outbound HTTP connection not counted; 公积金 sees an SSH login and an IPS blocking 8080 (pass,
  the refusal counted); the county system has no traffic (not applicable). With 80 among the
  HTTP management ports, the WAF's accepted request on 80 counts too and a dropped one does not.

`soc compliance checks` validates the definitions.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml
from elasticsearch import Elasticsearch

from detectors.rules import load_rules
from soc.assets import AssetInventory, load_inventory
from soc.compliance.engine import Context, load_checks, run_checks
from soc.compliance.model import CheckDef, Result
from soc.config import PROJECT_ROOT, Settings
from soc.model import Alert, Doc, RawRecord, iso
from soc.store.bulk import BulkWriter
from soc.store.client import async_client
from soc.store.setup import ensure_templates
from soc.stream.detect import detect, event_context
from soc.stream.index import bulk_items
from soc.stream.normalize import normalize_record

from .conftest import drop_indices

pytestmark = pytest.mark.integration

CORPUS = PROJECT_ROOT.parent / "shared" / "corpus"
CN = CORPUS / "cn-vendors" / "samples.jsonl"
EI = CORPUS / "elastic-integrations" / "packages"
AUTH = EI / "system" / "data_stream" / "auth" / "_dev" / "test" / "pipeline"
RULES = PROJECT_ROOT / "rules"
SOC = str(Path(sys.executable).with_name("soc"))

SYS_A, SYS_B, SYS_C = "市政务服务网", "住房公积金管理系统", "A县办公自动化系统"
Z1, Z2, Z3 = "政务云区", "公积金专网", "县接入区"
INVENTORY = {
    "assets": [
        {"name": SYS_A, "owner": "市政务服务管理局", "tenant": "dept-a", "mlps_level": 3, "criticality": "critical",
         "networks": ["10.150.251.0/24", "192.168.27.0/24", "192.168.13.0/24", "192.168.50.0/24"],
         "hosts": ["fort", "WIN-I2HJ5KJ28SP", "node01", "gov-cloud-app-01"]},
        {"name": SYS_B, "owner": "市住房公积金管理中心", "tenant": "dept-b", "mlps_level": 3,
         "networks": ["10.146.202.0/24", "172.16.54.0/24"],
         "hosts": ["test-server", "test.lab.com", "slave22", "precise32", "host12345"]},
        {"name": SYS_C, "owner": "A县人民政府办公室", "tenant": "dept-b", "mlps_level": 2,
         "networks": ["172.17.19.0/24"], "hosts": ["webserver"]},
    ],
    "zones": [
        {"name": Z1, "tenant": "dept-a", "networks": ["192.168.14.0/24", "192.168.174.0/24"],
         "boundary_devices": ["10.255.1.11", "WAF"]},
        {"name": Z2, "tenant": "dept-b", "networks": ["192.168.200.0/24", "192.168.0.0/24"],
         "boundary_devices": ["10.255.2.21", "NIP6000D", "fw-gjj-silent", "10.255.2.23"]},
        {"name": Z3, "tenant": "dept-b", "networks": ["10.60.0.0/16"], "boundary_devices": []},
    ],
}
MINE = {"audit-record-fields", "boundary-audit-record-fields", "ids-boundary-coverage", "severe-intrusion-alerted",
        "login-failure-lockout", "cleartext-remote-admin"}

# Each scene in its own slot, ten days apart (wider than the longest window, 7 days), run an hour in.
START = (datetime.now(UTC) - timedelta(days=45)).replace(minute=0, second=0, microsecond=0)
AUDIT, IDS, LOCK, CLEAR = (START + timedelta(days=10 * k) for k in range(4))
RUN = timedelta(hours=1)


# --------------------------------------------------------------------------- the lines


def cn(device_type: str, needle: str) -> str:
    """The one corpus line of this device type that holds needle."""
    found = [row["raw"] for line in CN.read_text(encoding="utf-8").splitlines()
             if (row := json.loads(line))["device_type"] == device_type and needle in row["raw"]]
    assert len(found) == 1, f"{len(found)} lines of {device_type} hold {needle!r} in {CN}"
    return found[0]


def ei(path: Path, number: int) -> str:
    """Line `number` (from 0) of one of Elastic's test logs."""
    assert path.is_file(), f"corpus file missing: {path}"
    return path.read_text(encoding="utf-8").splitlines()[number]


def example(rule: str, section: str, k: int, i: int | None = None) -> str:
    """A raw example line of one of the rule library's rules (`{i}` filled for repeated events)."""
    data = yaml.safe_load((RULES / rule).read_text(encoding="utf-8"))
    entry = data[section][k]
    raw = entry["events"][0]["raw"] if "events" in entry else entry["raw"]
    return raw.replace("{i}", str(i)) if i is not None else raw


@dataclass
class Estate:
    settings: Settings
    inventory: AssetInventory
    ids: dict[str, str] = field(default_factory=dict)  # label -> event id
    docs: dict[str, Doc] = field(default_factory=dict)


def parse(raw: str, at: datetime, *, inventory: AssetInventory, scene: str, peer: str = "192.0.2.1",
          repeat: int | None = None) -> Doc:
    """The event the worker indexes for this line from a source in this scene, at this time."""
    record = RawRecord(raw.encode(), int(at.timestamp() * 1e9), "syslog-udp", f"{peer}:514", f"it-{scene}")
    key, doc = normalize_record(record, [inventory])
    assert key is not None, doc
    doc["@timestamp"] = iso(at)  # the line's own time is years ago: placed in the test's timeline
    if repeat is not None:
        doc["event"]["id"] += f"-{repeat}"  # the same line again: another attempt, another event
    return doc


# --------------------------------------------------------------------------- the scenes


def audit_scene(e: Estate) -> list[tuple[str, Doc]]:
    t, inv = AUDIT, e.inventory
    at = [t + timedelta(seconds=10 * k) for k in range(40)]
    secure = AUTH / "test-secure-rhel7.log"
    auth = AUTH / "test-auth.log"
    r5424 = AUTH / "test-5424.log"
    lines: list[tuple[str, str, str]] = [
        # 政务服务网: bastion hosts (fort, node01), a Windows host, a database auditor (by address)
        ("a.raysas_logout", cn("audit_webray_raysas[v3.3]_syslog", "LogoutController"), ""),
        ("a.osm_session", cn("bastion_sangfor_osm-1000_syslog", "xinkaipu002"), ""),
        ("a.osm_config", cn("bastion_sangfor_osm-1000_syslog", "资源至[新开普]"), ""),
        ("a.shenfan_session", cn("bastion_shenfan_sag_syslog", "OA"), ""),
        ("a.win_1100", cn("os_microsoft_windows_eventlog_syslog", "Service Stopped"), ""),
        ("a.dbaudit_login", cn("dbaudit_webray_raysas[v3.0]_syslog", "superadmin"), ""),
        ("a.qz_login", cn("bastion_qzsec_ris-aca_warn", "login authorize success"), ""),
        ("a.qz_adduser", cn("bastion_qzsec_ris-aca_warn", "新建用户"), ""),
        ("a.telnet_traffic", cn("audit_venus_tianyue[6.0.16.0]_syslog", "TELNET"), ""),  # traffic: not audit
        # 公积金: Linux hosts' sshd, sudo, su, PAM (19 complete records, 1 without a user)
        *((f"b.5424_{n}", ei(r5424, n), "") for n in (0, 1, 2, 3, 4, 6, 7, 8, 9, 10, 11, 12, 13, 14)),
        *((f"b.secure_{n}", ei(secure, n), "") for n in range(7)),
        ("b.auth_failed_root", ei(auth, 3), ""),
        ("b.auth_sudo_denied", ei(auth, 7), ""),
        # the county system: traffic only
        ("c.nat_session", cn("firewall_dptech_firewall_syslog", "SessionW"), ""),
        # zone 1's devices (by the address they send from): an administrator's login and change
        ("z1.sag_login", cn("vpn_venus_sag6000[v3.0]_syslog", "zhairui"), "10.255.1.11"),
        ("z1.nac_add", cn("nac_venus_nac-6000[v3.0]_syslog", "添加Windows安全基线"), "10.255.1.11"),
        # zone 2's: a login, a logout without its outcome, a configuration change without a user
        ("z2.usg_login", cn("firewall_huawei_firewall_syslog", "USER_ACCESSRESULT"), "10.255.2.21"),
        ("z2.waf_logout", cn("waf_sangfor_waf1000_syslog", "日志类型:用户认证"), "10.255.2.21"),
        ("z2.nip_exit", cn("ips_huawei_nip6000_syslog", "exit from configure mode"), "10.255.2.21"),
    ]
    out = []
    for k, (label, raw, peer) in enumerate(lines):
        out.append((label, parse(raw, at[k], inventory=inv, scene="audit", peer=peer or "192.0.2.1")))
    return out


def ids_scene(e: Estate) -> tuple[list[tuple[str, Doc]], list[Doc]]:
    t, inv = IDS, e.inventory
    lines = [
        # zone 1: the Venustech IDS at 10.255.1.11, the WebRAY WAF named WAF
        ("z1.apt_upload_1", cn("apt_venus_tiantian_syslog", "85324C74408343328296D1AEDFF72881"), "10.255.1.11", 1),
        ("z1.apt_upload_2", cn("apt_venus_tiantian_syslog", "9379CD1826B44FEAB4D874AF9690A1B9"), "10.255.1.11", 2),
        ("z1.beacon", cn("ids_venus_tiantian[v7]_syslog", "Beacon"), "10.255.1.11", 3),
        ("z1.nfs_probe", cn("apt_venus_tiantian_syslog", "192.100.10.180"), "10.255.1.11", 4),
        ("z1.waf_dns", cn("waf_webray_raywaf_json", "attack=DNS"), "10.255.1.12", 5),
        ("z1.waf_os_injection", cn("waf_webray_raywaf_json", "OS Injection"), "10.255.1.12", 6),
        # zone 2: the Sangfor WAF at 10.255.2.21, the Huawei NIP named NIP6000D, an inner firewall,
        # the firewall at 10.255.2.23 that sends only traffic; fw-gjj-silent sends nothing
        ("z2.webcalendar", cn("waf_sangfor_waf1000_syslog", "WebCalendar"), "10.255.2.21", 10),
        ("z2.syn_fin", cn("waf_sangfor_waf1000_syslog", "SYN和FIN"), "10.255.2.21", 11),
        ("z2.trojan_nip", cn("ips_huawei_nip6000_syslog", "SignName=1qaz"), "10.255.2.22", 12),
        ("z2.trojan_fw", cn("firewall_huawei_firewall_syslog", "pilutce.com"), "10.255.2.99", 13),
        ("z2.fw_traffic", cn("firewall_fortinet_firewall_syslog", "action=close"), "10.255.2.23", 14),
    ]
    docs = [(label, parse(raw, t + timedelta(minutes=m), inventory=inv, scene="ids", peer=peer))
            for label, raw, peer, m in lines]
    by = dict(docs)
    # The detection stage's alerts, by the real rule: for the events it saw
    ruleset = load_rules([RULES / "ids" / "net_ids_high_severity_alert.yml"])
    assert not ruleset.errors, ruleset.errors
    alerts: list[Doc] = []
    for label in ("z1.apt_upload_1", "z1.apt_upload_2", "z2.trojan_nip"):
        raised, _ = detect(ruleset, by[label])
        assert len(raised) == 1, label
        alerts += raised
    # a correlation alert of the beacon's source over 10 minutes, whose 100 listed event ids are others
    beacon = by["z1.beacon"]
    seen = datetime.fromisoformat(beacon["@timestamp"].replace("Z", "+00:00"))
    alerts.append(Alert(rule_id="r-beacon", rule_name="内网主机持续外联 C2", level="high",
                        group_key="r-beacon|source.ip=192.168.174.150", first_seen=seen - timedelta(minutes=5),
                        last_seen=seen + timedelta(minutes=5), event_ids=[f"beacon-{k}" for k in range(100)],
                        count=240, context=event_context(beacon), window_start_id="beacon-0").to_doc())
    # an alert of the inner firewall's trojan source, two hours before its event: it does not cover it
    trojan = by["z2.trojan_fw"]
    seen = datetime.fromisoformat(trojan["@timestamp"].replace("Z", "+00:00"))
    alerts.append(Alert(rule_id="r-old", rule_name="木马外联", level="high", group_key="r-old|192.168.0.239",
                        first_seen=seen - timedelta(hours=2, minutes=10), last_seen=seen - timedelta(hours=2),
                        event_ids=["old-1"], count=1, context=event_context(trojan),
                        window_start_id="old-1").to_doc())
    return docs, alerts


def lock_scene(e: Estate) -> list[tuple[str, Doc]]:
    t, inv = LOCK, e.inventory
    out: list[tuple[str, Doc]] = []
    # 政务服务网: root on gov-cloud-app-01 (five sshd failures, then pam_faillock)...
    for i in range(5):
        raw = example("correlation/ssh_bruteforce.examples.yml", "match", 0, i)
        out.append((f"a.root_fail_{i}", parse(raw, t + timedelta(seconds=10 * i), inventory=inv, scene="lock")))
    raw = example("linux/host_linux_account_locked.examples.yml", "match", 0)
    out.append(("a.root_locked", parse(raw, t + timedelta(seconds=45), inventory=inv, scene="lock")))
    # ... and zhangsan on the bastion node01 (five failures, then its "account locked" record)
    b = t + timedelta(minutes=30)
    for i in range(5):
        raw = example("bastion/host_bastion_bruteforce.examples.yml", "match", 0, i)
        out.append((f"a.zhangsan_fail_{i}", parse(raw, b + timedelta(seconds=20 * i), inventory=inv, scene="lock")))
    raw = example("bastion/host_bastion_account_locked.examples.yml", "match", 1)
    out.append(("a.zhangsan_locked", parse(raw, b + timedelta(minutes=3), inventory=inv, scene="lock")))
    # 公积金: six attempts on root at slave22, each logged by sshd and by pam_unix; only user test is locked
    c = t + timedelta(minutes=10)
    failed = ei(AUTH / "test-secure-rhel7.log", 0)
    pam = ei(AUTH / "test-secure-rhel7.log", 5)
    for i in range(6):
        out.append((f"b.sshd_fail_{i}", parse(failed, c + timedelta(seconds=20 * i), inventory=inv, scene="lock",
                                               repeat=i)))
        out.append((f"b.pam_fail_{i}", parse(pam, c + timedelta(seconds=20 * i + 1), inventory=inv, scene="lock",
                                             repeat=i)))
    out.append(("b.test_locked", parse(ei(AUTH / "test-pam-faillock.log", 0), c + timedelta(minutes=2),
                                       inventory=inv, scene="lock")))
    # the county system: three users fail once each
    d = t + timedelta(minutes=40)
    for n in (0, 1, 3):
        out.append((f"c.pam_{n}", parse(ei(AUTH / "test-pam-extraction.log", n), d + timedelta(seconds=n),
                                        inventory=inv, scene="lock")))
    return out


def clear_scene(e: Estate) -> list[tuple[str, Doc]]:
    t, inv = CLEAR, e.inventory
    lines = [
        ("a.telnet_session", cn("audit_venus_tianyue[6.0.16.0]_syslog", "TELNET")),  # to 192.168.27.171:23
        ("a.ftp_nat", cn("ips_venus_nips[v6]_syslog", "NAT: SerialNum")),  # to 192.168.13.244:21
        ("a.http_8080", ei(EI / "suricata" / "data_stream" / "eve" / "_dev" / "test" / "pipeline" / "test-eve-small.log",
                           8)),  # to 192.168.50.1:8080
        ("a.http_out", cn("ips_venus_nips[v6]_syslog", "Action=Allow")),  # from 192.168.13.154 out to port 80
        ("a.waf_accept_80", cn("waf_webray_raywaf_json", "SQLInjectionProtection")),  # to 192.168.13.32:80, accept
        ("b.ssh_login", ei(AUTH / "test-5424.log", 11)),  # test-server's own log
        ("b.ips_block_8080", cn("ids_topsec_topsentry[3.3.005.662u]_syslog", 'dport="8080"')),  # to 10.146.202.4
        ("b.iptables_drop_80", ei(EI / "iptables" / "data_stream" / "log" / "_dev" / "test" / "pipeline"
                                  / "test-iptables-raw.log", 7)),  # to 172.16.54.114:80
    ]
    return [(label, parse(raw, t + timedelta(minutes=k), inventory=inv, scene="clear")) for k, (label, raw)
            in enumerate(lines)]


async def _write(s: Settings, kind: str, docs: list[Doc]) -> None:
    raw = async_client(s)
    try:
        items, dead = bulk_items(kind, s.elastic.index_prefix, [orjson.dumps(d) for d in docs])
        assert not dead, dead
        result = await BulkWriter(raw, "test", refresh=True).write(items)
        assert result.written == len(items), result
    finally:
        await raw.close()


@pytest.fixture(scope="module")
def estate(tmp_path_factory: pytest.TempPathFactory, base_settings: Settings, es: Elasticsearch) -> Iterator[Estate]:
    tmp = tmp_path_factory.mktemp("compliance-access")
    inv_path = tmp / "assets.yaml"
    inv_path.write_text(yaml.safe_dump(INVENTORY, allow_unicode=True), encoding="utf-8")
    prefix = f"acc{uuid.uuid4().hex[:8]}"
    s = base_settings.model_copy(update={"elastic": base_settings.elastic.model_copy(update={"index_prefix": prefix}),
                                         "assets_file": inv_path})
    e = Estate(s, load_inventory(inv_path))
    events: list[tuple[str, Doc]] = []
    events += audit_scene(e)
    ids_docs, alerts = ids_scene(e)
    events += ids_docs
    events += lock_scene(e)
    events += clear_scene(e)
    for label, doc in events:
        assert label not in e.ids
        e.ids[label], e.docs[label] = doc["event"]["id"], doc
    assert len(set(e.ids.values())) == len(e.ids), "two planted events share an id"

    async def seed() -> None:
        await ensure_templates(s)
        await _write(s, "events", [d for _, d in events])
        await _write(s, "alerts", alerts)

    asyncio.run(seed())
    yield e
    drop_indices(es, prefix)


async def run(e: Estate, check_id: str, now: datetime, **params: Any) -> dict[str, Result]:
    """One check of compliance/checks (params overridden when given), as of `now`: subject -> result."""
    checks, problems = load_checks()
    assert not [p for p in problems if any(m.replace("-", "_") in p for m in MINE)], problems
    check = next(c for c in checks if c.id == check_id)
    if params:
        check = check.model_copy(update={"params": {**check.params, **params}})
    es = async_client(e.settings)
    try:
        results = await run_checks(Context(es, e.settings, e.inventory, now), [check])
    finally:
        await es.close()
    assert all(r.status != "error" for r in results), [r.reason for r in results if r.status == "error"]
    return {r.subject: r for r in results}


def ids(e: Estate, *labels: str) -> set[str]:
    return {e.ids[label] for label in labels}


# --------------------------------------------------------------------------- the definitions


def test_definitions_load_and_the_cli_lists_them() -> None:
    checks, problems = load_checks()
    mine = {c.id: c for c in checks if c.id in MINE}
    assert set(mine) == MINE, problems
    assert not [p for p in problems if any(m.replace("-", "_") in p for m in MINE)], problems
    expected = {"audit-record-fields": ("8.1.4.3 b", "7.1.4.3 b", "asset"),
                "boundary-audit-record-fields": ("8.1.3.5 b", "7.1.3.5 b", "zone"),
                "ids-boundary-coverage": ("8.1.3.3 a/b", "7.1.3.3", "zone"),
                "severe-intrusion-alerted": ("8.1.3.3 d", "", "zone"),
                "login-failure-lockout": ("8.1.4.1 b", "7.1.4.1 b", "asset"),
                "cleartext-remote-admin": ("8.1.4.1 c", "7.1.4.1 c", "asset")}
    for cid, (control, level2, scope) in expected.items():
        c: CheckDef = mine[cid]
        assert (c.control, c.level2_control, c.scope) == (control, level2, scope), cid
        assert c.remediation and any("\u4e00" <= ch <= "\u9fff" for ch in c.remediation), cid
    assert "事件是否成功" in mine["audit-record-fields"].control_text
    assert "限制非法登录次数" in mine["login-failure-lockout"].control_text
    assert "鉴别信息在网络传输过程中被窃听" in mine["cleartext-remote-admin"].control_text
    assert "严重入侵事件时应提供报警" in mine["severe-intrusion-alerted"].control_text
    assert mine["severe-intrusion-alerted"].levels == [3, 4]
    out = subprocess.run([SOC, "compliance", "checks"], capture_output=True, text=True, timeout=60,
                         env={**os.environ, "COLUMNS": "250"})
    for cid in MINE:
        assert cid in out.stdout, out.stdout + out.stderr
    assert not [line for line in out.stderr.splitlines() if any(m.replace("-", "_") in line for m in MINE)], out.stderr


# --------------------------------------------------------------------------- 8.1.4.3 b / 8.1.3.5 b


async def test_audit_record_fields(estate: Estate) -> None:
    got = await run(estate, "audit-record-fields", AUDIT + RUN)
    assert set(got) == {SYS_A, SYS_B, SYS_C}
    a, b, c = got[SYS_A], got[SYS_B], got[SYS_C]

    # 政务服务网: 8 audit records (the telnet traffic record is not one), 3 complete
    assert a.status == "fail", a.reason
    assert a.evidence.counts["audit_events"] == 8 and a.evidence.counts["complete"] == 3
    assert a.evidence.counts["missing.user.name"] == 2  # the Windows 1100 record, the database auditor's
    assert a.evidence.counts["missing.event.action"] == 1  # the database auditor's login names no action
    assert a.evidence.counts["missing.event.outcome"] == 5
    assert a.evidence.counts["missing.@timestamp"] == 0
    assert set(a.evidence.samples) == ids(estate, "a.raysas_logout", "a.osm_session", "a.shenfan_session",
                                          "a.win_1100", "a.dbaudit_login")
    assert "37.5%" in a.reason and "缺用户 2 条" in a.reason and "缺事件结果 5 条" in a.reason
    # which device or parser to fix: the <AUDIT_LOG> bastion lines (Sangfor OSM's, read as the shenfan
    # shape they share), the WebRAY auditors, the Windows event log forwarder
    assert "incomplete from shenfan.audit: 2 (missing event.outcome 2)" in a.evidence.notes
    assert "incomplete from windows.evtsys: 1 (missing event.outcome 1, user.name 1)" in a.evidence.notes

    # 公积金: 20 audit records (systemd, kernel and sshd's fatal line are not), one without a user: 95 %
    assert b.status == "pass", b.reason
    assert b.evidence.counts["audit_events"] == 20 and b.evidence.counts["incomplete"] == 1
    assert b.evidence.counts["missing.user.name"] == 1 and b.evidence.counts["missing.event.outcome"] == 0
    assert b.evidence.samples == [estate.ids["b.secure_4"]]  # "PAM service(sshd) ignoring max retries"
    assert "95.0%" in b.reason

    # the county system sent traffic only
    assert c.status == "not_applicable" and c.evidence.counts["audit_events"] == 0
    assert "无审计类事件" in c.reason


async def test_boundary_audit_record_fields(estate: Estate) -> None:
    got = await run(estate, "boundary-audit-record-fields", AUDIT + RUN)
    assert set(got) == {Z1, Z2, Z3}
    one, two, three = got[Z1], got[Z2], got[Z3]
    assert one.status == "pass", one.reason
    assert one.evidence.counts["audit_events"] == 2 and one.evidence.counts["incomplete"] == 0
    assert two.status == "fail", two.reason
    assert two.evidence.counts["audit_events"] == 3 and two.evidence.counts["complete"] == 1
    assert two.evidence.counts["missing.event.outcome"] == 2 and two.evidence.counts["missing.user.name"] == 1
    assert set(two.evidence.samples) == ids(estate, "z2.waf_logout", "z2.nip_exit")
    assert three.status == "not_applicable" and "未登记边界设备" in three.reason


# --------------------------------------------------------------------------- 8.1.3.3


async def test_ids_boundary_coverage(estate: Estate) -> None:
    got = await run(estate, "ids-boundary-coverage", IDS + RUN)
    one, two, three = got[Z1], got[Z2], got[Z3]

    assert one.status == "pass", one.reason
    assert one.evidence.counts["device.10.255.1.11.intrusion_events"] == 4  # matched by observer.ip
    assert one.evidence.counts["device.WAF.intrusion_events"] == 2  # matched by host.name
    assert one.evidence.counts["silent_devices"] == 0
    assert set(one.evidence.samples) <= ids(estate, "z1.apt_upload_1", "z1.apt_upload_2", "z1.beacon",
                                            "z1.nfs_probe", "z1.waf_dns", "z1.waf_os_injection")

    assert two.status == "fail", two.reason
    assert two.evidence.counts["silent_devices"] == 2
    assert two.evidence.counts["device.fw-gjj-silent.events"] == 0
    assert two.evidence.counts["device.10.255.2.23.events"] == 1
    assert two.evidence.counts["device.10.255.2.23.intrusion_events"] == 0
    assert two.evidence.counts["device.NIP6000D.intrusion_events"] == 1
    assert two.evidence.counts["device.10.255.2.21.intrusion_events"] == 2
    assert "fw-gjj-silent（无任何日志）" in two.reason and "10.255.2.23（有日志但无入侵检测事件）" in two.reason
    assert "NIP6000D" not in two.reason

    assert three.status == "not_applicable" and "未登记边界设备" in three.reason


async def test_severe_intrusion_alerted(estate: Estate) -> None:
    got = await run(estate, "severe-intrusion-alerted", IDS + RUN)
    one, two, three = got[Z1], got[Z2], got[Z3]

    # zone 1: two alerts of the IDS rule list their events; the beacon's is a correlation alert of its source
    assert one.status == "pass", one.reason
    assert one.evidence.counts["severe_intrusions"] == 3
    assert one.evidence.counts["alerted_by_event_id"] == 2 and one.evidence.counts["unalerted"] == 0
    assert set(one.evidence.samples) == ids(estate, "z1.apt_upload_1", "z1.apt_upload_2", "z1.beacon")

    # zone 2: the NIP's trojan is alerted; the WAF's attack and the inner firewall's trojan are not
    assert two.status == "fail", two.reason
    assert two.evidence.counts["severe_intrusions"] == 3
    assert two.evidence.counts["alerted"] == 1 and two.evidence.counts["unalerted"] == 2
    assert set(two.evidence.samples) == ids(estate, "z2.webcalendar", "z2.trojan_fw")
    assert "192.168.200.1→192.168.200.100" in two.reason and "192.168.0.239→192.168.0.253" in two.reason
    assert "WebCalendar" in two.reason and "1qaz" not in two.reason

    assert three.status == "not_applicable" and "无严重" in three.reason


# --------------------------------------------------------------------------- 8.1.4.1 b


async def test_login_failure_lockout(estate: Estate) -> None:
    got = await run(estate, "login-failure-lockout", LOCK + RUN)
    a, b, c = got[SYS_A], got[SYS_B], got[SYS_C]

    assert a.status == "pass", a.reason
    assert a.evidence.counts["brute_forces"] == 2 and a.evidence.counts["locked"] == 2
    assert a.evidence.counts["failures"] == 10  # the bastion's lock record is a failed login, not counted
    assert ids(estate, "a.root_locked", "a.zhangsan_locked") <= set(a.evidence.samples)
    assert "root" in a.reason and "zhangsan" in a.reason

    assert b.status == "fail", b.reason
    assert b.evidence.counts["failures"] == 12 and b.evidence.counts["brute_forces"] == 1
    assert b.evidence.counts["unlocked"] == 1 and b.evidence.counts["lockout_events"] == 1  # test's, not root's
    assert "root（slave22" in b.reason and "6 次失败" in b.reason
    assert set(b.evidence.samples) <= ids(estate, *(f"b.sshd_fail_{i}" for i in range(6)),
                                          *(f"b.pam_fail_{i}" for i in range(6)))
    assert len(b.evidence.samples) == 5

    assert c.status == "not_applicable", c.reason
    assert c.evidence.counts["failures"] == 3 and c.evidence.counts["brute_forces"] == 0
    assert "未构成暴力破解" in c.reason


async def test_login_failure_lockout_without_a_brute_force(estate: Estate) -> None:
    """As of the audit slot: each kind of 'no evidence either way' says which it is."""
    got = await run(estate, "login-failure-lockout", AUDIT + RUN)
    a, b, c = got[SYS_A], got[SYS_B], got[SYS_C]
    # logins, but none failed (the database auditor's "登录失败" states no outcome)
    assert a.status == "not_applicable" and a.evidence.counts["failures"] == 0
    assert a.evidence.counts["authentication_events"] > 0 and "无登录失败" in a.reason
    # six failure records within two minutes: five of root, but two attempts logged by sshd, PAM and
    # pam_succeed_if, and PAM's "ignoring max retries" notice, which names no user
    assert b.status == "not_applicable" and b.evidence.counts["failures"] == 6
    assert b.evidence.counts["brute_forces"] == 0 and "未构成暴力破解" in b.reason
    # no authentication record at all
    assert c.status == "not_applicable" and c.evidence.counts["authentication_events"] == 0
    assert "无认证日志" in c.reason
    # a stricter threshold makes those five a brute force: it is the count per kind that kept them apart
    strict = await run(estate, "login-failure-lockout", AUDIT + RUN, failures=2)
    assert strict[SYS_B].status == "fail" and strict[SYS_B].evidence.counts["brute_forces"] == 1


# --------------------------------------------------------------------------- 8.1.4.1 c


async def test_cleartext_remote_admin(estate: Estate) -> None:
    got = await run(estate, "cleartext-remote-admin", CLEAR + RUN)
    a, b, c = got[SYS_A], got[SYS_B], got[SYS_C]

    assert a.status == "fail", a.reason
    counts = a.evidence.counts
    assert (counts["telnet"], counts["ftp"], counts["http"]) == (1, 1, 1)
    assert counts["telnet.session_records"] == 1 and counts["ftp.session_records"] == 1
    assert counts["http.session_records"] == 1
    assert "rsh" not in counts and "rlogin" not in counts
    assert counts["events"] == 4  # the outbound connection is not the system's: out of scope
    assert set(a.evidence.samples) == ids(estate, "a.telnet_session", "a.ftp_nat", "a.http_8080")
    assert "telnet 1 次" in a.reason and "ftp 1 次" in a.reason and "http(8080) 1 次" in a.reason

    assert b.status == "pass", b.reason
    assert b.evidence.counts["events"] == 3 and b.evidence.counts["cleartext"] == 0
    assert b.evidence.counts["refused"] == 1 and b.evidence.counts["http.refused"] == 1
    assert not b.evidence.samples and "被拒绝" in b.reason

    assert c.status == "not_applicable" and c.evidence.counts["events"] == 0
    assert "无到该系统地址的流量" in c.reason


async def test_cleartext_remote_admin_http_ports(estate: Estate) -> None:
    """With port 80 among the management ports, the WAF's accepted request counts, a drop does not."""
    got = await run(estate, "cleartext-remote-admin", CLEAR + RUN, http_admin_ports=[80, 8080])
    a, b = got[SYS_A], got[SYS_B]
    assert a.status == "fail"
    assert a.evidence.counts["http"] == 2 and a.evidence.counts["http.allowed"] == 1
    assert estate.ids["a.waf_accept_80"] in a.evidence.samples
    assert estate.ids["a.http_out"] not in a.evidence.samples
    assert b.status == "pass" and b.evidence.counts["http.refused"] == 2

