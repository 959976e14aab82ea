"""The evidence report for one protected system: HTML and PDF, in Chinese, for the MLPS assessor.

`soc compliance report --system NAME [--from … --to …] [--out DIR]` gathers the compliance
results of the period from `<prefix>-compliance` (ComplianceStore): the system's own results,
those of the security zones its networks lie in (区域边界, 8.1.3) and those of the platform
itself (安全管理中心, 8.1.5). Per check and subject the newest run of the period is the result;
the earlier runs are its trend. The score is the share that pass among those that pass or fail;
not applicable and errors are listed apart, never counted as a pass.

The page is rendered with jinja2 (autoescape on: reasons, ids and queries come from data) from
templates/report.html.j2, with print CSS (A4, CJK fonts by family name, page numbers in the
footer); the PDF is the same HTML laid out by WeasyPrint (Pango + fontconfig, a CJK font must be
installed or the Chinese would print as empty boxes — checked before rendering).
"""

from __future__ import annotations

import hashlib
import ipaddress
import re
import shutil
import subprocess
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import orjson
from elasticsearch import AsyncElasticsearch
from jinja2 import Environment, FileSystemLoader, StrictUndefined

from soc.assets import Asset, AssetInventory
from soc.compliance.model import CheckDef, Result
from soc.compliance.store import ComplianceStore, from_doc, score
from soc.model import iso, stable_id
from soc.yamlfile import FileError, load_model

TZ = ZoneInfo("Asia/Shanghai")
TEMPLATES = Path(__file__).parent / "templates"
DEFAULT_DAYS = 30
PLATFORM = "安全运营子平台"

STATUS_ZH = {"pass": "符合", "fail": "不符合", "not_applicable": "不适用", "error": "出错"}
# For a bucket of several runs (a day, a week) the mark is its worst result.
SEVERITY = {"fail": 3, "error": 2, "pass": 1, "not_applicable": 0}
LEVEL_ZH = {1: "第一级", 2: "第二级", 3: "第三级", 4: "第四级"}
CRITICALITY_ZH = {"low": "一般", "medium": "较重要", "high": "重要", "critical": "非常重要"}
# GB/T 22239-2019: chapter 6-9 are levels 1-4; N.1.x the general requirements (安全通用要求),
# N.2-N.5 the extensions (cloud, mobile, IoT, industrial control).
SECTION_OF_LEVEL = {1: "6", 2: "7", 3: "8", 4: "9"}
AREAS = {1: "安全物理环境", 2: "安全通信网络", 3: "安全区域边界", 4: "安全计算环境", 5: "安全管理中心",
         6: "安全管理制度", 7: "安全管理机构", 8: "安全管理人员", 9: "安全建设管理", 10: "安全运维管理"}
EXTENSIONS = {2: "云计算安全扩展要求", 3: "移动互联安全扩展要求", 4: "物联网安全扩展要求", 5: "工业控制系统安全扩展要求"}
COUNT_ZH = {"events": "事件数", "sources": "日志源数", "alerts": "告警数", "hosts": "主机数", "devices": "设备数",
            "accounts": "账户数", "failures": "失败次数", "days": "天数", "hours": "小时数"}
CLAUSE = re.compile(r"^(\d+)\.(\d+)\.(\d+)")
MAX_SAMPLES = 20
MAX_MARKS = 12  # a trend of more runs than this is shown per day (per week beyond a month)


class ReportError(Exception):
    """A report that cannot be made, said plainly: exit 2 for what the operator asked (an unknown
    system, a bad period), 1 for what the machine lacks (the PDF engine, a CJK font)."""

    def __init__(self, message: str, exit_code: int = 2) -> None:
        super().__init__(message)
        self.exit_code = exit_code


@dataclass(frozen=True)
class Period:
    start: datetime  # aware
    end: datetime

    @property
    def label(self) -> str:
        return f"{local(self.start)} 至 {local(self.end)}"


@dataclass
class Run:
    """One earlier (or the latest) result of a check on a subject: what the trend shows."""

    run_id: str
    check_id: str
    subject: str
    subject_kind: str
    status: str
    at: datetime


@dataclass
class Mark:
    label: str
    status: str
    status_zh: str
    runs: int
    detail: str


@dataclass
class ControlRow:
    clause: str
    clause_note: str
    area_key: tuple[int, ...]
    area_number: str
    area_name: str
    result: Result
    status_zh: str
    subject_label: str
    remediation: str
    checked_at: str
    counts: list[tuple[str, str]]
    time_range: str
    samples: list[str]
    samples_more: int
    query_json: str
    trend: list[Mark]
    trend_basis: str
    notes: list[str] = field(default_factory=list)


