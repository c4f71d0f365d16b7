import type { ServerView } from '@/lib/api';

/** A readable one-line description of what a server runs (args quoted when needed). */
export function commandLine(s: Pick<ServerView, 'type' | 'command' | 'args' | 'image' | 'url'>): string {
  const q = (a: string) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`);
  if (s.type === 'remote') return s.url ?? '';
  const parts = [s.command ?? '', ...s.args].filter(Boolean).map(q).join(' ');
  if (s.type === 'container') return `${s.image ?? ''}${parts ? ` ${parts}` : ''}`;
  return parts;
}
