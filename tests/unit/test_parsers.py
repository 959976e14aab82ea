"""The format parsers, the registry and the sshd program parser, against RFCs and real logs."""

from __future__ import annotations

import json
import re
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from collectors.parsers import (
    MESSAGE_FORMATS,
    PARSERS,
    ParseContext,
    ParseError,
    detect_format,
    parse,
    register,
)
from soc.model import get_path

CORPUS = Path(__file__).parents[2] / ".." / "shared" / "corpus"
AUTH_DIR = CORPUS / "elastic-integrations/packages/system/data_stream/auth/_dev/test/pipeline"
CN_SAMPLES = CORPUS / "cn-vendors/samples.jsonl"

UTC = ZoneInfo("UTC")
SHANGHAI = ZoneInfo("Asia/Shanghai")
BOM = "\ufeff"
CJK = re.compile(r"[\u4e00-\u9fff]")


def ctx(received: str = "2024-03-01T00:00:00+00:00", tz: ZoneInfo = SHANGHAI) -> ParseContext:
    return ParseContext(source_id="test", received_at=datetime.fromisoformat(received), timezone=tz)


def corpus_file(path: Path) -> Path:
    """The corpus file, failing (not skipping) the test when it is missing."""
    assert path.is_file(), f"corpus file missing: {path}"
    return path


def cn_raws() -> list[str]:
    with corpus_file(CN_SAMPLES).open(encoding="utf-8") as f:
        return [json.loads(line)["raw"] for line in f if line.strip()]


# --------------------------------------------------------------------------- registry, detection


def test_all_formats_and_sshd_are_registered_on_import() -> None:
    assert {"rfc5424", "rfc3164", "json"} <= PARSERS.keys()
    assert "sshd" in MESSAGE_FORMATS["linux_sshd"].programs


@pytest.mark.parametrize(
    ("line", "fmt"),
    [
        ('{"message": "x"}', "json"),
        ("<34>1 2003-10-11T22:14:15.003Z mymachine.example.com su - ID47 - msg", "rfc5424"),
        ("<34>Oct 11 22:14:15 mymachine su: 'su root' failed", "rfc3164"),
        ("<13>2023-02-10T11:55:00-05:00 host tag[1]: msg", "rfc3164"),
        ("<15>logs: no timestamp at all", "rfc3164"),
        ("<-1>Mar 22 09:42:18 host app: invalid PRI seen in the wild", "rfc3164"),
        ("Feb 20 08:35:22 host prog[123]: file-tail line without PRI", "rfc3164"),
        ("Feb  2 08:35:22 host prog: space-padded day", "rfc3164"),
    ],
)
def test_detect_format(line: str, fmt: str) -> None:
    assert detect_format(line) == fmt


@pytest.mark.parametrize("line", ["hello world", "vendor=topsec dev_type=1", "[1, 2]", "<> x"])
def test_detect_format_unknown(line: str) -> None:
    with pytest.raises(ParseError) as err:
        detect_format(line)
    assert err.value.reason == "unknown_format"


@pytest.mark.parametrize("line", ["", "   ", "\r\n", "\t \n"])
def test_empty_line_is_parse_error_empty(line: str) -> None:
    with pytest.raises(ParseError) as err:
        parse(line, "", ctx())
    assert err.value.reason == "empty"
    for parser in PARSERS.values():
        with pytest.raises(ParseError) as err:
            parser(line, ctx())
        assert err.value.reason == "empty"


def test_hint_naming_a_parser_is_obeyed() -> None:
    with pytest.raises(ParseError) as err:
        parse("<34>Oct 11 22:14:15 mymachine su: hello", "json", ctx())
    assert err.value.reason == "json_invalid"


def test_syslog_hint_chooses_between_5424_and_3164() -> None:
    assert parse("<34>1 - host app - - - m", "syslog", ctx()).doc["event"]["dataset"] == "syslog.rfc5424"
    assert parse("<34>Oct 11 22:14:15 h a: m", "syslog", ctx()).doc["event"]["dataset"] == "syslog.rfc3164"
    with pytest.raises(ParseError) as err:
        parse("vendor=topsec dev_type=1", "syslog", ctx())
    assert err.value.reason == "unknown_format"  # no header, and no message format claims it


