// 告警详情: one alert: its summary, the events behind it (normalized ECS fields and the raw line
// as received), comments, and the analyst's actions: assign, status, incident, block.

import { get as fetchGet, post, type AlertDetail, type Comment, type Doc } from '../api';
import { act, alertAssignee, alertId, alertRule, alertSeverity, alertSource, alertStatus, alertTenant, type Action } from '../alerts';
import { fill, flatten, get, h, str, type Child } from '../dom';
import { t, tacticName, type Key } from '../i18n';
import { go, type PageCtx } from '../router';
import { hasRole, isAnalyst } from '../session';
import { fmtTime } from '../time';
import { errorBox, errorText, formDialog, loading, notify, panel, sevBadge, statusBadge } from '../widgets';
import { showHelp } from './triage';

export const TTLS: [string, string][] = [['30m', '30m'], ['1h', '1h'], ['6h', '6h'], ['24h', '24h'], ['7d', '7d']];

/** The id of an incident answered by the API (a flat record or an ECS document). */
export function incidentId(inc: Doc): string {
  return str(get(inc, 'id') ?? get(inc, 'soc.incident.id') ?? get(inc, 'incident.id') ?? get(inc, 'event.id'));
}

export async function renderAlert(ctx: PageCtx): Promise<void> {
  const id = ctx.params[0];
  fill(ctx.root, loading());
  let detail: AlertDetail;
  try {
    detail = await fetchGet<AlertDetail>(`/alerts/${encodeURIComponent(id)}`);
  } catch (err) {
    if (!ctx.alive()) return;
    fill(ctx.root, h('div', { class: 'page-head' }, h('a', { href: '#/alerts', class: 'back' }, t('al.back'))), errorBox(err));
    ctx.keys((ev) => { if (ev.key === 'Escape') go('/alerts'); });
    return;
  }
  if (!ctx.alive()) return;
  let alert = detail.alert;
  const comments: Comment[] = [...(detail.comments ?? [])];

  const head = h('div', { class: 'page-head' });
  const actions = h('div', { class: 'actions', id: 'alert-actions' });
  const summary = h('dl', { class: 'summary', id: 'alert-summary' });
  const commentList = h('ul', { class: 'comments', id: 'comments' });

  function kv(label: Key, value: Child | Child[]): Child[] {
    return [h('dt', null, t(label)), h('dd', null, value === '' || value === null || value === undefined ? '—' : value)];
  }

  function drawAlert(): void {
    const a = alert;
    fill(head,
      h('a', { href: '#/alerts', class: 'back' }, t('al.back')),
      h('h1', { id: 'alert-title' }, alertRule(a) || t('al.title')),
      sevBadge(alertSeverity(a)), statusBadge(alertStatus(a)));
    const techniques = [get(a, 'threat.technique.id')].flat().filter(Boolean).map(str);
    const subs = [get(a, 'threat.technique.subtechnique.id')].flat().filter(Boolean).map(str);
    const tactics = [get(a, 'threat.tactic.name')].flat().filter(Boolean).map((x) => tacticName(str(x)));
    const src = [alertSource(a), str(get(a, 'source.port')), str(get(a, 'source.geo.country_iso_code'))];
    const dst = [str(get(a, 'destination.ip')), str(get(a, 'destination.port'))];
    fill(summary,
      kv('f.id', h('span', { class: 'mono' }, alertId(a))),
      kv('f.rule', [alertRule(a), str(get(a, 'rule.id')) ? h('span', { class: 'muted mono' }, ` (${str(get(a, 'rule.id'))})`) : null]),
      kv('f.severity', sevBadge(alertSeverity(a))),
      kv('f.status', [statusBadge(alertStatus(a))]),
      kv('f.reason', str(get(a, 'soc.alert.status_reason'))),
      kv('f.assignee', alertAssignee(a) || h('span', { class: 'muted' }, t('al.unassigned'))),
      kv('f.updatedBy', [str(get(a, 'soc.alert.updated_by')), get(a, 'soc.alert.updated') ? ` · ${fmtTime(get(a, 'soc.alert.updated'))}` : '']),
      kv('f.count', str(get(a, 'soc.alert.count'))),
      kv('f.firstSeen', h('span', { class: 'mono', id: 'alert-first-seen' }, fmtTime(get(a, 'soc.alert.first_seen')))),
      kv('f.lastSeen', h('span', { class: 'mono', id: 'alert-last-seen' }, fmtTime(get(a, 'soc.alert.last_seen')))),
      kv('f.source', h('span', { class: 'mono' }, src[0] ? `${src[0]}${src[1] ? `:${src[1]}` : ''}${src[2] ? ` (${src[2]})` : ''}` : '')),
      kv('f.destination', h('span', { class: 'mono' }, dst[0] ? `${dst[0]}${dst[1] ? `:${dst[1]}` : ''}` : '')),
      kv('f.host', str(get(a, 'host.name')) || str(get(a, 'host.ip'))),
      kv('f.asset', [str(get(a, 'soc.asset.name')), get(a, 'soc.asset.owner') ? h('span', { class: 'muted' }, ` · ${str(get(a, 'soc.asset.owner'))}`) : null]),
      kv('f.tenant', alertTenant(a)),
      kv('f.attack', techniques.length || tactics.length
        ? [...techniques, ...subs].map((x) => h('span', { class: 'tag mono' }, x)).concat(tactics.map((x) => h('span', { class: 'tag' }, x)))
        : ''),
      kv('f.description', str(get(a, 'rule.description'))));
    drawActions();
  }

  function button(label: Key, key: string, fn: () => void, cls = 'btn'): HTMLButtonElement {
    return h('button', { type: 'button', class: cls, title: key ? `${t(label)} (${key})` : t(label), data: { act: label }, on: { click: fn } },
      t(label), key ? h('kbd', null, key) : null);
  }

  function drawActions(): void {
    if (!isAnalyst()) return fill(actions);
    const s = alertStatus(alert);
    const closed = s === 'resolved' || s === 'false_positive';
    fill(actions,
      button('act.assignMe', 'a', () => void run('assign')),
      closed ? button('act.reopen', 'i', () => void run('in_progress'))
        : s === 'new' ? button('act.inProgress', 'i', () => void run('in_progress')) : null,
      closed ? null : button('act.resolve', 'r', () => void run('resolved')),
      closed ? null : button('act.falsePositive', 'f', () => void run('false_positive')),
      h('span', { class: 'sep' }),
      button('act.createIncident', '', () => void createIncident()),
      alertSource(alert) ? button('act.blockSource', '', () => void blockSource(), 'btn danger') : null);
  }

  async function run(action: Action): Promise<void> {
    if (!isAnalyst()) return notify(t('common.forbidden'), 'error');
    const done = await act(action, [alert]);
    if (done?.[0] && ctx.alive()) {
      alert = done[0];
      drawAlert();
    }
  }

  async function createIncident(): Promise<void> {
    const got = await formDialog(t('incNew.title'), [
      { name: 'title', label: t('incNew.name'), value: [alertRule(alert), alertSource(alert)].filter(Boolean).join(' · '), required: true },
      { name: 'summary', label: t('incNew.summary'), kind: 'textarea', value: '' },
    ], t('common.submit'));
    if (!got) return;
    try {
      const inc = await post<Doc>('/incidents', { title: got.title, alert_ids: [alertId(alert)], summary: got.summary });
      notify(t('incNew.done'));
      const iid = incidentId(inc);
      if (iid && ctx.alive()) go(`/incidents/${encodeURIComponent(iid)}`);
    } catch (err) {
      notify(errorText(err), 'error');
    }
  }

  async function blockSource(): Promise<void> {
    const got = await formDialog(t('act.blockSource'), [
      { name: 'target', label: t('blk.target'), value: alertSource(alert), required: true },
      { name: 'ttl', label: t('blk.ttl'), kind: 'select', options: TTLS, value: '1h' },
      { name: 'reason', label: t('blk.reason'), kind: 'textarea', value: `${alertRule(alert)} (${alertId(alert).slice(0, 12)})`, required: true },
    ], t('blk.submit'));
    if (!got) return;
    try {
      const b = await post<Doc>('/blocks', { target: got.target, ttl: got.ttl, reason: got.reason });
      notify(t('blk.created', { target: str(b.target), state: t(`blkState.${str(b.state)}` as Key) }));
    } catch (err) {
      notify(errorText(err), 'error');
    }
  }

  function drawComments(): void {
    if (!comments.length) return fill(commentList, h('li', { class: 'muted' }, t('al.noComments')));
    fill(commentList, comments.map((c) => h('li', null,
      h('div', { class: 'comment-head' }, h('strong', null, c.author), h('span', { class: 'muted mono' }, fmtTime(c.created))),
      h('div', { class: 'comment-text' }, c.text))));
  }

  const commentBox = h('textarea', { id: 'comment-text', rows: 3, placeholder: t('al.commentPh') });
  const commentForm = hasRole('analyst', 'officer') ? h('form', {
    class: 'comment-form',
    on: {
      submit: async (ev) => {
        ev.preventDefault();
        const text = commentBox.value.trim();
        if (!text) return;
        try {
          const c = await post<Comment>(`/alerts/${encodeURIComponent(alertId(alert))}/comments`, { text });
          comments.push(c);
          commentBox.value = '';
          drawComments();
        } catch (err) {
          notify(errorText(err), 'error');
        }
      },
    },
  }, commentBox, h('button', { type: 'submit', class: 'btn primary small' }, t('al.commentSubmit'))) : null;

  const events = detail.events ?? [];
  const eventsEl = h('section', { class: 'panel', id: 'alert-events' },
    h('h2', { class: 'panel-title' }, t('al.events', { n: events.length })),
    events.length ? events.map((e, i) => eventCard(e, i)) : h('div', { class: 'empty' }, t('al.noEvents')));

  fill(ctx.root, head, actions,
    h('div', { class: 'two-col' },
      panel(t('al.summary'), summary),
      panel(t('al.comments'), commentList, commentForm)),
    eventsEl);
  drawAlert();
  drawComments();

  ctx.keys((ev) => {
    const k = ev.key;
    if (k === 'a') void run('assign');
    else if (k === 'i') void run('in_progress');
    else if (k === 'r') void run('resolved');
    else if (k === 'f') void run('false_positive');
    else if (k === 'Escape' || k === 'Backspace') go('/alerts');
    else if (k === '?') showHelp();
    else return;
    ev.preventDefault();
  });
}

