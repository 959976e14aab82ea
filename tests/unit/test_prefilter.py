"""The cross-rule prefilter never changes what matches: with it and without it, the same rules
match, on events built from the very literals the rules look for (and near misses of them)."""

from __future__ import annotations

from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st
from tests.unit.test_fuzz_parsers import FUZZ
from tests.unit.test_sigma_matcher import ruleset

from detectors.rules import RuleSet, load_rules

SIGMAHQ = Path(__file__).resolve().parents[2].parent / "shared" / "corpus" / "sigma"
RULES = Path(__file__).resolve().parents[2] / "rules"

CRAFTED = """
title: Web attack strings
logsource: {category: webserver}
detection:
    sqli:
        url.original|contains: ['union select', 'sleep(', "' or 1=1"]
    traversal:
        url.original|contains|all: ['../', 'etc/passwd']
    scanner:
        user_agent.original|startswith: ['sqlmap', 'nikto']
    condition: 1 of *
---
title: Shell spawned with download
logsource: {product: linux}
detection:
    sel:
        process.command_line|contains: ['curl ', 'wget ']
        process.command_line|endswith: ['| sh', '|bash']
    filter:
        user.name: backup
    condition: sel and not filter
---
title: Keywords
logsource: {product: linux}
detection:
    keywords: ['segfault at', 'Out of memory: Kill*process']
    condition: keywords
---
title: No literal at all
logsource: {category: firewall}
detection:
    sel:
        destination.port: [23, 21]
        source.ip|cidr: 10.0.0.0/8
    condition: sel
---
title: Pattern in the middle
logsource: {product: windows}
detection:
    sel:
        process.executable: 'C:\\Windows\\*\\rundll32.exe'
    condition: sel
"""

FIELDS = ["url.original", "user_agent.original", "process.command_line", "process.executable", "user.name",
          "message", "event.original", "destination.port", "source.ip", "rule.name", "observer.type",
          "event.action", "event.outcome", "process.name"]


def _literals(rs: RuleSet) -> list[str]:
    lits = sorted({str(v) if kind != "num" else str(int(v)) for r in rs.rules for kind, _, v in (r.need or ())})
    return lits or ["x"]


def _doc(draw: st.DrawFn, literals: list[str]) -> dict:
    doc: dict = {}
    for field in draw(st.lists(st.sampled_from(FIELDS), min_size=1, max_size=6, unique=True)):
        pieces = draw(st.lists(st.one_of(st.sampled_from(literals), st.text(max_size=6),
                                         st.sampled_from(["../", "| sh", "10.1.2.3", "23", "C:\\Windows\\"])),
                               min_size=1, max_size=4))
        value: object = "".join(pieces)
        if draw(st.booleans()):
            value = value.upper() if draw(st.booleans()) else [value, draw(st.sampled_from(literals))]
        cur = doc
        *parents, last = field.split(".")
        for p in parents:
            cur = cur.setdefault(p, {})
        cur[last] = value
    return doc


LIBRARY = None


def _library() -> RuleSet:
    global LIBRARY
    if LIBRARY is None:
        sigmahq = [SIGMAHQ / "rules" / "web", SIGMAHQ / "rules" / "linux" / "process_creation"]
        LIBRARY = load_rules([RULES, *sigmahq], pipeline="none")  # every rule meets every event
    return LIBRARY


@st.composite
def crafted_doc(draw: st.DrawFn) -> dict:
    return _doc(draw, _literals(ruleset(CRAFTED)))


@st.composite
def library_doc(draw: st.DrawFn) -> dict:
    return _doc(draw, _literals(_library()))


@FUZZ
@given(crafted_doc())
def test_prefilter_agrees_on_crafted_rules(doc: dict) -> None:
    rs = ruleset(CRAFTED)
    assert [r.meta.title for r in rs.match(doc)] == [r.meta.title for r in rs.match_all(doc)]


@FUZZ
@given(library_doc())
def test_prefilter_agrees_on_the_library_and_sigmahq_rules(doc: dict) -> None:
    rs = _library()
    assert [r.meta.id for r in rs.match(doc)] == [r.meta.id for r in rs.match_all(doc)]


def test_prefilter_skips_most_rules_for_an_ordinary_event() -> None:
    rs = _library()
    assert sum(r.need is not None for r in rs.rules) > len(rs.rules) / 2
    doc = {"url": {"original": "/index.html"}, "process": {"command_line": "/usr/bin/ls -l"}, "message": "ok"}
    routed, prefilter = rs._routed(frozenset(k for r in rs.rules for k in (r.keys or ())))
    assert len(prefilter.candidates(doc)) < len(routed) / 2