def test_unknown_hint_falls_back_to_detection() -> None:
    assert parse('{"a": 1}', "auto", ctx()).doc["a"] == 1


def test_registering_a_second_parser_under_a_taken_name_fails() -> None:
    with pytest.raises(ValueError):

        @register("json")
        def other(text: str, c: ParseContext):  # pragma: no cover - never called
            raise AssertionError


# --------------------------------------------------------------------------- RFC 5424


def test_rfc5424_section_6_5_example_1_no_sd_bom_message() -> None:
    line = f"<34>1 2003-10-11T22:14:15.003Z mymachine.example.com su - ID47 - {BOM}'su root' failed for lonvick on /dev/pts/8"
    p = parse(line, "", ctx())
    d = p.doc
    assert p.device_timestamped and p.tags == []
    assert d["@timestamp"] == "2003-10-11T22:14:15.003Z"
    assert get_path(d, "log.syslog.facility.code") == 4
    assert get_path(d, "log.syslog.facility.name") == "auth"
    assert get_path(d, "log.syslog.severity.code") == 2
    assert get_path(d, "log.syslog.severity.name") == "Critical"
    assert get_path(d, "log.syslog.priority") == 34
    assert get_path(d, "log.syslog.version") == "1"
    assert get_path(d, "host.hostname") == "mymachine.example.com"
    assert get_path(d, "host.name") == "mymachine.example.com"
    assert get_path(d, "process.name") == "su"
    assert get_path(d, "process.pid") is None
    assert get_path(d, "log.syslog.msgid") == "ID47"
    assert get_path(d, "log.syslog.structured_data") is None
    assert d["message"] == "'su root' failed for lonvick on /dev/pts/8"
    assert get_path(d, "event.kind") == "event"
    assert get_path(d, "event.module") == "syslog"
    assert get_path(d, "event.dataset") == "syslog.rfc5424"
    for caller_field in ("event.original", "event.id", "event.ingested", "observer", "labels"):
        assert get_path(d, caller_field) is None


def test_rfc5424_section_6_5_example_2_offset_and_microseconds() -> None:
    line = "<165>1 2003-08-24T05:14:15.000003-07:00 192.0.2.1 myproc 8710 - - %% It's time to make the do-nuts."
    d = parse(line, "", ctx()).doc
    assert d["@timestamp"] == "2003-08-24T12:14:15.000Z"  # -07:00 to UTC, ms precision
    assert get_path(d, "log.syslog.facility.name") == "local4"
    assert get_path(d, "log.syslog.severity.name") == "Notice"
    assert get_path(d, "host.hostname") == "192.0.2.1"
    assert get_path(d, "process.name") == "myproc"
    assert get_path(d, "process.pid") == 8710
    assert get_path(d, "log.syslog.msgid") is None
    assert d["message"] == "%% It's time to make the do-nuts."


def test_rfc5424_section_6_5_example_3_structured_data_and_message() -> None:
    line = (
        '<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 '
        '[exampleSDID@32473 iut="3" eventSource="Application" eventID="1011"] '
        f"{BOM}An application event log entry..."
    )
    d = parse(line, "", ctx()).doc
    assert get_path(d, "log.syslog.structured_data") == {
        "exampleSDID@32473": {"iut": "3", "eventSource": "Application", "eventID": "1011"}
    }
    assert d["message"] == "An application event log entry..."


def test_rfc5424_section_6_5_example_4_two_sd_elements_no_message() -> None:
    line = (
        '<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 '
        '[exampleSDID@32473 iut="3" eventSource="Application" eventID="1011"]'
        '[examplePriority@32473 class="high"]'
    )
    d = parse(line, "", ctx()).doc
    assert get_path(d, "log.syslog.structured_data") == {
        "exampleSDID@32473": {"iut": "3", "eventSource": "Application", "eventID": "1011"},
        "examplePriority@32473": {"class": "high"},
    }
    assert "message" not in d


