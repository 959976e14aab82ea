"""Shenfan bastion lines of the Chinese-vendor corpus: acceptance over the corpus and field values read from the lines."""

from __future__ import annotations

from collectors.parsers import parse
from soc.model import get_path

from .cn_acceptance import assert_vendor_lines, ctx, raw_with

VENDORS = ('shenfan',)
# Lines whose shape another vendor's devices send too; nothing in them names the brand.
SHARED: dict[str, str] = {
}
UNRECOGNIZED: tuple[str, ...] = ()


def test_every_shenfan_line_is_recognized() -> None:
    assert_vendor_lines(VENDORS, 1, SHARED, UNRECOGNIZED)


def _doc(vendor: str, needle: str) -> dict:
    return parse(raw_with(vendor, needle), "syslog", ctx()).doc


def _flow(d: dict) -> tuple:
    return (get_path(d, "source.ip"), get_path(d, "source.port"), get_path(d, "destination.ip"),
            get_path(d, "destination.port"))


def test_resource_session() -> None:
    d = _doc("shenfan", "<AUDIT_LOG>")
    assert get_path(d, "user.name") == "OA"
    assert (get_path(d, "source.ip"), get_path(d, "destination.ip")) == ("10.10.98.10", "10.2.1.10")
    assert get_path(d, "network.protocol") == "ssh2" and get_path(d, "event.end") == "2020-11-11T05:58:40.000Z"
