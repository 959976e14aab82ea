"""soc.severity: one severity scale (informational, low, medium, high, critical) for every
security device, read from the real corpus lines (cn-vendors and elastic-integrations).

Each vendor test names the value the line carries and the level it must become; the lines whose
scale cannot be told (SkyEye's numeric severity, TopIDP's level, the NIPS EventLevel...) must
carry no soc.severity rather than a guess.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from collectors.parsers import parse
from collectors.parsers.kv import SEVERITY_LEVELS, SYSLOG_SEVERITY, set_severity
from soc.model import get_path

from .cn_acceptance import CORPUS, ctx, raw_with

PACKAGES = Path(__file__).resolve().parents[3].parent / "shared" / "corpus" / "elastic-integrations" / "packages"
PIPELINE = "data_stream/{stream}/_dev/test/pipeline"


def _severity(vendor: str, needle: str, hint: str = "syslog") -> Any:
    return get_path(parse(raw_with(vendor, needle), hint, ctx()).doc, "soc.severity")


# --------------------------------------------------------------------------- the helper

@pytest.mark.parametrize(("value", "level"), [
    ("信息", "informational"), ("提示", "informational"), ("低", "low"), ("低危", "low"), ("轻微", "low"),
    ("中", "medium"), ("中危", "medium"), ("警告", "medium"), ("高", "high"), ("高危", "high"), ("严重", "high"),
    ("高风险", "high"), ("紧急", "critical"), ("危急", "critical"), ("致命", "critical"), ("超危", "critical"),
    ("info", "informational"), ("Low", "low"), ("MEDIUM", "medium"), ("warning", "medium"), ("MID", "medium"),
    ("High", "high"), ("major", "high"), ("error", "high"), ("Critical", "critical"), ("emergency", "critical"),
    ("alert", "critical"), (" urgent ", "critical"),
])  # fmt: skip
def test_words(value: str, level: str) -> None:
    doc: dict[str, Any] = {}
    assert set_severity(doc, value)
    assert doc == {"soc": {"severity": level}}


@pytest.mark.parametrize(("value", "level"), [
    (0, "critical"), ("1", "critical"), (2, "high"), ("3", "high"), (4, "medium"), ("5", "low"), (6, "low"),
    ("7", "informational"), ("emergent", "critical"), ("告警", "critical"), ("crit", "high"), ("notice", "low"),
    ("information", "low"), ("debug", "informational"),
])  # fmt: skip
def test_syslog_levels(value: object, level: str) -> None:
    doc: dict[str, Any] = {}
    set_severity(doc, value, SYSLOG_SEVERITY)
    assert get_path(doc, "soc.severity") == level


def test_first_value_wins_and_unknown_values_set_nothing() -> None:
    doc: dict[str, Any] = {}
    for value in (None, "", "3", "30", True, "Red", "安全事件"):
        assert not set_severity(doc, value)  # numbers need the vendor's scale: no guess
    assert doc == {}
    assert set_severity(doc, "高") and not set_severity(doc, 0, SYSLOG_SEVERITY)
    assert get_path(doc, "soc.severity") == "high"
    assert set(SEVERITY_LEVELS) == set(SYSLOG_SEVERITY.values())


# --------------------------------------------------------------------------- the Chinese corpus

# vendor -> (a needle naming one corpus line, the soc.severity it must carry; None: no known scale,
# so no soc.severity rather than a guess).
CASES: dict[str, tuple[tuple[str, str | None], ...]] = {
    # Huawei: the IPS Severity= word, else the %%01MODULE/<level>/ syslog level.
    "huawei": (
        ("%%01ASSOC/4/ATTACK", "high"),  # Severity=high
        ("%%01NLOG/2/DISKFULL", "high"),  # level 2
        ("%%01POLICY/6/POLICYPERMIT", "low"),  # level 6
        ("hexin %%01INFO/4/SUPPRESS_LOG", None),  # a switch: not a security device
    ),
    # H3C: Severity(1087)= word, else the %%10MODULE/<level>/ syslog level.
    "h3c": (
        ("Severity(1087)=CRITICAL", "critical"),
        ("Severity(1087)=MEDIUM", "medium"),
        ("%%ATK/3/ATK_ICMP_FLOOD", "high"),
        ("H3C;110104700118072615188454", None),  # ACG behaviour log
    ),
    # Hillstone: threat severity, else the PRI's level (<188>: warning).
    "hillstone": (
        ("threat severity: Critical", "critical"),
        ('Admin user "admin" logged out', "medium"),
    ),
    # Sangfor NGAF / WAF 严重级别 / 严重等级; the OSM bastion's 日志级别 (syslog names).
    "sangfor": (
        ("日志类型:WAF应用防护日志", "high"),
        ("日志类型:WEB应用防护", "medium"),
        ("<33>Nov 18 10:29:56 fort i: [张三]", "critical"),  # 日志级别：[Alert]
        ("日志类型:NAT日志", None),  # no severity; the constant <134> is not read
    ),
    # Venustech: DangerLevel, the WAG's Evt_log_level (syslog), 天阗 event_level_name, 天玥 level.
    "venus": (
        ("DangerLevel=高", "high"),
        ("MiraiXMiner", "medium"),  # Evt_log_level=4
        ("HTTP_sogou_spider", "low"),  # Evt_log_level=6
        ('"event_level_name": "中危"', "medium"),
        ("level=urgent", "critical"),
        ("EventLevel=1", None),  # NIPS EventLevel: 0, 1, 5 in the corpus, no scale
    ),
    # NSFOCUS: danger_degree 1-3, the DAS 风险级别, the WAF alertlevel.
    "nsfocus": (
        ("danger_degree:1", "low"),
        ("danger_degree:3", "high"),
        ("danger_degree=2", "medium"),
        ("风险级别:高风险", "high"),
        ("alertlevel:MEDIUM", "medium"),
        ("threat_level=5", None),
    ),
    # Topsec: risk_name, TopHPP severity, else pri (a syslog level, by number or name).
    "topsec": (
        ('risk_name="低"', "low"),
        ('type="memory_monitor" recorder="memory_monitor', "critical"),  # pri="1" / pri="emergent"
        ('pri="debug" type="dns_proxy"', "informational"),
        ('pri="告警" type="内存占用率日志"', "critical"),
        ("severity=Low,attack_type=AbnormalBehavior", "low"),
        ("Pri: 4 type: attacklog", "medium"),
        ('rule="27239" msg="Acunetix', None),  # TopIDP level="2"
    ),
    # Legendsec Themis: severity word, else pri (WELF: a syslog level).
    "legendsec": (
        ('eventname="协议控制 HTTP域名" severity=低', "low"),
        ("puma_block", "low"),  # pri=5
    ),
    # Qianxin NSG: severity is a syslog level name.
    "qianxin": (
        ('severity="emerg"', "critical"),
        ("skyeye_", None),  # SkyEye's numeric severity: scale not established
        ("webids-webattack_dolog", None),
    ),
    # DPtech: the %% header level, the APT severity, the OSP 日志级别, the DSP 风险等级.
    "dptech": (
        ("UAG/ATTACK/0/DATALOG", "critical"),
        ('severity="debug"', "informational"),
        ("触发[命令越权]告警", "critical"),
        ("风险等级: 高", "high"),
    ),
    "dbappsecurity": (
        ("SMB远程溢出攻击", "high"),
        ("威胁/低", "low"),
        ("severity_id/2", None),
        ("dataAll ipssec", None),  # a logger's level="info", not the alert's
    ),
    "webray": (
        ('"r_severity_name":MID', "medium"),
        ('"kill_chain":"malware-download"', None),  # RayEye severity 2-5
    ),
    "fortinet": (
        ("subtype=dlp", "medium"),  # severity=medium
        ("subtype=vpn", "low"),  # level=notice
    ),
    "juniper": (
        ("system-critical-00027", "high"),  # crit: syslog 2
    ),
    "cajinchen": (
        ("pri=0", "critical"),
    ),
    "netentsec": (
        ("no server alive", "high"),
    ),
    "anmit": (
        ('MODULE="文件交换日志"', "high"),
    ),
    "easynetworks": (
        ('severity="low"', "low"),
    ),
    # Asiainfo: TDA CEF 0-10; the ESM's level word (its CEF number is not CEF's scale).
    "asiainfo": (
        ("POSSIBLE SQL INJECT RCE EXPLOIT", "medium"),
        ("level=中危", "medium"),
        ("|virus|0|", None),  # ESM CEF severity 0 without a level word
    ),
    "datacloudsec": (
        ("VulLevel=低危", "low"),
        ("VulLevel=信息", "informational"),
    ),
    "jnsec": (
        ('"loglevel": "WARN"', "medium"),
    ),
    "qzsec": (
        ("login(WEB)(INFORMATIONAL)", "low"),
    ),
    "leadsec": (
        ('"level":30', None),  # 天阗 JSON level 30
    ),
}


@pytest.mark.parametrize(
    ("vendor", "needle", "level"), [(v, n, lv) for v, cases in CASES.items() for n, lv in cases]
)
def test_vendor_severity(vendor: str, needle: str, level: str | None) -> None:
    assert _severity(vendor, needle) == level


def test_every_value_is_a_sigma_level() -> None:
    seen = set()
    for line in CORPUS.read_text(encoding="utf-8").splitlines():
        rec = json.loads(line)
        if not rec["raw"].strip():
            continue
        try:
            doc = parse(rec["raw"], "syslog", ctx()).doc
        except Exception:  # noqa: BLE001 - lines no format reads are the acceptance tests' business
            continue
        level = get_path(doc, "soc.severity")
        if level is not None:
            seen.add(level)
            assert level in SEVERITY_LEVELS, rec["raw"][:80]
    assert seen == set(SEVERITY_LEVELS)


# --------------------------------------------------------------------------- elastic-integrations

def _lines(package: str, stream: str, name: str) -> list[str]:
    path = PACKAGES / package / PIPELINE.format(stream=stream) / name
    assert path.is_file(), f"corpus missing: {path}"
    return [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


@pytest.mark.parametrize(("package", "stream", "name"), [
    ("suricata", "eve", "test-eve-small.log"), ("suricata", "eve", "test-eve-6-0.log"),
    ("snort", "log", "test-log-fast.log"), ("snort", "log", "test-log-syslog.log"),
])  # fmt: skip
def test_suricata_and_snort_priority(package: str, stream: str, name: str) -> None:
    """Classification priority 1 high, 2 medium, 3 low; Snort's priority 0 is no priority."""
    levels = {1: "high", 2: "medium", 3: "low"}
    alerts = 0
    for line in _lines(package, stream, name):
        doc = parse(line, "syslog", ctx()).doc
        priority = get_path(doc, "event.severity")
        if get_path(doc, "event.kind") == "alert" and priority:
            alerts += 1
            assert get_path(doc, "soc.severity") == levels[priority], line[:100]
        elif priority is None:
            assert get_path(doc, "soc.severity") is None, line[:100]
    assert alerts


