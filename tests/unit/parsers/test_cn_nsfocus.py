"""NSFOCUS (绿盟) lines of the Chinese-vendor corpus: acceptance over the corpus and field values read from the lines."""

from __future__ import annotations

from collectors.parsers import parse
from soc.model import get_path

from .cn_acceptance import assert_vendor_lines, ctx, raw_with

VENDORS = ('nsfocus',)
# Lines whose shape another vendor's devices send too; nothing in them names the brand.
SHARED: dict[str, str] = {
    'event:[50243]': 'nsfocus',  # NF firewall URL alert in the NIDS legacy alert shape (read as IDS)
    'user:weboper;': 'nsfocus',  # NF firewall login in the shared admin-login shape (read as IDS)
}
UNRECOGNIZED: tuple[str, ...] = ()


def test_every_nsfocus_line_is_recognized() -> None:
    assert_vendor_lines(VENDORS, 29, SHARED, UNRECOGNIZED)


def _doc(vendor: str, needle: str) -> dict:
    return parse(raw_with(vendor, needle), "syslog", ctx()).doc


def _flow(d: dict) -> tuple:
    return (get_path(d, "source.ip"), get_path(d, "source.port"), get_path(d, "destination.ip"),
            get_path(d, "destination.port"))


def test_legacy_ids_alert() -> None:
    d = _doc("nsfocus", "event:[20132]Microsoft IIS")
    assert _flow(d) == ("192.168.7.10", 2983, "192.168.7.166", 80)
    assert get_path(d, "rule.id") == "20132" and get_path(d, "rule.name") == "Microsoft IIS 4.0/5.0 Unicode"
    assert get_path(d, "network.transport") == "tcp" and get_path(d, "network.protocol") == "http"
    assert get_path(d, "@timestamp") == "2010-08-13T07:35:18.000Z"


def test_nids_alert() -> None:
    d = _doc("nsfocus", "ruleid=40041")
    assert _flow(d) == ("10.14.69.177", 32656, "10.14.14.189", 21)
    assert get_path(d, "rule.name") == "FTP服务客户端使用空口令登录" and get_path(d, "rule.id") == "40041"
    assert get_path(d, "event.kind") == "alert" and get_path(d, "@timestamp") == "2022-01-17T06:29:44.000Z"


def test_waf_websec() -> None:
    d = _doc("nsfocus", "tag:waf_log_websec")
    assert _flow(d) == ("10.16.5.251", 8188, "10.16.0.14", 80)
    assert get_path(d, "http.request.method") == "GET" and get_path(d, "url.path") == "/images/main%5f01.jpg"
    assert get_path(d, "rule.name") == "HTTP_Protocol_Validation" and get_path(d, "event.action") == "accept"
    assert get_path(d, "url.original") == "/images/main%5f01.jpg" and get_path(d, "url.query") is None


def test_waf_uri_with_query() -> None:
    raw = raw_with("nsfocus", "tag:waf_log_websec").replace(
        "uri:/images/main%5f01.jpg", "uri:/portal/list.php?id=1%27%20and%201=1,2&page=../../etc/passwd"
    )
    d = parse(raw, "syslog", ctx()).doc
    assert get_path(d, "url.original") == "/portal/list.php?id=1%27%20and%201=1,2&page=../../etc/passwd"
    assert get_path(d, "url.path") == "/portal/list.php"
    assert get_path(d, "url.query") == "id=1%27%20and%201=1,2&page=../../etc/passwd"  # not cut at ',' or '&'
    assert get_path(d, "url.domain") == "218.65.204.251"


def test_ads_login_failure() -> None:
    d = _doc("nsfocus", "Login: admin|nsfocus|")
    assert get_path(d, "user.name") == "admin" and get_path(d, "source.ip") == "218.249.91.195"
    assert get_path(d, "event.outcome") == "failure"


def test_osms_command() -> None:
    d = _doc("nsfocus", "cmd:pwd")
    assert get_path(d, "user.name") == "test" and get_path(d, "process.command_line") == "pwd"
    assert get_path(d, "destination.ip") == "10.245.27.215" and get_path(d, "observer.type") == "bastion"


def test_uts_flow() -> None:
    d = _doc("nsfocus", "nsfocus,V1,flow,TCPUDP")
    assert _flow(d) == ("10.41.71.45", 52890, "192.168.1.17", 5432)
    assert get_path(d, "network.transport") == "tcp"
