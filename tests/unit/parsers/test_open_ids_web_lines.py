"""Suricata, Snort, ModSecurity, nginx/Apache and netfilter lines: the ECS fields analysts rely on.

Expected values are read off the lines themselves (and the vendors' format documentation);
the corpus files without Elastic expected documents (Snort fast.log, ModSecurity audit logs)
are checked here line by line.
"""

from __future__ import annotations

import json
import time
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from collectors.parsers import MESSAGE_FORMATS, ParseContext, ParseError, parse
from soc.model import get_path

PACKAGES = Path(__file__).resolve().parents[3].parent / "shared" / "corpus" / "elastic-integrations" / "packages"
UTC = ZoneInfo("UTC")
SHANGHAI = ZoneInfo("Asia/Shanghai")
MINE = ("suricata_eve", "snort_fast", "modsecurity_audit", "web_access", "nginx_error", "apache_error", "iptables")


def ctx(tz: ZoneInfo = SHANGHAI, received: str = "2024-06-01T00:00:00+00:00") -> ParseContext:
    return ParseContext(source_id="t", received_at=datetime.fromisoformat(received), timezone=tz)


def corpus_lines(rel: str) -> list[str]:
    path = PACKAGES / rel
    assert path.is_file(), f"corpus file missing: {path}"
    return [line for line in path.read_text(encoding="utf-8").split("\n") if line.strip()]


def fields(doc: dict, *names: str) -> dict:
    return {n: get_path(doc, n) for n in names}


# --------------------------------------------------------------------------- Suricata EVE


EVE_ALERT = (
    '{"timestamp":"2021-01-27T01:28:11.488362+0100","flow_id":1805461738637437,"in_iface":"enp6s0",'
    '"event_type":"alert","src_ip":"175.16.199.1","src_port":80,"dest_ip":"10.31.64.240","dest_port":47592,'
    '"proto":"TCP","alert":{"action":"blocked","gid":1,"signature_id":2100498,"rev":7,'
    '"signature":"GPL ATTACK_RESPONSE id check returned root","category":"Potentially Bad Traffic","severity":2},'
    '"app_proto":"http","flow":{"pkts_toserver":6,"pkts_toclient":5,"bytes_toserver":496,"bytes_toclient":876}}'
)


def test_suricata_alert() -> None:
    doc = parse(EVE_ALERT, "", ctx()).doc
    assert fields(doc, "@timestamp", "event.kind", "event.category", "event.type", "event.action") == {
        "@timestamp": "2021-01-27T00:28:11.488Z",
        "event.kind": "alert",
        "event.category": ["network", "intrusion_detection"],
        "event.type": ["denied"],
        "event.action": "blocked",
    }
    assert fields(doc, "rule.id", "rule.name", "rule.category", "event.severity") == {
        "rule.id": "2100498",
        "rule.name": "GPL ATTACK_RESPONSE id check returned root",
        "rule.category": "Potentially Bad Traffic",
        "event.severity": 2,
    }
    assert fields(doc, "source.ip", "source.port", "destination.ip", "destination.port", "network.transport") == {
        "source.ip": "175.16.199.1", "source.port": 80, "destination.ip": "10.31.64.240",
        "destination.port": 47592, "network.transport": "tcp",
    }
    assert get_path(doc, "network.protocol") == "http"
    assert get_path(doc, "source.bytes") == 496 and get_path(doc, "network.packets") == 11
    assert get_path(doc, "observer.type") == "ids" and get_path(doc, "event.dataset") == "suricata.eve"
    assert set(get_path(doc, "related.ip")) == {"175.16.199.1", "10.31.64.240"}


def test_suricata_dns_tls_fileinfo_from_corpus() -> None:
    lines = {json.loads(x)["event_type"] + str(i): x for i, x in enumerate(
        corpus_lines("suricata/data_stream/eve/_dev/test/pipeline/test-eve-small.log"))}
    dns = parse(lines["dns4"], "", ctx()).doc
    assert get_path(dns, "dns.question.name") == "clients.l.google.com"
    assert get_path(dns, "dns.resolved_ip") == ["175.16.199.1"]
    assert get_path(dns, "network.transport") == "udp"
    tls = parse(lines["tls6"], "", ctx()).doc
    assert get_path(tls, "tls.version") == "1.2" and get_path(tls, "tls.version_protocol") == "tls"
    info = parse(lines["fileinfo3"], "", ctx()).doc
    assert get_path(info, "file.hash.md5") == "427b7337ff37eeb24d74f47d8e04cf21"
    assert get_path(info, "file.size") == 1071
    assert get_path(info, "url.original") == "/ssdp/device-desc.xml"
    stats = parse(lines["stats5"], "", ctx()).doc
    assert get_path(stats, "event.kind") == "metric"


