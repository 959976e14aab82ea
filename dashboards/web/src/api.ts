// The API client: same-origin fetch with the session cookie; the CSRF header on every mutating
// call; the server's `detail` as the error text; any 401 sends the user back to sign-in.

export const BASE = '/api/v1';
const MUTATING = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

export class ApiError extends Error {
  constructor(public status: number, public detail: string, public path: string) {
    super(detail);
  }
}

let onUnauthorized: () => void = () => {};

/** What to do when the server answers 401 (the session is gone): set by main.ts. */
export function setUnauthorizedHandler(fn: () => void): void {
  onUnauthorized = fn;
}

export function cookie(name: string): string {
  for (const part of document.cookie.split(';')) {
    const [k, ...v] = part.trim().split('=');
    if (k === name) return decodeURIComponent(v.join('='));
  }
  return '';
}

/** A session may exist (the readable CSRF cookie is there); the HttpOnly session cookie is not visible. */
export function mayHaveSession(): boolean {
  return cookie('soc_csrf') !== '';
}

function detailOf(body: unknown, status: number, statusText: string): string {
  if (body && typeof body === 'object' && 'detail' in body) {
    const d = (body as { detail: unknown }).detail;
    if (typeof d === 'string') return d;
    if (Array.isArray(d)) {
      return d.map((e) => {
        if (e && typeof e === 'object') {
          const o = e as { loc?: unknown[]; msg?: string };
          const where = (o.loc ?? []).filter((x) => x !== 'body').join('.');
          return where ? `${where}: ${o.msg ?? ''}` : o.msg ?? '';
        }
        return String(e);
      }).join('; ');
    }
    return JSON.stringify(d);
  }
  return `HTTP ${status} ${statusText}`.trim();
}

export async function api<T = unknown>(method: string, path: string, body?: unknown, query?: Record<string, string | number | undefined>): Promise<T> {
  const headers: Record<string, string> = { Accept: 'application/json' };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  if (MUTATING.has(method)) headers['X-CSRF-Token'] = cookie('soc_csrf');
  let url = BASE + path;
  if (query) {
    const q = new URLSearchParams();
    for (const [k, v] of Object.entries(query)) if (v !== undefined && v !== '') q.set(k, String(v));
    const s = q.toString();
    if (s) url += (url.includes('?') ? '&' : '?') + s;
  }
  let res: Response;
  try {
    res = await fetch(url, { method, headers, credentials: 'same-origin', body: body === undefined ? undefined : JSON.stringify(body) });
  } catch (exc) {
    throw new ApiError(0, `${(exc as Error).message}`, path);
  }
  if (res.status === 204) return undefined as T;
  const text = await res.text();
  let data: unknown = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = text;
  }
  if (!res.ok) {
    const err = new ApiError(res.status, detailOf(data, res.status, res.statusText), path);
    if (res.status === 401 && path !== '/auth/login') onUnauthorized();
    throw err;
  }
  return data as T;
}

export const get = <T = unknown>(path: string, query?: Record<string, string | number | undefined>) => api<T>('GET', path, undefined, query);
export const post = <T = unknown>(path: string, body?: unknown) => api<T>('POST', path, body ?? {});
export const del = <T = unknown>(path: string) => api<T>('DELETE', path);

export interface Me {
  name: string;
  roles: string[];
  tenants: string[];
}

export type Doc = Record<string, unknown>;

export interface AlertDetail {
  alert: Doc;
  events: Doc[];
  comments?: Comment[];
}

export interface Comment {
  id: string;
  alert_id: string;
  author: string;
  text: string;
  created: string;
}
