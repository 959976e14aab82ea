"""Logsource routing (pipelines/logsources.yml, detectors/logsource.py): events as our parsers
produce them from real lines get the keys of the Sigma logsources that cover them, and rules
meet only those events."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import pytest
import yaml
from sigma.collection import SigmaCollection
from sigma.rule import SigmaLogSource, SigmaRule

from collectors.parsers import ParseContext, parse
from collectors.pcap import Flow
from detectors.logsource import ROUTES_FILE, LogsourceIndex
from soc.model import RawRecord
from soc.stream.normalize import normalize_record

PROJECT = Path(__file__).resolve().parents[2]
SIGMA = PROJECT.parent / "shared" / "corpus" / "sigma"

CTX = ParseContext(source_id="t", received_at=datetime(2024, 6, 1, tzinfo=UTC), timezone=ZoneInfo("Asia/Shanghai"))

ZH_4625 = ("帐户登录失败。 使用者: 安全 ID: S-1-0-0 帐户名: - 帐户域: - 登录 ID: 0x0 登录类型: 3 "
           "登录失败的帐户: 安全 ID: S-1-0-0 帐户名: administrator 帐户域: WIN-ABC 失败信息: "
           "失败原因: 未知用户名或密码错误。 状态: 0xC000006D 子状态: 0xC000006A 进程信息: 调用方进程 ID: 0x0 "
           "调用方进程名: - 网络信息: 工作站名: KALI 源网络地址: 192.168.1.50 源端口: 0 "
           "详细身份验证信息: 登录进程: NtLmSsp 身份验证数据包: NTLM")  # fmt: skip
SYSMON_1 = json.dumps({
    "@timestamp": "2024-05-01T02:03:04.123Z",
    "winlog": {"event_id": 1, "channel": "Microsoft-Windows-Sysmon/Operational", "provider_name": "Microsoft-Windows-Sysmon",
               "computer_name": "PC1", "event_data": {"Image": "C:\\Windows\\System32\\cmd.exe", "CommandLine": "cmd /c whoami"}},
})  # fmt: skip

LINES = {
    # Chinese-vendor corpus (cn-vendors/samples.jsonl): a Huawei USG policy deny
    "huawei_firewall": "<190>Jan 17 2022 01:03:41 USG6600 %%01POLICY/6/POLICYDENY(l):vsys=public, protocol=6, "
    "source-ip=103.146.174.156, source-port=40156, destination-ip=210.30.96.206, destination-port=1433, "
    "time=2022/1/17 09:03:41, source-zone=untrust, destination-zone=trust, rule-name=deny-all.",
    "sshd": "Feb 20 08:35:22 slave22 sshd[5774]: Failed password for root from 89.160.20.156 port 29160 ssh2",
    "sudo": "<85>Mar  3 10:00:00 host1 sudo:    alice : TTY=pts/0 ; PWD=/home/alice ; USER=root ; COMMAND=/bin/bash",
    "kernel": "<6>Mar  3 10:00:00 host1 kernel: [12345.678] usb 1-1: new high-speed USB device number 2",
    "auditd": 'type=SYSCALL msg=audit(1485893834.891:18877199): arch=c000003e syscall=44 success=yes exit=184 a0=9 '
    'items=0 ppid=1240 pid=1281 auid=4294967295 uid=0 gid=0 euid=0 suid=0 fsuid=0 egid=0 sgid=0 fsgid=0 tty=(none) '
    'ses=4294967295 comm="charon" exe="/usr/lib/charon" key=(null)',
    "nginx_access": '<190>Mar  3 10:00:00 web1 nginx: 10.2.3.4 - alice [03/Mar/2024:10:00:00 +0800] '
    '"POST /login.php?next=%2F HTTP/1.1" 401 12 "https://gov.example.cn/" "Mozilla/5.0" "-"',
    "windows_4625": f"<29>Jul 29 15:03:22 DELL Security-Auditing: 4625: AUDIT_FAILURE {ZH_4625}",
    "sysmon_1": SYSMON_1,
    "suricata_alert": '{"timestamp":"2021-01-27T01:28:11.488362+0100","flow_id":1805461738637437,"in_iface":"enp6s0",'
    '"event_type":"alert","src_ip":"175.16.199.1","src_port":80,"dest_ip":"10.31.64.240","dest_port":47592,'
    '"proto":"TCP","alert":{"action":"blocked","gid":1,"signature_id":2100498,"rev":7,'
    '"signature":"GPL ATTACK_RESPONSE id check returned root","category":"Potentially Bad Traffic","severity":2},'
    '"app_proto":"http","flow":{"pkts_toserver":6,"pkts_toclient":5,"bytes_toserver":496,"bytes_toclient":876}}',
    "pcap_flow": json.dumps(Flow("10.0.0.1", 50555, "10.0.0.2", 445, "tcp", 1.7e9, 1.7e9 + 1).to_event("eth0", "closed")),
}  # fmt: skip


@pytest.fixture(scope="module")
def index() -> LogsourceIndex:
    return LogsourceIndex.build(ROUTES_FILE)


@pytest.fixture(scope="module")
def events() -> dict[str, dict]:
    return {name: parse(line, "", CTX).doc for name, line in LINES.items()}


def waf_event() -> dict:
    line = next(json.loads(s)["raw"] for s in (SIGMA.parent / "cn-vendors" / "samples.jsonl").read_text().splitlines()
                if json.loads(s)["device_type"].startswith("waf_"))
    doc = parse(line, "", CTX).doc
    assert doc["observer"]["type"] == "waf"
    return doc


def ls(category: str | None = None, product: str | None = None, service: str | None = None) -> SigmaLogSource:
    return SigmaLogSource(category=category, product=product, service=service)


def meets(index: LogsourceIndex, logsource: SigmaLogSource, doc: dict) -> bool:
    keys = index.keys_for_rule(logsource)
    return keys is None or not keys.isdisjoint(index.keys_for_event(doc))


# ------------------------------------------------------------------ events -> keys

EXPECTED = {
    "huawei_firewall": {"category:firewall", "product:huawei", "category:firewall/product:huawei"},
    "sshd": {"product:linux", "product:linux/service:sshd", "product:linux/service:auth", "service:sshd"},
    "sudo": {"product:linux/service:sudo", "category:process_creation/product:linux",
             "category:process_creation/product:linux/service:sudo"},
    "kernel": {"product:linux", "product:linux/service:syslog"},
    "auditd": {"product:linux", "product:linux/service:auditd"},
    "nginx_access": {"category:webserver", "service:nginx", "category:webserver/service:nginx"},
    "windows_4625": {"product:windows", "product:windows/service:security"},
    "sysmon_1": {"category:process_creation/product:windows", "product:windows/service:sysmon",
                 "category:process_creation/product:windows/service:sysmon"},
    "suricata_alert": {"category:ids"},
    "pcap_flow": {"category:network_connection", "product:pcap", "category:network_connection/product:pcap"},
}  # fmt: skip
NOT_EXPECTED = {
    "huawei_firewall": {"category:ids", "category:webserver", "product:linux"},
    "sshd": {"product:linux/service:sudo", "category:process_creation/product:linux"},
    "nginx_access": {"category:waf", "category:firewall", "product:linux"},
    "windows_4625": {"product:linux", "product:windows/service:sysmon", "category:process_creation/product:windows"},
    "suricata_alert": {"category:firewall", "category:webserver"},
}  # fmt: skip


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_event_keys(index: LogsourceIndex, events: dict[str, dict], name: str) -> None:
    keys = index.keys_for_event(events[name])
    assert EXPECTED[name] <= keys, sorted(EXPECTED[name] - keys)
    assert not NOT_EXPECTED.get(name, set()) & keys, sorted(NOT_EXPECTED[name] & keys)


def test_waf_event_is_waf_only(index: LogsourceIndex) -> None:
    keys = index.keys_for_event(waf_event())
    assert "category:waf" in keys and "category:webserver" not in keys


def test_event_keys_are_cached_per_shape(index: LogsourceIndex, events: dict[str, dict]) -> None:
    doc = events["sshd"]
    assert index.keys_for_event(doc) is index.keys_for_event(json.loads(json.dumps(doc)))


# ------------------------------------------------------------------ rules -> keys


def test_rule_keys(index: LogsourceIndex) -> None:
    assert index.keys_for_rule(ls("firewall")) == {"category:firewall"}
    assert index.keys_for_rule(ls(product="linux", service="sshd")) == {"product:linux/service:sshd"}
    assert index.keys_for_rule(ls("process_creation", "windows")) == {"category:process_creation/product:windows"}
    assert index.keys_for_rule(ls("process_creation", "windows", "sysmon")) == {
        "category:process_creation/product:windows/service:sysmon"}
    assert index.keys_for_rule(ls(service="apache")) == {"service:apache"}
    assert index.keys_for_rule(ls("network")) == {"category:firewall", "category:ids", "category:network_connection"}


def test_empty_or_unknown_logsource_meets_every_event(index: LogsourceIndex, events: dict[str, dict]) -> None:
    # pySigma refuses an empty logsource when it loads a rule; the index still answers for one.
    assert index.keys_for_rule(SimpleNamespace(category=None, product=None, service=None)) is None  # type: ignore[arg-type]
    assert index.keys_for_rule(ls("no_such_category", "no_such_product", "no_such_service")) is None
    assert all(meets(index, ls("no_such_category"), doc) for doc in events.values())


def test_unknown_part_widens_the_rule(index: LogsourceIndex) -> None:
    # A Windows channel the routes do not name: the rule still meets every Windows event only.
    assert index.keys_for_rule(ls(product="windows", service="no-such-channel")) == {"product:windows"}
    assert index.keys_for_rule(ls("no_such_category", "linux")) == {"product:linux"}


def test_products_we_collect_nothing_from_meet_nothing(index: LogsourceIndex, events: dict[str, dict]) -> None:
    assert index.keys_for_rule(ls("process_creation", "macos")) == {"category:process_creation/product:macos"}
    assert not any(meets(index, ls("process_creation", "macos"), doc) for doc in events.values())


# ------------------------------------------------------------------ rules meet only their events


def test_rules_meet_only_their_events(index: LogsourceIndex, events: dict[str, dict]) -> None:
    def met(logsource: SigmaLogSource) -> set[str]:
        return {name for name, doc in events.items() if meets(index, logsource, doc)}

    assert met(ls("webserver")) == {"nginx_access"}
    assert met(ls("firewall")) == {"huawei_firewall"}
    assert met(ls("ids")) == {"suricata_alert"}
    assert met(ls(product="linux", service="sshd")) == {"sshd"}
    assert met(ls(product="linux", service="auth")) == {"sshd", "sudo"}
    assert met(ls(product="linux")) == {"sshd", "sudo", "kernel", "auditd"}
    assert met(ls("process_creation", "linux")) == {"sudo"}
    assert met(ls("process_creation", "windows")) == {"sysmon_1"}
    assert met(ls(product="windows", service="security")) == {"windows_4625"}
    assert met(ls("process_creation", "windows", "security")) == set()  # all three must hold
    assert met(ls("network_connection")) == {"pcap_flow"}


def test_a_webserver_rule_never_meets_a_firewall_event(index: LogsourceIndex) -> None:
    firewall = [json.loads(s)["raw"] for s in (SIGMA.parent / "cn-vendors" / "samples.jsonl").read_text().splitlines()
                if json.loads(s)["category"] == "firewall"]
    assert len(firewall) > 50
    for line in firewall:
        doc = parse(line, "", CTX).doc
        if doc.get("observer", {}).get("type") == "firewall":
            assert not meets(index, ls("webserver"), doc), line


def test_sigmahq_rules_get_the_keys_of_their_logsource(index: LogsourceIndex) -> None:
    def logsource(rel: str) -> SigmaLogSource:
        path = SIGMA / rel
        assert path.is_file(), f"SigmaHQ corpus file missing: {path}"
        rule = SigmaCollection.from_yaml(path.read_text(encoding="utf-8")).rules[0]
        assert isinstance(rule, SigmaRule)
        return rule.logsource

    assert index.keys_for_rule(logsource("rules/web/webserver_generic/web_path_traversal_exploitation_attempt.yml")) == {
        "category:webserver"}
    assert index.keys_for_rule(logsource("rules/linux/auditd/lnx_auditd_audio_capture.yml")) == {
        "product:linux/service:auditd"}
    assert index.keys_for_rule(logsource("rules/windows/builtin/security/win_security_hidden_user_creation.yml")) == {
        "product:windows/service:security"}


# ------------------------------------------------------------------ the routes file is data


def test_routes_from_a_mapping() -> None:
    index = LogsourceIndex.build({
        "categories": {"honeypot": [{"observer.type": "honeypot"}]},
        "products": {"linux": {"when": [{"host.os.type": "linux"}, {"event.module": "syslog", "observer.type": None}],
                               "services": {"sshd": [{"process.name": "sshd"}]}}},
    })  # fmt: skip
    assert index.keys_for_event({"observer": {"type": "Honeypot"}}) == {"category:honeypot"}
    assert index.keys_for_event({"event": {"module": "syslog"}, "process": {"name": "sshd"}}) == {
        "product:linux", "product:linux/service:sshd", "service:sshd"}
    assert index.keys_for_event({"event": {"module": "syslog"}, "observer": {"type": "firewall"}}) == frozenset()
    assert index.keys_for_rule(ls("firewall")) is None


def test_any_value_and_numbers() -> None:
    index = LogsourceIndex.build({"categories": {
        "dns": [{"dns.question.name": "*"}],
        "logon": [{"event.code": ["4624", 4625]}],
    }})
    assert index.keys_for_event({"dns": {"question": {"name": "example.cn"}}}) == {"category:dns"}
    assert index.keys_for_event({"event": {"code": 4625}}) == {"category:logon"}
    assert index.keys_for_event({"event": {"code": "4624"}}) == {"category:logon"}
    assert index.keys_for_event({"event": {"code": [4624, {"x": 1}]}}) == {"category:logon"}
    assert index.keys_for_event({"event": {"code": [{"x": 1}]}}) == frozenset()


@pytest.mark.parametrize(("routes", "message"), [
    ({"categorys": {}}, "unknown keys"),
    ({"categories": {"x": {"observer.type": "x"}}}, "list of alternatives"),
    ({"categories": {"x": [{"observer.type": {"a": 1}}]}}, "not text or a number"),
    ({"products": {"linux": {"when": [], "service": {}}}}, "unknown keys"),
])  # fmt: skip
def test_malformed_routes_are_refused(routes: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        LogsourceIndex.build(routes)


# ------------------------------------------------------------------ our own rule library


def _example_doc(item: dict, n: int) -> dict:
    if "raw" not in item:
        return item["event"]
    device = item.get("device") or {}
    record = RawRecord(item["raw"].encode(), 1_764_000_000_000_000_000 + n, "syslog-udp", "192.0.2.1:514", "examples",
                       item.get("format", ""), device={k: str(v) for k, v in device.items()})
    key, doc = normalize_record(record)
    assert key is not None, item["raw"]
    return doc


def test_every_rule_of_ours_meets_its_own_matching_examples(index: LogsourceIndex) -> None:
    """Routing never hides from a rule (rules/) an event its examples say it must match."""
    collection = SigmaCollection.load_ruleset(
        [PROJECT / "rules"], collect_errors=True,
        on_beforeload=lambda p: None if p.name.endswith(".examples.yml") else p,
    )
    checked, hidden = 0, []
    for rule in collection:
        if not isinstance(rule, SigmaRule) or rule.errors or rule.source is None:
            continue
        keys = index.keys_for_rule(rule.logsource)
        path = Path(str(rule.source.path))
        examples = path.with_name(path.name[: -len(".yml")] + ".examples.yml")
        data = yaml.safe_load(examples.read_text(encoding="utf-8")) if examples.is_file() else {}
        for n, item in enumerate((data or {}).get("match") or []):
            if "events" in item:
                continue  # a correlation scenario: some of its events are meant for other rules
            checked += 1
            doc = _example_doc(item, n)
            if keys is not None and keys.isdisjoint(index.keys_for_event(doc)):
                hidden.append((path.name, sorted(keys), sorted(index.keys_for_event(doc))))
    assert checked > 20
    assert not hidden, hidden