def test_suricata_anomaly_and_naive_timestamp() -> None:
    line = ('{"timestamp":"2024-05-01T08:00:00.000001","event_type":"anomaly","src_ip":"10.0.0.1",'
            '"dest_ip":"10.0.0.2","proto":"UDP","anomaly":{"type":"decode","event":"ipv4.trunc_pkt"}}')
    doc = parse(line, "", ctx()).doc
    assert get_path(doc, "@timestamp") == "2024-05-01T00:00:00.000Z"  # Asia/Shanghai local time
    assert get_path(doc, "event.kind") == "event"
    assert get_path(doc, "suricata.eve.anomaly.event") == "ipv4.trunc_pkt"


def test_suricata_bad_timestamp_is_tagged_not_raised() -> None:
    doc = parse('{"timestamp":"yesterday","event_type":"flow","src_ip":"10.0.0.1"}', "", ctx()).doc
    assert "_timestamp_invalid" in doc["tags"]
    assert get_path(doc, "source.ip") == "10.0.0.1"


def test_suricata_sniff_leaves_other_json_alone() -> None:
    assert not MESSAGE_FORMATS["suricata_eve"].sniff('{"timestamp": 1, "msg": "x"}')
    assert not MESSAGE_FORMATS["suricata_eve"].sniff('{"transaction": {"event_type": "x"}}')


# --------------------------------------------------------------------------- Snort fast


def test_snort_fast_log_corpus_lines() -> None:
    lines = corpus_lines("snort/data_stream/log/_dev/test/pipeline/test-log-fast.log")
    docs = [parse(line, "", ctx(UTC, "2024-12-31T00:00:00+00:00")).doc for line in lines]
    assert all(get_path(d, "event.module") == "snort" and get_path(d, "event.kind") == "alert" for d in docs)
    first = docs[0]  # 05/30-19:09:10.917356 [**] [1:527:8] BAD-TRAFFIC same SRC/DST ... {UDP} 0.0.0.0:68 -> 255.255.255.255:67
    assert fields(first, "@timestamp", "rule.id", "rule.version", "rule.name", "rule.category", "event.severity") == {
        "@timestamp": "2024-05-30T19:09:10.917Z", "rule.id": "527", "rule.version": "8",
        "rule.name": "BAD-TRAFFIC same SRC/DST", "rule.category": "Potentially Bad Traffic", "event.severity": 2,
    }
    assert fields(first, "source.ip", "source.port", "destination.ip", "destination.port", "network.transport") == {
        "source.ip": "0.0.0.0", "source.port": 68, "destination.ip": "255.255.255.255",
        "destination.port": 67, "network.transport": "udp",
    }
    icmp = docs[2]  # [1:477:3] ICMP Packet [**] [Priority: 0] {ICMP} 175.16.199.1 -> 175.16.199.1
    assert get_path(icmp, "rule.category") is None and get_path(icmp, "event.severity") == 0
    assert get_path(icmp, "source.port") is None and get_path(icmp, "destination.ip") == "175.16.199.1"
    assert get_path(docs[1], "rule.name") == "ET DNS DNS Query to a .tk domain - Likely Hostile"
    # Dec 30 received on Dec 31 stays in that year; nothing lands in the future.
    assert get_path(docs[3], "@timestamp") == "2024-12-30T14:09:21.116Z"