const ISO_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:?\d{2})$/;

/** A field's value; a time in Asia/Shanghai, with the value as stored beside it. */
function value(v: string): Child | Child[] {
  return ISO_TIME.test(v) ? [fmtTime(v), h('span', { class: 'muted small' }, `  ${v}`)] : v;
}

/** One event: its raw line as received, then its normalized fields as key/value rows (two
 * tables side by side). The first event is open, the others fold to one line each. */
function eventCard(e: Doc, i: number): HTMLElement {
  const raw = get(e, 'event.original');
  const fields = flatten(e).filter(([k]) => k !== 'event.original');
  const half = Math.ceil(fields.length / 2);
  const kv = (rows: [string, string][]) =>
    h('table', { class: 'kv' }, h('tbody', null, rows.map(([k, v]) => h('tr', null, h('th', { class: 'mono' }, k), h('td', { class: 'mono' }, value(v))))));
  const card = h('details', { class: 'event', data: { event: str(get(e, 'event.id')) } },
    h('summary', { class: 'event-head' },
      h('strong', null, t('al.event', { n: i + 1 })),
      h('span', { class: 'mono' }, fmtTime(get(e, '@timestamp'))),
      h('span', { class: 'muted' }, str(get(e, 'event.dataset'))),
      h('span', { class: 'event-line mono' }, str(raw ?? get(e, 'message')))),
    h('div', { class: 'event-body' },
      h('h3', null, t('al.raw')),
      raw === undefined || raw === null || raw === ''
        ? h('div', { class: 'muted' }, t('al.noRaw'))
        : h('pre', { class: 'raw' }, str(raw)),
      h('h3', null, t('al.normalized')),
      h('div', { class: 'event-fields' }, kv(fields.slice(0, half)), kv(fields.slice(half)))));
  card.open = i === 0;
  return card;
}
