"""Sliding event-time windows of Sigma event_count correlations, and the SSH brute-force rule.

The scenarios are what an analyst expects of "5 failed logins within 1 minute": the window is
any 60 seconds (not a clock minute), a burst keeps one alert that grows, a new burst after a
quiet period is a new alert, and re-deliveries, late and out-of-order events do not distort it.
"""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest

from detectors.correlation import Condition, observe
from detectors.rules import load_rules
from soc.model import RawRecord, get_path, iso
from soc.stream.detect import correlate, detect
from soc.stream.normalize import normalize

SPAN = 60_000  # ms
LATE = 60_000
THRESHOLD = Condition("event_count", "gte", 5)
T0 = int(datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC).timestamp() * 1000)


def s(seconds: float) -> int:
    """T0 + seconds, in ms."""
    return T0 + int(seconds * 1000)


def feed(points, state=None, span=SPAN, threshold=THRESHOLD, lateness=LATE):
    """Feed (ts_ms, event_id) pairs; return the final state and [(index, alert, late)]."""
    out = []
    for i, (ts, eid) in enumerate(points):
        state, alert, late = observe(state, ts, eid, span, threshold, lateness)
        out.append((i, alert, late))
    return state, out


def alerts(out):
    return [(i, a) for i, a, _ in out if a is not None]


# --------------------------------------------------------------------------- threshold


def test_five_matches_straddling_a_minute_boundary_fire() -> None:
    # 12:00:50 .. 12:01:10: no clock minute holds five of them, but a 60 s window does.
    points = [(s(50 + 5 * k), f"e{k}") for k in range(5)]
    _, out = feed(points)
    fired = alerts(out)
    assert [i for i, _ in fired] == [4], "the alert is raised by the fifth match, not before"
    alert = fired[0][1]
    assert alert.count == 5
    assert alert.first_ms == s(50) and alert.last_ms == s(70)
    assert alert.anchor == "e0"
    assert alert.revision == 1
    assert alert.event_ids == ["e0", "e1", "e2", "e3", "e4"]


def test_a_long_alert_lists_its_first_and_its_newest_events() -> None:
    # 250 failures, one every 0.2 s: one alert, extended by each. The analyst needs both how it
    # began (the first 50) and where it is now (the newest 50); the count says how many in all.
    _, out = feed([(s(0.2 * k), f"e{k}") for k in range(250)])
    last = alerts(out)[-1][1]
    assert last.count == 250
    assert last.event_ids == [f"e{k}" for k in range(50)] + [f"e{k}" for k in range(200, 250)]


def test_four_matches_do_not_fire() -> None:
    _, out = feed([(s(k), f"e{k}") for k in range(4)])
    assert alerts(out) == []


def test_five_matches_spread_over_more_than_the_timespan_do_not_fire() -> None:
    # 0, 16, 32, 48, 64 s: any 60 s span holds at most four of them.
    _, out = feed([(s(16 * k), f"e{k}") for k in range(5)])
    assert alerts(out) == []


def test_slow_trickle_never_fires() -> None:
    # One failure every 20 s for an hour: three per minute, always under five.
    _, out = feed([(s(20 * k), f"e{k}") for k in range(180)])
    assert alerts(out) == []


def test_threshold_reached_later_in_a_trickle_uses_the_right_window() -> None:
    # Sparse matches first, then a burst: the window is the burst, not the old matches.
    points = [(s(0), "old0"), (s(100), "old1")] + [(s(200 + k), f"b{k}") for k in range(5)]
    _, out = feed(points)
    fired = alerts(out)
    assert len(fired) == 1
    idx, alert = fired[0]
    assert idx == 6
    assert alert.anchor == "b0"
    assert alert.count == 5
    assert "old0" not in alert.event_ids and "old1" not in alert.event_ids


# --------------------------------------------------------------------------- one alert per burst


def test_matches_after_firing_extend_the_same_alert() -> None:
    points = [(s(k), f"e{k}") for k in range(8)]
    _, out = feed(points)
    fired = alerts(out)
    assert [i for i, _ in fired] == [4, 5, 6, 7]
    anchors = {a.anchor for _, a in fired}
    assert anchors == {"e0"}
    assert [a.count for _, a in fired] == [5, 6, 7, 8]
    assert [a.revision for _, a in fired] == [1, 2, 3, 4]
    last = fired[-1][1]
    assert last.first_ms == s(0) and last.last_ms == s(7)
    assert last.event_ids[-1] == "e7"


