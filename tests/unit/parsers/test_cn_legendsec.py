"""Legendsec (网神) and Leadsec (网御) lines of the Chinese-vendor corpus: acceptance over the corpus and field values read from the lines."""

from __future__ import annotations

from collectors.parsers import parse
from soc.model import get_path

from .cn_acceptance import assert_vendor_lines, ctx, raw_with

VENDORS = ('legendsec', 'leadsec')
# Lines whose shape another vendor's devices send too; nothing in them names the brand.
SHARED: dict[str, str] = {
    'serial="6ea854364a9c3f40d4f5fe0d8997bc9f4ef5daa4" module="ad"': 'qianxin',  # NSG line, byte for byte also a Qianxin line
    'date="2019/09/04': 'legendsec',  # Leadsec Power V6000: the same Themis shape as Legendsec's
    '"dt":"VENUS_CS_': 'venus',  # Venustech 天阗 JSON (the line names VENUS)
    'SerialNum=2313401809279998': 'venus',  # Venustech NIPS `SerialNum=` shape
}
UNRECOGNIZED: tuple[str, ...] = ()


def test_every_legendsec_line_is_recognized() -> None:
    assert_vendor_lines(VENDORS, 20, SHARED, UNRECOGNIZED)


def _doc(vendor: str, needle: str) -> dict:
    return parse(raw_with(vendor, needle), "syslog", ctx()).doc


def _flow(d: dict) -> tuple:
    return (get_path(d, "source.ip"), get_path(d, "source.port"), get_path(d, "destination.ip"),
            get_path(d, "destination.port"))


def test_themis_av_event() -> None:
    d = _doc("legendsec", 'date="2012/07/19 00:14:09" dname=Themis logtype=7')
    assert _flow(d) == ("2.2.2.200", 80, "10.1.5.200", 61795)
    assert get_path(d, "rule.name") == "Trojan PSW.Jianghu.ei" and get_path(d, "event.action") == "drop"
    assert "malware" in get_path(d, "event.category")
    assert get_path(d, "@timestamp") == "2012-07-18T16:14:09.000Z"


def test_themis_packet_filter() -> None:
    d = _doc("legendsec", "rule_name=pf21")
    assert _flow(d) == ("172.20.4.4", 42355, "8.8.8.8", 53)
    assert get_path(d, "network.transport") == "udp" and get_path(d, "rule.name") == "pf21"
    assert get_path(d, "event.action") == "允许"


def test_secfox_login() -> None:
    d = _doc("legendsec", "YAB_SYSTEM_LOGIN_LOG")
    assert get_path(d, "user.name") == "linbin" and get_path(d, "source.ip") == "10.10.100.243"
    assert get_path(d, "event.outcome") == "success" and get_path(d, "observer.type") == "bastion"


def test_secfox_command() -> None:
    d = _doc("legendsec", "command=mkdir videos")
    assert get_path(d, "process.command_line") == "mkdir videos"
    assert get_path(d, "destination.ip") == "10.10.103.1" and get_path(d, "event.action") == "permit"
