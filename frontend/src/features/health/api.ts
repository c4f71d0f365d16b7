// Health: current state, bucketed history, summaries and "check now". Refetched when a
// `health:update` / `server:health` event arrives (see features/events), never polled.
import { queryOptions, useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { apiPath, enc, get, post, type CheckResult, type HealthView, type Series, type Summary } from '@/lib/api';
import { healthKeys } from '@/features/events/apply-event';

export type HealthRange = '1h' | '24h' | '7d';
export const RANGES: HealthRange[] = ['1h', '24h', '7d'];
export const BUCKETS: Record<HealthRange, number> = { '1h': 60, '24h': 96, '7d': 168 };

export const healthQuery = (id: string) =>
  queryOptions({
    queryKey: [...healthKeys.server(id), 'now'],
    queryFn: ({ signal }) => get<HealthView>(apiPath(`/servers/${enc(id)}/health`), signal),
  });

export const summaryQuery = (id: string) =>
  queryOptions({
    queryKey: [...healthKeys.server(id), 'summary'],
    queryFn: ({ signal }) => get<Record<string, Summary>>(apiPath(`/servers/${enc(id)}/health/summary`), signal),
  });

export const historyQuery = (id: string, range: HealthRange) =>
  queryOptions({
    queryKey: [...healthKeys.server(id), 'history', range],
    queryFn: ({ signal }) =>
      get<Series>(apiPath(`/servers/${enc(id)}/health/history`, { range, buckets: BUCKETS[range] }), signal),
    placeholderData: (prev) => prev,
  });

export const useHealth = (id: string) => useQuery(healthQuery(id));
export const useHealthSummary = (id: string) => useQuery(summaryQuery(id));
export const useHealthHistory = (id: string, range: HealthRange) => useQuery(historyQuery(id, range));

export function useCheckNow() {
  const qc = useQueryClient();
  return useMutation({
    mutationFn: (id: string) => post<CheckResult>(apiPath(`/servers/${enc(id)}/health/check`)),
    onSettled: (_r, _e, id) => qc.invalidateQueries({ queryKey: healthKeys.server(id) }),
  });
}
