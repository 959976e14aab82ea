"""Jump IDS/IPS lines of the Chinese-vendor corpus: acceptance over the corpus and field values read from the lines."""

from __future__ import annotations

from collectors.parsers import parse
from soc.model import get_path

from .cn_acceptance import assert_vendor_lines, ctx, raw_with

VENDORS = ('jump',)
# Lines whose shape another vendor's devices send too; nothing in them names the brand.
SHARED: dict[str, str] = {
}
UNRECOGNIZED: tuple[str, ...] = ()


def test_every_jump_line_is_recognized() -> None:
    assert_vendor_lines(VENDORS, 4, SHARED, UNRECOGNIZED)


def _doc(vendor: str, needle: str) -> dict:
    return parse(raw_with(vendor, needle), "syslog", ctx()).doc


def _flow(d: dict) -> tuple:
    return (get_path(d, "source.ip"), get_path(d, "source.port"), get_path(d, "destination.ip"),
            get_path(d, "destination.port"))


def test_syn_flood_alert() -> None:
    d = _doc("jump", "dip 112.30.251.11")
    assert (get_path(d, "source.ip"), get_path(d, "destination.ip")) == ("10.33.3.5", "112.30.251.11")
    assert get_path(d, "rule.name") == "DDOS攻击，TCP协议Syn淹没攻击" and get_path(d, "rule.id") == "497"
    assert get_path(d, "network.transport") == "tcp" and get_path(d, "event.kind") == "alert"


def test_admin_login() -> None:
    d = _doc("jump", "IPS ADMIN LOGIN")
    assert get_path(d, "user.name") == "liuyx" and get_path(d, "source.ip") == "10.0.7.33"
    assert get_path(d, "event.outcome") == "success"
