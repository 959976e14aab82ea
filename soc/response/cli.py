"""`soc block …` and `soc playbooks check`: what operators do with blocks and playbooks.

An operator's decision is written to the block store and recorded as an Action in soc-actions
(who, what, why, how to undo); the running worker's enforcer applies it to the devices within
`response.sweep_interval_s` (soc/response/enforce.py), as it does for playbooks.
"""

from __future__ import annotations

import asyncio
import getpass
import sys
from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from soc.clikit import cli_settings, console, err
from soc.config import Settings
from soc.response import operations
from soc.response.blocks import ACTIVE, APPROVED, PENDING, REMOVING, Block, BlockStore
from soc.response.playbook import load_playbooks, seconds

block_app = typer.Typer(help="Blocks: list, add, remove, approve, reject; the blocklist feed.")
playbooks_app = typer.Typer(help="Playbooks: check that they load.")


def _operator() -> str:
    try:
        return f"operator:{getpass.getuser()}"
    except Exception:  # noqa: BLE001 - no login name (a container): still say it was a person
        return "operator"


async def _with_store(s: Settings, work: Any) -> Any:
    from soc.store.client import async_client

    es = async_client(s)
    try:
        return await work(BlockStore(es, s.elastic.index_prefix), es)
    finally:
        await es.close()


@block_app.command("list")
def list_cmd(all_states: bool = typer.Option(False, "--all", help="also expired, removed and rejected blocks"),
             as_json: bool = typer.Option(False, "--json", help="one JSON line per block")) -> None:
    """Blocks in force and waiting for approval (with --all: every block on record)."""
    s = cli_settings()

    async def work(store: BlockStore, _es: Any) -> list[Block]:
        if all_states:
            return await store.search({"match_all": {}})
        return await store.by_state(ACTIVE, PENDING, APPROVED, REMOVING)

    blocks = asyncio.run(_with_store(s, work))
    if as_json:
        import orjson

        for b in blocks:
            sys.stdout.buffer.write(orjson.dumps(b.to_doc()["soc"]["block"]) + b"\n")
        return
    table = Table("状态 state", "目标 target", "到期 expires (UTC)", "次数", "剧本 playbook", "原因 reason", "id")
    for b in blocks:
        table.add_row(b.state, b.target, b.expires_at[:19], str(b.offenses), b.playbook, b.reason[:40], b.id)
    console.print(table)


@block_app.command("add")
def add_cmd(target: str = typer.Argument(..., help="an address or a CIDR block"),
            ttl: str = typer.Option("1h", "--ttl", help="how long: 30m, 1h, 7d (mandatory, capped)"),
            reason: str = typer.Option(..., "--reason", help="why (recorded in the audit trail)"),
            devices: str = typer.Option("feed", "--devices", help="comma-separated: feed, nftables, a REST adapter")) -> None:
    """Block a target by hand (the allowlist still applies)."""
    s = cli_settings()
    try:
        ttl_s = seconds(ttl)
    except ValueError as exc:
        err.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from None
    names = [d.strip() for d in devices.split(",") if d.strip()]
    block = _decide(s, lambda store, es: operations.add(store, es, s, target, ttl_s, reason, names, _operator()))
    console.print(f"{block.target}: 封禁 {block.ttl_seconds}s，由 worker 在 {s.response.sweep_interval_s:g}s 内下发 "
                  f"(id {block.id}); 解除: soc block remove {block.target}")


def _decide(s: Settings, work: Any) -> Block:
    try:
        return asyncio.run(_with_store(s, work))
    except (operations.Refused, ValueError) as exc:
        err.print(f"[red]{exc}[/red]")
        raise typer.Exit(1) from None


def _transition(what: str, target_or_id: str) -> None:
    s = cli_settings()
    block = _decide(s, lambda store, es: operations.transition(store, es, s, what, target_or_id, _operator()))
    console.print(f"{block.target}: {operations.TRANSITIONS[what][4]}，由 worker 在 "
                  f"{s.response.sweep_interval_s:g}s 内执行 (id {block.id})")


@block_app.command("remove")
def remove_cmd(target: str = typer.Argument(..., help="the address, block or block id")) -> None:
    """Lift a block now (before its TTL)."""
    _transition("remove", target)


@block_app.command("approve")
def approve_cmd(block_id: str = typer.Argument(..., help="the block id or target of a pending block")) -> None:
    """Approve a block that waits for an analyst: it is applied once, for its TTL from now."""
    _transition("approve", block_id)


@block_app.command("reject")
def reject_cmd(block_id: str = typer.Argument(..., help="the block id or target of a pending block")) -> None:
    """Reject a block that waits for an analyst: it is never applied."""
    _transition("reject", block_id)


@block_app.command("feed")
def feed_cmd(port: int = typer.Option(0, "--port", help="default: response.feed_port"),
             host: str = typer.Option("127.0.0.1", "--host")) -> None:
    """Serve the blocklist feed (plain text lists that firewalls pull)."""
    import uvicorn

    from soc.response.feed import feed_app

    s = cli_settings()
    uvicorn.run(feed_app(s), host=host, port=port or s.response.feed_port, log_level="warning")


@playbooks_app.command("check")
def check_cmd(folder: Path = typer.Argument(None, help="default: response.playbooks_dir")) -> None:
    """Load every playbook: each problem as file:line: problem; exit 1 if any."""
    folder = folder or cli_settings().response.playbooks_dir
    books, problems = load_playbooks(folder)
    for b in books:
        console.print(f"ok  {b.source}: {b.id} ({b.name}){'  [simulate]' if b.simulate else ''}")
    for p in problems:
        err.print(f"[red]bad {p}[/red]")
    if problems:
        raise typer.Exit(1)
