"""Classification and grading of incidents (soc/reporting/grading.py) over the shipped rule files.

Representative alerts are built from the rule library's own Sigma rules (their tags and titles,
as the detect stage copies them into an alert): a brute force is a credential attack of the
网络攻击事件 category, a webshell a planted backdoor, IDS-detected C2 traffic a trojan of the
恶意程序事件 category; the furthest stage wins in a mixed incident; every rule of the library
that raises alerts lands somewhere other than the fallback.

Grading thresholds are read from reporting/grading.yml, not copied: a scenario is built to satisfy
each rule's `when` and must reach (at least) that rule's grade; scope and duration escalate one
grade, at their threshold and not a minute before, never above their cap; a single level-2
system with a short incident is 一般; every grade is reachable; an override keeps the reason and
the computation. A broken rule file is refused with file:line and the problem.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from soc.assets import Asset, AssetInventory, InventoryFile
from soc.config import PROJECT_ROOT
from soc.model import Alert
from soc.reporting.grading import (GRADE_CODES, GRADES, GRADING_FILE, TAXONOMY_FILE, GradingRules, When,
                                   classification_of, classify, grade, load_grading, load_taxonomy, override,
                                   parse_grading, parse_taxonomy)
from soc.yamlfile import FileError

NOW = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
TAXONOMY = load_taxonomy()
RULES = load_grading()
RANK = {g: len(GRADES) - 1 - i for i, g in enumerate(GRADES)}  # 一般 0 … 特别重大 3


def sigma(rel: str) -> dict[str, Any]:
    return yaml.safe_load((PROJECT_ROOT / "rules" / rel).read_text(encoding="utf-8"))


def alert(rule: dict[str, Any] | None = None, *, tags: list[str] | None = None, name: str = "测试告警",
          rule_id: str = "r-test", level: str = "high", asset: dict[str, Any] | None = None,
          tenant: str = "dept-a", first_seen: datetime | None = None, n: int = 0,
          extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """An alert document as the detect stage writes it (Alert.to_doc)."""
    if rule is not None:
        tags, name, rule_id, level = list(rule.get("tags", [])), rule["title"], rule["id"], rule.get("level", level)
    first = first_seen or NOW - timedelta(minutes=10)
    context: dict[str, Any] = {"source": {"ip": f"203.0.113.{n % 250 + 1}"}, "labels": {"tenant": tenant}}
    if asset is not None:
        context["soc"] = {"asset": asset}
    if extra:
        context.update(extra)
    return Alert(rule_id=rule_id, rule_name=name, level=level, group_key=f"{rule_id}|{n}", first_seen=first,
                 last_seen=NOW - timedelta(minutes=1), event_ids=[f"e{n}"], count=1, tags=tags or [],
                 context=context, window_start_id=f"e{n}").to_doc()


def asset_doc(name: str, mlps: int = 2, cii: bool = False, criticality: str = "medium") -> dict[str, Any]:
    return {"name": name, "owner": "某局", "mlps_level": mlps, "criticality": criticality, "cii": cii}


def incident(tenant: str = "dept-a", **inc: Any) -> dict[str, Any]:
    return {"labels": {"tenant": tenant}, "soc": {"incident": {"id": "i1", "status": "open", **inc}}}


# --------------------------------------------------------------------------- classification


def test_a_brute_force_is_a_credential_attack_of_the_network_attack_category() -> None:
    c = classify([alert(sigma("correlation/ssh_bruteforce.yml"))])
    assert (c.category_code, c.category) == ("NA", "网络攻击事件")
    assert (c.subcategory_code, c.subcategory) == ("NACRED", "凭据攻击事件")
    assert any("T1110.001" in b and "credential-attack" in b for b in c.basis), c.basis
    assert "GB/T 20986-2023" in c.basis[-1]


@pytest.mark.parametrize("rel", ["waf/web_waf_webshell.yml", "waf/web_waf_webshell_traffic.yml",
                                 "web/web_webshell_upload.yml"])
def test_a_webshell_is_a_planted_backdoor(rel: str) -> None:
    c = classify([alert(sigma(rel))])
    assert (c.category, c.subcategory, c.subcategory_code) == ("网络攻击事件", "后门植入事件", "NABACKIMPL")
    assert any("T1505.003" in b for b in c.basis)


def test_malware_c2_is_a_trojan_of_the_malicious_program_category() -> None:
    c = classify([alert(sigma("ids/net_ids_c2_communication.yml"))])
    assert (c.category_code, c.category) == ("MP", "恶意程序事件")
    assert (c.subcategory_code, c.subcategory) == ("MPTROJ", "特洛伊木马事件")


def test_the_furthest_stage_of_a_mixed_incident_decides_and_the_others_are_named() -> None:
    alerts = [alert(sigma("correlation/ssh_bruteforce.yml"), n=1), alert(sigma("waf/web_waf_scanner.yml"), n=2),
              alert(sigma("waf/web_waf_webshell.yml"), n=3)]
    c = classify(alerts)
    assert c.subcategory_code == "NABACKIMPL"
    also = next(b for b in c.basis if b.startswith("同时匹配"))
    assert "credential-attack" in also and "scanning" in also


def test_alerts_of_other_products_map_by_their_tags_or_event_category() -> None:
    # No threat.* (not ours): the attack.* tags are read; event.category alone maps too.
    doc = alert(tags=["attack.impact", "attack.t1486"], name="EDR alert")
    doc.pop("threat")
    assert classify([doc]).subcategory_code == "MPRANS"
    mal = alert(tags=[], name="AV detection", extra={"event": {"category": ["malware"]}})
    mal["event"]["category"] = ["malware"]  # to_doc writes its own event: put the product's category back
    assert classify([mal]).subcategory_code == "MPOTH"


def test_nothing_matching_falls_back_to_other_incidents_and_says_so() -> None:
    c = classify([alert(tags=[], name="未知设备告警")])
    assert (c.category_code, c.subcategory_code, c.subcategory) == (TAXONOMY.mapping.fallback, None, None)
    assert "兜底" in c.basis[-1]
    assert classify([]).category_code == TAXONOMY.mapping.fallback


def _library() -> list[tuple[str, dict[str, Any]]]:
    out = []
    for path in sorted((PROJECT_ROOT / "rules").rglob("*.yml")):
        if path.name.endswith(".examples.yml"):
            continue
        for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")):
            if isinstance(doc, dict) and doc.get("title") and doc.get("level") not in ("informational", "low"):
                out.append((str(path.relative_to(PROJECT_ROOT / "rules")), doc))
    return out


@pytest.mark.parametrize("rel,rule", _library(), ids=[r for r, _ in _library()])
def test_every_alerting_rule_of_the_library_has_a_category(rel: str, rule: dict[str, Any]) -> None:
    c = classify([alert(rule)])
    assert c.category_code != TAXONOMY.mapping.fallback, (rel, c.basis)
    assert c.subcategory_code is not None, (rel, c.basis)


def test_the_taxonomy_has_the_ten_categories_of_the_2023_edition() -> None:
    names = [c.name for c in TAXONOMY.categories]
    assert len(names) == 10
    for name in ("恶意程序事件", "网络攻击事件", "数据安全事件", "信息内容安全事件", "违规操作事件", "安全隐患事件",
                 "异常行为事件", "不可抗力事件", "其他事件"):
        assert name in names
    assert TAXONOMY.codes_verified is False  # the codes are from a secondary source: say so in the data


# --------------------------------------------------------------------------- grading


def satisfy(when: When, *, severity: str = "medium") -> dict[str, Any]:
    """A scenario (incident, alerts, inventory, classification) in which every condition holds,
    built from the condition's own thresholds."""
    mlps = when.mlps_level_gte or 2
    crit = when.criticality_gte or "medium"
    sev = when.severity_gte or severity
    n_ten = when.tenants_gte or 1
    n_sys = max(when.systems_gte or 1, n_ten)  # a system per tenant at least
    hours = when.duration_hours_gte or 0.1
    tags: list[str] = []
    if when.data_leak:
        tags += ["attack.exfiltration", "attack." + RULES.signals.data_leak.techniques[0].lower()]
    if when.availability_impact:
        tags += ["attack.impact", "attack." + RULES.signals.availability_impact.techniques[0].lower()]
    assets = [Asset(name=f"系统{k}", tenant=f"dept-{k % n_ten}", mlps_level=mlps, criticality=crit,
                    cii=bool(when.cii)) for k in range(n_sys)]
    first = NOW - timedelta(hours=hours)
    alerts = [alert(tags=tags or ["attack.initial-access", "attack.t1190"], level=sev, n=k,
                    asset=asset_doc(a.name, a.mlps_level, a.cii, a.criticality), tenant=a.tenant, first_seen=first)
              for k, a in enumerate(assets)]
    inc = incident(tenant=assets[0].tenant, **({"records_affected": when.records_gte} if when.records_gte else {}))
    code = (when.subcategories or when.categories or [None])[0]
    cls = classification_of(TAXONOMY, code) if code else classify(alerts)
    return {"incident": inc, "alerts": alerts, "inventory": AssetInventory(InventoryFile(assets=assets)),
            "classification": cls}


