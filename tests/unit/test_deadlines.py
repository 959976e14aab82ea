"""Reporting deadlines (soc/reporting/deadlines.py over reporting/deadlines.yml).

For EVERY grade × operator type × kind (initial, follow-up, final) the due time follows the table,
with its boundaries: a notice sent exactly at its deadline is on time, a second later is late; not
sent, it is due up to the deadline itself and overdue a second after. The figures the measures
give are asserted as they are written (第四条: 1 h CII, 2 h central government bodies, 4 h
others, for 较大 or graver and nothing for 一般; 第八条: 30 days after handling ended), days
counted as the Civil Code counts them (from the day after, to 24:00 of the last day, UTC+8).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from soc.reporting.deadlines import (DEADLINES_FILE, KINDS, DeadlineTable, due, load_deadlines, operator_type_for,
                                     parse_deadlines, status)
from soc.reporting.grading import GRADES
from soc.yamlfile import FileError

TABLE = load_deadlines()
CST = timezone(timedelta(hours=TABLE.utc_offset_hours))
FOUND = datetime(2026, 3, 2, 9, 17, 23, tzinfo=UTC)  # discovery
SECOND = timedelta(seconds=1)
CELLS = [(g, op) for g in GRADES for op in TABLE.operator_types]


def assert_boundaries(at: datetime) -> None:
    assert status(at, None, at - SECOND) == "due"
    assert status(at, None, at) == "due"  # 最迟不得超过: the deadline itself is still in time
    assert status(at, None, at + SECOND) == "overdue"
    assert status(at, at, at + timedelta(days=1)) == "on_time"
    assert status(at, at - timedelta(minutes=5), at) == "on_time"
    assert status(at, at + SECOND, at + SECOND) == "late"


@pytest.mark.parametrize("grade,op", CELLS)
def test_initial_report(grade: str, op: str) -> None:
    cell = TABLE.cell(grade, op)
    at = due("initial", grade, op, FOUND)
    if cell.initial is None:
        assert at is None
        return
    assert at == FOUND + timedelta(hours=cell.initial.within_hours)
    assert_boundaries(at)


@pytest.mark.parametrize("grade,op", CELLS)
def test_follow_up(grade: str, op: str) -> None:
    cell = TABLE.cell(grade, op)
    first = due("follow_up", grade, op, FOUND)
    if cell.follow_up is None:
        assert first is None
        assert due("follow_up", grade, op, FOUND, last_sent_at=FOUND + timedelta(hours=1)) is None
        return
    every = timedelta(hours=cell.follow_up.every_hours)
    assert first == FOUND + every
    assert_boundaries(first)
    sent = FOUND + timedelta(hours=3)  # the next one counts from the previous report
    assert due("follow_up", grade, op, FOUND, last_sent_at=sent) == sent + every
    # Closed before it fell due (or exactly then): no follow-up, the final summary follows instead.
    assert due("follow_up", grade, op, FOUND, closed_at=first - SECOND) is None
    assert due("follow_up", grade, op, FOUND, closed_at=first) is None
    assert due("follow_up", grade, op, FOUND, closed_at=first + SECOND) == first  # it was due before closing


@pytest.mark.parametrize("grade,op", CELLS)
def test_final_summary(grade: str, op: str) -> None:
    cell = TABLE.cell(grade, op)
    assert due("final", grade, op, FOUND) is None  # open: nothing to sum up yet
    closed = datetime(2026, 3, 5, 15, 0, tzinfo=CST)
    at = due("final", grade, op, FOUND, closed_at=closed)
    if cell.final is None:
        assert at is None
        return
    # Closed on 3-05: the days count from 3-06; the last is 3-05 + N, ending at 24:00 (= next day 00:00).
    assert at == datetime(2026, 3, 5, tzinfo=CST) + timedelta(days=cell.final.within_days + 1)
    assert_boundaries(at)
    # Anywhere in the closing day gives the same deadline; a second into the next day, one day more.
    for t in (datetime(2026, 3, 5, 0, 0, tzinfo=CST), datetime(2026, 3, 5, 23, 59, 59, tzinfo=CST)):
        assert due("final", grade, op, FOUND, closed_at=t) == at
    assert due("final", grade, op, FOUND, closed_at=datetime(2026, 3, 6, 0, 0, 1, tzinfo=CST)) == at + timedelta(days=1)


def test_the_measures_figures_as_written() -> None:
    expected_initial = {"cii": 1, "government": 2, "ordinary": 4}  # 第四条
    for grade in ("特别重大", "重大", "较大"):
        for op, hours in expected_initial.items():
            assert due("initial", grade, op, FOUND) == FOUND + timedelta(hours=hours), (grade, op)
            assert TABLE.cell(grade, op).initial.article == "第四条"
            assert TABLE.cell(grade, op).final.within_days == 30  # 第八条
            assert TABLE.cell(grade, op).follow_up.basis == "local_policy"  # 第七条: "及时补报", no period
    for op in expected_initial:
        for kind in KINDS:  # 第四条 asks reports of 较大以上 only
            assert due(kind, "一般", op, FOUND, closed_at=FOUND + timedelta(hours=1)) is None
    # Closed 2025-11-05 15:00 Beijing time → 30 days from 11-06 → due 2025-12-05 24:00 Beijing time.
    assert due("final", "较大", "ordinary", FOUND, closed_at=datetime(2025, 11, 5, 7, 0, tzinfo=UTC)) == \
        datetime(2025, 12, 6, 0, 0, tzinfo=CST)


def test_the_receivers_relay_is_kept_for_reference_for_graver_incidents() -> None:
    assert TABLE.cell("重大", "cii").relay.within_minutes == 30
    assert TABLE.cell("特别重大", "ordinary").relay.within_minutes == 60
    assert TABLE.cell("较大", "cii").relay is None


def test_operator_types_and_their_aliases() -> None:
    assert due("initial", "较大", "general", FOUND) == due("initial", "较大", "ordinary", FOUND)
    assert operator_type_for(True, "general") == "cii"  # touching CII goes the CII way, whoever reports
    assert operator_type_for(False, "general") == "ordinary"
    assert operator_type_for(False, "government") == "government"
    assert operator_type_for(False, None) == "ordinary"
    with pytest.raises(ValueError):
        operator_type_for(False, "nobody")


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(ValueError):
        due("initial", "较大", "nobody", FOUND)
    with pytest.raises(ValueError):
        due("initial", "超级重大", "cii", FOUND)
    with pytest.raises(ValueError):
        due("reminder", "较大", "cii", FOUND)
    with pytest.raises(ValueError):
        due("initial", "较大", "cii", FOUND.replace(tzinfo=None))
    with pytest.raises(ValueError):
        status(FOUND.replace(tzinfo=None), None, FOUND)


def test_status_compares_instants_not_wall_clocks() -> None:
    at = datetime(2026, 3, 2, 18, 0, tzinfo=CST)  # = 10:00 UTC
    assert status(at, datetime(2026, 3, 2, 10, 0, tzinfo=UTC), at) == "on_time"
    assert status(at, datetime(2026, 3, 2, 10, 0, 1, tzinfo=UTC), at) == "late"


def test_elapsed_day_counting_can_be_chosen() -> None:
    table = TABLE.model_copy(update={"day_counting": "elapsed"})
    closed = datetime(2026, 3, 5, 15, 0, tzinfo=CST)
    assert due("final", "较大", "cii", FOUND, closed_at=closed, table=table) == closed + timedelta(days=30)


def _line_of(text: str, needle: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), 1) if needle in line)


def test_a_table_missing_a_cell_is_refused_with_file_and_line(tmp_path: Path) -> None:
    text = DEADLINES_FILE.read_text(encoding="utf-8")
    bad = text.replace("    government: {initial: null, follow_up: null, final: null}\n", "", 1)
    path = tmp_path / "deadlines.yml"
    with pytest.raises(FileError) as err:
        parse_deadlines(path, bad)
    assert err.value.problems == [f"{path}:{_line_of(bad, '  一般:')}: grades.一般: no cell for operator type 'government'"]


def test_a_bad_value_is_refused_with_file_and_line(tmp_path: Path) -> None:
    text = DEADLINES_FILE.read_text(encoding="utf-8")
    bad = text.replace("initial: {within_hours: 4,", "initial: {within_hours: -4,", 1)
    path = tmp_path / "deadlines.yml"
    with pytest.raises(FileError) as err:
        parse_deadlines(path, bad)
    assert err.value.problems[0].startswith(f"{path}:{_line_of(bad, 'within_hours: -4')}: grades.特别重大.ordinary.initial")


def test_the_shipped_table_is_complete() -> None:
    assert isinstance(TABLE, DeadlineTable)
    assert set(TABLE.grades) == set(GRADES)
    assert set(TABLE.operator_types) == {"cii", "government", "ordinary"}
