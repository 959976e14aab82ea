"""The retention policy: in-scope logs are never configured below 180 days (Cybersecurity Law
Art. 23, formerly 21), and the plan deletes exactly the expired dated indices and nothing else."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pytest

from soc.config import ConfigError, Settings, load_settings
from soc.store.retention import coverage, day_ranges, family_days, parse_day, plan

TODAY = date(2026, 12, 7)


@pytest.fixture(autouse=True)
def _no_config_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("SOC_CONFIG", str(tmp_path / "absent.yaml"))
    for name in ("SOC_RETENTION__POLICIES", "SOC_RETENTION__DATASETS", "SOC_ELASTIC__INDEX_PREFIX"):
        monkeypatch.delenv(name, raising=False)


def day_name(age: int, prefix: str = "soc", family: str = "events") -> str:
    return f"{prefix}-{family}-{TODAY - timedelta(days=age):%Y.%m.%d}"


def test_ninety_days_for_events_is_refused_naming_key_value_floor_and_law(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOC_RETENTION__POLICIES", '{"events": 90}')
    with pytest.raises(ConfigError) as exc:
        load_settings()
    msg = str(exc.value)
    assert "retention.policies.events = 90 days" in msg
    assert "180-day floor" in msg and "refused" in msg
    assert "网络安全法 第二十三条" in msg and "Art. 21" in msg
    assert "$SOC_RETENTION__POLICIES" in msg


@pytest.mark.parametrize("family", ["deadletter", "audit", "alerts", "actions", "incidents"])
def test_every_in_scope_family_has_the_floor(family: str) -> None:
    with pytest.raises(ConfigError, match=rf"retention.policies.{family} = 179 days is below the 180-day floor"):
        load_settings(retention={"policies": {family: 179}})


def test_180_days_is_accepted_and_the_other_families_keep_their_defaults() -> None:
    s = load_settings(retention={"policies": {"events": 180, "compliance": 30}})
    assert s.retention.policies == {"events": 180, "deadletter": 180, "audit": 365, "alerts": 365, "actions": 365,
                                    "incidents": 365, "compliance": 30}


def test_an_unknown_family_is_refused() -> None:
    with pytest.raises(ConfigError, match="unknown index family 'evnets'"):
        load_settings(retention={"policies": {"evnets": 365}})


def test_dataset_rules_never_below_the_floor_nor_shorter_than_the_events_family() -> None:
    with pytest.raises(ConfigError, match=r"retention.datasets.fw.\* = 90 days is below the 180-day floor"):
        load_settings(retention={"datasets": {"fw.*": 90}})
    with pytest.raises(ConfigError, match="shorter than the events family .200 days.: a daily events index"):
        load_settings(retention={"policies": {"events": 200}, "datasets": {"fw.*": 190}})
    s = load_settings(retention={"datasets": {"huawei.usg*": 365}})
    assert family_days(s, "events") == (365, "dataset rule 'huawei.usg*' keeps 365 days")


def test_parse_day_only_reads_this_prefix_and_real_dates() -> None:
    assert parse_day("soc", "soc-events-2026.06.10") == ("events", date(2026, 6, 10))
    assert parse_day("soc", "soc-events-2026.02.30") is None
    assert parse_day("soc", "soc-events-archive") is None
    assert parse_day("soc", "other-events-2026.06.10") is None
    assert parse_day("soc", "soc-audit-head") is None


def test_plan_over_400_days_deletes_exactly_the_expired_and_keeps_the_rest() -> None:
    s = load_settings()
    dated = [day_name(age) for age in range(400)]
    others = ["soc-events-archive", "soc-alerts", "soc-audit", "soc-audit-head", "soc-deadletter",
              "soc-foo-2020.01.01", "soc-events-2026.02.30", "soc-eventsx-2020.01.01", day_name(-3)]
    p = plan(s, dated + others, TODAY)

    assert {d.index for d in p.delete} == {day_name(age) for age in range(181, 400)}
    assert {d.index for d in p.keep} == {day_name(age) for age in range(181)} | set(others)
    by_name = {d.index: d for d in p.decisions}
    assert by_name[day_name(180)].action == "keep" and by_name[day_name(180)].reason == "in window: 180 of 180 days"
    assert by_name[day_name(181)].reason == "expired: 181 days old > 180 days kept"
    assert by_name["soc-audit"].reason == "not dated (single index): never deleted"
    assert by_name["soc-foo-2020.01.01"].reason == "no retention family: never deleted"
    assert by_name[day_name(-3)].reason == "dated 3 days in the future"
    # The order the table shows: family, then day.
    assert [d.index for d in p.decisions if d.day and d.family == "events"][:2] == [day_name(399), day_name(398)]


def test_a_longer_dataset_rule_keeps_the_whole_events_family_longer() -> None:
    s = load_settings(retention={"datasets": {"huawei.usg*": 365}})
    p = plan(s, [day_name(age) for age in range(400)], TODAY)
    assert {d.index for d in p.delete} == {day_name(age) for age in range(366, 400)}
    assert "dataset rule 'huawei.usg*' keeps 365 days" in p.delete[0].reason


def test_a_copy_made_without_validation_still_cannot_delete_within_the_floor() -> None:
    s = load_settings()
    unsafe = s.model_copy(update={"retention": s.retention.model_copy(update={"policies": {"events": 30}})})
    assert isinstance(unsafe, Settings)
    p = plan(unsafe, [day_name(age) for age in range(200)], TODAY)
    assert {d.index for d in p.delete} == {day_name(age) for age in range(181, 200)}


def test_coverage_names_days_deleted_early() -> None:
    days = [TODAY - timedelta(days=age) for age in range(181)]
    assert coverage(days, TODAY - timedelta(days=400), TODAY).missing == []
    gap = [d for d in days if (TODAY - d).days not in (37, 100, 101)]
    cov = coverage(gap, TODAY - timedelta(days=400), TODAY)
    assert day_ranges(cov.missing) == ["2026.08.28–2026.08.29 (2 days)", "2026.10.31"]
    # Running 300 days, but only the last 90 days are there: 90 days deleted early.
    young = [TODAY - timedelta(days=age) for age in range(91)]
    assert day_ranges(coverage(young, TODAY - timedelta(days=300), TODAY).missing) == [
        "2026.06.10–2026.09.07 (90 days)"]
    # Running 90 days with every day there; today's index may not exist yet.
    assert coverage(young[1:], TODAY - timedelta(days=90), TODAY).missing == []
