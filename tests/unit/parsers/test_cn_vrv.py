"""VRV EDP lines of the Chinese-vendor corpus: acceptance over the corpus and field values read from the lines."""

from __future__ import annotations

from collectors.parsers import parse
from soc.model import get_path

from .cn_acceptance import assert_vendor_lines, ctx, raw_with

VENDORS = ('vrv',)
# Lines whose shape another vendor's devices send too; nothing in them names the brand.
SHARED: dict[str, str] = {
}
UNRECOGNIZED: tuple[str, ...] = ()


def test_every_vrv_line_is_recognized() -> None:
    assert_vendor_lines(VENDORS, 3, SHARED, UNRECOGNIZED)


def _doc(vendor: str, needle: str) -> dict:
    return parse(raw_with(vendor, needle), "syslog", ctx()).doc


def _flow(d: dict) -> tuple:
    return (get_path(d, "source.ip"), get_path(d, "source.port"), get_path(d, "destination.ip"),
            get_path(d, "destination.port"))


def test_web_access_audit() -> None:
    d = _doc("vrv", "2017-11-02 13:12:08")
    assert get_path(d, "host.ip") == ["192.168.0.111", "172.20.8.106"] and get_path(d, "user.name") == "Administrator"
    assert get_path(d, "rule.name") == "木马网站访问监控"
