"""EasyNetworks lines of the Chinese-vendor corpus: acceptance over the corpus and field values read from the lines."""

from __future__ import annotations

from collectors.parsers import parse
from soc.model import get_path

from .cn_acceptance import assert_vendor_lines, ctx, raw_with

VENDORS = ('easynetworks',)
# Lines whose shape another vendor's devices send too; nothing in them names the brand.
SHARED: dict[str, str] = {
    'device_id=APW1KAIRFM000525': 'easynetworks',  # a traffic record of the IDS: read as a firewall traffic log
}
UNRECOGNIZED: tuple[str, ...] = (
    'log_id=0954024577 type=dlp',
    'FW 1 4 Fan_Ok',
)


def test_every_easynetworks_line_is_recognized() -> None:
    assert_vendor_lines(VENDORS, 5, SHARED, UNRECOGNIZED)


def _doc(vendor: str, needle: str) -> dict:
    return parse(raw_with(vendor, needle), "syslog", ctx()).doc


def _flow(d: dict) -> tuple:
    return (get_path(d, "source.ip"), get_path(d, "source.port"), get_path(d, "destination.ip"),
            get_path(d, "destination.port"))


def test_ips_signature() -> None:
    d = _doc("easynetworks", "attack_id=29511")
    assert _flow(d) == ("192.168.1.244", 45670, "42.236.22.238", 80)
    assert get_path(d, "rule.id") == "29511" and get_path(d, "observer.type") == "ids"


def test_traffic_accept() -> None:
    d = _doc("easynetworks", "device_id=APW1KAIRFM000509")
    assert _flow(d) == ("192.168.2.88", 138, "192.168.2.255", 138)
    assert get_path(d, "event.action") == "accept" and get_path(d, "network.transport") == "udp"
