"""The compiled engine on the Sigma modifiers and constructs test_sigma_matcher.py leaves out,
and what the generated source looks like (one function per rule, merged OR lists)."""

from __future__ import annotations

import base64
import textwrap

from sigma.collection import SigmaCollection
from tests.unit.test_sigma_matcher import field_rule, matches, rule

from detectors.rules import compile_collection


def b64(s: str, encoding: str = "utf-8") -> str:
    return base64.b64encode(s.encode(encoding)).decode()


# --------------------------------------------------------------------------- encodings


def test_base64_matches_the_encoded_value() -> None:
    rs = field_rule("process.command_line|base64|contains", "'Invoke-Mimikatz'")
    assert matches(rs, {"process": {"command_line": f"powershell -enc x {b64('Invoke-Mimikatz')} y"}})
    assert not matches(rs, {"process": {"command_line": "Invoke-Mimikatz"}})


def test_base64offset_finds_the_value_at_any_alignment() -> None:
    rs = field_rule("process.command_line|base64offset|contains", "'http://'")
    for prefix in ("", "a", "ab"):
        encoded = b64(prefix + "http://203.0.113.9/x.sh")
        assert matches(rs, {"process": {"command_line": f"echo {encoded} | base64 -d | sh"}}), prefix
    assert not matches(rs, {"process": {"command_line": f"echo {b64('ftp://203.0.113.9/x.sh')}"}})


def test_utf16_wide_base64_as_powershell_encodes() -> None:
    rs = field_rule("process.command_line|wide|base64offset|contains", "'IEX'")
    encoded = base64.b64encode("x;IEX(New-Object Net.WebClient)".encode("utf-16-le")).decode()
    assert matches(rs, {"process": {"command_line": f"powershell -EncodedCommand {encoded}"}})


def test_windash_accepts_every_dash_form() -> None:
    rs = field_rule("process.command_line|windash|contains", "' -exec bypass'")
    for dash in ("-", "/", "–", "—", "―"):
        assert matches(rs, {"process": {"command_line": f"powershell {dash}exec bypass -nop"}}), dash
    assert not matches(rs, {"process": {"command_line": "powershell exec bypass"}})


# --------------------------------------------------------------------------- wildcards and escapes


def test_single_wildcard_and_escaped_wildcards() -> None:
    rs = field_rule("file.name", "'report?.doc'")
    assert matches(rs, {"file": {"name": "REPORT1.doc"}})
    assert not matches(rs, {"file": {"name": "report12.doc"}})
    literal = field_rule("file.name", r"'what\?.txt'")
    assert matches(literal, {"file": {"name": "what?.txt"}})
    assert not matches(literal, {"file": {"name": "whatx.txt"}})
    star = field_rule("url.original|contains", r"'/a\*b'")
    assert matches(star, {"url": {"original": "/x/a*b/y"}})
    assert not matches(star, {"url": {"original": "/x/aXXb/y"}})


def test_wildcard_in_the_middle() -> None:
    rs = field_rule("process.executable", r"'C:\\Windows\\*\\cmd.exe'")
    assert matches(rs, {"process": {"executable": r"c:\windows\system32\cmd.exe"}})
    assert not matches(rs, {"process": {"executable": r"D:\windows\system32\cmd.exe"}})


# --------------------------------------------------------------------------- numbers, regex, null, time


def test_numeric_comparisons() -> None:
    cases = {"gte": (1000, 999), "gt": (1001, 1000), "lte": (1000, 1001), "lt": (999, 1000)}
    for op, (yes, no) in cases.items():
        rs = field_rule(f"source.bytes|{op}", "1000")
        assert matches(rs, {"source": {"bytes": yes}}), op
        assert matches(rs, {"source": {"bytes": str(yes)}}), f"{op} on a numeric string"
        assert not matches(rs, {"source": {"bytes": no}}), op
        assert not matches(rs, {"source": {"bytes": "lots"}})


