"""Suricata EVE JSON (one event per line: alert, flow, http, dns, tls, fileinfo, anomaly, ...) to ECS."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from soc.model import iso, set_path

from . import register_message
from .base import Doc, ParseContext, ParseError, decode_json
from .kv import RULE_PRIORITY, relate_ips, set_endpoint, set_observer_dataset, set_severity, set_url, valid_ip

TAG_TIMESTAMP_INVALID = "_timestamp_invalid"
_EVENT_TYPE = re.compile(r'\{\s{0,8}"(?:timestamp|event_type)"')
# Protocol records kept whole under suricata.eve.<type> (small, fixed shapes); stats and
# unknown records are not copied (stats alone has hundreds of counters).
_KEPT_RECORDS = frozenset(
    """alert anomaly dhcp dns drop fileinfo flow ftp ftp_data http http2 ike krb5 modbus mqtt
    netflow nfs pgsql quic rdp rfb sip smb smtp snmp ssh tftp tls""".split()
)
_HTTP_TYPES = frozenset({"http", "http2"})


def _sniff(body: str) -> bool:
    """An EVE record starts with "timestamp" (or "event_type") and names its event_type early."""
    return _EVENT_TYPE.match(body) is not None and '"event_type":' in body[:400]


def _ts(value: Any, ctx: ParseContext) -> datetime:
    """An EVE timestamp ("2018-07-05T15:01:09.820360-0400"); naive ones are in ctx.timezone."""
    if not isinstance(value, str):
        raise ValueError("timestamp is not a string")
    s = value.strip()
    if s.endswith(("Z", "z")):
        s = s[:-1] + "+00:00"
    ts = datetime.fromisoformat(s)
    return ts if ts.tzinfo is not None else ts.replace(tzinfo=ctx.timezone)


def _int(value: Any) -> int | None:
    """An integer from an int or a string of digits, else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return None


def _mac(value: Any) -> str | None:
    """A MAC address in the ECS form (upper case, dash separated)."""
    if not isinstance(value, str) or len(value) != 17:
        return None
    return value.upper().replace(":", "-")


def _url(doc: Doc, url: str, host: Any) -> None:
    """url.* of the request, with the Host header as url.domain when the URL is relative."""
    set_url(doc, url)
    if isinstance(host, str) and host and "domain" not in doc["url"]:
        set_path(doc, "url.domain", host)


def _http(doc: Doc, http: dict[str, Any]) -> None:
    """The http object of an EVE record (http, fileinfo and alert records carry it)."""
    host = http.get("hostname")
    if isinstance(host, str) and host:
        set_path(doc, "destination.domain", host)
    url = http.get("url")
    if isinstance(url, str) and url:
        _url(doc, url, host)
    method = http.get("http_method")
    if isinstance(method, str) and method:
        set_path(doc, "http.request.method", method)
    status = _int(http.get("status"))
    if status is not None:
        set_path(doc, "http.response.status_code", status)
    proto = http.get("protocol")
    if isinstance(proto, str) and proto.upper().startswith("HTTP/"):
        set_path(doc, "http.version", proto[5:])
    for key, field in (
        ("http_user_agent", "user_agent.original"),
        ("http_refer", "http.request.referrer"),
        ("http_content_type", "http.response.mime_type"),
    ):
        value = http.get(key)
        if isinstance(value, str) and value:
            set_path(doc, field, value)
    length = _int(http.get("length"))
    if length is not None:
        set_path(doc, "http.response.body.bytes", length)


def _dns(doc: Doc, dns: dict[str, Any]) -> None:
    """ECS dns.* from an EVE dns record (version 1 one-answer-per-record and version 2)."""
    kind = dns.get("type")
    if isinstance(kind, str):
        set_path(doc, "dns.type", kind)
    if dns.get("id") is not None:
        set_path(doc, "dns.id", str(dns["id"]))
    for key, field in (("rrname", "dns.question.name"), ("rrtype", "dns.question.type")):
        value = dns.get(key)
        if isinstance(value, str) and value:
            set_path(doc, field, value)
    queries = dns.get("queries")
    if isinstance(queries, list) and queries and isinstance(queries[0], dict):
        q = queries[0]
        if isinstance(q.get("rrname"), str):
            set_path(doc, "dns.question.name", q["rrname"])
        if isinstance(q.get("rrtype"), str):
            set_path(doc, "dns.question.type", q["rrtype"])
    rcode = dns.get("rcode")
    if isinstance(rcode, str):
        set_path(doc, "dns.response_code", rcode)
    answers: list[dict[str, Any]] = []
    if kind == "answer" and "rdata" in dns:  # version 1: one answer per record
        answers.append(dns)
    raw = dns.get("answers")
    if isinstance(raw, list):
        answers.extend(a for a in raw if isinstance(a, dict))
    out = []
    resolved = []
    for a in answers:
        ans: dict[str, Any] = {}
        for key, name in (("rrname", "name"), ("rrtype", "type"), ("rdata", "data"), ("ttl", "ttl")):
            if a.get(key) is not None:
                ans[name] = a[key]
        if ans:
            out.append(ans)
        ip = valid_ip(a["rdata"]) if isinstance(a.get("rdata"), str) else None
        if ip is not None and ip not in resolved:
            resolved.append(ip)
    if out:
        set_path(doc, "dns.answers", out)
    if resolved:
        set_path(doc, "dns.resolved_ip", resolved)