def test_rfc5424_structured_data_escapes() -> None:
    line = (
        r'<14>1 2024-01-01T00:00:00Z h app 1 - [x@1 q="say \"hi\"" b="C:\\temp" r="a\]b" o="keep\n" '
        r'u="用户=张三"] message after SD'
    )
    d = parse(line, "", ctx()).doc
    assert get_path(d, "log.syslog.structured_data") == {
        "x@1": {"q": 'say "hi"', "b": "C:\\temp", "r": "a]b", "o": "keep\\n", "u": "用户=张三"}
    }
    assert d["message"] == "message after SD"


def test_rfc5424_repeated_param_keeps_every_value() -> None:
    d = parse('<14>1 - h a - - [m ip="1.1.1.1" ip="2.2.2.2"] x', "", ctx()).doc
    assert get_path(d, "log.syslog.structured_data") == {"m": {"ip": ["1.1.1.1", "2.2.2.2"]}}


def test_rfc5424_malformed_sd_keeps_the_text_and_tags() -> None:
    p = parse('<14>1 2024-01-01T00:00:00Z h a - - [broken x="unterminated] tail', "", ctx())
    assert "_syslog_sd_invalid" in p.tags
    assert p.doc["message"] == '[broken x="unterminated] tail'
    assert p.doc["@timestamp"] == "2024-01-01T00:00:00.000Z"


def test_rfc5424_nilvalue_timestamp_means_no_device_time() -> None:
    p = parse("<14>1 - host app 42 - - no clock on this device", "", ctx())
    assert "@timestamp" not in p.doc
    assert p.device_timestamped is False
    assert p.tags == []
    assert get_path(p.doc, "process.pid") == 42
    assert p.doc["message"] == "no clock on this device"


def test_rfc5424_non_numeric_procid() -> None:
    d = parse("<14>1 - host app worker-7 - - m", "", ctx()).doc
    assert get_path(d, "process.pid") is None
    assert get_path(d, "log.syslog.procid") == "worker-7"


@pytest.mark.parametrize(
    "ts", ["2023-13-01T00:00:00Z", "2023-02-30T10:00:00Z", "2023-01-01T25:00:00Z", "yesterday"]
)
def test_rfc5424_impossible_timestamp_tags_and_still_parses(ts: str) -> None:
    p = parse(f"<14>1 {ts} host app - - - still readable", "", ctx())
    assert "@timestamp" not in p.doc
    assert p.device_timestamped is False
    assert p.tags == ["_timestamp_invalid"]
    assert get_path(p.doc, "host.hostname") == "host"
    assert p.doc["message"] == "still readable"


def test_rfc5424_garbage_header_is_parse_error() -> None:
    with pytest.raises(ParseError) as err:
        parse("<14>1 onlytwo fields", "rfc5424", ctx())
    assert err.value.reason == "syslog_header_invalid"


# --------------------------------------------------------------------------- RFC 3164


def test_rfc3164_timestamp_is_read_in_the_device_zone() -> None:
    p = parse("<38>Feb 20 08:35:22 web01 nginx[5774]: hello", "", ctx("2024-03-01T00:00:00+00:00", SHANGHAI))
    assert p.doc["@timestamp"] == "2024-02-20T00:35:22.000Z"  # 08:35 in UTC+8
    assert p.device_timestamped
    d = p.doc
    assert get_path(d, "log.syslog.facility.name") == "auth"
    assert get_path(d, "log.syslog.severity.name") == "Informational"
    assert get_path(d, "host.hostname") == "web01"
    assert get_path(d, "process.name") == "nginx"
    assert get_path(d, "process.pid") == 5774
    assert d["message"] == "hello"
    assert get_path(d, "event.dataset") == "syslog.rfc3164"


def test_rfc3164_space_padded_day_and_tag_without_pid() -> None:
    d = parse("<14>Jun  2 11:26:35 fort app: x y", "", ctx(tz=UTC)).doc
    assert d["@timestamp"] == "2023-06-02T11:26:35.000Z"  # June is after March 1: last year's
    assert get_path(d, "process.name") == "app"
    assert get_path(d, "process.pid") is None


def test_rfc3164_year_rollover_dec_31_line_received_jan_1() -> None:
    # Received 2024-01-01 00:00:05 in Shanghai (2023-12-31T16:00:05Z).
    c = ctx("2023-12-31T16:00:05+00:00", SHANGHAI)
    d = parse("<13>Dec 31 23:59:59 h app: last second of the year", "", c).doc
    assert d["@timestamp"] == "2023-12-31T15:59:59.000Z"