def test_snort_syslog_with_priority_colon_and_suricata_app() -> None:
    line = ("<33>Mar  3 10:00:00 sensor snort[2211]: [1:2010935:2] ET POLICY Suspicious inbound to MSSQL port 1433 "
            "[Classification: Potentially Bad Traffic] [Priority: 2]: {TCP} 61.1.2.3:4411 -> 10.1.1.5:1433")
    doc = parse(line, "", ctx(UTC)).doc
    assert fields(doc, "rule.id", "rule.name", "source.ip", "destination.port", "observer.vendor") == {
        "rule.id": "2010935", "rule.name": "ET POLICY Suspicious inbound to MSSQL port 1433",
        "source.ip": "61.1.2.3", "destination.port": 1433, "observer.vendor": "snort",
    }
    assert get_path(doc, "@timestamp") == "2024-03-03T10:00:00.000Z"
    sur = parse("<33>Mar  3 10:00:00 sensor suricata[9]: [1:2210000:1] SURICATA STREAM 3way handshake "
                "[Classification: Generic Protocol Command Decode] [Priority: 3] {TCP} 10.0.0.1:1 -> 10.0.0.2:2",
                "", ctx(UTC)).doc
    assert get_path(sur, "observer.vendor") == "suricata" and get_path(sur, "rule.id") == "2210000"


def test_suricata_fast_log_drop_and_ipv6() -> None:
    line = ("10/05/2016-14:23:27.563279  [Drop] [**] [1:2019236:3] ET ATTACK_RESPONSE Possible MS CMD Shell "
            "[**] [Classification: Successful Administrator Privilege Gain] [Priority: 1] {TCP} "
            "[2001:db8::1]:4444 -> [2001:db8::2]:51000")
    doc = parse(line, "", ctx(UTC)).doc
    assert get_path(doc, "@timestamp") == "2016-10-05T14:23:27.563Z"
    assert fields(doc, "event.action", "event.type", "source.ip", "source.port", "destination.port") == {
        "event.action": "drop", "event.type": ["denied"], "source.ip": "2001:db8::1",
        "source.port": 4444, "destination.port": 51000,
    }


def test_snort_other_syslog_messages_stay_events() -> None:
    doc = parse("<30>Mar  3 10:00:00 sensor snort[2211]: Commencing packet processing (pid=2211)", "", ctx()).doc
    assert get_path(doc, "event.kind") == "event" and get_path(doc, "observer.product") == "snort"


# --------------------------------------------------------------------------- ModSecurity


def test_modsecurity_v3_corpus() -> None:
    lines = corpus_lines("modsecurity/data_stream/auditlog/_dev/test/pipeline/test-audit.log")
    docs = [parse(line, "", ctx(UTC)).doc for line in lines]
    first = docs[0]
    assert fields(first, "@timestamp", "source.ip", "source.port", "destination.port", "http.request.method",
                  "url.original", "http.response.status_code", "rule.id", "rule.name", "event.kind") == {
        "@timestamp": "2021-05-14T14:52:47.000Z", "source.ip": "67.43.156.14", "source.port": 44464,
        "destination.port": 443, "http.request.method": "GET", "url.original": "/owa/",
        "http.response.status_code": 404, "rule.id": "920350",
        "rule.name": "Host header is a numeric IP address", "event.kind": "alert",
    }
    assert get_path(first, "url.domain") == "34.87.56.16"
    assert get_path(first, "observer.type") == "waf" and get_path(first, "observer.version") == "3.0.2"
    assert get_path(first, "http.version") == "1.1" and get_path(docs[3], "http.version") == "1.0"
    # No rule matched: an access record, not an alert.
    assert get_path(docs[4], "event.kind") == "event" and get_path(docs[4], "rule.id") is None
    assert get_path(docs[5], "@timestamp") == "2022-05-09T09:41:59.000Z"  # "Mon May  9" (padded day)


def test_modsecurity_v2_apache_json_corpus() -> None:
    lines = corpus_lines("modsecurity/data_stream/auditlog/_dev/test/pipeline/test-apache-audit.log")
    doc = parse(lines[0], "", ctx()).doc
    assert fields(doc, "@timestamp", "http.request.method", "url.path", "url.query", "http.response.status_code",
                  "event.action", "event.type", "observer.version") == {
        "@timestamp": "2022-05-23T06:28:50.000Z", "http.request.method": "GET", "url.path": "/index.php",
        "url.query": "exec=/bin/bash", "http.response.status_code": 403, "event.action": "intercepted",
        "event.type": ["access", "denied"], "observer.version": "2.9.2",
    }
    assert get_path(doc, "rule.id") == ["932160", "949110", "980170"]
    assert get_path(doc, "rule.name")[0] == "Remote Command Execution: Unix Shell Code Found"
    assert get_path(doc, "event.severity") == 2  # CRITICAL
    second = parse(lines[1], "", ctx()).doc
    assert get_path(second, "@timestamp") == "2022-03-25T10:15:35.000Z"  # +0100 in the line
    assert get_path(second, "source.ip") == "89.160.20.112" and get_path(second, "destination.port") == 443


