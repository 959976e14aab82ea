"""Huawei lines of the Chinese-vendor corpus: acceptance and field values read from the lines."""

from __future__ import annotations

from collectors.parsers import parse
from soc.model import get_path

from .cn_acceptance import IN_SCOPE, check_line, corpus_lines, ctx, raw_with

VENDOR = "huawei"
# Lines that do not say which Huawei device wrote them: a configuration-mode exit from a host
# named "HUAWEI" (labelled both NIP6000 and switch), and an AgileController CLI line labelled
# FireHunter. A source configured with the format on the right reads them as that device.
AMBIGUOUS = {
    ("ips", "HWCM/5/EXIT"): "huawei_nip",
    ("apt", "CLI/4/TEMPLATE_INSTALL_YES"): "huawei_firehunter",
}


def _ambiguous(rec: dict) -> str | None:
    return next((f for (cat, s), f in AMBIGUOUS.items() if cat == rec["category"] and s in rec["raw"]), None)


def test_every_huawei_line_is_recognized() -> None:
    records = corpus_lines(VENDOR)
    assert len(records) == 19
    failures = {}
    for rec in records:
        fmt = _ambiguous(rec)
        problems = check_line(rec, check_type=fmt is None)
        if fmt is not None and rec["category"] in IN_SCOPE:
            problems += check_line(rec, hint=fmt)
        if problems:
            failures[(rec["category"], rec["raw"][:100])] = problems
    assert not failures, failures


def _doc(needle: str) -> dict:
    return parse(raw_with(VENDOR, needle), "syslog", ctx()).doc


def test_usg_policy_deny_uses_the_local_body_time() -> None:
    d = _doc("POLICYDENY")
    assert get_path(d, "observer.product") == "usg" and get_path(d, "observer.type") == "firewall"
    assert (get_path(d, "source.ip"), get_path(d, "source.port")) == ("103.146.174.156", 40156)
    assert (get_path(d, "destination.ip"), get_path(d, "destination.port")) == ("210.30.96.206", 1433)
    assert get_path(d, "network.transport") == "tcp"  # protocol=6
    assert get_path(d, "rule.name") == "av_22-23" and get_path(d, "event.action") == "deny"
    assert "denied" in get_path(d, "event.type") and get_path(d, "event.category") == ["network"]
    # header "Jan 17 2022 01:03:41" is UTC, body time=2022/1/17 09:03:41 is Beijing time
    assert get_path(d, "@timestamp") == "2022-01-17T01:03:41.000Z"


def test_usg_policy_permit() -> None:
    d = _doc("POLICYPERMIT")
    assert (get_path(d, "source.ip"), get_path(d, "destination.port")) == ("192.168.0.124", 445)
    assert get_path(d, "rule.name") == "trust-untrust" and "allowed" in get_path(d, "event.type")


def test_usg_ips_trojan_and_attack() -> None:
    d = _doc("%%01IPS/4/TROJAN")
    assert get_path(d, "event.kind") == "alert" and "intrusion_detection" in get_path(d, "event.category")
    assert (get_path(d, "source.ip"), get_path(d, "source.port")) == ("192.168.0.239", 54113)
    assert (get_path(d, "destination.ip"), get_path(d, "destination.port")) == ("192.168.0.253", 53)
    assert get_path(d, "rule.name") == "Trojan CoinMiner : pilutce.com" and get_path(d, "rule.id") == "3360499"
    assert get_path(d, "event.action") == "block" and get_path(d, "network.transport") == "udp"
    d = _doc("ASSOC/4/ATTACK")
    assert get_path(d, "rule.name") == "RDP Local Account Brute-force Attempt"
    assert get_path(d, "source.ip") == "210.30.97.187" and get_path(d, "destination.port") == 49153


def test_usg_command_record_and_login() -> None:
    d = _doc("CMDRECORD")
    assert get_path(d, "user.name") == "admin" and get_path(d, "source.ip") == "210.30.96.249"
    assert get_path(d, "process.command_line") == "undo info-center loghost 210.30.96.110"
    assert get_path(d, "event.category") == ["configuration"]
    d = _doc("USER_ACCESSRESULT")
    assert get_path(d, "user.name") == "admin" and get_path(d, "event.outcome") == "success"
    assert get_path(d, "@timestamp") == "2022-01-24T07:46:07.000Z"  # TIME:1643010367


def test_nip_lines() -> None:
    d = _doc("TPROJAN")
    assert get_path(d, "observer.product") == "nip" and get_path(d, "observer.type") == "ips"
    assert (get_path(d, "source.ip"), get_path(d, "destination.port")) == ("192.168.0.20", 443)
    assert get_path(d, "user.name") == "admin" and get_path(d, "rule.name") == "1qaz"
    d = _doc("FIREWALLATCK")
    assert get_path(d, "destination.ip") == "192.168.0.112" and get_path(d, "rule.name") == "Udp flood attack"


def test_agile_controller_and_ibmc() -> None:
    d = _doc("POLICY/6/VIOLATE")
    assert get_path(d, "observer.product") == "agile-controller" and get_path(d, "user.name") == "ddd"
    assert get_path(d, "source.ip") == "172.19.10.166"
    d = _doc("iBMC")
    assert get_path(d, "user.name") == "Administrator" and get_path(d, "source.ip") == "28.7.11.90"