def test_rfc3164_jan_1_line_from_a_device_slightly_ahead_received_dec_31() -> None:
    c = ctx("2023-12-31T15:59:58+00:00", SHANGHAI)  # 2023-12-31 23:59:58 local
    d = parse("<13>Jan  1 00:00:01 h app: first second of the year", "", c).doc
    assert d["@timestamp"] == "2023-12-31T16:00:01.000Z"  # 2024-01-01 00:00:01 local


def test_rfc3164_small_future_skew_stays_in_this_year() -> None:
    c = ctx("2024-03-01T00:00:00+00:00", UTC)
    d = parse("<13>Mar  1 06:00:00 h app: clock six hours ahead", "", c).doc
    assert d["@timestamp"] == "2024-03-01T06:00:00.000Z"


@pytest.mark.parametrize("stamp", ["Feb 30 10:00:00", "Jan 21 88:88:80", "Mar  3 25:00:00", "Apr 31 00:00:00"])
def test_rfc3164_impossible_date_tags_and_keeps_header(stamp: str) -> None:
    p = parse(f"<13>{stamp} host app[7]: still here", "", ctx())
    assert "@timestamp" not in p.doc
    assert p.device_timestamped is False
    assert p.tags == ["_timestamp_invalid"]
    assert get_path(p.doc, "host.hostname") == "host"
    assert get_path(p.doc, "process.pid") == 7
    assert p.doc["message"] == "still here"


def test_rfc3164_high_precision_rfc3339_timestamp() -> None:
    d = parse("<28>2023-02-10T11:55:00.123456-05:00 fangbingdu demotag[18146]: devid=1", "", ctx()).doc
    assert d["@timestamp"] == "2023-02-10T16:55:00.123Z"
    assert get_path(d, "host.hostname") == "fangbingdu"
    assert get_path(d, "process.name") == "demotag"
    assert get_path(d, "process.pid") == 18146
    assert d["message"] == "devid=1"


def test_rfc3164_zoneless_iso_timestamp_uses_device_zone() -> None:
    d = parse("<12>2011-03-09 20:55:39 DPTECH %%--IPS/DEVM/4/SYSLOG(l): cpu", "", ctx()).doc
    assert d["@timestamp"] == "2011-03-09T12:55:39.000Z"
    assert get_path(d, "host.hostname") == "DPTECH"
    assert d["message"] == "%%--IPS/DEVM/4/SYSLOG(l): cpu"


def test_rfc3164_year_given_by_the_device_wins() -> None:
    d = parse("<188>Jan 19 2022 01:15:13  USG6600 %%01ASSOC/4/ATTACK(l):x", "", ctx(tz=UTC)).doc
    assert d["@timestamp"] == "2022-01-19T01:15:13.000Z"
    assert get_path(d, "host.hostname") == "USG6600"
    d = parse("<134> Nov 14 02:00:00 2020 H3C %%10IPS/4/X:-Context=1", "", ctx(tz=UTC)).doc
    assert d["@timestamp"] == "2020-11-14T02:00:00.000Z"
    assert get_path(d, "host.hostname") == "H3C"


def test_rfc3164_without_host_or_tag_the_rest_is_the_message() -> None:
    line = "<6>Mar 28 11:27:15 HOST;1900005;ipv4;3; operate: reason=删除;result=成功"
    d = parse(line, "", ctx()).doc
    assert d["@timestamp"] == "2023-03-28T03:27:15.000Z"  # weeks ahead of receipt: last year
    assert "host" not in d and "process" not in d
    assert d["message"] == "HOST;1900005;ipv4;3; operate: reason=删除;result=成功"


def test_rfc3164_tag_without_host() -> None:
    d = parse("<13>Feb  5 17:32:18 sshd[99]: hi", "", ctx()).doc
    assert "host" not in d
    assert get_path(d, "process.name") == "sshd"
    assert get_path(d, "process.pid") == 99


def test_rfc3164_pri_but_no_timestamp_keeps_everything_as_message() -> None:
    p = parse("<15>logs: d0:loaderreader.cpp:134 more data", "", ctx())
    assert p.device_timestamped is False and p.tags == []
    assert p.doc["message"] == "logs: d0:loaderreader.cpp:134 more data"
    assert get_path(p.doc, "log.syslog.severity.code") == 7


