"""`soc demo`: the main job, end to end, on the real Kafka and Elasticsearch.

Stack up (or the configured clusters) → worker and syslog collector started → the attack story
replayed as real syslog over the loopback → progress while it is parsed, detected and indexed →
what was indexed, the alerts raised → the playbook blocks the attacker (the blocklist feed, and
as root an nftables set in a network namespace made for the demo), and its TTL (capped at
DEMO_TTL_S for the demo) releases it → commands to see it all in Elasticsearch.
"""

from __future__ import annotations

import secrets
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from rich.console import Console
from rich.panel import Panel
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from soc.config import PROJECT_ROOT, Settings
from soc.model import iso
from soc.netns import NetLab
from soc.pipeline import LocalPipeline, Namespace, bindable, count, free_port
from soc.stack import StackError, stack_up
from soc.stack.elastic import credentials_file
from soc.store.client import sync_client
from soc.store.setup import setup_all
from soc.story import ATTACKER, BRUTE_FORCE_RULE, CST, TARGET_HOST, story

console = Console()
# The story raises three: the SSH brute force, the external root login, the WAF's SQL injection.
EXPECTED_ALERTS = 3
DEMO_TTL_S = 20  # the demo caps every block's TTL so the release is seen too
TARGET_SYSTEM = "政务服务网"  # the demo's attacked system (assets.example.yaml), reported on for the assessor
DEMO_USER = "demo"  # an analyst of every tenant, its password new at every run


def run_demo(settings: Settings, keep_running: bool = False, timeout: float = 180.0) -> int:
    """Returns the process exit code: 0 when the attack was detected and everything reconciled."""
    import asyncio

    console.print(Panel.fit(
        "[bold]安全运营子平台 · 演示[/bold]\n"
        "Security-operations sub-platform demo: syslog → Kafka → Faust → ECS → Sigma → Elasticsearch",
        border_style="cyan"))
    try:
        with console.status("启动 Kafka 与 Elasticsearch (starting the stack; the first run downloads them)…"):
            for line in stack_up(settings):
                console.print(f"[green]✓[/green] {line}")
        for line in asyncio.run(setup_all(settings)):
            console.print(f"[green]✓[/green] {line}")
    except StackError as exc:
        console.print(f"[bold red]stack failed:[/bold red] {exc}")
        return 1

    ns = Namespace(prefix=settings.topic_prefix)
    logs = Path(tempfile.mkdtemp(prefix="soc-demo-"))
    # The demo's city: the example asset inventory, unless one is configured.
    assets = settings.assets_file or PROJECT_ROOT / "assets.example.yaml"
    lab = _lab()
    env = {"SOC_ASSETS_FILE": str(assets), "SOC_RESPONSE__MAX_TTL_S": str(DEMO_TTL_S),
           "SOC_RESPONSE__SWEEP_INTERVAL_S": "1"}
    if lab is not None:
        env["SOC_RESPONSE__NFTABLES"] = f'{{"namespace": "{lab.name}"}}'
    province_port = free_port()
    env.update(_reporting_env(logs, province_port))
    pipeline = LocalPipeline(ns, logs, extra_env=env)
    es = sync_client(settings)
    prefix = settings.elastic.index_prefix
    run_start = datetime.now(UTC)
    lines = story()
    mine = {"range": {"soc.received": {"gte": iso(run_start)}}}
    since = {"range": {"event.created": {"gte": iso(run_start)}}}  # alerts and actions of this run
    try:
        with console.status("启动流处理 worker 与 syslog 采集器 (starting worker and collector)…"):
            pipeline.start()
            pipeline.start_province(province_port, ["--keys", str(logs / "province-keys.yaml"),
                                                    "--data-prefix", f"{prefix}-prov",
                                                    "--regulators", str(logs / "regulators.yaml")])
        web = _web(settings, pipeline)
        console.print(f"[green]✓[/green] worker and syslog collector running (syslog on 127.0.0.1:{ns.syslog_port}, "
                      f"logs in {logs})")
        console.print(f"→ replaying the story: {len(lines)} syslog lines over TCP and UDP from Linux hosts and "
                      f"Chinese firewall, WAF, IDS and bastion devices: an attack from {ATTACKER} on {TARGET_HOST} "
                      f"(port scan, SQL injection, SSH brute force) among ordinary traffic")
        pipeline.send_tcp([sl.data for sl in lines if sl.transport == "tcp"])
        pipeline.send_udp([sl.data for sl in lines if sl.transport == "udp"])

        total = len(lines)
        with Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
                      TimeElapsedColumn(), console=console) as progress:
            indexed = progress.add_task("已索引事件 events indexed", total=total)
            alerts_task = progress.add_task("告警 alerts (expected ≥ 3)", total=EXPECTED_ALERTS)
            deadline = time.monotonic() + timeout
            done = False
            while time.monotonic() < deadline:
                n_events = count(es, f"{prefix}-events-*", mine)
                n_dead = count(es, f"{prefix}-deadletter", {"range": {"soc.deadletter.received": {"gte": iso(run_start)}}})
                n_alerts = count(es, f"{prefix}-alerts", since)
                progress.update(indexed, completed=n_events + n_dead)
                progress.update(alerts_task, completed=min(n_alerts, EXPECTED_ALERTS))
                if n_events + n_dead >= total and n_alerts >= EXPECTED_ALERTS:
                    done = True
                    break
                if not pipeline.worker_alive():
                    console.print(f"[red]the worker stopped:[/red]\n{pipeline.tail('worker')}")
                    return 1
                time.sleep(0.5)
            time.sleep(1.5)  # let the last alert revisions and the actions land
        code = _report(es, prefix, mine, since, total, done, settings)
        code = _response(settings, lab) or code
        code = _upstream(es, prefix, province_port, logs, iso(run_start)) or code
        _compliance(settings, assets, logs)
        console.print(web)
        if keep_running or sys.stdin.isatty():
            console.print("按 Ctrl-C 结束演示 (press Ctrl-C to stop the demo)")
            try:
                while pipeline.worker_alive():
                    time.sleep(1)
            except KeyboardInterrupt:
                pass
        return code
    finally:
        if lab is not None:
            lab.delete()
        if keep_running:
            console.print(f"worker and collector keep running (pids {pipeline.worker.pid if pipeline.worker else '-'}, "
                          f"{pipeline.collector.pid if pipeline.collector else '-'})")
        else:
            pipeline.stop()
        es.close()


