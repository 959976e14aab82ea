// 上报通报: an incident's notices upstream (soc/api/routers/notices.py) — kind, receiver, delivery
// state, the deadline in Asia/Shanghai counting down (已超时 once past it and not delivered), the
// receipt or the receiver's refusal, the attempts; queueing a notice and sending a rejected one again.

import { get as fetchGet, post } from './api';
import { fill, h, str, type Child } from './dom';
import { t, tv, type Key } from './i18n';
import { gradeText } from './grading';
import { isAnalyst } from './session';
import { fmtDuration, fmtTime, secondsUntil } from './time';
import { errorBox, errorText, infoDialog, loading, notify, table, type Column } from './widgets';

export interface Notice {
  id: string;
  incident_id: string;
  kind: string;
  sequence: number;
  endpoint: string;
  recipient: string;
  state: string;
  tenant?: string | null;
  grade?: string | null;
  grade_code?: string | null;
  created: string;
  created_by: string;
  updated: string;
  due_at?: string | null;
  due_status?: string | null;
  attempt_count?: number;
  next_attempt_at?: string | null;
  delivered_at?: string | null;
  late?: boolean | null;
  receipt?: { receipt_id: string; received_at?: string; duplicate?: boolean } | null;
  rejection?: { status?: number | null; code?: string | null; message?: string | null } | null;
  last_error?: string | null;
}

interface Attempt {
  n?: number | null;
  finished?: string | null;
  worker?: string | null;
  outcome: string;
  status?: number | null;
  code?: string | null;
  message?: string | null;
}

interface Queued {
  notices: Notice[];
  skipped: { endpoint: string; reason: string }[];
}

export const KINDS = ['initial', 'follow_up', 'final'];
/** The free-text parts of a notice (NoticeFields) the form offers; empty ones the server fills. */
const TEXTS = ['impact', 'measures_taken', 'trend', 'cause', 'support_requested', 'scene_preservation'];

/** Past its deadline and not delivered (now, in the browser: the page stays right while open). */
export function isOverdue(n: Notice): boolean {
  if (n.state === 'delivered' || !n.due_at) return false;
  const s = secondsUntil(n.due_at);
  return s !== null && s < 0;
}

/** Overdue first (the longest overdue on top), then the ones still due (soonest first), then the rest (newest first). */
export function dueFirst(rows: Notice[]): Notice[] {
  const rank = (n: Notice) => (isOverdue(n) ? 0 : n.state !== 'delivered' && n.due_at ? 1 : 2);
  const time = (v: unknown) => new Date(String(v ?? 0)).getTime() || 0;
  return [...rows].sort((a, b) => rank(a) - rank(b)
    || (rank(a) < 2 ? time(a.due_at) - time(b.due_at) : time(b.created) - time(a.created)));
}

export function stateBadge(state: string): HTMLElement {
  return h('span', { class: `badge ns ns-${state.replace(/[^a-z_]/g, '')}` }, tv('ntState', state));
}

export function kindLabel(n: Notice): Child[] {
  return [h('strong', null, tv('ntKind', n.kind)), ' ', h('span', { class: 'muted' }, t('nt.seq', { n: n.sequence }))];
}

/** The deadline: its time, and while undelivered a countdown (or how long overdue) and the 已超时 badge. */
function dueCell(n: Notice): Child {
  if (!n.due_at) return h('span', { class: 'muted' }, t('nt.noDeadline'));
  const when = h('span', { class: 'mono due-time' }, fmtTime(n.due_at));
  if (n.state === 'delivered') {
    const status = n.late ? 'late' : 'on_time';
    return h('div', { class: 'due-cell' }, when, h('div', { class: 'due-line' }, h('span', { class: `badge due-${status}` }, tv('ntDue', status))));
  }
  const badge = h('span', { class: 'badge overdue' }, t('nt.overdue'));
  const cell = h('div', { class: 'due-cell live-due', data: { due: n.due_at } }, when,
    h('div', { class: 'due-line' }, badge, h('span', { class: 'countdown' })));
  tickCell(cell);
  return cell;
}

function tickCell(cell: HTMLElement): void {
  const secs = secondsUntil(cell.dataset.due) ?? 0;
  const over = secs < 0;
  const badge = cell.querySelector<HTMLElement>('.badge.overdue');
  const cd = cell.querySelector<HTMLElement>('.countdown');
  if (badge) badge.hidden = !over;
  if (cd) {
    cd.textContent = over ? t('nt.over', { d: fmtDuration(-secs) }) : t('nt.left', { d: fmtDuration(secs) });
    cd.classList.toggle('soon', !over && secs < 3600);
    cd.classList.toggle('late', over);
  }
  cell.closest('tr')?.classList.toggle('overdue-row', over);
}