# --------------------------------------------------------------------------- nginx / Apache


def test_nginx_access_over_syslog_gets_nginx_dataset() -> None:
    line = ('<190>Mar  3 10:00:00 web1 nginx: 10.2.3.4 - alice [03/Mar/2024:10:00:00 +0800] '
            '"POST /login.php?next=%2F HTTP/1.1" 401 12 "https://gov.example.cn/" "Mozilla/5.0" "-"')
    doc = parse(line, "", ctx()).doc
    assert fields(doc, "event.dataset", "source.ip", "user.name", "http.request.method", "url.path", "url.query",
                  "http.response.status_code", "event.outcome", "http.request.referrer", "user_agent.original") == {
        "event.dataset": "nginx.access", "source.ip": "10.2.3.4", "user.name": "alice",
        "http.request.method": "POST", "url.path": "/login.php", "url.query": "next=%2F",
        "http.response.status_code": 401, "event.outcome": "failure",
        "http.request.referrer": "https://gov.example.cn/", "user_agent.original": "Mozilla/5.0",
    }
    # The line's own time (+0800) wins over the syslog header's.
    assert get_path(doc, "@timestamp") == "2024-03-03T02:00:00.000Z"


def test_access_dataset_by_hint_or_neutral() -> None:
    line = '1.2.3.4 - - [03/Mar/2024:10:00:00 +0000] "GET / HTTP/1.1" 200 5'
    assert get_path(parse(line, "", ctx()).doc, "event.dataset") == "web.access"
    assert get_path(parse(line, "apache_access", ctx()).doc, "event.dataset") == "apache.access"
    assert get_path(parse(line, "nginx_access", ctx()).doc, "event.dataset") == "nginx.access"


def test_nginx_line_with_tag_missing_its_colon() -> None:
    # cn-vendors sample: nginx's syslog tag written without the colon.
    line = ('<134>Sep 13 15:19:07 localhost 111_nginx_access 192.168.40.5 - - [13/Sep/2021:15:19:01 +0800] '
            '"GET / HTTP/1.1" 400 255 "-" "curl/7.64.0" "-"')
    doc = parse(line, "", ctx()).doc
    assert fields(doc, "source.ip", "destination.domain", "http.response.status_code", "event.dataset") == {
        "source.ip": "192.168.40.5", "destination.domain": None, "http.response.status_code": 400,
        "event.dataset": "nginx.access",
    }


def test_nginx_error_fields() -> None:
    line = ('2022/10/24 20:40:32 [warn] 15910#0: *149074 an upstream response is buffered to a temporary file '
            '/var/cache/nginx/proxy_temp/8/65/0000015658 while reading upstream, client: 67.43.156.13, '
            'server: service.domain.com, request: "GET /api/?tkd=343 HTTP/1.1", '
            'upstream: "https://2.2.2.2:443/api/?tkd=343", host: "service.domain.com", '
            'referrer: "https://service.domain.com/api/?tkd=343"')
    doc = parse(line, "", ctx()).doc
    assert fields(doc, "@timestamp", "log.level", "event.type", "source.ip", "http.request.method",
                  "url.original", "url.domain", "process.pid", "event.dataset") == {
        "@timestamp": "2022-10-24T12:40:32.000Z", "log.level": "warn", "event.type": ["error"],
        "source.ip": "67.43.156.13", "http.request.method": "GET", "url.original": "/api/?tkd=343",
        "url.domain": "service.domain.com", "process.pid": 15910, "event.dataset": "nginx.error",
    }
    assert "2.2.2.2" in get_path(doc, "related.ip")


