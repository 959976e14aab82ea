"""`soc province`: the receiving side of upstream notices (serve), SM2 keys (keygen), regulators."""

from __future__ import annotations

import hashlib
import os
import secrets
import sys
from datetime import date
from pathlib import Path

import typer

from soc.clikit import cli_settings, console, err

province_app = typer.Typer(help="The provincial platform's side of upstream notices: serve the receiver, "
                                "make SM2 keys, add regulators (docs/upstream.md).", no_args_is_help=True)


@province_app.command("serve")
def serve_cmd(
    host: str = typer.Option("127.0.0.1", "--host"),
    port: int = typer.Option(9443, "--port"),
    keys: Path = typer.Option(..., "--keys", help="YAML: sender id -> key id -> public key (hex, PEM or a .pem path)"),
    data_prefix: str = typer.Option("prov", "--data-prefix",
                                    help="indices <P>-province-notices and <P>-province-nonces"),
    regulators: Path | None = typer.Option(None, "--regulators",
                                           help="YAML of regulators (soc province regulator); none: the views refuse all"),
    window: float = typer.Option(300.0, "--window", help="seconds a signed timestamp may be off"),
    tls_cert: Path | None = typer.Option(None, "--tls-cert", help="PEM certificate chain (HTTPS)"),
    tls_key: Path | None = typer.Option(None, "--tls-key", help="its PEM private key"),
) -> None:
    """Receive signed notices (POST /api/notices) and show them to regulators (GET /, /api/notices)."""
    import uvicorn

    from soc.reporting.province import ProvinceConfig, ProvinceConfigError, create_province_app

    try:
        config = ProvinceConfig.from_files(keys, regulators, data_prefix=data_prefix, settings=cli_settings(),
                                           window_s=window)
    except (ProvinceConfigError, ValueError) as exc:
        err.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from None
    if bool(tls_cert) != bool(tls_key):
        err.print("[red]--tls-cert and --tls-key go together[/red]")
        raise typer.Exit(2)
    if not tls_cert and host not in ("127.0.0.1", "::1", "localhost"):
        err.print("[yellow]warning: plain HTTP on a non-loopback address; regulators' passwords would cross "
                  "the network in clear (use --tls-cert/--tls-key or a TLS proxy)[/yellow]")
    if not config.regulator_users and not config.regulator_tokens:
        err.print("[yellow]no regulators configured: the read-only views refuse everyone[/yellow]")
    senders = ", ".join(f"{s} ({len(k)} key{'s' if len(k) > 1 else ''})" for s, k in config.keys.items())
    console.print(f"receiving notices from {senders}; indices {data_prefix}-province-notices / -nonces")
    uvicorn.run(create_province_app(config), host=host, port=port, server_header=False, proxy_headers=False,
                ssl_certfile=str(tls_cert) if tls_cert else None, ssl_keyfile=str(tls_key) if tls_key else None)


@province_app.command("keygen")
def keygen_cmd(
    name: str = typer.Argument(..., help="file names: NAME.key.pem (0600) and NAME.pub.pem"),
    out: Path = typer.Option(..., "--out", help="the folder to write them in"),
    sender: str | None = typer.Option(None, "--sender", help="the sender id for the printed keys-file entry "
                                                             "(default: NAME)"),
    key_id: str | None = typer.Option(None, "--key-id", help="default: NAME-YYYYMMDD"),
) -> None:
    """A new SM2 key pair (PEM, readable by OpenSSL 3); prints the receiver's keys-file entry."""
    from soc.reporting import sm

    try:
        files = sm.save_keypair(out, name)
    except FileExistsError as exc:
        err.print(f"[red]{exc.filename} exists; not replaced[/red]")
        raise typer.Exit(1) from None
    except ValueError as exc:
        err.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from None
    public = sm.load_public(files.public)
    console.print(f"private key  {files.private} (mode 0600, keep it on the sender)")
    console.print(f"public key   {files.public}")
    console.print(f"fingerprint  SM3 {sm.key_fingerprint(public)[:32]}")
    console.print("\n# the receiver's keys file (soc province serve --keys):", highlight=False)
    console.print(f"{sender or name}:\n  {key_id or f'{name}-{date.today():%Y%m%d}'}: {public}",
                  highlight=False, soft_wrap=True)


@province_app.command("regulator")
def regulator_cmd(
    name: str = typer.Argument(..., help="the regulator's user name (or the token's name with --token)"),
    file: Path = typer.Option(..., "--file", help="the regulators YAML (created if missing, mode 0600)"),
    token: bool = typer.Option(False, "--token", help="make a bearer token (printed once) instead of a password"),
    password_stdin: bool = typer.Option(False, "--password-stdin", help="read the password from stdin"),
    remove: bool = typer.Option(False, "--remove", help="remove this user or token"),
) -> None:
    """Add, replace or remove a regulator: a password (argon2id) or a bearer token (its SHA-256)."""
    import yaml
    from argon2 import PasswordHasher

    data = (yaml.safe_load(file.read_text(encoding="utf-8")) if file.exists() else None) or {}
    users: dict[str, str] = data.setdefault("users", {}) or {}
    tokens: dict[str, str] = data.setdefault("tokens", {}) or {}
    data["users"], data["tokens"] = users, tokens
    secret = None
    if remove:
        if users.pop(name, None) is None and tokens.pop(name, None) is None:
            err.print(f"[red]{name}: not in {file}[/red]")
            raise typer.Exit(1)
    elif token:
        secret = secrets.token_urlsafe(32)
        tokens[name] = "sha256:" + hashlib.sha256(secret.encode()).hexdigest()
    else:
        password = (sys.stdin.readline().rstrip("\n") if password_stdin
                    else typer.prompt("口令 password", hide_input=True, confirmation_prompt=True))
        if len(password) < 12:
            err.print("[red]at least 12 characters[/red]")
            raise typer.Exit(2)
        users[name] = PasswordHasher().hash(password)
    file.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        os.fchmod(fd, 0o600)
        yaml.safe_dump(data, fh, allow_unicode=True, sort_keys=True)
    if secret:
        console.print(secret, highlight=False)
    console.print(f"{file}: {'removed' if remove else 'saved'} {name}")
