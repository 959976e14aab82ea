"""DBAPPSecurity (安恒) and Anzhou lines of the Chinese-vendor corpus: acceptance over the corpus and field values read from the lines."""

from __future__ import annotations

from collectors.parsers import parse
from soc.model import get_path

from .cn_acceptance import assert_vendor_lines, ctx, raw_with

VENDORS = ('dbappsecurity', 'anzhou-tech')
# Lines whose shape another vendor's devices send too; nothing in them names the brand.
SHARED: dict[str, str] = {
    'ipv4;3;': 'dbappsecurity',  # DAS-Gateway shape; the Anzhou AZ6000 sends it too
}
UNRECOGNIZED: tuple[str, ...] = (
    'dockerd: time=',
)


def test_every_dbappsecurity_line_is_recognized() -> None:
    assert_vendor_lines(VENDORS, 29, SHARED, UNRECOGNIZED)


def _doc(vendor: str, needle: str) -> dict:
    return parse(raw_with(vendor, needle), "syslog", ctx()).doc


def _flow(d: dict) -> tuple:
    return (get_path(d, "source.ip"), get_path(d, "source.port"), get_path(d, "destination.ip"),
            get_path(d, "destination.port"))


def test_waf_chinese_keys() -> None:
    d = _doc("dbappsecurity", "访问唯一编号/VHdK6n8AAAEAAY8yiZwAAAkI")
    assert _flow(d) == ("60.172.246.161", 9113, "219.233.64.9", 80)
    assert get_path(d, "rule.name") == "文件限制" and get_path(d, "rule.id") == "11060009"
    assert get_path(d, "http.response.status_code") == 200 and get_path(d, "event.action") == "告警"
    assert get_path(d, "@timestamp") == "2014-11-27T16:01:46.000Z"


def test_apt_webshell() -> None:
    d = _doc("dbappsecurity", "可疑webshell")
    assert _flow(d) == ("192.168.30.13", 47348, "192.168.30.78", 80)
    assert get_path(d, "rule.name") == "可疑webshell" and get_path(d, "url.path") == "/elmaliseker.asp"


def test_gateway_ips() -> None:
    d = _doc("dbappsecurity", "ipv4;3;ips:")
    assert _flow(d) == ("192.168.1.171", 37990, "192.168.88.1", 80)
    assert get_path(d, "event.action") == "drop" and get_path(d, "rule.id") == "957736"


def test_tgfw_ips() -> None:
    d = _doc("dbappsecurity", "dataAll ipssec")
    assert _flow(d) == ("10.0.116.48", 10, "193.182.111.141", 999)
    assert get_path(d, "rule.name") == "rule1"
