"""WebRAY (盛邦) lines of the Chinese-vendor corpus: acceptance over the corpus and field values read from the lines."""

from __future__ import annotations

from collectors.parsers import parse
from soc.model import get_path

from .cn_acceptance import assert_vendor_lines, ctx, raw_with

VENDORS = ('webray',)
# Lines whose shape another vendor's devices send too; nothing in them names the brand.
SHARED: dict[str, str] = {
    'IF_INFO: SerialNum=': 'venus',  # Venustech `SerialNum=` shape
}
UNRECOGNIZED: tuple[str, ...] = ()


def test_every_webray_line_is_recognized() -> None:
    assert_vendor_lines(VENDORS, 26, SHARED, UNRECOGNIZED)


def _doc(vendor: str, needle: str) -> dict:
    return parse(raw_with(vendor, needle), "syslog", ctx()).doc


def _flow(d: dict) -> tuple:
    return (get_path(d, "source.ip"), get_path(d, "source.port"), get_path(d, "destination.ip"),
            get_path(d, "destination.port"))


def test_raywaf_attack() -> None:
    d = _doc("webray", '"r_type_name":"OS Injection Protection"')
    assert _flow(d) == ("172.18.1.189", 29508, "172.18.0.252", 10012)
    assert get_path(d, "rule.name") == "OS Injection Protection" and get_path(d, "http.request.method") == "GET"
    assert get_path(d, "url.path") == "/cgi-bin/test-cgi.bat" and get_path(d, "event.action") == "pass"


def test_topapt_http_metadata() -> None:
    d = _doc("webray", '"event_source":"ratel_http"')
    assert _flow(d) == ("192.168.9.146", 55913, "110.242.68.4", 80)
    assert get_path(d, "http.request.method") == "HEAD" and get_path(d, "url.path") == "/robots.txt"
    assert get_path(d, "event.category") == ["network"]


def test_rayguard_traffic() -> None:
    d = _doc("webray", "traffic 1676966861")
    assert _flow(d) == ("121.193.76.9", 55350, "172.217.163.42", 443)
    assert get_path(d, "event.action") == "deny" and get_path(d, "network.transport") == "tcp"


def test_firewall_admin_logout() -> None:
    d = _doc("webray", "device_id=RAY1KMF001000151")
    assert get_path(d, "user.name") == "admin" and get_path(d, "event.action") == "logout"
    assert get_path(d, "source.ip") == "192.168.70.1"