/** Move every countdown under root on by a second's worth (called every second by the page). */
export function tickDue(root: ParentNode): void {
  root.querySelectorAll<HTMLElement>('.live-due').forEach(tickCell);
}

/** What came back: the receipt, the receiver's refusal, or the last error of a retry. */
function resultCell(n: Notice): Child {
  if (n.state === 'delivered' && n.receipt) {
    return h('div', { class: 'nt-result' },
      h('span', { class: 'muted' }, t('nt.receipt')), h('span', { class: 'mono receipt-id' }, str(n.receipt.receipt_id)),
      n.receipt.duplicate ? h('span', { class: 'tag' }, t('nt.duplicate')) : null,
      n.delivered_at ? h('div', { class: 'muted small' }, t('nt.deliveredAt', { time: fmtTime(n.delivered_at) })) : null);
  }
  if (n.state === 'rejected' && n.rejection) {
    const r = n.rejection;
    return h('div', { class: 'nt-result rejection' },
      h('span', { class: 'mono rej-code' }, [r.status ? `HTTP ${r.status}` : '', str(r.code)].filter(Boolean).join(' ') || t('nt.rejectedBy')),
      h('div', { class: 'rej-message' }, str(r.message)));
  }
  if (n.last_error) {
    return h('div', { class: 'nt-result' },
      h('span', { class: 'muted' }, t('nt.lastError')), h('span', { class: 'last-error' }, n.last_error),
      n.next_attempt_at && n.state === 'retrying' ? h('div', { class: 'muted small' }, t('nt.nextAttempt', { time: fmtTime(n.next_attempt_at) })) : null);
  }
  return h('span', { class: 'muted' }, '—');
}

async function showAttempts(n: Notice): Promise<void> {
  const body = h('div', { class: 'attempts' }, loading());
  infoDialog(t('nt.attemptsTitle', { id: n.id }), body);
  try {
    const got = await fetchGet<{ attempts: Attempt[] }>(`/notices/${encodeURIComponent(n.id)}`);
    fill(body, table<Attempt>([
      { label: t('nt.att.n'), cell: (a) => str(a.n), class: 'num' },
      { label: t('nt.att.finished'), cell: (a) => fmtTime(a.finished), class: 'mono' },
      { label: t('nt.att.outcome'), cell: (a) => tv('ntOutcome', a.outcome) },
      { label: t('nt.att.status'), cell: (a) => str(a.status), class: 'mono' },
      { label: t('nt.att.code'), cell: (a) => str(a.code), class: 'mono' },
      { label: t('nt.att.message'), cell: (a) => str(a.message) },
      { label: t('nt.att.worker'), cell: (a) => str(a.worker), class: 'mono' },
    ], got.attempts ?? []));
  } catch (err) {
    fill(body, errorBox(err));
  }
}

async function requeue(n: Notice, button: HTMLButtonElement, changed: () => void): Promise<void> {
  button.disabled = true;
  try {
    await post(`/notices/${encodeURIComponent(n.id)}/requeue`);
    notify(t('nt.requeued', { endpoint: n.endpoint, kind: tv('ntKind', n.kind) }));
    changed();
  } catch (err) {
    button.disabled = false;
    notify(errorText(err), 'error');
  }
}

export interface NoticeTableOpts {
  /** The incident each notice belongs to (the notices page); its title when known. */
  incidents?: Map<string, string>;
  /** Called after a change (requeue): load again. */
  changed: () => void;
  empty?: string;
}

export function noticeTable(rows: Notice[], opts: NoticeTableOpts): HTMLTableElement {
  const cols: Column<Notice>[] = [
    { label: t('nt.col.state'), cell: (n) => stateBadge(n.state) },
    { label: t('nt.col.due'), cell: dueCell },
  ];
  if (opts.incidents) {
    const titles = opts.incidents;
    cols.push({ label: t('nt.col.incident'), cell: (n) => h('a', { href: `#/incidents/${encodeURIComponent(n.incident_id)}`, class: 'nt-incident' }, titles.get(n.incident_id) || n.incident_id) });
    cols.push({ label: t('nt.col.grade'), cell: (n) => (n.grade ? gradeText(n.grade, n.grade_code) : '—') });
  }
  cols.push(
    { label: t('nt.col.kind'), cell: kindLabel, class: 'nowrap' },
    { label: t('nt.col.endpoint'), cell: (n) => [h('div', { class: 'nt-endpoint mono' }, n.endpoint), n.recipient ? h('div', { class: 'muted small' }, tv('ntRecipient', n.recipient)) : null] },
    { label: t('nt.col.created'), cell: (n) => [h('div', { class: 'mono' }, fmtTime(n.created)), h('div', { class: 'muted small' }, n.created_by)] },
    { label: t('nt.col.attempts'), cell: (n) => [h('span', { class: 'attempt-count' }, String(n.attempt_count ?? 0)), ' ',
      h('button', { type: 'button', class: 'btn link small', on: { click: () => void showAttempts(n) } }, t('nt.attemptsBtn'))], class: 'nowrap' },
    { label: t('nt.col.result'), cell: resultCell },
  );
  if (isAnalyst()) {
    cols.push({ label: t('common.actions'), cell: (n) => {
      if (n.state !== 'rejected') return null;
      const b: HTMLButtonElement = h('button', { type: 'button', class: 'btn small requeue', on: { click: () => void requeue(n, b, opts.changed) } }, t('nt.requeue'));
      return b;
    } });
  }
  return table<Notice>(cols, rows, opts.empty ?? t('nt.empty'),
    (n) => ({ 'data-id': n.id, 'data-state': n.state, 'data-endpoint': n.endpoint, class: isOverdue(n) ? 'overdue-row' : '' }));
}

