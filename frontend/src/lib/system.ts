// `GET /api/system`: daemon version, runtimes on its PATH, Docker reachability, servers
// file; `POST /api/system/reload`: that file applied again.
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { api, type Schemas } from './api';

export function useSystem() {
  return useQuery({
    queryKey: ['system'],
    queryFn: ({ signal }) => api('get', '/api/system', { signal }),
    staleTime: 60_000,
  });
}

/** Applies the daemon's servers file again; the servers it touches announce themselves on
 * the event stream. */
export function useReloadServersFile() {
  const qc = useQueryClient();
  return useMutation({
    mutationFn: () => api('post', '/api/system/reload'),
    onSettled: () => qc.invalidateQueries({ queryKey: ['system'] }),
  });
}

/** `2 created, 1 updated, 3 unchanged`: what a reload did, counted by outcome. */
export function reloadSummary(report: Schemas['ReloadReport']): string {
  const counts = new Map<string, number>();
  for (const s of report.servers) counts.set(s.outcome, (counts.get(s.outcome) ?? 0) + 1);
  const order = ['created', 'updated', 'failed', 'unchanged', 'not_in_file'];
  const parts = order.filter((o) => counts.has(o)).map((o) => `${counts.get(o)} ${o.replace(/_/g, ' ')}`);
  return parts.length ? parts.join(', ') : 'no servers in the file';
}
