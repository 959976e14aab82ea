// The hash router: `#/alerts/abc` → the page that draws it; each page leaves a cleanup behind
// (timers, streams, charts, key handlers) that runs when the user goes elsewhere.

import type { Page } from './session';

export interface PageCtx {
  root: HTMLElement;
  params: string[];
  /** Run when the page is left (or drawn again). */
  cleanup(fn: () => void): void;
  /** The page's keyboard shortcuts (not called while the user types in a field or a dialog is open). */
  keys(fn: (ev: KeyboardEvent) => void): void;
  /** Is this drawing still the one on screen? (an answer arriving late is dropped) */
  alive(): boolean;
}

export type Render = (ctx: PageCtx) => void | Promise<void>;

export interface Route {
  pattern: RegExp;
  page: Page | 'login';
  render: Render;
}

export function parseHash(): string {
  const raw = location.hash.replace(/^#/, '');
  return raw.startsWith('/') ? raw.split('?')[0] : '/';
}

export function match(routes: Route[], path: string): { route: Route; params: string[] } | null {
  for (const route of routes) {
    const m = route.pattern.exec(path);
    if (m) return { route, params: m.slice(1).map(decodeURIComponent) };
  }
  return null;
}

export function go(path: string): void {
  if (location.hash !== `#${path}`) location.hash = path;
}