def test_new_burst_after_a_quiet_gap_is_a_new_alert() -> None:
    first = [(s(k), f"a{k}") for k in range(5)]
    # Quiet for five minutes (more than the timespan), then a second burst.
    second = [(s(300 + k), f"b{k}") for k in range(5)]
    _, out = feed(first + second)
    fired = alerts(out)
    assert [i for i, _ in fired] == [4, 9]
    a1, a2 = fired[0][1], fired[1][1]
    assert a1.anchor == "a0"
    assert a2.anchor == "b0"
    assert a2.count == 5
    assert a2.revision == 1
    assert not set(a2.event_ids) & set(a1.event_ids)


def test_second_burst_needs_the_full_threshold_again() -> None:
    first = [(s(k), f"a{k}") for k in range(5)]
    second = [(s(300 + k), f"b{k}") for k in range(4)]
    _, out = feed(first + second)
    assert [i for i, _ in alerts(out)] == [4]


# --------------------------------------------------------------------------- delivery effects


def test_redelivered_match_before_the_threshold_changes_nothing() -> None:
    state, _ = feed([(s(k), f"e{k}") for k in range(4)])
    before = copy.deepcopy(state)
    state, alert, late = observe(state, s(3), "e3", SPAN, THRESHOLD, LATE)
    assert alert is None and late is False
    assert state == before
    # Still four distinct matches: a fifth distinct one is needed to fire.
    state, alert, _ = observe(state, s(3), "e3", SPAN, THRESHOLD, LATE)
    assert alert is None
    _, alert, _ = observe(state, s(4), "e4", SPAN, THRESHOLD, LATE)
    assert alert is not None and alert.count == 5


def test_redelivered_match_of_an_open_alert_changes_nothing() -> None:
    state, out = feed([(s(k), f"e{k}") for k in range(6)])
    assert alerts(out)[-1][1].count == 6
    before = copy.deepcopy(state)
    for k in range(6):
        state, alert, late = observe(state, s(k), f"e{k}", SPAN, THRESHOLD, LATE)
        assert alert is None, f"re-delivery of e{k} raised or extended an alert"
        assert late is False
    assert state == before


def test_replayed_burst_in_order_changes_nothing() -> None:
    # A worker restart replays the last 20 matches in their original order.
    points = [(s(k * 2), f"e{k}") for k in range(20)]
    state, out = feed(points)
    final = alerts(out)[-1][1]
    state, out2 = feed(points, state=state)
    assert alerts(out2) == []
    # and the next genuine match continues the same alert, counted once each
    _, alert, _ = observe(state, s(41), "e20", SPAN, THRESHOLD, LATE)
    assert alert.anchor == final.anchor
    assert alert.count == final.count + 1 == 21


def test_out_of_order_match_within_lateness_counts() -> None:
    # Four arrive in order, the fifth (earlier in event time by 30 s) arrives last.
    points = [(s(0), "e0"), (s(10), "e1"), (s(40), "e3"), (s(50), "e4"), (s(20), "e2")]
    _, out = feed(points)
    fired = alerts(out)
    assert [i for i, _ in fired] == [4]
    alert = fired[0][1]
    assert alert.count == 5
    assert alert.first_ms == s(0) and alert.last_ms == s(50)
    assert alert.anchor == "e0"
    assert late_flags(out) == [False] * 5


def test_out_of_order_match_from_before_the_alert_extends_it() -> None:
    # Two devices' lines of one burst, the later-stamped one first (a batch in arrival order):
    # the alert opens on the fifth, then the one stamped 25 ms before its first still counts.
    points = [(s(10 + k), f"e{k}") for k in range(5)] + [(s(10) - 25, "early")]
    _, out = feed(points)
    fired = alerts(out)
    assert [i for i, _ in fired] == [4, 5]
    alert = fired[-1][1]
    assert (alert.anchor, alert.count, alert.revision) == ("e0", 6, 2)
    assert alert.first_ms == s(10) - 25 and "early" in alert.event_ids
    assert late_flags(out) == [False] * 6


