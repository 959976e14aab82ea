"""Cajinchen MDG antivirus gateway lines of the Chinese-vendor corpus: acceptance over the corpus and field values read from the lines."""

from __future__ import annotations

from collectors.parsers import parse
from soc.model import get_path

from .cn_acceptance import assert_vendor_lines, ctx, raw_with

VENDORS = ('cajinchen',)
# Lines whose shape another vendor's devices send too; nothing in them names the brand.
SHARED: dict[str, str] = {
}
UNRECOGNIZED: tuple[str, ...] = ()


def test_every_cajinchen_line_is_recognized() -> None:
    assert_vendor_lines(VENDORS, 5, SHARED, UNRECOGNIZED)


def _doc(vendor: str, needle: str) -> dict:
    return parse(raw_with(vendor, needle), "syslog", ctx()).doc


def _flow(d: dict) -> tuple:
    return (get_path(d, "source.ip"), get_path(d, "source.port"), get_path(d, "destination.ip"),
            get_path(d, "destination.port"))


def test_flow_alert() -> None:
    d = _doc("cajinchen", "rule=2814410")
    assert _flow(d) == ("10.209.134.195", 43581, "10.165.213.230", 80)
    assert get_path(d, "rule.id") == "2814410" and get_path(d, "rule.name") == "Win32/TrojanDownloader.Banload.WPF病毒检索Payload活动"
    assert get_path(d, "event.action") == "alert"


def test_gui_audit() -> None:
    d = _doc("cajinchen", "mdg gui[")
    assert get_path(d, "user.name") == "admin" and get_path(d, "source.ip") == "192.168.200.50"