@pytest.mark.parametrize("pri", ["-1", "255", "318", "0013"])
def test_rfc3164_invalid_pri_is_tagged_not_fatal(pri: str) -> None:
    p = parse(f"<{pri}>Mar 22 09:42:18 h app: m", "", ctx())
    assert "_syslog_pri_invalid" in p.tags
    assert get_path(p.doc, "log.syslog.priority") is None
    assert p.doc["message"] == "m"


def test_rfc3164_file_tail_line_without_pri() -> None:
    p = parse("Feb 20 08:35:22 slave22 sshd[5774]: Failed password for root from 89.160.20.156 port 29160 ssh2", "", ctx(tz=UTC))
    assert get_path(p.doc, "log.syslog.priority") is None
    assert get_path(p.doc, "host.hostname") == "slave22"
    assert get_path(p.doc, "user.name") == "root"


def test_rfc3164_no_pri_no_timestamp_is_parse_error() -> None:
    with pytest.raises(ParseError) as err:
        parse("not syslog at all", "rfc3164", ctx())
    assert err.value.reason == "syslog_no_pri"


# --------------------------------------------------------------------------- huge and non-ASCII lines


def test_one_megabyte_rfc3164_line_keeps_its_message() -> None:
    body = ("安全事件 " + "x" * 95) * 10_000  # 1,000,000 characters, Chinese included
    p = parse(f"<13>Feb 20 08:35:22 host prog[1]: {body}", "", ctx())
    assert len(p.doc["message"]) == len(body)
    assert p.doc["message"] == body


def test_one_megabyte_rfc5424_line_keeps_its_message() -> None:
    body = "中" * 1_000_000
    p = parse(f"<13>1 2024-01-01T00:00:00Z host app - - - {body}", "", ctx())
    assert len(p.doc["message"]) == 1_000_000


def test_one_megabyte_lines_without_spaces_are_handled_quickly() -> None:
    blob = "a" * 1_000_000
    with pytest.raises(ParseError) as err:
        parse("<13>1 " + blob, "", ctx())
    assert err.value.reason == "syslog_header_invalid"
    assert parse("<13>Feb 20 08:35:22 " + blob, "", ctx()).doc["message"] == blob
    d = parse("<13>Feb 20 08:35:22 h sshd[1]: Invalid user " + "x from " * 150_000, "", ctx()).doc
    assert d["message"].startswith("Invalid user x from")


def test_one_megabyte_json_line() -> None:
    value = "日志" * 500_000
    d = parse(json.dumps({"message": value}, ensure_ascii=False), "", ctx()).doc
    assert d["message"] == value


# --------------------------------------------------------------------------- JSON lines


@pytest.mark.parametrize("line", ['{"a": 1, "b": "tru', '{"a": 1', '{"a": }', "{auth} Fri Nov 22"])
def test_json_truncated_or_invalid(line: str) -> None:
    with pytest.raises(ParseError) as err:
        parse(line, "", ctx())
    assert err.value.reason == "json_invalid"


@pytest.mark.parametrize("line", ["[1, 2]", '"text"', "42", "null"])
def test_json_that_is_not_an_object(line: str) -> None:
    with pytest.raises(ParseError) as err:
        parse(line, "json", ctx())
    assert err.value.reason == "json_invalid"


def test_json_flat_dotted_keys_are_nested() -> None:
    line = '{"source.ip": "1.2.3.4", "source.port": 22, "destination": {"ip": "10.0.0.1"}, "destination.port": 80, "user.name": "张三"}'
    d = parse(line, "", ctx()).doc
    assert d["source"] == {"ip": "1.2.3.4", "port": 22}
    assert d["destination"] == {"ip": "10.0.0.1", "port": 80}
    assert d["user"] == {"name": "张三"}
    assert "source.ip" not in d


def test_json_nested_dotted_keys_are_nested_too() -> None:
    d = parse('{"source": {"geo.country_iso_code": "CN"}}', "", ctx()).doc
    assert d["source"] == {"geo": {"country_iso_code": "CN"}}


