"""Topsec (天融信) lines of the Chinese-vendor corpus: acceptance and field values read from the lines."""

from __future__ import annotations

import pytest

from collectors.parsers import parse
from soc.model import get_path

from .cn_acceptance import IN_SCOPE, check_line, corpus_lines, ctx, raw_with

VENDOR = "topsec"
# Lines whose device type the text does not tell (the legacy TOS `id=tos` header is shared by the
# firewall, TopSentry, VONE and the gateway antivirus; these types are generic traffic / admin
# records). A source configured with the format on the right reads them as that device.
AMBIGUOUS = {
    'fw=TopsecOS pri=6 type=pf src=192.168.92.121': "topsec_tos_vpn",
    'fw=TOPSEC pri=6 type=ac recorder=FW-NAT': "topsec_tos_vpn",
    'fw=TOPSEC pri=6 type=conn src=192.168.89.222': "topsec_tos_vpn",
    'type=system op="RECOVER PROC"': "topsec_tos_vpn",
    'fw=TopsecOS  pri=5 type=mgmt user=superman src=192.168.152.30': "topsec_tos_av",
    'fw=IDP  pri=5 type=mgmt': "topsec_tos_ids",
}


def _ambiguous(raw: str) -> str | None:
    return next((fmt for needle, fmt in AMBIGUOUS.items() if needle in raw), None)


def test_every_topsec_line_is_recognized() -> None:
    records = corpus_lines(VENDOR)
    assert len(records) == 217
    failures = {}
    for rec in records:
        fmt = _ambiguous(rec["raw"])
        problems = check_line(rec, check_type=fmt is None)
        if fmt is not None and rec["category"] in IN_SCOPE:
            problems += check_line(rec, hint=fmt)
        if problems:
            failures[rec["raw"][:120]] = problems
    assert not failures, failures


def test_ambiguous_lines_are_the_listed_ones() -> None:
    in_scope = [r for r in corpus_lines(VENDOR) if r["category"] in IN_SCOPE]
    assert sum(1 for r in in_scope if _ambiguous(r["raw"])) == len(AMBIGUOUS)


def _doc(needle: str, hint: str = "syslog") -> dict:
    return parse(raw_with(VENDOR, needle), hint, ctx()).doc


def test_ngfw_access_control_accept() -> None:
    d = _doc('policyid="15435" policyname="fw412144024"')
    assert get_path(d, "observer.product") == "ngfw" and get_path(d, "observer.type") == "firewall"
    assert get_path(d, "source.ip") == "192.168.105.176" and get_path(d, "source.port") == 5246
    assert get_path(d, "destination.ip") == "10.105.136.180" and get_path(d, "destination.port") == 12222
    assert get_path(d, "network.transport") == "udp"
    assert get_path(d, "event.action") == "accept" and "allowed" in get_path(d, "event.type")
    assert get_path(d, "rule.id") == "15435" and get_path(d, "rule.name") == "fw412144024"
    assert get_path(d, "@timestamp") == "2020-04-15T17:28:06.000Z"  # NGTOS time is UTC


def test_ngfw_intrusion_prevention_event() -> None:
    d = _doc('rid="18900" msg="ntopng')
    assert get_path(d, "event.kind") == "alert" and "intrusion_detection" in get_path(d, "event.category")
    assert (get_path(d, "source.ip"), get_path(d, "source.port")) == ("1.1.142.108", 5189)
    assert (get_path(d, "destination.ip"), get_path(d, "destination.port")) == ("1.2.69.111", 80)
    assert get_path(d, "rule.name") == "ntopng 跨站脚本漏洞" and get_path(d, "rule.id") == "18900"
    assert get_path(d, "event.action") == "告警"


def test_topads_time_is_utc_and_every_source_is_searchable() -> None:
    d = _doc('type="ads_attack_flow" recorder="ads_attack_flow_log" index="2176" vsid="0" symbol="attack flow log" '
             'event_id="388"')
    # time="2019-04-02 06:58:13" while the device's local cur_t is "2019-04-02 14:58:13" (+8h).
    assert get_path(d, "@timestamp") == "2019-04-02T06:58:13.000Z"
    assert get_path(d, "observer.product") == "topads"
    assert get_path(d, "destination.ip") == "124.88.135.52" and get_path(d, "destination.port") == 443
    assert get_path(d, "source.ip") == "113.200.117.72"
    assert {"113.200.205.22", "123.139.49.234"} <= set(get_path(d, "related.ip"))


def test_ngidp_attack_signature() -> None:
    d = _doc('rule="27239" msg="Acunetix')
    assert get_path(d, "observer.product") == "ngidp" and get_path(d, "observer.type") == "ips"
    assert (get_path(d, "source.ip"), get_path(d, "source.port")) == ("106.75.86.21", 53092)
    assert (get_path(d, "destination.ip"), get_path(d, "destination.port")) == ("119.188.36.11", 80)
    assert get_path(d, "rule.id") == "27239"
    assert get_path(d, "rule.name") == "Acunetix Web Vulnerability扫描器带外通道攻击"
    assert get_path(d, "http.request.method") == "GET" and get_path(d, "event.kind") == "alert"
    assert get_path(d, "@timestamp") == "2020-07-04T07:29:55.000Z"  # 15:29:55 Beijing time


