"""AsiaInfo (亚信安全) and Trend Micro lines of the Chinese-vendor corpus: acceptance over the corpus and field values read from the lines."""

from __future__ import annotations

from collectors.parsers import parse
from soc.model import get_path

from .cn_acceptance import assert_vendor_lines, ctx, raw_with

VENDORS = ('asiainfo', 'trend')
# Lines whose shape another vendor's devices send too; nothing in them names the brand.
SHARED: dict[str, str] = {
}
UNRECOGNIZED: tuple[str, ...] = ()


def test_every_asiainfo_line_is_recognized() -> None:
    assert_vendor_lines(VENDORS, 15, SHARED, UNRECOGNIZED)


def _doc(vendor: str, needle: str) -> dict:
    return parse(raw_with(vendor, needle), "syslog", ctx()).doc


def _flow(d: dict) -> tuple:
    return (get_path(d, "source.ip"), get_path(d, "source.port"), get_path(d, "destination.ip"),
            get_path(d, "destination.port"))


def test_aisedge_traffic() -> None:
    d = _doc("asiainfo", "sessionid=46912897655104")
    assert _flow(d) == ("10.53.150.159", 45682, "59.202.38.178", 443)
    assert get_path(d, "network.transport") == "tcp" and get_path(d, "rule.name") == "Default"
    assert get_path(d, "@timestamp") == "2022-08-14T22:46:40.000Z"  # log_time carries +0800


def test_aisedge_cef_ips() -> None:
    d = _doc("asiainfo", "ipsruleName=Spring Cloud")
    assert _flow(d) == ("172.28.31.186", 38633, "10.53.151.231", 18080)
    assert get_path(d, "rule.name") == "Spring Cloud Function SpEL 表达式注入漏洞"
    assert get_path(d, "observer.vendor") == "asiainfo"


def test_trend_violation() -> None:
    d = _doc("trend", "[Violation log]")
    assert _flow(d) == ("192.1.2.91", 56806, "44.238.188.50", 80)
