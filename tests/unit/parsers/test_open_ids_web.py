"""Open-source IDS, WAF, web-server and netfilter formats against Elastic's expected ECS documents.

Each corpus input line is parsed the way the pipeline parses it (envelope detection, then the
message format, no format hint) and its key ECS fields are compared with the document Elastic's
own ingest pipeline produced for that line. Pairs are made by event.original (its first line:
Elastic's multiline settings glued some lines together) or, where Elastic kept no original, by
position when the counts agree. The agreement figure of a format is
agreeing key fields / key fields present in Elastic's documents.
"""

from __future__ import annotations

import ipaddress
import json
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from collectors.parsers import ParseContext, parse
from soc.model import get_path

PACKAGES = Path(__file__).resolve().parents[3].parent / "shared" / "corpus" / "elastic-integrations" / "packages"

KEY_FIELDS = (
    "@timestamp", "source.ip", "source.port", "destination.ip", "destination.port",
    "network.transport", "event.action", "event.outcome", "event.category", "user.name",
    "url.original", "http.request.method", "http.response.status_code", "rule.id", "rule.name",
    "observer.vendor", "observer.product",
)
FLOOR = 0.95
UTC = ZoneInfo("UTC")


@dataclass(frozen=True)
class Case:
    """One corpus input with its expected documents and the settings of Elastic's test."""

    path: str  # under PACKAGES
    received: str = "2024-12-31T00:00:00+00:00"  # year-less lines take this year, as Elastic's run did
    tz: ZoneInfo = UTC
    # Fields not compared for this input, each with the reason (see EXCLUDED below for the format).
    skip: tuple[str, ...] = ()


@dataclass
class Score:
    """Agreement counters of one format."""

    present: int = 0
    agree: int = 0
    lines: int = 0
    recognized: int = 0
    misses: list[str] = field(default_factory=list)

    @property
    def ratio(self) -> float:
        return self.agree / self.present if self.present else 0.0


# Fields where Elastic's value is arguably wrong or a choice this platform does not share;
# they are left out of the comparison for the whole format.
EXCLUDED: dict[str, dict[str, str]] = {
    "suricata_eve": {
        # Elastic writes "OISF" (the foundation); the platform's convention is the lower-case
        # short product vendor name, "suricata" (observer.product is still compared).
        "observer.vendor": "project convention: lower-case short vendor name 'suricata'",
    },
    "snort_fast": {
        # Elastic puts the observer *type* in observer.product ("ids"); the product is Snort.
        "observer.product": "Elastic writes the type 'ids' as the product",
        # Elastic's snort alerts are only ["network"]; an IDS signature match is
        # ECS intrusion_detection too (Elastic's own suricata alerts say so).
        "event.category": "Elastic omits 'intrusion_detection' for IDS alerts",
    },
    "web_access": {},
    "iptables": {},
}

CASES: dict[str, list[Case]] = {
    "suricata_eve": [
        Case("suricata/data_stream/eve/_dev/test/pipeline/test-eve-6-0.log"),
        Case("suricata/data_stream/eve/_dev/test/pipeline/test-eve-metadata.log"),
        Case("suricata/data_stream/eve/_dev/test/pipeline/test-eve-small.log"),
        Case("suricata/data_stream/eve/_dev/test/pipeline/test-eve-tls-empty-issuerdn.log"),
        Case("suricata/data_stream/eve/_dev/test/pipeline/test-eve-tls-empty-subject.log"),
    ],
    "snort_fast": [
        # test-common-config.yml: tz_offset America/Chicago; Elastic's run gave these lines 2022.
        Case("snort/data_stream/log/_dev/test/pipeline/test-log-syslog.log",
             received="2022-12-31T00:00:00+00:00", tz=ZoneInfo("America/Chicago")),
    ],
    "web_access": [
        Case("nginx/data_stream/access/_dev/test/pipeline/test-test-with-host.log"),
        Case("apache/data_stream/access/_dev/test/pipeline/test-access-basic.log",
             # "-" is the common log format's "no user", not a user called "-".
             skip=("user.name",)),
        Case("apache/data_stream/access/_dev/test/pipeline/test-access-ssl-request.log"),
        Case("apache/data_stream/access/_dev/test/pipeline/test-access-vhost.log", skip=("user.name",)),
        Case("nginx/data_stream/error/_dev/test/pipeline/test-error-raw.log"),
        # config: event.timezone GMT+2 (POSIX zone names invert the sign).
        Case("apache/data_stream/error/_dev/test/pipeline/test-error-basic.log", tz=ZoneInfo("Etc/GMT-2")),
        Case("apache/data_stream/error/_dev/test/pipeline/test-error-darwin.log", tz=ZoneInfo("Etc/GMT-2")),
        Case("apache/data_stream/error/_dev/test/pipeline/test-error-trace.log", tz=ZoneInfo("Etc/GMT-2")),
    ],
    "iptables": [
        Case("iptables/data_stream/log/_dev/test/pipeline/test-iptables-raw.log"),
        Case("iptables/data_stream/log/_dev/test/pipeline/test-ubiquiti.log"),
        # The journald record's @timestamp is set by the test config, not read from the line.
        Case("iptables/data_stream/log/_dev/test/pipeline/test-journald.json", skip=("@timestamp",)),
    ],
}

