"""Playbooks as data: the shipped ones load; a bad file is refused whole, naming the file, the
line and the problem; triggers pick the alerts they name; the allowlist and approval rules."""

from __future__ import annotations

import ipaddress
import textwrap
from datetime import UTC, datetime
from pathlib import Path

import pytest

from soc.model import Alert
from soc.response.engine import Safety, triggered
from soc.response.playbook import load_playbooks, seconds

PLAYBOOKS = Path(__file__).resolve().parents[2] / "playbooks"

GOOD = """\
id: block-test
name: 测试封禁
trigger:
  tags: [attack.t1110]
  min_level: high
steps:
  - action: block_ip
    ttl: 1h
"""


def write(tmp: Path, name: str, text: str) -> Path:
    p = tmp / name
    p.write_text(textwrap.dedent(text), encoding="utf-8")
    return p


def test_the_shipped_playbooks_load() -> None:
    books, problems = load_playbooks(PLAYBOOKS)
    assert problems == []
    assert books and all(b.steps for b in books)


@pytest.mark.parametrize(("text", "line", "words"), [
    (GOOD.replace("    ttl: 1h\n", ""), 7, "ttl: Field required"),  # the block step without its TTL
    (GOOD.replace("ttl: 1h", "ttl: forever"), 8, "a duration like"),
    (GOOD.replace("action: block_ip", "action: block_everything"), 7, "block_everything"),
    (GOOD.replace("  min_level: high\n", "  min_level: urgent\n"), 5, "min_level"),
    (GOOD.replace("trigger:\n  tags: [attack.t1110]\n  min_level: high\n", "trigger: {}\n"), 3, "rules, tags or a min_level"),
    (GOOD + "  - action: notify\n    channel: duty\n", 9, "template: Field required"),
    (GOOD.replace("id: block-test", "id: Block Test!"), 1, "id"),
    (GOOD + "steps_extra: 1\n", 9, "Extra inputs"),
    (GOOD.replace("  - action: block_ip", "  - action: block_cidr"), 7, "prefix"),
    ("id: x\n  name: [unclosed\n", 2, "not valid YAML"),
])
def test_a_bad_playbook_is_refused_whole_with_file_line_and_problem(tmp_path: Path, text: str, line: int,
                                                                   words: str) -> None:
    write(tmp_path, "good.yml", GOOD.replace("block-test", "good-one"))
    bad = write(tmp_path, "bad.yml", text)
    books, problems = load_playbooks(tmp_path)
    assert [b.id for b in books] == ["good-one"]  # the bad file is left out whole, the other loads
    assert problems and all(p.startswith(f"{bad}:") for p in problems)
    assert any(p.startswith(f"{bad}:{line}:") and words in p for p in problems), problems


def test_two_playbooks_with_one_id_keep_the_first(tmp_path: Path) -> None:
    write(tmp_path, "a.yml", GOOD)
    write(tmp_path, "b.yml", GOOD)
    books, problems = load_playbooks(tmp_path)
    assert len(books) == 1 and "already the id" in problems[0] and "b.yml" in problems[0]


def test_durations() -> None:
    assert [seconds(v) for v in ("90s", "30m", "1h", "7d", "2w", 45)] == [90, 1800, 3600, 604800, 1209600, 45]
    for bad in ("0s", "-5m", "1y", "soon", True):
        with pytest.raises(ValueError):
            seconds(bad)


def alert(**over: object) -> dict:
    """An alert as the detect stage writes it (soc.model.Alert), then changed where the test says."""
    now = datetime.now(UTC)
    a = Alert(rule_id="r1", rule_name="SSH 暴力破解", level="high", group_key="g", first_seen=now, last_seen=now,
              event_ids=["e1"], count=5, tags=["attack.credential_access", "attack.t1110.001"],
              context={"source": {"ip": "203.0.113.7"}, "network": {"direction": "inbound"},
                       "soc": {"asset": {"mlps_level": 3, "criticality": "medium"}},
                       "labels": {"tenant": "gov-cloud"}}).to_doc()
    for dotted, value in over.items():
        node = a
        *parents, last = dotted.split("__")
        for p in parents:
            node = node.setdefault(p, {})
        node[last] = value
    return a


def test_triggers_pick_the_alerts_they_name() -> None:
    [book] = [b for b in load_playbooks(PLAYBOOKS)[0] if b.id == "block-bruteforce"]
    t = book.trigger
    assert triggered(t, alert())  # a sub-technique of the named technique
    assert not triggered(t, alert(soc__alert__severity="medium"))
    assert not triggered(t, alert(tags=["attack.t1190"]))
    assert not triggered(t, alert(network__direction="outbound"))
    assert not triggered(t, alert(source__ip=None))


def test_the_allowlist_covers_overlapping_blocks() -> None:
    s = Safety(allowlist=[(ipaddress.ip_network("10.20.0.0/16"), "省平台")])
    assert s.allowlisted("10.20.1.5") and "省平台" in s.allowlisted("10.20.1.5")
    assert s.allowlisted("10.0.0.0/8")  # a block that would cover the platform
    assert s.allowlisted("203.0.113.7") is None
    assert s.allowlisted("2001:db8::1") is None
