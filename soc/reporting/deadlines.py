"""When the notices of an incident are due (《国家网络安全事件报告管理办法》, in force 2025-11-01).

The table is data, reporting/deadlines.yml, one cell per grade × operator type with the initial
report (初报: 第四条, within 1 / 2 / 4 hours of discovery for CII operators / central government
bodies / other operators, for incidents graded 较大 or graver), the follow-ups (续报: 第七条第二款
says only "及时补报"; the period is our local policy) and the final summary (总结报告: 第八条, within
30 days of the end of handling). The file's header quotes the articles and says every choice.

- `due(kind, grade, operator_type, discovered_at, closed_at=None)`: the time a notice is due, or
  None when none is due (一般; a final summary before the incident is closed; a follow-up of an
  incident closed before it fell due).
- `status(notice_due, sent_at, now)`: due | overdue (not sent, past due) | on_time | late.

Hours run as elapsed time; days as the Civil Code counts them (民法典第二百零一条, 第二百零三条):
from the day after, to 24:00 of the last day, in China Standard Time. A notice sent exactly at its
deadline is on time ("最迟不得超过").
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from functools import lru_cache
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field

from soc.config import PROJECT_ROOT
from soc.reporting.grading import GRADES, Grade
from soc.yamlfile import FileError, _line, load_model

DEADLINES_FILE = PROJECT_ROOT / "reporting" / "deadlines.yml"
Kind = Literal["initial", "follow_up", "final"]
KINDS: tuple[str, ...] = ("initial", "follow_up", "final")
Status = Literal["due", "overdue", "on_time", "late"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Initial(_Strict):
    within_hours: float = Field(gt=0)
    to: str = Field(min_length=1)  # the receiver
    article: str = Field(min_length=1)
    basis: Literal["measures", "local_policy"]


class FollowUp(_Strict):
    every_hours: float = Field(gt=0)
    article: str = Field(min_length=1)
    basis: Literal["measures", "local_policy"]


class Final(_Strict):
    within_days: int = Field(gt=0)
    article: str = Field(min_length=1)
    basis: Literal["measures", "local_policy"]


class Relay(_Strict):
    """The receiver's own deadline upwards (for reference: not ours, not used by due())."""

    within_minutes: int = Field(gt=0)
    by: str = Field(min_length=1)
    to: str = Field(min_length=1)
    article: str = Field(min_length=1)


class Cell(_Strict):
    initial: Initial | None
    follow_up: FollowUp | None
    final: Final | None
    relay: Relay | None = None


class DeadlineTable(_Strict):
    source: str = Field(min_length=1)
    utc_offset_hours: int = Field(8, ge=-12, le=14)
    day_counting: Literal["civil_code", "elapsed"] = "civil_code"
    operator_types: dict[str, str] = Field(min_length=1)
    aliases: dict[str, str] = Field(default_factory=dict)
    grades: dict[Grade, dict[str, Cell]]

    def operator(self, operator_type: str) -> str:
        """The operator type a name (or alias) stands for; ValueError when unknown."""
        name = self.aliases.get(operator_type, operator_type)
        if name not in self.operator_types:
            raise ValueError(f"unknown operator type {operator_type!r}: one of "
                             f"{', '.join(sorted(self.operator_types) + sorted(self.aliases))}")
        return name

    def cell(self, grade: str, operator_type: str) -> Cell:
        if grade not in self.grades:
            raise ValueError(f"unknown grade {grade!r}: one of {', '.join(GRADES)}")
        return self.grades[grade][self.operator(operator_type)]  # type: ignore[index]


def parse_deadlines(path: Path, text: str) -> DeadlineTable:
    """Validate a deadline table's text; every grade must have a cell for every operator type."""
    table = load_model(path, DeadlineTable, text)
    problems: list[tuple[tuple[int | str, ...], str]] = []
    for g in GRADES:
        if g not in table.grades:
            problems.append((("grades",), f"grade {g!r} has no row"))
            continue
        for op in table.operator_types:
            if op not in table.grades[g]:  # type: ignore[index]
                problems.append((("grades", g), f"no cell for operator type {op!r}"))
        for op in table.grades[g]:  # type: ignore[index]
            if op not in table.operator_types:
                problems.append((("grades", g, op), f"{op!r} is not one of operator_types"))
    for alias, target in table.aliases.items():
        if target not in table.operator_types:
            problems.append((("aliases", alias), f"{target!r} is not one of operator_types"))
    if problems:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        raise FileError([f"{path}:{_line(node, loc)}: {'.'.join(map(str, loc))}: {msg}" for loc, msg in problems])
    return table


