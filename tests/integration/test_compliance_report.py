"""`soc compliance report` on the real Elasticsearch: results of a system over two runs (pass,
fail, not applicable, error; Chinese text; a `<script>` in a reason) become an HTML and a PDF
report in Chinese. The HTML names the system, every control's clause and text, each status, the
evidence ids, and escapes the script; the PDF's first page renders (not blank), its text layer
holds the system's name and "8.1.4" set in a CJK font (no tofu); an empty period says so; an
unknown system is a clear error; the CLI runs end to end. The first page is saved as a PNG to
tmp_path, and to $SOC_SCREENSHOTS when it is set."""

from __future__ import annotations

import asyncio
import ctypes
import os
import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_c
import pytest
import yaml
from elasticsearch import Elasticsearch

from soc.assets import load_inventory
from soc.audit import AuditTrail
from soc.compliance.model import CheckDef, Evidence, Result
from soc.compliance.report import TZ, Report, ReportError, Run, _marks, build_report, parse_period
from soc.compliance.store import ComplianceStore
from soc.config import Settings
from soc.model import iso
from soc.store.client import async_client
from soc.store.setup import ensure_templates

from .conftest import drop_indices

pytestmark = pytest.mark.integration
SOC = str(Path(sys.executable).with_name("soc"))

SYSTEM = "市民服务网上办事大厅"
OWNER = "市政务服务数据管理局"
OTHER = "市住房公积金查询系统"  # level 2; its results must stay out of SYSTEM's report
ZONE = "政务外网办事服务区"
SCRIPT = '<script>alert("等保")</script>'
ESCAPED = "&lt;script&gt;alert(&#34;等保&#34;)&lt;/script&gt;"  # as jinja2's autoescape (markupsafe) writes it

INVENTORY = {
    "assets": [
        {"name": SYSTEM, "owner": OWNER, "tenant": "市政务服务数据管理局", "mlps_level": 3, "criticality": "critical",
         "cii": True, "networks": ["10.20.0.0/16"], "hosts": ["zwfw-web-01", "zwfw-db-01"]},
        {"name": OTHER, "owner": "市住房公积金管理中心", "tenant": "公积金中心", "mlps_level": 2,
         "criticality": "medium", "networks": ["10.30.0.0/16"]},
    ],
    "zones": [{"name": ZONE, "networks": ["10.20.0.0/16"], "boundary_devices": ["zwfw-fw-01"]}],
}

# (id, clause, level-2 clause, title, control text, scope, remediation)
CONTROLS = {
    "logs-received-24h": ("8.1.4.3 a", "7.1.4.3 a", "在范围内系统 24 小时内有日志送达",
                          "应启用安全审计功能，审计覆盖到每个用户，对重要的用户行为和重要安全事件进行审计。", "asset",
                          "检查该系统主机与安全设备的 syslog 外发配置和采集器的日志源登记。"),
    "admin-two-factor": ("8.1.4.1 d", "", "运维管理员采用双因素身份鉴别",
                         "应采用口令、密码技术、生物技术等两种或两种以上组合的鉴别技术对用户进行身份鉴别，"
                         "且其中一种鉴别技术至少应使用密码技术来实现。", "asset",
                         "为运维管理员账号启用基于数字证书或动态口令的第二因素，并在堡垒机上强制执行。"),
    "wireless-controlled": ("8.1.3.1 d", "", "无线网络经受控边界设备接入",
                            "应限制无线网络的使用，保证无线网络通过受控的边界设备接入内部网络。", "asset", ""),
    "device-health-central": ("8.1.5.4 c", "", "集中监测设备与服务器运行状况",
                              "应对网络链路、安全设备、网络设备和服务器等的运行状况进行集中监测。", "asset", ""),
    "boundary-ids-alerts": ("8.1.3.3 a", "", "边界入侵检测在运行",
                            "应在关键网络节点处检测、防止或限制从外部发起的网络攻击行为。", "zone", ""),
}


def checks() -> list[CheckDef]:
    return [CheckDef(id=cid, title=title, control=clause, control_text=text, level2_control=l2, levels=[2, 3],
                     scope=scope, kind="log_presence", remediation=fix)
            for cid, (clause, l2, title, text, scope, fix) in CONTROLS.items()]


