"""Qianxin (奇安信) and 360 Skylar lines of the Chinese-vendor corpus: acceptance over the corpus and field values read from the lines."""

from __future__ import annotations

from collectors.parsers import parse
from soc.model import get_path

from .cn_acceptance import assert_vendor_lines, ctx, raw_with

VENDORS = ('qianxin', '360')
# Lines whose shape another vendor's devices send too; nothing in them names the brand.
SHARED: dict[str, str] = {
    'iBMC 2106180052XDN5000410': 'huawei',  # Huawei iBMC line, byte for byte also in the corpus as Huawei
}
UNRECOGNIZED: tuple[str, ...] = ()


def test_every_qianxin_line_is_recognized() -> None:
    assert_vendor_lines(VENDORS, 32, SHARED, UNRECOGNIZED)


def _doc(vendor: str, needle: str) -> dict:
    return parse(raw_with(vendor, needle), "syslog", ctx()).doc


def _flow(d: dict) -> tuple:
    return (get_path(d, "source.ip"), get_path(d, "source.port"), get_path(d, "destination.ip"),
            get_path(d, "destination.port"))


def test_nsg_app_traffic() -> None:
    d = _doc("qianxin", 'type="im" session_id="733795"')
    assert _flow(d) == ("172.24.238.1", 60179, "58.60.10.45", 8000)
    assert get_path(d, "source.nat.ip") == "192.168.55.1" and get_path(d, "event.action") == "permit"
    assert get_path(d, "rule.name") == "PC-TO-INTERNET-APP" and get_path(d, "network.transport") == "udp"


def test_skyeye_ids_alert() -> None:
    d = _doc("qianxin", "skyeye_ids ")
    assert _flow(d) == ("10.41.0.235", 54115, "10.95.22.110", 1080)
    assert get_path(d, "rule.name") == "SOCKS代理" and get_path(d, "rule.id") == "51444"
    assert get_path(d, "event.kind") == "alert"


def test_sslvpn_user_event() -> None:
    d = _doc("qianxin", "Gateway |5|0x0200046d")
    assert get_path(d, "user.name") == "12201106" and get_path(d, "event.outcome") == "success"
    assert get_path(d, "observer.type") == "vpn"


def test_server_security_login_failure() -> None:
    d = _doc("qianxin", "|1002|登录失败|")
    assert get_path(d, "event.category") == ["authentication"] and get_path(d, "event.outcome") == "failure"
    assert get_path(d, "observer.vendor") == "qianxin"


def test_skylar_vendor_follows_version() -> None:
    d = _doc("qianxin", "\\u5929\\u64ce6.6.0.4000")
    assert get_path(d, "observer.vendor") == "qianxin"
    assert get_path(d, "rule.name") == "Risk.Blacklist.AccessDeined" and get_path(d, "host.ip") == ["192.168.0.211"]
    d = _doc("360", '"log_name":"\\u5916\\u8bbe\\u4f7f\\u7528"')
    assert get_path(d, "observer.vendor") == "360" and get_path(d, "host.ip") == ["172.27.31.39"]
