"""`soc retention`: the policy, the indices with their age, and what is (or would be) deleted."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, TypeVar

import typer
from rich.markup import escape
from rich.table import Table

from soc.clikit import cli_settings, console, err
from soc.config import RETENTION_FLOOR_DAYS, RETENTION_IN_SCOPE, RETENTION_LAW, Settings

if TYPE_CHECKING:
    from soc.store.retention import Report

retention_app = typer.Typer(help="Log retention: per-family policy, expired indices deleted (docs/retention.md).")
T = TypeVar("T")


def _run(s: Settings, work: Callable[..., Awaitable[T]]) -> T:
    from soc.store.client import async_client

    async def run() -> T:
        es = async_client(s)
        try:
            return await work(es)
        finally:
            await es.close()

    return asyncio.run(run())


def _print_policy(s: Settings) -> None:
    from soc.store.retention import family_days

    table = Table("family 索引族", "days 保留天数", "effective 实际", "floor 下限", "note 说明")
    for family, days in s.retention.policies.items():
        effective, why = family_days(s, family)
        floor = f"{RETENTION_FLOOR_DAYS}" if family in RETENTION_IN_SCOPE else "—"
        table.add_row(family, str(days), str(effective), floor, escape(why))
    console.print(table)
    for glob, days in s.retention.datasets.items():
        console.print(f"dataset rule event.dataset={glob!r}: {days} days (lengthens the events family)")
    console.print(f"in-scope floor: {RETENTION_FLOOR_DAYS} days — {RETENTION_LAW}", markup=False)


def _print_report(report: Report) -> None:
    created = {i.name: i for i in report.indices}
    table = Table("index 索引", "day 日期", "age 天", "keep 保留", "action 处理", "reason 原因")
    table.columns[0].no_wrap = True
    for d in report.plan.decisions:
        info = created.get(d.index)
        status = "" if info is None or info.status in ("open", "") else f" ({info.status})"
        action = "[red]delete 删除[/red]" if d.action == "delete" else "keep 保留"
        if d.action == "delete" and report.ilm.available:
            action = "[red]ILM deletes[/red]"
        table.add_row(d.index + status, f"{d.day:%Y-%m-%d}" if d.day else "—",
                      "" if d.age_days is None else str(d.age_days), "" if d.keep_days is None else str(d.keep_days),
                      action, escape(d.reason))
    console.print(table)


@retention_app.command("show")
def show_cmd() -> None:
    """The policy per index family, every index with its age, and what would be deleted now."""
    from soc.response.blocks import utcnow
    from soc.store.retention import apply, coverage, day_ranges, parse_day

    s = cli_settings()
    _print_policy(s)
    report = _run(s, lambda es: apply(es, s, utcnow(), dry_run=True))
    if report.ilm.available:
        console.print(f"ILM available ({escape(report.ilm.detail)}): policy {s.elastic.index_prefix}-events-retention "
                      "deletes expired events indices (put and attached by `soc retention apply` and the worker)")
    else:
        console.print(f"ILM not available ({escape(report.ilm.detail)}): the worker's leader deletes expired indices "
                      f"every {s.retention.interval_s:g} s (soc retention apply: now)")
    _print_report(report)
    console.print(report.summary()[0], markup=False)
    days = [p[1] for i in report.indices if (p := parse_day(s.elastic.index_prefix, i.name)) and p[0] == "events"]
    cov = coverage(days, None, report.today)
    if cov.oldest is not None:
        console.print(f"events: {len(days)} daily indices, oldest {cov.oldest:%Y-%m-%d} "
                      f"({(report.today - cov.oldest).days} days), newest {cov.newest:%Y-%m-%d}; "
                      f"days missing since the oldest: {', '.join(day_ranges(cov.missing)) or 'none'}", markup=False)


@retention_app.command("apply")
def apply_cmd(dry_run: bool = typer.Option(False, "--dry-run", help="only say what would be deleted")) -> None:
    """Apply the policy now: delete the expired dated indices (or, with ILM, put and attach the
    policy). Every deletion is recorded in the audit trail (actor "retention")."""
    from soc.response.blocks import utcnow
    from soc.store.retention import apply

    s = cli_settings()
    report = _run(s, lambda es: apply(es, s, utcnow(), dry_run=dry_run))
    if dry_run:
        _print_report(report)
    for line in report.summary():
        (err if line.startswith("could not") else console).print(line, markup=False, highlight=False)
    if report.failed:
        raise typer.Exit(1)
