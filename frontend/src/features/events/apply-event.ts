// Pure event → cache logic: given the cached server list and one event, answer the new list
// and what else must happen (queries to invalidate, a resync, log lines to hand out). The
// WebSocket client applies the result to the TanStack Query cache; the tests call it directly.
import type { ServerView } from '@/lib/api';
import type { DaemonEvent } from './types';

export interface EventEffects {
  /** The new server list; undefined leaves the cache as it is. */
  servers?: ServerView[];
  /** Query keys (prefixes) to invalidate. */
  invalidate: (readonly unknown[])[];
  /** Everything may be stale (lagged): refetch all active queries. */
  resync: boolean;
  logs?: { serverId: string; lines: import('@/lib/api').LogEntry[] };
  /** Image pull progress of a container server, for `pullKeys.server(id)`. */
  pull?: { id: string; image: string; progress: string };
}

const byName = (a: ServerView, b: ServerView) => a.name.localeCompare(b.name);

/** Replaces (or inserts) a server, keeping the list sorted by name like the API does. */
export function upsertServer(list: ServerView[] | undefined, server: ServerView): ServerView[] {
  const base = list ?? [];
  const i = base.findIndex((s) => s.id === server.id);
  if (i >= 0) {
    const cur = base[i]!;
    // An older view (events and REST answers can cross) must not overwrite a newer one.
    if (isOlder(server, cur)) return base;
    const next = base.slice();
    next[i] = server;
    return cur.name === server.name ? next : next.sort(byName);
  }
  return [...base, server].sort(byName);
}

function isOlder(candidate: ServerView, current: ServerView): boolean {
  if (candidate.generation !== current.generation) return candidate.generation < current.generation;
  const a = Date.parse(candidate.updated_at);
  const b = Date.parse(current.updated_at);
  if (!Number.isNaN(a) && !Number.isNaN(b) && a !== b) return a < b;
  const sa = candidate.status_since ? Date.parse(candidate.status_since) : NaN;
  const sb = current.status_since ? Date.parse(current.status_since) : NaN;
  return !Number.isNaN(sa) && !Number.isNaN(sb) && sa < sb;
}

export function removeServer(list: ServerView[] | undefined, id: string): ServerView[] {
  return (list ?? []).filter((s) => s.id !== id);
}

export const serverKeys = {
  all: ['servers'] as const,
  mcp: (id: string) => ['servers', 'mcp', id] as const,
};
export const healthKeys = {
  server: (id: string) => ['health', id] as const,
};
export const pullKeys = {
  server: (id: string) => ['pull', id] as const,
};
export const logKeys = {
  server: (id: string) => ['logs', id] as const,
};

export function applyEvent(list: ServerView[] | undefined, ev: DaemonEvent): EventEffects {
  switch (ev.type) {
    case 'snapshot':
      return { servers: [...ev.data.servers].sort(byName), invalidate: [], resync: false };
    case 'server:created':
    case 'server:updated':
      return { servers: upsertServer(list, ev.data.server), invalidate: [], resync: false };
    case 'server:status': {
      const inv: (readonly unknown[])[] = [healthKeys.server(ev.data.id)];
      // A run that reached `running` has fresh MCP info; once it has ended, the recorded copy.
      if (ev.data.status === 'running' || ev.data.status === 'stopped' || ev.data.status === 'failed') inv.push(serverKeys.mcp(ev.data.id));
      return { servers: upsertServer(list, ev.data.server), invalidate: inv, resync: false };
    }
    case 'server:health':
      return { servers: upsertServer(list, ev.data.server), invalidate: [healthKeys.server(ev.data.id)], resync: false };
    case 'health:update': {
      const d = ev.data;
      const servers = list?.map((s) =>
        s.id === d.id ? { ...s, health_status: d.health, last_health_check: d.at } : s,
      );
      return { servers, invalidate: [healthKeys.server(d.id)], resync: false };
    }
    case 'server:deleted':
      return {
        servers: removeServer(list, ev.data.id),
        invalidate: [],
        resync: false,
      };
    case 'logs:new':
      return { invalidate: [], resync: false, logs: { serverId: ev.data.server_id, lines: ev.data.lines } };
    case 'lagged':
      return { invalidate: [], resync: true };
    case 'server:pull':
      return { invalidate: [], resync: false, pull: { id: ev.data.id, image: ev.data.image, progress: ev.data.progress } };
    default:
      return { invalidate: [], resync: false };
  }
}
