"""The rule library (rules/): conventions, and every rule against the events beside it.

Each rule `rules/<area>/<name>.yml` has `rules/<area>/<name>.examples.yml`:

    match:        # each must make the rule match (a correlation: raise its alert)
      - raw: "<86>Nov 25 10:00:00 web01 sshd[1]: Failed password for root from 203.0.113.5 port 1 ssh2"
        format: syslog          # optional, the format hint (default: detect from the content)
        device: {vendor: topsec, type: firewall}   # optional, the source's declared device
      - event: {process: {name: sshd}, ...}        # or an ECS document as normalize makes it
    no_match:
      - raw: ...

For a correlation rule each item is a scenario: `events: [item, ...]`, where an item may carry
`repeat: N` (N copies; `{i}` in its strings becomes 0..N-1) and `every: S` (seconds between
ECS-document copies without their own @timestamp; default 1). Raw lines go through the real
normalize stage; the whole library is loaded, so a rule is tested among all the others.
"""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from detectors.rules import EXAMPLES_SUFFIX, CorrelationSpec, RuleSet, load_rules, repeat_example
from soc.model import Doc, RawRecord, iso
from soc.stream.detect import evaluate
from soc.stream.normalize import normalize_record

RULES = Path(__file__).resolve().parents[2] / "rules"
RECEIVED = datetime(2026, 11, 25, 2, 0, tzinfo=UTC)
HAN = re.compile(r"[\u4e00-\u9fff]")
ATTACK_TECHNIQUE = re.compile(r"^attack\.t\d{4}(\.\d{3})?$")
LEVELS = {"informational", "low", "medium", "high", "critical"}


def rule_files() -> list[Path]:
    return sorted(p for p in RULES.rglob("*.yml") if not p.name.endswith(EXAMPLES_SUFFIX))


def examples_of(rule: Path) -> Path:
    return rule.with_name(rule.name[: -len(".yml")] + EXAMPLES_SUFFIX)


@pytest.fixture(scope="module")
def library() -> RuleSet:
    return load_rules([RULES])


def test_the_whole_library_loads(library: RuleSet) -> None:
    assert not library.errors
    assert len(library.rules) + len(library.correlations) == len(rule_files())


@pytest.mark.parametrize("path", rule_files(), ids=lambda p: str(p.relative_to(RULES)))
def test_rule_follows_the_conventions(path: Path) -> None:
    rule = yaml.safe_load(path.read_text(encoding="utf-8"))
    uuid.UUID(str(rule["id"]))
    assert rule.get("level") in LEVELS, "level"
    assert HAN.search(rule["title"]), "title in Chinese"
    assert rule.get("title_en") and not HAN.search(rule["title_en"]), "title_en in English"
    assert HAN.search(rule.get("description", "")), "description in Chinese"
    assert rule.get("description_en") and not HAN.search(rule["description_en"]), "description_en in English"
    techniques = [t for t in rule.get("tags", []) if ATTACK_TECHNIQUE.match(t)]
    assert techniques, "at least one ATT&CK technique tag (attack.tNNNN)"
    assert examples_of(path).is_file(), f"{examples_of(path).name} beside the rule"


def test_rule_ids_and_names_are_unique() -> None:
    ids, names = [], []
    for path in rule_files():
        rule = yaml.safe_load(path.read_text(encoding="utf-8"))
        ids.append(str(rule["id"]))
        if "name" in rule:
            names.append(rule["name"])
    assert len(ids) == len(set(ids))
    assert len(names) == len(set(names))


def _event(item: dict[str, Any], at: datetime, n: int) -> Doc:
    if "raw" in item:
        device = item.get("device") or {}
        record = RawRecord(item["raw"].encode(), int(RECEIVED.timestamp() * 1e9) + n, "syslog-udp", "192.0.2.1:514",
                           "examples", item.get("format", ""), device={k: str(v) for k, v in device.items()})
        key, doc = normalize_record(record)
        assert key is not None, f"example line not parsed: {item['raw']!r}: {doc['soc']['deadletter']['error']}"
        return doc
    doc = dict(item["event"])
    doc.setdefault("@timestamp", iso(at))
    doc.setdefault("event", {})
    doc["event"] = {"id": f"example-{n}", **doc["event"]}
    return doc


def scenario(items: list[dict[str, Any]]) -> list[Doc]:
    docs: list[Doc] = []
    at = RECEIVED
    for item in items:
        for i in range(int(item.get("repeat", 1))):
            docs.append(_event(repeat_example(item, i), at, len(docs)))
            at += timedelta(seconds=float(item.get("every", 1)))
    return docs


def _cases() -> list[tuple[Path, str, int]]:
    cases = []
    for path in rule_files():
        ex = examples_of(path)
        if not ex.is_file():
            continue
        data = yaml.safe_load(ex.read_text(encoding="utf-8")) or {}
        for kind in ("match", "no_match"):
            cases.extend((path, kind, k) for k in range(len(data.get(kind) or [])))
    return cases


def test_every_rule_has_events_that_match_and_events_that_do_not() -> None:
    for path in rule_files():
        ex = examples_of(path)
        data = yaml.safe_load(ex.read_text(encoding="utf-8")) if ex.is_file() else {}
        assert data.get("match"), f"{ex.name}: no `match` example"
        assert data.get("no_match"), f"{ex.name}: no `no_match` example"


@pytest.mark.parametrize(("path", "kind", "k"), _cases(), ids=lambda v: str(v.relative_to(RULES)) if isinstance(v, Path) else str(v))
def test_rule_example(library: RuleSet, path: Path, kind: str, k: int) -> None:
    rule_id = str(yaml.safe_load(path.read_text(encoding="utf-8"))["id"])
    item = yaml.safe_load(examples_of(path).read_text(encoding="utf-8"))[kind][k]
    docs = scenario(item["events"] if "events" in item else [item])
    hits = [h for h in evaluate(library, docs) if h.rule.meta.id == rule_id]
    if kind == "match":
        assert hits, f"{path.name} {kind}[{k}] did not match: {[d.get('event') for d in docs][:3]}"
        if any(isinstance(h.rule, CorrelationSpec) for h in hits):
            return
        assert all(h.indexes for h in hits)
    else:
        assert not hits, f"{path.name} {kind}[{k}] matched but must not"
