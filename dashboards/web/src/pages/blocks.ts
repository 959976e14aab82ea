// 封禁管理: blocks in force and waiting, with their TTL counting down; approving or rejecting a
// pending block; lifting one; a manual block; and what the playbooks decided.

import { del, get as fetchGet, post, type Doc } from '../api';
import { fill, get, h, select, str, field } from '../dom';
import { t, tv, type Key } from '../i18n';
import type { PageCtx } from '../router';
import { hasRole, isAnalyst } from '../session';
import { fmtDuration, fmtTime, secondsUntil } from '../time';
import { errorBox, errorText, loading, notify, panel, statusBadge, table } from '../widgets';
import { TTLS } from './alert';

interface Block {
  id: string;
  target: string;
  scope: string;
  state: string;
  expires_at: string;
  ttl_seconds: number;
  offenses: number;
  playbook: string;
  reason: string;
  decided_by: string;
  approval_reason?: string;
  devices?: string[];
}

type Tab = 'current' | 'pending' | 'all';
let tab: Tab = 'current';
const LIVE_STATES = new Set(['active', 'approved', 'pending', 'removing']);
const REFRESH_MS = 10_000;

export async function renderBlocks(ctx: PageCtx): Promise<void> {
  const listEl = h('div', { id: 'blocks-list' });
  const runsEl = h('div', { id: 'playbook-runs' });
  const tabs = (['current', 'pending', 'all'] as Tab[]).map((name) => h('button', {
    type: 'button', class: `seg${name === tab ? ' on' : ''}`, data: { tab: name },
    on: { click: () => { tab = name; tabs.forEach((b) => b.classList.toggle('on', b.dataset.tab === tab)); void load(); } },
  }, t(`blk.tab.${name}` as Key)));

  // The countdowns: every second, from each block's expiry.
  const tick = window.setInterval(() => {
    for (const el of listEl.querySelectorAll<HTMLElement>('[data-expires]')) {
      const left = secondsUntil(el.dataset.expires);
      el.textContent = left === null ? '' : left > 0 ? fmtDuration(left) : t('blkState.expired');
      el.classList.toggle('soon', left !== null && left < 300);
    }
  }, 1000);
  // The enforcer and the playbooks change blocks meanwhile: read them again now and then.
  const refresh = window.setInterval(() => void Promise.all([load(true), loadRuns(true)]), REFRESH_MS);
  ctx.cleanup(() => {
    window.clearInterval(tick);
    window.clearInterval(refresh);
  });

  async function transition(b: Block, what: 'approve' | 'reject' | 'remove'): Promise<void> {
    try {
      const ref = encodeURIComponent(b.id);
      const res = what === 'remove' ? await del<Block>(`/blocks/${ref}`) : await post<Block>(`/blocks/${ref}/${what}`);
      notify(t('blk.done', { target: res.target, state: tv('blkState', res.state) }));
      await Promise.all([load(true), loadRuns(true)]);
    } catch (err) {
      notify(errorText(err), 'error');
    }
  }

  async function load(quiet = false): Promise<void> {
    if (!quiet) fill(listEl, loading());
    try {
      const rows = await fetchGet<Block[]>('/blocks', { state: tab });
      if (!ctx.alive()) return;
      fill(listEl, table<Block>([
        { label: t('blk.col.target'), cell: (b) => b.target, class: 'mono' },
        { label: t('blk.col.state'), cell: (b) => statusBadge(b.state, 'blkState') },
        { label: t('blk.col.remaining'), class: 'mono', cell: (b) => LIVE_STATES.has(b.state)
          ? [h('span', { class: 'countdown', data: { expires: b.expires_at } }, fmtDuration(secondsUntil(b.expires_at) ?? 0)),
            b.state === 'pending' ? h('span', { class: 'muted small' }, ` (${t('blk.deadline')})`) : null]
          : '' },
        { label: t('blk.col.expires'), cell: (b) => fmtTime(b.expires_at), class: 'mono' },
        { label: t('blk.col.scope'), cell: (b) => (b.scope === 'all' ? t('common.all') : b.scope) },
        { label: t('blk.col.offenses'), cell: (b) => String(b.offenses), class: 'num' },
        { label: t('blk.col.by'), cell: (b) => [b.decided_by, b.playbook ? h('span', { class: 'muted' }, ` · ${b.playbook}`) : null] },
        { label: t('blk.col.reason'), cell: (b) => [b.reason, b.approval_reason ? h('div', { class: 'muted small' }, b.approval_reason) : null] },
        { label: t('blk.col.devices'), cell: (b) => (b.devices ?? []).join(', ') },
        { label: t('common.actions'), cell: (b) => (isAnalyst() ? [
          b.state === 'pending' ? h('button', { type: 'button', class: 'btn small primary', on: { click: () => void transition(b, 'approve') } }, t('blk.approve')) : null,
          b.state === 'pending' ? h('button', { type: 'button', class: 'btn small', on: { click: () => void transition(b, 'reject') } }, t('blk.reject')) : null,
          b.state === 'active' || b.state === 'approved' ? h('button', { type: 'button', class: 'btn small danger', on: { click: () => void transition(b, 'remove') } }, t('blk.unblock')) : null,
        ] : '') },
      ], rows, t('blk.empty')));
    } catch (err) {
      if (ctx.alive()) fill(listEl, errorBox(err));
    }
  }

  async function loadRuns(quiet = false): Promise<void> {
    if (!hasRole('analyst', 'officer')) return;
    if (!quiet) fill(runsEl, loading());
    try {
      const rows = await fetchGet<Doc[]>('/playbooks/runs', { since: 'now-7d', size: 100 });
      if (!ctx.alive()) return;
      const a = (d: Doc, k: string) => get(d, `soc.action.${k}`) ?? get(d, k);
      fill(runsEl, table<Doc>([
        { label: t('run.time'), cell: (d) => fmtTime(get(d, '@timestamp') ?? a(d, 'created')), class: 'mono' },
        { label: t('run.playbook'), cell: (d) => str(a(d, 'playbook')) },
        { label: t('run.kind'), cell: (d) => [tv('runKind', a(d, 'kind')), a(d, 'simulated') ? h('span', { class: 'tag' }, t('blk.simulated')) : null] },
        { label: t('run.target'), cell: (d) => str(a(d, 'target')), class: 'mono' },
        { label: t('run.state'), cell: (d) => tv('runState', a(d, 'state')) },
        { label: t('run.by'), cell: (d) => str(a(d, 'decided_by')) },
        { label: t('run.reason'), cell: (d) => str(a(d, 'reason')) },
        { label: t('run.alert'), cell: (d) => (a(d, 'alert_id') ? h('a', { href: `#/alerts/${encodeURIComponent(str(a(d, 'alert_id')))}`, class: 'mono' }, str(a(d, 'alert_id')).slice(0, 12)) : '') },
      ], Array.isArray(rows) ? rows : []));
    } catch (err) {
      if (ctx.alive()) fill(runsEl, errorBox(err));
    }
  }

  const target = h('input', { type: 'text', id: 'block-target', name: 'target', placeholder: '203.0.113.7', autocomplete: 'off', required: true });
  const ttl = select({ id: 'block-ttl', name: 'ttl' }, TTLS, '1h');
  const reason = h('input', { type: 'text', id: 'block-reason', name: 'reason', autocomplete: 'off', required: true });
  const manual = isAnalyst() ? h('form', {
    class: 'filters', id: 'block-form',
    on: {
      submit: async (ev) => {
        ev.preventDefault();
        try {
          const b = await post<Block>('/blocks', { target: target.value.trim(), ttl: ttl.value, reason: reason.value.trim() });
          notify(t('blk.created', { target: b.target, state: tv('blkState', b.state) }));
          target.value = '';
          reason.value = '';
          await Promise.all([load(true), loadRuns(true)]);
        } catch (err) {
          notify(errorText(err), 'error');
        }
      },
    },
  }, field(t('blk.target'), target), field(t('blk.ttl'), ttl), field(t('blk.reason'), reason, 'grow'),
  h('div', { class: 'filter-buttons' }, h('button', { type: 'submit', class: 'btn danger' }, t('blk.submit')))) : null;

  fill(ctx.root,
    h('div', { class: 'page-head' }, h('h1', null, t('blk.title')), h('div', { class: 'seg-group', role: 'group' }, tabs),
      h('button', { type: 'button', class: 'btn small', on: { click: () => void Promise.all([load(), loadRuns()]) } }, t('common.refresh'))),
    manual ? panel(t('blk.manual'), manual) : null,
    h('div', { class: 'table-wrap' }, listEl),
    hasRole('analyst', 'officer') ? panel(t('blk.runs'), runsEl) : null);
  await Promise.all([load(), loadRuns()]);
}