@lru_cache(maxsize=4)
def _cached(path: Path, mtime_ns: int) -> DeadlineTable:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise FileError([f"{path}: cannot be read: {exc}"]) from None
    return parse_deadlines(path, text)


def load_deadlines(path: Path | None = None) -> DeadlineTable:
    """reporting/deadlines.yml (or path), read again only when the file changed."""
    path = path or DEADLINES_FILE
    try:
        mtime = path.stat().st_mtime_ns
    except OSError as exc:
        raise FileError([f"{path}: cannot be read: {exc}"]) from None
    return _cached(path, mtime)


def operator_type_for(cii: bool, configured: str | None, table: DeadlineTable | None = None) -> str:
    """The operator type an incident's deadlines follow: `cii` when it touches a CII system (第四条's
    first case, "涉及关键信息基础设施的"), else the configured one (aliases resolved; `ordinary` when
    none is configured)."""
    table = table or load_deadlines()
    if cii and "cii" in table.operator_types:
        return "cii"
    return table.operator(configured or "ordinary")


def _aware(t: datetime, what: str) -> datetime:
    if t.tzinfo is None:
        raise ValueError(f"{what} must be timezone-aware")
    return t


def _add_days(start: datetime, days: int, table: DeadlineTable) -> datetime:
    if table.day_counting == "elapsed":
        return start + timedelta(days=days)
    # 民法典第二百零一条: a period in days starts the day after; 第二百零三条: its last day ends at 24:00.
    tz = timezone(timedelta(hours=table.utc_offset_hours))
    local = start.astimezone(tz)
    end_of_last_day = datetime(local.year, local.month, local.day, tzinfo=tz) + timedelta(days=days + 1)
    return end_of_last_day.astimezone(start.tzinfo)


def due(kind: str, grade: str, operator_type: str, discovered_at: datetime, closed_at: datetime | None = None,
        *, last_sent_at: datetime | None = None, table: DeadlineTable | None = None) -> datetime | None:
    """When the notice of this kind is due; None when none is (yet) due.

    initial    discovered_at + the cell's hours
    follow_up  (last_sent_at, the previous initial or follow-up, else discovered_at) + the period;
               None once the incident closed before that time (the final summary follows instead)
    final      closed_at + the cell's days (None while the incident is open)
    Times are timezone-aware; the result is in discovered_at's (or closed_at's) zone."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {', '.join(KINDS)}")
    table = table or load_deadlines()
    cell = table.cell(grade, operator_type)
    _aware(discovered_at, "discovered_at")
    if closed_at is not None:
        _aware(closed_at, "closed_at")
    if last_sent_at is not None:
        _aware(last_sent_at, "last_sent_at")
    if kind == "initial":
        return None if cell.initial is None else discovered_at + timedelta(hours=cell.initial.within_hours)
    if kind == "follow_up":
        if cell.follow_up is None:
            return None
        at = (last_sent_at or discovered_at) + timedelta(hours=cell.follow_up.every_hours)
        return None if closed_at is not None and closed_at <= at else at
    if cell.final is None or closed_at is None:
        return None
    return _add_days(closed_at, cell.final.within_days, table)


def status(notice_due: datetime, sent_at: datetime | None, now: datetime) -> Status:
    """due (not sent, not yet past due), overdue (not sent, past due), on_time (sent by the
    deadline, the deadline itself included), late (sent after it)."""
    _aware(notice_due, "notice_due")
    _aware(now, "now")
    if sent_at is None:
        return "due" if now <= notice_due else "overdue"
    return "on_time" if _aware(sent_at, "sent_at") <= notice_due else "late"
