// 等保合规: MLPS 2.0 (等级保护 2.0) compliance of GET /compliance: the scores per department, a
// matrix of systems × controls coloured by status, the trend of a system's score over runs
// (ECharts), and the evidence behind a cell: the result (reason, counts, time range, query) and
// the documents themselves, as flattened key/value tables with their raw line, text only.
// 立即检查 runs the checks now (POST /compliance/run) over the caller's systems.

import { get as fetchGet, post, type Doc } from '../api';
import type { Chart } from '../charts';
import { fill, flatten, get, h, str, type Child } from '../dom';
import { getLang, t, tv, type Key } from '../i18n';
import type { PageCtx } from '../router';
import { fmtAxis, fmtTime } from '../time';
import { emptyBox, errorBox, errorText, loading, notify, panel } from '../widgets';

type Status = 'pass' | 'fail' | 'not_applicable' | 'error';

interface Evidence {
  counts: Record<string, number>;
  samples: string[];
  index: string;
  time_from: string;
  time_to: string;
  query: Record<string, unknown> | null;
  notes: string[];
}

interface Result {
  run_id: string;
  checked_at: string;
  check_id: string;
  title: string;
  control: string;
  control_text: string;
  subject: string;
  subject_kind: 'asset' | 'zone' | 'platform';
  tenant: string;
  mlps_level: number | null;
  status: Status;
  reason: string;
  evidence: Evidence;
}

interface Score {
  pass: number;
  fail: number;
  not_applicable: number;
  error: number;
  score: number | null;
}

interface View {
  checked_at: string | null;
  runs: { run_id: string; checked_at: string; tenant: string | null }[];
  results: Result[];
  scores: { system: Record<string, Score>; tenant: Record<string, Score>; control: Record<string, Score> };
}

interface TrendPoint extends Score {
  run_id: string;
  checked_at: string;
  status: Status;
}

interface CheckInfo {
  id: string;
  title: string;
  title_en: string;
  control_text: string;
  level2_control: string;
  window: string;
  remediation: string;
}

interface EvidenceView {
  result: Result;
  check: CheckInfo | null;
  documents: { id: string; index: string; document: Doc }[];
  missing: string[];
}

interface Asset {
  name: string;
  owner: string;
  tenant: string;
}

const STATUSES: Status[] = ['pass', 'fail', 'not_applicable', 'error'];
// The worst first: what a cell of several checks says as a whole.
const WORST: Status[] = ['fail', 'error', 'pass', 'not_applicable'];
const KIND_ORDER = { asset: 0, zone: 1, platform: 2 };
const ALL = '';
const byClause = (a: string, b: string) => a.localeCompare(b, 'en', { numeric: true });

interface Row {
  subject: string;
  kind: Result['subject_kind'];
  tenant: string;
  level: number | null;
  cells: Map<string, Result[]>;
}

function worst(results: Result[]): Status {
  return WORST.find((s) => results.some((r) => r.status === s)) ?? 'not_applicable';
}

function scoreText(s: Score | undefined): string {
  return s && s.score !== null && s.score !== undefined ? String(s.score) : '—';
}

function scoreClass(s: Score | undefined): string {
  const v = s?.score;
  if (v === null || v === undefined) return 'score-none';
  return v >= 90 ? 'score-good' : v >= 60 ? 'score-mid' : 'score-bad';
}

function counts(s: Score): string {
  return STATUSES.map((k) => `${tv('cst', k)} ${s[k]}`).join(' · ');
}

