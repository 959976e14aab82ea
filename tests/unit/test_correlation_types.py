"""Sigma v2 correlation types beyond event_count, on event time, through the same code the
stream runs (soc.stream.detect.evaluate): value_count, temporal, temporal_ordered, value_sum,
value_avg, value_percentile, and field aliases."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from tests.unit.test_sigma_matcher import ruleset

from detectors.rules import RuleSet
from soc.model import iso
from soc.stream.detect import correlate, detect, evaluate, expired, tick

T0 = datetime(2026, 11, 25, 2, 0, tzinfo=UTC)

DENY = """
title: Firewall deny
id: 10000000-0000-4000-8000-000000000001
name: deny
logsource: {category: firewall}
detection:
    sel: {event.outcome: failure, observer.type: firewall}
    condition: sel
"""
LOGIN_FAILED = """
title: Login failed
id: 10000000-0000-4000-8000-000000000002
name: login_failed
logsource: {product: linux}
detection:
    sel: {event.action: ssh_login, event.outcome: failure}
    condition: sel
"""
LOGIN_OK = """
title: Login succeeded
id: 10000000-0000-4000-8000-000000000003
name: login_ok
logsource: {product: linux}
detection:
    sel: {event.action: ssh_login, event.outcome: success}
    condition: sel
"""
UPLOAD = """
title: Outbound flow
id: 10000000-0000-4000-8000-000000000004
name: outbound
logsource: {category: network_connection, product: pcap}
detection:
    sel: {event.dataset: pcap.flow}
    condition: sel
