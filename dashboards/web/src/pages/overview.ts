// 态势总览: the SOC overview of GET /overview: KPI tiles, trends, top sources and systems,
// ATT&CK techniques by tactic, and the map of external sources. Refreshed every 30 s.

import { get } from '../api';
import type { Chart } from '../charts';
import { fill, h } from '../dom';
import { getLang, t, tacticName, tacticOrder, tv, type Key } from '../i18n';
import type { PageCtx } from '../router';
import { fmtAxis, fmtTime } from '../time';
import { errorBox, SEVERITIES } from '../widgets';

interface Overview {
  since: string;
  events_total: number;
  events_per_second: number;
  events_over_time: { t: string; count: number }[];
  alerts_by_severity: Record<string, number>;
  alerts_over_time: ({ t: string } & Record<string, number | string>)[];
  top_sources: { ip: string; count: number; country?: string | null; lat?: number | null; lon?: number | null }[];
  top_systems: { system: string; count: number }[];
  techniques: { technique: string; tactic: string; count: number }[];
}

const RANGES: [string, Key][] = [['now-1h', 'range.1h'], ['now-24h', 'range.24h'], ['now-7d', 'range.7d']];
const REFRESH_MS = 30_000;
let since = 'now-24h';

const nf = () => new Intl.NumberFormat(getLang() === 'en' ? 'en-US' : 'zh-CN');

