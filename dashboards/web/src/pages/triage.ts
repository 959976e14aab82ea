// 告警研判: the triage queue. Filters, a dense table, keyboard first (j/k, Enter, a, i, r, f,
// x, /, ?), bulk actions on the selection, and new alerts live from the SSE stream (or, where
// the stream is not served, a poll every 15 s).

import { BASE, get, type Doc } from '../api';
import { act, alertAssignee, alertId, alertLastSeen, alertRule, alertSeverity, alertSource, alertStatus, alertTarget, alertTenant, type Action } from '../alerts';
import { field, fill, get as pick, h, select, str } from '../dom';
import { t, tv, type Key } from '../i18n';
import { go, type PageCtx } from '../router';
import { isAnalyst } from '../session';
import { fmtTime } from '../time';
import { errorBox, infoDialog, notify, sevBadge, SEVERITIES, statusBadge, STATUSES } from '../widgets';

interface Filters {
  status: string;
  severity: string;
  rule: string;
  source_ip: string;
  since: string;
  sort: string;
}
const DEFAULTS: Filters = { status: '', severity: '', rule: '', source_ip: '', since: 'now-24h', sort: '-time' };
const POLL_MS = 15_000;
const SIZE = 200;

// Kept across visits: coming back from an alert finds the queue as it was left.
const state = { filters: { ...DEFAULTS }, cursorId: '', marked: new Set<string>() };

export const SHORTCUTS: [string, Key][] = [
  ['j', 'help.j'], ['k', 'help.k'], ['Enter', 'help.enter'], ['a', 'help.a'], ['i', 'help.i'], ['r', 'help.r'],
  ['f', 'help.f'], ['x', 'help.x'], ['/', 'help.slash'], ['?', 'help.question'], ['Esc', 'help.esc'],
];

export function showHelp(): void {
  if (document.querySelector('dialog[open]')) return;
  const dlg = infoDialog(t('help.title'), [
    h('table', { class: 'keys' }, h('tbody', null, SHORTCUTS.map(([k, label]) => h('tr', null, h('td', null, h('kbd', null, k)), h('td', null, t(label)))))),
    h('p', { class: 'muted small' }, t('help.bulk')),
  ]);
  dlg.id = 'shortcut-help';
}

