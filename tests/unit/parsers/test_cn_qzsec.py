"""QZSec (齐治) RIS bastion lines of the Chinese-vendor corpus: acceptance over the corpus and field values read from the lines."""

from __future__ import annotations

from collectors.parsers import parse
from soc.model import get_path

from .cn_acceptance import assert_vendor_lines, ctx, raw_with

VENDORS = ('qzsec',)
# Lines whose shape another vendor's devices send too; nothing in them names the brand.
SHARED: dict[str, str] = {
}
UNRECOGNIZED: tuple[str, ...] = (
    'node1:节点',
)


def test_every_qzsec_line_is_recognized() -> None:
    assert_vendor_lines(VENDORS, 5, SHARED, UNRECOGNIZED)


def _doc(vendor: str, needle: str) -> dict:
    return parse(raw_with(vendor, needle), "syslog", ctx()).doc


def _flow(d: dict) -> tuple:
    return (get_path(d, "source.ip"), get_path(d, "source.port"), get_path(d, "destination.ip"),
            get_path(d, "destination.port"))


def test_command_check() -> None:
    d = _doc("qzsec", "service=cmdcheck")
    assert get_path(d, "user.name") == "admin" and get_path(d, "source.ip") == "10.10.67.15"
    assert get_path(d, "destination.ip") == "10.10.33.30" and get_path(d, "process.command_line") == "ls-a"
    assert get_path(d, "destination.user.name") == "root"


def test_web_login() -> None:
    d = _doc("qzsec", "login(WEB)")
    assert get_path(d, "event.action") == "login" and get_path(d, "event.outcome") == "success"
