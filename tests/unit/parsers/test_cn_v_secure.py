"""V-Secure jc-svr antivirus lines of the Chinese-vendor corpus: acceptance over the corpus and field values read from the lines."""

from __future__ import annotations

from collectors.parsers import parse
from soc.model import get_path

from .cn_acceptance import assert_vendor_lines, ctx, raw_with

VENDORS = ('v-secure',)
# Lines whose shape another vendor's devices send too; nothing in them names the brand.
SHARED: dict[str, str] = {
}
UNRECOGNIZED: tuple[str, ...] = ()


def test_every_v_secure_line_is_recognized() -> None:
    assert_vendor_lines(VENDORS, 3, SHARED, UNRECOGNIZED)


def _doc(vendor: str, needle: str) -> dict:
    return parse(raw_with(vendor, needle), "syslog", ctx()).doc


def _flow(d: dict) -> tuple:
    return (get_path(d, "source.ip"), get_path(d, "source.port"), get_path(d, "destination.ip"),
            get_path(d, "destination.port"))


def test_virus_event() -> None:
    d = _doc("v-secure", "Trojan/Win32.serverstart.Z11.zav")
    assert get_path(d, "rule.name") == "Trojan/Win32.serverstart.Z11.zav" and get_path(d, "host.ip") == ["10.56.137.181"]
    assert get_path(d, "host.name") == "WIN-RSJ1Q82SGHB" and get_path(d, "event.category") == ["malware"]
    assert get_path(d, "@timestamp") == "2023-02-21T01:50:26.000Z"


def test_console_login() -> None:
    d = _doc("v-secure", "user_type=")
    assert get_path(d, "user.name") == "admin" and get_path(d, "event.action") == "登录"