def test_regex_flags_m_and_s() -> None:
    multi = field_rule("message|re|m", "'^root$'")
    assert matches(multi, {"message": "user\nroot\nend"})
    assert not matches(field_rule("message|re", "'^root$'"), {"message": "user\nroot\nend"})
    dotall = field_rule("message|re|s", "'begin.*end'")
    assert matches(dotall, {"message": "begin\nmiddle\nend"})
    assert not matches(field_rule("message|re", "'begin.*end'"), {"message": "begin\nmiddle\nend"})


def test_null_means_absent() -> None:
    rs = rule("sel:\n    process.name: sshd\n    user.name: null\ncondition: sel")
    assert matches(rs, {"process": {"name": "sshd"}})
    assert not matches(rs, {"process": {"name": "sshd"}, "user": {"name": "root"}})


def test_time_parts_read_the_timestamp() -> None:
    night = field_rule("'@timestamp|hour'", "3")
    assert matches(night, {"@timestamp": "2026-11-25T03:15:00.000Z"})
    assert not matches(night, {"@timestamp": "2026-11-25T04:15:00.000Z"})
    month = field_rule("'@timestamp|month'", "11")
    assert matches(month, {"@timestamp": "2026-11-25T03:15:00.000Z"})


# --------------------------------------------------------------------------- keywords, conditions


def test_keywords_are_searched_in_the_line_and_message() -> None:
    rs = rule("keywords:\n    - 'segfault at'\n    - 'Out of memory: Kill*process'\ncondition: keywords")
    assert matches(rs, {"event": {"original": "kernel: php[123]: segfault at 0 ip"}})
    assert matches(rs, {"message": "Out of memory: Killed process 1234 (java)"})
    assert not matches(rs, {"message": "memory is fine"})


def test_one_of_and_all_of_patterns() -> None:
    det = textwrap.dedent("""
        sel_a: {process.name: curl}
        sel_b: {process.name: wget}
        filter_x: {user.name: backup}
        filter_y: {host.name: mirror}
        condition: 1 of sel_* and not all of filter_*
    """)
    rs = rule(det)
    assert matches(rs, {"process": {"name": "wget"}})
    assert matches(rs, {"process": {"name": "curl"}, "user": {"name": "backup"}})
    assert not matches(rs, {"process": {"name": "curl"}, "user": {"name": "backup"}, "host": {"name": "mirror"}})
    assert not matches(rs, {"process": {"name": "nc"}})


def test_configured_placeholders_expand() -> None:
    text = textwrap.dedent("""
        title: Login to a server
        logsource: {product: linux}
        detection:
            sel:
                host.name|expand: '%Servers%'
            condition: sel
    """)
    rs = compile_collection(SigmaCollection.from_yaml(text), {"Servers": ["db-*", "app-01"]}, pipeline="none")
    assert not rs.errors, rs.errors
    assert matches(rs, {"host": {"name": "DB-07"}})
    assert matches(rs, {"host": {"name": "app-01"}})
    assert not matches(rs, {"host": {"name": "web-01"}})


def test_list_values_become_one_lookup_in_the_generated_source() -> None:
    names = ", ".join(f"tool{k}" for k in range(40))
    rs = rule(f"sel:\n    process.name: [{names}]\n    process.executable|endswith: ['/nc', '/ncat', '/socat']\n"
              "condition: sel")
    [compiled] = rs.rules
    assert "inset(" in compiled.source and compiled.source.count("endswith(") == 1
    assert matches(rs, {"process": {"name": "TOOL39", "executable": "/usr/bin/ncat"}})
    assert not matches(rs, {"process": {"name": "tool40", "executable": "/usr/bin/ncat"}})
    assert not matches(rs, {"process": {"name": "tool1", "executable": "/usr/bin/cat"}})


def test_list_valued_fields_match_on_any_element() -> None:
    rs = field_rule("related.ip|cidr", "10.0.0.0/8")
    assert matches(rs, {"related": {"ip": ["203.0.113.5", "10.1.2.3"]}})
    assert not matches(rs, {"related": {"ip": ["203.0.113.5", "198.51.100.1"]}})
    tags = field_rule("tags", "perimeter")
    assert matches(tags, {"tags": ["a", "Perimeter"]})