def result(run: str, at: datetime, check_id: str, status: str, reason: str, subject: str = SYSTEM,
           kind: str = "asset", level: int | None = 3, **evidence: Any) -> Result:
    clause, _, title, text, _, _ = CONTROLS[check_id]
    return Result(run_id=run, checked_at=iso(at), check_id=check_id, title=title, control=clause, control_text=text,
                  subject=subject, subject_kind=kind, tenant="市政务服务数据管理局", mlps_level=level, status=status,
                  reason=reason, evidence=Evidence(**evidence))


def query(name: str) -> dict[str, Any]:
    return {"bool": {"filter": [{"term": {"soc.asset.name": name}}, {"range": {"@timestamp": {"gte": "now-24h"}}}]}}


def seed(now: datetime) -> list[Result]:
    """Three runs: one before the period, two within it (the older one is the trend)."""
    old, run1, run2 = now - timedelta(days=40), now - timedelta(days=2), now - timedelta(hours=1)
    ev = {"index": "soc-events-*", "time_from": iso(run2 - timedelta(hours=24)), "time_to": iso(run2)}
    return [
        result("r0", old, "admin-two-factor", "pass", "旧的结果：期间之外"),
        result("r1", run1, "logs-received-24h", "fail", "24h 内仅收到 0 条日志，少于 1 条：审计日志未送达",
               counts={"events": 0, "sources": 0}, query=query(SYSTEM), **ev),
        result("r1", run1, "admin-two-factor", "fail", "3 名管理员仅凭口令登录"),
        result("r2", run2, "logs-received-24h", "pass", "24h 内收到 1523 条日志，来自 3 个日志源",
               counts={"events": 1523, "sources": 3}, samples=["evt-7f3a9c01", "evt-7f3a9c02", "evt-7f3a9c03"],
               query=query(SYSTEM), **ev),
        result("r2", run2, "admin-two-factor", "fail", f"管理员 zhangsan 仅凭口令登录堡垒机 {SCRIPT}",
               counts={"accounts": 1}, samples=["auth-0c1d2e3f"], query=query(SYSTEM), **ev),
        result("r2", run2, "wireless-controlled", "not_applicable", "该系统未使用无线网络接入（资产清单未登记无线网段）"),
        result("r2", run2, "device-health-central", "error",
               "检查执行出错 (the check failed to run): ConnectionTimeout('集中监测接口超时')", **ev),
        result("r2", run2, "boundary-ids-alerts", "pass", "边界入侵检测设备 24h 内上报 12 条告警",
               subject=ZONE, kind="zone", level=None, counts={"alerts": 12}, samples=["alert-b0a1"], **ev),
        result("r2", run2, "logs-received-24h", "fail", "24h 内仅收到 0 条日志：公积金系统审计日志未送达",
               subject=OTHER, level=2, **ev),
    ]


@pytest.fixture()
def env(tmp_path: Path, base_settings: Settings, es: Elasticsearch) -> Any:
    prefix = f"crep{uuid.uuid4().hex[:8]}"
    s = base_settings.model_copy(update={"elastic": base_settings.elastic.model_copy(update={"index_prefix": prefix})})
    assets = tmp_path / "assets.yaml"
    assets.write_text(yaml.safe_dump(INVENTORY, allow_unicode=True), encoding="utf-8")
    checks_dir = tmp_path / "checks"
    checks_dir.mkdir()
    for c in checks():
        (checks_dir / f"{c.id}.yml").write_text(
            yaml.safe_dump(c.model_dump(exclude={"source"}), allow_unicode=True), encoding="utf-8")
    now = datetime.now(UTC)

    async def write() -> None:
        await ensure_templates(s)
        client = async_client(s)
        try:
            await ComplianceStore(client, prefix).write(seed(now))
            await AuditTrail(client, prefix).append("operator:zhangsan", "auth.login", "success", tenant="市政务服务数据管理局")
        finally:
            await client.close()

    asyncio.run(write())
    try:
        yield s, prefix, assets, checks_dir, now
    finally:
        drop_indices(es, prefix)


def report(s: Settings, assets: Path, system: str, since: str, until: str, out: Path, now: datetime) -> Report:
    async def run() -> Report:
        client = async_client(s)
        try:
            return await build_report(client, s.elastic.index_prefix, load_inventory(assets), system,
                                      parse_period(since, until, now), out, checks(), now)
        finally:
            await client.close()

    return asyncio.run(run())


def shoot(pdf_path: Path, tmp_path: Path, name: str) -> tuple[pdfium.PdfDocument, Path]:
    pdf = pdfium.PdfDocument(pdf_path)
    image = pdf[0].render(scale=2).to_pil()
    dirs = [tmp_path / "screenshots"] + ([Path(os.environ["SOC_SCREENSHOTS"])] if os.environ.get("SOC_SCREENSHOTS") else [])
    for d in dirs:
        d.mkdir(parents=True, exist_ok=True)
        image.save(d / f"{name}.png")
    return pdf, dirs[0] / f"{name}.png"