def test_single_match_alert_counts_an_earlier_match_that_arrives_second() -> None:
    # A suppression window (every match counts, the first alerts): one alert, count 2.
    once = Condition("event_count", "gte", 1)
    _, out = feed([(s(45.025), "json"), (s(45.0), "text")], threshold=once, span=300_000)
    fired = alerts(out)
    assert [(a.anchor, a.count, a.revision) for _, a in fired] == [("json", 1, 1), ("json", 2, 2)]
    assert sorted(fired[-1][1].event_ids) == ["json", "text"]


def test_a_late_match_from_before_the_previous_alert_ends_does_not_extend_the_next() -> None:
    first = [(s(k), f"a{k}") for k in range(5)]            # alert A: 0..4 s
    second = [(s(100 + k), f"b{k}") for k in range(5)]     # alert B: 100..104 s
    _, out = feed(first + second + [(s(3.5), "lateA")])   # A's own time: not B's to count
    fired = alerts(out)
    assert [a.anchor for _, a in fired] == ["a0", "b0"]
    assert fired[-1][1].count == 5


def late_flags(out):
    return [late for _, _, late in out]


def test_match_older_than_timespan_plus_lateness_is_late_and_ignored() -> None:
    state, _ = feed([(s(300 + k), f"e{k}") for k in range(4)])
    before = copy.deepcopy(state)
    # 300 s - (60 s + 60 s) = 180 s is the oldest acceptable; 170 s is too old.
    state, alert, late = observe(state, s(170), "old", SPAN, THRESHOLD, LATE)
    assert late is True
    assert alert is None
    assert state == before
    # It did not count: the window still holds four.
    _, alert, _ = observe(state, s(304), "e4", SPAN, THRESHOLD, LATE)
    assert alert is not None and alert.count == 5 and "old" not in alert.event_ids


def test_late_matches_never_complete_a_window() -> None:
    # Four recent matches; four very old ones arrive afterwards: no alert, all late.
    state, _ = feed([(s(1000 + k), f"n{k}") for k in range(4)])
    state, out = feed([(s(k), f"o{k}") for k in range(4)], state=state)
    assert alerts(out) == []
    assert late_flags(out) == [True] * 4


# --------------------------------------------------------------------------- state


def test_memory_stays_bounded_under_a_flood() -> None:
    state = None
    for k in range(10_000):
        state, _, _ = observe(state, s(k * 0.05), f"e{k}", SPAN, THRESHOLD, LATE)
        assert len(state["w"]) <= 200
    assert len(orjson.dumps(state)) < 64 * 1024
    alert = state["a"]
    assert alert is not None and alert["count"] == 10_000


def test_memory_stays_bounded_with_a_steady_stream_over_hours() -> None:
    state = None
    for k in range(10_000):
        state, _, _ = observe(state, s(k * 3), f"e{k}", SPAN, THRESHOLD, LATE)
    assert len(state["w"]) <= 200
    assert len(orjson.dumps(state)) < 64 * 1024


def _scenario():
    pts = [(s(50 + 5 * k), f"a{k}") for k in range(7)]  # a burst
    pts += [(s(20), "a-late")]  # out of order, within lateness
    pts += [(s(500 + k), f"b{k}") for k in range(3)]
    pts += [(s(300), "too-late")]
    pts += [(s(503 + k), f"b{k + 3}") for k in range(4)]
    pts += [(s(505), "b2")]  # re-delivery
    return pts


def _alert_tuple(a):
    return None if a is None else (a.anchor, a.first_ms, a.last_ms, a.count, a.revision, a.event_ids)


@pytest.mark.parametrize("cut", [1, 5, 8, 11, 13])
def test_state_survives_a_json_round_trip_mid_stream(cut: int) -> None:
    pts = _scenario()
    direct = []
    st = None
    for ts, eid in pts:
        st, a, late = observe(st, ts, eid, SPAN, THRESHOLD, LATE)
        direct.append((_alert_tuple(a), late))

    stored = []
    st = None
    for n, (ts, eid) in enumerate(pts):
        if n == cut:
            st = orjson.loads(orjson.dumps(st))  # what the Faust table keeps
        st, a, late = observe(st, ts, eid, SPAN, THRESHOLD, LATE)
        stored.append((_alert_tuple(a), late))
    assert stored == direct
    assert any(a is not None for a, _ in direct)


