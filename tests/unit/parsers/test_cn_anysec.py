"""Anysec NSIDS lines of the Chinese-vendor corpus: acceptance over the corpus and field values read from the lines."""

from __future__ import annotations

from collectors.parsers import parse
from soc.model import get_path

from .cn_acceptance import assert_vendor_lines, ctx, raw_with

VENDORS = ('anysec',)
# Lines whose shape another vendor's devices send too; nothing in them names the brand.
SHARED: dict[str, str] = {
}
UNRECOGNIZED: tuple[str, ...] = ()


def test_every_anysec_line_is_recognized() -> None:
    assert_vendor_lines(VENDORS, 1, SHARED, UNRECOGNIZED)


def _doc(vendor: str, needle: str) -> dict:
    return parse(raw_with(vendor, needle), "syslog", ctx()).doc


def _flow(d: dict) -> tuple:
    return (get_path(d, "source.ip"), get_path(d, "source.port"), get_path(d, "destination.ip"),
            get_path(d, "destination.port"))


def test_web_admin_event() -> None:
    d = _doc("anysec", "获取随机码成功")
    assert get_path(d, "user.name") == "administrator" and get_path(d, "source.ip") == "192.170.5.53"
    assert get_path(d, "event.outcome") == "success" and get_path(d, "observer.name") == "NSFW-12000-F5570"
