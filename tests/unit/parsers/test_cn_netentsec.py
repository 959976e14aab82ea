"""Netentsec NGFW lines of the Chinese-vendor corpus: acceptance over the corpus and field values read from the lines."""

from __future__ import annotations

from collectors.parsers import parse
from soc.model import get_path

from .cn_acceptance import assert_vendor_lines, ctx, raw_with

VENDORS = ('netentsec',)
# Lines whose shape another vendor's devices send too; nothing in them names the brand.
SHARED: dict[str, str] = {
}
UNRECOGNIZED: tuple[str, ...] = ()


def test_every_netentsec_line_is_recognized() -> None:
    assert_vendor_lines(VENDORS, 2, SHARED, UNRECOGNIZED)


def _doc(vendor: str, needle: str) -> dict:
    return parse(raw_with(vendor, needle), "syslog", ctx()).doc


def _flow(d: dict) -> tuple:
    return (get_path(d, "source.ip"), get_path(d, "source.port"), get_path(d, "destination.ip"),
            get_path(d, "destination.port"))


def test_update_error() -> None:
    d = _doc("netentsec", "NS_DPI_UPDATE_ERR")
    assert get_path(d, "event.code") == "NS_DPI_UPDATE_ERR" and get_path(d, "event.action") == "NGFWxai_update"
    assert get_path(d, "@timestamp") == "2020-04-11T08:02:55.000Z"  # epoch 1586592175
