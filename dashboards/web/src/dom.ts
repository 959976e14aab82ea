// Building the DOM without HTML strings: every piece of data becomes a text node (XSS-safe).

export type Child = Node | string | number | null | undefined | false | Child[];
type Handler = (ev: Event) => void;

export interface Attrs {
  class?: string;
  id?: string;
  title?: string;
  type?: string;
  name?: string;
  value?: string;
  placeholder?: string;
  href?: string;
  for?: string;
  role?: string;
  tabindex?: number;
  disabled?: boolean;
  checked?: boolean;
  selected?: boolean;
  required?: boolean;
  autocomplete?: string;
  rows?: number;
  colSpan?: number;
  spellcheck?: boolean;
  data?: Record<string, string>;
  aria?: Record<string, string>;
  on?: Partial<Record<keyof HTMLElementEventMap, Handler>>;
}

export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs?: Attrs | null,
  ...children: (Child | Child[])[]
): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  if (attrs) {
    for (const [key, value] of Object.entries(attrs)) {
      if (value === undefined || value === null) continue;
      if (key === 'class') el.className = value as string;
      else if (key === 'for') (el as HTMLLabelElement).htmlFor = value as string;
      else if (key === 'data') Object.assign(el.dataset, value);
      else if (key === 'aria') for (const [k, v] of Object.entries(value as Record<string, string>)) el.setAttribute(`aria-${k}`, v);
      else if (key === 'on') {
        for (const [ev, fn] of Object.entries(value as Record<string, Handler>)) el.addEventListener(ev, fn);
      } else if (typeof value === 'boolean') (el as unknown as Record<string, boolean>)[key] = value;
      else if (key === 'tabindex') el.tabIndex = value as number;
      else if (key in el) (el as unknown as Record<string, unknown>)[key] = value;
      else el.setAttribute(key, String(value));
    }
  }
  append(el, children);
  return el;
}

export function append(el: Node, children: (Child | Child[])[]): void {
  for (const c of children) {
    if (Array.isArray(c)) {
      append(el, c);
      continue;
    }
    if (c === null || c === undefined || c === false) continue;
    el.appendChild(typeof c === 'string' || typeof c === 'number' ? document.createTextNode(String(c)) : c);
  }
}

/** Replace the children of el. */
export function fill(el: Element, ...children: (Child | Child[])[]): void {
  el.replaceChildren();
  append(el, children);
}

/** A <select> of [value, label] pairs. */
export function select(attrs: Attrs, options: [string, string][], current: string): HTMLSelectElement {
  return h('select', attrs, options.map(([v, label]) => h('option', { value: v, selected: v === current }, label)));
}

/** A labelled form field. */
export function field(label: string, control: HTMLElement, extra = ''): HTMLLabelElement {
  return h('label', { class: `field ${extra}`.trim() }, h('span', { class: 'field-label' }, label), control);
}

/** A value read at a dotted path of a document (`source.ip`), flattened keys tolerated. */
export function get(doc: unknown, path: string): unknown {
  if (doc === null || typeof doc !== 'object') return undefined;
  const obj = doc as Record<string, unknown>;
  if (path in obj) return obj[path];
  const dot = path.indexOf('.');
  if (dot < 0) return undefined;
  // Try every split, so both {"a": {"b.c": 1}} and {"a": {"b": {"c": 1}}} are found.
  for (let i = dot; i >= 0; i = path.indexOf('.', i + 1)) {
    const head = path.slice(0, i);
    if (head in obj) {
      const found = get(obj[head], path.slice(i + 1));
      if (found !== undefined) return found;
    }
  }
  return undefined;
}

/** A readable text of a value ('' for nothing). */
export function str(v: unknown): string {
  if (v === null || v === undefined) return '';
  if (Array.isArray(v)) return v.map(str).join(', ');
  if (typeof v === 'object') return JSON.stringify(v);
  return String(v);
}

/** The flattened [key, value] pairs of a document, keys sorted (`source.ip`, `event.original`…). */
export function flatten(doc: unknown, prefix = '', out: [string, string][] = []): [string, string][] {
  if (doc !== null && typeof doc === 'object' && !Array.isArray(doc)) {
    for (const [k, v] of Object.entries(doc as Record<string, unknown>)) flatten(v, prefix ? `${prefix}.${k}` : k, out);
  } else if (Array.isArray(doc) && doc.some((x) => x !== null && typeof x === 'object')) {
    doc.forEach((x, i) => flatten(x, `${prefix}[${i}]`, out));
  } else {
    out.push([prefix, str(doc)]);
  }
  if (!prefix) out.sort((a, b) => a[0].localeCompare(b[0]));
  return out;
}

/** Is the keyboard focus in a place where typed keys are text, not shortcuts? */
export function typing(ev: KeyboardEvent): boolean {
  const t = ev.target as HTMLElement | null;
  if (!t) return false;
  return t.isContentEditable || ['INPUT', 'TEXTAREA', 'SELECT'].includes(t.tagName) || !!document.querySelector('dialog[open]');
}