PROVINCE_SENDER = "city-soc"  # who the demo's city is to the provincial platform
REGULATOR = "regulator"


def _reporting_env(folder: Path, port: int) -> dict[str, str]:
    """The city's SM2 key pair, the receiver's keys and regulators files, and the worker's
    reporting settings pointing at the demo's provincial platform (`soc province serve`)."""
    import json

    from soc.api.accounts import _HASHER
    from soc.reporting import sm

    keys = sm.save_keypair(folder / "keys", PROVINCE_SENDER)
    (folder / "province-keys.yaml").write_text(
        f"{PROVINCE_SENDER}:\n  demo-key: {sm.load_public(keys.public)}\n", encoding="utf-8")
    password = secrets.token_urlsafe(12)
    (folder / "regulators.yaml").write_text(
        f"users:\n  {REGULATOR}: '{_HASHER.hash(password)}'\n", encoding="utf-8")
    (folder / "regulator-password").write_text(password, encoding="utf-8")
    endpoint = {"name": "province", "urls": [f"http://127.0.0.1:{port}/api/notices"]}
    return {"SOC_REPORTING__UNIT": "某市大数据发展管理局（演示）", "SOC_REPORTING__CONTACT_NAME": "安全运营值班员",
            "SOC_REPORTING__CONTACT_PHONE": "0000-0000000", "SOC_REPORTING__ENDPOINTS": json.dumps([endpoint]),
            "SOC_REPORTING__SENDER_ID": PROVINCE_SENDER, "SOC_REPORTING__KEY_ID": "demo-key",
            "SOC_REPORTING__PRIVATE_KEY_FILE": str(keys.private), "SOC_REPORTING__PUBLIC_KEY_FILE": str(keys.public),
            "SOC_REPORTING__INTERVAL_S": "1"}