def _tls(doc: Doc, tls: dict[str, Any]) -> None:
    """ECS tls.* from an EVE tls record."""
    version = tls.get("version")
    if isinstance(version, str) and " " in version:
        proto, _, number = version.partition(" ")
        set_path(doc, "tls.version_protocol", proto.lower())
        set_path(doc, "tls.version", number)
    sni = tls.get("sni")
    if isinstance(sni, str) and sni:
        set_path(doc, "tls.client.server_name", sni)
        set_path(doc, "destination.domain", sni)
    for key, field in (("subject", "tls.server.subject"), ("issuerdn", "tls.server.issuer")):
        value = tls.get(key)
        if isinstance(value, str) and value:
            set_path(doc, field, value)
    fp = tls.get("fingerprint")
    if isinstance(fp, str) and fp:
        set_path(doc, "tls.server.hash.sha1", fp.replace(":", "").upper())
    serial = tls.get("serial")
    if isinstance(serial, str) and serial:
        set_path(doc, "tls.server.x509.serial_number", serial.replace(":", "").upper())
    for key, field in (("notbefore", "tls.server.not_before"), ("notafter", "tls.server.not_after")):
        value = tls.get(key)
        if isinstance(value, str) and value:
            try:  # Suricata writes certificate validity in UTC without a zone
                set_path(doc, field, iso(datetime.fromisoformat(value).replace(tzinfo=UTC)))
            except ValueError:
                pass
    for key, field in (("ja3", "tls.client.ja3"), ("ja3s", "tls.server.ja3s")):
        value = tls.get(key)
        if isinstance(value, dict) and isinstance(value.get("hash"), str):
            set_path(doc, field, value["hash"])
    if isinstance(tls.get("session_resumed"), bool):
        set_path(doc, "tls.resumed", tls["session_resumed"])


def _fileinfo(doc: Doc, info: dict[str, Any]) -> None:
    """ECS file.* from an EVE fileinfo record."""
    name = info.get("filename")
    if isinstance(name, str) and name:
        set_path(doc, "file.path", name)
        set_path(doc, "file.name", name.rstrip("/").rsplit("/", 1)[-1])
    size = _int(info.get("size"))
    if size is not None:
        set_path(doc, "file.size", size)
    for algo in ("md5", "sha1", "sha256"):
        value = info.get(algo)
        if isinstance(value, str) and value:
            set_path(doc, f"file.hash.{algo}", value)
    magic = info.get("magic")
    if isinstance(magic, str) and magic:
        set_path(doc, "file.type", magic)


def _flow(doc: Doc, flow: dict[str, Any], ctx: ParseContext) -> None:
    """Byte and packet counters and start/end of the flow an EVE record belongs to."""
    totals = {"bytes": 0, "packets": 0}
    for key, field in (
        ("bytes_toserver", "source.bytes"),
        ("bytes_toclient", "destination.bytes"),
        ("pkts_toserver", "source.packets"),
        ("pkts_toclient", "destination.packets"),
    ):
        value = _int(flow.get(key))
        if value is not None:
            set_path(doc, field, value)
            totals[field.rsplit(".", 1)[1]] += value
    for name, total in totals.items():
        if total:
            set_path(doc, f"network.{name}", total)
    for key in ("start", "end"):
        if key in flow:
            try:
                set_path(doc, f"event.{key}", iso(_ts(flow[key], ctx)))
            except (ValueError, OverflowError):
                pass


def _alert(doc: Doc, alert: dict[str, Any]) -> None:
    """A signature match: the rule, the severity and what the engine did with the packet."""
    set_path(doc, "event.kind", "alert")
    set_path(doc, "event.category", ["network", "intrusion_detection"])
    action = alert.get("action")
    if isinstance(action, str) and action:
        set_path(doc, "event.action", action.lower())
        if action.lower() == "blocked":
            set_path(doc, "event.type", ["denied"])
        elif action.lower() == "allowed":
            set_path(doc, "event.type", ["allowed"])
        else:
            set_path(doc, "event.type", ["info"])
    else:
        set_path(doc, "event.type", ["info"])
    sid = _int(alert.get("signature_id"))
    if sid is not None:
        set_path(doc, "rule.id", str(sid))
    for key, field in (("signature", "rule.name"), ("category", "rule.category")):
        value = alert.get(key)
        if isinstance(value, str) and value:
            set_path(doc, field, value)
    rev = _int(alert.get("rev"))
    if rev is not None:
        set_path(doc, "rule.version", str(rev))
    severity = _int(alert.get("severity"))
    if severity is not None:
        set_path(doc, "event.severity", severity)
        set_severity(doc, severity, RULE_PRIORITY)  # the rule's classification priority, 1 highest


