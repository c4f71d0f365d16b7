// Health: current state, bucketed history, summaries and "check now". Refetched when a
// `health:update` / `server:health` event arrives (see features/events), never polled.
import { queryOptions, useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { api, type Series } from '@/lib/api';
import { healthKeys } from '@/features/events/apply-event';

export type HealthRange = '1h' | '24h' | '7d';
export const RANGES: HealthRange[] = ['1h', '24h', '7d'];
export const BUCKETS: Record<HealthRange, number> = { '1h': 60, '24h': 96, '7d': 168 };

export const healthQuery = (id: string) =>
  queryOptions({
    queryKey: [...healthKeys.server(id), 'now'],
    queryFn: ({ signal }) => api('get', '/api/servers/{ref}/health', { path: { ref: id }, signal }),
  });

export const summaryQuery = (id: string) =>
  queryOptions({
    queryKey: [...healthKeys.server(id), 'summary'],
    queryFn: ({ signal }) => api('get', '/api/servers/{ref}/health/summary', { path: { ref: id }, signal }),
  });

export const historyQuery = (id: string, range: HealthRange) =>
  queryOptions({
    queryKey: [...healthKeys.server(id), 'history', range],
    queryFn: async ({ signal }): Promise<Series> => {
      const data = await api('get', '/api/servers/{ref}/health/history', { path: { ref: id }, query: { range, buckets: BUCKETS[range] }, signal });
      // The document types this route's body as the raw `CheckPage` only; with `buckets` the
      // daemon answers `{data: Series}` (its own description says so). Until the document
      // has both shapes (a oneOf), this one answer is read as the schema's `Series`.
      return data as unknown as Series;
    },
    placeholderData: (prev) => prev,
  });

export const useHealth = (id: string) => useQuery(healthQuery(id));
export const useHealthSummary = (id: string) => useQuery(summaryQuery(id));
export const useHealthHistory = (id: string, range: HealthRange) => useQuery(historyQuery(id, range));

export function useCheckNow() {
  const qc = useQueryClient();
  return useMutation({
    mutationFn: (id: string) => api('post', '/api/servers/{ref}/health/check', { path: { ref: id } }),
    onSettled: (_r, _e, id) => qc.invalidateQueries({ queryKey: healthKeys.server(id) }),
  });
}

/** The gateway's call metrics of a server (no event announces them: refreshed every 10 s
 * while shown). */
export const metricsQuery = (id: string) =>
  queryOptions({
    queryKey: ['metrics', id],
    queryFn: ({ signal }) => api('get', '/api/servers/{ref}/metrics', { path: { ref: id }, signal }),
    refetchInterval: 10_000,
  });

export const useMetrics = (id: string) => useQuery(metricsQuery(id));