@dataclass
class Area:
    number: str
    name: str
    rows: list[ControlRow]
    score: dict[str, Any]


@dataclass
class AuditState:
    ok: bool | None  # None: could not be verified
    records: int = 0
    head_seq: int = 0
    head_hash: str = ""
    problems: list[str] = field(default_factory=list)


@dataclass
class ReportData:
    report_no: str
    generated_at: str
    generated_local: str
    asset: Asset
    level_zh: str
    criticality_zh: str
    zones: list[str]
    period: Period
    index: str
    runs: int
    results: int
    controls: int
    summary: dict[str, Any]
    areas: list[Area]
    failures: list[ControlRow]
    apart: list[ControlRow]
    audit: AuditState
    digest: str
    checks_known: bool


@dataclass
class Report:
    data: ReportData
    html: str
    html_path: Path
    pdf_path: Path | None


# ---- the check definitions -----------------------------------------------------------------------

def check_defs(folder: Path) -> tuple[list[CheckDef], list[str]]:
    """The definitions of the checks folder, read as data only (remediation, the level-2 clause,
    the levels): no evaluator is imported, so one being edited or broken does not stop a report.
    A bad file is left out with its problems."""
    defs: dict[str, CheckDef] = {}
    problems: list[str] = []
    for path in sorted(folder.glob("*.yml")) if folder.is_dir() else []:
        try:
            check = load_model(path, CheckDef)
        except FileError as exc:
            problems.extend(exc.problems)
            continue
        defs.setdefault(check.id, check)
    if not folder.is_dir():
        problems.append(f"{folder}: the checks folder does not exist")
    return list(defs.values()), problems


# ---- the period ---------------------------------------------------------------------------------

def _moment(text: str, end: bool) -> datetime:
    text = text.strip()
    try:
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):  # a whole day in Beijing time
            d = date.fromisoformat(text)
            return (datetime.combine(d + timedelta(days=1), time(), TZ) - timedelta(milliseconds=1) if end
                    else datetime.combine(d, time(), TZ))
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ReportError(f"无法识别的时间 {text!r}：请用 2025-05-01 或 2025-05-01T08:00（北京时间）或带时区的 ISO 8601 "
                          f"(not a date or time: use YYYY-MM-DD, YYYY-MM-DDTHH:MM or ISO 8601 with an offset)") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=TZ)


def parse_period(since: str | None, until: str | None, now: datetime) -> Period:
    """--from and --to: a date is its whole day in Beijing time, a time without an offset is
    Beijing time; by default the last 30 days up to now."""
    end = _moment(until, end=True) if until else now
    start = _moment(since, end=False) if since else end - timedelta(days=DEFAULT_DAYS)
    if start >= end:
        raise ReportError(f"评估期间的起点 {local(start)} 不早于终点 {local(end)} (--from must be before --to)")
    return Period(start.astimezone(UTC), end.astimezone(UTC))


def local(ts: datetime) -> str:
    return ts.astimezone(TZ).strftime("%Y-%m-%d %H:%M:%S")


def _parse_ts(text: str) -> datetime | None:
    try:
        ts = datetime.fromisoformat(text)
    except (TypeError, ValueError):
        return None
    return ts if ts.tzinfo else ts.replace(tzinfo=UTC)


def _local_text(text: str) -> str:
    ts = _parse_ts(text)
    return local(ts) if ts else text


# ---- what applies to the system -----------------------------------------------------------------

def find_asset(inventory: AssetInventory, system: str) -> Asset:
    for a in inventory.assets:
        if a.name == system:
            return a
    if not inventory.assets:
        raise ReportError(f"系统 {system!r} 不在资产清单中：未配置资产清单或清单为空（assets_file / SOC_ASSETS_FILE） "
                          f"(unknown system {system!r}: no asset inventory is configured)")
    names = "、".join(a.name for a in inventory.assets)
    raise ReportError(f"系统 {system!r} 不在资产清单中；清单中的系统：{names} "
                      f"(unknown system {system!r}: not in the asset inventory)")


def zones_of(asset: Asset, inventory: AssetInventory) -> list[str]:
    """The security zones whose networks overlap the system's: their boundary checks concern it."""
    mine = [ipaddress.ip_network(n, strict=False) for n in asset.networks]
    out = []
    for z in inventory.zones:
        theirs = [ipaddress.ip_network(n, strict=False) for n in z.networks]
        if any(a.version == b.version and a.overlaps(b) for a in mine for b in theirs):  # type: ignore[arg-type]
            out.append(z.name)
    return out