def graded(s: dict[str, Any], now: datetime = NOW, rules: GradingRules = RULES) -> Any:
    return grade(s["incident"], s["alerts"], s["inventory"], now, rules, classification=s["classification"])


@pytest.mark.parametrize("rule", RULES.rules, ids=[r.id for r in RULES.rules])
def test_each_grading_rule_reaches_its_grade_when_its_conditions_hold(rule: Any) -> None:
    g = graded(satisfy(rule.when))
    assert rule.id in g.facts["rules"], g.basis
    assert RANK[g.grade] >= RANK[rule.grade], g.basis
    assert g.code == GRADE_CODES[g.grade]
    assert any(b.startswith(f"定级规则 {rule.id}：") and rule.source in b for b in g.basis)


def test_a_cii_system_of_level_3_is_graded_at_least_as_its_rule_says() -> None:
    rule = next(r for r in RULES.rules if r.when.cii and r.when.mlps_level_gte and r.when.availability_impact is None
                and r.when.duration_hours_gte is None)
    assert rule.when.mlps_level_gte <= 3  # a level-3 CII system is what the rule is about
    gov = Asset(name="政务服务网", tenant="dept-a", mlps_level=3, cii=True, criticality="high")
    alerts = [alert(sigma("correlation/ssh_bruteforce.yml"), asset=asset_doc("政务服务网", 2, False))]  # stale enrichment
    g = grade(incident(), alerts, AssetInventory(InventoryFile(assets=[gov])), NOW, RULES)
    assert RANK[g.grade] >= RANK[rule.grade] >= RANK["较大"], g.basis
    assert g.facts["cii"] is True and g.facts["mlps_level"] == 3  # the inventory wins over the alert's copy
    assert any("政务服务网（等保第三级，关键信息基础设施" in b for b in g.basis), g.basis