# event.module values each format writes (a line claimed by another module is not recognized).
MODULES = {
    "suricata_eve": {"suricata"},
    "snort_fast": {"snort"},
    "web_access": {"nginx", "apache", "web"},
    "iptables": {"iptables"},
}


def _flat_get(doc: dict[str, Any], path: str) -> Any:
    """A field of an expected document, nested or with a flat dotted key."""
    value = get_path(doc, path)
    return value if value is not None else doc.get(path)


def _inputs(path: Path) -> list[str]:
    """The raw events of an input file: its lines, or the messages of a {"events": [...]} file."""
    assert path.is_file(), f"corpus file missing: {path}"
    text = path.read_text(encoding="utf-8")
    if path.suffix == ".json":
        return [e["message"] for e in json.loads(text)["events"]]
    return [line for line in text.split("\n") if line.strip()]


def pairs(case: Case) -> list[tuple[str, dict[str, Any]]]:
    """(raw line, Elastic's document) pairs of a case.

    Where Elastic kept event.original, that is the raw line its pipeline read (its first line:
    some test configs glue lines); in some pairs of files the input and the expected file come
    from different commits, so the original, not the input file, is the line. Otherwise the
    input lines pair by position when the counts agree.
    """
    src = PACKAGES / case.path
    expected_path = src.with_name(src.name + "-expected.json")
    assert expected_path.is_file(), f"corpus file missing: {expected_path}"
    expected = json.loads(expected_path.read_text(encoding="utf-8"))["expected"]
    lines = _inputs(src)
    originals = [_flat_get(d, "event.original") for d in expected]
    if all(isinstance(o, str) for o in originals):
        return [(o.split("\n", 1)[0], d) for o, d in zip(originals, expected, strict=True)]
    if len(lines) == len(expected):
        return list(zip(lines, expected, strict=True))
    return []


def _norm(name: str, value: Any) -> Any:
    """A comparable form: IPs canonical, instants in UTC, categories as sets, names case-folded."""
    if value is None:
        return None
    if name.endswith(".ip"):
        try:
            return ipaddress.ip_address(value)
        except ValueError:
            return value
    if name == "@timestamp":
        return datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    if name == "event.category":
        return frozenset([value] if isinstance(value, str) else value)
    if name.startswith("observer."):
        return str(value).lower()
    if name in ("rule.id", "rule.name") and isinstance(value, list) and len(value) == 1:
        return str(value[0])
    if name == "rule.id":
        return str(value)
    return value


def score(fmt: str) -> Score:
    """Parse every paired corpus line of a format and count agreeing key fields."""
    s = Score()
    for case in CASES[fmt]:
        ctx = ParseContext(
            source_id="corpus", received_at=datetime.fromisoformat(case.received), timezone=case.tz
        )
        for line, expected in pairs(case):
            s.lines += 1
            doc = parse(line, "", ctx).doc
            if get_path(doc, "event.module") in MODULES[fmt]:
                s.recognized += 1
            for name in KEY_FIELDS:
                if name in case.skip or name in EXCLUDED[fmt]:
                    continue
                want = _norm(name, _flat_get(expected, name))
                if want is None:
                    continue
                s.present += 1
                got = _norm(name, get_path(doc, name))
                if got == want:
                    s.agree += 1
                else:
                    s.misses.append(f"{case.path.rsplit('/', 1)[-1]}: {name}: {got!r} != {want!r} | {line[:90]}")
    return s


@pytest.mark.parametrize("fmt", sorted(CASES))
def test_agreement_with_elastic(fmt: str) -> None:
    s = score(fmt)
    print(f"\n{fmt}: lines {s.recognized}/{s.lines} recognized, fields {s.agree}/{s.present} = {s.ratio:.3f}")
    for miss in s.misses:
        print("   ", miss)
    assert s.lines > 0, "no corpus line could be paired with Elastic's documents"
    assert s.recognized == s.lines
    assert s.ratio >= FLOOR, "\n".join(s.misses)
