"""Every in-scope line of the Chinese-vendor corpus is recognized: from its content, or else from
the device its source is declared to be (sources file `vendor`/`product`/`type`, ctx.device).

Some lines cannot be told apart by content (OEM firmware sends another brand's format byte for
byte: Leadsec/Venustech/Legendsec Themis, Venustech v-waf in DBAPPSecurity form, Sangfor OSM in
DPtech/Shenfan form, Topsec VPN/IDS/AV as TopsecOS firewall lines...); for those, the operator's
declaration is what names the box. The number of lines that need it is bounded, so a regression
in content detection fails here.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from collectors.parsers import DeviceHint, ParseContext, ParseError, parse
from soc.model import get_path

from .cn_acceptance import CORPUS, IN_SCOPE, check_line, ctx, declared_ctx, raw_with

# In-scope lines (452, one of them empty) that content alone recognizes today: 406 of 451.
CONTENT_AT_LEAST = 406
# Lines that need the declared device: 40 OEM/shared shapes (the brand or device type differs
# from what the content says) + 5 with no message format at all (a host event of the device).
HINTED_AT_MOST = 45


def _in_scope() -> list[dict[str, Any]]:
    assert CORPUS.is_file(), f"corpus missing: {CORPUS}"
    records = [json.loads(line) for line in CORPUS.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [rec for rec in records if rec["category"] in IN_SCOPE]


def test_every_in_scope_line_is_recognized_from_content_or_declared_device() -> None:
    records = _in_scope()
    empty = [rec for rec in records if not rec["raw"].strip()]
    content_ok = hinted_ok = 0
    hinted: list[str] = []
    failures: dict[str, dict[str, list[str]]] = {}
    for rec in records:
        if not rec["raw"].strip():
            continue
        if not check_line(rec):
            content_ok += 1
            continue
        problems = check_line(rec, ctx=declared_ctx(rec))
        if problems:
            failures[f'{rec["vendor"]} {rec["category"]}: {rec["raw"][:90]}'] = {
                "content": check_line(rec),
                "declared": problems,
            }
        else:
            hinted_ok += 1
            hinted.append(f'{rec["vendor"]} {rec["category"]}: {rec["raw"][:70]}')
    lines = len(records) - len(empty)
    print(
        f"\nin-scope Chinese lines: {len(records)} ({len(empty)} empty); recognized from content "
        f"{content_ok}/{lines} ({content_ok / lines:.1%}), with the declared device "
        f"{content_ok + hinted_ok}/{lines} ({(content_ok + hinted_ok) / lines:.1%}); "
        f"{hinted_ok} needed the declaration"
    )
    assert len(records) == 452 and len(empty) == 1
    assert not failures, failures  # 100 %: every line passes one way or the other
    assert content_ok >= CONTENT_AT_LEAST, f"content detection regressed: {content_ok} < {CONTENT_AT_LEAST}"
    assert hinted_ok <= HINTED_AT_MOST, hinted


# --------------------------------------------------------------------------- the declared device


def _ctx(device: DeviceHint | None = None) -> ParseContext:
    return ParseContext("unit", datetime(2024, 1, 1, tzinfo=UTC), ZoneInfo("Asia/Shanghai"), device=device)


UNKNOWN = "<13>Jan  2 03:04:05 box1 watchdog: fan 2 restarted after peer 10.1.2.3 went away"


def test_declared_device_overrides_the_vendor_and_type_content_says() -> None:
    # A Leadsec AV gateway sends Legendsec's "Themis" firewall shape byte for byte.
    raw = raw_with("leadsec", "<5>kernel: devid=4")
    plain = parse(raw, "syslog", _ctx()).doc
    assert (get_path(plain, "observer.vendor"), get_path(plain, "observer.type")) == ("legendsec", "firewall")
    doc = parse(raw, "syslog", _ctx(DeviceHint(vendor="leadsec", type="antivirus"))).doc
    assert (get_path(doc, "observer.vendor"), get_path(doc, "observer.type")) == ("leadsec", "antivirus")
    # What the hint does not declare stays what the content said; the rest of the parse is intact.
    assert get_path(doc, "observer.product") == get_path(plain, "observer.product")
    assert get_path(doc, "event.category") == get_path(plain, "event.category") == ["network"]
    assert get_path(doc, "source.ip") == "10.155.243.58"
    doc = parse(raw, "syslog", _ctx(DeviceHint("leadsec", "AV-3000", "antivirus"))).doc
    assert get_path(doc, "observer.product") == "AV-3000"


def test_unknown_message_from_a_declared_device_is_a_host_event_for_review() -> None:
    p = parse(UNKNOWN, "syslog", _ctx(DeviceHint(vendor="qzsec", product="bastion", type="bastion")))
    d = p.doc
    assert p.tags == ["_parse_partial"]  # normalize merges Parsed.tags into the event's tags
    assert d["observer"] == {"vendor": "qzsec", "product": "bastion", "type": "bastion"}
    assert get_path(d, "event.kind") == "event"
    assert get_path(d, "event.category") == ["host"] and get_path(d, "event.type") == ["info"]
    assert get_path(d, "related.ip") == ["10.1.2.3"]
    # What the envelope understood is kept.
    assert get_path(d, "host.hostname") == "box1" and get_path(d, "process.name") == "watchdog"
    assert d["message"].startswith("fan 2 restarted") and d["@timestamp"].startswith("2024-01-01T19:04:05")


def test_unknown_message_without_declared_device_is_unchanged() -> None:
    for context in (_ctx(), _ctx(DeviceHint())):  # an empty declaration declares nothing
        p = parse(UNKNOWN, "syslog", context)
        assert get_path(p.doc, "observer") is None and get_path(p.doc, "event.category") is None
        assert "tags" not in p.doc and p.tags == []
        assert get_path(p.doc, "event.dataset") == "syslog.rfc3164"


def test_a_classified_line_keeps_its_category_under_a_declaration() -> None:
    raw = "<86>Sep 13 11:06:27 bak-server-120 sshd[21889]: Accepted password for root from 192.168.20.1 port 15043 ssh2"
    p = parse(raw, "syslog", _ctx(DeviceHint(vendor="jhsec", type="bastion")))
    d = p.doc
    assert get_path(d, "event.category") == ["authentication", "session"] and p.tags == []
    assert (get_path(d, "observer.vendor"), get_path(d, "observer.product")) == ("jhsec", "linux")
    assert get_path(d, "host.os.type") == "linux"


def test_unreadable_lines_from_a_declared_device_are_events_not_errors() -> None:
    bare = "FW 1 4 Fan_Ok"
    with pytest.raises(ParseError) as exc:
        parse(bare, "syslog", _ctx())
    assert exc.value.reason == "unknown_format"
    p = parse(bare, "syslog", _ctx(DeviceHint(vendor="easynetworks", type="firewall")))
    d = p.doc
    assert d["message"] == bare and "unknown_format" in get_path(d, "error.message")
    assert get_path(d, "event.category") == ["host"] and p.tags == ["_parse_partial"]
    assert get_path(d, "observer.vendor") == "easynetworks"
    # A JSON object whose own "tags" is not a list: the review tag goes to Parsed.tags.
    p = parse('{"tags": "x", "note": "peer 10.9.8.7"}', "syslog", _ctx(DeviceHint(vendor="v", type="host")))
    assert p.tags == ["_parse_partial"] and get_path(p.doc, "related.ip") == ["10.9.8.7"]


def test_empty_line_is_an_error_even_from_a_declared_device() -> None:
    with pytest.raises(ParseError):
        parse("  ", "syslog", _ctx(DeviceHint(vendor="x")))


# --------------------------------------------------------------------------- content fixes


def _doc(vendor: str, needle: str) -> dict[str, Any]:
    return parse(raw_with(vendor, needle), "syslog", ctx()).doc


def test_host_logs_name_the_host_as_observer() -> None:
    d = _doc("linux", "Accepted publickey for root")
    assert d["observer"] == {"vendor": "linux", "product": "linux", "type": "host"}
    assert get_path(d, "host.os.type") == "linux" and get_path(d, "source.ip") == "192.168.40.120"
    d = _doc("linux", "Did not receive identification")
    assert get_path(d, "event.category") == ["network", "authentication"]
    d = _doc("linux", "run-parts(")
    assert get_path(d, "observer.vendor") == "linux" and get_path(d, "process.pid") == 1792
    assert get_path(d, "file.path") == "/etc/cron.hourly/0anacron"
    assert (get_path(d, "event.category"), get_path(d, "event.type")) == (["process"], ["start"])
    d = _doc("microsoft", "Security-Auditing: 5156")
    assert d["observer"] == {"vendor": "microsoft", "product": "windows", "type": "host"}
    assert get_path(d, "host.os.type") == "windows" and get_path(d, "event.code") == "5156"
    d = _doc("microsoft", "Eventlog to Syslog Service Stopped")
    assert get_path(d, "host.os.type") == "windows"
    assert (get_path(d, "event.category"), get_path(d, "event.type")) == (["process"], ["end"])


def test_fortios4_and_dlp_lines() -> None:
    d = _doc("easynetworks", "type=dlp subtype=dlp")  # FortiOS 4 firmware (no devname, log_id=)
    assert (get_path(d, "observer.vendor"), get_path(d, "event.code")) == ("fortinet", "0954024577")
    assert (get_path(d, "source.ip"), get_path(d, "source.port")) == ("192.168.11.1", 53007)
    assert get_path(d, "observer.ingress.interface.name") == "internal"
    assert (get_path(d, "event.category"), get_path(d, "event.type")) == (["network"], ["info"])
    d = _doc("fortinet", "subtype=dlp eventtype=dlp")  # action=log-only: neither allowed nor denied
    assert get_path(d, "event.type") == ["info"]


def test_stoneos_traffic_session() -> None:
    d = _doc("chinatelecom", "Traffic@FLOW: SESSION:")  # China Telecom's StoneOS (Hillstone) firewall
    assert get_path(d, "observer.vendor") == "hillstone"
    assert (get_path(d, "source.ip"), get_path(d, "source.port")) == ("192.168.0.8", 20530)
    assert (get_path(d, "destination.ip"), get_path(d, "destination.port")) == ("1.1.1.1", 58386)
    assert get_path(d, "network.transport") == "icmp" and get_path(d, "source.bytes") == 78
    assert (get_path(d, "observer.ingress.zone"), get_path(d, "observer.egress.zone")) == ("trust", "untrust")
    assert get_path(d, "event.type") == ["connection", "end"]
    assert get_path(d, "event.end") == "2023-07-04T08:29:21.000Z"
