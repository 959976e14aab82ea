"""H3C lines of the Chinese-vendor corpus: acceptance and field values read from the lines."""

from __future__ import annotations

from collectors.parsers import parse
from soc.model import get_path

from .cn_acceptance import check_line, corpus_lines, ctx, raw_with

VENDOR = "h3c"


def test_every_h3c_line_is_recognized() -> None:
    records = corpus_lines(VENDOR)
    assert len(records) == 20
    failures = {rec["raw"][:100]: p for rec in records if (p := check_line(rec))}
    assert not failures, failures


def _doc(needle: str) -> dict:
    return parse(raw_with(VENDOR, needle), "syslog", ctx()).doc


def test_filter_permit_and_deny() -> None:
    d = _doc("SrcPort(1004)=65192")
    assert get_path(d, "observer.type") == "firewall" and get_path(d, "observer.hostname") == "FW-IRF"
    assert (get_path(d, "source.ip"), get_path(d, "source.port")) == ("192.168.254.101", 65192)
    assert (get_path(d, "destination.ip"), get_path(d, "destination.port")) == ("223.5.5.5", 53)
    assert get_path(d, "network.transport") == "udp" and get_path(d, "network.protocol") == "dns"
    assert get_path(d, "rule.name") == "t-u" and get_path(d, "event.action") == "permit"
    d = _doc("Event(1048)=Deny")
    assert get_path(d, "source.ip") == "172.28.47.51" and "denied" in get_path(d, "event.type")


def test_ips_interzone_attack() -> None:
    d = _doc("IPS_IPV6_INTERZONE")
    assert get_path(d, "event.kind") == "alert"
    assert (get_path(d, "source.ip"), get_path(d, "source.port")) == ("100.10.10.40", 2999)
    assert (get_path(d, "destination.ip"), get_path(d, "destination.port")) == ("200.10.10.40", 80)
    assert get_path(d, "rule.name") == "WEB_CLIENT_Windows_Media_ASF_File_Download_SET"
    assert get_path(d, "rule.id") == "5707" and get_path(d, "user.name") == "abc"
    assert get_path(d, "event.action") == "reset & logging"


def test_t9000_ips_and_ssh_login() -> None:
    d = _doc("ATK_IP4_ACK_FLOOD_SZ")
    assert get_path(d, "observer.type") == "ips" and get_path(d, "destination.ip") == "139.189.223.235"
    assert get_path(d, "event.start") == "2021-02-24T00:41:35.000Z"  # BeginTime_c 20210224084135 local
    d = _doc("SSHS_LOG")
    assert get_path(d, "user.name") == "admin" and get_path(d, "source.ip") == "10.100.1.51"
    assert get_path(d, "source.port") == 52427 and get_path(d, "event.category") == ["authentication"]


def test_attack_defense_names_the_attack() -> None:
    # ATK lines carry no AttackName field: the digest names the attack (_SZ: per zone, _RAW: per packet).
    d = _doc("ATK_IP4_ACK_FLOOD_SZ")
    assert get_path(d, "rule.name") == "IP4_ACK_FLOOD" and get_path(d, "event.kind") == "alert"
    d = _doc("ATK_ICMP_FLOOD")
    assert get_path(d, "rule.name") == "ICMP_FLOOD" and get_path(d, "observer.type") == "firewall"
    d = _doc("ATK_ICMPV6_TRACEROUTE_SZ")
    assert get_path(d, "rule.name") == "ICMPV6_TRACEROUTE" and get_path(d, "source.ip") == "240e:958:6002::27"


def test_waf_module_is_a_waf() -> None:
    """The SecPath WAF module's logs reach the WAF rules (routed by observer.type waf). The corpus has
    no WAF-module line: this is its IPS line with the module renamed (same Name(code)= fields)."""
    raw = raw_with(VENDOR, "IPS_IPV6_INTERZONE").replace("%%10IPS/4/IPS_IPV6", "%%10WAF/4/WAF_IPV6")
    d = parse(raw, "syslog", ctx()).doc
    assert get_path(d, "observer.type") == "waf" and get_path(d, "observer.product") == "secpath-firewall"
    assert get_path(d, "event.category") == ["web", "intrusion_detection", "network"]
    assert get_path(d, "event.kind") == "alert" and get_path(d, "soc.severity") == "critical"
    assert get_path(d, "rule.name") == "WEB_CLIENT_Windows_Media_ASF_File_Download_SET"
    assert get_path(_doc("IPS_IPV6_INTERZONE"), "observer.type") == "firewall"  # the IPS module: unchanged


def test_acg_web_access() -> None:
    d = _doc("web_access")
    assert get_path(d, "user.name") == "hanwanyun" and get_path(d, "source.ip") == "10.12.22.49"
    assert get_path(d, "destination.ip") == "101.226.161.228" and get_path(d, "url.domain") == "s.360.cn"