def test_topsentry_ips_event() -> None:
    d = _doc("rule=1125 repeat=10")
    assert get_path(d, "observer.product") == "topsentry"
    assert (get_path(d, "source.ip"), get_path(d, "source.port")) == ("192.168.1.2", 20)
    assert (get_path(d, "destination.ip"), get_path(d, "destination.port")) == ("192.168.2.2", 40)
    assert get_path(d, "rule.name") == "WEB-MISC Netscape Enterprise Server directory view"
    assert get_path(d, "network.transport") == "tcp" and get_path(d, "event.action") == "block"


def test_vone_login_and_gateway_antivirus() -> None:
    d = _doc("type=sv_system op=login")
    assert get_path(d, "observer.type") == "vpn" and get_path(d, "user.name") == "u"
    assert get_path(d, "source.ip") == "192.168.95.71" and get_path(d, "event.action") == "login"
    assert get_path(d, "event.category") == ["authentication"]
    d = _doc("type=avse")
    assert get_path(d, "observer.type") == "antivirus" and get_path(d, "rule.name") == "Virus.EICAR-Test-File"
    assert (get_path(d, "source.ip"), get_path(d, "source.port")) == ("10.0.0.10", 64363)
    assert (get_path(d, "destination.ip"), get_path(d, "destination.port")) == ("10.0.0.2", 80)
    assert get_path(d, "http.request.method") == "GET"


def test_topapt_file_event_with_offset_time() -> None:
    d = _doc('LogFile="File"')
    assert (get_path(d, "source.ip"), get_path(d, "source.port")) == ("101.129.2.223", 27617)
    assert (get_path(d, "destination.ip"), get_path(d, "destination.port")) == ("111.206.53.16", 80)
    assert get_path(d, "file.hash.md5") == "504d57bf331e4d4fa5553789e46d0df0"
    assert get_path(d, "@timestamp") == "2019-06-12T04:25:39.000Z"  # "12:25:39 +0800"


def test_topsag_login_and_command() -> None:
    d = _doc('type="user_login"')
    assert get_path(d, "observer.type") == "bastion" and get_path(d, "event.category") == ["authentication"]
    assert get_path(d, "user.name") == "operator" and get_path(d, "source.ip") == "192.168.151.100"
    assert get_path(d, "event.outcome") == "failure"  # msg="登录用户失败"
    d = _doc("issuc=1 commands=ls")
    assert get_path(d, "event.category") == ["process"] and get_path(d, "process.command_line") == "ls"
    assert get_path(d, "source.ip") == "192.168.20.8" and get_path(d, "destination.ip") == "192.168.21.102"
    assert get_path(d, "user.name") == "123" and get_path(d, "user.target.name") == "root"


def test_topsag_numeric_result_codes() -> None:
    """TopSAG 3.x result: 1 success, 0 failure (the corpus pairs 0 with 登录用户失败 and 1 with ten
    成功 messages): the code decides alone once the msg is gone. Other NGTOS products write 0 for a
    success (NGFW "login success" with result="0"): their 0 is not read as a failure."""
    for needle, outcome in (('msg="登录用户失败"', "failure"), ('msg="导出日志成功"', "success")):
        raw = raw_with(VENDOR, needle)
        for line in (raw, raw.replace(f" {needle}", "")):
            assert get_path(parse(line, "syslog", ctx()).doc, "event.outcome") == outcome, line
    d = _doc('result="0" description="login success"')
    assert get_path(d, "observer.product") == "ngfw" and get_path(d, "event.outcome") == "success"
    d = _doc("issuc=1 commands=ls")  # TopSAG 5.x: issuc, "is success"
    assert get_path(d, "event.outcome") == "success"


def test_topedr_integer_addresses() -> None:
    d = _doc('detail_raddr="-1407908045"')
    # -1062796068 as an unsigned 32-bit address is 192.167.4.220, the client_ip of the line.
    assert get_path(d, "source.ip") == "192.167.4.220" and get_path(d, "source.port") == 59225
    assert get_path(d, "destination.ip") == "172.21.7.51" and get_path(d, "destination.port") == 3389
    assert get_path(d, "event.type") == ["denied"]  # detail_blocked="1"


def test_topdesk_xml_and_ihs() -> None:
    d = _doc('<Log type="MONITORBOOT">')
    assert get_path(d, "host.ip") == "10.124.46.80" and get_path(d, "event.action") == "在非指定时间开机"
    assert get_path(d, "@timestamp") == "2022-07-26T18:00:44.000Z"  # <Time>2022-07-27 02:00:44.0
    d = _doc('logtype="USER"')
    assert get_path(d, "user.name") == "test" and "authentication" in get_path(d, "event.category")


def test_topifw2_attack_log() -> None:
    d = _doc("attacklog-synflood-")
    assert get_path(d, "source.ip") == "63.56.44.225" and get_path(d, "destination.ip") == "10.10.0.130"
    assert get_path(d, "rule.name") == "synflood" and get_path(d, "event.kind") == "alert"
    assert get_path(d, "process.name") is None  # "Pri:" is not a program


@pytest.mark.parametrize("body", ['id="ngtos" version', "id=tos time=", 'vendor="topsec" dev_type="1"'])
def test_truncated_headers_are_rejected_or_tagged(body: str) -> None:
    # A bare body that only starts like a Topsec line must not raise anything but ParseError.
    from collectors.parsers import ParseError

    try:
        parse(body, "syslog", ctx())
    except ParseError:
        pass