def test_a_single_level_2_system_with_a_short_incident_is_general() -> None:
    oa = Asset(name="A办公自动化系统", tenant="dept-a", mlps_level=2)
    alerts = [alert(sigma("correlation/ssh_bruteforce.yml"), asset=asset_doc("A办公自动化系统"),
                    first_seen=NOW - timedelta(minutes=20))]
    g = grade(incident(), alerts, AssetInventory(InventoryFile(assets=[oa])), NOW, RULES)
    assert (g.grade, g.code) == ("一般", "IV"), g.basis
    assert any("《网络安全事件分级指南》四" in b for b in g.basis)
    assert g.basis[-1] == "定级结果：一般（IV）"


def _base_rank_single_system(hours: float, severity: str) -> str:
    oa = Asset(name="A办公自动化系统", tenant="dept-a", mlps_level=2)
    alerts = [alert(tags=["attack.t1190"], level=severity, asset=asset_doc("A办公自动化系统"),
                    first_seen=NOW - timedelta(hours=hours))]
    return grade(incident(), alerts, AssetInventory(InventoryFile(assets=[oa])), NOW, RULES).grade


def test_duration_escalates_at_its_threshold_and_not_a_minute_before() -> None:
    esc = next(e for e in RULES.escalations if e.when.duration_hours_gte is not None)
    sev = esc.when.severity_gte or "high"
    hours = esc.when.duration_hours_gte
    before = _base_rank_single_system(hours - 1 / 60, sev)
    assert before == "一般"
    at = _base_rank_single_system(hours, sev)
    assert RANK[at] == min(RANK[before] + esc.steps, RANK[esc.max_grade])
    if esc.when.severity_gte:  # the same duration with lesser alerts does not escalate
        lesser = "medium" if esc.when.severity_gte != "medium" else "low"
        assert _base_rank_single_system(hours + 1, lesser) == "一般"


