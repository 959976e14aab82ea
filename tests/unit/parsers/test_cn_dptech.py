"""DPtech (迪普) lines of the Chinese-vendor corpus: acceptance over the corpus and field values read from the lines."""

from __future__ import annotations

from collectors.parsers import parse
from soc.model import get_path

from .cn_acceptance import assert_vendor_lines, ctx, raw_with

VENDORS = ('dptech',)
# Lines whose shape another vendor's devices send too; nothing in them names the brand.
SHARED: dict[str, str] = {
}
UNRECOGNIZED: tuple[str, ...] = ()


def test_every_dptech_line_is_recognized() -> None:
    assert_vendor_lines(VENDORS, 38, SHARED, UNRECOGNIZED)


def _doc(vendor: str, needle: str) -> dict:
    return parse(raw_with(vendor, needle), "syslog", ctx()).doc


def _flow(d: dict) -> tuple:
    return (get_path(d, "source.ip"), get_path(d, "source.port"), get_path(d, "destination.ip"),
            get_path(d, "destination.port"))


def test_ips_attack() -> None:
    d = _doc("dptech", "%%DPX/ATTACK/1/SRVLOG")
    assert _flow(d) == ("172.153.254.12", 80, "10.101.0.197", 3667)
    assert get_path(d, "rule.id") == "402663337"
    assert get_path(d, "rule.name") == "ASP know you the taste WebShell backdoor Network Ma"
    assert get_path(d, "event.action") == "alert" and get_path(d, "network.transport") == "tcp"


def test_probe_hex_addresses() -> None:
    d = _doc("dptech", "source-ip:4-0a010164")  # 0a.01.01.64 = 10.1.1.100, 0a.01.01.c8 = 10.1.1.200
    assert _flow(d) == ("10.1.1.100", 7590, "10.1.1.200", 80)
    assert get_path(d, "event.action") == "block"


def test_operator_login() -> None:
    d = _doc("dptech", "logged in from IP address")
    assert get_path(d, "user.name") == "admin" and get_path(d, "source.ip") == "10.11.100.75"
    assert get_path(d, "event.action") == "login" and get_path(d, "event.outcome") == "success"


def test_firewall_policy_deny() -> None:
    d = _doc("dptech", "POLICY:Deny")
    assert _flow(d) == ("172.17.8.12", 53534, "224.0.0.252", 5355)
    assert get_path(d, "network.transport") == "udp" and get_path(d, "event.action") == "deny"


def test_xdr_network_action() -> None:
    d = _doc("dptech", "NetworkActionsInfo")
    assert _flow(d) == ("192.168.101.117", 59421, "172.217.160.74", 443)
    assert get_path(d, "process.name") == "chrome.exe" and get_path(d, "host.name") == "D-WD"


def test_osp_command_violation() -> None:
    d = _doc("dptech", "越权命令：rm")
    assert get_path(d, "user.name") == "zhangsan" and get_path(d, "process.command_line") == "rm"
