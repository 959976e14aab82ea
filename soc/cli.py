"""The `soc` command: stack, worker, collectors, setup and the demo."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import typer

from soc.clikit import cli_settings, console, err
from soc.config import ConfigError
from soc.api.cli import serve, users_app
from soc.compliance.cli import compliance_app
from soc.reporting.province_cli import province_app
from soc.response.cli import block_app, playbooks_app
from soc.store.retention_cli import retention_app

app = typer.Typer(help="安全运营子平台 — security-operations sub-platform", no_args_is_help=True)
stack_app = typer.Typer(help="The local Kafka and Elasticsearch: up, down, status, export, import.")
collect_app = typer.Typer(help="Run a collector that sends what it receives to Kafka (soc.raw).")
rules_app = typer.Typer(help="Sigma rules: check that they compile.")
app.add_typer(stack_app, name="stack")
app.add_typer(collect_app, name="collect")
app.add_typer(rules_app, name="rules")
app.add_typer(block_app, name="block")
app.add_typer(playbooks_app, name="playbooks")
audit_app = typer.Typer(help="The platform's own audit trail (hash-chained).")
app.add_typer(audit_app, name="audit")
app.add_typer(users_app, name="users")
app.add_typer(compliance_app, name="compliance")
app.add_typer(retention_app, name="retention")
app.add_typer(province_app, name="province")


@app.command("api")
def api_cmd(host: str = typer.Option(None, "--host", help="default: api.host (127.0.0.1)"),
            port: int = typer.Option(None, "--port", help="default: api.port (8080)")) -> None:
    """Serve the analysts' API (OpenAPI at /docs; sign-in required for all but /health)."""
    serve(host, port)


def _fail(exc: Exception) -> None:
    err.print(f"[bold red]error:[/bold red] {exc}")
    raise typer.Exit(1)


@stack_app.command("up")
def stack_up_cmd() -> None:
    """Download (once), start and wait for the local Kafka and Elasticsearch."""
    from soc.stack import StackError, stack_up
    from soc.store.setup import setup_all

    s = cli_settings()
    try:
        for line in stack_up(s):
            console.print(f"[green]✓[/green] {line}")
        for line in asyncio.run(setup_all(s)):
            console.print(f"[green]✓[/green] {line}")
    except StackError as exc:
        _fail(exc)


@stack_app.command("down")
def stack_down_cmd() -> None:
    """Stop the local Kafka and Elasticsearch cleanly."""
    from soc.stack import stack_down

    for line in stack_down(cli_settings()):
        console.print(line)


@stack_app.command("status")
def stack_status_cmd() -> None:
    """Show whether each engine runs and answers."""
    from soc.stack import stack_status

    status = stack_status(cli_settings())
    for name, state in status.items():
        console.print(f"{name:14} {state}")
    if any(not v.startswith(("running", "external")) or "not answering" in v for v in status.values()):
        raise typer.Exit(1)


@stack_app.command("export")
def stack_export_cmd(folder: Path) -> None:
    """Copy the downloaded Kafka and Elasticsearch, with a manifest, for an offline machine."""
    from soc.stack import StackError
    from soc.stack.artifacts import export_dist

    try:
        console.print(f"exported to {export_dist(cli_settings().stack, folder)}")
    except StackError as exc:
        _fail(exc)


@stack_app.command("import")
def stack_import_cmd(folder: Path) -> None:
    """Install Kafka and Elasticsearch from a folder made by `soc stack export`."""
    from soc.stack import StackError
    from soc.stack.artifacts import import_dist

    try:
        import_dist(cli_settings().stack, folder)
        console.print(f"installed from {folder}; `soc stack up` will not download")
    except StackError as exc:
        _fail(exc)


@app.command("setup")
def setup_cmd() -> None:
    """Create the Kafka topics and the Elasticsearch index templates (idempotent)."""
    from soc.store.setup import setup_all

    for line in asyncio.run(setup_all(cli_settings())):
        console.print(f"[green]✓[/green] {line}")