export async function renderCompliance(ctx: PageCtx): Promise<void> {
  const charts = await import('../charts');
  if (!ctx.alive()) return;
  const { base, makeChart } = charts;

  let owners = new Map<string, string>(); // system -> owner (责任单位), from the inventory
  let trendSystem = ALL;
  let selected = ''; // `${subject}\u0000${control}` of the cell whose evidence is shown
  let chart: Chart | null = null;

  const updated = h('span', { class: 'muted small', id: 'compliance-updated' });
  const error = h('div');
  const tiles = h('div', { class: 'tiles cp-tiles', id: 'compliance-scores' });
  const matrix = h('div', { class: 'table-wrap', id: 'compliance-matrix' });
  const trendSelect = h('select', { id: 'compliance-trend-system', on: { change: () => { trendSystem = trendSelect.value; void loadTrend(); } } });
  const chartEl = h('div', { class: 'chart', id: 'chart-compliance-trend' });
  const chartEmpty = h('div', { class: 'chart-empty' }, t('common.noData'));
  chartEmpty.hidden = true;
  const evidence = h('div', { id: 'compliance-evidence' }, h('div', { class: 'empty' }, t('cp.pickCell')));
  const runButton = h('button', { type: 'button', class: 'btn primary', id: 'compliance-run', on: { click: () => void runNow() } }, t('cp.runNow'));
  const legend = h('span', { class: 'cp-legend' },
    STATUSES.map((s) => h('span', { class: 'cp-legend-item' }, h('span', { class: `cs-dot cs-${s}` }), tv('cst', s))));

  fill(ctx.root,
    h('div', { class: 'page-head' },
      h('h1', null, t('cp.title')),
      runButton,
      h('button', { type: 'button', class: 'btn small', on: { click: () => void load() } }, t('common.refresh')),
      updated,
      legend),
    error,
    tiles,
    panel(t('cp.matrix'), h('p', { class: 'muted small cp-note' }, t('cp.matrixNote')), matrix),
    h('section', { class: 'panel', data: { chart: 'compliance-trend' } },
      h('div', { class: 'cp-trend-head' },
        h('h2', { class: 'panel-title' }, t('cp.trend'), h('span', { class: 'panel-note' }, t('cp.trendNote'))),
        trendSelect),
      h('div', { class: 'chart-wrap' }, chartEl, chartEmpty)),
    h('section', { class: 'panel' }, h('h2', { class: 'panel-title' }, t('cp.evidence')), evidence));

  const onResize = () => chart?.resize();
  window.addEventListener('resize', onResize);
  ctx.cleanup(() => {
    window.removeEventListener('resize', onResize);
    chart?.dispose();
  });

  function rows(v: View): Row[] {
    const out = new Map<string, Row>();
    for (const r of v.results) {
      let row = out.get(r.subject);
      if (!row) out.set(r.subject, row = { subject: r.subject, kind: r.subject_kind, tenant: r.tenant, level: r.mlps_level, cells: new Map() });
      const cell = row.cells.get(r.control) ?? [];
      cell.push(r);
      row.cells.set(r.control, cell);
    }
    return [...out.values()].sort((a, b) => KIND_ORDER[a.kind] - KIND_ORDER[b.kind] || a.tenant.localeCompare(b.tenant) || a.subject.localeCompare(b.subject, 'zh-CN'));
  }

  function drawTiles(v: View): void {
    const tenants = Object.entries(v.scores.tenant).sort(([a], [b]) => a.localeCompare(b));
    if (!tenants.length) return fill(tiles);
    const ownersOf = (tenant: string) => [...new Set(v.results.filter((r) => (r.tenant || '*') === tenant)
      .map((r) => owners.get(r.subject) ?? '').filter(Boolean))].join('、');
    fill(tiles, tenants.map(([tenant, s]) => h('div', { class: `tile cp-tile ${scoreClass(s)}`, data: { tenant } },
      h('div', { class: 'tile-label', title: ownersOf(tenant) },
        tenant === '*' ? t('cp.noTenant') : t('cp.dept', { name: tenant }), ownersOf(tenant) ? h('span', { class: 'muted' }, ` · ${ownersOf(tenant)}`) : null),
      h('div', { class: 'tile-value' }, scoreText(s), s.score !== null ? h('span', { class: 'tile-unit' }, t('cp.points')) : null),
      h('div', { class: 'tile-note' }, counts(s)))));
  }

  function drawMatrix(v: View): void {
    const all = rows(v);
    if (!all.length) return fill(matrix, emptyBox(t('cp.empty')));
    const controls = [...new Set(v.results.map((r) => r.control))].sort(byClause);
    const titleOf = (c: string) => [...new Set(v.results.filter((r) => r.control === c).map((r) => r.title))];
    const textOf = (c: string) => v.results.find((r) => r.control === c)?.control_text ?? '';
    const head = h('tr', null,
      h('th', null, t('cp.col.system')), h('th', null, t('cp.col.dept')), h('th', { class: 'num' }, t('cp.col.level')),
      h('th', { class: 'num' }, t('cp.col.score')),
      controls.map((c) => h('th', { class: 'cp-control', title: `${c}\n${textOf(c)}`, data: { control: c } },
        h('div', { class: 'mono' }, c), h('div', { class: 'cp-control-title' }, titleOf(c).join(' / ')))));
    const body = all.map((row) => h('tr', { data: { system: row.subject } },
      h('th', { class: 'cp-system' },
        h('button', { type: 'button', class: 'btn link cp-system-link', title: t('cp.showTrend'), on: { click: () => pickTrend(row.subject) } }, row.subject),
        row.kind !== 'asset' ? h('span', { class: 'tag' }, tv('cpKind', row.kind)) : null),
      h('td', null, owners.get(row.subject) ?? '', row.tenant ? h('span', { class: 'muted small' }, owners.get(row.subject) ? ` (${row.tenant})` : row.tenant) : '—'),
      h('td', { class: 'num' }, row.level ?? '—'),
      h('td', { class: `num cp-score ${scoreClass(v.scores.system[row.subject])}` }, row.kind === 'asset' ? scoreText(v.scores.system[row.subject]) : '—'),
      controls.map((c) => {
        const cell = row.cells.get(c);
        if (!cell) return h('td', { class: 'cp-cell cp-none' }, h('span', { class: 'muted' }, '—'));
        const status = worst(cell);
        const key = `${row.subject}\u0000${c}`;
        return h('td', { class: 'cp-cell' },
          h('button', {
            type: 'button', class: `cs cs-${status}${key === selected ? ' on' : ''}`,
            title: cell.map((r) => `${r.title}: ${tv('cst', r.status)}\n${r.reason}`).join('\n\n'),
            data: { system: row.subject, control: c, status },
            on: { click: () => void openCell(row.subject, c, cell) },
          }, tv('cst', status)));
      })));
    const foot = h('tr', { class: 'cp-foot' },
      h('th', { colSpan: 3 }, t('cp.controlScore')), h('td'),
      controls.map((c) => h('td', { class: `num ${scoreClass(v.scores.control[c])}`, title: v.scores.control[c] ? counts(v.scores.control[c]) : '' },
        scoreText(v.scores.control[c]))));
    fill(matrix, h('table', { class: 'grid cp-matrix' }, h('thead', null, head), h('tbody', null, body), h('tfoot', null, foot)));
  }

  function drawTrendSelect(v: View): void {
    const systems = rows(v).map((r) => r.subject);
    if (trendSystem !== ALL && !systems.includes(trendSystem)) trendSystem = ALL;
    fill(trendSelect, h('option', { value: ALL, selected: trendSystem === ALL }, t('cp.allSystems')),
      systems.map((s) => h('option', { value: s, selected: s === trendSystem }, s)));
  }

  function pickTrend(system: string): void {
    trendSystem = system;
    trendSelect.value = system;
    void loadTrend();
  }

  async function load(): Promise<void> {
    try {
      const [v, assets] = await Promise.all([
        fetchGet<View>('/compliance'),
        fetchGet<Asset[]>('/assets').catch(() => [] as Asset[]), // the owners' names, when the inventory answers
      ]);
      if (!ctx.alive()) return;
      owners = new Map(assets.map((a) => [a.name, a.owner]));
      fill(error);
      fill(updated, v.checked_at ? t('cp.checkedAt', { time: fmtTime(v.checked_at) }) : t('cp.never'));
      drawTiles(v);
      drawMatrix(v);
      drawTrendSelect(v);
      await loadTrend();
    } catch (err) {
      if (ctx.alive()) fill(error, errorBox(err));
    }
  }

  async function loadTrend(): Promise<void> {
    let points: TrendPoint[] = [];
    try {
      points = (await fetchGet<{ runs: TrendPoint[] }>('/compliance/trend', { system: trendSystem || undefined, since: 'now-90d' })).runs;
    } catch (err) {
      notify(errorText(err), 'error');
    }
    if (!ctx.alive()) return;
    const any = points.some((p) => p.score !== null);
    chartEmpty.hidden = any;
    chartEl.classList.toggle('blank', !any);
    if (!any) {
      chart?.clear();
      return;
    }
    chart ??= makeChart(chartEl, getLang());
    const name = trendSystem || t('cp.allSystems');
    chart.setOption({
      ...base(),
      grid: { left: 44, right: 20, top: 30, bottom: 28 },
      legend: { top: 0, itemWidth: 10, itemHeight: 10, textStyle: { fontSize: 11 } },
      tooltip: {
        ...base().tooltip as object, trigger: 'axis',
        formatter: (ps: { dataIndex: number }[]) => {
          const p = points[ps[0]?.dataIndex ?? 0];
          return `${fmtTime(p.checked_at)}\n${name}: ${scoreText(p)} ${t('cp.points')} (${tv('cst', p.status)})\n${counts(p)}`;
        },
      },
      xAxis: { type: 'category', data: points.map((p) => fmtAxis(p.checked_at)), boundaryGap: false, axisLabel: { hideOverlap: true } },
      yAxis: { type: 'value', min: 0, max: 100, interval: 25, splitLine: { lineStyle: { color: '#eceff3' } } },
      series: [{
        type: 'line', name: `${name} · ${t('cp.col.score')}`, color: '#24507d', connectNulls: false, symbolSize: 7,
        data: points.map((p) => ({ value: p.score ?? '-', itemStyle: { color: STATUS_COLORS[p.status] } })),
        lineStyle: { width: 2 }, areaStyle: { opacity: 0.08 },
      }],
    }, true);
  }

  async function openCell(system: string, control: string, cell: Result[]): Promise<void> {
    selected = `${system}\u0000${control}`;
    matrix.querySelectorAll('button.cs.on').forEach((b) => b.classList.remove('on'));
    matrix.querySelectorAll<HTMLButtonElement>('button.cs').forEach((b) => {
      if (b.dataset.system === system && b.dataset.control === control) b.classList.add('on');
    });
    if (trendSystem !== system && cell[0]?.subject_kind === 'asset') pickTrend(system);
    fill(evidence, loading());
    try {
      const found = await Promise.all(cell.map((r) => fetchGet<EvidenceView>('/compliance/evidence', { system, check_id: r.check_id })));
      if (!ctx.alive() || selected !== `${system}\u0000${control}`) return;
      fill(evidence, found.map(evidenceCard));
      evidence.scrollIntoView({ block: 'nearest' });
    } catch (err) {
      if (ctx.alive()) fill(evidence, errorBox(err));
    }
  }

  async function runNow(): Promise<void> {
    runButton.disabled = true;
    fill(runButton, t('cp.running'));
    try {
      const out = await post<{ results: Result[] }>('/compliance/run');
      notify(t('cp.runDone', { n: out.results.length }));
      if (ctx.alive()) await load();
    } catch (err) {
      notify(errorText(err), 'error');
    } finally {
      runButton.disabled = false;
      fill(runButton, t('cp.runNow'));
    }
  }

  fill(matrix, loading());
  await load();
}