def clause_for(result: Result, level: int, check: CheckDef | None) -> tuple[str, str]:
    """The clause to show for the system's level, and a note when it is not that level's own."""
    if level == 3:
        return result.control, ""
    if level == 2:
        if check is not None and check.level2_control:
            return check.level2_control, f"对应第三级条款 {result.control}"
        return result.control, "第三级条款；检查定义未登记第二级对应条款"
    return result.control, f"按第三级条款登记（本系统定级为{LEVEL_ZH.get(level, str(level))}）"


def area_of(clause: str) -> tuple[tuple[int, ...], str, str]:
    """(sort key, number, name) of the clause's area: 8.1.4.3 a → 8.1.4 安全计算环境."""
    m = CLAUSE.match(clause.strip())
    if not m:
        return (999,), "", "其他要求"
    chapter, part, area = (int(g) for g in m.groups())
    number = f"{chapter}.{part}.{area}"
    if part == 1:
        return (chapter, part, area), number, AREAS.get(area, "其他通用要求")
    return (chapter, part, area), number, EXTENSIONS.get(part, "扩展要求")


def clause_key(clause: str) -> tuple[Any, ...]:
    return tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in re.split(r"[.\s]+", clause.strip()))


# ---- gathering ----------------------------------------------------------------------------------

def _subject_filter(system: str, zones: list[str]) -> dict[str, Any]:
    should: list[dict[str, Any]] = [
        {"bool": {"filter": [{"term": {"soc.compliance.subject_kind": "asset"}},
                             {"term": {"soc.compliance.subject": system}}]}},
        {"term": {"soc.compliance.subject_kind": "platform"}},
    ]
    if zones:
        should.append({"bool": {"filter": [{"term": {"soc.compliance.subject_kind": "zone"}},
                                           {"terms": {"soc.compliance.subject": zones}}]}})
    return {"bool": {"should": should, "minimum_should_match": 1}}


async def _runs(es: AsyncElasticsearch, index: str, query: dict[str, Any], page: int = 5000) -> list[Run]:
    """Every result of the period, only the fields the trend needs, page by page (no cap)."""
    fields = ["run_id", "check_id", "subject", "subject_kind", "status", "checked_at"]
    out: list[Run] = []
    after: list[Any] | None = None
    while True:
        res = await es.options(ignore_status=404).search(
            index=index, size=page, query=query, search_after=after,
            source_includes=[f"soc.compliance.{f}" for f in fields],
            sort=[{"@timestamp": "asc"}, {"soc.compliance.run_id": "asc"}, {"soc.compliance.check_id": "asc"},
                  {"soc.compliance.subject": "asc"}])
        if res.meta.status == 404:
            return out
        hits = res["hits"]["hits"]
        for h in hits:
            c = h["_source"]["soc"]["compliance"]
            at = _parse_ts(c["checked_at"]) or datetime.fromtimestamp(0, UTC)
            out.append(Run(c["run_id"], c["check_id"], c["subject"], c["subject_kind"], c["status"], at))
        if len(hits) < page:
            return out
        after = hits[-1]["sort"]


async def _latest_docs(es: AsyncElasticsearch, index: str, runs: list[Run]) -> list[Result]:
    """The full results (with their evidence) of the given runs: by their ids as the store writes
    them, and any not found that way by a search on (run, check, subject)."""
    ids = {stable_id("compliance", r.run_id, r.check_id, r.subject): r for r in runs}
    out: list[Result] = []
    keys = list(ids)
    for i in range(0, len(keys), 1000):
        res = await es.mget(index=index, ids=keys[i:i + 1000])
        for d in res["docs"]:
            if d.get("found"):
                out.append(from_doc(d["_source"]))
                ids.pop(d["_id"])
    for r in ids.values():
        res = await es.search(index=index, size=1, query={"bool": {"filter": [
            {"term": {"soc.compliance.run_id": r.run_id}}, {"term": {"soc.compliance.check_id": r.check_id}},
            {"term": {"soc.compliance.subject": r.subject}}]}})
        out.extend(from_doc(h["_source"]) for h in res["hits"]["hits"])
    return out


async def _audit_state(es: AsyncElasticsearch, prefix: str) -> AuditState:
    from soc.audit import AuditTrail

    try:
        v = await AuditTrail(es, prefix).verify()
    except Exception as exc:  # noqa: BLE001 - the report says it could not verify, and why
        return AuditState(ok=None, problems=[f"{type(exc).__name__}: {exc}"])
    return AuditState(ok=v.ok, records=v.records, head_seq=v.head_seq, head_hash=v.head_hash, problems=v.problems)