def test_state_round_tripped_after_every_match() -> None:
    pts = _scenario()
    direct = []
    st = None
    for ts, eid in pts:
        st, a, late = observe(st, ts, eid, SPAN, THRESHOLD, LATE)
        direct.append((_alert_tuple(a), late))
    stored = []
    st = None
    for ts, eid in pts:
        st, a, late = observe(st, ts, eid, SPAN, THRESHOLD, LATE)
        st = orjson.loads(orjson.dumps(st))
        stored.append((_alert_tuple(a), late))
    assert stored == direct


# --------------------------------------------------------------------------- the real SSH rule

RULES_DIR = Path(__file__).resolve().parents[2] / "rules"
BRUTEFORCE_ID = "0d7f3f57-2a55-4a4e-8c1e-4e2b8f0a7c12"


@pytest.fixture(scope="module")
def rules():
    rs = load_rules([RULES_DIR])
    assert not rs.errors, rs.errors
    return rs


def sshd_failure(n: int, at: datetime, ip: str = "203.0.113.50", host: str = "web01") -> dict:
    """An event shaped like the sshd parser's output for a failed password."""
    return {
        "@timestamp": iso(at),
        "event": {
            "kind": "event",
            "id": f"{host}-{ip}-{n:04d}",
            "action": "ssh_login",
            "category": ["authentication"],
            "type": ["start"],
            "outcome": "failure",
            "module": "system",
            "dataset": "system.auth",
        },
        "process": {"name": "sshd", "pid": 4000 + n},
        "host": {"name": host, "hostname": host},
        "source": {"ip": ip, "address": ip, "port": 50000 + n},
        "user": {"name": "root"},
        "related": {"ip": [ip], "user": ["root"]},
        "message": f"Failed password for root from {ip} port {50000 + n} ssh2",
    }


def run_pipeline(rules, events):
    """detect + correlate every event; the alert documents produced, in order."""
    specs = {c.meta.id: c for c in rules.correlations}
    states: dict[bytes, dict | None] = {}
    single: list[dict] = []
    corr: list[dict] = []
    for doc in events:
        alerts_, matches = detect(rules, doc)
        single.extend(alerts_)
        for key, match in matches:
            # the match travels through Kafka as JSON
            match = orjson.loads(orjson.dumps(match))
            states[key], alerts, _ = correlate(specs, states.get(key), match, LATE)
            corr.extend(alerts)
    return single, corr


START = datetime(2026, 3, 1, 12, 0, 50, tzinfo=UTC)


def test_ssh_bruteforce_five_failures_within_a_minute_alert(rules) -> None:
    events = [sshd_failure(k, START + timedelta(seconds=5 * k)) for k in range(5)]
    single, corr = run_pipeline(rules, events)
    assert single == [], "a single failed login is not an alert on its own"
    assert len(corr) == 1
    alert = corr[0]
    assert get_path(alert, "event.kind") == "alert"
    assert get_path(alert, "rule.id") == BRUTEFORCE_ID
    assert get_path(alert, "soc.alert.count") == 5
    assert get_path(alert, "source.ip") == "203.0.113.50"
    assert get_path(alert, "host.name") == "web01"
    assert get_path(alert, "soc.alert.event_ids") == [e["event"]["id"] for e in events]
    assert get_path(alert, "soc.alert.first_seen") == events[0]["@timestamp"]
    assert get_path(alert, "soc.alert.last_seen") == events[-1]["@timestamp"]
    assert "T1110" in str(get_path(alert, "threat.technique.id"))


def test_ssh_bruteforce_four_failures_do_not_alert(rules) -> None:
    events = [sshd_failure(k, START + timedelta(seconds=5 * k)) for k in range(4)]
    single, corr = run_pipeline(rules, events)
    assert single == [] and corr == []


def test_ssh_bruteforce_groups_by_host(rules) -> None:
    # Five failures from one address, but three on web01 and two on web02.
    events = [
        sshd_failure(k, START + timedelta(seconds=5 * k), host="web01" if k % 2 == 0 else "web02")
        for k in range(5)
    ]
    single, corr = run_pipeline(rules, events)
    assert single == [] and corr == []


def test_ssh_bruteforce_groups_by_source_address(rules) -> None:
    events = [
        sshd_failure(k, START + timedelta(seconds=5 * k), ip="203.0.113.50" if k < 3 else "198.51.100.7")
        for k in range(5)
    ]
    _, corr = run_pipeline(rules, events)
    assert corr == []


