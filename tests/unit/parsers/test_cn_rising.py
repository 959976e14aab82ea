"""Rising ESM antivirus lines of the Chinese-vendor corpus: acceptance over the corpus and field values read from the lines."""

from __future__ import annotations

from collectors.parsers import parse
from soc.model import get_path

from .cn_acceptance import assert_vendor_lines, ctx, raw_with

VENDORS = ('rising',)
# Lines whose shape another vendor's devices send too; nothing in them names the brand.
SHARED: dict[str, str] = {
}
UNRECOGNIZED: tuple[str, ...] = ()


def test_every_rising_line_is_recognized() -> None:
    assert_vendor_lines(VENDORS, 2, SHARED, UNRECOGNIZED)


def _doc(vendor: str, needle: str) -> dict:
    return parse(raw_with(vendor, needle), "syslog", ctx()).doc


def _flow(d: dict) -> tuple:
    return (get_path(d, "source.ip"), get_path(d, "source.port"), get_path(d, "destination.ip"),
            get_path(d, "destination.port"))


def test_virus_removed() -> None:
    d = _doc("rising", "PUF.GameHack!1.B5BD")
    assert get_path(d, "rule.name") == "PUF.GameHack!1.B5BD" and get_path(d, "host.ip") == ["192.168.1.3"]
    assert get_path(d, "event.action") == "删除成功" and get_path(d, "event.outcome") == "success"
    assert get_path(d, "host.name") == "WIN-7PFQL9NTGNS"
