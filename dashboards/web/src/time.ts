// Times: UTC ISO-8601 on the wire, shown in Asia/Shanghai whatever the browser's own zone.

export const ZONE = 'Asia/Shanghai';

const full = new Intl.DateTimeFormat('zh-CN', {
  timeZone: ZONE, year: 'numeric', month: '2-digit', day: '2-digit',
  hour: '2-digit', minute: '2-digit', second: '2-digit', hourCycle: 'h23',
});

function parts(d: Date): Record<string, string> {
  const out: Record<string, string> = {};
  for (const p of full.formatToParts(d)) out[p.type] = p.value;
  return out;
}

function toDate(v: unknown): Date | null {
  if (v === null || v === undefined || v === '') return null;
  const d = v instanceof Date ? v : new Date(typeof v === 'number' ? v : String(v));
  return Number.isNaN(d.getTime()) ? null : d;
}

/** 2026-12-07 11:20:05 (Asia/Shanghai); '' for nothing, the text itself when it is no time. */
export function fmtTime(v: unknown): string {
  const d = toDate(v);
  if (!d) return v === null || v === undefined ? '' : String(v);
  const p = parts(d);
  return `${p.year}-${p.month}-${p.day} ${p.hour}:${p.minute}:${p.second}`;
}

/** A chart axis label: 12-07 11:20 (Asia/Shanghai). */
export function fmtAxis(v: unknown): string {
  const d = toDate(v);
  if (!d) return String(v ?? '');
  const p = parts(d);
  return `${p.month}-${p.day} ${p.hour}:${p.minute}`;
}

/** 1:02:03, 2d 03:04:05: a TTL countdown. */
export function fmtDuration(seconds: number): string {
  const s = Math.max(0, Math.floor(seconds));
  const d = Math.floor(s / 86400);
  const hh = String(Math.floor((s % 86400) / 3600)).padStart(2, '0');
  const mm = String(Math.floor((s % 3600) / 60)).padStart(2, '0');
  const ss = String(s % 60).padStart(2, '0');
  return d > 0 ? `${d}d ${hh}:${mm}:${ss}` : `${hh}:${mm}:${ss}`;
}

/** Seconds from now until the given time (negative when past). */
export function secondsUntil(v: unknown): number | null {
  const d = toDate(v);
  return d ? (d.getTime() - Date.now()) / 1000 : null;
}
