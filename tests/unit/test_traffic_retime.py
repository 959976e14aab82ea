"""bench.traffic.retime: every timestamp form of the planted scenarios (the rule library's example
lines) and of the background is moved, in its own format and zone, so that the platform reads the
moved line as of the intended time; numbers that are not times are left alone."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bench.traffic import first_stamp, retime
from soc.model import RawRecord
from soc.stream.normalize import normalize_record

AT = datetime(2026, 12, 7, 17, 57, 30, 250000, tzinfo=UTC)  # Dec  8 01:57:30 in Asia/Shanghai
H3C_IPS = {"vendor": "h3c", "type": "ips"}

# (form, line, device): one example line of each form; each, as written, is read far from AT.
FORMS: list[tuple[str, bytes, dict[str, str]]] = [
    ("bsd", b"<85>Nov 25 10:00:00 gov-cloud-app-01 su: FAILED SU (to root) www-data on pts/1", {}),
    ("bsd, year after the day (Huawei)",
     b"<189>Nov 25 2026 10:00:00 USG6000-FW %%01SHELL/5/CMDRECORD(s)[0]:Recorded command information. (Task=VT0,"
     b' Ip=10.20.1.5, VpnName=, User=admin, AuthenticationMethod="Local-user", Command="undo info-center loghost'
     b' 10.1.1.10")', {}),
    ("bsd, unpadded day and year (Huawei NIP)",
     b"Aug 6 2011 20:34:46 HUAWEI %% 01 HWCM/5/EXIT(I)[1]: exit from configure mode",
     {"vendor": "huawei", "product": "nip6000", "type": "ips"}),
    ("bsd, year after the time (H3C)",
     b"<134> Nov 14 02:00:00 2020 H3C %%10IPS/4/IPS_IPV6_INTERZONE:-Context=1; Protocol(1001)=TCP;"
     b" Application(1002)=http; SrcIPAddr(1003)=100.10.10.40; SrcPort(1004)=2999; DstIPAddr(1007)=200.10.10.40;"
     b" DstPort(1008)=80; AttackName(1088)=WEB_CLIENT_Windows_Media_ASF_File_Download_SET; AttackID(1089)=5707;"
     b" Severity(1087)=CRITICAL; Action(1053)=Reset & Logging;", H3C_IPS),
    ("ctime with weekday (ModSecurity)",
     b'{"transaction":{"client_ip":"203.0.113.54","time_stamp":"Wed Nov 25 10:00:02 2026","server_id":"a1",'
     b'"client_port":44464,"host_ip":"10.30.1.30","host_port":443,"id":"176403600202.2","request":{"method":"GET",'
     b'"http_version":1.1,"uri":"/owa/","headers":{"Host":"10.30.1.30"}},"response":{"http_code":404,"headers":{}},'
     b'"producer":{"modsecurity":"ModSecurity v3.0.12 (Linux)"},"messages":[{"message":"Host header is a numeric IP'
     b' address","details":{"ruleId":"920350","severity":"4"}}]}}', {}),
    ("CEF rt= bsd with year",
     b"CEF:0|FORCEPOINT|Firewall|6.6.1|0|Generic|0|deviceExternalId=Master FW node 1 dvc=10.1.1.40"
     b" dvchost=10.1.1.40 msg=log server connection established deviceFacility=Logging System rt=Jan 17 2020 08:52:10",
     {}),
    ("iso with fraction and zone (Suricata)",
     b'{"timestamp":"2026-11-25T10:00:01.000000+0800","flow_id":5,"in_iface":"eth1","event_type":"alert",'
     b'"src_ip":"10.10.0.31","src_port":44321,"dest_ip":"198.51.100.66","dest_port":3333,"proto":"TCP",'
     b'"alert":{"action":"allowed","gid":1,"signature_id":2024792,"rev":3,"signature":"ET POLICY Cryptocurrency'
     b' Miner Checkin (Stratum login)","category":"Potential Corporate Privacy Violation","severity":1}}', {}),
    ("iso, one-digit month (Topsec TopSentry)",
     b'id=tos time="2008-5-14 06:53:10" fw=TopsecOS pri=4 type=ips recorder=IPSEVENT proto=tcp src=192.168.1.2'
     b' sport=20 dst=192.168.2.2 dport=40 rule=1125 repeat=10 msg="WEB-MISC Netscape Enterprise Server directory'
     b' view" application=HTTP op="block"', {"vendor": "topsec", "product": "topsentry[3.3.005.662u]", "type": "ids"}),
    ("clf with fraction (nginx)",
     b'<134>Nov 25 10:00:30 gov-web-01 nginx: www.example.gov.cn 203.0.113.50 - - [25/Nov/2026:10:00:30.3 +0800]'
     b' "GET /dir0/ HTTP/1.1" 404 153 "-" "Mozilla/5.0" "-"', {}),
    ("date= time= (FortiGate, local time)",
     b'<189>date=2026-11-25 time=10:00:01 devname="FGT-GOV" devid="FG100F" logid="0000000013" type="traffic"'
     b' subtype="forward" level="notice" vd="root" srcip=203.0.113.50 srcport=51000 srcintf="wan1"'
     b' dstip=10.30.1.20 dstport=10000 dstintf="dmz" proto=6 action="close" policyid=7 service="tcp/10000"'
     b" duration=30 sentbyte=3200 rcvdbyte=20480 sentpkt=12 rcvdpkt=20", {}),
    ("date= time= with tz= and eventtime in ns (FortiGate)",
     b'<190>date=2024-08-28 time=10:33:52 devname="MYFWNAME" devid="FG3000000" eventtime=1724834031664506909'
     b' tz="+0200" logid="1700062307" type="utm" subtype="ssl" eventtype="ssl-anomaly" level="information"'
     b' vd="MYVDOM" action="info" policyid=15 sessionid=2181010122 service="SSL" srcip=10.2.3.4 srcport=59968'
     b' dstip=10.3.2.1 dstport=8443 proto=6', {}),
    ("snort fast alert",
     b"11/25-10:00:01.123456  [**] [1:2027302:2] ET MALWARE Win32/Agent CnC Checkin [**] [Classification: A Network"
     b" Trojan was detected] [Priority: 1] {TCP} 10.40.2.15:49233 -> 198.51.100.66:8080", {}),
    ("snort fast alert with year (snort -y)",
     b"11/25/26-10:00:01.123456  [**] [1:2027302:2] ET MALWARE Win32/Agent CnC Checkin [**] [Classification: A"
     b" Network Trojan was detected] [Priority: 1] {TCP} 10.40.2.15:49233 -> 198.51.100.66:8080", {}),
    ("epoch s, key=value (NSFOCUS NIDS)",
     b"device_type=ips;manufacturers=nsfocus;security_name=cc_log;time=1795572001;card=T2/1;sip=198.51.100.53;"
     b"sport=53;dip=10.40.2.15;dport=64474;vid=0;ruleid=41044;event=botnet;module=9;action=17;count=1;protocol=UDP",
     {}),
    ("epoch s, key:value (NSFOCUS bastion)",
     b"session_id:225;cmd_time:1795658400;cmd:unset HISTFILE;block:0;user:zhangsan;dev_usr:root;dev_ip:10.10.33.30;"
     b"protocol:ssh;risk:2", {}),
    ("epoch s, JSON (Venus APT; the syslog header was moved before too)",
     b'<12>Nov 25 10:00:01 (none) : {"src_ip": "10.40.2.15","dst_ip": "198.51.100.66","src_port": 49159,'
     b'"dst_port": 443,"event_type_id": 780,"event_level_name": "\xe9\xab\x98\xe5\x8d\xb1","security_id": 30609,'
     b'"protocol": "TCP","subject": "TCP_CobaltStrike_Beacon","message": "00","start_time": 1795572001,'
     b'"dev_ip": "10.0.253.20","dev_type": "APT","log_type": "event-log"}', {}),
    ("epoch s, quoted (QiAnXin SkyEye write_date)",
     b'<30>skyeye_ids serial_num="eb012245d230f1b80fb845bfbc548ed390728de6" rule_id="268569" rule_name="Spring'
     b' Cloud Gateway" packet_size="0" sip="203.0.113.50" dip="10.30.1.20" sport="54115" dport="8080" appid="103"'
     b' protocol_id="6" write_date="1795572001" severity="8" attack_flag="true" confidence="high"', {}),
    ("epoch ms, quoted (QiAnXin SkyEye access_time)",
     b'<30>skyeye_ioc access_time="1795572001951" tid="7" type="mining" rule_desc="XMRig" offence_type="sip"'
     b' offence_value="10.10.0.31" sip="10.10.0.31" dip="10.10.0.53" severity="6" ioc_type="host"'
     b' ioc_value="pool.minexmr.example" nid="5782621921544039988" etime="2026-11-25 10:00:01" confidence="high"'
     b' sport="59167" dport="53" proto="dns"', {}),
    ("epoch s in JSON after an RFC 5424 header (SafeLine)",
     b'<30>1 2026-11-25T10:00:00+08:00 safeline-waf /mario/mario 1 safeline_event - {"scheme":"https",'
     b'"src_ip":"203.0.113.50","src_port":52311,"host":"zwfw.example.gov.cn","method":"GET",'
     b'"query_string":"user=admin%27%20or%201=1--","event_id":"5f0c2a7e9b1d4c3e8a6f2b1c0d9e8f7a",'
     b'"timestamp":1795572000,"rule_id":"m_sqli","module":"m_sqli","reason":"","user_agent":"sqlmap/1.7",'
     b'"dest_ip":"10.30.1.20","dest_port":443,"urlpath":"/api/login","protocol":"https","attack_type":0,'
     b'"risk_level":"high","action":"deny","req_block_reason":"web"}', {}),
    ("auditd msg=audit(s.ms:serial)",
     b'type=EXECVE msg=audit(1795658400.120:4501): argc=3 a0="chmod" a1="u+s" a2="/tmp/.sshd"', {}),
]


def read_time(line: bytes, device: dict[str, str], received: datetime = AT) -> datetime:
    rec = RawRecord(line, int(received.timestamp() * 1e9), "syslog-tcp", "127.2.0.1:1", "test-retime", "",
                    device=device)
    key, doc = normalize_record(rec)
    assert key is not None, doc["soc"]["deadletter"]
    return datetime.fromisoformat(str(doc["@timestamp"]).replace("Z", "+00:00"))


@pytest.mark.parametrize(("line", "device"), [(f[1], f[2]) for f in FORMS], ids=[f[0] for f in FORMS])
def test_every_form_is_read_as_the_time_it_was_moved_to(line: bytes, device: dict[str, str]) -> None:
    assert abs(read_time(line, device) - AT) > timedelta(days=1)  # as written: not of now
    moved = retime(line, AT)
    assert abs(read_time(moved, device) - AT) < timedelta(seconds=1), moved


def test_a_scenario_keeps_its_spacing() -> None:
    lines = [b"session_id:211;cmd_time:1795658400;cmd:df -h;block:0;user:zhangsan;dev_usr:root;dev_ip:10.10.33.30;"
             b"protocol:ssh;risk:1",
             b"session_id:212;cmd_time:1795658460;cmd:iptables -F;block:0;user:zhangsan;dev_usr:root;"
             b"dev_ip:10.10.33.30;protocol:ssh;risk:3",
             b"<85>Nov 26 10:02:00 gov-cloud-app-01 su: FAILED SU (to root) www-data on pts/1"]
    base = first_stamp(lines)
    assert base == datetime(2026, 11, 26, 2, tzinfo=UTC)
    times = [read_time(retime(line, AT, base), {}) for line in lines]
    assert [round((t - AT).total_seconds()) for t in times] == [0, 60, 120]


def test_the_fields_of_one_line_keep_their_distances() -> None:
    line = (b'<188>Nov 25 10:00:01 WAF :{"syslog":{"r_time_i":1795572031,"r_time_s":"2026-11-25 10:00:01",'
            b'"r_sip_s":"203.0.113.51","r_dport":443}}')
    moved = retime(line, AT)
    assert b"Dec  8 01:57:30 WAF" in moved
    assert b'"r_time_i":1796666280,' in moved  # 30 s after the header, as in the line
    assert b'"r_time_s":"2026-12-08 01:57:30"' in moved
    assert b'"time_stamp":"Tue Dec  8 01:57:30 2026"' in retime(FORMS[4][1], AT)  # the weekday too
    ns = retime(FORMS[10][1], AT)  # FortiGate: eventtime=...ns, 0.34 s before its date/time
    eventtime = int(ns.split(b"eventtime=")[1].split()[0])
    assert abs(eventtime / 1e9 - (AT.timestamp() - 0.336)) < 0.01


@pytest.mark.parametrize("line", [
    # a 10-digit serial keyed as one, though its value reads as a time next to the line's
    b'<189>date=2026-11-25 time=10:00:01 devname="FGT-GOV" devid="FG100F" SerialNum=1795572001'
    b" sessionid=1795572001 sentbyte=1795572001 srcip=10.40.2.15",
    # ...in a key of its own or none, far from the line's time (though within two years of 2026)
    b'<85>Nov 25 10:00:00 gov-cloud-app-01 smartd: disk serial 1801234567 replaced, "screenshots": "1717908787"',
    b'<30>skyeye_ids serial_num="1795572001" rule_id="268569" tid="1795572001" sip="10.40.2.15"',
])
def test_numbers_that_are_not_times_are_kept(line: bytes) -> None:
    moved = retime(line, AT)
    for number in (b"1795572001", b"1801234567", b"1717908787"):
        assert moved.count(number) == line.count(number)


def test_a_lone_unix_time_far_from_2026_is_not_taken_for_one() -> None:
    line = b"<255>user:null;loginip:10.99.108.14;time:1343007071;type:3;"  # 2012: not known to be a time
    assert retime(line, AT) == line
    assert first_stamp([line]) is None


def test_a_placeholder_date_is_kept() -> None:
    line = b"<57>2016-06-15 14:29:21 10.12.5.200 PROBE: Anomaly ID:415; Creation Time:Thu Jan  1 08:00:00 1970;"
    moved = retime(line, AT)
    assert moved.startswith(b"<57>2026-12-08 01:57:30 ") and moved.endswith(b"Thu Jan  1 08:00:00 1970;")
