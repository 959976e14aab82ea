"""Juniper ScreenOS (SSG) lines of the Chinese-vendor corpus: acceptance over the corpus and field values read from the lines."""

from __future__ import annotations

from collectors.parsers import parse
from soc.model import get_path

from .cn_acceptance import assert_vendor_lines, ctx, raw_with

VENDORS = ('juniper',)
# Lines whose shape another vendor's devices send too; nothing in them names the brand.
SHARED: dict[str, str] = {
}
UNRECOGNIZED: tuple[str, ...] = ()


def test_every_juniper_line_is_recognized() -> None:
    assert_vendor_lines(VENDORS, 6, SHARED, UNRECOGNIZED)


def _doc(vendor: str, needle: str) -> dict:
    return parse(raw_with(vendor, needle), "syslog", ctx()).doc


def _flow(d: dict) -> tuple:
    return (get_path(d, "source.ip"), get_path(d, "source.port"), get_path(d, "destination.ip"),
            get_path(d, "destination.port"))


def test_traffic_close() -> None:
    d = _doc("juniper", "system-notification-00257(traffic)")
    assert _flow(d) == ("192.168.200.43", 12453, "113.31.30.142", 17788)
    assert get_path(d, "source.nat.ip") == "221.224.160.210" and get_path(d, "source.nat.port") == 1739
    assert get_path(d, "event.action") == "permit" and get_path(d, "network.transport") == "udp"


def test_ssh_password_failure() -> None:
    d = _doc("juniper", "Password authentication failed for admin user 'root'")
    assert get_path(d, "source.ip") == "141.98.11.110" and get_path(d, "user.name") == "root"
    assert get_path(d, "event.outcome") == "failure" and get_path(d, "@timestamp") == "2023-06-12T06:05:00.000Z"