def test_scope_escalates_with_the_number_of_systems() -> None:
    esc = next(e for e in RULES.escalations if e.when.systems_gte is not None)
    s = satisfy(When(systems_gte=esc.when.systems_gte))
    g = graded(s)
    assert RANK[g.grade] == min(esc.steps, RANK[esc.max_grade]), g.basis
    assert any(b.startswith(f"升级 {esc.id}") for b in g.basis)
    fewer = satisfy(When(systems_gte=esc.when.systems_gte - 1)) if esc.when.systems_gte > 1 else None
    if fewer is not None:
        assert graded(fewer).grade == "一般"


@pytest.mark.parametrize("esc", RULES.escalations, ids=[e.id for e in RULES.escalations])
def test_each_escalation_applies_when_its_conditions_hold(esc: Any) -> None:
    g = graded(satisfy(esc.when))
    base = max([RANK[r.grade] for r in RULES.rules if r.id in g.facts["rules"]], default=0)
    if base < RANK[esc.max_grade]:
        assert any(b.startswith(f"升级 {esc.id}：") for b in g.basis), g.basis
        assert RANK[g.grade] >= min(base + esc.steps, RANK[esc.max_grade])


def test_escalation_never_goes_above_its_cap() -> None:
    for esc in RULES.escalations:
        top = max((r for r in RULES.rules if RANK[r.grade] == RANK[esc.max_grade]), key=lambda r: RANK[r.grade],
                  default=None)
        if top is None:
            continue
        merged = When(**{**top.when.model_dump(exclude_none=True), **esc.when.model_dump(exclude_none=True)})
        g = graded(satisfy(merged, severity="critical"))
        assert RANK[g.grade] >= RANK[esc.max_grade]
        if not any(RANK[r.grade] > RANK[esc.max_grade] for r in RULES.rules if r.id in g.facts["rules"]):
            assert g.grade == esc.max_grade, g.basis  # escalated no further than the cap


@pytest.mark.parametrize("rule", [r for r in RULES.rules if r.when.records_gte], ids=lambda r: r.id)
def test_records_thresholds_include_the_number_itself(rule: Any) -> None:
    at = graded(satisfy(rule.when))
    assert rule.id in at.facts["rules"]
    below = satisfy(rule.when)
    below["incident"]["soc"]["incident"]["records_affected"] = rule.when.records_gte - 1
    assert rule.id not in graded(below).facts["rules"]


def test_unknown_records_do_not_apply_and_are_said_to_be_unknown() -> None:
    s = satisfy(When(records_gte=1))
    s["incident"]["soc"]["incident"].pop("records_affected")
    g = graded(s)
    assert g.facts["records"] is None
    assert any("未知" in b and "记录" in b for b in g.basis)


def test_every_grade_is_reachable() -> None:
    reached = {graded(satisfy(When(systems_gte=1))).grade}
    for r in RULES.rules:
        reached.add(graded(satisfy(r.when)).grade)
    assert reached == set(GRADES), reached


def test_a_closed_incident_is_measured_until_it_closed() -> None:
    s = satisfy(When(duration_hours_gte=1))
    closed = NOW - timedelta(minutes=30)
    s["incident"]["soc"]["incident"].update({"status": "closed", "closed": closed.isoformat()})
    g = graded(s, now=NOW + timedelta(days=30))
    assert g.facts["duration_hours"] == pytest.approx(0.5)


def test_data_leak_and_availability_signals_come_from_attack_data_or_the_category() -> None:
    s = satisfy(When(data_leak=True))
    assert graded(s).facts["data_leak"] is True
    sub = RULES.signals.availability_impact.subcategories[0]
    s = satisfy(When(systems_gte=1))
    s["classification"] = classification_of(TAXONOMY, sub)
    assert graded(s).facts["availability_impact"] is True


def test_an_override_keeps_the_reason_first_and_the_computation_after() -> None:
    auto = graded(satisfy(When(systems_gte=1)))
    o = override(auto, "重大", "已确认造成业务中断 3 小时", "zhangsan")
    assert (o.grade, o.code) == ("重大", "II")
    assert o.basis[0] == "分析员 zhangsan 人工定级为 重大（II），原因：已确认造成业务中断 3 小时"
    assert auto.grade in o.basis[1] and o.basis[2:] == auto.basis
    with pytest.raises(ValueError):
        override(auto, "超级重大", "x", "zhangsan")


