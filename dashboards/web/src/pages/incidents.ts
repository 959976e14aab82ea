// 事件处置: incidents (alerts grouped into one matter), their timeline and notes, their GB/T
// 20986-2023 classification and grade (grading.ts), and their notices upstream (notices.ts).

import { get as fetchGet, post, type Doc } from '../api';
import { gradeBadge, gradingPanel } from '../grading';
import { dueBanner, dueFirst, noticeForm, noticeTable, tickDue, type Notice } from '../notices';
import { alertId, alertRule, alertSeverity, alertSource, alertStatus } from '../alerts';
import { fill, get, h, select, str } from '../dom';
import { t, tv } from '../i18n';
import type { PageCtx } from '../router';
import { hasRole, isAnalyst } from '../session';
import { fmtTime } from '../time';
import { errorBox, errorText, formDialog, loading, notify, panel, sevBadge, statusBadge, table } from '../widgets';
import { incidentId } from './alert';

const STATES = ['open', 'contained', 'closed'];
let statusFilter = '';
let noticeTick = 0;

/** The incident's own fields, whether sent flat or as an ECS document (soc.incident.*). */
function inc(doc: Doc): Doc {
  const inner = get(doc, 'soc.incident');
  return inner && typeof inner === 'object' ? { ...(inner as Doc), _doc: doc } : doc;
}

const list = (v: unknown): string[] => [v].flat().filter((x) => x !== null && x !== undefined && x !== '').map(str);

export async function renderIncidents(ctx: PageCtx): Promise<void> {
  const body = h('div');
  const banner = h('div', { id: 'due-banner-slot' });
  const sel = select({ id: 'inc-status', on: { change: () => { statusFilter = sel.value; void load(); } } },
    [['', t('common.all')], ...STATES.map((s): [string, string] => [s, tv('incStatus', s)])], statusFilter);
  fill(ctx.root, h('div', { class: 'page-head' }, h('h1', null, t('inc.title')), sel), banner, body);
  // What the duty analyst must not miss: notices overdue or due now (the notices page has them all).
  void dueBanner().then((el) => { if (ctx.alive()) fill(banner, el); }, (err) => { if (ctx.alive()) fill(banner, h('div', { class: 'muted small' }, errorText(err))); });

  async function load(): Promise<void> {
    fill(body, loading());
    try {
      const rows = (await fetchGet<Doc[] | { incidents: Doc[] }>('/incidents', { status: statusFilter || undefined }));
      if (!ctx.alive()) return;
      const items = (Array.isArray(rows) ? rows : rows.incidents ?? []).map(inc);
      fill(body, h('div', { class: 'table-wrap' }, table<Doc>([
        { label: t('inc.col.title'), cell: (r) => h('a', { href: `#/incidents/${encodeURIComponent(incidentId(r))}` }, str(r.title) || incidentId(r)) },
        { label: t('inc.col.status'), cell: (r) => statusBadge(r.status, 'incStatus') },
        { label: t('inc.col.grade'), cell: (r) => (r.grade ? gradeBadge(r.grade, r.grade_code) : h('span', { class: 'muted' }, '—')) },
        { label: t('inc.col.category'), cell: (r) => str(r.subcategory || r.category) || '—' },
        { label: t('inc.col.alerts'), cell: (r) => String(list(r.alert_ids).length), class: 'num' },
        { label: t('inc.col.sources'), cell: (r) => list(r.source_ips).slice(0, 3).join(', '), class: 'mono' },
        { label: t('inc.col.assets'), cell: (r) => list(r.assets).slice(0, 3).join(', ') },
        { label: t('inc.col.openedBy'), cell: (r) => str(r.opened_by) },
        { label: t('inc.col.created'), cell: (r) => fmtTime(r.created), class: 'mono' },
        { label: t('inc.col.updated'), cell: (r) => fmtTime(r.updated), class: 'mono' },
        { label: t('inc.col.reported'), cell: (r) => (r.reported ? t('common.yes') : '') },
      ], items, t('inc.empty'))));
    } catch (err) {
      if (ctx.alive()) fill(body, errorBox(err));
    }
  }
  await load();
}