def _upstream(es, prefix: str, port: int, folder: Path, since: str,  # type: ignore[no-untyped-def]
              timeout: float = 60.0) -> int:
    """Wait for the notice of the incident this run's playbook opened (or joined) to reach the
    provincial platform; show its receipt. On a stack that ran the demo before, the brute force
    joins the earlier run's open incident (same attacker, same tenant), which was reported then:
    its initial notice is shown, said to be earlier, rather than waiting for a second one. A re-run
    within the brute-force window even continues the earlier alert, so no incident is opened: the
    attacker's incident is shown then."""
    deadline = time.monotonic() + timeout
    notice: dict[str, object] | None = None
    incident = ""
    while time.monotonic() < deadline:
        if not incident and es.indices.exists(index=f"{prefix}-actions"):
            es.indices.refresh(index=f"{prefix}-actions")
            hits = es.search(index=f"{prefix}-actions", size=1, sort=[{"@timestamp": "asc"}],
                             query={"bool": {"filter": [{"term": {"soc.action.kind": "open_incident"}},
                                                        {"term": {"soc.action.state": "applied"}},
                                                        {"range": {"event.created": {"gte": since}}}]}}
                             )["hits"]["hits"]
            incident = str(hits[0]["_source"]["soc"]["action"]["target"]) if hits else ""
        if not incident and es.indices.exists(index=f"{prefix}-incidents"):
            # A re-run within the brute-force window continues the earlier run's alert (same
            # attacker, same window), so no playbook runs again: its incident is the one to show.
            es.indices.refresh(index=f"{prefix}-incidents")
            hits = es.search(index=f"{prefix}-incidents", size=1, sort=[{"soc.incident.updated": "desc"}],
                             query={"term": {"soc.incident.source_ips": ATTACKER}})["hits"]["hits"]
            incident = str(hits[0]["_source"]["soc"]["incident"]["id"]) if hits else ""
        if incident and es.indices.exists(index=f"{prefix}-outbox"):
            es.indices.refresh(index=f"{prefix}-outbox")
            hits = es.search(index=f"{prefix}-outbox", size=1, sort=[{"soc.notice.created": "asc"}],
                             query={"bool": {"filter": [{"term": {"soc.notice.state": "delivered"}},
                                                        {"term": {"soc.notice.incident_id": incident}}]}}
                             )["hits"]["hits"]
            if hits:
                notice = hits[0]["_source"]["soc"]["notice"]
                break
        time.sleep(1)
    if notice is None:
        console.print("[bold red]事件通报未送达省级平台 (the incident notice did not reach the provincial platform)"
                      "[/bold red]" + (f" 事件 incident {incident}" if incident else " (本次未开事件 no incident opened)"))
        return 1
    if str(notice.get("created", "")) < since:
        console.print(f"本次告警并入已上报的事件 {incident}（此前演示中已首报）(the alerts joined an incident reported "
                      "by an earlier run of the demo)", soft_wrap=True)
    receipt = notice.get("receipt") or {}
    console.print(f"[bold]事件上报 upstream:[/bold] 事件定级 {notice.get('grade', '')}，首报 {notice['id']} 经 SM2/SM3 签名"
                  f"送达省级平台，回执 receipt {receipt.get('receipt_id', '?')}", soft_wrap=True)
    password = (folder / "regulator-password").read_text(encoding="utf-8")
    console.print(f"  监管查看 (the regulators' view): http://127.0.0.1:{port}/  用户 username {REGULATOR}  "
                  f"口令 password {password}", soft_wrap=True, highlight=False)
    return 0