def font_of(textpage: pdfium.PdfTextPage, index: int) -> str:
    size = pdfium_c.FPDFText_GetFontInfo(textpage.raw, index, None, 0, None)
    buf = ctypes.create_string_buffer(size)
    pdfium_c.FPDFText_GetFontInfo(textpage.raw, index, buf, size, None)
    return buf.value.decode("utf-8", "replace")


def test_report_html_and_pdf(tmp_path: Path, env: Any) -> None:
    s, _, assets, _, now = env
    today = now.astimezone(TZ).date()
    since, until = (today - timedelta(days=7)).isoformat(), today.isoformat()
    rep = report(s, assets, SYSTEM, since, until, tmp_path / "out", now)
    page = rep.html_path.read_text(encoding="utf-8")
    assert page == rep.html

    # identity, period, score: 2 pass (the system's logs, its zone's boundary IDS) among 2 + 1 fail
    for text in (SYSTEM, OWNER, "第三级", "关键信息基础设施", ZONE, f"{since} 00:00:00 至 {until} 23:59:59"):
        assert text in page, text
    d = rep.data
    assert (d.summary["pass"], d.summary["fail"], d.summary["not_applicable"], d.summary["error"]) == (2, 1, 1, 1)
    assert d.summary["score"] == 66.7 and "66.7%" in page
    assert [a.number for a in d.areas] == ["8.1.3", "8.1.4", "8.1.5"]
    for heading in ("8.1.3 安全区域边界", "8.1.4 安全计算环境", "8.1.5 安全管理中心"):
        assert heading in page

    # every control: clause, text, result in Chinese; evidence ids; remediation of the failure
    for cid, (clause, _, title, text, _, _) in CONTROLS.items():
        assert clause in page and title in page and text in page, cid
    for status in ("符合", "不符合", "不适用", "出错"):
        assert f">{status}</span>" in page, status
    for sample in ("evt-7f3a9c01", "evt-7f3a9c03", "auth-0c1d2e3f", "alert-b0a1"):
        assert sample in page
    assert CONTROLS["admin-two-factor"][5] in page
    assert "&#34;soc.asset.name&#34;" in page and "1523" in page  # the query, as JSON (escaped quotes)
    # the script of a reason is text, never markup
    assert ESCAPED in page and "<script" not in page

    # newest run is the result, the earlier run of the period is the trend; r0 (before) and OTHER stay out
    rows = {row.result.check_id: row for a in d.areas for row in a.rows}
    assert rows["logs-received-24h"].result.run_id == "r2"
    assert [m.status for m in rows["logs-received-24h"].trend] == ["fail", "pass"]
    assert [m.status for m in rows["admin-two-factor"].trend] == ["fail", "fail"]
    assert "旧的结果" not in page and OTHER not in page and "公积金系统审计日志未送达" not in page
    assert d.runs == 2 and d.results == 7
    assert d.generated_at.startswith(now.astimezone(TZ).strftime("%Y-%m-%d %H:%M:%S")) and "UTC+8" in d.generated_at
    assert (d.audit.ok, d.audit.records, d.audit.head_seq) == (True, 1, 1)
    assert f"共 1 条记录，链完整；链头序号 1，哈希 <span class=\"mono\">{d.audit.head_hash}</span>" in page

    # the PDF: the first page rendered, with the Chinese set in a CJK font as real text
    assert rep.pdf_path is not None
    pdf, png = shoot(rep.pdf_path, tmp_path, "compliance-report-page1")
    assert png.stat().st_size > 10_000
    gray = pdfium.PdfDocument(rep.pdf_path)[0].render(scale=1).to_pil().convert("L")
    hist = gray.histogram()
    dark = sum(hist[:128]) / sum(hist)
    assert 0.01 < dark < 0.5, f"page 1 looks blank or black: {dark:.3%} dark pixels"
    first = pdf[0].get_textpage()
    first_text = first.get_text_range()
    assert SYSTEM in first_text and "8.1.4" in first_text
    font = font_of(first, first_text.index(SYSTEM))
    assert any(f in font for f in ("WenQuanYi", "Noto", "SourceHan")), f"the name is set in {font!r}"
    everything = "".join(pdf[i].get_textpage().get_text_range() for i in range(len(pdf)))
    assert "8.1.4.1 d" in everything and "不符合" in everything and "evt-7f3a9c01" in everything
    assert f"共 {len(pdf)} 页" in everything  # the footer's page numbers