def test_ssh_bruteforce_failures_over_two_minutes_do_not_alert(rules) -> None:
    events = [sshd_failure(k, START + timedelta(seconds=20 * k)) for k in range(5)]
    _, corr = run_pipeline(rules, events)
    assert corr == []


def test_ssh_bruteforce_successful_logins_do_not_count(rules) -> None:
    events = [sshd_failure(k, START + timedelta(seconds=5 * k)) for k in range(5)]
    events[2]["event"]["outcome"] = "success"
    _, corr = run_pipeline(rules, events)
    assert corr == []


def test_ssh_bruteforce_two_attackers_two_alerts(rules) -> None:
    events = []
    for k in range(5):
        events.append(sshd_failure(k, START + timedelta(seconds=5 * k), ip="203.0.113.50"))
        events.append(sshd_failure(k, START + timedelta(seconds=5 * k), ip="198.51.100.7"))
    _, corr = run_pipeline(rules, events)
    assert sorted(get_path(a, "source.ip") for a in corr) == ["198.51.100.7", "203.0.113.50"]
    assert len({get_path(a, "soc.alert.id") for a in corr}) == 2


def test_ssh_bruteforce_a_continuing_attack_updates_one_alert(rules) -> None:
    events = [sshd_failure(k, START + timedelta(seconds=5 * k)) for k in range(8)]
    _, corr = run_pipeline(rules, events)
    assert len(corr) == 4
    assert len({get_path(a, "soc.alert.id") for a in corr}) == 1
    assert [get_path(a, "soc.alert.count") for a in corr] == [5, 6, 7, 8]
    assert [get_path(a, "soc.alert.revision") for a in corr] == [1, 2, 3, 4]


def test_ssh_bruteforce_from_raw_syslog_lines(rules) -> None:
    """normalize -> detect -> correlate, from the bytes an sshd host sends."""
    received = START + timedelta(seconds=30)
    events = []
    for k in range(5):
        ts = (START + timedelta(seconds=5 * k)).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        line = (
            f"<38>{ts} web01 sshd[{4000 + k}]: Failed password for invalid user admin "
            f"from 203.0.113.50 port {50000 + k} ssh2"
        ).encode()
        raw = RawRecord(
            message=line,
            received_at_ns=int(received.timestamp() * 1e9),
            collector="syslog-udp",
            peer="192.0.2.10:514",
            source_id="syslog:192.0.2.10",
        ).encode()
        key, doc = normalize(raw)[0]
        assert key is not None, doc
        events.append(doc)
    _, corr = run_pipeline(rules, events)
    assert len(corr) == 1
    assert get_path(corr[0], "soc.alert.count") == 5
    assert get_path(corr[0], "source.ip") == "203.0.113.50"


def test_late_match_of_a_closed_alert_updates_it_as_a_new_revision() -> None:
    # A burst at 0..4 s fires; a match at 65 s is past the alert's timespan; then a match
    # from 34 s arrives late (within lateness). It is within 60 s of the burst, so it belongs
    # to that alert: same anchor, count 6, and a revision above every one already emitted
    # (respond() treats revision 1 as a new alert and would act on it a second time).
    points = [(s(k), f"a{k}") for k in range(5)] + [(s(65), "x"), (s(34), "late")]
    _, out = feed(points)
    fired = alerts(out)
    assert [i for i, _ in fired] == [4, 6]
    first, update = fired[0][1], fired[1][1]
    assert update.anchor == first.anchor == "a0"
    assert update.count == 6
    assert update.revision > first.revision


def test_held_window_states_take_their_own_size_not_a_serializer_buffer() -> None:
    """The worker keeps a state per group: 100k groups must not cost 4 KiB each (orjson's buffer)."""
    import gc
    import tracemalloc

    from soc.stream.detect import state_bytes

    state, _ = feed([(s(k), f"e{k}") for k in range(3)])
    gc.collect()
    tracemalloc.start()
    held = [state_bytes(state) for _ in range(1000)]
    used, _ = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert used < 1000 * 2 * len(held[0]) + 16_000
    assert orjson.loads(held[0]) == state