def test_nginx_error_over_syslog_by_app_name() -> None:
    line = ('<187>Mar  3 10:00:00 web1 nginx: 2024/03/03 10:00:00 [error] 7#7: *9 access forbidden by rule, '
            'client: 10.9.9.9, server: _, request: "GET /admin HTTP/1.1", host: "10.0.0.1"')
    doc = parse(line, "", ctx()).doc
    assert fields(doc, "event.dataset", "source.ip", "url.original") == {
        "event.dataset": "nginx.error", "source.ip": "10.9.9.9", "url.original": "/admin",
    }


def test_apache_error_client_port_and_code() -> None:
    line = ("[Thu Jun 27 06:58:09.169510 2019] [include:warn] [pid 15934] [client 89.160.20.156:12345] "
            "AH01374: mod_include: Options +Includes (or IncludesNoExec) wasn't set, INCLUDES filter removed: /test.html")
    doc = parse(line, "", ctx()).doc
    assert fields(doc, "@timestamp", "source.ip", "source.port", "error.code", "log.level", "event.dataset") == {
        "@timestamp": "2019-06-26T22:58:09.169Z", "source.ip": "89.160.20.156", "source.port": 12345,
        "error.code": "AH01374", "log.level": "warn", "event.dataset": "apache.error",
    }
    iso_line = "[2025-07-22 15:45:51.323610 +0200] [core:notice] [pid 1:tid 139958433106048] AH00094: Command line: 'httpd -D FOREGROUND'"
    assert get_path(parse(iso_line, "", ctx()).doc, "@timestamp") == "2025-07-22T13:45:51.323Z"


def test_access_line_oddities_from_corpus() -> None:
    c = ctx()
    bad = parse('127.0.0.1:80 - - [13/Nov/2023:10:44:01 +0000] "<SCRIPT>NXSSTEST</SCRIPT> / HTTP/1.1" 400 3386 "-" "-"',
                "", c)
    assert get_path(bad.doc, "http.response.status_code") == 400
    assert get_path(bad.doc, "http.request.method") is None and "_parse_partial" in bad.doc["tags"]
    assert get_path(bad.doc, "source.port") == 80
    timeout = parse('::1 - - [26/Dec/2016:16:16:48 +0200] "-" 408 -', "", c).doc
    assert fields(timeout, "source.ip", "http.response.status_code", "http.response.body.bytes") == {
        "source.ip": "::1", "http.response.status_code": 408, "http.response.body.bytes": None,
    }
    xff = parse('89.160.20.112 - - [29/May/2017:19:02:48 +0000] "GET / HTTP/1.1" 200 612 "-" "curl/7" '
                'X-Forwarded-For="10.0.0.2,10.0.0.1"', "", c).doc
    assert get_path(xff, "soc.device.x_forwarded_for") == "10.0.0.2,10.0.0.1"
    assert get_path(xff, "user_agent.original") == "curl/7"


# --------------------------------------------------------------------------- netfilter


def test_ufw_block() -> None:
    line = ("<4>Mar  3 10:00:00 gw kernel: [ 1234.567890] [UFW BLOCK] IN=eth0 OUT= MAC=52:54:00:12:34:56:52:54:00:65:43:21:08:00 "
            "SRC=203.0.113.9 DST=10.0.0.5 LEN=60 TOS=0x00 PREC=0x00 TTL=50 ID=54321 DF PROTO=TCP SPT=51515 DPT=22 "
            "WINDOW=64240 RES=0x00 SYN URGP=0")
    doc = parse(line, "", ctx(UTC)).doc
    assert fields(doc, "event.action", "event.type", "event.outcome", "source.ip", "source.port", "destination.ip",
                  "destination.port", "network.transport", "observer.ingress.interface.name",
                  "observer.egress.interface.name", "source.mac", "destination.mac") == {
        "event.action": "block", "event.type": ["denied", "connection"], "event.outcome": "failure",
        "source.ip": "203.0.113.9", "source.port": 51515, "destination.ip": "10.0.0.5", "destination.port": 22,
        "network.transport": "tcp", "observer.ingress.interface.name": "eth0",
        "observer.egress.interface.name": None,  # "OUT=" is empty, not "MAC=..."
        "source.mac": "52-54-00-65-43-21", "destination.mac": "52-54-00-12-34-56",
    }
    assert get_path(doc, "iptables.tcp.flags") == ["SYN"] and get_path(doc, "iptables.ttl") == 50