def test_json_epoch_milliseconds() -> None:
    p = parse('{"time": 1508995823653, "message": "m"}', "", ctx())
    assert p.doc["@timestamp"] == "2017-10-26T05:30:23.653Z"
    assert p.device_timestamped


def test_json_epoch_seconds_and_iso_strings() -> None:
    assert parse('{"ts": 1508995823}', "", ctx()).doc["@timestamp"] == "2017-10-26T05:30:23.000Z"
    assert parse('{"@timestamp": "2019-08-19T09:47:43+08:00"}', "", ctx()).doc["@timestamp"] == "2019-08-19T01:47:43.000Z"
    assert parse('{"timestamp": "2024-05-01T00:00:00Z"}', "", ctx()).doc["@timestamp"] == "2024-05-01T00:00:00.000Z"
    # A zoneless string is device-local time.
    assert parse('{"time": "2021-02-25 12:26:48"}', "", ctx()).doc["@timestamp"] == "2021-02-25T04:26:48.000Z"


def test_json_at_timestamp_wins_over_other_keys() -> None:
    d = parse('{"@timestamp": "2024-05-01T00:00:00Z", "time": 1}', "", ctx()).doc
    assert d["@timestamp"] == "2024-05-01T00:00:00.000Z"


def test_json_without_timestamp() -> None:
    p = parse('{"message": "x"}', "", ctx())
    assert "@timestamp" not in p.doc and p.device_timestamped is False and p.tags == []


def test_json_invalid_timestamp_is_removed_and_tagged() -> None:
    p = parse('{"@timestamp": "not a date", "message": "x"}', "", ctx())
    assert "@timestamp" not in p.doc
    assert p.device_timestamped is False
    assert "_timestamp_invalid" in p.tags


def test_json_keeps_given_dataset_and_defaults_otherwise() -> None:
    d = parse('{"event": {"dataset": "fortinet.firewall", "module": "fortinet"}}', "", ctx()).doc
    assert d["event"]["dataset"] == "fortinet.firewall"
    assert d["event"]["kind"] == "event"
    d = parse('{"a": 1}', "", ctx()).doc
    assert d["event"]["dataset"] == "json.lines"
    assert d["a"] == 1  # non-ECS fields stay as they are


def test_json_scalar_on_an_ecs_object_name_is_moved_aside() -> None:
    p = parse('{"event": "登录", "url": "/x", "message": {"a": 1}}', "", ctx())
    assert p.doc["json"] == {"event": "登录", "url": "/x", "message": {"a": 1}}
    assert isinstance(p.doc["event"], dict) and "url" not in p.doc and "message" not in p.doc
    assert "_json_ecs_conflict" in p.tags


def test_program_parsers_run_only_after_syslog() -> None:
    d = parse('{"process": {"name": "sshd"}, "message": "Failed password for root from 1.2.3.4 port 22 ssh2"}', "", ctx()).doc
    assert "user" not in d


# --------------------------------------------------------------------------- sshd


def sshd(message: str) -> dict:
    return parse(f"<38>Feb 20 08:35:22 host sshd[1]: {message}", "", ctx()).doc


def test_sshd_failed_password_for_invalid_user() -> None:
    d = sshd("Failed password for invalid user admin from 203.0.113.9 port 50122 ssh2")
    assert get_path(d, "event.action") == "ssh_login"
    assert get_path(d, "event.outcome") == "failure"
    assert get_path(d, "event.category") == ["authentication"]
    assert get_path(d, "user.name") == "admin"
    assert get_path(d, "source.ip") == "203.0.113.9"
    assert get_path(d, "source.port") == 50122
    assert get_path(d, "related.user") == ["admin"]
    assert get_path(d, "related.ip") == ["203.0.113.9"]
    assert get_path(d, "system.auth.ssh.event") == "Failed"
    assert get_path(d, "system.auth.ssh.method") == "password"
    assert get_path(d, "event.module") == "system"
    assert get_path(d, "event.dataset") == "system.auth"


