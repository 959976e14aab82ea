"""The queries a retro-hunt sends to Elasticsearch, without Elasticsearch: every rule of the library
converts, every string field a rule searches has the lowercased sub-field the query relies on, and
strings go to it lowercased unless the rule says `|cased`. (What Elasticsearch then finds is
tests/integration/test_sigma_parity.py and test_lucene_regex.py.)"""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import pytest
from sigma.collection import SigmaCollection
from sigma.rule import SigmaDetection, SigmaRule

from detectors.pipelines import load_pipeline
from detectors.rules import load_collection
from soc.store.lucene import SocLuceneBackend, case_blind, folded_field
from soc.store.templates import COMMON_FIELDS

RULES = Path(__file__).resolve().parents[2] / "rules"
NOT_STRINGS = {"ip", "long", "float", "date", "boolean", "geo_point"}


def backend() -> SocLuceneBackend:
    return SocLuceneBackend(processing_pipeline=load_pipeline("ecs"))


def fields_of(detection: SigmaDetection) -> set[str]:
    out: set[str] = set()
    for item in detection.detection_items:
        if isinstance(item, SigmaDetection):
            out |= fields_of(item)
        elif item.field:
            out.add(item.field)
    return out


def test_every_library_rule_converts_and_every_field_it_searches_is_mapped() -> None:
    collection, errors = load_collection([RULES])
    assert not errors
    b = backend()
    unmapped: dict[str, str] = {}
    for rule in collection:
        if not isinstance(rule, SigmaRule):
            continue
        b.convert_rule(rule)  # raises on what the backend cannot express
        for detection in rule.detection.detections.values():
            for name in fields_of(detection):
                base = name.removesuffix(".ci")
                if base not in COMMON_FIELDS:
                    unmapped[base] = rule.title
    assert unmapped == {}, "fields the library searches that the index template does not map"


def convert(yaml_text: str) -> str:
    [rule] = SigmaCollection.from_yaml(textwrap.dedent(yaml_text)).rules
    return backend().convert_rule(rule)[0]


def test_strings_are_compared_on_the_lowercased_field_unless_cased() -> None:
    q = convert("""
        title: t
        logsource: {product: linux}
        detection:
            a: {user.name: ROOT, process.name|cased: SSHD, source.ip: 10.0.0.1, destination.port: 22}
            condition: a
    """)
    assert "user.name.ci:root" in q
    assert "process.name:SSHD" in q
    assert "source.ip:10.0.0.1" in q and "source.ip.ci" not in q
    assert "destination.port:22" in q


def test_a_regex_that_ignores_case_runs_on_the_lowercased_field_and_others_on_the_field() -> None:
    q = convert(r"""
        title: t
        logsource: {product: linux}
        detection:
            a: {process.command_line|re|i: 'CURL\s', user.name|re: '^Adm'}
            condition: a
    """)
    assert re.search(r"process\.command_line\.ci:/[^/]*curl", q)
    assert "user.name:/" in q


def test_a_case_sensitive_regex_on_a_field_indexed_only_lowercased_is_refused() -> None:
    with pytest.raises(Exception, match="indexed lowercased only"):
        convert("""
            title: t
            logsource: {product: linux}
            detection:
                a: {message|re: 'Accepted'}
                condition: a
        """)


@pytest.mark.parametrize(("pattern", "blind"), [
    (r"(?i)Accepted", True), (r"\d+\.\d+", True), (r"accepted", False), (r"[A-Z]", False),
    (r"(?i:a)b", False), (r"\s*[:：]\s*", True), (r"组名", True),
])
def test_case_blind(pattern: str, blind: bool) -> None:
    assert case_blind(pattern, re.ASCII) is blind
    # What "blind" promises: the lowercased text is found exactly when the text is.
    for text in ("Accepted 1.2", "ACCEPTED", "accepted", "Xb", "组名 ： x", "ab"):
        if blind:
            assert bool(re.search(pattern, text, re.ASCII)) == bool(re.search(pattern, text.lower(), re.ASCII))


def test_vendor_fields_outside_the_template_have_no_lowercased_field() -> None:
    assert folded_field("user.name") == "user.name.ci"
    assert folded_field("source.ip") is None
    assert folded_field("vendor.some_extra") is None
    assert {m["type"] for m in COMMON_FIELDS.values() if "ci" in m.get("fields", {})}.isdisjoint(NOT_STRINGS)


def test_values_on_an_address_field_become_blocks_or_match_nothing() -> None:
    q = convert("""
        title: t
        logsource: {product: linux}
        detection:
            a: {source.ip: ['127.*', '10.1.*', '::1', '-'], destination.ip|contains: '-'}
            condition: a
    """)
    assert r"source.ip:127.0.0.0\/8" in q and r"source.ip:10.1.0.0\/16" in q and r"source.ip:\:\:1" in q
    # '-' and '*-*' are no address: nothing matches them, in the stream or in Elasticsearch.
    assert "(_exists_:destination.ip AND NOT _exists_:destination.ip)" in q
    with pytest.raises(Exception, match="whole octets"):
        convert("""
            title: t
            logsource: {product: linux}
            detection:
                a: {source.ip: '10.1*'}
                condition: a
        """)