def test_cef_modsecurity_and_fortigate() -> None:
    for line in _lines("cef", "log", "test-cef.log"):  # header severity 0: CEF's Low (0-3)
        assert get_path(parse(line, "syslog", ctx()).doc, "soc.severity") == "low"
    mod = [parse(line, "syslog", ctx()).doc for line in _lines("modsecurity", "auditlog", "test-audit.log")]
    rated = [d for d in mod if get_path(d, "event.severity") is not None]
    assert rated and all(get_path(d, "soc.severity") == SYSLOG_SEVERITY[str(get_path(d, "event.severity"))]
                         for d in rated)
    for line in _lines("fortinet_fortigate", "log", "test-fortinet-7-2.log"):
        assert get_path(parse(line, "syslog", ctx()).doc, "soc.severity") in SEVERITY_LEVELS


def test_plain_syslog_and_host_logs_carry_none() -> None:
    """Only security devices are rated: a host's syslog (PRI and all) gets no soc.severity."""
    lines = _lines("system", "syslog", "test-systemd.log") + _lines("system", "auth", "test-auth.log")
    for line in lines:
        try:
            doc = parse(line, "syslog", ctx()).doc
        except Exception:  # noqa: BLE001 - a line no format reads
            continue
        assert get_path(doc, "soc.severity") is None, line[:100]
