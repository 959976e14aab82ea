"""Sangfor (深信服) lines of the Chinese-vendor corpus: acceptance and field values read from the lines."""

from __future__ import annotations

from collectors.parsers import parse
from soc.model import get_path

from .cn_acceptance import IN_SCOPE, check_line, corpus_lines, ctx, raw_with

VENDOR = "sangfor"
# NGAF and the WAF write the same `日志类型:` lines (the corpus holds the same DOS/NAT/website
# lines under both); only the WAF's own `WEB应用防护` type names the WAF. A source configured as
# "sangfor_waf" reads the others as WAF lines.
WAF_ONLY_BY_CONFIG = ("日志类型:IPS防护日志", "日志类型:DOS攻击日志", "日志类型:NAT日志", "日志类型:网站访问",
                      "日志类型:用户认证")  # fmt: skip
# The OSM bastion's `fort i:` lines are also in the corpus, byte for byte, as DPtech OSP lines
# (and the `<AUDIT_LOG>` session line in the shape of Shenfan SAG lines); those formats claim them
# first. A source configured as "sangfor_osm" reads them as Sangfor.
SHARED_WITH_DPTECH = ("[张三]通过账号[zhangsan]", "服务器[192.168.23.17]", "{auth} Fri Nov 22", "<AUDIT_LOG>")
# A debug line of the AC's log loader: no vendor marker, nothing to read.
UNRECOGNIZED = ("logs: d0:loaderreader.cpp",)


def _hint(rec: dict) -> str | None:
    raw = rec["raw"]
    if rec["category"] == "waf" and any(s in raw for s in WAF_ONLY_BY_CONFIG):
        return "sangfor_waf"
    if any(s in raw for s in SHARED_WITH_DPTECH):
        return "sangfor_osm"
    return None


def test_every_sangfor_line_is_recognized() -> None:
    records = corpus_lines(VENDOR)
    assert len(records) == 36
    failures = {}
    for rec in records:
        if any(s in rec["raw"] for s in UNRECOGNIZED):
            continue
        hint = _hint(rec)
        if hint == "sangfor_osm":
            problems = check_line(rec, hint=hint)
        else:
            problems = check_line(rec, check_type=hint is None)
            if hint is not None and rec["category"] in IN_SCOPE:
                problems += check_line(rec, hint=hint)
        if problems:
            failures[(rec["category"], rec["raw"][:100])] = problems
    assert not failures, failures


def _doc(needle: str, hint: str = "syslog") -> dict:
    return parse(raw_with(VENDOR, needle), hint, ctx()).doc


def test_ngaf_waf_attack() -> None:
    # The NGAF's WAF module: a WAF for the WAF rules (observer.type), the NGAF for the product.
    d = _doc("日志类型:WAF应用防护日志")
    assert get_path(d, "observer.product") == "ngaf" and get_path(d, "event.kind") == "alert"
    assert get_path(d, "observer.type") == "waf" and get_path(d, "event.dataset") == "sangfor.ngaf"
    assert get_path(d, "rule.category") == "信息泄漏攻击" and get_path(d, "soc.severity") == "high"  # 严重级别:高
    assert (get_path(d, "source.ip"), get_path(d, "source.port")) == ("192.168.200.1", 1084)
    assert (get_path(d, "destination.ip"), get_path(d, "destination.port")) == ("192.168.200.100", 80)
    assert get_path(d, "rule.name") == "信息泄漏攻击" and get_path(d, "event.action") == "拒绝"
    assert get_path(d, "event.category") == ["web", "intrusion_detection", "network"]


def test_ngaf_nat_and_admin_operation() -> None:
    d = _doc("源IP:192.168.0.77")
    assert (get_path(d, "source.ip"), get_path(d, "source.port")) == ("192.168.0.77", 3678)
    assert (get_path(d, "destination.ip"), get_path(d, "destination.port")) == ("144.80.30.70", 5803)
    assert get_path(d, "source.nat.ip") == "10.105.130.125" and get_path(d, "network.transport") == "tcp"
    d = _doc("日志类型:系统操作")
    assert get_path(d, "user.name") == "admin" and get_path(d, "source.ip") == "200.200.88.121"
    assert get_path(d, "event.reason") == "OSPF 启用 成功" and get_path(d, "event.outcome") == "success"


def test_ngaf_ssl_vpn_login_time_is_local() -> None:
    d = _doc("SSL VPN用户行为日志")
    assert get_path(d, "user.name") == "wjj" and get_path(d, "event.category") == ["authentication"]
    assert get_path(d, "@timestamp") == "2016-05-25T04:45:59.000Z"  # 时间:2016-05-25 12:45:59


def test_waf_web_protection_and_configured_source() -> None:
    d = _doc("日志类型:WEB应用防护")
    assert get_path(d, "observer.type") == "waf" and get_path(d, "rule.id") == "0"
    assert (get_path(d, "source.ip"), get_path(d, "destination.port")) == ("172.23.181.250", 80)
    d = _doc("日志类型:IPS防护日志", hint="sangfor_waf")
    assert get_path(d, "observer.type") == "waf"
    assert get_path(_doc("日志类型:IPS防护日志"), "observer.type") == "firewall"  # NGAF's IPS module
    assert get_path(d, "rule.name") == "WebCalendar本地文件包含和PHP代码注入漏洞"
    assert get_path(d, "network.transport") == "tcp" and get_path(d, "source.port") == 1102


def test_edr_records() -> None:
    d = _doc("anti_bfa")
    assert get_path(d, "source.ip") == "10.122.18.149" and get_path(d, "event.kind") == "alert"
    d = _doc("flux : [")
    assert get_path(d, "destination.ip") == "40.74.108.123" and get_path(d, "destination.port") == 443
    assert get_path(d, "source.ip") == "10.122.118.5" and get_path(d, "network.transport") == "tcp"
    d = _doc("Botnet : [")
    assert get_path(d, "rule.name") == "TR/Spy.Zbot.lperys" and get_path(d, "host.ip") == "10.62.3.41"
    assert "malware" in get_path(d, "event.category")


def test_osm_session_and_operation() -> None:
    d = _doc("<AUDIT_LOG>", hint="sangfor_osm")
    assert get_path(d, "user.name") == "xinkaipu002" and get_path(d, "source.ip") == "192.168.42.165"
    assert get_path(d, "destination.ip") == "192.168.42.107" and get_path(d, "network.protocol") == "rdp"
    assert get_path(d, "user.target.name") == "Administrator" and get_path(d, "event.category") == ["session"]
    d = _doc("安全管理员(通过账号secadmin登录)")
    assert get_path(d, "user.name") == "secadmin" and get_path(d, "source.ip") == "192.168.39.5"
    d = _doc("[张三]通过账号[zhangsan]", hint="sangfor_osm")
    assert get_path(d, "process.command_line") == "rm" and get_path(d, "rule.name") == "命令越权"


def test_other_products() -> None:
    d = _doc("risk_db_audit")
    assert get_path(d, "source.ip") == "200.200.66.19" and get_path(d, "destination.port") == 3306
    assert get_path(d, "user.name") == "root" and get_path(d, "rule.name") == "高权存储过程"
    d = _doc('"displayName":"aTrust"')
    assert get_path(d, "source.ip") == "82.157.139.31" and get_path(d, "user.name") == "sl_bx"
    assert get_path(d, "destination.ip") == "192.168.32.23" and get_path(d, "destination.port") == 22