@app.command("worker", context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def worker_cmd(ctx: typer.Context) -> None:
    """Run a stream worker (normalize, detect, respond, index). Extra args go to Faust."""
    from soc.stream.app import run_worker

    run_worker(list(ctx.args))


@collect_app.command("syslog")
def collect_syslog_cmd(
    host: str = typer.Option(None, help="address to listen on (default: syslog.host)"),
    udp_port: int = typer.Option(None, help="UDP port (0 disables; default: syslog.udp_port)"),
    tcp_port: int = typer.Option(None, help="TCP port (0 disables; default: syslog.tcp_port)"),
    tls_port: int = typer.Option(None, help="TLS port, RFC 5425 (needs syslog.tls_cert and tls_key)"),
) -> None:
    """Receive syslog over UDP and TCP and produce RawRecords to soc.raw."""
    from collectors.syslog import run_syslog

    s = cli_settings()
    cfg = s.syslog.model_copy(
        update={
            k: (v or None) if k != "host" else v
            for k, v in {"host": host, "udp_port": udp_port, "tcp_port": tcp_port, "tls_port": tls_port}.items()
            if v is not None
        }
    )
    try:
        asyncio.run(run_syslog(s, cfg))
    except (ValueError, OSError, ConfigError) as exc:
        _fail(exc)


@app.command("parse")
def parse_cmd(
    format: str = typer.Option("", "--format", help="a registered format; default: the source's, else detect"),
    sources: Path = typer.Option(None, "--sources", help="a sources file (default: sources_file setting)"),
    source: str = typer.Option("", "--source", help="the id of a source in the sources file to read as"),
    charset: str = typer.Option("", help="charset (default: the source's, else utf-8)"),
    timezone: str = typer.Option("", help="device time zone (default: the source's, else Asia/Shanghai)"),
    list_formats: bool = typer.Option(False, "--list-formats", help="print the registered formats and exit"),
) -> None:
    """Read raw log lines on stdin; print exactly one ECS JSON document per line, in order."""
    import orjson

    from collectors.parsers import MESSAGE_FORMATS, PARSERS
    from collectors.sources import Source, load_sources
    from soc.stream.normalize import load_enrichers, preview

    if list_formats:
        for name in sorted({*PARSERS, *MESSAGE_FORMATS}):
            console.print(name, highlight=False)
        return
    s = cli_settings()
    try:
        declared = load_sources(sources or s.sources_file)
        enrichers = load_enrichers(s)
    except ConfigError as exc:
        _fail(exc)
    chosen = next((x for x in declared.sources if x.id == source), None) if source else None
    if source and chosen is None:
        _fail(ValueError(f"no source {source!r} in the sources file"))
    src = chosen or Source(id="stdin")
    if format and format.lower() not in {"syslog", *PARSERS, *MESSAGE_FORMATS}:
        _fail(ValueError(f"unknown format {format!r}: see soc parse --list-formats"))
    out = sys.stdout.buffer
    for line in sys.stdin.buffer:
        doc = preview(
            line.rstrip(b"\r\n"),
            source_id=src.id,
            format_hint=format or src.format or "syslog",
            charset=charset or src.charset,
            timezone=timezone or src.timezone,
            tenant=src.tenant,
            enrichers=enrichers,
            device=src.device,
        )
        out.write(orjson.dumps(doc) + b"\n")
    out.flush()


@collect_app.command("file")
def collect_file_cmd(
    path: list[str] = typer.Option(None, "--path", help="a glob to follow (repeatable); default: the sources file's paths"),
    state_dir: Path = typer.Option(None, help="where read offsets are kept (default: file.state_dir)"),
) -> None:
    """Follow log files (rotation and truncation handled, offsets kept) into soc.raw."""
    from collectors.file_tail import run_file

    s = cli_settings()
    cfg = s.file.model_copy(update={"state_dir": state_dir} if state_dir else {})
    asyncio.run(run_file(s, cfg, list(path or [])))


@collect_app.command("pcap")
def collect_pcap_cmd(
    file: Path = typer.Option(None, "--file", help="a capture file (pcap/pcapng) to read to its end"),
    iface: str = typer.Option(None, "--iface", help="a network interface to capture from (root)"),
) -> None:
    """Turn packets into flow events (5-tuple, bytes, packets, TCP flags, first/last seen)."""
    from collectors.pcap import run_pcap

    s = cli_settings()
    asyncio.run(run_pcap(s, s.pcap, file, iface))


@collect_app.command("http")
def collect_http_cmd(
    host: str = typer.Option(None, help="address to listen on (default: http.host)"),
    port: int = typer.Option(None, help="port (default: http.port)"),
) -> None:
    """Receive NDJSON batches over HTTP (POST /v1/logs, per-source bearer token) into soc.raw."""
    from collectors.http import run_http

    s = cli_settings()
    cfg = s.http.model_copy(update={k: v for k, v in {"host": host, "port": port}.items() if v is not None})
    asyncio.run(run_http(s, cfg))


@app.command("detect")
def detect_cmd(
    rules: list[Path] = typer.Option(..., "--rules", help="a Sigma rule file or folder (repeatable)"),
    pipeline: str = typer.Option("ecs", "--pipeline",
                                 help="field mapping and logsource routing: ecs (default), or none: every rule "
                                      "sees every event with the events' own field names"),
) -> None:
    """Read ECS events (NDJSON) on stdin; print one JSON line per rule match.

    Single-event matches carry `line` (1-based); correlation matches carry `group` and `lines`,
    evaluated on the events' own @timestamp. A line that is not a JSON object is reported on
    stderr (the exit status is then 2) and the others are still evaluated.
    """
    import orjson

    from detectors.rules import CorrelationSpec, load_rules
    from soc.stream.detect import evaluate

    missing = [p for p in rules if not p.exists()]
    if missing:
        _fail(FileNotFoundError(f"no such rule file or folder: {', '.join(map(str, missing))}"))
    from detectors.pipelines import pipeline_names

    if pipeline != "none" and pipeline not in pipeline_names():
        _fail(ValueError(f"unknown pipeline {pipeline!r}; known: {', '.join(sorted({'none', *pipeline_names()}))}"))
    ruleset = load_rules(rules, cli_settings().worker.sigma_placeholders, pipeline)
    for error in ruleset.errors:
        print(f"rule not loaded: {error}", file=sys.stderr)
    docs, lines, bad = [], [], 0
    for n, raw in enumerate(sys.stdin.buffer, start=1):
        if not raw.strip():
            continue
        try:
            doc = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            doc, reason = None, f"not JSON ({exc})"
        else:
            reason = "not a JSON object"
        if not isinstance(doc, dict):
            bad += 1
            print(f"line {n}: {reason}", file=sys.stderr)
            continue
        docs.append(doc)
        lines.append(n)
    out = sys.stdout.buffer
    for hit in evaluate(ruleset, docs):
        meta = hit.rule.meta
        rec: dict[str, object] = {"rule": {"id": meta.id, "title": meta.title, "level": meta.level, "tags": meta.tags}}
        if isinstance(hit.rule, CorrelationSpec):
            rec |= {"correlation": hit.rule.type, "group": hit.group, "lines": [lines[i] for i in hit.indexes],
                    "count": len(hit.indexes)}
        else:
            rec["line"] = lines[hit.indexes[0]]
        out.write(orjson.dumps(rec) + b"\n")
    out.flush()
    if bad:
        raise typer.Exit(2)


@app.command("hunt")
def hunt_cmd(
    rules: list[Path] = typer.Argument(..., help="Sigma rule files or folders"),
    since: str = typer.Option("30d", "--since", help="how far back: 90m, 12h, 30d, 2w"),
    limit: int = typer.Option(10_000, "--limit", help="at most this many events per rule"),
) -> None:
    """Search the indexed events with Sigma rules (retro-hunt): one JSON line per match, then
    one summary line per rule with its query. Correlations run over their rules' events."""
    import orjson

    from soc.hunt import hunt
    from soc.model import get_path
    from soc.store.client import index_name, sync_client

    s = cli_settings()
    missing = [p for p in rules if not p.exists()]
    if missing:
        _fail(FileNotFoundError(f"no such rule file or folder: {', '.join(map(str, missing))}"))
    try:
        results = hunt(sync_client(s), index_name(s, "events") + "-*", rules, since, limit)
    except ValueError as exc:
        _fail(exc)
    out = sys.stdout.buffer
    keep = ("@timestamp", "event.id", "event.action", "source.ip", "destination.ip", "destination.port", "host.name",
            "user.name", "observer.vendor", "url.original")
    for r in results:
        for hit in r.hits:
            rec = {"rule": {"id": r.rule_id, "title": r.title}}
            if "group" in hit:
                rec |= hit
            else:
                rec |= {k: v for k in keep if (v := get_path(hit, k)) is not None}
            out.write(orjson.dumps(rec) + b"\n")
        out.write(orjson.dumps({"summary": {"rule": r.rule_id, "title": r.title, "hits": len(r.hits),
                                            "query": r.query, "error": r.error}}) + b"\n")
    out.flush()
    if any(r.error for r in results):
        raise typer.Exit(1)


@rules_app.command("check")
def rules_check_cmd(path: list[Path] = typer.Argument(..., help="rule files or folders")) -> None:
    """Compile every rule under PATH: one JSON line per file (path, id, status, reason), then a
    summary line. The exit status is 1 when a rule is unsupported or invalid."""
    import orjson

    from detectors.rules import check_rules

    missing = [p for p in path if not p.exists()]
    if missing:
        _fail(FileNotFoundError(f"no such rule file or folder: {', '.join(map(str, missing))}"))
    results = check_rules(path, cli_settings().worker.sigma_placeholders)
    out = sys.stdout.buffer
    for result in results:
        out.write(orjson.dumps(result) + b"\n")
    counts: dict[str, int] = {}
    for result in results:
        counts[result["status"]] = counts.get(result["status"], 0) + 1
    out.write(orjson.dumps({"summary": {"files": len(results), **counts}}) + b"\n")
    out.flush()
    if any(r["status"] != "compiled" for r in results):
        raise typer.Exit(1)


@audit_app.command("verify")
def audit_verify_cmd() -> None:
    """Walk the audit trail's hash chain: every record removed, altered or re-ordered is named.
    Prints the head (last number and hash) to keep elsewhere; exit 1 on any problem."""
    from soc.audit import AuditTrail
    from soc.store.client import async_client

    s = cli_settings()

    async def run():  # type: ignore[no-untyped-def]
        es = async_client(s)
        try:
            return await AuditTrail(es, s.elastic.index_prefix).verify()
        finally:
            await es.close()

    v = asyncio.run(run())
    for problem in v.problems:
        err.print(f"[red]{problem}[/red]")
    console.print(f"audit trail: {v.records} records, head {v.head_seq} {v.head_hash}: "
                  f"{'intact' if v.ok else 'BROKEN'}")
    if not v.ok:
        raise typer.Exit(1)


@app.command("demo")
def demo_cmd(
    keep_running: bool = typer.Option(False, help="leave the worker and collector running at the end"),
) -> None:
    """The main job: stack, worker, collector, a replayed attack story, and what was found."""
    from soc.demo import run_demo

    sys.exit(run_demo(cli_settings(), keep_running=keep_running))


def main() -> None:
    app()


if __name__ == "__main__":
    main()
