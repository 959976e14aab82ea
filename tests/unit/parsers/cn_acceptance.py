"""Shared acceptance checks for the Chinese-vendor corpus tests (test_cn_<vendor>.py).

For every corpus line of a vendor whose category is a security-device category: parse(raw,
"syslog") must name the vendor, give an observer.type and event.category that fit the category,
and carry every IP address written in the line in an ECS field.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from collectors.parsers import DeviceHint, ParseContext, parse
from collectors.parsers.kv import IPV4, IPV6, valid_ip
from soc.model import get_path

CORPUS = Path(__file__).resolve().parents[3].parent / "shared" / "corpus" / "cn-vendors" / "samples.jsonl"

IN_SCOPE = frozenset({"firewall", "ips", "ids", "waf", "bastion", "os", "antidos", "apt", "vpn", "edr", "eps",
                      "antivirus", "utm"})  # fmt: skip
# Corpus category -> the observer.type values that fit it.
EXPECTED_TYPE: dict[str, frozenset[str]] = {
    "firewall": frozenset({"firewall"}),
    "ips": frozenset({"ips", "ids"}),
    "ids": frozenset({"ips", "ids"}),
    "apt": frozenset({"ips", "ids"}),
    "antidos": frozenset({"ips", "ids"}),
    "waf": frozenset({"waf"}),
    "bastion": frozenset({"bastion"}),
    "vpn": frozenset({"vpn"}),
    "edr": frozenset({"edr"}),
    "eps": frozenset({"edr"}),
    "antivirus": frozenset({"antivirus"}),
    "utm": frozenset({"utm"}),
    "os": frozenset({"host"}),
}
# A firewall's web application protection module (Sangfor NGAF `WAF应用防护日志`, the H3C SecPath
# WAF module) reports as a WAF, so that the WAF rules (routed by observer.type) see it: for such a
# line of a firewall, observer.type waf with "web" in event.category fits too.
MODULE_TYPES: dict[str, frozenset[str]] = {"firewall": frozenset({"waf"})}
# The device category's own event categories; a management / system line of the device may
# instead be authentication, configuration, host... (what the line says it is).
PRIMARY: dict[str, frozenset[str]] = {
    "firewall": frozenset({"network"}),
    "ips": frozenset({"intrusion_detection", "network"}),
    "ids": frozenset({"intrusion_detection", "network"}),
    "apt": frozenset({"intrusion_detection", "network"}),
    "antidos": frozenset({"intrusion_detection", "network"}),
    "waf": frozenset({"web", "intrusion_detection", "network"}),  # NAT / traffic records of a WAF
    "bastion": frozenset({"authentication", "session", "process"}),
    "vpn": frozenset({"network", "authentication"}),
    "edr": frozenset({"malware", "host"}),
    "eps": frozenset({"malware", "host"}),
    # Antivirus gateways (Leadsec, Topsec) run firewall firmware: their packet-filter records are network.
    "antivirus": frozenset({"malware", "host", "network"}),
    "utm": frozenset({"network", "intrusion_detection"}),
    # A host's own logs include its packet filter (Windows Filtering Platform 5156, iptables) and
    # the servers it runs (an nginx access log): network and web, as the line says.
    "os": frozenset({"host", "network", "web"}),
}
MANAGEMENT = frozenset({"authentication", "configuration", "host", "iam", "session", "process", "file"})
ECS_CATEGORIES = frozenset({
    "api", "authentication", "configuration", "database", "driver", "email", "file", "host", "iam",
    "intrusion_detection", "library", "malware", "network", "package", "process", "registry", "session",
    "threat", "vulnerability", "web",
})  # fmt: skip
ECS_TYPES = frozenset({
    "access", "admin", "allowed", "change", "connection", "creation", "deletion", "denied", "end", "error",
    "group", "indicator", "info", "installation", "protocol", "start", "user",
})  # fmt: skip


# Corpus category -> the observer.type an operator declares for such a device.
DECLARED_TYPE: dict[str, str] = {
    "firewall": "firewall", "ips": "ips", "ids": "ids", "apt": "ids", "antidos": "ips", "waf": "waf",
    "bastion": "bastion", "vpn": "vpn", "edr": "edr", "eps": "edr", "antivirus": "antivirus", "utm": "utm",
    "os": "host",
}  # fmt: skip


def ctx(device: DeviceHint | None = None) -> ParseContext:
    """A Beijing-time context received on 2024-01-01 (from a declared device, if given)."""
    return ParseContext("cn-test", datetime(2024, 1, 1, tzinfo=UTC), ZoneInfo("Asia/Shanghai"), device=device)


def declared_ctx(rec: dict[str, Any]) -> ParseContext:
    """The context of a source declared, in the sources file, as the device the corpus names."""
    return ctx(DeviceHint(vendor=rec["vendor"], product=rec["product"], type=DECLARED_TYPE[rec["category"]]))


_CTX = ctx  # check_line's `ctx` parameter hides the function


def corpus_lines(vendor: str) -> list[dict[str, Any]]:
    """The corpus records of one vendor (the test fails, not skips, when the corpus is missing)."""
    assert CORPUS.is_file(), f"corpus missing: {CORPUS}"
    lines = [json.loads(line) for line in CORPUS.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [rec for rec in lines if rec["vendor"] == vendor]


def raw_with(vendor: str, needle: str) -> str:
    """The one corpus line of vendor that contains needle."""
    found = [rec["raw"] for rec in corpus_lines(vendor) if needle in rec["raw"]]
    assert found, needle
    return found[0]


def _values(doc: Any, prefix: str = "") -> list[tuple[str, Any]]:
    out: list[tuple[str, Any]] = []
    if isinstance(doc, dict):
        for key, value in doc.items():
            out.extend(_values(value, f"{prefix}{key}."))
    elif isinstance(doc, list):
        for value in doc:
            out.extend(_values(value, prefix))
    else:
        out.append((prefix.rstrip("."), doc))
    return out


def missing_ips(raw: str, doc: dict[str, Any]) -> list[str]:
    """IP addresses written in raw that no ECS field (soc.* and message excluded) holds."""
    held = {
        valid_ip(v)
        for k, v in _values(doc)
        if isinstance(v, str) and not k.startswith("soc.") and k != "message"
    }
    written = [valid_ip(m.group(0)) for rx in (IPV4, IPV6) for m in rx.finditer(raw)]
    return sorted({ip for ip in written if ip and ip not in held})


def check_line(
    rec: dict[str, Any], hint: str = "syslog", check_type: bool = True, ctx: ParseContext | None = None
) -> list[str]:
    """The acceptance problems of one corpus line (empty when it passes), read with `ctx`
    (default: the Beijing-time context of a source that declares no device)."""
    raw, cat = rec["raw"], rec["category"]
    doc = parse(raw, hint, ctx if ctx is not None else _CTX()).doc
    problems = []
    if get_path(doc, "observer.vendor") != rec["vendor"]:
        problems.append(f"observer.vendor={get_path(doc, 'observer.vendor')!r}")
    if not get_path(doc, "observer.product"):
        problems.append("no observer.product")
    gone = missing_ips(raw, doc)
    if gone:
        problems.append(f"IPs not in ECS fields: {gone}")
    if cat in IN_SCOPE and check_type:
        cats = get_path(doc, "event.category") or []
        kind = get_path(doc, "observer.type")
        module = kind in MODULE_TYPES.get(cat, ()) and "web" in cats
        if kind not in EXPECTED_TYPE[cat] and not module:
            problems.append(f"observer.type={kind!r} for {cat}")
        if not cats or not set(cats) <= ECS_CATEGORIES:
            problems.append(f"event.category={cats!r} not ECS")
        elif not set(cats) & (PRIMARY[cat] | MANAGEMENT):
            problems.append(f"event.category={cats!r} does not fit {cat}")
        types = get_path(doc, "event.type") or []
        if not types or not set(types) <= ECS_TYPES:
            problems.append(f"event.type={types!r} not ECS")
        if get_path(doc, "event.kind") not in ("event", "alert", "metric"):
            problems.append(f"event.kind={get_path(doc, 'event.kind')!r}")
        outcome = get_path(doc, "event.outcome")
        if outcome is not None and outcome not in ("success", "failure", "unknown"):
            problems.append(f"event.outcome={outcome!r}")
    return problems


def assert_vendor_lines(
    vendors: tuple[str, ...], expected: int, shared: dict[str, str], unrecognized: tuple[str, ...]
) -> None:
    """Every corpus line of these vendors passes check_line, except the listed ones.

    `shared` maps a needle to the vendor that owns a line shape other vendors send too (read as
    the owner, the rest must still hold); `unrecognized` lists needles of lines with no marker.
    """
    from collectors.parsers import parse
    from soc.model import get_path

    records = [rec for v in vendors for rec in corpus_lines(v)]
    assert len(records) == expected
    failures = {}
    for rec in records:
        owner = next((o for needle, o in shared.items() if needle in rec["raw"]), None)
        if owner is not None:
            doc = parse(rec["raw"], "syslog", ctx()).doc
            assert get_path(doc, "observer.vendor") == owner, rec["raw"][:80]
            continue
        if any(n in rec["raw"] for n in unrecognized) or not rec["raw"].strip():
            continue
        problems = check_line(rec)
        if problems:
            failures[(rec["vendor"], rec["category"], rec["raw"][:90])] = problems
    assert not failures, failures