export async function renderOverview(ctx: PageCtx): Promise<void> {
  const charts = await import('../charts');
  if (!ctx.alive()) return;
  const { base, makeChart, SEVERITY_COLORS, WORLD, WORLD_BOUNDS } = charts;

  const status = h('span', { class: 'muted small', id: 'overview-updated' });
  const error = h('div');
  const rangeButtons = RANGES.map(([value, label]) => h('button', {
    type: 'button', class: `seg${value === since ? ' on' : ''}`, data: { since: value },
    on: { click: () => { since = value; rangeButtons.forEach((b) => b.classList.toggle('on', b.dataset.since === since)); void refresh(); } },
  }, t(label)));
  const tiles = h('div', { class: 'tiles', id: 'kpis' });

  const panels = new Map<string, { box: HTMLElement; chartEl: HTMLElement; empty: HTMLElement; chart: Chart | null }>();
  function chartPanel(id: string, title: Key, span: string, note?: Key): HTMLElement {
    const chartEl = h('div', { class: 'chart', id: `chart-${id}` });
    const empty = h('div', { class: 'chart-empty' }, t('common.noData'));
    empty.hidden = true;
    const box = h('section', { class: `panel ${span}`, data: { chart: id } },
      h('h2', { class: 'panel-title' }, t(title), note ? h('span', { class: 'panel-note' }, t(note)) : null),
      h('div', { class: 'chart-wrap' }, chartEl, empty));
    panels.set(id, { box, chartEl, empty, chart: null });
    return box;
  }
  function show(id: string, option: Record<string, unknown> | null): void {
    const p = panels.get(id)!;
    p.empty.hidden = option !== null;
    p.chartEl.classList.toggle('blank', option === null);
    if (option === null) {
      p.chart?.clear();
      return;
    }
    p.chart ??= makeChart(p.chartEl, getLang());
    p.chart.setOption({ ...base(), ...option }, true);
  }

  fill(ctx.root,
    h('div', { class: 'page-head' },
      h('h1', null, t('ov.title')),
      h('div', { class: 'seg-group', role: 'group' }, rangeButtons),
      h('button', { type: 'button', class: 'btn small', on: { click: () => void refresh() } }, t('common.refresh')),
      h('span', { class: 'muted small' }, t('ov.autoRefresh')),
      status),
    error,
    tiles,
    h('div', { class: 'board' },
      chartPanel('events', 'ov.eventsOverTime', 'span3'),
      chartPanel('alerts', 'ov.alertsOverTime', 'span3'),
      chartPanel('map', 'ov.map', 'span3 tall', 'ov.mapNote'),
      chartPanel('techniques', 'ov.techniques', 'span3 tall'),
      chartPanel('sources', 'ov.topSources', 'span3'),
      chartPanel('systems', 'ov.topSystems', 'span3')));

  const onResize = () => panels.forEach((p) => p.chart?.resize());
  window.addEventListener('resize', onResize);
  const timer = window.setInterval(() => void refresh(), REFRESH_MS);
  ctx.cleanup(() => {
    window.clearInterval(timer);
    window.removeEventListener('resize', onResize);
    panels.forEach((p) => p.chart?.dispose());
  });

  function drawTiles(o: Overview | null): void {
    const bySev = o?.alerts_by_severity ?? {};
    const alerts = SEVERITIES.reduce((n, s) => n + (bySev[s] ?? 0), 0);
    const tile = (label: string, value: string, cls: string, note?: string) =>
      h('div', { class: `tile ${cls}` }, h('div', { class: 'tile-label' }, label), h('div', { class: 'tile-value' }, value),
        note ? h('div', { class: 'tile-note' }, note) : null);
    const n = nf();
    fill(tiles,
      tile(t('ov.eps'), o ? n.format(Math.round((o.events_per_second ?? 0) * 10) / 10) : '—', 'kpi-eps', t('ov.epsNote')),
      tile(t('ov.eventsTotal'), o ? n.format(o.events_total ?? 0) : '—', 'kpi-events'),
      tile(t('ov.alertsTotal'), o ? n.format(alerts) : '—', 'kpi-alerts'),
      SEVERITIES.map((s) => tile(tv('sev', s), o ? n.format(bySev[s] ?? 0) : '—', `kpi-sev sev-${s}`)));
  }

  function draw(o: Overview | null): void {
    drawTiles(o);
    const grid = { left: 48, right: 16, top: 28, bottom: 28, containLabel: false };
    const eot = o?.events_over_time ?? [];
    show('events', eot.length ? {
      grid,
      tooltip: { ...base().tooltip as object, trigger: 'axis' },
      xAxis: { type: 'category', data: eot.map((p) => fmtAxis(p.t)), boundaryGap: false, axisLabel: { hideOverlap: true } },
      yAxis: { type: 'value', minInterval: 1, splitLine: { lineStyle: { color: '#eceff3' } } },
      series: [{ type: 'line', name: t('ov.events'), data: eot.map((p) => p.count), showSymbol: false, areaStyle: { opacity: 0.12 }, lineStyle: { width: 1.5 }, color: '#2f5d8a' }],
    } : null);

    const aot = o?.alerts_over_time ?? [];
    const anyAlert = aot.some((p) => SEVERITIES.some((s) => Number(p[s] ?? 0) > 0));
    show('alerts', anyAlert ? {
      grid: { ...grid, top: 34 },
      legend: { top: 0, itemWidth: 10, itemHeight: 10, textStyle: { fontSize: 11 } },
      tooltip: { ...base().tooltip as object, trigger: 'axis' },
      xAxis: { type: 'category', data: aot.map((p) => fmtAxis(p.t)), axisLabel: { hideOverlap: true } },
      yAxis: { type: 'value', minInterval: 1, splitLine: { lineStyle: { color: '#eceff3' } } },
      series: [...SEVERITIES].reverse().map((s) => ({
        type: 'bar', stack: 'sev', name: tv('sev', s), color: SEVERITY_COLORS[s], barMaxWidth: 18,
        data: aot.map((p) => Number(p[s] ?? 0)),
      })),
    } : null);

    const src = (o?.top_sources ?? []).slice(0, 10);
    show('sources', src.length ? hbar(src.map((s) => (s.country ? `${s.ip} (${s.country})` : s.ip)), src.map((s) => s.count), '#b3261e') : null);
    const sys = (o?.top_systems ?? []).slice(0, 10);
    show('systems', sys.length ? hbar(sys.map((s) => s.system || '—'), sys.map((s) => s.count), '#2f5d8a') : null);

    const tech = o?.techniques ?? [];
    if (tech.length) {
      const tactics = [...new Set(tech.map((x) => x.tactic || ''))].sort((a, b) => tacticOrder(a) - tacticOrder(b) || a.localeCompare(b));
      const totals = new Map<string, number>();
      tech.forEach((x) => totals.set(x.technique, (totals.get(x.technique) ?? 0) + x.count));
      const techniques = [...totals.entries()].sort((a, b) => b[1] - a[1]).slice(0, 14).map(([k]) => k).reverse();
      const cells = tech.filter((x) => techniques.includes(x.technique))
        .map((x) => [tactics.indexOf(x.tactic || ''), techniques.indexOf(x.technique), x.count]);
      const max = Math.max(1, ...cells.map((c) => c[2]));
      // Cells of a readable size, not one block filling the panel.
      const el = panels.get('techniques')!.chartEl;
      const width = Math.min(el.clientWidth - 100, tactics.length * 150);
      const height = Math.min(el.clientHeight - 80, techniques.length * 36);
      show('techniques', {
        grid: { left: 80, top: 10, width, height },
        tooltip: {
          ...base().tooltip as object,
          formatter: (p: { value: number[] }) => `${techniques[p.value[1]]} · ${tacticName(tactics[p.value[0]])}: ${p.value[2]}`,
        },
        xAxis: { type: 'category', data: tactics.map(tacticName), splitArea: { show: true }, axisLabel: { interval: 0, rotate: tactics.length > 4 ? 30 : 0, fontSize: 11 } },
        yAxis: { type: 'category', data: techniques, splitArea: { show: true }, axisLabel: { fontSize: 11 } },
        visualMap: { min: 0, max, show: false, inRange: { color: ['#fde6d8', '#f29a6b', '#c8381f', '#7d1010'] } },
        series: [{ type: 'heatmap', name: t('ov.count'), data: cells, label: { show: true, fontSize: 11 }, emphasis: { itemStyle: { borderColor: '#1d2330', borderWidth: 1 } } }],
      });
    } else show('techniques', null);

    const located = (o?.top_sources ?? []).filter((s) => typeof s.lat === 'number' && typeof s.lon === 'number');
    const most = Math.max(1, ...located.map((s) => s.count));
    // The land outline is always drawn; points where GeoIP knew them.
    show('map', {
      geo: {
        map: WORLD, roam: false, silent: true, boundingCoords: WORLD_BOUNDS, left: 8, right: 8, top: 8, bottom: 8,
        itemStyle: { areaColor: '#e6e9ee', borderColor: '#c3c9d2', borderWidth: 0.5 },
        emphasis: { disabled: true },
      },
      tooltip: {
        ...base().tooltip as object,
        formatter: (p: { data: { name: string; value: number[]; country: string } }) =>
          `${p.data.name}${p.data.country ? ` (${p.data.country})` : ''}: ${p.data.value[2]}`,
      },
      series: [{
        type: 'scatter', coordinateSystem: 'geo', name: t('ov.topSources'), color: '#c8381f',
        itemStyle: { opacity: 0.8, borderColor: '#ffffff', borderWidth: 0.5 },
        symbolSize: (v: number[]) => 6 + 14 * Math.sqrt(v[2] / most),
        data: located.map((s) => ({ name: s.ip, value: [s.lon, s.lat, s.count], country: s.country ?? '' })),
      }],
    });
    panels.get('map')!.empty.hidden = located.length > 0;
    panels.get('map')!.empty.classList.add('overlay');
  }

  function hbar(names: string[], values: number[], color: string): Record<string, unknown> {
    return {
      grid: { left: 8, right: 40, top: 8, bottom: 8, containLabel: true },
      tooltip: { ...base().tooltip as object, trigger: 'axis', axisPointer: { type: 'shadow' } },
      xAxis: { type: 'value', minInterval: 1, splitLine: { lineStyle: { color: '#eceff3' } } },
      yAxis: { type: 'category', data: [...names].reverse(), axisLabel: { width: 170, overflow: 'truncate', fontSize: 11 } },
      series: [{ type: 'bar', name: t('ov.count'), data: [...values].reverse(), color, barMaxWidth: 14, label: { show: true, position: 'right', fontSize: 11 } }],
    };
  }

  let busy = false;
  async function refresh(): Promise<void> {
    if (busy) return;
    busy = true;
    try {
      const o = await get<Overview>('/overview', { since });
      if (!ctx.alive()) return;
      fill(error);
      draw(o);
      status.textContent = t('common.updatedAt', { time: fmtTime(new Date()) });
    } catch (err) {
      if (!ctx.alive()) return;
      fill(error, errorBox(err));
      draw(null);
    } finally {
      busy = false;
    }
  }
  await refresh();
}