def _compliance(settings: Settings, assets: Path, out: Path) -> None:
    """The MLPS checks over the demo's city, and the assessor's report of its main system."""
    import asyncio

    from soc.assets import load_inventory
    from soc.compliance.engine import Context, load_checks, run_checks
    from soc.compliance.report import build_report, check_defs, parse_period
    from soc.compliance.store import ComplianceStore, scores
    from soc.response.blocks import utcnow
    from soc.store.client import async_client

    s = settings.model_copy(update={"assets_file": assets})
    inventory = load_inventory(assets)

    async def run() -> tuple[dict[str, dict[str, object]], Path | None]:
        es = async_client(s)
        try:
            checks, _ = load_checks(s.compliance.checks_dir)
            now = utcnow()
            results = await run_checks(Context(es, s, inventory, now), checks)
            await ComplianceStore(es, s.elastic.index_prefix).write(results)
            report = await build_report(es, s.elastic.index_prefix, inventory, TARGET_SYSTEM,
                                        parse_period(None, None, now), out, check_defs(s.compliance.checks_dir)[0], now)
            return scores(results)["system"], report.pdf_path
        finally:
            await es.close()

    try:
        by_system, pdf = asyncio.run(run())
    except Exception as exc:  # noqa: BLE001 - the demo's main job is done; say why this part is not
        console.print(f"[yellow]等保合规检查未完成 (compliance checks not done): {exc}[/yellow]")
        return
    console.print("[bold]等保 2.0 合规检查 (MLPS 2.0 checks from the telemetry just indexed):[/bold] "
                  + "; ".join(f"{name} {sc['score'] if sc['score'] is not None else '—'} 分 "
                              f"(符合 {sc['pass']}, 不符合 {sc['fail']}, 不适用 {sc['not_applicable']})"
                              for name, sc in by_system.items()), soft_wrap=True)
    if pdf is not None:
        console.print(f"  测评证据报告 (evidence report for the assessor): {pdf}", soft_wrap=True, highlight=False)


def _web(settings: Settings, pipeline: LocalPipeline) -> str:
    """Start the API with the web UI and make the demo's sign-in; what to tell the user."""
    import asyncio

    from soc.api.accounts import Accounts
    from soc.store.client import async_client

    password = secrets.token_urlsafe(12)

    async def account() -> None:
        es = async_client(settings)
        try:
            await Accounts(es, settings.elastic.index_prefix, settings.api).put_user(
                DEMO_USER, password, ["analyst"], ["*"])
        finally:
            await es.close()

    asyncio.run(account())
    port = settings.api.port if bindable(settings.api.port) else free_port()
    pipeline.start_api(port)
    url = f"http://127.0.0.1:{port}/"
    console.print(f"[green]✓[/green] 分析平台 web UI: {url} (sign in below when the story is done)")
    return (f"[bold]分析平台 Web 界面 (the analysts' web UI):[/bold] {url}\n"
            f"  用户名 username: [bold]{DEMO_USER}[/bold]   口令 password: [bold]{password}[/bold] (new at every run)")


def _cst(ts: str) -> str:
    return datetime.fromisoformat(ts.replace("Z", "+00:00")).astimezone(CST).strftime("%H:%M:%S")


def _report(es, prefix: str, mine: dict, since: dict, total: int, done: bool, settings: Settings) -> int:  # type: ignore[no-untyped-def]
    n_events = count(es, f"{prefix}-events-*", mine)
    n_dead = count(es, f"{prefix}-deadletter", {"range": {"soc.deadletter.received": {"gte": mine["range"]["soc.received"]["gte"]}}})
    by_dataset = es.search(index=f"{prefix}-events-*", size=0, query=mine,
                           aggs={"d": {"terms": {"field": "event.dataset", "size": 20}}})
    console.print(f"已索引事件 indexed events: {n_events} of {total} lines sent, {n_dead} dead-lettered")
    table = Table()
    table.add_column("event.dataset")
    table.add_column("count", justify="right")
    for b in by_dataset["aggregations"]["d"]["buckets"]:
        table.add_row(b["key"], str(b["doc_count"]))
    console.print(table)

    alerts = es.search(index=f"{prefix}-alerts", size=20, query=since, sort=[{"@timestamp": "desc"}])
    at = Table(title="告警 alerts raised")
    for col in ("规则 rule", "级别 level", "来源 source.ip", "系统 asset (等保级别)", "次数 count",
                "首次 → 末次 (北京时间)"):
        at.add_column(col)
    for hit in alerts["hits"]["hits"]:
        a = hit["_source"]
        sa = a["soc"]["alert"]
        asset = a.get("soc", {}).get("asset") or {}
        where = f"{asset['name']} (L{asset['mlps_level']})" if asset else str(a.get("host", {}).get("name", ""))
        at.add_row(a["rule"]["name"], sa["severity"], str(a.get("source", {}).get("ip", "")), where, str(sa["count"]),
                   f"{_cst(sa['first_seen'])} → {_cst(sa['last_seen'])}")
    console.print(at)
    n_actions = count(es, f"{prefix}-actions", since)
    console.print(f"处置记录 actions recorded: {n_actions}")

    url = settings.es_url
    auth = (f"-u \"elastic:$(cut -d: -f2 {credentials_file(settings.stack)})\" "
            if settings.uses_local_elastic else "")
    console.print("[bold]在 Elasticsearch 中查看 (see them in Elasticsearch):[/bold]")
    for cmd in (
        f"curl -s {auth}'{url}/{prefix}-alerts/_search?pretty&sort=@timestamp:desc'",
        f"curl -s {auth}'{url}/{prefix}-events-*/_search?pretty&q=source.ip:{ATTACKER}'",
        f"curl -s {auth}'{url}/{prefix}-deadletter/_search?pretty'",
        ".venv/bin/soc stack down    # 停止 (stop the stack)",
    ):
        console.print(f"  {cmd}", soft_wrap=True, highlight=False, markup=False)
    brute = any(h["_source"]["rule"]["name"] == BRUTE_FORCE_RULE for h in alerts["hits"]["hits"])
    ok = done and brute and n_events + n_dead == total
    if ok:
        console.print("[bold green]演示完成: the brute force was detected and every line is accounted for.[/bold green]")
    else:
        console.print(f"[bold red]demo incomplete: events {n_events} + dead letters {n_dead} of {total}, "
                      f"brute-force alert {'found' if brute else 'missing'}[/bold red]")
    return 0 if ok else 1


