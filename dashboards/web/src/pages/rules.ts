// 检测规则: the rules loaded, searchable; enable/disable; test a Sigma rule on sample events;
// retro-hunt a rule over the indexed events.

import { get as fetchGet, post, type Doc } from '../api';
import { fill, flatten, get, h, str } from '../dom';
import { t, tv } from '../i18n';
import type { PageCtx } from '../router';
import { isAnalyst } from '../session';
import { fmtTime } from '../time';
import { errorBox, errorText, formDialog, loading, notify, panel, sevBadge, table } from '../widgets';

interface Rule {
  id: string;
  title: string;
  level: string;
  kind: string;
  correlation_type?: string;
  enabled: boolean;
  logsource?: Record<string, string> | string | null;
  tags: string[];
  description: string;
  path: string;
}

interface HuntOut {
  rule_id: string;
  query: string | null;
  total: number;
  hits?: Doc[];
  events?: Doc[];
  error: string | null;
}

interface TestOut {
  matches: number[];
  hits?: { rule_id: string; title: string; events: number[]; count: number | null }[];
  errors: string[];
}

let search = '';
const SAMPLE_RULE = `title: 测试：root 口令错误
logsource:
  product: linux
  service: sshd
detection:
  selection:
    message|contains: 'Failed password for root'
  condition: selection
level: high`;
const SAMPLE_EVENTS = `[
  {"event": {"dataset": "linux.auth"}, "host": {"os": {"type": "linux"}}, "process": {"name": "sshd"},
   "source": {"ip": "203.0.113.7"}, "message": "Failed password for root from 203.0.113.7 port 22 ssh2"},
  {"event": {"dataset": "linux.auth"}, "host": {"os": {"type": "linux"}}, "process": {"name": "sshd"},
   "source": {"ip": "10.0.0.5"}, "message": "Accepted publickey for deploy from 10.0.0.5 port 50522 ssh2"}
]`;

function logsource(r: Rule): string {
  if (!r.logsource) return '';
  if (typeof r.logsource === 'string') return r.logsource;
  return Object.entries(r.logsource).map(([k, v]) => `${k}:${v}`).join(' ');
}

