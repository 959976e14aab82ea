"""JHSec JH-OAM bastion lines of the Chinese-vendor corpus: acceptance over the corpus and field values read from the lines."""

from __future__ import annotations

from collectors.parsers import parse
from soc.model import get_path

from .cn_acceptance import assert_vendor_lines, ctx, raw_with

VENDORS = ('jhsec',)
# Lines whose shape another vendor's devices send too; nothing in them names the brand.
SHARED: dict[str, str] = {
}
UNRECOGNIZED: tuple[str, ...] = ()


def test_every_jhsec_line_is_recognized() -> None:
    assert_vendor_lines(VENDORS, 2, SHARED, UNRECOGNIZED)


def _doc(vendor: str, needle: str) -> dict:
    return parse(raw_with(vendor, needle), "syslog", ctx()).doc


def _flow(d: dict) -> tuple:
    return (get_path(d, "source.ip"), get_path(d, "source.port"), get_path(d, "destination.ip"),
            get_path(d, "destination.port"))


def test_resource_session() -> None:
    d = _doc("jhsec", "globalSid=")
    assert get_path(d, "user.name") == "wangan" and get_path(d, "source.ip") == "192.168.16.9"
    assert get_path(d, "destination.ip") == "192.168.16.11" and get_path(d, "destination.user.name") == "admin"


def test_login() -> None:
    d = _doc("jhsec", "remoteIP=172.16.0.100")
    assert get_path(d, "user.name") == "admin" and get_path(d, "event.action") == "Login"