def _marks(history: list[Run]) -> tuple[list[Mark], str]:
    """The trend as a compact row: one mark per run, or per day / week (its worst result)."""
    def mark(label: str, runs: list[Run]) -> Mark:
        worst = max(runs, key=lambda r: SEVERITY.get(r.status, 0)).status
        counts = Counter(r.status for r in runs)
        detail = "，".join(f"{STATUS_ZH[s]} {n}" for s, n in counts.items() if s in STATUS_ZH)
        return Mark(label, worst, STATUS_ZH.get(worst, worst), len(runs), detail)

    if len(history) <= MAX_MARKS:
        return [mark(r.at.astimezone(TZ).strftime("%m-%d %H:%M"), [r]) for r in history], "按次"
    by_day: dict[date, list[Run]] = defaultdict(list)
    for r in history:
        by_day[r.at.astimezone(TZ).date()].append(r)
    if len(by_day) <= 31:
        return [mark(d.strftime("%m-%d"), rs) for d, rs in sorted(by_day.items())], "按日（取当日最差结果）"
    by_week: dict[date, list[Run]] = defaultdict(list)
    for d, rs in by_day.items():
        by_week[d - timedelta(days=d.weekday())].extend(rs)
    return [mark(f"{d.strftime('%m-%d')}起", rs) for d, rs in sorted(by_week.items())], "按周（取当周最差结果）"


def _row(r: Result, history: list[Run], asset: Asset, check: CheckDef | None) -> ControlRow:
    clause, note = clause_for(r, asset.mlps_level, check)
    key, number, name = area_of(clause)
    subject_label = {"asset": f"本系统（{r.subject}）", "zone": f"安全区域：{r.subject}",
                     "platform": f"{PLATFORM}（安全管理中心）"}.get(r.subject_kind, r.subject)
    ev = r.evidence
    counts = [(f"{COUNT_ZH[k]}（{k}）" if k in COUNT_ZH else k, f"{v:g}") for k, v in ev.counts.items()]
    span = (f"{_local_text(ev.time_from)} 至 {_local_text(ev.time_to)}"
            if ev.time_from or ev.time_to else "")
    trend, basis = _marks(history)
    notes = list(ev.notes)
    if r.mlps_level is not None and r.mlps_level != asset.mlps_level and r.subject_kind == "asset":
        notes.append(f"检查运行时该系统登记为{LEVEL_ZH.get(r.mlps_level, r.mlps_level)}")
    if check is None:
        notes.append(f"检查定义 {r.check_id} 已不在检查目录中，整改建议不可得")
    return ControlRow(
        clause=clause, clause_note=note, area_key=key, area_number=number, area_name=name, result=r,
        status_zh=STATUS_ZH.get(r.status, r.status), subject_label=subject_label,
        remediation=(check.remediation if check is not None else ""),
        checked_at=_local_text(r.checked_at), counts=counts, time_range=span,
        samples=ev.samples[:MAX_SAMPLES], samples_more=max(0, len(ev.samples) - MAX_SAMPLES),
        query_json=(orjson.dumps(ev.query, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS).decode()
                    if ev.query is not None else ""),
        trend=trend, trend_basis=basis, notes=notes)