def test_now_must_be_aware() -> None:
    with pytest.raises(ValueError):
        graded(satisfy(When(systems_gte=1)), now=NOW.replace(tzinfo=None))


# --------------------------------------------------------------------------- rule-file errors


def _line_of(text: str, needle: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), 1) if needle in line)


def test_a_bad_grade_is_reported_with_file_and_line(tmp_path: Path) -> None:
    text = GRADING_FILE.read_text(encoding="utf-8").replace("grade: 重大\n", "grade: 超级重大\n", 1)
    path = tmp_path / "grading.yml"
    with pytest.raises(FileError) as err:
        parse_grading(path, text, TAXONOMY)
    assert err.value.problems[0].startswith(f"{path}:{_line_of(text, 'grade: 超级重大')}: rules.")
    assert ".grade:" in err.value.problems[0]


def test_an_unknown_key_and_an_empty_condition_are_reported_with_their_lines(tmp_path: Path) -> None:
    text = GRADING_FILE.read_text(encoding="utf-8")
    first = next(r for r in RULES.rules)
    bad = text.replace(f"  - id: {first.id}\n", f"  - id: {first.id}\n    weight: 3\n", 1)
    path = tmp_path / "grading.yml"
    with pytest.raises(FileError) as err:
        parse_grading(path, bad, TAXONOMY)
    assert any(p.startswith(f"{path}:{_line_of(bad, 'weight: 3')}: rules.0.weight:") for p in err.value.problems)
    empty = "rules:\n  - id: x\n    grade: 较大\n    when: {}\n    reason: r\n    source: s\n"
    with pytest.raises(FileError) as err:
        parse_grading(path, empty, TAXONOMY)
    assert err.value.problems[0].startswith(f"{path}:4: rules.0.when:"), err.value.problems


def test_codes_the_taxonomy_does_not_have_are_reported_with_their_lines(tmp_path: Path) -> None:
    text = GRADING_FILE.read_text(encoding="utf-8").replace("subcategories: [DSDATALEAK,", "subcategories: [DSNOPE,", 1)
    path = tmp_path / "grading.yml"
    with pytest.raises(FileError) as err:
        parse_grading(path, text, TAXONOMY)
    assert err.value.problems == [f"{path}:{_line_of(text, 'DSNOPE')}: signals.data_leak.subcategories: no category "
                                  f"or subcategory of GB/T 20986-2023 has the code 'DSNOPE'"]

    tax = TAXONOMY_FILE.read_text(encoding="utf-8")
    bad = tax.replace("subcategory: NACRED  #", "subcategory: NAXXX  #", 1)
    tpath = tmp_path / "taxonomy.yml"
    with pytest.raises(FileError) as err:
        parse_taxonomy(tpath, bad)
    line = _line_of(bad, "subcategory: NAXXX")
    assert any(p.startswith(f"{tpath}:{line}: mapping.rules.") and "NAXXX" in p for p in err.value.problems)


def test_duplicate_codes_and_ids_are_reported(tmp_path: Path) -> None:
    tax = TAXONOMY_FILE.read_text(encoding="utf-8")
    bad = tax.replace("{code: MPWORM,", "{code: MPEVIR,", 1).replace("- id: botnet\n", "- id: worm\n", 1)
    path = tmp_path / "taxonomy.yml"
    with pytest.raises(FileError) as err:
        parse_taxonomy(path, bad)
    problems = "\n".join(err.value.problems)
    assert f"{path}:{_line_of(bad, '{code: MPEVIR, name: 网络蠕虫事件')}:" in problems and "'MPEVIR' is already used" in problems
    assert "rule id 'worm' is already used" in problems


def test_invalid_yaml_is_reported_with_its_line(tmp_path: Path) -> None:
    path = tmp_path / "grading.yml"
    with pytest.raises(FileError) as err:
        parse_grading(path, "rules:\n  - id: x\n    grade: [较大\n", TAXONOMY)
    assert err.value.problems[0].startswith(f"{path}:") and "not valid YAML" in err.value.problems[0]


def test_the_loaders_read_the_shipped_files_and_a_missing_file_is_a_file_error(tmp_path: Path) -> None:
    assert load_taxonomy() is load_taxonomy()  # cached until the file changes
    with pytest.raises(FileError):
        load_grading(tmp_path / "none.yml")
