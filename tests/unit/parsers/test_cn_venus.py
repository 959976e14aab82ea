"""Venustech (启明星辰) lines of the Chinese-vendor corpus: acceptance over the corpus and field values read from the lines."""

from __future__ import annotations

from collectors.parsers import parse
from soc.model import get_path

from .cn_acceptance import assert_vendor_lines, ctx, raw_with

VENDORS = ('venus',)
# Lines whose shape another vendor's devices send too; nothing in them names the brand.
SHARED: dict[str, str] = {
    'fangbingdu demotag': 'v-secure',  # jc-svr antivirus line, byte for byte also a V-Secure line
    'Themis license:': 'legendsec',  # Themis-platform NAC line (联想网御 lineage)
    'NAC security[6087]': 'legendsec',  # Themis-platform NAC line
    'dname=WW-5-9-FW-01': 'legendsec',  # Themis-platform UTM packet-filter line
    'mod=AUTHCENTER': 'legendsec',  # Themis-platform SAG login line
    'ipv4;3;': 'dbappsecurity',  # DAS-Gateway shape (`<host>;<serial>;ipv4;3;`)
    'SYSTEM_NOTICE: SerialNum=0123211903279999': 'venus',  # WAG system line: no WAF marker, read as NIPS
}
UNRECOGNIZED: tuple[str, ...] = ()


def test_every_venus_line_is_recognized() -> None:
    assert_vendor_lines(VENDORS, 54, SHARED, UNRECOGNIZED)


def _doc(vendor: str, needle: str) -> dict:
    return parse(raw_with(vendor, needle), "syslog", ctx()).doc


def _flow(d: dict) -> tuple:
    return (get_path(d, "source.ip"), get_path(d, "source.port"), get_path(d, "destination.ip"),
            get_path(d, "destination.port"))


def test_nips_ips_alert() -> None:
    d = _doc("venus", "EventName=SNMP_缺省口令[public]")
    assert _flow(d) == ("192.168.13.124", 161, "192.168.13.1", 53457)
    assert get_path(d, "rule.name") == "SNMP_缺省口令[public]" and get_path(d, "rule.id") == "152518449"
    assert get_path(d, "event.action") == "pass" and get_path(d, "network.transport") == "udp"
    assert get_path(d, "event.kind") == "alert" and get_path(d, "observer.type") == "ips"
    assert get_path(d, "@timestamp") == "2016-02-23T03:34:42.000Z"  # GenTime, Beijing time


def test_wag_web_event() -> None:
    d = _doc("venus", "Module=HTTP_sogou_spider_爬取网页")
    assert _flow(d) == ("106.120.173.66", 43445, "10.1.7.16", 80)
    assert get_path(d, "observer.type") == "waf" and get_path(d, "event.action") == "pass"
    assert get_path(d, "rule.name") == "HTTP_sogou_spider_爬取网页"
    assert get_path(d, "@timestamp") == "2019-08-13T02:28:34.000Z"


def test_firewall_session() -> None:
    d = _doc("venus", "FW-11 FILTER:")
    assert _flow(d) == ("192.168.1.64", 55097, "192.168.16.11", 443)
    assert get_path(d, "observer.type") == "firewall" and get_path(d, "event.action") == "permit"


def test_tiantian_ids_json() -> None:
    d = _doc("venus", '"subject":"TCP_建立SSL握手连接"')
    assert _flow(d) == ("103.235.245.98", 53029, "192.168.7.115", 443)
    assert get_path(d, "rule.name") == "TCP_建立SSL握手连接"
    assert get_path(d, "@timestamp") == "2018-06-22T04:40:33.311Z"  # "time":1529642433311 (epoch ms)


def test_bastion_session() -> None:
    d = _doc("venus", '"tool_name": "Putty"')
    assert get_path(d, "user.name") == "sysadmin"
    assert _flow(d) == ("172.16.153.200", 59787, "172.16.153.214", 2222)
    assert get_path(d, "observer.type") == "bastion" and get_path(d, "event.action") == "login"


def test_esm_process_policy() -> None:
    d = _doc("venus", "Policy_Base_ProcessRedList")
    assert get_path(d, "user.name") == "linxiaona" and get_path(d, "process.name") == "cmd.exe"
    assert get_path(d, "rule.name") == "test_进程红名单" and get_path(d, "host.ip") == ["10.201.250.62"]
