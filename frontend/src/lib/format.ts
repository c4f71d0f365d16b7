// Small formatting helpers shared by the pages.

export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) return '–';
  const s = Math.floor(ms / 1000);
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m ${s % 60}s`;
  const h = Math.floor(m / 60);
  if (h < 24) return `${h}h ${m % 60}m`;
  const d = Math.floor(h / 24);
  return `${d}d ${h % 24}h`;
}

export function since(iso: string | null | undefined, now = Date.now()): string {
  if (!iso) return '–';
  const t = Date.parse(iso);
  if (Number.isNaN(t)) return '–';
  return formatDuration(Math.max(0, now - t));
}

export function ago(iso: string | null | undefined, now = Date.now()): string {
  if (!iso) return 'never';
  const t = Date.parse(iso);
  if (Number.isNaN(t)) return 'never';
  const d = now - t;
  if (d < 2000) return 'just now';
  return `${formatDuration(d)} ago`;
}

export function dateTime(iso: string | null | undefined): string {
  if (!iso) return '–';
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? '–' : d.toLocaleString();
}

export function time(iso: string): string {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  const p = (n: number, w = 2) => String(n).padStart(w, '0');
  return `${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}.${p(d.getMilliseconds(), 3)}`;
}

export function percent(v: number | null | undefined): string {
  if (v === null || v === undefined) return '–';
  return `${v >= 99.995 ? '100' : v.toFixed(v >= 99 ? 2 : 1)}%`;
}

export function ms(v: number | null | undefined): string {
  if (v === null || v === undefined) return '–';
  return v < 10 ? `${v.toFixed(1).replace(/\.0$/, '')} ms` : `${Math.round(v)} ms`;
}

const SIGNALS: Record<number, string> = { 1: 'SIGHUP', 2: 'SIGINT', 6: 'SIGABRT', 9: 'SIGKILL', 11: 'SIGSEGV', 13: 'SIGPIPE', 15: 'SIGTERM' };

export function exitText(e: { code?: number | null; signal?: number | null; at: string } | null | undefined): string {
  if (!e) return '–';
  if (e.signal !== null && e.signal !== undefined) return `killed by ${SIGNALS[e.signal] ?? `signal ${e.signal}`}`;
  if (e.code !== null && e.code !== undefined) return `exit code ${e.code}`;
  return 'exited';
}
