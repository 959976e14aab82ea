"""The analysts' web UI in a real browser: Debian's headless Chromium, driven by playwright, against
the real API (uvicorn on 127.0.0.1) on the real Elasticsearch.

An analyst signs in through the zh-CN form, sees the overview drawn (ECharts canvases, the
figures of the seeded data), triages from the keyboard (j/k, Enter, i, r with a reason, a, x and
a bulk assignment), sees a new alert arrive live, reads the events behind an alert (normalized
fields and the raw line, as text: a line carrying HTML stays text), comments, opens an incident,
looks at blocks and rules, tests a Sigma rule, reads the MLPS compliance matrix and the evidence
behind a cell (the documents as text), and switches to English and back (remembered over a
reload). The incident is graded (GB/T 20986-2023: category and grade with their basis), its grade
overridden (refused without a reason, with the server's words; then taken, with a timeline entry),
an initial notice asked for (this estate has no upstream receiver: the server's refusal shown);
notices seeded in the outbox as soc/reporting/outbox.py writes them show their deadline in
Asia/Shanghai, 已超时 when past it, the receipt, the refusal, and a rejected one is sent again.
A regulator reads the reported incident and its notices without a button to press. The officer
of tenant A sees tenant A's alert and never tenant B's, not even by its id, and only tenant A's
systems in the compliance matrix.
A lost session sends the browser back to sign-in. No page error, no CSP violation, and no
console error but the refusals the test provokes on purpose.

A missing Chromium, playwright, Node/npm or engine FAILS these tests (never skips). The UI is
built first with scripts/build-web.sh (fast when nothing changed). Screenshots of every page go
to pytest's tmp_path, and also to $SOC_SCREENSHOTS when it is set.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import subprocess
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import orjson
import pytest
from elasticsearch import Elasticsearch

from soc.api.accounts import Accounts
from soc.compliance.model import Evidence, Result
from soc.compliance.store import ComplianceStore
from soc.config import PROJECT_ROOT, Settings
from soc.model import Alert, RawRecord, iso
from soc.reporting.notices import encode, notice_id_for
from soc.reporting.outbox import Outbox, outbox_doc
from soc.response.blocks import PENDING, Block, BlockStore, expiry, utcnow
from soc.store.bulk import BulkWriter
from soc.store.client import async_client
from soc.store.setup import ensure_templates
from soc.stream.index import bulk_items
from soc.stream.normalize import normalize_record

from .apiseed import serve
from .conftest import drop_indices

pytestmark = pytest.mark.integration

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
PASSWORD = "界面测试口令-UI-Test-Only-9"  # a test-only account password
SHANGHAI = ZoneInfo("Asia/Shanghai")
WAIT_MS = 20_000  # the longest wait for an element (not a timing assertion)
# tenant -> (source address, where GeoIP would put it)
SOURCES = {"dept-a": ("203.0.113.10", "CN", 39.9, 116.4), "dept-b": ("198.51.100.20", "US", 37.8, -122.4)}
LIVE_SOURCE = "192.0.2.77"  # the alert that arrives while the queue is open (tenant B)
PENDING_TARGET = "198.51.100.99"  # a playbook's block waiting for an analyst's approval
# A raw line that carries HTML: the UI must show it as text.
HOSTILE_USER = '<img src=x onerror="window.__xss=1">'
# MLPS controls of the compliance page: (check id, clause, title)
CONTROLS = [("logs-received-24h", "8.1.4.3 a", "日志送达"), ("admin-mfa", "8.1.4.1 d", "管理员双因素认证"),
            ("backup-offsite", "8.1.4.9 c", "异地备份")]
# run -> tenant -> status per control (the system of tenant t is 政务服务网-t)
# Receivers (reporting.endpoints names) of the notices seeded in the outbox: the estate itself
# configures none. The province's is overdue, one authority rejected it, the other has it.
OVERDUE_EP, REJECTED_EP, DELIVERED_EP = "province", "psb-city", "cac-city"
REJECTION = {"status": 401, "code": "SIGNATURE_INVALID", "message": "签名验证失败 (unknown key id)"}
RECEIPT_ID = "RCPT-2026-000123"
COMPLIANCE = {"run-1": {"dept-a": ("fail", "pass", "not_applicable"), "dept-b": ("pass", "not_applicable", "fail")},
              "run-2": {"dept-a": ("pass", "error", "not_applicable"), "dept-b": ("pass", "fail", "pass")}}


def alert_line(tenant: str, src: str, when: datetime, count: int = 5) -> bytes:
    _, country, lat, lon = SOURCES.get(tenant, (src, "US", 40.7, -74.0))
    doc = Alert(rule_id="r-brute", rule_name="SSH 暴力破解", level="high", group_key=f"g|{src}", first_seen=when,
                last_seen=when + timedelta(seconds=count), event_ids=[f"{src}-e{k}" for k in range(count)],
                count=count, tags=["attack.t1110", "attack.credential_access"],
                context={"source": {"ip": src, "geo": {"country_iso_code": country, "location": {"lat": lat, "lon": lon}}},
                         "destination": {"ip": "10.1.2.3", "port": 22}, "host": {"name": "web01"},
                         "labels": {"tenant": tenant}, "soc": {"asset": {"name": f"政务服务网-{tenant}"}}},
                window_start_id=f"{src}-e0").to_doc()
    return orjson.dumps(doc)


def event_line(tenant: str, src: str, k: int, when: datetime) -> bytes:
    """An sshd failure from src, through the real normalize stage (event.original is the line)."""
    stamp = (when + timedelta(seconds=k)).strftime("%Y-%m-%dT%H:%M:%SZ")
    user = HOSTILE_USER if k == 0 else "root"
    raw = f"<38>1 {stamp} web01 sshd 811 - - Failed password for {user} from {src} port {40000 + k} ssh2"
    record = RawRecord(raw.encode(), time.time_ns(), "syslog-udp", "192.0.2.1:514", f"src-{tenant}", tenant=tenant)
    key, doc = normalize_record(record)
    assert key is not None, doc
    doc["event"]["id"] = f"{src}-e{k}"  # the ids the seeded alert names
    return orjson.dumps(doc)


async def write(s: Settings, kind: str, lines: list[bytes]) -> None:
    raw = async_client(s)
    try:
        items, dead = bulk_items(kind, s.elastic.index_prefix, lines)
        assert not dead and (await BulkWriter(raw, "test", refresh=True).write(items)).written == len(items)
    finally:
        await raw.close()


def compliance_results(prefix: str, when: datetime) -> list[Result]:
    """Two runs of three checks over the two tenants' systems; the latest pass of tenant A's
    logs check names two of its events (the first carries HTML) as its evidence."""
    out = []
    for k, (run, by_tenant) in enumerate(COMPLIANCE.items()):
        at = when - timedelta(hours=2 - k)
        for tenant, statuses in by_tenant.items():
            src = SOURCES[tenant][0]
            for (check, control, title), status in zip(CONTROLS, statuses, strict=True):
                latest_logs = run == "run-2" and check == CONTROLS[0][0]
                ev = Evidence(index=f"{prefix}-events-*", time_from=iso(at - timedelta(hours=24)), time_to=iso(at),
                              counts={"events": 5, "sources": 1} if latest_logs else {"events": 0},
                              samples=[f"{src}-e0", f"{src}-e1"] if latest_logs else [],
                              query={"bool": {"filter": [{"term": {"soc.asset.name": f"政务服务网-{tenant}"}}]}})
                out.append(Result(run_id=run, checked_at=iso(at), check_id=check, title=title, control=control,
                                  control_text=f"{title}的要求", subject=f"政务服务网-{tenant}", subject_kind="asset",
                                  tenant=tenant, mlps_level=3, status=status, evidence=ev,
                                  reason=f"24h 内收到 5 条日志 ({tenant})" if latest_logs else f"{status} ({tenant})"))
    return out


async def seed(s: Settings, when: datetime) -> None:
    await ensure_templates(s)
    await write(s, "alerts", [alert_line(t, ip, when) for t, (ip, *_) in SOURCES.items()])
    await write(s, "events", [event_line(t, ip, k, when) for t, (ip, *_) in SOURCES.items() for k in range(5)])
    raw = async_client(s)
    try:
        accounts = Accounts(raw, s.elastic.index_prefix, s.api)
        await accounts.put_user("analyst", PASSWORD, ["analyst"], ["*"])
        await accounts.put_user("officer-a", PASSWORD, ["officer"], ["dept-a"])
        await accounts.put_user("regulator", PASSWORD, ["regulator"], ["*"])
        await ComplianceStore(raw, s.elastic.index_prefix).write(compliance_results(s.elastic.index_prefix, when))
        assert await BlockStore(raw, s.elastic.index_prefix).put(Block(
            target=PENDING_TARGET, scope="all", state=PENDING, ttl_seconds=3600, expires_at=expiry(utcnow(), 1800),
            playbook="ssh-bruteforce", reason="SSH 暴力破解 (r-brute)", decided_by="playbook:ssh-bruteforce",
            devices=["feed"], approval_reason="高价值资产，需人工审批"))
    finally:
        await raw.close()


async def seed_notices(s: Settings, incident: dict[str, Any], now: datetime) -> dict[str, datetime]:
    """Three initial notices of the incident, queued three hours ago, as the outbox holds them
    (outbox_doc, Outbox.put): one still retrying past its deadline (已超时), one the receiver
    refused, one delivered, which marks the incident reported (what a regulator sees) the way the
    outbox does after a delivery. The due times, by endpoint."""
    inc = incident["soc"]["incident"]
    queued_at = now - timedelta(hours=3)
    due = {OVERDUE_EP: now - timedelta(minutes=75), REJECTED_EP: now + timedelta(hours=2),
           DELIVERED_EP: now + timedelta(hours=2)}
    tried = {"started": iso(queued_at), "finished": iso(queued_at), "worker": "test-worker", "url": "https://upstream.invalid/"}
    changes: dict[str, dict[str, Any]] = {
        OVERDUE_EP: {"state": "retrying", "attempt_count": 3, "first_attempt_at": iso(queued_at),
                     "next_attempt_at": iso(now + timedelta(minutes=5)), "last_error": "连接超时 (connect timeout)",
                     "attempts": [{**tried, "n": k, "outcome": "retry", "message": "连接超时 (connect timeout)"}
                                  for k in (1, 2, 3)]},
        REJECTED_EP: {"state": "rejected", "attempt_count": 1, "first_attempt_at": iso(queued_at),
                      "next_attempt_at": None, "rejected_at": iso(queued_at), "rejection": REJECTION,
                      "last_error": f"{REJECTION['code']}: {REJECTION['message']}",
                      "attempts": [{**tried, "n": 1, "outcome": "rejected", **REJECTION}]},
        DELIVERED_EP: {"state": "delivered", "attempt_count": 1, "first_attempt_at": iso(queued_at),
                       "next_attempt_at": None, "delivered_at": iso(queued_at), "late": False,
                       "receipt": {"receipt_id": RECEIPT_ID, "received_at": iso(queued_at), "duplicate": False},
                       "attempts": [{**tried, "n": 1, "outcome": "delivered", "status": 200, "receipt_id": RECEIPT_ID}]},
    }
    raw = async_client(s)
    try:
        outbox = Outbox(raw, s.elastic.index_prefix, s.reporting)
        for endpoint, change in changes.items():
            nid = notice_id_for(inc["id"], endpoint, 1)
            notice = {"notice_id": nid, "incident_id": inc["id"], "kind": "initial", "sequence": 1,
                      "classification": {k: inc.get(k) for k in ("grade", "grade_code", "category_code",
                                                                 "subcategory_code")},
                      "reporting_unit": {"operator_type": inc.get("operator_type")}}
            doc = outbox_doc(notice, encode(notice), tenant=incident["labels"]["tenant"], endpoint=endpoint,
                             recipient="province" if endpoint == OVERDUE_EP else "authority", adapter="http_sm2",
                             idempotency_key=uuid.uuid4().hex, due_at=due[endpoint], created_by="analyst",
                             now=queued_at)
            if "receipt" in change:
                change["receipt"]["notice_id"] = nid
            doc["soc"]["notice"].update(change)
            assert await outbox.put(doc)
        await outbox._mark_incidents()  # a delivered notice marks its incident reported
    finally:
        await raw.close()
    return due


def in_thread(coro: Any) -> None:
    """Run a coroutine to its end beside playwright's own event loop (which owns this thread)."""
    errors: list[BaseException] = []

    def run() -> None:
        try:
            asyncio.run(coro)
        except BaseException as exc:  # noqa: BLE001 - re-raised in the caller's thread
            errors.append(exc)

    worker = threading.Thread(target=run)
    worker.start()
    worker.join()
    if errors:
        raise errors[0]


