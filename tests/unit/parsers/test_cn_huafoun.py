"""Huafoun NAM lines of the Chinese-vendor corpus: acceptance over the corpus and field values read from the lines."""

from __future__ import annotations

from collectors.parsers import parse
from soc.model import get_path

from .cn_acceptance import assert_vendor_lines, ctx, raw_with

VENDORS = ('huafoun',)
# Lines whose shape another vendor's devices send too; nothing in them names the brand.
SHARED: dict[str, str] = {
}
UNRECOGNIZED: tuple[str, ...] = ()


def test_every_huafoun_line_is_recognized() -> None:
    assert_vendor_lines(VENDORS, 7, SHARED, UNRECOGNIZED)


def _doc(vendor: str, needle: str) -> dict:
    return parse(raw_with(vendor, needle), "syslog", ctx()).doc


def _flow(d: dict) -> tuple:
    return (get_path(d, "source.ip"), get_path(d, "source.port"), get_path(d, "destination.ip"),
            get_path(d, "destination.port"))


def test_auth_failure() -> None:
    d = _doc("huafoun", "用户账号认证失败")
    assert get_path(d, "user.name") == "liuchao" and get_path(d, "source.ip") == "192.168.1.12"
    assert get_path(d, "source.mac") == "8C:16:45:F8:F7:3E" and get_path(d, "event.outcome") == "failure"
