"""Chaitin SafeLine (长亭 雷池) WAF attack logs: the ECS fields a SOC analyst relies on.

No SafeLine line is in the shared corpus, so the lines here are built from the vendor's own
documentation and source (collectors/parsers/chaitin_safeline.py says which fact comes from where):

- `CE_DOC_BODY` is the syslog body documented for the community edition, key for key and value
  for value (chaitin/SafeLine `documents/docs/02-guide/07-other_config.md`, "syslog 内容详情"),
  sent after the RFC 5424 header its documentation shows (`… /mario/mario 1 safeline_event - `);
- the numeric form (`attack_type` 0, `risk_level` 3, `url_path`, `dst_ip`, `protocol` 1) is the
  detection log of chaitin/SafeLine `management/webserver/model/detectlog.go`;
- the RFC 3164 `safeline_event[1]:` header is the one public sample of a commercial edition's
  syslog (third-party, not the vendor's): read the same way because the body is.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from collectors.parsers import MESSAGE_FORMATS, ParseContext, ParseError, parse
from collectors.parsers.chaitin_safeline import ATTACK_TYPES, sniff_safeline
from soc.model import RawRecord, get_path

SHANGHAI = ZoneInfo("Asia/Shanghai")

CE_DOC_BODY: dict[str, Any] = {
    "scheme": "http", "src_ip": "12.123.123.123", "src_port": 53008, "socket_ip": "10.2.71.103",
    "upstream_addr": "10.2.34.20", "req_start_time": 1712819316749, "rsp_start_time": None,
    "req_end_time": 1712819316749, "rsp_end_time": None, "host": "safeline-ce.chaitin.net", "method": "GET",
    "query_string": "", "event_id": "32be0ce3ba6c44be9ed7e1235f9eebab", "session": "", "site_uuid": "35",
    "site_url": "http://safeline-ce.chaitin.net:8083", "req_detector_name": "1276d0f467e4", "req_detect_time": 286,
    "req_proxy_name": "16912fe30d8f", "req_rule_id": "m_rule/9bf31c7ff062936a96d3c8bd1f8f2ff3",
    "req_location": "urlpath", "req_payload": "", "req_decode_path": "", "req_rule_module": "m_rule",
    "req_http_body_is_truncate": 0, "rsp_http_body_is_truncate": 0, "req_skynet_rule_id_list": [65595, 65595],
    "http_body_is_abandoned": 0, "country": "US", "province": "", "city": "", "timestamp": 1712819316,
    "payload": "", "location": "urlpath", "rule_id": "m_rule/9bf31c7ff062936a96d3c8bd1f8f2ff3", "decode_path": "",
    "cookie": "sl-session=Z0WLa8mjGGZPki+QHX+HNQ==", "user_agent": "PostmanRuntime/7.28.4", "referer": "",
    "timestamp_human": "2024-04-11 15:08:36", "resp_reason_phrase": "", "module": "m_rule", "reason": "",
    "proxy_name": "16912fe30d8f", "node": "1276d0f467e4", "dest_port": 8083, "dest_ip": "10.2.34.20",
    "urlpath": "/webshell.php", "protocol": "http", "attack_type": "backdoor", "risk_level": "high",
    "action": "deny",
    "req_header_raw": "GET /webshell.php HTTP/1.1\r\nHost: safeline-ce.chaitin.net:8083\r\nUser-Agent: "
    "PostmanRuntime/7.28.4\r\nAccept: */*\r\nAccept-Encoding: gzip, deflate, br\r\nCache-Control: no-cache\r\n"
    "Cookie: sl-session=Z0WLa8mjGGZPki+QHX+HNQ==\r\nPostman-Token: 8e67bec1-6e79-458c-8ee5-0498f3f724db\r\n"
    "X-Real-Ip: 12.123.123.123\r\nSL-CE-SUID: 35\r\n\r\n",
    "body": "", "req_block_reason": "web", "req_attack_type": "backdoor", "req_risk_level": "high",
    "req_action": "deny",
}  # fmt: skip
CE_HEADER = "<30>1 2024-04-11T15:08:36+08:00 55ae65e87e75 /mario/mario 1 safeline_event - "


def ctx(tz: ZoneInfo = SHANGHAI) -> ParseContext:
    return ParseContext(source_id="t", received_at=datetime(2024, 6, 1, tzinfo=UTC), timezone=tz)


def body(**changes: Any) -> str:
    """The documented body with some keys changed (None: the key removed)."""
    rec = {**CE_DOC_BODY, **changes}
    return json.dumps({k: v for k, v in rec.items() if v is not None or k not in changes}, ensure_ascii=False)


def doc_of(line: str, hint: str = "", tz: ZoneInfo = SHANGHAI) -> dict:
    return parse(line, hint, ctx(tz)).doc


def fields(doc: dict, *names: str) -> dict:
    return {n: get_path(doc, n) for n in names}


def test_the_documented_syslog_event() -> None:
    doc = doc_of(CE_HEADER + body())
    assert fields(doc, "observer.vendor", "observer.product", "observer.type", "event.kind", "event.category",
                  "event.type", "event.action", "event.dataset", "event.id") == {
        "observer.vendor": "chaitin", "observer.product": "safeline", "observer.type": "waf",
        "event.kind": "alert", "event.category": ["web", "intrusion_detection"], "event.type": ["denied"],
        "event.action": "deny", "event.dataset": "chaitin.attack", "event.id": "32be0ce3ba6c44be9ed7e1235f9eebab",
    }  # fmt: skip
    assert fields(doc, "source.ip", "source.port", "destination.ip", "destination.port", "source.geo.country_iso_code") == {
        "source.ip": "12.123.123.123", "source.port": 53008, "destination.ip": "10.2.34.20",
        "destination.port": 8083, "source.geo.country_iso_code": "US",
    }  # fmt: skip
    assert fields(doc, "url.original", "url.path", "url.domain", "url.scheme", "url.port", "http.request.method",
                  "user_agent.original", "network.protocol") == {
        "url.original": "/webshell.php", "url.path": "/webshell.php", "url.domain": "safeline-ce.chaitin.net",
        "url.scheme": "http", "url.port": 8083, "http.request.method": "GET",
        "user_agent.original": "PostmanRuntime/7.28.4", "network.protocol": "http",
    }  # fmt: skip
    assert fields(doc, "rule.id", "rule.category", "rule.name", "log.level", "soc.severity") == {
        "rule.id": "m_rule/9bf31c7ff062936a96d3c8bd1f8f2ff3", "rule.category": "backdoor", "rule.name": "backdoor",
        "log.level": "high", "soc.severity": "high",
    }  # fmt: skip
    # 1712819316 is 2024-04-11 15:08:36 in Beijing (the documented timestamp_human): UTC in @timestamp.
    assert doc["@timestamp"] == "2024-04-11T07:08:36.000Z"
    assert {"12.123.123.123", "10.2.71.103", "10.2.34.20"} <= set(doc["related"]["ip"])  # socket_ip, upstream too
    assert fields(doc, "soc.device.socket_ip", "soc.device.location", "soc.device.req_block_reason") == {
        "soc.device.socket_ip": "10.2.71.103", "soc.device.location": "urlpath", "soc.device.req_block_reason": "web",
    }  # fmt: skip
    assert "_parse_partial" not in doc.get("tags", [])


def test_recognised_from_content_bare_and_after_a_bsd_header() -> None:
    bare = doc_of(body())
    bsd = doc_of("<3>Aug 15 21:01:56 waf-manager01 safeline_event[1]: " + body())
    for doc in (bare, bsd):
        assert fields(doc, "observer.product", "source.ip", "rule.category", "event.type") == {
            "observer.product": "safeline", "source.ip": "12.123.123.123", "rule.category": "backdoor",
            "event.type": ["denied"],
        }  # fmt: skip
    assert sniff_safeline(body()) and not sniff_safeline('{"event_id": "1", "src_ip": "10.0.0.1"}')


def test_local_time_is_read_in_the_source_zone_when_no_epoch_is_sent() -> None:
    line = CE_HEADER + body(timestamp=None)
    assert doc_of(line)["@timestamp"] == "2024-04-11T07:08:36.000Z"
    assert doc_of(line, tz=ZoneInfo("UTC"))["@timestamp"] == "2024-04-11T15:08:36.000Z"
    assert "_timestamp_invalid" in doc_of(body(timestamp=None, timestamp_human="2024-13-45 99:00:00"))["tags"]


def test_the_numeric_detection_log_form() -> None:
    # model.DetectLogBasic / DetectLogDetail fields: codes instead of words.
    rec = {"event_id": "8b41a021ea9541c89bb88f3773b4da24", "src_ip": "198.51.100.7", "src_port": 58694,
           "dst_ip": "10.2.35.143", "dst_port": 443, "protocol": 1, "host": "www.example.cn:443",
           "url_path": "/index.php", "query_string": "id=1%20and%202=2", "method": "GET", "attack_type": 0,
           "risk_level": 3, "action": 1, "rule_id": "m_sqli", "timestamp": 1712819316, "status_code": 403}
    doc = doc_of(json.dumps(rec))
    assert fields(doc, "rule.id", "rule.category", "rule.name", "event.severity", "soc.severity", "url.scheme",
                  "url.domain", "url.original", "url.query", "destination.ip", "http.response.status_code") == {
        "rule.id": "m_sqli", "rule.category": "SQL 注入", "rule.name": "SQL 注入检测模块", "event.severity": 3,
        "soc.severity": "high", "url.scheme": "https", "url.domain": "www.example.cn",
        "url.original": "/index.php?id=1%20and%202=2", "url.query": "id=1%20and%202=2",
        "destination.ip": "10.2.35.143", "http.response.status_code": 403,
    }  # fmt: skip
    # What action 0 / 1 mean is not documented: kept, not guessed.
    assert get_path(doc, "event.action") is None and get_path(doc, "soc.device.action") == "1"
    assert get_path(doc, "event.type") == ["info"]


@pytest.mark.parametrize(("risk", "level"), [(1, "low"), (2, "medium"), (3, "high"), (0, None), ("low", "low"),
                                             ("medium", "medium"), ("critical", "critical")])
def test_risk_levels(risk: object, level: str | None) -> None:
    doc = doc_of(body(risk_level=risk, req_risk_level=None))
    assert get_path(doc, "soc.severity") == level


@pytest.mark.parametrize(("changes", "etype", "action"), [
    ({"action": "pass", "req_action": None, "req_block_reason": None}, ["allowed"], "pass"),
    ({"action": None, "req_action": None}, ["denied"], None),  # req_block_reason "web": blocked
    ({"action": None, "req_action": None, "req_block_reason": None}, ["info"], None),
])  # fmt: skip
def test_action_words(changes: dict, etype: list[str], action: str | None) -> None:
    doc = doc_of(CE_HEADER + body(**changes))
    assert fields(doc, "event.type", "event.action") == {"event.type": etype, "event.action": action}


def test_attack_type_codes_and_custom_rules() -> None:
    assert (ATTACK_TYPES[0], ATTACK_TYPES[1], ATTACK_TYPES[9], ATTACK_TYPES[20]) == ("SQL 注入", "XSS", "命令注入", "目录穿越")
    doc = doc_of(body(attack_type=-3, rule_id="/封禁扫描器", req_rule_id=None, req_attack_type=None))
    assert fields(doc, "rule.category", "rule.name") == {"rule.category": "黑名单", "rule.name": "封禁扫描器"}
    doc = doc_of(body(attack_type=11, reason="[HW2020] 通达OA 文件包含", module="m_rule"))
    assert fields(doc, "rule.category", "rule.name") == {"rule.category": "文件包含", "rule.name": "[HW2020] 通达OA 文件包含"}
    doc = doc_of(body(attack_type=999))  # not in the vendor's table: the code stays, no name is made up
    assert get_path(doc, "rule.category") is None and get_path(doc, "soc.device.attack_type") == "999"


def test_a_truncated_datagram_is_read_in_part_and_tagged() -> None:
    text = body()
    cut = text[: text.index('"req_header_raw"') + 40]  # UDP cut inside the request headers
    doc = doc_of(CE_HEADER + cut)
    assert "_parse_partial" in doc["tags"]
    assert fields(doc, "source.ip", "rule.category", "event.type", "soc.severity", "observer.product") == {
        "source.ip": "12.123.123.123", "rule.category": "backdoor", "event.type": ["denied"], "soc.severity": "high",
        "observer.product": "safeline",
    }  # fmt: skip


def test_lines_it_does_not_claim_and_bad_input() -> None:
    test_msg = doc_of("<30>1 2024-03-20T20:02:38+08:00 55ae65e87e75 /mario/mario 1 safeline_event - "
                      "Connectivity test requested.")
    assert get_path(test_msg, "observer.product") is None  # a plain syslog event
    assert "chaitin_safeline" in MESSAGE_FORMATS
    for junk in ("", "{", "not json", '{"a": [1, 2', "[1, 2]", '{"src_ip": 5, "src_port": "x", "timestamp": "y"}',
                 '{"timestamp": 99999999999999999999, "src_port": 70000, "host": ":", "urlpath": 3}'):
        try:
            doc = doc_of(junk, "chaitin_safeline")
        except ParseError as err:
            assert err.reason
            continue
        json.dumps(doc)


# --------------------------------------------------------------------------- the WAF rules


def test_the_waf_rules_see_a_safeline_sql_injection() -> None:
    from pathlib import Path

    from detectors.rules import load_rules
    from soc.stream.detect import evaluate
    from soc.stream.normalize import normalize_record

    rules = load_rules([Path(__file__).resolve().parents[3] / "rules" / "waf"])
    line = CE_HEADER + body(attack_type=0, rule_id="m_sqli", module="m_sqli", req_rule_id=None, req_attack_type=None,
                            urlpath="/api/login", query_string="user=admin%27%20or%201=1--")
    record = RawRecord(line.encode(), 1_712_819_316_000_000_000, "syslog-udp", "192.0.2.1:514", "t", "")
    key, doc = normalize_record(record)
    assert key is not None and get_path(doc, "rule.name") == "SQL 注入检测模块"
    titles = {h.rule.meta.title for h in evaluate(rules, [doc])}
    assert {"WAF 检测到 SQL 注入攻击", "WAF 报告高危及以上级别的攻击"} <= titles
