"""related.ip: every IP address written in a line, so an analyst's search for an address finds it.

`addresses` finds them without trying the patterns at every position; these tests hold it to
the patterns' own answer (IPV4.finditer then IPV6.finditer, through valid_ip) on the real corpus
and on generated text, and to what an analyst expects of a few lines.
"""

from __future__ import annotations

import json
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from collectors.parsers.kv import addresses, relate_ips
from collectors.parsers.kv import addresses_by_pattern as by_the_patterns

CORPUS = Path(__file__).resolve().parents[3].parent / "shared" / "corpus"


def test_corpus_lines_give_what_the_patterns_give() -> None:
    lines = [json.loads(x)["raw"] for x in (CORPUS / "cn-vendors" / "samples.jsonl").open(encoding="utf-8") if x.strip()]
    for log in sorted((CORPUS / "elastic-integrations" / "packages").glob("*/data_stream/*/_dev/test/pipeline/test-*.log")):
        lines.extend(log.read_text(encoding="utf-8", errors="replace").splitlines())
    assert len(lines) > 900
    with_ips = 0
    for line in lines:
        found = addresses(line)
        assert found == by_the_patterns(line), line
        with_ips += bool(found)
    assert with_ips > len(lines) // 2  # the comparison is about lines that do hold addresses


# Pieces that make addresses, near-addresses and their neighbours (clock times, MACs, zone ids,
# versions, CJK text, non-ASCII digits).
PIECES = ["1.2.3.4", "10.0.0.255", "256.1.1.1", "01.2.3.4", "1.2.3", ".", "..", ":", "::", "fe80::1", "::1",
          "2001:db8::8:800:200c:417a", "1:2:3:4:5:6:7:8", "%eth0", "%", "::ffff:1.2.3.4", "12:34:56",
          "00:1a:2b:3c:4d:5e", "_", "a", "g", "F", "0", "9", " ", "=", "[", "]", "源地址", "١", "１", "v1.2.3.4.5"]


@settings(max_examples=3000, deadline=None)
@given(st.lists(st.sampled_from(PIECES), max_size=14).map("".join))
def test_generated_text_gives_what_the_patterns_give(text: str) -> None:
    assert addresses(text) == by_the_patterns(text)


@settings(max_examples=2000, deadline=None)
@given(st.text(alphabet="0123456789abcdefABCDEF:.%_ -x中١", max_size=60))
def test_random_text_gives_what_the_patterns_give(text: str) -> None:
    assert addresses(text) == by_the_patterns(text)


def test_an_analyst_finds_the_addresses_of_a_line_and_nothing_else() -> None:
    line = ("Dec  7 23:10:01 fw01 源地址=10.1.2.3 目的地址=2001:DB8::1 mac=00:1a:2b:3c:4d:5e "
            "nexthop=fe80::1%eth0 version=5.6.7.8.9 via 192.168.1.254. again 10.1.2.3")
    doc: dict = {}
    relate_ips(doc, line)
    assert doc["related"]["ip"] == ["10.1.2.3", "192.168.1.254", "2001:db8::1", "fe80::1"]


def test_a_line_without_addresses_leaves_the_document_alone() -> None:
    doc: dict = {}
    relate_ips(doc, "Dec  7 23:10:01 host sshd[42]: session opened for user root, version 1.2.3")
    assert doc == {}