export async function renderTriage(ctx: PageCtx): Promise<void> {
  let alerts: Doc[] = [];
  let total = 0;
  let cursor = 0;
  const fresh = new Set<string>();
  const seen = new Set<string>();
  const f = state.filters;

  const statusSel = select({ id: 'f-status', name: 'status' }, [['', t('tr.any')], ...STATUSES.map((s): [string, string] => [s, tv('status', s)])], f.status);
  const sevSel = select({ id: 'f-severity', name: 'severity' }, [['', t('tr.any')], ...SEVERITIES.map((s): [string, string] => [s, tv('sev', s)])], f.severity);
  const ruleIn = h('input', { type: 'search', id: 'f-rule', name: 'rule', value: f.rule, placeholder: t('tr.rulePh'), autocomplete: 'off' });
  const ipIn = h('input', { type: 'search', id: 'f-source-ip', name: 'source_ip', value: f.source_ip, placeholder: t('tr.sourceIpPh'), autocomplete: 'off' });
  const sinceSel = select({ id: 'f-since', name: 'since' }, [['now-1h', t('range.1h')], ['now-24h', t('range.24h')], ['now-7d', t('range.7d')], ['now-30d', t('range.30d')]], f.since);
  const sortSel = select({ id: 'f-sort', name: 'sort' }, (['-time', 'time', '-severity'] as const).map((s): [string, string] => [s, t(`sort.${s}`)]), f.sort);
  const filterForm = h('form', {
    class: 'filters', id: 'triage-filters',
    on: {
      submit: (ev) => { ev.preventDefault(); readFilters(); void load(); },
      change: (ev) => { if ((ev.target as HTMLElement).tagName === 'SELECT') { readFilters(); void load(); } },
    },
  },
  field(t('tr.status'), statusSel), field(t('tr.severity'), sevSel), field(t('tr.rule'), ruleIn), field(t('tr.sourceIp'), ipIn),
  field(t('tr.since'), sinceSel), field(t('tr.sort'), sortSel),
  h('div', { class: 'filter-buttons' },
    h('button', { type: 'submit', class: 'btn primary' }, t('common.apply')),
    h('button', { type: 'button', class: 'btn', on: { click: reset } }, t('common.reset'))));

  function reset(): void {
    [statusSel.value, sevSel.value, ruleIn.value, ipIn.value, sinceSel.value, sortSel.value] =
      [DEFAULTS.status, DEFAULTS.severity, DEFAULTS.rule, DEFAULTS.source_ip, DEFAULTS.since, DEFAULTS.sort];
    readFilters();
    void load();
  }

  function readFilters(): void {
    Object.assign(state.filters, { status: statusSel.value, severity: sevSel.value, rule: ruleIn.value.trim(), source_ip: ipIn.value.trim(), since: sinceSel.value, sort: sortSel.value });
  }

  const error = h('div');
  const totalEl = h('span', { class: 'muted', id: 'triage-total' });
  const liveEl = h('span', { class: 'live', id: 'triage-live' });
  const bulkBar = h('div', { class: 'bulkbar', id: 'bulkbar' });
  const tbody = h('tbody', { id: 'triage-rows' });
  const tableEl = h('table', { class: 'grid queue', id: 'triage-table' },
    h('thead', null, h('tr', null,
      h('th', { class: 'c-mark', title: t('help.x') }, t('col.mark')), h('th', { class: 'c-sev' }, t('col.severity')),
      h('th', { class: 'c-time' }, t('col.time')), h('th', null, t('col.rule')), h('th', null, t('col.source')),
      h('th', null, t('col.target')), h('th', null, t('col.tenant')), h('th', { class: 'num' }, t('col.count')),
      h('th', null, t('col.status')), h('th', null, t('col.assignee')))),
    tbody);

  fill(ctx.root,
    h('div', { class: 'page-head' }, h('h1', null, t('tr.title')), totalEl, liveEl,
      h('button', { type: 'button', class: 'btn small link', on: { click: showHelp } }, t('tr.hint'))),
    filterForm, error, bulkBar, h('div', { class: 'table-wrap' }, tableEl));

  function row(a: Doc, i: number): HTMLTableRowElement {
    const id = alertId(a);
    const tr = h('tr', {
      class: [i === cursor ? 'cursor' : '', state.marked.has(id) ? 'marked' : '', fresh.has(id) ? 'fresh' : ''].filter(Boolean).join(' '),
      data: { id },
      on: {
        click: () => { cursor = i; state.cursorId = id; paint(); },
        dblclick: () => open(),
      },
    },
    h('td', { class: 'c-mark' }, h('span', { class: 'mark' }, state.marked.has(id) ? '✓' : '')),
    h('td', { class: 'c-sev' }, sevBadge(alertSeverity(a))),
    h('td', { class: 'c-time mono' }, fmtTime(alertLastSeen(a))),
    h('td', { class: 'c-rule' }, h('a', { href: `#/alerts/${encodeURIComponent(id)}` }, alertRule(a))),
    h('td', { class: 'mono' }, alertSource(a)),
    h('td', null, alertTarget(a)),
    h('td', null, alertTenant(a)),
    h('td', { class: 'num' }, str(pick(a, 'soc.alert.count'))),
    h('td', null, statusBadge(alertStatus(a))),
    h('td', null, alertAssignee(a) || h('span', { class: 'muted' }, t('al.unassigned'))));
    return tr;
  }

  function paint(): void {
    cursor = Math.max(0, Math.min(cursor, alerts.length - 1));
    if (!alerts.length) fill(tbody, h('tr', null, h('td', { class: 'empty-cell', colSpan: 10 }, t('tr.empty'))));
    else fill(tbody, alerts.map(row));
    totalEl.textContent = t('common.total', { n: total });
    const marked = alerts.filter((a) => state.marked.has(alertId(a)));
    bulkBar.hidden = !marked.length;
    fill(bulkBar, marked.length ? [
      h('span', { id: 'bulk-count' }, t('tr.selected', { n: marked.length })),
      isAnalyst() ? [
        h('button', { type: 'button', class: 'btn small', on: { click: () => void run('assign') } }, t('act.assignMe')),
        h('button', { type: 'button', class: 'btn small', on: { click: () => void run('in_progress') } }, t('act.inProgress')),
        h('button', { type: 'button', class: 'btn small', on: { click: () => void run('resolved') } }, t('act.resolve')),
        h('button', { type: 'button', class: 'btn small', on: { click: () => void run('false_positive') } }, t('act.falsePositive')),
      ] : [],
      h('button', { type: 'button', class: 'btn small link', on: { click: () => { state.marked.clear(); paint(); } } }, t('tr.clearSelection')),
    ] : []);
    const cur = tbody.querySelector('tr.cursor');
    cur?.scrollIntoView({ block: 'nearest' });
  }

  function placeCursor(): void {
    const at = alerts.findIndex((a) => alertId(a) === state.cursorId);
    cursor = at >= 0 ? at : Math.min(cursor, Math.max(0, alerts.length - 1));
    state.cursorId = alerts[cursor] ? alertId(alerts[cursor]) : '';
  }

  async function load(quiet = false): Promise<void> {
    const q = state.filters;
    try {
      const res = await get<{ total: number; alerts: Doc[] }>('/alerts', { ...q, size: SIZE });
      if (!ctx.alive()) return;
      fill(error);
      if (quiet) for (const a of res.alerts) if (!seen.has(alertId(a))) highlight(alertId(a));
      alerts = res.alerts;
      total = res.total;
      alerts.forEach((a) => seen.add(alertId(a)));
      placeCursor();
      paint();
    } catch (err) {
      if (!ctx.alive()) return;
      fill(error, errorBox(err));
      if (!quiet) { alerts = []; total = 0; paint(); }
    }
  }

  /** Marked as new for a while (the highlight fades out; the mark on the left stays that long). */
  function highlight(id: string): void {
    fresh.add(id);
    window.setTimeout(() => fresh.delete(id), 15_000);
  }

  function matches(a: Doc): boolean {
    const q = state.filters;
    return (!q.status || alertStatus(a) === q.status) && (!q.severity || alertSeverity(a) === q.severity)
      && (!q.source_ip || alertSource(a) === q.source_ip) && (!q.rule || alertRule(a) === q.rule || str(pick(a, 'rule.id')) === q.rule);
  }

  /** An alert from the stream: revise its row, or put it on top, highlighted. */
  function arrived(a: Doc): void {
    const id = alertId(a);
    if (!id) return;
    const at = alerts.findIndex((x) => alertId(x) === id);
    if (at >= 0) alerts[at] = a;
    else if (matches(a)) {
      alerts.unshift(a);
      total += 1;
      highlight(id);
    } else return;
    seen.add(id);
    placeCursor();
    paint();
  }

  function targets(): Doc[] {
    const marked = alerts.filter((a) => state.marked.has(alertId(a)));
    return marked.length ? marked : alerts[cursor] ? [alerts[cursor]] : [];
  }

  async function run(action: Action): Promise<void> {
    if (!isAnalyst()) return notify(t('common.forbidden'), 'error');
    const chosen = targets();
    const done = await act(action, chosen);
    if (!done || !ctx.alive()) return;
    if (done.length === 1 && chosen.length === 1) {
      const at = alerts.findIndex((a) => alertId(a) === alertId(done[0]));
      if (at >= 0) alerts[at] = done[0];
      paint();
    } else {
      state.marked.clear();
      await load();
    }
  }

  function open(): void {
    const a = alerts[cursor];
    if (a) go(`/alerts/${encodeURIComponent(alertId(a))}`);
  }

  function move(by: number): void {
    if (!alerts.length) return;
    cursor = Math.max(0, Math.min(alerts.length - 1, cursor + by));
    state.cursorId = alertId(alerts[cursor]);
    paint();
  }

  ctx.keys((ev) => {
    const k = ev.key;
    if (k === 'j' || k === 'ArrowDown') move(1);
    else if (k === 'k' || k === 'ArrowUp') move(-1);
    else if (k === 'Enter' || k === 'o') open();
    else if (k === 'a') void run('assign');
    else if (k === 'i') void run('in_progress');
    else if (k === 'r') void run('resolved');
    else if (k === 'f') void run('false_positive');
    else if (k === 'x' || k === ' ') {
      const a = alerts[cursor];
      if (a) {
        const id = alertId(a);
        if (state.marked.has(id)) state.marked.delete(id);
        else state.marked.add(id);
        paint();
      }
    } else if (k === '/') ruleIn.focus();
    else if (k === '?') showHelp();
    else if (k === 'Escape') { state.marked.clear(); paint(); } else return;
    ev.preventDefault();
  });

  // Live: the SSE stream; where it is not served (or fails for good), a poll.
  let poll = 0;
  const startPolling = () => {
    if (poll) return;
    liveEl.textContent = t('tr.polling');
    liveEl.className = 'live polling';
    poll = window.setInterval(() => void load(true), POLL_MS);
  };
  let stream: EventSource | null = null;
  if (typeof EventSource !== 'undefined') {
    stream = new EventSource(`${BASE}/alerts/stream`, { withCredentials: true });
    stream.addEventListener('open', () => {
      liveEl.textContent = t('tr.live');
      liveEl.className = 'live on';
    });
    stream.addEventListener('alert', (ev) => {
      try {
        arrived(JSON.parse((ev as MessageEvent<string>).data) as Doc);
      } catch {
        /* not an alert: ignored */
      }
    });
    stream.addEventListener('error', () => {
      if (stream && stream.readyState === EventSource.CLOSED) {
        stream = null;
        startPolling();
      }
    });
  } else startPolling();
  ctx.cleanup(() => {
    stream?.close();
    window.clearInterval(poll);
  });

  paint();
  await load();
}