def test_level2_clauses_and_empty_period(tmp_path: Path, env: Any) -> None:
    s, _, assets, _, now = env
    today = now.astimezone(TZ).date()
    rep = report(s, assets, OTHER, (today - timedelta(days=7)).isoformat(), today.isoformat(), tmp_path / "l2", now)
    assert "第二级" in rep.html and "7.1.4.3 a" in rep.html and "7.1.4 安全计算环境" in rep.html
    assert "对应第三级条款 8.1.4.3 a" in rep.html and SYSTEM not in rep.html

    empty = report(s, assets, SYSTEM, "2020-01-01", "2020-01-31", tmp_path / "empty", now)
    assert empty.data.controls == 0 and empty.data.summary["score"] is None
    assert "本评估期间内无该系统的检查结果" in empty.html and "2020-01-01 00:00:00 至 2020-01-31 23:59:59" in empty.html
    assert empty.pdf_path is not None
    pdf = pdfium.PdfDocument(empty.pdf_path)
    assert "本评估期间内无该系统的检查结果" in pdf[0].get_textpage().get_text_range()

    with pytest.raises(ReportError, match="不早于终点"):
        parse_period("2025-02-01", "2025-01-01", now)


def test_cli_end_to_end(tmp_path: Path, env: Any) -> None:
    s, prefix, assets, checks_dir, now = env
    cli_env = {**os.environ, "SOC_ELASTIC__INDEX_PREFIX": prefix, "SOC_ASSETS_FILE": str(assets),
               "SOC_COMPLIANCE__CHECKS_DIR": str(checks_dir)}
    out = tmp_path / "cli"
    today = now.astimezone(TZ).date().isoformat()
    done = subprocess.run([SOC, "compliance", "report", "--system", SYSTEM, "--from",
                           (now.astimezone(TZ).date() - timedelta(days=7)).isoformat(), "--to", today,
                           "--out", str(out)], env=cli_env, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr
    html_path, pdf_path = (Path(line) for line in done.stdout.strip().splitlines()[-2:])
    assert html_path.parent == out and html_path.suffix == ".html" and pdf_path.suffix == ".pdf"
    assert "66.7" in done.stdout
    page = html_path.read_text(encoding="utf-8")
    assert SYSTEM in page and CONTROLS["admin-two-factor"][5] in page and ESCAPED in page
    assert pdfium.PdfDocument(pdf_path)[0].get_textpage().get_text_range().count(SYSTEM) >= 1

    unknown = subprocess.run([SOC, "compliance", "report", "--system", "不存在的系统", "--out", str(out)],
                             env=cli_env, capture_output=True, text=True, timeout=120)
    assert unknown.returncode == 2
    assert "不存在的系统" in unknown.stderr and "不在资产清单中" in unknown.stderr and SYSTEM in unknown.stderr
    assert "Traceback" not in unknown.stderr

    bad = subprocess.run([SOC, "compliance", "report", "--system", SYSTEM, "--from", "昨天"],
                         env=cli_env, capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and "无法识别的时间" in bad.stderr


def test_trend_is_per_run_then_per_day_then_per_week() -> None:
    start = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)  # a Monday, 09:00 in Beijing

    def runs(hours: list[int], fail_at: int) -> list[Run]:
        return [Run(f"r{h}", "c", SYSTEM, "asset", "fail" if h == fail_at else "pass", start + timedelta(hours=h))
                for h in hours]

    marks, basis = _marks(runs([0, 24], fail_at=24))
    assert basis == "按次" and [(m.label, m.status) for m in marks] == [("03-02 09:00", "pass"), ("03-03 09:00", "fail")]
    marks, basis = _marks(runs(list(range(0, 72, 4)), fail_at=28))  # 18 runs over 3 days: the worst of each day
    assert basis.startswith("按日") and [(m.label, m.status, m.runs) for m in marks] == [
        ("03-02", "pass", 4), ("03-03", "fail", 6), ("03-04", "pass", 6), ("03-05", "pass", 2)]
    marks, basis = _marks(runs(list(range(0, 24 * 60, 24)), fail_at=24 * 8))  # 60 daily runs: by week
    assert basis.startswith("按周") and len(marks) == 9 and marks[1].status == "fail" and marks[0].label == "03-02起"
