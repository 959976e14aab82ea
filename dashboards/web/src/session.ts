// Who is signed in, and which pages their roles open (the server checks again on every call).

import { get, type Me } from './api';

export type Page = 'overview' | 'triage' | 'incidents' | 'notices' | 'blocks' | 'rules' | 'compliance';

/** The roles that may read each page (docs/api.md). */
export const PAGE_ROLES: Record<Page, string[]> = {
  overview: ['analyst', 'officer'],
  triage: ['analyst', 'officer', 'automation'],
  incidents: ['analyst', 'officer', 'regulator'],
  notices: ['analyst', 'officer', 'regulator'],
  blocks: ['analyst', 'officer', 'sysadmin', 'automation'],
  rules: ['analyst', 'officer', 'sysadmin'],
  compliance: ['analyst', 'officer'],
};
export const PAGES = Object.keys(PAGE_ROLES) as Page[];

let me: Me | null = null;
let afterSignIn: () => void = () => {};

export function current(): Me | null {
  return me;
}

export function setCurrent(who: Me | null): void {
  me = who;
}

/** What the shell does once someone has signed in (set by main.ts). */
export function onSignedIn(fn: () => void): void {
  afterSignIn = fn;
}

/** The sign-in form succeeded: this is who is here now. */
export function signedIn(who: Me): void {
  me = who;
  afterSignIn();
}

export async function loadMe(): Promise<Me> {
  me = await get<Me>('/me');
  return me;
}

export function hasRole(...roles: string[]): boolean {
  return !!me && me.roles.some((r) => roles.includes(r));
}

export function canSee(page: Page): boolean {
  return hasRole(...PAGE_ROLES[page]);
}

/** Triage, blocks, incidents (grading, notices) and rule changes are the analyst's. */
export function isAnalyst(): boolean {
  return hasRole('analyst');
}

export function firstPage(): Page | null {
  return PAGES.find(canSee) ?? null;
}
