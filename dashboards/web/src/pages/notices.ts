// 上报通报: every notice upstream of the incidents the user sees, what is overdue and due first,
// so the analyst on duty sees what must go now; a rejected notice is sent again from here.

import { get as fetchGet, type Doc } from '../api';
import { fill, get, h, str } from '../dom';
import { t, type Key } from '../i18n';
import { dueFirst, noticeTable, tickDue, type Notice } from '../notices';
import type { PageCtx } from '../router';
import { hasRole } from '../session';
import { fmtTime } from '../time';
import { errorBox, loading } from '../widgets';

type Tab = 'all' | 'overdue' | 'due' | 'rejected' | 'delivered';
const TABS: Tab[] = ['all', 'overdue', 'due', 'rejected', 'delivered'];
let tab: Tab = 'all';
const REFRESH_MS = 30_000;
const SIZE = 500;

export async function renderNotices(ctx: PageCtx): Promise<void> {
  const listEl = h('div', { id: 'notice-list', class: 'table-wrap' }, loading());
  const tilesEl = h('div', { class: 'tiles nt-tiles', id: 'notice-tiles' });
  const updated = h('span', { class: 'muted small', id: 'notices-updated' });
  const tabs = TABS.map((name) => h('button', {
    type: 'button', class: `seg${name === tab ? ' on' : ''}`, data: { tab: name },
    on: { click: () => { tab = name; tabs.forEach((b) => b.classList.toggle('on', b.dataset.tab === tab)); void load(); } },
  }, t(`nt.tab.${name}` as Key)));
  fill(ctx.root,
    h('div', { class: 'page-head' }, h('h1', null, t('nt.title')), h('div', { class: 'seg-group', role: 'group' }, tabs),
      h('span', { class: 'muted small' }, t('nt.auto')), updated),
    hasRole('analyst', 'officer') ? null : h('p', { class: 'muted', id: 'notices-readonly' }, t('nt.readonly')),
    tilesEl, listEl);

  let busy = false;
  async function load(quiet = false): Promise<void> {
    if (busy) return;
    busy = true;
    if (!quiet) fill(listEl, loading());
    try {
      // The overdue and the due are asked for on their own: the newest 500 may not hold them all.
      const [overdue, due, rejected, shown, incidents] = await Promise.all([
        fetchGet<Notice[]>('/notices', { due: 'overdue', size: SIZE }),
        fetchGet<Notice[]>('/notices', { due: 'due', size: SIZE }),
        fetchGet<Notice[]>('/notices', { state: 'rejected', size: SIZE }),
        tab === 'all' ? fetchGet<Notice[]>('/notices', { size: SIZE })
          : tab === 'overdue' || tab === 'due' ? Promise.resolve(null)
            : fetchGet<Notice[]>('/notices', { state: tab, size: SIZE }),
        fetchGet<Doc[]>('/incidents', { size: 500 }).catch(() => [] as Doc[]),
      ]);
      if (!ctx.alive()) return;
      let rows: Notice[];
      if (tab === 'overdue') rows = overdue;
      else if (tab === 'due') rows = due;
      else if (tab === 'rejected') rows = rejected;
      else if (tab === 'all') {
        const byId = new Map<string, Notice>();
        for (const n of [...overdue, ...due, ...(shown ?? [])]) byId.set(n.id, n);
        rows = [...byId.values()];
      } else rows = shown ?? [];
      const titles = new Map<string, string>();
      for (const d of incidents) {
        const inc = (get(d, 'soc.incident') as Doc | undefined) ?? d;
        if (inc.id) titles.set(str(inc.id), str(inc.title));
      }
      fill(tilesEl,
        tile('overdue', overdue.length),
        tile('due', due.length),
        tile('rejected', rejected.length));
      fill(listEl, noticeTable(dueFirst(rows), { incidents: titles, changed: () => void load(true) }));
      fill(updated, t('common.updatedAt', { time: fmtTime(new Date()) }));
    } catch (err) {
      if (ctx.alive()) fill(listEl, errorBox(err));
    } finally {
      busy = false;
    }
  }

  const tick = window.setInterval(() => tickDue(listEl), 1000);
  const refresh = window.setInterval(() => void load(true), REFRESH_MS);
  ctx.cleanup(() => {
    window.clearInterval(tick);
    window.clearInterval(refresh);
  });
  await load();
}

function tile(kind: 'overdue' | 'due' | 'rejected', n: number): HTMLElement {
  return h('button', {
    type: 'button', class: `tile nt-tile nt-${kind}${n ? ' hot' : ''}`, data: { tab: kind },
    on: { click: () => document.querySelector<HTMLButtonElement>(`.seg[data-tab='${kind}']`)?.click() },
  },
  h('div', { class: 'tile-label' }, t(`nt.tile.${kind}` as Key)),
  h('div', { class: 'tile-value' }, String(n)),
  h('div', { class: 'tile-note' }, t(`nt.tileNote.${kind}` as Key)));
}