export async function renderIncident(ctx: PageCtx): Promise<void> {
  const id = ctx.params[0];
  const back = h('a', { href: '#/incidents', class: 'back' }, t('inc.back'));
  fill(ctx.root, loading());
  let data: { incident: Doc; alerts?: Doc[]; timeline?: { time: string; kind: string; actor: string; text: string }[] };
  try {
    data = await fetchGet(`/incidents/${encodeURIComponent(id)}`);
  } catch (err) {
    if (ctx.alive()) fill(ctx.root, h('div', { class: 'page-head' }, back), errorBox(err));
    return;
  }
  if (!ctx.alive()) return;
  const i = inc(data.incident);
  // The incident's notices upstream: what is owed to whom, by when.
  let notices: Notice[] = [];
  let noticesError: unknown = null;
  try {
    notices = await fetchGet<Notice[]>('/notices', { incident_id: id, size: 500 });
  } catch (err) {
    noticesError = err;
  }
  if (!ctx.alive()) return;
  const timeline = [...(data.timeline ?? [])];
  const timelineEl = h('ol', { class: 'timeline', id: 'incident-timeline' });
  const drawTimeline = () => fill(timelineEl, timeline.length ? timeline.map((e) => h('li', null,
    h('div', { class: 'tl-head' }, h('span', { class: 'mono' }, fmtTime(e.time)), h('span', { class: `tag tl-${str(e.kind)}` }, tv('tlKind', e.kind)), h('strong', null, str(e.actor))),
    h('div', { class: 'tl-text' }, str(e.text)))) : h('li', { class: 'muted' }, t('common.noData')));

  const note = h('textarea', { id: 'incident-note', rows: 3, placeholder: t('inc.notePh') });
  const noteForm = isAnalyst() ? h('form', {
    class: 'comment-form',
    on: {
      submit: async (ev) => {
        ev.preventDefault();
        if (!note.value.trim()) return;
        try {
          const entry = await post<{ time: string; kind: string; actor: string; text: string }>(`/incidents/${encodeURIComponent(id)}/notes`, { text: note.value.trim() });
          timeline.push(entry);
          note.value = '';
          drawTimeline();
        } catch (err) {
          notify(errorText(err), 'error');
        }
      },
    },
  }, h('h3', null, t('inc.note')), note, h('button', { type: 'submit', class: 'btn primary small' }, t('inc.noteSubmit'))) : null;

  async function setStatus(status: string): Promise<void> {
    const got = await formDialog(tv('incStatus', status), [{ name: 'reason', label: t('common.reason'), kind: 'textarea', required: status === 'closed' }], t('common.submit'));
    if (!got) return;
    try {
      await post(`/incidents/${encodeURIComponent(id)}/status`, { status, reason: got.reason });
      if (ctx.alive()) await renderIncident(ctx);
    } catch (err) {
      notify(errorText(err), 'error');
    }
  }

  const status = str(i.status);
  const actions = isAnalyst() ? h('div', { class: 'actions' },
    status === 'open' ? h('button', { type: 'button', class: 'btn', on: { click: () => void setStatus('contained') } }, t('inc.contain')) : null,
    status !== 'closed' ? h('button', { type: 'button', class: 'btn', on: { click: () => void setStatus('closed') } }, t('inc.close')) : null,
    status !== 'open' ? h('button', { type: 'button', class: 'btn', on: { click: () => void setStatus('open') } }, t('inc.reopen')) : null) : null;

  const redraw = async () => { if (ctx.alive()) await renderIncident(ctx); };
  const noticesEl = h('div', { id: 'incident-notices', class: 'table-wrap' });
  const drawNotices = () => fill(noticesEl, noticesError ? errorBox(noticesError)
    : noticeTable(dueFirst(notices), { changed: () => void reloadNotices(), empty: t('nt.emptyIncident') }));
  async function reloadNotices(): Promise<void> {
    try {
      notices = await fetchGet<Notice[]>('/notices', { incident_id: id, size: 500 });
      noticesError = null;
    } catch (err) {
      noticesError = err;
    }
    if (ctx.alive()) drawNotices();
  }
  drawNotices();
  // The countdowns, every second (one timer per page, whatever redraws it).
  window.clearInterval(noticeTick);
  noticeTick = window.setInterval(() => tickDue(noticesEl), 1000);
  ctx.cleanup(() => window.clearInterval(noticeTick));

  const dl = h('dl', { class: 'summary' },
    h('dt', null, t('inc.col.status')), h('dd', null, statusBadge(status, 'incStatus')),
    h('dt', null, t('inc.col.tenant')), h('dd', null, str(i.tenant) || '—'),
    h('dt', null, t('inc.col.openedBy')), h('dd', null, str(i.opened_by) || '—'),
    h('dt', null, t('inc.col.reason')), h('dd', null, str(i.status_reason) || '—'),
    h('dt', null, t('inc.col.created')), h('dd', { class: 'mono' }, fmtTime(i.created) || '—'),
    h('dt', null, t('inc.col.updated')), h('dd', { class: 'mono' }, fmtTime(i.updated) || '—'),
    h('dt', null, t('inc.col.sources')), h('dd', { class: 'mono' }, list(i.source_ips).join(', ') || '—'),
    h('dt', null, t('inc.col.assets')), h('dd', null, list(i.assets).join(', ') || '—'),
    h('dt', null, t('inc.summary')), h('dd', null, str(i.summary) || '—'));

  const alerts = data.alerts ?? [];
  fill(ctx.root,
    h('div', { class: 'page-head' }, back, h('h1', { id: 'incident-title' }, str(i.title) || id), statusBadge(status, 'incStatus'),
      h('span', { id: 'incident-grade-badge' }, gradeBadge(i.grade, i.grade_code)),
      i.reported ? h('span', { class: 'tag reported' }, t('inc.reportedTag')) : null),
    actions,
    h('div', { class: 'two-col' },
      h('div', { class: 'col' }, panel(t('inc.detail'), dl), gradingPanel(i, id, redraw)),
      panel(t('inc.timeline'), timelineEl, noteForm)),
    h('section', { class: 'panel', id: 'incident-notices-panel' },
      h('h2', { class: 'panel-title' }, t('inc.notices'), h('span', { class: 'panel-note' }, t('inc.noticesNote'))),
      noticesEl,
      isAnalyst() ? noticeForm(id, notices, status === 'closed', () => void reloadNotices()) : null),
    // A regulator is not shown the SOC's raw alerts (the server sends none).
    !hasRole('analyst', 'officer') ? null : panel(t('inc.alerts'), table<Doc>([
      { label: t('col.severity'), cell: (a) => sevBadge(alertSeverity(a)) },
      { label: t('col.rule'), cell: (a) => h('a', { href: `#/alerts/${encodeURIComponent(alertId(a))}` }, alertRule(a)) },
      { label: t('col.source'), cell: (a) => alertSource(a), class: 'mono' },
      { label: t('col.status'), cell: (a) => statusBadge(alertStatus(a)) },
      { label: t('col.time'), cell: (a) => fmtTime(get(a, 'soc.alert.last_seen')), class: 'mono' },
    ], alerts)));
  drawTimeline();
}
