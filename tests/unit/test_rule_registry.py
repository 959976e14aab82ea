"""Hot reload, enable/disable and alert suppression (detectors/registry.py), as a worker runs them."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

from detectors.registry import RuleRegistry
from soc.model import get_path
from soc.stream.detect import correlate, detect

RULES = Path(__file__).resolve().parents[2] / "rules"
FAILED_ID = "4c1a6b1e-6f0e-4d3e-9d8a-5a0f2b6c9e01"  # rules/linux/sshd_failed_password.yml
ROOT_LOGIN_ID = "9a3e2c41-7b6d-4f1a-b8e5-2c7d9f0e1a23"  # rules/linux/ssh_root_login_external.yml

NEW_RULE = """
title: 测试：禁止的命令
title_en: "Test: a forbidden command"
id: 5b0c7a52-2f8e-4d7b-9d9b-0d6f1f2b3c4d
description: 测试用规则。
description_en: "A rule for the test."
tags: [attack.execution, attack.t1059]
logsource: {product: linux}
detection:
    sel: {process.command_line|contains: forbidden-tool}
    condition: sel
level: high
"""


def root_login(src: str, second: int) -> dict[str, Any]:
    return {"@timestamp": f"2026-11-25T02:00:{second:02d}.000Z", "host": {"name": "app-01", "os": {"type": "linux"}},
            "process": {"name": "sshd"}, "event": {"id": f"e-{src}-{second}", "action": "ssh_login",
                                                   "outcome": "success", "category": ["authentication"]},
            "user": {"name": "root"}, "source": {"ip": src}}


def bump(path: Path) -> None:
    """A modification time the stamp cannot miss, even within the file system's resolution."""
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 2_000_000_000))


def test_disabling_and_enabling_a_rule_takes_effect_on_reload(tmp_path: Path) -> None:
    state = tmp_path / "rules-state.yaml"
    reg = RuleRegistry([RULES / "linux"], state_file=state)
    doc = root_login("203.0.113.9", 1)
    assert [r.meta.id for r in reg.ruleset.match(doc)] == [ROOT_LOGIN_ID]
    assert not reg.maybe_reload()  # nothing changed
    state.write_text(f"disabled:\n  - {ROOT_LOGIN_ID}\n", encoding="utf-8")
    assert reg.maybe_reload()
    assert reg.ruleset.match(doc) == []
    state.write_text("disabled: []\n", encoding="utf-8")
    bump(state)
    assert reg.maybe_reload()
    assert [r.meta.id for r in reg.ruleset.match(doc)] == [ROOT_LOGIN_ID]


def test_a_new_rule_file_is_picked_up_and_a_broken_state_keeps_the_rules(tmp_path: Path) -> None:
    folder = tmp_path / "rules"
    shutil.copytree(RULES / "linux", folder)
    state = tmp_path / "state.yaml"
    reg = RuleRegistry([folder], state_file=state)
    doc = {"host": {"os": {"type": "linux"}}, "process": {"command_line": "/opt/forbidden-tool --x"}}
    assert reg.ruleset.match(doc) == []
    (folder / "forbidden.yml").write_text(NEW_RULE, encoding="utf-8")
    assert reg.maybe_reload()
    assert [r.meta.title for r in reg.ruleset.match(doc)] == ["测试：禁止的命令"]
    state.write_text("disabled: {not: a list}\n", encoding="utf-8")
    assert not reg.maybe_reload()
    assert [r.meta.title for r in reg.ruleset.match(doc)] == ["测试：禁止的命令"]


def run(reg: RuleRegistry, docs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """detect → correlate as the worker does; the last revision of each alert, by id."""
    states: dict[bytes, Any] = {}
    alerts: dict[str, dict[str, Any]] = {}
    for doc in docs:
        found, matches = detect(reg.ruleset, doc, suppression=reg.suppression_s > 0)
        for a in found:
            alerts[a["event"]["id"]] = a
        for key, match in matches:
            states[key], found_c, _ = correlate(reg.specs, states.get(key), match, 60_000)
            for alert in found_c:
                alerts[alert["event"]["id"]] = alert
    return alerts


def test_suppression_makes_one_alert_per_rule_and_group_within_the_window() -> None:
    reg = RuleRegistry([RULES / "linux"], suppression_s=300)
    docs = [root_login("203.0.113.9", s) for s in (1, 5, 9)] + [root_login("198.51.100.7", 12)]
    alerts = run(reg, docs)
    by_source = {get_path(a, "source.ip"): a for a in alerts.values()}
    assert len(alerts) == 2
    first = by_source["203.0.113.9"]
    assert get_path(first, "soc.alert.count") == 3
    assert get_path(first, "soc.alert.event_ids") == ["e-203.0.113.9-1", "e-203.0.113.9-5", "e-203.0.113.9-9"]
    assert get_path(first, "rule.id") == ROOT_LOGIN_ID and get_path(first, "rule.category") == "single"
    assert get_path(by_source["198.51.100.7"], "soc.alert.count") == 1


def test_without_suppression_every_event_alerts() -> None:
    reg = RuleRegistry([RULES / "linux"], suppression_s=0)
    assert len(run(reg, [root_login("203.0.113.9", s) for s in (1, 5, 9)])) == 3


def test_a_match_after_the_window_opens_a_new_alert() -> None:
    reg = RuleRegistry([RULES / "linux"], suppression_s=5)
    alerts = run(reg, [root_login("203.0.113.9", s) for s in (1, 3, 30)])
    assert sorted(get_path(a, "soc.alert.count") for a in alerts.values()) == [1, 2]


def test_an_unchanged_folder_never_reloads() -> None:
    reg = RuleRegistry([RULES])
    before = reg.now
    assert not any(reg.maybe_reload() for _ in range(5))
    assert reg.now is before