"""


def correlation(kind: str, rules: list[str], group_by: list[str], timespan: str, condition: str = "",
                extra: str = "") -> str:
    lines = [
        "title: Correlation under test",
        "id: 20000000-0000-4000-8000-000000000001",
        "correlation:",
        f"    type: {kind}",
        "    rules: [" + ", ".join(rules) + "]",
        "    group-by: [" + ", ".join(group_by) + "]",
        f"    timespan: {timespan}",
    ]
    if condition:
        lines.append(f"    condition: {condition}")
    if extra:
        lines.append(extra)
    return "\n".join(lines)


def at(seconds: float, **fields: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {"@timestamp": iso(T0 + timedelta(seconds=seconds))}
    for dotted, value in fields.items():
        cur = doc
        *parents, last = dotted.split("__")
        for p in parents:
            cur = cur.setdefault(p, {})
        cur[last] = value
    return doc


def correlated(rs: RuleSet, docs: list[dict[str, Any]]) -> list[Any]:
    assert not rs.errors, rs.errors
    return [h for h in evaluate(rs, docs) if h.rule.meta.id.startswith("20000000")]


def deny(t: float, src: str, dst: str, port: int) -> dict[str, Any]:
    return at(t, event__outcome="failure", observer__type="firewall", source__ip=src, destination__ip=dst,
              destination__port=port)


# --------------------------------------------------------------------------- value_count


VERTICAL_SCAN = correlation("value_count", ["deny"], ["source.ip", "destination.ip"], "1m",
                            "{gte: 5, field: destination.port}")


def test_value_count_counts_distinct_values_in_a_sliding_window() -> None:
    rs = ruleset(DENY, VERTICAL_SCAN)
    docs = [deny(k * 5, "203.0.113.9", "10.1.1.1", port) for k, port in enumerate([21, 22, 23, 22, 445, 3389])]
    [hit] = correlated(rs, docs)
    assert hit.group == {"source.ip": "203.0.113.9", "destination.ip": "10.1.1.1"}
    assert 5 in hit.indexes  # the fifth distinct port (3389) completed it


def test_value_count_is_not_fooled_by_repeats_of_one_value() -> None:
    rs = ruleset(DENY, VERTICAL_SCAN)
    assert correlated(rs, [deny(k, "203.0.113.9", "10.1.1.1", 22) for k in range(20)]) == []


def test_value_count_needs_the_values_within_the_timespan() -> None:
    rs = ruleset(DENY, VERTICAL_SCAN)
    docs = [deny(k * 20, "203.0.113.9", "10.1.1.1", 1000 + k) for k in range(10)]  # 3 ports a minute
    assert correlated(rs, docs) == []


def test_value_count_keeps_groups_apart() -> None:
    rs = ruleset(DENY, VERTICAL_SCAN)
    docs = [deny(k, f"203.0.113.{k % 2}", "10.1.1.1", 1000 + k) for k in range(8)]  # 4 ports each
    assert correlated(rs, docs) == []


# --------------------------------------------------------------------------- temporal


def login(t: float, user: str, ok: bool) -> dict[str, Any]:
    return at(t, event__action="ssh_login", event__outcome="success" if ok else "failure", user__name=user)


def test_temporal_needs_every_rule_within_the_timespan_in_any_order() -> None:
    rs = ruleset(LOGIN_FAILED, LOGIN_OK, correlation("temporal", ["login_failed", "login_ok"], ["user.name"], "5m"))
    assert correlated(rs, [login(0, "zhangsan", True), login(60, "zhangsan", False)])
    assert not correlated(rs, [login(0, "zhangsan", False), login(400, "zhangsan", True)])  # too far apart
    assert not correlated(rs, [login(0, "zhangsan", False), login(30, "lisi", True)])  # other user
    assert not correlated(rs, [login(k, "zhangsan", False) for k in range(5)])  # one rule only


def test_temporal_ordered_needs_the_rules_in_their_order() -> None:
    rs = ruleset(LOGIN_FAILED, LOGIN_OK,
                 correlation("temporal_ordered", ["login_failed", "login_ok"], ["user.name"], "5m"))
    assert correlated(rs, [login(0, "zhangsan", False), login(30, "zhangsan", True)])
    assert not correlated(rs, [login(0, "zhangsan", True), login(30, "zhangsan", False)])
    # Out-of-order arrival is ordered by event time: the failure happened first.
    assert correlated(rs, [login(30, "zhangsan", True), login(0, "zhangsan", False)])


# --------------------------------------------------------------------------- value_sum / avg / percentile


def flow(t: float, src: str, sent: int) -> dict[str, Any]:
    return at(t, event__dataset="pcap.flow", source__ip=src, source__bytes=sent)


def test_value_sum_adds_the_field_over_the_window() -> None:
    rs = ruleset(UPLOAD, correlation("value_sum", ["outbound"], ["source.ip"], "10m",
                                     "{gte: 1000000, field: source.bytes}"))
    [hit] = correlated(rs, [flow(k * 60, "10.2.0.7", 300_000) for k in range(4)])  # 1.2 MB in 4 min
    assert hit.indexes == [0, 1, 2, 3]
    assert not correlated(rs, [flow(k * 400, "10.2.0.7", 300_000) for k in range(6)])  # never 1 MB in 10 min


def test_value_avg_and_percentile() -> None:
    avg = ruleset(UPLOAD, correlation("value_avg", ["outbound"], ["source.ip"], "10m",
                                      "{gte: 500000, field: source.bytes}"))
    assert correlated(avg, [flow(0, "10.2.0.7", 400_000), flow(10, "10.2.0.7", 700_000)])
    assert not correlated(avg, [flow(0, "10.2.0.7", 400_000), flow(10, "10.2.0.7", 500_000)])
    p90 = ruleset(UPLOAD, correlation("value_percentile", ["outbound"], ["source.ip"], "10m",
                                      "{gte: 900, field: source.bytes, percentile: 90}"))
    assert not correlated(p90, [flow(k, "10.2.0.7", 100) for k in range(9)])
    assert correlated(p90, [flow(k, "10.2.0.7", 100 if k < 5 else 1000) for k in range(10)])


# --------------------------------------------------------------------------- aliases, refusals


CLIENT_OK = """
title: Web login succeeded
id: 10000000-0000-4000-8000-000000000005
name: web_login_ok
logsource: {category: webserver}
detection:
    sel: {event.action: web_login, event.outcome: success}
    condition: sel
