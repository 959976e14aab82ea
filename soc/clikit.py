"""What every `soc` sub-command shares: the consoles and the settings, or a clear exit."""

from __future__ import annotations

import typer
from rich.console import Console

from soc.config import ConfigError, Settings, settings

console = Console()
err = Console(stderr=True)


def cli_settings() -> Settings:
    """The settings; a bad value prints its key and exits with status 2."""
    try:
        return settings()
    except ConfigError as exc:
        err.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from None