def _classify(doc: Doc, event_type: str, record: dict[str, Any]) -> None:
    """event.kind/category/type/outcome of the non-alert record types."""
    if event_type == "stats":
        set_path(doc, "event.kind", "metric")
        set_path(doc, "event.category", ["network"])
        set_path(doc, "event.type", ["info"])
        return
    set_path(doc, "event.kind", "event")
    set_path(doc, "event.category", ["network"])
    if event_type == "flow" or event_type == "netflow":
        set_path(doc, "event.type", ["connection", "end"])
    elif event_type == "drop":
        set_path(doc, "event.type", ["connection", "denied"])
        set_path(doc, "event.action", "drop")
    elif event_type in _HTTP_TYPES:
        set_path(doc, "event.category", ["network", "web"])
        set_path(doc, "event.type", ["access", "protocol"])
        status = _int((record.get("http") or {}).get("status"))
        if status is not None:
            set_path(doc, "event.outcome", "success" if status < 400 else "failure")
    elif event_type == "fileinfo":
        set_path(doc, "event.type", ["info"])
    elif event_type == "anomaly":
        set_path(doc, "event.type", ["info"])
    else:
        set_path(doc, "event.type", ["protocol"])


@register_message("suricata_eve", sniff=_sniff, priority=20)
def enrich_suricata_eve(body: str, doc: Doc, ctx: ParseContext) -> None:
    """Read one Suricata EVE JSON record into ECS fields of `doc`, in place."""
    record = decode_json(body, "suricata_json_invalid")
    if not isinstance(record, dict) or not isinstance(record.get("event_type"), str):
        raise ParseError("suricata_not_eve", "no event_type in the JSON object")
    event_type: str = record["event_type"]

    set_observer_dataset(doc, "suricata", "suricata", "ids", "eve")
    try:
        set_path(doc, "@timestamp", iso(_ts(record.get("timestamp"), ctx)))
    except (ValueError, OverflowError):
        doc.setdefault("tags", []).append(TAG_TIMESTAMP_INVALID)

    set_endpoint(doc, "source", record.get("src_ip"), _int(record.get("src_port")))
    set_endpoint(doc, "destination", record.get("dest_ip"), _int(record.get("dest_port")))
    proto = record.get("proto")
    if isinstance(proto, str) and proto:
        set_path(doc, "network.transport", proto.lower())
    elif isinstance(proto, int):
        set_path(doc, "network.iana_number", str(proto))
    app = record.get("app_proto")
    if isinstance(app, str) and app and app not in ("failed", "unknown"):
        set_path(doc, "network.protocol", app.lower())
    elif event_type in _HTTP_TYPES or event_type in ("dns", "tls", "ssh", "smtp", "smb"):
        set_path(doc, "network.protocol", "http" if event_type == "http2" else event_type)
    if isinstance(record.get("community_id"), str):
        set_path(doc, "network.community_id", record["community_id"])
    vlan = record.get("vlan")
    if isinstance(vlan, list) and vlan and _int(vlan[0]) is not None:
        set_path(doc, "network.vlan.id", str(vlan[0]))
    iface = record.get("in_iface")
    if isinstance(iface, str) and iface:
        set_path(doc, "observer.ingress.interface.name", iface)
    ether = record.get("ether")
    if isinstance(ether, dict):
        for key, field in (("src_mac", "source.mac"), ("dest_mac", "destination.mac")):
            mac = _mac(ether.get(key))
            if mac is not None:
                set_path(doc, field, mac)

    _classify(doc, event_type, record)
    alert = record.get("alert")
    if event_type == "alert" and isinstance(alert, dict):
        _alert(doc, alert)
    for key, fn in (("http", _http), ("dns", _dns), ("tls", _tls), ("fileinfo", _fileinfo)):
        value = record.get(key)
        if isinstance(value, dict):
            fn(doc, value)
    flow = record.get("flow")
    if isinstance(flow, dict):
        _flow(doc, flow, ctx)

    set_path(doc, "suricata.eve.event_type", event_type)
    if record.get("flow_id") is not None:
        set_path(doc, "suricata.eve.flow_id", str(record["flow_id"]))
    if _int(record.get("tx_id")) is not None:
        set_path(doc, "suricata.eve.tx_id", record["tx_id"])
    for key in (event_type, "alert") if event_type in _KEPT_RECORDS else ("alert",):
        value = record.get(key)
        if isinstance(value, dict):
            set_path(doc, f"suricata.eve.{key}", value)
    relate_ips(doc, body)
