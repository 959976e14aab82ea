"""Antiy antivirus lines of the Chinese-vendor corpus: acceptance over the corpus and field values read from the lines."""

from __future__ import annotations

from collectors.parsers import parse
from soc.model import get_path

from .cn_acceptance import assert_vendor_lines, ctx, raw_with

VENDORS = ('antiy',)
# Lines whose shape another vendor's devices send too; nothing in them names the brand.
SHARED: dict[str, str] = {
}
UNRECOGNIZED: tuple[str, ...] = ()


def test_every_antiy_line_is_recognized() -> None:
    assert_vendor_lines(VENDORS, 4, SHARED, UNRECOGNIZED)


def _doc(vendor: str, needle: str) -> dict:
    return parse(raw_with(vendor, needle), "syslog", ctx()).doc


def _flow(d: dict) -> tuple:
    return (get_path(d, "source.ip"), get_path(d, "source.port"), get_path(d, "destination.ip"),
            get_path(d, "destination.port"))


def test_scan_virus_killed() -> None:
    d = _doc("antiy", "LOGTYPE='SCAN'")
    assert get_path(d, "rule.name") == "Win32.Troj.EnCodeFk.ak.(kcloud)" and get_path(d, "host.ip") == ["192.168.26.131"]
    assert get_path(d, "event.action") == "KILLED" and get_path(d, "event.category") == ["malware"]
