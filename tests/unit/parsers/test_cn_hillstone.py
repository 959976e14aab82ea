"""Hillstone lines of the Chinese-vendor corpus: acceptance and field values read from the lines."""

from __future__ import annotations

from collectors.parsers import parse
from soc.model import get_path

from .cn_acceptance import check_line, corpus_lines, ctx, raw_with

VENDOR = "hillstone"


def test_every_hillstone_line_is_recognized() -> None:
    records = corpus_lines(VENDOR)
    assert len(records) == 13
    failures = {rec["raw"][:100]: p for rec in records if (p := check_line(rec))}
    assert not failures, failures


def _doc(needle: str) -> dict:
    return parse(raw_with(VENDOR, needle), "syslog", ctx()).doc


def test_ips_threat() -> None:
    d = _doc("signature ID: 105425")
    assert get_path(d, "observer.product") == "sg-6000" and get_path(d, "event.kind") == "alert"
    assert (get_path(d, "source.ip"), get_path(d, "source.port")) == ("172.18.1.18", 4080)
    assert (get_path(d, "destination.ip"), get_path(d, "destination.port")) == ("202.101.226.69", 53)
    assert get_path(d, "rule.name") == "Trojan Activity: Win32/Beapy CnC Domain in DNS Lookup"
    assert get_path(d, "rule.id") == "105425" and get_path(d, "event.action") == "reset"
    assert get_path(d, "observer.serial_number") == "261030KSA3965909"


def test_port_scan_and_ipv6() -> None:
    d = _doc("threat name: port-scan")
    assert (get_path(d, "source.ip"), get_path(d, "source.port")) == ("192.168.85.194", 6439)
    assert (get_path(d, "destination.ip"), get_path(d, "destination.port")) == ("210.45.160.12", 6443)
    d = _doc("[3001::35]")
    assert get_path(d, "source.ip") == "3001::35" and get_path(d, "destination.port") == 80


def test_admin_logout_and_invalid_time() -> None:
    d = _doc('Admin user "admin" logged out')
    assert get_path(d, "user.name") == "admin" and get_path(d, "source.ip") == "172.16.2.15"
    assert get_path(d, "event.category") == ["authentication"] and get_path(d, "event.type") == ["end"]
    p = parse(raw_with(VENDOR, "88:88:80"), "syslog", ctx())
    assert "@timestamp" not in p.doc and "_timestamp_invalid" in p.tags
    assert get_path(p.doc, "user.name") == "test" and get_path(p.doc, "destination.port") == 21


def test_osg_login() -> None:
    d = _doc("UMA: type=login")
    assert get_path(d, "observer.type") == "bastion" and get_path(d, "user.name") == "superman"
    assert get_path(d, "source.ip") == "12.2.0.2" and get_path(d, "event.outcome") == "success"
    assert get_path(d, "@timestamp") == "2023-07-17T06:58:33.000Z"
