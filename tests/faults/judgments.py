"""The judgments every drill makes of what it recorded (Drill.finish); a drill module imports
those that apply to it, and pytest runs them against that module's `drill` fixture."""

from __future__ import annotations

from .conftest import Drill


def test_every_line_is_indexed_or_dead_lettered(drill: Drill) -> None:
    drill.check_accounted()


def test_no_event_is_indexed_twice(drill: Drill) -> None:
    drill.check_no_duplicate_events()


def test_no_dead_letter_is_written_twice(drill: Drill) -> None:
    drill.check_no_duplicate_dead_letters()


def test_nothing_else_is_dead_lettered(drill: Drill) -> None:
    drill.check_nothing_else_dead_lettered()


def test_the_brute_force_raises_one_alert_with_the_exact_count(drill: Drill) -> None:
    drill.check_alert()