def test_sshd_accepted_keyboard_interactive_ipv6() -> None:
    d = sshd("Accepted keyboard-interactive/pam for ops from 2001:db8::1 port 2222 ssh2")
    assert get_path(d, "event.outcome") == "success"
    assert get_path(d, "system.auth.ssh.method") == "keyboard-interactive/pam"
    assert get_path(d, "source.ip") == "2001:db8::1"
    assert get_path(d, "user.name") == "ops"


def test_sshd_user_name_with_spaces_and_chinese() -> None:
    d = sshd("Failed password for invalid user 张 三 from 10.1.1.1 port 22 ssh2")
    assert get_path(d, "user.name") == "张 三"


def test_sshd_invalid_user_with_port() -> None:
    d = sshd("Invalid user oracle from 198.51.100.7 port 41812")
    assert get_path(d, "event.action") == "ssh_invalid_user"
    assert get_path(d, "event.outcome") == "failure"
    assert get_path(d, "system.auth.ssh.event") == "Invalid"
    assert get_path(d, "user.name") == "oracle"
    assert get_path(d, "source.port") == 41812


def test_sshd_connection_closed_preauth() -> None:
    d = sshd("Connection closed by authenticating user root 198.51.100.7 port 41812 [preauth]")
    assert get_path(d, "user.name") == "root"
    assert get_path(d, "source.ip") == "198.51.100.7"
    assert get_path(d, "event.type") == ["info"]
    d = sshd("Connection closed by 198.51.100.8 port 1 [preauth]")
    assert get_path(d, "source.ip") == "198.51.100.8" and "user" not in d


def test_sshd_disconnected_from_user_ends_a_session() -> None:
    d = sshd("Disconnected from user deploy 10.2.3.4 port 60000")
    assert get_path(d, "user.name") == "deploy"
    assert get_path(d, "event.type") == ["end"]
    d = sshd("Disconnected from invalid user test 10.2.3.4 port 60000 [preauth]")
    assert get_path(d, "user.name") == "test"
    assert get_path(d, "event.type") == ["info"]


def test_sshd_maximum_authentication_attempts() -> None:
    d = sshd("error: maximum authentication attempts exceeded for invalid user pi from 192.0.2.44 port 5555 ssh2 [preauth]")
    assert get_path(d, "event.outcome") == "failure"
    assert get_path(d, "user.name") == "pi"
    assert get_path(d, "source.ip") == "192.0.2.44"
    assert get_path(d, "source.port") == 5555


def test_sshd_host_name_instead_of_ip_does_not_land_in_source_ip() -> None:
    d = sshd("Failed password for root from attacker.example.com port 22 ssh2")
    assert get_path(d, "source.ip") is None
    assert get_path(d, "source.domain") == "attacker.example.com"


def test_sshd_unknown_message_only_sets_the_dataset() -> None:
    d = sshd("Server listening on 0.0.0.0 port 22.")
    assert get_path(d, "event.dataset") == "system.auth"
    assert "user" not in d and "source" not in d


# --------------------------------------------------------------------------- Elastic's auth corpus


def test_elastic_system_auth_pipeline_agrees_on_the_fields_analysts_use() -> None:
    lines = corpus_file(AUTH_DIR / "test-auth.log").read_text(encoding="utf-8").splitlines()
    expected = json.loads(corpus_file(AUTH_DIR / "test-auth.log-expected.json").read_text())["expected"]
    # The log has grown two lines since the expected file was generated: pair by position,
    # checking each pair on its time and host so that a shift cannot go unnoticed.
    assert len(expected) <= len(lines)
    # Elastic's test ran on 2022-04-01 (event.ingested) with event.timezone +0000.
    assert expected[0]["event"]["ingested"].startswith("2022-04-01")
    c = ctx("2022-04-01T02:35:38+00:00", UTC)
    header_fields = ("@timestamp", "host.hostname", "process.name", "process.pid")
    sshd_fields = (
        "user.name", "source.ip", "source.port", "event.outcome",
        "system.auth.ssh.event", "system.auth.ssh.method", "system.auth.ssh.signature",
    )  # fmt: skip
    compared = 0
    for line, want in zip(lines, expected, strict=False):
        got = parse(line, "", c).doc
        for field in header_fields:
            assert get_path(got, field) == get_path(want, field), (field, line)
        if get_path(want, "process.name") == "sshd":
            # Only sshd has a program parser here; sudo/useradd lines stay plain syslog.
            for field in sshd_fields:
                assert get_path(got, field) == get_path(want, field), (field, line)
                compared += 1
    assert compared == 5 * len(sshd_fields)