def test_a_groups_matches_batched_in_one_message_alert_as_one_by_one(rules) -> None:
    """The worker sends a batch's matches as one soc.correlate message per partition (a list,
    `bundles`), which the correlate agent splits per group (`by_group`); fed a group's list at
    once they give the same state and the same alerts as fed one message each: two attackers,
    bursts and a quiet gap, cut into batches of every size. Of an alert's revisions within one
    batch, the first revision and the batch's latest are sent, no other."""
    from soc.stream.detect import bundles, by_group, correlate_all

    events = [sshd_failure(k, START + timedelta(seconds=5 * k)) for k in range(8)]
    events += [sshd_failure(k, START + timedelta(seconds=5 * k + 1), ip="198.51.100.9") for k in range(6)]
    events += [sshd_failure(100 + k, START + timedelta(minutes=10, seconds=k)) for k in range(6)]
    events.sort(key=lambda e: e["@timestamp"])
    specs = {c.meta.id: c for c in rules.correlations}
    matches: list[tuple[bytes, dict]] = []
    for doc in events:
        matches += [(k, orjson.loads(orjson.dumps(m))) for k, m in detect(rules, doc)[1]]
    _, one_by_one = run_pipeline(rules, events)
    assert len({a["event"]["id"] for a in one_by_one}) == 3 and len(one_by_one) > 3  # three alerts, revised
    for size in (1, 2, 3, 7, len(matches)):
        states: dict[bytes, dict | None] = {}
        got: list[dict] = []
        for start in range(0, len(matches), size):
            groups: dict[bytes, list[dict]] = {}
            for key, match in matches[start:start + size]:
                groups.setdefault(key, []).append(match)
            for bundle in bundles(groups, 2).values():
                for key, group in by_group(orjson.loads(orjson.dumps(bundle))).items():  # through Kafka
                    states[key], alerts, late = correlate_all(specs, states.get(key), group, LATE)
                    assert late == 0
                    got += alerts
        strip = lambda docs: [{**d, "event": {k: v for k, v in d["event"].items() if k != "created"}} for d in docs]  # noqa: E731
        assert set(map(orjson.dumps, strip(got))) <= set(map(orjson.dumps, strip(one_by_one))), size
        revisions = lambda docs: {(d["soc"]["alert"]["id"], d["soc"]["alert"]["revision"]) for d in docs}  # noqa: E731
        firsts = {(i, r) for i, r in revisions(one_by_one) if r == 1}
        finals = {(i, max(r for j, r in revisions(one_by_one) if j == i)) for i, _ in revisions(one_by_one)}
        assert firsts | finals <= revisions(got), size  # respond sees revision 1, the index the last
        if size == 1:
            assert revisions(got) == revisions(one_by_one)  # one match a batch: every revision
        if size == len(matches):
            assert revisions(got) == firsts | finals  # one batch: nothing in between


def test_a_batch_is_one_message_per_partition_each_group_on_its_own(rules) -> None:
    """Each group's matches go, in order and once, to the soc.correlate partition a message keyed
    by the group would go to (Kafka's default partitioner), so its window stays on the
    changelog partition of its key whoever sends; the agent gets the groups back unchanged."""
    from aiokafka.partitioner import DefaultPartitioner

    from soc.stream.detect import bundles, by_group
    from soc.stream.topics import key_partition

    events = [sshd_failure(k, START + timedelta(seconds=k), ip=f"198.51.100.{k % 23}", host=f"web{k % 5}")
              for k in range(300)]
    groups: dict[bytes, list[dict]] = {}
    for doc in events:
        for key, match in detect(rules, doc)[1]:
            groups.setdefault(key, []).append(match)
    assert len(groups) > 50
    for partitions in (1, 3, 4, 12):
        every = list(range(partitions))
        sent = bundles(groups, partitions)
        assert len(sent) <= partitions
        for partition, bundle in sent.items():
            got = by_group(bundle)
            assert all(DefaultPartitioner()(key, every, every) == partition for key in got)
            assert got == {k: v for k, v in groups.items() if key_partition(k, partitions) == partition}
        assert sum(len(b) for b in sent.values()) == sum(len(g) for g in groups.values())


def test_a_match_without_its_group_is_refused() -> None:
    from soc.stream.detect import by_group

    with pytest.raises(ValueError, match="group key"):
        by_group([{"corr": "r", "group": "r|source.ip=1.2.3.4", "ts": 1}, {"corr": "r", "ts": 2}])