async def gather(es: AsyncElasticsearch, prefix: str, inventory: AssetInventory, system: str, period: Period,
                 checks: list[CheckDef], now: datetime) -> ReportData:
    asset = find_asset(inventory, system)
    zones = zones_of(asset, inventory)
    store = ComplianceStore(es, prefix)
    query = {"bool": {"filter": [
        _subject_filter(system, zones),
        {"range": {"@timestamp": {"gte": iso(period.start), "lte": iso(period.end)}}}]}}
    defs = {c.id: c for c in checks}
    runs = await _runs(es, store.index, query)
    # A zone's or the platform's check applies when the system's level is among its levels.
    runs = [r for r in runs if r.subject_kind == "asset" or r.check_id not in defs
            or asset.mlps_level in defs[r.check_id].levels]
    history: dict[tuple[str, str, str], list[Run]] = defaultdict(list)
    for r in runs:
        history[(r.check_id, r.subject_kind, r.subject)].append(r)
    latest = await _latest_docs(es, store.index, [h[-1] for h in history.values()])
    rows = [_row(r, history[(r.check_id, r.subject_kind, r.subject)], asset, defs.get(r.check_id)) for r in latest]
    rows.sort(key=lambda row: (row.area_key, clause_key(row.clause), row.result.check_id, row.result.subject))

    areas: list[Area] = []
    for row in rows:
        if not areas or areas[-1].rows[0].area_key != row.area_key:
            areas.append(Area(row.area_number, row.area_name, [], {}))
        areas[-1].rows.append(row)
    for a in areas:
        a.score = score([row.result for row in a.rows])

    generated = now.astimezone(TZ)
    digest_src = sorted((r.model_dump(mode="json") for r in latest),
                        key=lambda d: (d["checked_at"], d["check_id"], d["subject_kind"], d["subject"]))
    return ReportData(
        report_no=f"MLPS-{generated:%Y%m%d}-{stable_id(system, iso(period.start), iso(period.end), iso(now))[:8].upper()}",
        generated_at=f"{generated:%Y-%m-%d %H:%M:%S}（北京时间 UTC+8）",
        generated_local=f"{generated:%Y-%m-%d %H:%M:%S}",
        asset=asset, level_zh=LEVEL_ZH.get(asset.mlps_level, str(asset.mlps_level)),
        criticality_zh=CRITICALITY_ZH.get(asset.criticality, asset.criticality), zones=zones, period=period,
        index=store.index, runs=len({r.run_id for r in runs}), results=len(runs), controls=len(rows),
        summary=score([row.result for row in rows]), areas=areas,
        failures=[row for row in rows if row.result.status == "fail"],
        apart=[row for row in rows if row.result.status in ("not_applicable", "error")],
        audit=await _audit_state(es, prefix),
        digest=hashlib.sha256(orjson.dumps(digest_src, option=orjson.OPT_SORT_KEYS)).hexdigest(),
        checks_known=bool(checks))


# ---- rendering ----------------------------------------------------------------------------------

def environment() -> Environment:
    env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=True, undefined=StrictUndefined,
                      trim_blocks=True, lstrip_blocks=True)
    env.globals.update(STATUS_ZH=STATUS_ZH)
    return env


def render_html(data: ReportData) -> str:
    return environment().get_template("report.html.j2").render(r=data)


def cjk_fonts() -> list[str] | None:
    """The fonts fontconfig has for Chinese; None when fc-list is not there to ask."""
    fc = shutil.which("fc-list")
    if fc is None:
        return None
    out = subprocess.run([fc, ":lang=zh", "family"], capture_output=True, text=True, timeout=30, check=False)
    return sorted({line.split(",")[0].strip() for line in out.stdout.splitlines() if line.strip()})


def write_pdf(html: str, path: Path) -> None:
    """The same HTML laid out for print by WeasyPrint."""
    fonts = cjk_fonts()
    if fonts == []:
        raise ReportError("没有可用的中文字体，PDF 中的中文将无法显示：请安装 fonts-wqy-microhei 或 fonts-noto-cjk "
                          "(no CJK font known to fontconfig: apt-get install fonts-wqy-microhei)", exit_code=1)
    try:
        from weasyprint import HTML
    except OSError as exc:  # Pango missing: "cannot load library 'libpango-1.0-0'"
        raise ReportError(f"WeasyPrint 无法加载 Pango：{exc}；请安装 libpango-1.0-0 libpangoft2-1.0-0 "
                          f"(scripts/bootstrap.sh 会安装)", exit_code=1) from exc
    HTML(string=html, base_url=str(TEMPLATES)).write_pdf(path)


def file_stem(data: ReportData) -> str:
    safe = re.sub(r"[\\/:*?\"<>|\s]+", "_", data.asset.name).strip("._") or "system"
    return (f"{safe}_等保测评证据_{data.period.start.astimezone(TZ):%Y%m%d}-"
            f"{data.period.end.astimezone(TZ):%Y%m%d}")


async def build_report(es: AsyncElasticsearch, prefix: str, inventory: AssetInventory, system: str,
                       period: Period, out_dir: Path, checks: list[CheckDef], now: datetime,
                       pdf: bool = True) -> Report:
    """Gather, render and write `<out_dir>/<system>_等保测评证据_<from>-<to>.html` and `.pdf`.
    The HTML is written first, so a PDF engine that fails still leaves it (ReportError says why)."""
    data = await gather(es, prefix, inventory, system, period, checks, now)
    html = render_html(data)
    out_dir.mkdir(parents=True, exist_ok=True)
    html_path = out_dir / f"{file_stem(data)}.html"
    html_path.write_text(html, encoding="utf-8")
    pdf_path = None
    if pdf:
        pdf_path = html_path.with_suffix(".pdf")
        try:
            write_pdf(html, pdf_path)
        except ReportError as exc:
            raise ReportError(f"{exc}\nHTML 报告已写出 (the HTML was written): {html_path}", exc.exit_code) from exc
    return Report(data, html, html_path, pdf_path)