export async function renderRules(ctx: PageCtx): Promise<void> {
  let rules: Rule[] = [];
  const listEl = h('div', { id: 'rules-list' });
  const countEl = h('span', { class: 'muted' });
  const huntEl = h('div', { id: 'hunt-result' });
  const searchIn = h('input', {
    type: 'search', id: 'rules-search', value: search, placeholder: t('rl.searchPh'), autocomplete: 'off',
    on: { input: () => { search = searchIn.value; draw(); } },
  });

  function shown(): Rule[] {
    const q = search.trim().toLowerCase();
    if (!q) return rules;
    return rules.filter((r) => [r.id, r.title, r.description, r.level, r.kind, logsource(r), ...(r.tags ?? [])].join(' ').toLowerCase().includes(q));
  }

  async function toggle(r: Rule, box: HTMLInputElement): Promise<void> {
    box.disabled = true;
    try {
      const updated = await post<Rule>(`/rules/${encodeURIComponent(r.id)}/${box.checked ? 'enable' : 'disable'}`);
      Object.assign(r, updated ?? { enabled: box.checked });
      notify(t(r.enabled ? 'rl.enabled' : 'rl.disabled', { id: r.title || r.id }));
    } catch (err) {
      box.checked = !box.checked;
      notify(errorText(err), 'error');
    } finally {
      box.disabled = false;
    }
  }

  async function hunt(r: Rule): Promise<void> {
    const got = await formDialog(t('rl.huntTitle', { title: r.title || r.id }), [
      { name: 'since', label: t('rl.huntSince'), kind: 'select', value: '24h',
        options: [['1h', t('range.1h')], ['24h', t('range.24h')], ['7d', t('range.7d')], ['30d', t('range.30d')]] },
    ], t('rl.hunt'));
    if (!got) return;
    fill(huntEl, loading());
    huntEl.scrollIntoView({ block: 'nearest' });
    try {
      const res = await post<HuntOut>(`/rules/${encodeURIComponent(r.id)}/hunt`, { since: got.since, size: 100 });
      if (!ctx.alive()) return;
      const hits = res.hits ?? res.events ?? [];
      const correlation = r.kind === 'correlation';
      fill(huntEl, panel(t('rl.huntTitle', { title: r.title || r.id }),
        h('p', null, t('rl.huntResult', { n: res.total })),
        res.error ? h('div', { class: 'error' }, res.error) : null,
        res.query ? h('pre', { class: 'raw query' }, res.query) : null,
        correlation
          ? table<Doc>([
            { label: t('rl.col.group'), cell: (e) => str(get(e, 'group')), class: 'mono' },
            { label: t('col.count'), cell: (e) => str(get(e, 'count')), class: 'num' },
            { label: t('f.firstSeen'), cell: (e) => fmtTime(get(e, 'first_seen')), class: 'mono' },
          ], hits)
          : table<Doc>([
            { label: t('run.time'), cell: (e) => fmtTime(get(e, '@timestamp')), class: 'mono' },
            { label: t('col.source'), cell: (e) => str(get(e, 'source.ip')), class: 'mono' },
            { label: t('col.tenant'), cell: (e) => str(get(e, 'labels.tenant')) },
            { label: t('al.raw'), cell: (e) => h('span', { class: 'mono clip' }, str(get(e, 'event.original') ?? get(e, 'message'))) },
          ], hits)));
    } catch (err) {
      if (ctx.alive()) fill(huntEl, errorBox(err));
    }
  }

  function draw(): void {
    const rows = shown();
    countEl.textContent = t('rl.count', { shown: rows.length, total: rules.length });
    fill(listEl, table<Rule>([
      { label: t('rl.col.enabled'), cell: (r) => {
        const box = h('input', { type: 'checkbox', checked: !!r.enabled, disabled: !isAnalyst(), title: r.enabled ? t('rl.enabled', { id: '' }) : t('rl.disabled', { id: '' }) });
        box.addEventListener('change', () => void toggle(r, box));
        return h('label', { class: 'switch' }, box, h('span', { class: 'slider' }));
      } },
      { label: t('rl.col.title'), cell: (r) => [h('div', { title: r.description }, r.title), h('div', { class: 'muted small mono' }, r.id)] },
      { label: t('rl.col.level'), cell: (r) => sevBadge(r.level) },
      { label: t('rl.col.kind'), cell: (r) => [tv('rlKind', r.kind), r.correlation_type ? h('span', { class: 'muted small' }, ` (${r.correlation_type})`) : null] },
      { label: t('rl.col.path'), cell: (r) => [logsource(r), h('div', { class: 'muted small' }, r.path.split('/').slice(-2).join('/'))], class: 'mono small' },
      { label: t('rl.col.tags'), cell: (r) => (r.tags ?? []).map((x) => h('span', { class: 'tag' }, x)) },
      { label: t('common.actions'), cell: (r) => (isAnalyst() ? h('button', { type: 'button', class: 'btn small', on: { click: () => void hunt(r) } }, t('rl.hunt')) : '') },
    ], rows));
  }

  // The rule test bench.
  const ruleText = h('textarea', { id: 'test-rule', rows: 10, spellcheck: false, value: SAMPLE_RULE });
  const eventsText = h('textarea', { id: 'test-events', rows: 10, spellcheck: false, value: SAMPLE_EVENTS });
  const testOut = h('div', { id: 'test-result' });
  const bench = isAnalyst() ? panel(t('rl.test'), h('form', {
    class: 'bench',
    on: {
      submit: async (ev) => {
        ev.preventDefault();
        let events: unknown;
        try {
          events = JSON.parse(eventsText.value);
          if (!Array.isArray(events)) throw new Error('[ … ]');
        } catch (err) {
          return fill(testOut, h('div', { class: 'error' }, t('rl.badJson', { detail: (err as Error).message })));
        }
        fill(testOut, loading());
        try {
          const res = await post<TestOut>('/rules/test', { rule: ruleText.value, events });
          const list = events as Doc[];
          const correlated = (res.hits ?? []).filter((x) => x.count !== null && x.count !== undefined);
          fill(testOut,
            res.errors?.length ? h('div', { class: 'error' }, t('rl.testErrors', { list: res.errors.join('; ') })) : null,
            h('p', { class: res.matches?.length || correlated.length ? 'ok' : 'muted', id: 'test-matches' },
              res.matches?.length ? t('rl.testMatches', { list: res.matches.join(', ') }) : t('rl.testNoMatch')),
            correlated.map((x) => h('p', { class: 'ok' }, t('rl.testCorrelation', { title: x.title, list: x.events.join(', '), n: x.count ?? 0 }))),
            (res.matches ?? []).map((i) => h('pre', { class: 'raw' }, `#${i}\n` + flatten(list[i]).map(([k, v]) => `${k}: ${v}`).join('\n'))));
        } catch (err) {
          fill(testOut, errorBox(err));
        }
      },
    },
  },
  h('div', { class: 'two-col' },
    h('label', { class: 'field' }, h('span', { class: 'field-label' }, t('rl.testRule')), ruleText),
    h('label', { class: 'field' }, h('span', { class: 'field-label' }, t('rl.testEvents')), eventsText)),
  h('div', { class: 'filter-buttons' }, h('button', { type: 'submit', class: 'btn primary' }, t('rl.testRun'))),
  testOut)) : null;

  fill(ctx.root,
    h('div', { class: 'page-head' }, h('h1', null, t('rl.title')), searchIn, countEl),
    h('div', { class: 'table-wrap scroll' }, listEl), huntEl, bench);

  fill(listEl, loading());
  try {
    const res = await fetchGet<Rule[] | { rules: Rule[] }>('/rules');
    if (!ctx.alive()) return;
    rules = Array.isArray(res) ? res : res.rules ?? [];
    draw();
  } catch (err) {
    if (ctx.alive()) fill(listEl, errorBox(err));
  }
}
