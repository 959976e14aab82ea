"""`soc compliance`: list and validate the checks, run them, and (report.py) the evidence report."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import typer
from rich.table import Table

from soc.clikit import cli_settings, console, err
from soc.config import Settings

compliance_app = typer.Typer(help="MLPS 2.0 (等级保护 2.0) checks from live telemetry.")
T = TypeVar("T")
STATUS_ZH = {"pass": "[green]符合 pass[/green]", "fail": "[red]不符合 fail[/red]",
             "not_applicable": "不适用 n/a", "error": "[yellow]出错 error[/yellow]"}


def with_context(s: Settings, work: Callable[[Any], Awaitable[T]]) -> T:
    """Run work(ctx) with a Context on the configured Elasticsearch and inventory."""
    from soc.assets import load_inventory
    from soc.compliance.engine import Context
    from soc.response.blocks import utcnow
    from soc.store.client import async_client
    from soc.store.setup import ensure_templates

    async def run() -> T:
        await ensure_templates(s)
        es = async_client(s)
        try:
            return await work(Context(es, s, load_inventory(s.assets_file), utcnow()))
        finally:
            await es.close()

    return asyncio.run(run())


@compliance_app.command("checks")
def checks_cmd() -> None:
    """List the check definitions (compliance/checks/); each problem as `file:line: problem`."""
    from soc.compliance.engine import load_checks

    checks, problems = load_checks(cli_settings().compliance.checks_dir)
    table = Table("id", "控制项 control", "等级 levels", "范围 scope", "检查 title")
    for c in checks:
        table.add_row(c.id, c.control, ",".join(map(str, c.levels)), c.scope, c.title)
    console.print(table)
    for p in problems:
        err.print(f"[red]{p}[/red]")
    if problems:
        raise typer.Exit(1)


@compliance_app.command("run")
def run_cmd(system: list[str] = typer.Option([], "--system", help="only these systems (asset names)"),
            check: list[str] = typer.Option([], "--check", help="only these check ids")) -> None:
    """Run the checks now over the inventory's systems; results are indexed (soc-compliance)."""
    from soc.compliance.engine import load_checks, run_checks
    from soc.compliance.store import ComplianceStore, scores

    s = cli_settings()
    checks, problems = load_checks(s.compliance.checks_dir)
    for p in problems:
        err.print(f"[red]{p}[/red]")

    async def work(ctx: Any) -> Any:
        results = await run_checks(ctx, checks, set(system) or None, set(check) or None)
        await ComplianceStore(ctx.es, ctx.prefix).write(results)
        return results

    results = with_context(s, work)
    table = Table("系统 subject", "控制项 control", "检查 check", "结果 result", "说明 reason")
    for r in results:
        table.add_row(r.subject, r.control, r.check_id, STATUS_ZH[r.status], r.reason)
    console.print(table)
    for name, sc in scores(results)["system"].items():
        console.print(f"{name}: {sc['score'] if sc['score'] is not None else '—'} 分 "
                      f"(pass {sc['pass']}, fail {sc['fail']}, n/a {sc['not_applicable']}, error {sc['error']})")
    if problems or any(r.status == "error" for r in results):
        raise typer.Exit(1)


@compliance_app.command("report")
def report_cmd(system: str = typer.Option(..., "--system", help="the protected system (asset name in the inventory)"),
               since: str | None = typer.Option(None, "--from", help="start: YYYY-MM-DD or ISO time (Beijing time "
                                                "unless an offset is given); default 30 days before --to"),
               until: str | None = typer.Option(None, "--to", help="end: YYYY-MM-DD (the whole day) or ISO time; "
                                                "default now"),
               out: str = typer.Option("reports", "--out", help="folder for the HTML and the PDF")) -> None:
    """The evidence report (中文, HTML and PDF) of one system for the MLPS assessor: its results over
    the period per GB/T 22239-2019 clause, with evidence, trend and remediation."""
    from pathlib import Path

    from soc.compliance.report import ReportError, build_report, check_defs, parse_period
    from soc.config import ConfigError
    from soc.response.blocks import utcnow

    s = cli_settings()
    try:
        period = parse_period(since, until, utcnow())
    except ReportError as exc:
        err.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from None
    checks, problems = check_defs(s.compliance.checks_dir)  # remediation, level-2 clauses, levels
    for p in problems:
        err.print(f"[yellow]{p}[/yellow]")

    async def work(ctx: Any) -> Any:
        return await build_report(ctx.es, ctx.prefix, ctx.inventory, system, period, Path(out), checks, ctx.now)

    try:
        report = with_context(s, work)
    except ConfigError as exc:
        err.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from None
    except ReportError as exc:
        err.print(f"[red]{exc}[/red]")
        raise typer.Exit(exc.exit_code) from None
    d = report.data
    console.print(f"{d.asset.name}（{d.level_zh}）{d.period.label}: {d.controls} 项控制检查, 符合率 "
                  f"{d.summary['score'] if d.summary['score'] is not None else '—'}"
                  f"{'%' if d.summary['score'] is not None else ''} (pass {d.summary['pass']}, fail "
                  f"{d.summary['fail']}, n/a {d.summary['not_applicable']}, error {d.summary['error']})",
                  soft_wrap=True)
    if not d.controls:
        err.print("[yellow]本评估期间内无该系统的检查结果 (no results for this system in the period)[/yellow]")
    console.print(str(report.html_path), soft_wrap=True, highlight=False)
    console.print(str(report.pdf_path), soft_wrap=True, highlight=False)