def test_elastic_auth_lines_beyond_the_expected_file_still_parse() -> None:
    lines = corpus_file(AUTH_DIR / "test-auth.log").read_text(encoding="utf-8").splitlines()
    for line in lines:
        d = parse(line, "", ctx(tz=UTC)).doc
        assert d["message"] and line.endswith(d["message"])


# --------------------------------------------------------------------------- Chinese devices


def test_every_cn_vendor_syslog_line_parses_and_keeps_its_chinese_text() -> None:
    raws = [r for r in cn_raws() if r.startswith("<")]
    assert len(raws) > 300
    for raw in raws:
        # The envelope alone (the vendor formats that read the body have their own tests).
        for envelope in {detect_format(raw), "rfc5424" if re.match(r"<\d+>1 ", raw) else "rfc3164"}:
            p = PARSERS[envelope](raw, ctx())
            msg = p.doc.get("message", "")
            # The message is the untouched tail of the line (minus a trailing line terminator,
            # which a few samples carry).
            assert raw.rstrip("\r\n").endswith(msg), raw
            assert CJK.findall(msg) == CJK.findall(raw), raw  # no Chinese lost to the header
            assert p.doc["event"]["dataset"] in ("syslog.rfc3164", "syslog.rfc5424"), raw


def test_cn_vendor_defects_are_tagged_not_fatal() -> None:
    raws = cn_raws()
    hillstone = next(r for r in raws if r.startswith("<189>Jan 21 88:88:80"))
    p = parse(hillstone, "", ctx())
    assert p.tags == ["_timestamp_invalid"] and "@timestamp" not in p.doc
    for raw in (r for r in raws if re.match(r"<(-\d+|25\d|3\d\d)>", r)):
        p = parse(raw, "", ctx())
        assert "_syslog_pri_invalid" in p.tags, raw
        assert get_path(p.doc, "log.syslog.priority") is None


def test_cn_vendor_rfc5424_lines() -> None:
    raws = [r for r in cn_raws() if re.match(r"<\d+>1 ", r)]
    assert raws
    for raw in raws:
        p = parse(raw, "", ctx())
        assert get_path(p.doc, "log.syslog.version") == "1", raw
        assert p.device_timestamped
    topdesk = next(r for r in raws if r.startswith("<140>1 2021-03-12T16:24:32Z topdesk eventinfo"))
    d = PARSERS["rfc5424"](topdesk, ctx()).doc  # the header's own reading
    assert d["@timestamp"] == "2021-03-12T16:24:32.000Z"
    assert get_path(d, "host.hostname") == "topdesk"
    assert get_path(d, "process.name") == "eventinfo"
    assert d["message"].startswith('id="151337" agentid=')


def test_cn_vendor_sshd_lines() -> None:
    raw = next(r for r in cn_raws() if "sshd[21889]: Accepted password for root" in r)
    d = parse(raw, "", ctx()).doc
    assert get_path(d, "user.name") == "root"
    assert get_path(d, "source.ip") == "192.168.20.1"
    assert get_path(d, "source.port") == 15043
    assert get_path(d, "event.outcome") == "success"
    assert get_path(d, "host.hostname") == "bak-server-120"


def test_cn_vendor_json_lines_parse_or_fail_cleanly() -> None:
    raws = [r for r in cn_raws() if r.startswith("{")]
    parsed = invalid = 0
    for raw in raws:
        try:
            d = parse(raw, "", ctx()).doc
        except ParseError as err:
            assert err.reason == "json_invalid"
            invalid += 1
        else:
            assert isinstance(d["event"], dict)
            parsed += 1
    # Vendor formats claim some lines that are not JSON at all ("{auth}..."); every other line
    # either parses or fails with json_invalid, and none raises anything else.
    assert parsed
    leadsec = next(r for r in raws if '"time":1508995823653' in r)
    p = parse(leadsec, "", ctx())
    assert p.doc["@timestamp"] == "2017-10-26T05:30:23.653Z"
    assert p.doc["source"]["ip"] == "10.33.9.80"