"""


def test_aliases_group_events_whose_fields_differ() -> None:
    rs = ruleset(LOGIN_FAILED, CLIENT_OK, correlation(
        "temporal", ["login_failed", "web_login_ok"], ["ip"], "5m",
        extra="    aliases:\n        ip:\n            login_failed: source.ip\n            web_login_ok: client.ip"))
    ssh = at(0, event__action="ssh_login", event__outcome="failure", source__ip="203.0.113.7")
    web = at(20, event__action="web_login", event__outcome="success", client__ip="203.0.113.7")
    other = at(20, event__action="web_login", event__outcome="success", client__ip="203.0.113.8")
    [hit] = correlated(rs, [ssh, web])
    assert hit.group == {"ip": "203.0.113.7"}
    assert not correlated(rs, [ssh, other])


# --------------------------------------------------------------------------- decided at close


def test_fewer_than_n_is_decided_per_window_of_the_timespan_from_its_first_match() -> None:
    # A source that touched fewer than 3 ports in the minute from its first deny.
    rs = ruleset(DENY, correlation("value_count", ["deny"], ["source.ip"], "1m", "{lt: 3, field: destination.port}"))
    probes = [deny(0, "203.0.113.5", "10.0.0.1", 22), deny(20, "203.0.113.5", "10.0.0.1", 23)]
    scan = [deny(k, "203.0.113.6", "10.0.0.1", 1000 + k) for k in range(5)]
    [hit] = correlated(rs, probes + scan)
    assert hit.group == {"source.ip": "203.0.113.5"} and hit.indexes == [0, 1]
    # The next window opens at the first match after the closed one: one port, again fewer than 3.
    later = deny(90, "203.0.113.6", "10.0.0.1", 2000)
    assert sorted(h.indexes for h in correlated(rs, probes + scan + [later])) == [[0, 1], [7]]


def test_exactly_n_and_at_most_n_count_the_whole_window() -> None:
    eq2 = ruleset(DENY, correlation("event_count", ["deny"], ["source.ip"], "1m", "{eq: 2}"))
    lte1 = ruleset(DENY, correlation("event_count", ["deny"], ["source.ip"], "1m", "{lte: 1}"))
    two = [deny(0, "198.51.100.1", "10.0.0.1", 80), deny(59, "198.51.100.1", "10.0.0.1", 80)]
    three = two + [deny(30, "198.51.100.1", "10.0.0.1", 80)]  # out of order: still the same window
    assert [h.indexes for h in correlated(eq2, two)] == [[0, 1]]
    assert correlated(eq2, three) == []  # a count that passed 2 is no longer "exactly 2"
    assert correlated(lte1, two) == []
    assert [h.indexes for h in correlated(lte1, [deny(0, "198.51.100.1", "10.0.0.1", 80)])] == [[0]]


def test_in_the_stream_a_window_closes_on_a_later_match_or_on_the_expiry_tick() -> None:
    rs = ruleset(DENY, correlation("event_count", ["deny"], ["source.ip"], "1m", "{lt: 3}"))
    assert not rs.errors, rs.errors
    specs = {c.meta.id: c for c in rs.correlations}
    lateness = 10_000

    def matches(doc: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
        doc["event"]["id"] = f"deny-{doc['@timestamp']}"
        return [(k.decode(), m) for k, m in detect(rs, doc)[1]]

    state = None
    for doc in (deny(0, "192.0.2.1", "10.0.0.1", 80), deny(10, "192.0.2.1", "10.0.0.1", 80)):
        [(key, m)] = matches(doc)
        state, alerts, late = correlate(specs, state, m, lateness)
        assert alerts == [] and not late  # undecided while the window is open
    # The group's next match, 75 s on (past the window's end and the lateness), closes it.
    [(key, m)] = matches(deny(75, "192.0.2.1", "10.0.0.1", 80))
    state, [alert], _ = correlate(specs, state, m, lateness)
    assert alert["soc"]["alert"]["count"] == 2
    # A match for the closed window is late; a quiet group's window closes on the timer's tick.
    [(key, m)] = matches(deny(5.5, "192.0.2.1", "10.0.0.1", 80))
    assert correlate(specs, state, m, lateness)[2] is True
    t0 = int(T0.timestamp() * 1000)
    assert expired(specs, key, state, t0 + 75_000 + 60_000 + lateness + 1, lateness)
    alerts, gone = tick(specs, key, state, t0 + 75_000 + 60_000 + lateness + 1, lateness)
    assert [a["soc"]["alert"]["count"] for a in alerts] == [1]
    assert gone  # every window decided: nothing left to keep


SUDO = """
title: Sudo to root
id: 10000000-0000-4000-8000-000000000006
name: sudo_root
logsource: {product: linux}
detection:
    sel: {event.action: sudo_command, user.effective.name: root}
    condition: sel
"""


def sudo(t: float, user: str) -> dict[str, Any]:
    return at(t, event__action="sudo_command", user__name=user, user__effective__name="root")


def test_an_extended_temporal_condition_is_evaluated_over_the_rules_in_the_window() -> None:
    rs = ruleset(LOGIN_FAILED, LOGIN_OK, SUDO, correlation(
        "temporal", ["login_failed", "login_ok", "sudo_root"], ["user.name"], "10m",
        condition="'login_ok and (login_failed or sudo_root)'"))
    assert correlated(rs, [login(0, "zhangsan", False), login(60, "zhangsan", True)])
    assert correlated(rs, [login(0, "lisi", True), sudo(30, "lisi")])
    assert not correlated(rs, [login(0, "wangwu", True), login(30, "wangwu", True)])
    assert not correlated(rs, [login(0, "zhaoliu", False), sudo(30, "zhaoliu")])  # no successful login


def test_an_extended_condition_with_not_holds_for_the_window_ending_at_the_match() -> None:
    rs = ruleset(LOGIN_FAILED, LOGIN_OK, correlation(
        "temporal", ["login_failed", "login_ok"], ["user.name"], "5m", condition="'login_ok and not login_failed'"))
    assert correlated(rs, [login(0, "zhangsan", True)])  # a success with no failure before it
    assert not correlated(rs, [login(0, "lisi", False), login(30, "lisi", True)])