def build_ui() -> None:
    if not shutil.which("npm"):
        pytest.fail("npm is not installed: the web UI cannot be built (scripts/build-web.sh)", pytrace=False)
    done = subprocess.run(["bash", str(PROJECT_ROOT / "scripts" / "build-web.sh")], capture_output=True, text=True,
                          timeout=900)
    if done.returncode != 0:
        pytest.fail(f"scripts/build-web.sh failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}", pytrace=False)
    assert (PROJECT_ROOT / "dashboards" / "web" / "dist" / "index.html").is_file()


@dataclass
class Watch:
    """What the page said that it should not have: page errors, CSP violations, console errors."""

    page_errors: list[str] = field(default_factory=list)
    console_errors: list[tuple[str, str]] = field(default_factory=list)  # (text, url)
    expected: list[tuple[int, str]] = field(default_factory=list)  # refusals provoked on purpose

    def attach(self, page: Any) -> None:
        page.on("pageerror", lambda exc: self.page_errors.append(str(exc)))
        page.on("console", lambda m: self.console_errors.append((m.text, (m.location or {}).get("url", "")))
                if m.type == "error" else None)

    def unexpected(self) -> list[tuple[str, str]]:
        out = []
        for text, url in self.console_errors:
            m = re.match(r"Failed to load resource: the server responded with a status of (\d+)", text)
            if m and any(int(m.group(1)) == code and part in url for code, part in self.expected):
                continue
            out.append((text, url))
        return out