def _lab() -> NetLab | None:
    """A network namespace whose nftables the demo drives (root with ip and nft), else None."""
    import os
    import shutil

    if os.geteuid() != 0 or not (shutil.which("ip") and shutil.which("nft")):
        console.print("→ not root or no nftables: the demo blocks in the blocklist feed only")
        return None
    try:
        return NetLab.create()
    except Exception as exc:  # noqa: BLE001 - the feed still shows the block
        console.print(f"→ no network namespace ({exc}): the demo blocks in the blocklist feed only")
        return None


def _response(settings: Settings, lab: NetLab | None, timeout: float = 90.0) -> int:
    """The attacker blocked (feed, nftables), then released at its TTL; 0 when both were seen."""
    import asyncio

    import httpx

    from soc.response.adapters.nftables import NftablesAdapter, NftablesConfig
    from soc.response.blocks import BlockStore
    from soc.response.feed import feed_app
    from soc.store.client import async_client

    async def state() -> tuple[str | None, str, list[str], list[str]]:
        es = async_client(settings)
        try:
            block = await BlockStore(es, settings.elastic.index_prefix).get("all", ATTACKER)
        finally:
            await es.close()
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=feed_app(settings)), base_url="http://f") as c:
            feed = (await c.get("/blocklist.txt")).text.split()
        kernel = await NftablesAdapter(NftablesConfig(namespace=lab.name)).elements() if lab is not None else []
        return (block.state if block else None), (block.expires_at if block else ""), feed, kernel

    deadline = time.monotonic() + timeout
    seen_block = False
    while time.monotonic() < deadline:
        st, until, feed, kernel = asyncio.run(state())
        if st == "active" and not seen_block:
            seen_block = True
            where = f"; nftables set in namespace {lab.name}: {kernel}" if lab is not None else ""
            console.print(f"[bold]处置 response:[/bold] 已封禁 {ATTACKER} 至 {_cst(until)} (北京时间)，"
                          f"封禁清单 blocklist feed: {feed}{where}")
            console.print(f"  剧本 playbook: {settings.response.playbooks_dir}/block_ssh_bruteforce.yml; "
                          f"演示中 TTL 上限 {DEMO_TTL_S}s; 解除: soc block remove {ATTACKER}")
        if seen_block and st == "expired" and ATTACKER not in feed and ATTACKER not in kernel:
            console.print(f"[bold green]封禁到期，已自动解除 (released at its TTL): feed {feed}"
                          f"{f', nftables {kernel}' if lab is not None else ''}[/bold green]")
            return 0
        time.sleep(1)
    console.print(f"[bold red]response incomplete: blocked {'yes' if seen_block else 'no'}, "
                  "release not seen[/bold red]")
    return 1