/** The kind a new notice most likely is: the initial first, then follow-ups, the final once closed. */
function nextKind(existing: Notice[], closed: boolean): string {
  if (!existing.some((n) => n.kind === 'initial')) return 'initial';
  return closed ? 'final' : 'follow_up';
}

/** The form that builds and queues a notice of the incident (analysts): kind and the free text. */
export function noticeForm(incidentId: string, existing: Notice[], closed: boolean, queued: () => void): HTMLElement {
  const kind = h('select', { id: 'notice-kind', name: 'kind' },
    KINDS.map((k) => h('option', { value: k, selected: k === nextKind(existing, closed) }, tv('ntKind', k))));
  const texts = Object.fromEntries(TEXTS.map((name) => [name, h('textarea', { id: `notice-${name}`, name, rows: 2 })]));
  const result = h('div', { id: 'notice-result', class: 'notice-result', aria: { live: 'polite' } });
  const submit = h('button', { type: 'submit', class: 'btn primary' }, t('nt.f.submit'));
  const form = h('form', {
    class: 'notice-form',
    on: {
      submit: async (ev) => {
        ev.preventDefault();
        const body: Record<string, string> = { kind: kind.value };
        for (const [name, el] of Object.entries(texts)) if (el.value.trim()) body[name] = el.value.trim();
        submit.disabled = true;
        fill(result);
        try {
          const got = await post<Queued>(`/incidents/${encodeURIComponent(incidentId)}/notices`, body);
          for (const el of Object.values(texts)) el.value = '';
          fill(result,
            h('div', { class: 'ok queued' }, t('nt.queued', { n: got.notices.length, list: got.notices.map((n) => n.endpoint).join('、') })),
            skippedList(got.skipped));
          queued();
        } catch (err) {
          fill(result, errorBox(err));
        } finally {
          submit.disabled = false;
        }
      },
    },
  },
  h('div', { class: 'notice-fields' },
    h('label', { class: 'field' }, h('span', { class: 'field-label' }, t('nt.f.kind')), kind),
    TEXTS.map((name) => h('label', { class: 'field' }, h('span', { class: 'field-label' }, t(`nt.f.${name}` as Key)), texts[name]))),
  h('p', { class: 'muted small' }, t('nt.f.hint')),
  h('div', { class: 'form-buttons' }, submit));
  return h('details', { class: 'notice-new', id: 'notice-new' }, h('summary', null, t('nt.new')), form, result);
}

function skippedList(skipped: { endpoint: string; reason: string }[]): Child {
  if (!skipped.length) return null;
  return h('div', { class: 'skipped' }, h('div', { class: 'field-label' }, t('nt.skipped')),
    h('ul', null, skipped.map((s) => h('li', null, h('strong', null, s.endpoint), `：${s.reason}`))));
}

/** A line for the duty analyst on the incidents list: how many notices are overdue and due now. */
export async function dueBanner(): Promise<HTMLElement | null> {
  const [overdue, due] = await Promise.all([
    fetchGet<Notice[]>('/notices', { due: 'overdue', size: 500 }),
    fetchGet<Notice[]>('/notices', { due: 'due', size: 500 }),
  ]);
  if (!overdue.length && !due.length) return null;
  return h('div', { class: `due-banner${overdue.length ? ' has-overdue' : ''}`, id: 'due-banner', role: 'status' },
    h('strong', null, t('nt.banner')),
    overdue.length ? h('span', { class: 'badge overdue' }, t('nt.bannerOverdue', { n: overdue.length })) : null,
    due.length ? h('span', { class: 'badge ns ns-queued' }, t('nt.bannerDue', { n: due.length })) : null,
    h('a', { href: '#/notices' }, t('nt.bannerLink')));
}
