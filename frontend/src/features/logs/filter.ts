// The log view's filtering, pure so it is unit-tested: level at or above, sources, and the
// words of a search (all must appear, like the daemon's full-text search) for highlighting.
import type { LogEntry } from '@/lib/api';

export const LEVELS = ['debug', 'info', 'warn', 'error'] as const;
export type Level = (typeof LEVELS)[number];
export const SOURCES = ['stderr', 'stdout', 'mcp', 'system'] as const;
export type Source = (typeof SOURCES)[number];

export interface LogFilter {
  level: Level;
  /** Empty: every source. */
  sources: Source[];
  query: string;
}

export const DEFAULT_FILTER: LogFilter = { level: 'debug', sources: [], query: '' };

export function levelRank(level: string): number {
  const l = level.toLowerCase();
  if (l === 'warning') return 2;
  if (l === 'fatal' || l === 'critical') return 3;
  const i = (LEVELS as readonly string[]).indexOf(l);
  return i < 0 ? 1 : i;
}

/** Search terms as the daemon reads them: words, "quoted phrases", prefix* (the * dropped). */
export function searchTerms(q: string): string[] {
  const terms: string[] = [];
  const re = /"([^"]+)"|(\S+)/g;
  let m: RegExpExecArray | null;
  while ((m = re.exec(q)) !== null) {
    const t = (m[1] ?? m[2] ?? '').replace(/\*$/, '').trim();
    if (t && !/^(AND|OR|NOT)$/.test(t)) terms.push(t.toLowerCase());
  }
  return terms;
}

export function matchesFilter(line: LogEntry, f: LogFilter, terms = searchTerms(f.query)): boolean {
  if (levelRank(line.level) < levelRank(f.level)) return false;
  if (f.sources.length > 0 && !f.sources.includes((line.source ?? 'stderr') as Source)) return false;
  if (terms.length > 0) {
    const msg = line.message.toLowerCase();
    for (const t of terms) if (!msg.includes(t)) return false;
  }
  return true;
}

export function filterLines(lines: readonly LogEntry[], f: LogFilter): LogEntry[] {
  if (f.level === 'debug' && f.sources.length === 0 && !f.query.trim()) return lines as LogEntry[];
  const terms = searchTerms(f.query);
  return lines.filter((l) => matchesFilter(l, f, terms));
}

/** Splits text into parts, marking the ones that match a search term (case-insensitive). */
export function highlight(text: string, terms: readonly string[]): { text: string; hit: boolean }[] {
  if (terms.length === 0) return [{ text, hit: false }];
  const escaped = [...terms].sort((a, b) => b.length - a.length).map((t) => t.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'));
  const re = new RegExp(`(${escaped.join('|')})`, 'gi');
  const parts: { text: string; hit: boolean }[] = [];
  let last = 0;
  for (const m of text.matchAll(re)) {
    const i = m.index;
    if (i > last) parts.push({ text: text.slice(last, i), hit: false });
    parts.push({ text: m[0], hit: true });
    last = i + m[0].length;
  }
  if (last < text.length) parts.push({ text: text.slice(last), hit: false });
  return parts;
}

/** Appends new lines (by id, skipping ones already held) and keeps at most `cap`. */
export function appendLines(held: LogEntry[], incoming: readonly LogEntry[], cap: number): LogEntry[] {
  const lastId = held.length > 0 ? held[held.length - 1]!.id : -Infinity;
  const fresh = incoming.filter((l) => l.id > lastId);
  if (fresh.length === 0) return held;
  const next = held.concat(fresh);
  return next.length > cap ? next.slice(next.length - cap) : next;
}