const STATUS_COLORS: Record<Status, string> = { pass: '#1e7a46', fail: '#c62828', not_applicable: '#9aa1ab', error: '#d98e04' };

function kv(label: Key, value: Child | Child[]): Child[] {
  const empty = value === '' || value === null || value === undefined || (Array.isArray(value) && !value.length);
  return [h('dt', null, t(label)), h('dd', null, empty ? '—' : value)];
}

/** One result and what stands behind it. */
function evidenceCard(e: EvidenceView): HTMLElement {
  const r = e.result;
  const ev = r.evidence;
  const title = getLang() === 'en' && e.check?.title_en ? e.check.title_en : r.title;
  const countRows = Object.entries(ev.counts ?? {});
  return h('article', { class: 'cp-evidence', data: { check: r.check_id, system: r.subject } },
    h('div', { class: 'cp-evidence-head' },
      h('span', { class: `cs cs-${r.status} static` }, tv('cst', r.status)),
      h('h3', null, `${r.subject} · ${r.control} · ${title}`)),
    h('dl', { class: 'summary' },
      kv('cp.f.reason', h('span', { class: 'cp-reason' }, r.reason)),
      kv('cp.f.control', [h('span', { class: 'mono' }, r.control), ' ', r.control_text,
        e.check?.level2_control ? h('span', { class: 'muted small' }, ` (${t('cp.level2', { c: e.check.level2_control })})`) : null]),
      kv('cp.f.check', h('span', { class: 'mono' }, r.check_id)),
      kv('cp.f.checkedAt', h('span', { class: 'mono' }, fmtTime(r.checked_at))),
      kv('cp.f.range', ev.time_from || ev.time_to
        ? h('span', { class: 'mono', id: 'evidence-range' }, `${fmtTime(ev.time_from)} — ${fmtTime(ev.time_to)}`) : ''),
      kv('cp.f.counts', countRows.length
        ? h('span', { class: 'cp-counts' }, countRows.map(([k, v]) => h('span', { class: 'tag mono' }, `${k}: ${v}`))) : ''),
      kv('cp.f.index', h('span', { class: 'mono' }, ev.index)),
      kv('cp.f.run', h('span', { class: 'mono' }, r.run_id)),
      ev.notes?.length ? kv('cp.f.notes', ev.notes.join('；')) : null,
      e.check?.remediation && r.status !== 'pass' ? kv('cp.f.remediation', e.check.remediation) : null),
    h('h3', null, t('cp.query')),
    ev.query ? h('pre', { class: 'raw cp-query' }, JSON.stringify(ev.query, null, 2)) : h('div', { class: 'muted' }, '—'),
    h('h3', null, t('cp.documents', { n: e.documents.length })),
    e.documents.length ? e.documents.map((d, i) => documentCard(d, i)) : h('div', { class: 'muted' }, t('cp.noDocuments')),
    e.missing.length ? h('p', { class: 'muted small' }, t('cp.missing', { list: e.missing.join(', ') })) : null);
}