def test_icmp_error_quoted_packet_does_not_give_ports() -> None:
    line = ("Jan  8 03:37:09 DENY: IN=eth0 OUT= MAC=90:10:28:5f:62:24:90:10:18:5a:89:2a:08:00 SRC=192.168.2.71 "
            "DST=192.168.2.83 LEN=88 TOS=0x00 PREC=0x00 TTL=118 ID=21684 PROTO=ICMP TYPE=3 CODE=3 "
            "[SRC=192.168.2.83 DST=192.168.173.191 LEN=60 TOS=0x00 PREC=0x00 TTL=54 ID=0 DF PROTO=UDP SPT=21458 DPT=62936 LEN=40 ]")
    doc = parse(line, "", ctx(UTC)).doc
    assert fields(doc, "event.action", "network.transport", "source.port", "destination.port", "iptables.icmp.type") == {
        "event.action": "deny", "network.transport": "icmp", "source.port": None, "destination.port": None,
        "iptables.icmp.type": 3,
    }
    assert "192.168.173.191" in get_path(doc, "related.ip")
    assert get_path(doc, "process.name") is None  # "DENY" was the LOG prefix, not a program


def test_iptables_prefix_with_dash_and_ipv6() -> None:
    line = ("<4>Mar  3 10:00:00 gw kernel: iptables-drop: IN=eth1 OUT= SRC=2001:0db8:0000:0000:0000:0000:0000:0001 "
            "DST=2001:db8::2 LEN=104 TC=0 HOPLIMIT=64 FLOWLBL=0 PROTO=ICMPv6 TYPE=128 CODE=0 ID=1 SEQ=1")
    doc = parse(line, "", ctx(UTC)).doc
    assert fields(doc, "event.action", "source.ip", "network.transport", "network.type") == {
        "event.action": "drop", "source.ip": "2001:db8::1", "network.transport": "ipv6-icmp", "network.type": "ipv6",
    }


def test_other_kernel_lines_are_not_claimed() -> None:
    doc = parse("<6>Mar  3 10:00:00 gw kernel: usb 1-1: new high-speed USB device number 2 using ehci-pci", "", ctx()).doc
    assert get_path(doc, "event.module") == "syslog"


# --------------------------------------------------------------------------- robustness


@pytest.mark.parametrize("name", MINE)
def test_one_megabyte_bodies_are_fast(name: str) -> None:
    fmt = MESSAGE_FORMATS[name]
    bodies = [
        "[" * 1_000_000,
        '1.2.3.4 - - [03/Mar/2024:10:00:00 +0000] "' + '"a' * 500_000,
        "IN=eth0 OUT= " + "SRC=1.2.3.4 " * 80_000,
        "[1:2:3] " + "x [**] " * 140_000,
        '{"transaction": {"x": "' + "\\\"" * 400_000 + '"}}',
        '{"timestamp":"2024-01-01T00:00:00Z","event_type":"alert","alert":{"signature":"' + "a" * 1_000_000 + '"}}',
        "2024/03/03 10:00:00 [error] 1#1: " + ", client: 1" * 90_000,
        "[Mon Dec 26 16:22:08 2016] [error] " + "[client " * 120_000,
    ]
    start = time.perf_counter()
    for body in bodies:
        if fmt.sniff is not None:
            fmt.sniff(body)
        try:
            fmt.parse(body, {"event": {"kind": "event"}}, ctx())
        except ParseError:
            pass
    assert time.perf_counter() - start < 5.0


@pytest.mark.parametrize("name", MINE)
def test_sniffers_reject_plain_text_and_other_formats(name: str) -> None:
    sniff = MESSAGE_FORMATS[name].sniff
    assert sniff is not None
    for body in (
        "Accepted password for root from 10.0.0.1 port 22 ssh2",
        'devname="FG" type="traffic" srcip=10.0.0.1 dstip=10.0.0.2 action="deny"',
        "CEF:0|Vendor|Product|1.0|100|name|5|src=10.0.0.1",
        '{"@timestamp": "2024-01-01T00:00:00Z", "message": "hello"}',
        "usb 1-1: new high-speed USB device number 2 using ehci-pci",
    ):
        assert not sniff(body), body
