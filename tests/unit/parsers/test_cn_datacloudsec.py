"""DataCloudSec lines of the Chinese-vendor corpus: acceptance over the corpus and field values read from the lines."""

from __future__ import annotations

from collectors.parsers import parse
from soc.model import get_path

from .cn_acceptance import assert_vendor_lines, ctx, raw_with

VENDORS = ('datacloudsec',)
# Lines whose shape another vendor's devices send too; nothing in them names the brand.
SHARED: dict[str, str] = {
}
UNRECOGNIZED: tuple[str, ...] = ()


def test_every_datacloudsec_line_is_recognized() -> None:
    assert_vendor_lines(VENDORS, 5, SHARED, UNRECOGNIZED)


def _doc(vendor: str, needle: str) -> dict:
    return parse(raw_with(vendor, needle), "syslog", ctx()).doc


def _flow(d: dict) -> tuple:
    return (get_path(d, "source.ip"), get_path(d, "source.port"), get_path(d, "destination.ip"),
            get_path(d, "destination.port"))


def test_ips_alert() -> None:
    d = _doc("datacloudsec", "CharacterName=")
    assert (get_path(d, "source.ip"), get_path(d, "destination.ip")) == ("223.202.62.232", "192.168.0.70")
    assert get_path(d, "rule.name") == "PING响应数据包" and get_path(d, "event.action") == "pass"