# Every CSP violation of every document the page loads, reported to the test.
CSP_PROBE = """
document.addEventListener('securitypolicyviolation', (e) =>
  window.socCspViolation(`${e.violatedDirective} ${e.blockedURI || ''} ${e.sourceFile || ''}:${e.lineNumber || ''}`));
"""


def test_web_ui(base_settings: Settings, es: Elasticsearch, tmp_path: Path) -> None:
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install chromium (the browser tests need it)", pytrace=False)
    try:
        from playwright.sync_api import Error as PlaywrightError
        from playwright.sync_api import expect, sync_playwright
    except ImportError as exc:
        pytest.fail(f"playwright is not installed ({exc}): pip install playwright (never `playwright install`)",
                    pytrace=False)
    build_ui()

    prefix = f"web{uuid.uuid4().hex[:8]}"
    s = base_settings.model_copy(update={
        "elastic": base_settings.elastic.model_copy(update={"index_prefix": prefix}),
        "worker": base_settings.worker.model_copy(update={"rules_state_file": tmp_path / "rules-state.yml"}),
    })
    when = (datetime.now(UTC) - timedelta(minutes=5)).replace(microsecond=0)
    shots_dir = os.environ.get("SOC_SCREENSHOTS")
    shots = [tmp_path / "screenshots"] + ([Path(shots_dir)] if shots_dir else [])
    for d in shots:
        d.mkdir(parents=True, exist_ok=True)

    def shoot(page: Any, name: str) -> None:
        data = page.screenshot(full_page=True)
        for d in shots:
            (d / f"{name}.png").write_bytes(data)

    def es_alert(alert_id: str) -> dict[str, Any]:
        return es.get(index=f"{prefix}-alerts", id=alert_id)["_source"]["soc"]["alert"]

    try:
        asyncio.run(seed(s, when))
        ids = {h["_source"]["labels"]["tenant"]: h["_id"] for h in es.search(
            index=f"{prefix}-alerts", query={"match_all": {}}, size=10)["hits"]["hits"]}
        assert set(ids) == {"dept-a", "dept-b"}
        first_seen = when.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M:%S")

        with serve(s) as base, sync_playwright() as pw:
            try:
                browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
            except PlaywrightError as exc:
                pytest.fail(f"Chromium did not start: {exc}", pytrace=False)
            # A browser in another zone: the UI must still show Asia/Shanghai.
            ctx = browser.new_context(viewport={"width": 1366, "height": 768}, locale="zh-CN",
                                      timezone_id="America/New_York")
            ctx.set_default_timeout(WAIT_MS)
            expect.set_options(timeout=WAIT_MS)
            csp: list[str] = []
            ctx.expose_binding("socCspViolation", lambda source, text: csp.append(text))
            ctx.add_init_script(CSP_PROBE)
            page = ctx.new_page()
            # The refusals provoked below: a wrong password, another tenant's alert, routes made
            # missing, a lost session.
            watch = Watch(expected=[(401, "/api/v1/auth/login"), (404, f"/api/v1/alerts/{ids['dept-b']}"),
                                    (404, "/api/v1/alerts/stream"), (404, "/api/v1/overview"),
                                    (401, "/api/v1/alerts"), (401, "/api/v1/me")])
            watch.attach(page)

            # ---- 登录: the zh-CN form; a wrong password shows the server's words.
            page.goto(f"{base}/")
            expect(page).to_have_url(re.compile(r"#/login$"))
            assert page.evaluate("document.documentElement.lang") == "zh-CN"
            page.get_by_label("用户名").fill("analyst")
            page.get_by_label("密码").fill("not-the-password")
            page.get_by_role("button", name="登录").click()
            expect(page.locator("#login-error")).to_contain_text("用户名或口令错误")
            shoot(page, "01-login-refused")
            page.get_by_label("密码").fill(PASSWORD)
            page.get_by_role("button", name="登录").click()

            # ---- 态势总览: tiles with the seeded figures, every chart drawn on a canvas.
            expect(page).to_have_url(re.compile(r"#/overview$"))
            expect(page.locator("nav.nav a")).to_have_text(["态势总览", "告警研判", "事件处置", "上报通报", "封禁管理", "检测规则",
                                                            "等保合规"])
            expect(page.locator("#overview-updated")).to_contain_text("更新于")
            expect(page.locator("#kpis .kpi-events .tile-value")).to_have_text("10")
            expect(page.locator("#kpis .kpi-alerts .tile-value")).to_have_text("2")
            expect(page.locator("#kpis .sev-high .tile-value")).to_have_text("2")
            for chart in ("events", "alerts", "sources", "systems", "techniques", "map"):
                expect(page.locator(f"#chart-{chart} canvas").first).to_be_attached()
                expect(page.locator(f"[data-chart={chart}] .chart-empty")).to_be_hidden()
            page.locator("button.seg", has_text="近 1 小时").click()
            expect(page.locator("#kpis .kpi-alerts .tile-value")).to_have_text("2")
            page.wait_for_timeout(300)  # let the canvases paint before the picture
            shoot(page, "02-overview")

            # ---- 告警研判: the queue, moved through from the keyboard.
            page.get_by_role("link", name="告警研判").click()
            rows = page.locator("#triage-rows tr[data-id]")
            expect(rows).to_have_count(2)
            expect(page.locator("#triage-live")).to_have_text("实时推送已连接")
            cursor = page.locator("#triage-rows tr.cursor")
            top = cursor.get_attribute("data-id")
            page.keyboard.press("j")
            expect(cursor).not_to_have_attribute("data-id", top or "")
            second = cursor.get_attribute("data-id")
            page.keyboard.press("k")
            expect(cursor).to_have_attribute("data-id", top or "")
            assert {top, second} == set(ids.values())
            page.keyboard.press("?")
            expect(page.locator("#shortcut-help")).to_contain_text("键盘快捷键")
            page.keyboard.press("Escape")
            expect(page.locator("#shortcut-help")).to_have_count(0)

            # A new alert (tenant B) arrives while the queue is open: on top, highlighted.
            live = (datetime.now(UTC) - timedelta(seconds=30)).replace(microsecond=0)
            in_thread(write(s, "alerts", [alert_line("dept-b", LIVE_SOURCE, live)]))
            expect(rows).to_have_count(3)
            expect(page.locator("#triage-rows tr.fresh")).to_contain_text(LIVE_SOURCE)
            shoot(page, "03-triage")

            # x marks two alerts, then a bulk assignment to me.
            page.locator(f"#triage-rows tr[data-id='{ids['dept-a']}']").click()
            page.keyboard.press("x")
            page.keyboard.press("j" if rows.nth(2).get_attribute("data-id") != ids["dept-a"] else "k")
            page.keyboard.press("x")
            expect(page.locator("#bulk-count")).to_have_text("已选 2 条")
            shoot(page, "04-triage-selection")
            page.locator("#bulkbar").get_by_role("button", name="指派给我").click()
            expect(page.locator("#notices")).to_contain_text("成功 2 条")
            expect(page.locator("#bulkbar")).to_be_hidden()
            assert es_alert(ids["dept-a"])["assignee"] == "analyst"

            # Enter opens the alert under the cursor (tenant B's).
            page.locator(f"#triage-rows tr[data-id='{ids['dept-b']}']").click()
            page.keyboard.press("Enter")
            expect(page).to_have_url(re.compile(rf"#/alerts/{ids['dept-b']}$"))

            # ---- 告警详情: summary in Asia/Shanghai time, events normalized and raw (as text).
            expect(page.locator("#alert-title")).to_have_text("SSH 暴力破解")
            expect(page.locator("#alert-first-seen")).to_have_text(first_seen)
            expect(page.locator("#alert-summary")).to_contain_text("政务服务网-dept-b")
            expect(page.locator("#alert-summary")).to_contain_text("T1110")
            events = page.locator("#alert-events details.event")
            expect(events).to_have_count(5)
            src_b = SOURCES["dept-b"][0]
            expect(events.first.locator("pre.raw")).to_contain_text(f"Failed password for {HOSTILE_USER} from {src_b}")
            expect(events.first.locator("table.kv tr", has_text="source.ip")).to_contain_text(src_b)
            expect(events.first.locator(".event-fields")).to_contain_text("event.dataset")
            assert page.locator("#alert-events img").count() == 0 and page.evaluate("window.__xss") is None

            # Status from the keyboard: i (in progress), r (resolved, with a reason), a (assign).
            page.keyboard.press("i")
            expect(page.locator("#alert-summary")).to_contain_text("处理中")
            page.keyboard.press("r")
            dialog = page.locator("dialog[open]")
            expect(dialog).to_contain_text("将告警标记为已解决")
            dialog.locator("textarea").fill("已封禁来源，确认无成功登录")
            dialog.get_by_role("button", name="提交").click()
            expect(page.locator("#alert-summary")).to_contain_text("已解决")
            expect(page.locator("#alert-summary")).to_contain_text("已封禁来源，确认无成功登录")
            stored = es_alert(ids["dept-b"])
            assert (stored["status"], stored["status_reason"], stored["updated_by"]) == (
                "resolved", "已封禁来源，确认无成功登录", "analyst")

            # A comment.
            page.locator("#comment-text").fill("来源已通报网信部门")
            page.get_by_role("button", name="发表评论").click()
            expect(page.locator("#comments")).to_contain_text("来源已通报网信部门")
            shoot(page, "05-alert-detail")

            # ---- 事件处置: an incident opened from the alert, with its timeline.
            page.get_by_role("button", name="创建事件").click()
            page.locator("dialog[open]").get_by_role("button", name="提交").click()
            expect(page).to_have_url(re.compile(r"#/incidents/[^/]+$"))
            expect(page.locator("#incident-title")).to_contain_text("SSH 暴力破解")
            expect(page.locator("#incident-timeline li").first).to_be_visible()
            page.locator("#incident-note").fill("已联系资产负责人")
            page.get_by_role("button", name="添加记录").click()
            expect(page.locator("#incident-timeline")).to_contain_text("已联系资产负责人")
            shoot(page, "06-incident")

            # ---- 分类定级: computed by the server (GB/T 20986-2023), with its basis.
            incident_id = page.url.rsplit("/", 1)[1]
            incident_url = page.url
            watch.expected += [(422, f"/api/v1/incidents/{incident_id}/grade"),
                               (409, f"/api/v1/incidents/{incident_id}/notices")]
            expect(page.locator("#grading-none")).to_contain_text("尚未定级")
            expect(page.locator("#incident-grade-badge")).to_have_text("未定级")
            page.get_by_role("button", name="定级", exact=True).click()
            grades = {"特别重大": "I", "重大": "II", "较大": "III", "一般": "IV"}
            expect(page.locator("#grading-grade .badge")).to_have_text(re.compile(r"^(特别重大|重大|较大|一般)（(I|II|III|IV)）$"))
            graded = es.get(index=f"{prefix}-incidents", id=incident_id)["_source"]["soc"]["incident"]
            computed = graded["grade"]
            expect(page.locator("#grading-grade")).to_have_text(f"{computed}（{grades[computed]}）")
            expect(page.locator("#incident-grade-badge")).to_have_text(f"{computed}（{grades[computed]}）")
            expect(page.locator("#grading-category")).to_have_text(f"{graded['category']}（{graded['category_code']}）")
            expect(page.locator("#grading-by")).to_have_text("analyst")
            basis = page.locator("#grade-basis li")
            expect(basis).to_have_count(len(graded["grade_basis"]))
            expect(basis.last).to_have_text(f"定级结果：{computed}（{grades[computed]}）")
            expect(page.locator("#incident-timeline li").last.locator(".tag")).to_have_text("定级")
            expect(page.locator("#incident-timeline li").last).to_contain_text(f"自动定级：{computed}")

            # An override without a reason: the server refuses it (422) and the page says its words.
            target = "重大" if computed != "重大" else "较大"
            page.get_by_role("button", name="调整定级").click()
            page.locator("#override-grade").select_option(target)
            page.get_by_role("button", name="提交调整").click()
            expect(page.locator("#override-error")).to_have_text(
                "请求失败：422 Value error, an override (grade, category_code or subcategory_code) needs a reason")
            assert es.get(index=f"{prefix}-incidents", id=incident_id)["_source"]["soc"]["incident"]["grade"] == computed
            page.evaluate("window.scrollTo(0, 0)")
            shoot(page, "15a-grade-override-refused")
            # With a reason: the new grade, the reason, and the override in the timeline.
            page.locator("#override-reason").fill("涉及政务服务网对外服务，影响面扩大")
            page.get_by_role("button", name="提交调整").click()
            expect(page.locator("#grading-grade")).to_have_text(f"{target}（{grades[target]}）")
            expect(page.locator("#incident-grade-badge")).to_have_text(f"{target}（{grades[target]}）")
            expect(page.locator("#grading-reason")).to_have_text("涉及政务服务网对外服务，影响面扩大")
            expect(basis.first).to_contain_text(f"分析员 analyst 人工定级为 {target}（{grades[target]}）")
            last = page.locator("#incident-timeline li").last
            expect(last.locator(".tag")).to_have_text("人工定级")
            expect(last).to_contain_text(f"人工定级：{computed} → {target}（{grades[target]}）")
            expect(last).to_contain_text("原因：涉及政务服务网对外服务，影响面扩大")
            stored_inc = es.get(index=f"{prefix}-incidents", id=incident_id)["_source"]["soc"]["incident"]
            assert (stored_inc["grade"], stored_inc["grade_override"]) == (target, True)

            # ---- 上报通报: an initial notice asked for. This estate configures no upstream receiver
            # (reporting.endpoints is empty): the server refuses with 409 and queues nothing.
            expect(page.locator("#incident-notices")).to_contain_text("本事件尚无上报通报")
            page.locator("#notice-new summary").click()
            expect(page.locator("#notice-kind")).to_have_value("initial")
            page.locator("#notice-impact").fill("政务服务网登录页遭持续暴力破解，未发现成功登录")
            page.locator("#notice-measures_taken").fill("已封禁来源地址，重置相关账户口令")
            page.get_by_role("button", name="生成并排队报送").click()
            expect(page.locator("#notice-result .error")).to_have_text(
                f"请求失败：409 没有接收 {target} 事件报告的上级平台 (no receiver configured for grade {target}: "
                "reporting.endpoints)")
            expect(page.locator("#incident-notices tbody tr[data-id]")).to_have_count(0)
            page.evaluate("window.scrollTo(0, 0)")
            shoot(page, "15b-notice-refused")
            assert not es.indices.exists(index=f"{prefix}-outbox") or es.count(index=f"{prefix}-outbox")["count"] == 0

            # Notices in the outbox, as the outbox writes them: overdue, rejected, delivered.
            now = datetime.now(UTC).replace(microsecond=0)
            due: dict[str, datetime] = {}
            incident_doc = es.get(index=f"{prefix}-incidents", id=incident_id)["_source"]

            async def seeding() -> None:
                due.update(await seed_notices(s, incident_doc, now))

            in_thread(seeding())
            page.reload()
            listed = page.locator("#incident-notices tbody tr[data-id]")
            expect(listed).to_have_count(3)
            overdue_row = page.locator(f"#incident-notices tr[data-endpoint='{OVERDUE_EP}']")
            expect(overdue_row.locator(".badge.overdue")).to_be_visible()
            expect(overdue_row.locator(".badge.overdue")).to_have_text("已超时")
            expect(overdue_row.locator(".due-time")).to_have_text(
                due[OVERDUE_EP].astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M:%S"))
            expect(overdue_row.locator(".countdown")).to_have_text(re.compile(r"^超时 01:1\d:\d\d$"))
            expect(overdue_row).to_contain_text("重试中")
            expect(page.locator(f"#incident-notices tr[data-endpoint='{REJECTED_EP}'] .badge.overdue")).to_be_hidden()
            expect(page.locator(f"#incident-notices tr[data-endpoint='{DELIVERED_EP}']")).to_contain_text(RECEIPT_ID)
            expect(page.locator("#incident-title ~ .tag.reported")).to_have_text("已上报")
            page.evaluate("window.scrollTo(0, 0)")
            shoot(page, "15-incident-grading")

            # ---- The notices page: what is overdue first, then what is due, the rest after.
            page.get_by_role("link", name="上报通报").click()
            expect(page).to_have_url(re.compile(r"#/notices$"))
            rows_n = page.locator("#notice-list tbody tr[data-id]")
            expect(rows_n).to_have_count(3)
            expect(rows_n.nth(0)).to_have_attribute("data-endpoint", OVERDUE_EP)
            expect(rows_n.nth(1)).to_have_attribute("data-endpoint", REJECTED_EP)
            expect(rows_n.nth(2)).to_have_attribute("data-endpoint", DELIVERED_EP)
            expect(rows_n.nth(0).locator(".badge.overdue")).to_have_text("已超时")
            expect(rows_n.nth(0)).to_have_class(re.compile(r"\boverdue-row\b"))
            expect(rows_n.nth(0).locator(".countdown")).to_have_text(re.compile(r"^超时 01:1\d:\d\d$"))
            expect(rows_n.nth(0).locator("a.nt-incident")).to_have_text(re.compile("SSH 暴力破解"))
            expect(rows_n.nth(0)).to_contain_text("初报")
            expect(rows_n.nth(0)).to_contain_text("连接超时 (connect timeout)")
            expect(rows_n.nth(0).locator(".attempt-count")).to_have_text("3")
            expect(rows_n.nth(1).locator(".badge.overdue")).to_be_hidden()
            expect(rows_n.nth(1).locator(".countdown")).to_have_text(re.compile(r"^剩余 01:5\d:\d\d$"))
            expect(rows_n.nth(1).locator(".rej-code")).to_have_text("HTTP 401 SIGNATURE_INVALID")
            expect(rows_n.nth(1).locator(".rej-message")).to_have_text(REJECTION["message"])
            expect(rows_n.nth(2).locator(".receipt-id")).to_have_text(RECEIPT_ID)
            expect(rows_n.nth(2)).to_contain_text("按时送达")
            expect(page.locator("#notice-tiles .nt-overdue .tile-value")).to_have_text("1")
            expect(page.locator("#notice-tiles .nt-due .tile-value")).to_have_text("1")
            expect(page.locator("#notice-tiles .nt-rejected .tile-value")).to_have_text("1")
            expect(page.locator("#notice-list button.requeue")).to_have_count(1)
            page.wait_for_timeout(300)
            shoot(page, "16-notices")
            page.locator("#lang-switch").click()  # the English strings of the same page
            expect(rows_n.nth(0).locator(".badge.overdue")).to_have_text("OVERDUE")
            expect(rows_n.nth(0).locator(".countdown")).to_have_text(re.compile(r"^01:1\d:\d\d over$"))
            expect(rows_n.nth(1).locator(".badge.ns")).to_have_text("Rejected")
            shoot(page, "16-notices-en")
            page.locator("#lang-switch").click()
            expect(rows_n.nth(0).locator(".badge.overdue")).to_have_text("已超时")
            # The attempts of a notice, as the outbox recorded them.
            rows_n.nth(1).get_by_role("button", name="记录").click()
            expect(page.locator("dialog[open] tbody tr")).to_have_count(1)
            expect(page.locator("dialog[open]")).to_contain_text("SIGNATURE_INVALID")
            page.locator("dialog[open]").get_by_role("button", name="关闭").click()
            # 重新发送: the rejected notice queued again, unchanged.
            rows_n.nth(1).get_by_role("button", name="重新发送").click()
            expect(page.locator("#notices")).to_contain_text(f"已重新排队：{REJECTED_EP} 初报")
            expect(page.locator(f"#notice-list tr[data-endpoint='{REJECTED_EP}'] .badge.ns")).to_have_text("排队中")
            expect(page.locator("#notice-list button.requeue")).to_have_count(0)
            requeued = es.get(index=f"{prefix}-outbox", id=notice_id_for(incident_id, REJECTED_EP, 1))["_source"]
            assert requeued["soc"]["notice"]["state"] == "queued"
            page.locator("button.seg", has_text="已超时").click()
            expect(rows_n).to_have_count(1)
            expect(rows_n.first).to_have_attribute("data-endpoint", OVERDUE_EP)
            page.locator("button.seg", has_text="全部").click()
            expect(rows_n).to_have_count(3)

            page.get_by_role("link", name="事件处置").click()
            expect(page.locator("table.grid tbody tr a").first).to_contain_text("SSH 暴力破解")
            expect(page.locator("table.grid tbody tr").first.locator(".badge.grade")).to_have_text(
                f"{target}（{grades[target]}）")
            expect(page.locator("#due-banner")).to_contain_text("已超时 1 份")
            expect(page.locator("#due-banner")).to_contain_text("待报送 1 份")
            shoot(page, "07-incidents")

            # ---- 封禁管理: a manual block with its TTL counting down; a pending block approved.
            page.get_by_role("link", name="封禁管理").click()
            blocks = page.locator("#blocks-list tbody tr")
            page.locator("#block-target").fill(SOURCES["dept-a"][0])
            page.locator("#block-reason").fill("持续暴力破解")
            page.get_by_role("button", name="封禁", exact=True).click()
            mine = blocks.filter(has_text=SOURCES["dept-a"][0])
            expect(mine).to_contain_text("已批准")
            expect(mine.locator(".countdown")).to_have_text(re.compile(r"^00:[0-5]\d:[0-5]\d$"))
            page.locator("button.seg", has_text="待审批").click()
            waiting = blocks.filter(has_text=PENDING_TARGET)
            expect(waiting).to_contain_text("高价值资产，需人工审批")
            shoot(page, "08-blocks-pending")
            waiting.get_by_role("button", name="批准").click()
            expect(page.locator("#notices")).to_contain_text(f"{PENDING_TARGET}：已批准")
            expect(page.locator("#playbook-runs tbody")).to_contain_text("manual")
            expect(page.locator(".content .error")).to_have_count(0)
            page.locator("button.seg", has_text="生效中").click()
            expect(blocks.filter(has_text=PENDING_TARGET)).to_contain_text("已批准")
            shoot(page, "08-blocks")

            # ---- 检测规则: the library listed; a Sigma rule tested on sample events.
            page.get_by_role("link", name="检测规则").click()
            expect(page.locator("#rules-list table.grid tbody tr").first).to_be_visible()
            assert page.locator("#rules-list .switch input").count() > 0
            page.get_by_role("button", name="运行测试").click()
            expect(page.locator("#test-matches")).to_have_text("命中的样例事件序号：0")
            shoot(page, "09-rules")

            # ---- 等保合规: the matrix of the latest run, scores, the trend, and a cell's evidence.
            page.get_by_role("link", name="等保合规").click()
            expect(page).to_have_url(re.compile(r"#/compliance$"))
            cells = page.locator("#compliance-matrix button.cs")
            expect(cells).to_have_count(6)
            for tenant, statuses in COMPLIANCE["run-2"].items():
                row = page.locator(f"#compliance-matrix tbody tr[data-system='政务服务网-{tenant}']")
                by_clause = [x for _, x in sorted(zip(CONTROLS, statuses, strict=True), key=lambda cs: cs[0][1])]
                expect(row.locator("button.cs")).to_have_text(
                    [{"pass": "符合", "fail": "不符合", "not_applicable": "不适用", "error": "出错"}[x] for x in by_clause])
            expect(page.locator("#compliance-matrix tr[data-system='政务服务网-dept-a'] .cp-score")).to_have_text("100")
            expect(page.locator("#compliance-matrix tr[data-system='政务服务网-dept-b'] .cp-score")).to_have_text("66.7")
            expect(page.locator("#compliance-scores [data-tenant='dept-b'] .tile-value")).to_contain_text("66.7")
            latest = (when - timedelta(hours=1)).astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M:%S")
            expect(page.locator("#compliance-updated")).to_have_text(f"最近检查：{latest}")
            expect(page.locator("#chart-compliance-trend canvas").first).to_be_attached()
            expect(page.locator("[data-chart=compliance-trend] .chart-empty")).to_be_hidden()
            # A cell opens its evidence: reason, Shanghai time range, query, the documents as text.
            page.locator("#compliance-matrix tr[data-system='政务服务网-dept-a'] button.cs[data-control='8.1.4.3 a']").click()
            card = page.locator("#compliance-evidence article.cp-evidence")
            expect(card).to_have_count(1)
            expect(card).to_contain_text("24h 内收到 5 条日志 (dept-a)")
            start = (when - timedelta(hours=25)).astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M:%S")
            expect(card.locator("#evidence-range")).to_have_text(f"{start} — {latest}")
            expect(card.locator("pre.cp-query")).to_contain_text('"soc.asset.name": "政务服务网-dept-a"')
            docs = card.locator("details.cp-doc")
            expect(docs).to_have_count(2)
            src_a = SOURCES["dept-a"][0]
            expect(docs.first.locator("pre.raw")).to_contain_text(f"Failed password for {HOSTILE_USER} from {src_a}")
            expect(docs.first.locator("table.kv tr", has_text="source.ip")).to_contain_text(src_a)
            assert page.locator("#compliance-evidence img").count() == 0 and page.evaluate("window.__xss") is None
            expect(page.locator("#compliance-trend-system")).to_have_value("政务服务网-dept-a")
            page.evaluate("window.scrollTo(0, 0)")  # the sticky bar would sit mid-picture otherwise
            page.wait_for_timeout(300)
            shoot(page, "14-compliance")
            # 立即检查: a run on demand. This estate has no inventory: the run checks the platform
            # only, and the departments' systems keep their latest results (run-2).
            page.locator("#compliance-run").click()
            expect(page.locator("#notices")).to_contain_text(re.compile(r"检查完成：\d+ 项结果"))
            expect(page.locator("#compliance-run")).to_be_enabled()
            for tenant in COMPLIANCE["run-2"]:
                expect(page.locator(f"#compliance-matrix tbody tr[data-system='政务服务网-{tenant}'] button.cs")).to_have_count(3)

            # ---- English, remembered over a reload, and back.
            page.get_by_role("link", name="态势总览").click()
            expect(page.locator("#kpis .kpi-alerts .tile-value")).to_have_text("3")
            page.locator("#lang-switch").click()
            expect(page.locator("nav.nav a")).to_have_text(["Overview", "Triage", "Incidents", "Notices", "Blocks", "Rules",
                                                            "Compliance"])
            expect(page.locator("h1")).to_have_text("SOC overview")
            page.reload()
            expect(page.locator("nav.nav a").first).to_have_text("Overview")
            assert page.evaluate("localStorage.getItem('soc.lang')") == "en"
            assert page.evaluate("document.documentElement.lang") == "en"
            expect(page.locator("#overview-updated")).to_contain_text("Updated")
            page.wait_for_timeout(300)
            shoot(page, "10-overview-en")
            page.locator("#lang-switch").click()
            expect(page.locator("nav.nav a").first).to_have_text("态势总览")
            page.locator("#logout").click()
            expect(page).to_have_url(re.compile(r"#/login$"))

            # ---- The regulator: the reported incident and its notices, read-only.
            page.get_by_label("用户名").fill("regulator")
            page.get_by_label("密码").fill(PASSWORD)
            page.get_by_role("button", name="登录").click()
            expect(page).to_have_url(re.compile(r"#/incidents$"))
            expect(page.locator("nav.nav a")).to_have_text(["事件处置", "上报通报"])
            expect(page.locator("table.grid tbody tr a")).to_have_count(1)  # the reported incident only
            page.goto(incident_url)
            expect(page.locator("#grading-grade")).to_have_text(f"{target}（{grades[target]}）")
            expect(page.locator("#incident-notices tbody tr[data-id]")).to_have_count(3)
            expect(page.locator(f"#incident-notices tr[data-endpoint='{OVERDUE_EP}'] .badge.overdue")).to_be_visible()
            expect(page.locator("#incident-timeline")).not_to_contain_text("已联系资产负责人")  # notes are the SOC's
            expect(page.locator(".content button")).to_have_count(3)  # only each notice's attempts log
            expect(page.locator(".content button", has_text="记录")).to_have_count(3)
            expect(page.locator("#notice-new, #override-form, #incident-note")).to_have_count(0)
            page.get_by_role("link", name="上报通报").click()
            expect(page.locator("#notices-readonly")).to_be_visible()
            expect(page.locator("#notice-list tbody tr[data-id]")).to_have_count(3)
            expect(page.locator("#notice-list tbody tr[data-id]").first).to_have_attribute("data-endpoint", OVERDUE_EP)
            expect(page.locator("#notice-list button.requeue")).to_have_count(0)
            shoot(page, "17-regulator-notices")
            page.locator("#logout").click()
            expect(page).to_have_url(re.compile(r"#/login$"))

            # ---- The officer of tenant A: tenant A's alert only, read-only, not B's even by id.
            page.get_by_label("用户名").fill("officer-a")
            page.get_by_label("密码").fill(PASSWORD)
            page.get_by_role("button", name="登录").click()
            expect(page).to_have_url(re.compile(r"#/overview$"))
            expect(page.locator("#kpis .kpi-alerts .tile-value")).to_have_text("1")
            page.get_by_role("link", name="告警研判").click()
            expect(rows).to_have_count(1)
            expect(rows.first).to_have_attribute("data-id", ids["dept-a"])
            expect(page.locator("#triage-rows")).not_to_contain_text(SOURCES["dept-b"][0])
            expect(page.locator("#triage-rows")).not_to_contain_text(LIVE_SOURCE)
            shoot(page, "11-officer-triage")
            page.keyboard.press("Enter")
            expect(page.locator("#alert-title")).to_have_text("SSH 暴力破解")
            expect(page.locator("#alert-actions button")).to_have_count(0)  # an officer does not triage
            expect(page.locator("#alert-events details.event")).to_have_count(5)
            page.goto(f"{base}/#/alerts/{ids['dept-b']}")
            expect(page.locator(".content .error")).to_contain_text("没有这条告警")
            shoot(page, "12-officer-other-tenant")
            page.get_by_role("link", name="等保合规").click()
            expect(page.locator("#compliance-matrix tbody tr[data-system]")).to_have_count(1)
            expect(page.locator("#compliance-matrix tbody tr[data-system='政务服务网-dept-a'] button.cs")).to_have_count(3)
            expect(page.locator(".content")).not_to_contain_text("dept-b")

            # ---- A route the server does not answer: the queue polls instead of streaming, the
            # overview says why and shows 暂无数据 (the answers are replaced in the browser).
            def missing(route: Any) -> None:
                route.fulfill(status=404, content_type="application/json", body='{"detail": "Not Found"}')

            page.route(re.compile(r"/api/v1/alerts/stream$"), missing)
            page.route(re.compile(r"/api/v1/overview(\?|$)"), missing)
            page.get_by_role("link", name="告警研判").click()
            expect(page.locator("#triage-live")).to_have_text("每 15 秒轮询")
            expect(rows).to_have_count(1)
            page.get_by_role("link", name="态势总览").click()
            expect(page.locator(".content .error")).to_contain_text("404 Not Found")
            expect(page.locator("[data-chart=events] .chart-empty")).to_have_text("暂无数据")
            expect(page.locator("[data-chart=events] .chart-empty")).to_be_visible()
            expect(page.locator("#kpis .kpi-alerts .tile-value")).to_have_text("—")
            shoot(page, "13-route-missing")
            page.unroute_all()

            # ---- A lost session (the cookie gone, 401) sends the browser back to sign-in.
            ctx.clear_cookies(name="soc_session")
            page.goto(f"{base}/#/alerts")
            expect(page).to_have_url(re.compile(r"#/login$"))
            expect(page.get_by_label("用户名")).to_be_visible()

            browser.close()

        assert watch.page_errors == [], watch.page_errors
        assert csp == [], csp
        assert not [e for e in watch.console_errors if "Content Security Policy" in e[0]], watch.console_errors
        assert watch.unexpected() == [], watch.unexpected()
    finally:
        drop_indices(es, prefix)
