"""ModSecurity JSON audit log (libmodsecurity v3, and the v2 Apache module's JSON) to ECS."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from typing import Any

from soc.model import iso, set_path

from . import register_message
from .base import Doc, ParseContext, ParseError, decode_json
from .kv import SYSLOG_SEVERITY, classify_event, relate_ips, set_endpoint, set_severity, set_url

TAG_TIMESTAMP_INVALID = "_timestamp_invalid"

_SNIFF = re.compile(r'\{\s{0,8}"transaction"\s{0,8}:\s{0,8}\{')
# v2 messages: 'Warning. Matched ... [file "..."] [line "485"] [id "932160"] [msg "..."] ...'
_V2_TAG = re.compile(r'\[(?P<key>[a-z]{1,16}) "(?P<value>(?:[^"\\]|\\.){0,4096})"\]')
_REQUEST_LINE = re.compile(r"(?P<method>[A-Za-z][A-Za-z_\-]{0,31}) (?P<target>\S{1,65536})(?: [A-Z]{2,8}/(?P<version>[\d.]{1,5}))?")
_PRODUCER_VERSION = re.compile(r"/(\d[\w.\-]{0,32})")
_MONTHS = {m: i for i, m in enumerate(
    ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"), 1
)}  # fmt: skip
# "Fri May 14 14:52:47 2021" (v3) and "23/May/2022:06:28:50 +0000" (v2).
_CTIME = re.compile(r"[A-Z][a-z]{2} (?P<mon>[A-Z][a-z]{2}) {1,2}(?P<day>\d{1,2}) (?P<h>\d{2}):(?P<m>\d{2}):(?P<s>\d{2}) (?P<year>\d{4})")
_CLF = re.compile(r"(?P<day>\d{2})/(?P<mon>[A-Z][a-z]{2})/(?P<year>\d{4}):(?P<h>\d{2}):(?P<m>\d{2}):(?P<s>\d{2}) (?P<tz>[+-]\d{4})")
_SEVERITIES = {"0": "emergency", "1": "alert", "2": "critical", "3": "error", "4": "warning",
               "5": "notice", "6": "info", "7": "debug"}


def _sniff(body: str) -> bool:
    """A ModSecurity JSON audit record starts with {"transaction": {."""
    return _SNIFF.match(body) is not None


def _time(text: Any, ctx: ParseContext) -> datetime:
    """The transaction time; v3's ctime carries no zone and is the server's local time."""
    if not isinstance(text, str):
        raise ValueError("no time")
    m = _CTIME.fullmatch(text.strip())
    if m is not None:
        tz: Any = ctx.timezone
    else:
        m = _CLF.fullmatch(text.strip())
        if m is None:
            raise ValueError(f"unknown time {text!r}")
        off = m.group("tz")
        sign = -1 if off[0] == "-" else 1
        tz = timezone(sign * timedelta(hours=int(off[1:3]), minutes=int(off[3:5])))
    return datetime(int(m.group("year")), _MONTHS[m.group("mon")], int(m.group("day")),
                    int(m.group("h")), int(m.group("m")), int(m.group("s")), tzinfo=tz)


def _headers(doc: Doc, headers: Any) -> None:
    """Host and User-Agent request headers."""
    if not isinstance(headers, dict):
        return
    lower = {str(k).lower(): v for k, v in headers.items()}
    host = lower.get("host")
    if isinstance(host, str) and host:
        set_path(doc, "url.domain", host.rsplit(":", 1)[0] if host.count(":") == 1 else host)
    ua = lower.get("user-agent")
    if isinstance(ua, str) and ua:
        set_path(doc, "user_agent.original", ua)
    referer = lower.get("referer")
    if isinstance(referer, str) and referer:
        set_path(doc, "http.request.referrer", referer)


def _rules(doc: Doc, rules: list[dict[str, str]]) -> None:
    """rule.id / rule.name (lists when several rules matched) and the worst severity."""
    ids = [r["id"] for r in rules if r.get("id")]
    names = [r["msg"] for r in rules if r.get("msg")]
    if ids:
        set_path(doc, "rule.id", ids[0] if len(ids) == 1 else ids)
    if names:
        set_path(doc, "rule.name", names[0] if len(names) == 1 else names)
    versions = sorted({r["ver"] for r in rules if r.get("ver")})
    if versions:
        set_path(doc, "rule.ruleset", versions[0] if len(versions) == 1 else versions)
    severities = sorted(int(r["severity"]) for r in rules if r.get("severity", "").isdigit())
    if severities:
        set_path(doc, "event.severity", severities[0])
        set_path(doc, "log.level", _SEVERITIES.get(str(severities[0]), str(severities[0])))
        set_severity(doc, severities[0], SYSLOG_SEVERITY)  # ModSecurity's severity is syslog's 0-7
    set_path(doc, "modsecurity.rules", rules)


def _v3(tx: dict[str, Any], doc: Doc, ctx: ParseContext) -> list[dict[str, str]]:
    """libmodsecurity 3: everything is inside "transaction"."""
    set_endpoint(doc, "source", tx.get("client_ip"), tx.get("client_port"))
    set_endpoint(doc, "destination", tx.get("host_ip"), tx.get("host_port"))
    txid = tx.get("unique_id") or tx.get("id")
    if isinstance(txid, str | int):
        set_path(doc, "http.request.id", str(txid))
    request = tx.get("request") if isinstance(tx.get("request"), dict) else {}
    method = request.get("method")
    if isinstance(method, str) and method:
        set_path(doc, "http.request.method", method)
    uri = request.get("uri")
    if isinstance(uri, str) and uri:
        set_url(doc, uri)
    version = request.get("http_version")
    if isinstance(version, int | float) and not isinstance(version, bool):
        set_path(doc, "http.version", f"{version:.1f}" if isinstance(version, float) else str(version))
    _headers(doc, request.get("headers"))
    response = tx.get("response") if isinstance(tx.get("response"), dict) else {}
    code = response.get("http_code")
    if isinstance(code, int) and not isinstance(code, bool):
        set_path(doc, "http.response.status_code", code)
    producer = tx.get("producer")
    if isinstance(producer, dict) and isinstance(producer.get("modsecurity"), str):
        parts = producer["modsecurity"].split()
        if len(parts) >= 2 and parts[1].startswith("v"):
            set_path(doc, "observer.version", parts[1][1:])
    rules = []
    for msg in tx.get("messages") or []:
        if not isinstance(msg, dict):
            continue
        details = msg.get("details") if isinstance(msg.get("details"), dict) else {}
        rule = {
            "id": str(details.get("ruleId") or ""),
            "msg": str(msg.get("message") or ""),
            "severity": str(details.get("severity") or ""),
            "ver": str(details.get("ver") or ""),
            "data": str(details.get("data") or ""),
            "file": str(details.get("file") or ""),
        }
        rules.append({k: v for k, v in rule.items() if v})
    return rules


def _v2(record: dict[str, Any], tx: dict[str, Any], doc: Doc) -> list[dict[str, str]]:
    """ModSecurity 2 (Apache module) JSON: transaction, request, response, audit_data."""
    set_endpoint(doc, "source", tx.get("remote_address"), tx.get("remote_port"))
    set_endpoint(doc, "destination", tx.get("local_address"), tx.get("local_port"))
    if isinstance(tx.get("transaction_id"), str):
        set_path(doc, "http.request.id", tx["transaction_id"])
    request = record.get("request") if isinstance(record.get("request"), dict) else {}
    line = request.get("request_line")
    if isinstance(line, str):
        m = _REQUEST_LINE.fullmatch(line)
        if m is not None:
            set_path(doc, "http.request.method", m.group("method"))
            set_url(doc, m.group("target"))
            if m.group("version"):
                set_path(doc, "http.version", m.group("version"))
    _headers(doc, request.get("headers"))
    response = record.get("response") if isinstance(record.get("response"), dict) else {}
    status = response.get("status")
    if isinstance(status, int) and not isinstance(status, bool):
        set_path(doc, "http.response.status_code", status)
    audit = record.get("audit_data") if isinstance(record.get("audit_data"), dict) else {}
    action = audit.get("action")
    if isinstance(action, dict) and action.get("intercepted") is True:
        set_path(doc, "event.action", "intercepted")
        set_path(doc, "event.type", ["access", "denied"])
    producer = audit.get("producer")
    if isinstance(producer, list) and producer and isinstance(producer[0], str):
        m2 = _PRODUCER_VERSION.search(producer[0])
        if m2 is not None:
            set_path(doc, "observer.version", m2.group(1))
    rules = []
    severity_names = {v.upper(): k for k, v in _SEVERITIES.items()} | {"CRITICAL": "2", "WARNING": "4"}
    for msg in audit.get("messages") or []:
        if not isinstance(msg, str):
            continue
        rule: dict[str, str] = {}
        for t in _V2_TAG.finditer(msg):
            key, value = t.group("key"), t.group("value")
            if key in ("id", "msg", "ver", "data", "file") and key not in rule:
                rule[key] = value
            elif key == "severity" and "severity" not in rule:
                rule["severity"] = severity_names.get(value.upper(), value)
        if rule:
            rules.append(rule)
    return rules


@register_message("modsecurity_audit", sniff=_sniff, priority=20)
def enrich_modsecurity_audit(body: str, doc: Doc, ctx: ParseContext) -> None:
    """Read one ModSecurity JSON audit record into ECS fields of `doc`, in place."""
    record = decode_json(body, "modsecurity_json_invalid")
    tx = record.get("transaction") if isinstance(record, dict) else None
    if not isinstance(tx, dict):
        raise ParseError("modsecurity_not_audit", "no transaction object")
    classify_event(doc, "modsecurity", "modsecurity", "waf", "auditlog", ["web"], ["access"])
    try:
        set_path(doc, "@timestamp", iso(_time(tx.get("time_stamp") or tx.get("time"), ctx)))
    except (ValueError, OverflowError):
        doc.setdefault("tags", []).append(TAG_TIMESTAMP_INVALID)
    v2 = "audit_data" in record or "remote_address" in tx
    rules = _v2(record, tx, doc) if v2 else _v3(tx, doc, ctx)
    status = doc.get("http", {}).get("response", {}).get("status_code")
    if isinstance(status, int):
        set_path(doc, "event.outcome", "success" if status < 400 else "failure")
    if rules:
        set_path(doc, "event.kind", "alert")
        set_path(doc, "event.category", ["web", "intrusion_detection"])
        _rules(doc, rules)
    else:
        set_path(doc, "event.kind", "event")
    relate_ips(doc, " ".join(str(v) for v in (
        doc.get("source", {}).get("ip"), doc.get("destination", {}).get("ip"))))