const ISO_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:?\d{2})$/;

/** One evidence document: its raw line as received, then its fields as key/value rows. */
function documentCard(d: { id: string; index: string; document: Doc }, i: number): HTMLElement {
  const doc = d.document;
  const raw = get(doc, 'event.original');
  const fields = flatten(doc).filter(([k]) => k !== 'event.original');
  const half = Math.ceil(fields.length / 2);
  const value = (v: string): Child | Child[] => (ISO_TIME.test(v) ? [fmtTime(v), h('span', { class: 'muted small' }, `  ${v}`)] : v);
  const table = (rows: [string, string][]) =>
    h('table', { class: 'kv' }, h('tbody', null, rows.map(([k, v]) => h('tr', null, h('th', { class: 'mono' }, k), h('td', { class: 'mono' }, value(v))))));
  const card = h('details', { class: 'event cp-doc', data: { doc: d.id } },
    h('summary', { class: 'event-head' },
      h('strong', null, t('cp.document', { n: i + 1 })),
      h('span', { class: 'mono' }, fmtTime(get(doc, '@timestamp'))),
      h('span', { class: 'muted mono' }, d.id),
      h('span', { class: 'event-line mono' }, str(raw ?? get(doc, 'message')))),
    h('div', { class: 'event-body' },
      h('h3', null, t('al.raw')),
      raw === undefined || raw === null || raw === '' ? h('div', { class: 'muted' }, t('al.noRaw')) : h('pre', { class: 'raw' }, str(raw)),
      h('h3', null, t('al.normalized'), h('span', { class: 'muted small' }, `  ${d.index}`)),
      h('div', { class: 'event-fields' }, table(fields.slice(0, half)), table(fields.slice(half)))));
  card.open = i === 0;
  return card;
}
