"""`soc api` (serve the analysts' API) and `soc users` (accounts and automation tokens)."""

from __future__ import annotations

import asyncio
import sys
from typing import Any

import typer

from soc.clikit import cli_settings, console, err
from soc.config import Settings

users_app = typer.Typer(help="Accounts of the platform (roles, tenants) and automation tokens.")


def _accounts(s: Settings, work: Any) -> Any:
    from soc.api.accounts import Accounts
    from soc.store.client import async_client
    from soc.store.setup import ensure_templates

    async def run() -> Any:
        await ensure_templates(s)
        es = async_client(s)
        try:
            return await work(Accounts(es, s.elastic.index_prefix, s.api))
        finally:
            await es.close()

    return asyncio.run(run())


@users_app.command("add")
def add_cmd(name: str, role: list[str] = typer.Option(..., "--role", help="analyst, officer, sysadmin, auditadmin, "
                                                                            "regulator, automation"),
            tenant: list[str] = typer.Option(["*"], "--tenant", help="a department or county; * for all"),
            password_stdin: bool = typer.Option(False, "--password-stdin", help="read the password from stdin")) -> None:
    """Create or replace an account (the password: at least 12 characters, asked for unless --password-stdin)."""
    password = sys.stdin.readline().rstrip("\n") if password_stdin else typer.prompt("口令 password", hide_input=True,
                                                                                        confirmation_prompt=True)
    try:
        _accounts(cli_settings(), lambda a: a.put_user(name, password, list(role), list(tenant)))
    except ValueError as exc:
        err.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from None
    console.print(f"{name}: {', '.join(role)} ({', '.join(tenant)})")


@users_app.command("token")
def token_cmd(name: str, role: list[str] = typer.Option(["automation"], "--role"),
              tenant: list[str] = typer.Option(["*"], "--tenant"),
              days: int = typer.Option(90, "--days", help="valid this many days")) -> None:
    """A bearer token for automation, printed once (only its hash is kept)."""
    from soc.response.blocks import utcnow

    token = _accounts(cli_settings(), lambda a: a.new_token(name, list(role), list(tenant), days * 86400, utcnow()))
    console.print(token, highlight=False)


@users_app.command("revoke")
def revoke_cmd(name: str) -> None:
    """Revoke every token of that name."""
    n = _accounts(cli_settings(), lambda a: a.revoke_token(name))
    console.print(f"{n} token(s) revoked")


def serve(host: str | None, port: int | None) -> None:
    import uvicorn

    from soc.api.main import create_app

    s = cli_settings()
    uvicorn.run(create_app(s), host=host or s.api.host, port=port or s.api.port, log_level="warning")
