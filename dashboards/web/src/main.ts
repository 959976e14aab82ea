// The shell: sign-in state, the navigation the user's roles allow, the language switch, and
// drawing the page of the current hash route.

import './styles.css';
import { mayHaveSession, post, setUnauthorizedHandler } from './api';
import { h, fill, typing } from './dom';
import { getLang, setLang, t, tv, type Key } from './i18n';
import { go, match, parseHash, type PageCtx, type Route } from './router';
import { canSee, current, firstPage, loadMe, onSignedIn, PAGES, setCurrent, type Page } from './session';
import { errorBox } from './widgets';
import { renderLogin } from './pages/login';
import { renderOverview } from './pages/overview';
import { renderTriage } from './pages/triage';
import { renderAlert } from './pages/alert';
import { renderIncidents, renderIncident } from './pages/incidents';
import { renderNotices } from './pages/notices';
import { renderBlocks } from './pages/blocks';
import { renderRules } from './pages/rules';
import { renderCompliance } from './pages/compliance';

const ROUTES: Route[] = [
  { pattern: /^\/login$/, page: 'login', render: renderLogin },
  { pattern: /^\/overview$/, page: 'overview', render: renderOverview },
  { pattern: /^\/alerts$/, page: 'triage', render: renderTriage },
  { pattern: /^\/alerts\/([^/]+)$/, page: 'triage', render: renderAlert },
  { pattern: /^\/incidents$/, page: 'incidents', render: renderIncidents },
  { pattern: /^\/incidents\/([^/]+)$/, page: 'incidents', render: renderIncident },
  { pattern: /^\/notices$/, page: 'notices', render: renderNotices },
  { pattern: /^\/blocks$/, page: 'blocks', render: renderBlocks },
  { pattern: /^\/rules$/, page: 'rules', render: renderRules },
  { pattern: /^\/compliance$/, page: 'compliance', render: renderCompliance },
];
const NAV: Record<Page, { href: string; label: Key }> = {
  overview: { href: '#/overview', label: 'nav.overview' },
  triage: { href: '#/alerts', label: 'nav.triage' },
  incidents: { href: '#/incidents', label: 'nav.incidents' },
  notices: { href: '#/notices', label: 'nav.notices' },
  blocks: { href: '#/blocks', label: 'nav.blocks' },
  rules: { href: '#/rules', label: 'nav.rules' },
  compliance: { href: '#/compliance', label: 'nav.compliance' },
};
const RETURN_TO = 'soc.returnTo';

const app = document.getElementById('app')!;
let cleanups: (() => void)[] = [];
let keyHandler: ((ev: KeyboardEvent) => void) | null = null;
let drawing = 0;

function leavePage(): void {
  for (const fn of cleanups.splice(0)) {
    try {
      fn();
    } catch (err) {
      console.warn('cleanup', err);
    }
  }
  keyHandler = null;
}

function toLogin(): void {
  setCurrent(null);
  const path = parseHash();
  if (path !== '/login') {
    try {
      sessionStorage.setItem(RETURN_TO, path);
    } catch {
      /* ignore */
    }
  }
  go('/login');
}

/** After sign-in: the page the user was sent away from, or the first their roles open. */
function afterSignIn(): void {
  let back = '';
  try {
    back = sessionStorage.getItem(RETURN_TO) ?? '';
    sessionStorage.removeItem(RETURN_TO);
  } catch {
    /* ignore */
  }
  const m = back ? match(ROUTES, back) : null;
  if (m && m.route.page !== 'login' && canSee(m.route.page)) go(back);
  else go(home());
}

/** The first page the user's roles open. */
function home(): string {
  const p = firstPage();
  return p ? NAV[p].href.slice(1) : '/overview';
}

function header(active: Page | 'login'): HTMLElement {
  const me = current()!;
  const nav = h('nav', { class: 'nav', aria: { label: 'main' } },
    PAGES.filter(canSee).map((p) => h('a', { href: NAV[p].href, class: p === active ? 'active' : '', data: { page: p } }, t(NAV[p].label))));
  const tenants = me.tenants.includes('*') ? t('user.allTenants') : me.tenants.join(', ');
  const roles = me.roles.map((r) => tv('role', r)).join(getLang() === 'en' ? ', ' : '、');
  return h('header', { class: 'topbar' },
    h('div', { class: 'brand' }, h('span', { class: 'brand-mark' }, 'SOC'), h('span', { class: 'brand-name' }, t('app.title'))),
    nav,
    h('div', { class: 'who' },
      h('span', { class: 'who-name', title: `${t('user.roles', { list: roles })}\n${t('user.tenants', { list: tenants })}` }, me.name),
      h('span', { class: 'who-tenants muted' }, t('user.tenants', { list: tenants })),
      h('button', { type: 'button', class: 'btn small', id: 'lang-switch', title: t('nav.langTitle'),
        on: { click: () => { setLang(getLang() === 'en' ? 'zh-CN' : 'en'); void draw(); } } }, t('nav.lang')),
      h('button', { type: 'button', class: 'btn small', id: 'logout', on: { click: () => void logout() } }, t('nav.logout'))));
}

async function logout(): Promise<void> {
  try {
    await post('/auth/logout');
  } catch {
    /* gone anyway */
  }
  setCurrent(null);
  go('/login');
}

async function draw(): Promise<void> {
  const my = ++drawing;
  leavePage();
  const path = parseHash();
  const found = match(ROUTES, path);
  if (!found) {
    if (!current() && mayHaveSession()) {
      try {
        await loadMe();
      } catch {
        return toLogin();
      }
    }
    go(current() ? home() : '/login');
    return;
  }
  const { route, params } = found;
  if (route.page !== 'login' && !current()) {
    if (!mayHaveSession()) return toLogin();
    try {
      await loadMe();
    } catch {
      if (my === drawing) toLogin();
      return;
    }
    if (my !== drawing) return;
  }
  const main = h('main', { class: 'content', id: 'content' });
  const ctx: PageCtx = {
    root: main,
    params,
    cleanup: (fn) => cleanups.push(fn),
    keys: (fn) => { keyHandler = fn; },
    alive: () => my === drawing,
  };
  if (route.page === 'login') {
    fill(app, main);
    app.className = 'app-login';
  } else {
    fill(app, header(route.page), main);
    app.className = 'app';
    if (!firstPage()) return fill(main, errorBox(new Error(t('common.noPage'))));
    if (!canSee(route.page)) return fill(main, errorBox(new Error(t('common.forbidden'))));
  }
  try {
    await route.render(ctx);
  } catch (err) {
    if (my === drawing) fill(main, errorBox(err));
  }
}

onSignedIn(afterSignIn);
setUnauthorizedHandler(() => {
  if (parseHash() !== '/login') toLogin();
});
document.addEventListener('keydown', (ev) => {
  if (!keyHandler || ev.ctrlKey || ev.metaKey || ev.altKey || typing(ev)) return;
  // Enter or space on a focused button or link is that control's own.
  if ((ev.key === 'Enter' || ev.key === ' ') && (ev.target as Element | null)?.closest?.('button, a, summary')) return;
  keyHandler(ev);
});
window.addEventListener('hashchange', () => void draw());
setLang(getLang());
void draw();
