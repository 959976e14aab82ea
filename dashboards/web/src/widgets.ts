// Small shared pieces of the pages: badges, error lines, notices, dialogs, tables.

import { ApiError } from './api';
import { fill, h, type Child } from './dom';
import { t, tv } from './i18n';

export const SEVERITIES = ['critical', 'high', 'medium', 'low', 'informational'] as const;
export const STATUSES = ['new', 'in_progress', 'resolved', 'false_positive'] as const;

export function sevBadge(sev: unknown): HTMLElement {
  const s = String(sev ?? '');
  return h('span', { class: `badge sev sev-${(SEVERITIES as readonly string[]).includes(s) ? s : 'unknown'}` }, tv('sev', s));
}

export function statusBadge(status: unknown, prefix = 'status'): HTMLElement {
  const s = String(status ?? '');
  return h('span', { class: `badge st st-${s.replace(/[^a-z_]/g, '')}` }, tv(prefix, s));
}

export function errorText(err: unknown): string {
  if (err instanceof ApiError) return t('common.error', { detail: err.status ? `${err.status} ${err.detail}` : err.detail });
  return t('common.error', { detail: err instanceof Error ? err.message : String(err) });
}

export function errorBox(err: unknown): HTMLElement {
  return h('div', { class: 'error', role: 'alert' }, errorText(err));
}

export function emptyBox(text = t('common.noData')): HTMLElement {
  return h('div', { class: 'empty' }, text);
}

export function loading(): HTMLElement {
  return h('div', { class: 'loading' }, t('common.loading'));
}

/** A short notice at the bottom right, gone after a few seconds. */
export function notify(text: string, kind: 'ok' | 'error' = 'ok'): void {
  let box = document.getElementById('notices');
  if (!box) {
    box = h('div', { id: 'notices', aria: { live: 'polite' } });
    document.body.appendChild(box);
  }
  const item = h('div', { class: `notice notice-${kind}`, role: kind === 'error' ? 'alert' : 'status' }, text);
  box.appendChild(item);
  setTimeout(() => item.remove(), kind === 'error' ? 8000 : 4000);
}

export interface FormField {
  name: string;
  label: string;
  kind?: 'text' | 'textarea' | 'select';
  value?: string;
  options?: [string, string][];
  required?: boolean;
  placeholder?: string;
}

/** A modal form: the values entered, or null when cancelled. */
export function formDialog(title: string, fields: FormField[], submit: string, note?: string): Promise<Record<string, string> | null> {
  return new Promise((resolve) => {
    const controls: Record<string, HTMLInputElement | HTMLTextAreaElement | HTMLSelectElement> = {};
    const error = h('div', { class: 'error small' });
    const rows = fields.map((f) => {
      let c: HTMLInputElement | HTMLTextAreaElement | HTMLSelectElement;
      if (f.kind === 'textarea') c = h('textarea', { name: f.name, rows: 3, value: f.value ?? '', placeholder: f.placeholder ?? '' });
      else if (f.kind === 'select') c = h('select', { name: f.name }, (f.options ?? []).map(([v, l]) => h('option', { value: v, selected: v === f.value }, l)));
      else c = h('input', { type: 'text', name: f.name, value: f.value ?? '', placeholder: f.placeholder ?? '', autocomplete: 'off' });
      controls[f.name] = c;
      return h('label', { class: 'field' }, h('span', { class: 'field-label' }, f.label), c);
    });
    let done = false;
    const dlg = h('dialog', { class: 'dialog' });
    const finish = (v: Record<string, string> | null) => {
      if (done) return;
      done = true;
      dlg.close();
      dlg.remove();
      resolve(v);
    };
    const form = h('form', {
      on: {
        submit: (ev) => {
          ev.preventDefault();
          const out: Record<string, string> = {};
          for (const f of fields) {
            out[f.name] = controls[f.name].value.trim();
            if (f.required && !out[f.name]) {
              error.textContent = `${f.label}: ${t('common.reasonRequired')}`;
              controls[f.name].focus();
              return;
            }
          }
          finish(out);
        },
      },
    },
    h('h3', null, title),
    note ? h('p', { class: 'muted' }, note) : null,
    rows,
    error,
    h('div', { class: 'dialog-buttons' },
      h('button', { type: 'button', class: 'btn', on: { click: () => finish(null) } }, t('common.cancel')),
      h('button', { type: 'submit', class: 'btn primary' }, submit)));
    dlg.appendChild(form);
    dlg.addEventListener('cancel', () => finish(null));
    document.body.appendChild(dlg);
    dlg.showModal();
    const first = fields.find((f) => f.kind === 'textarea') ?? fields[0];
    if (first) controls[first.name].focus();
  });
}

/** A modal that only informs (the shortcut help). */
export function infoDialog(title: string, body: Child | Child[]): HTMLDialogElement {
  const dlg = h('dialog', { class: 'dialog' },
    h('h3', null, title), h('div', null, body),
    h('div', { class: 'dialog-buttons' }, h('button', { type: 'button', class: 'btn primary', on: { click: () => dlg.close() } }, t('common.close'))));
  dlg.addEventListener('close', () => dlg.remove());
  document.body.appendChild(dlg);
  dlg.showModal();
  return dlg;
}

export interface Column<T> {
  label: string;
  cell: (row: T) => Child | Child[];
  class?: string;
}

/** A plain table; `empty` is shown as one row when there are no rows. */
export function table<T>(cols: Column<T>[], rows: T[], empty = t('common.noData'), rowAttrs?: (row: T) => Record<string, string>): HTMLTableElement {
  const body = h('tbody');
  if (!rows.length) body.appendChild(h('tr', null, h('td', { class: 'empty-cell', colSpan: cols.length }, empty)));
  for (const r of rows) {
    const tr = h('tr', null, cols.map((c) => h('td', { class: c.class ?? '' }, c.cell(r))));
    if (rowAttrs) for (const [k, v] of Object.entries(rowAttrs(r))) tr.setAttribute(k, v);
    body.appendChild(tr);
  }
  return h('table', { class: 'grid' },
    h('thead', null, h('tr', null, cols.map((c) => h('th', { class: c.class ?? '' }, c.label)))), body);
}

/** A panel with a heading and content. */
export function panel(title: string, ...content: (Child | Child[])[]): HTMLElement {
  return h('section', { class: 'panel' }, h('h2', { class: 'panel-title' }, title), ...content);
}

/** Show the result of an async load in place: loading, then content or the error text. */
export async function into(el: HTMLElement, load: () => Promise<Child | Child[]>): Promise<boolean> {
  fill(el, loading());
  try {
    fill(el, await load());
    return true;
  } catch (err) {
    fill(el, errorBox(err));
    return false;
  }
}
