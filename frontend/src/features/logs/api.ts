// Logs: the newest lines, full-text search and export links.
import { apiPath, del, enc, get, type LogPage } from '@/lib/api';
import type { LogFilter } from './filter';

export const EXPORT_FORMATS = ['json', 'ndjson', 'csv', 'txt'] as const;
export type ExportFormat = (typeof EXPORT_FORMATS)[number];

function filterQuery(f: LogFilter) {
  return {
    level: f.level === 'debug' ? undefined : f.level,
    source: f.sources.length > 0 && f.sources.length < 4 ? f.sources.join(',') : undefined,
    q: f.query.trim() || undefined,
  };
}

export function fetchTail(id: string, limit = 5000, signal?: AbortSignal) {
  return get<LogPage['data']>(apiPath(`/servers/${enc(id)}/logs`, { limit }), signal);
}

export function searchLogs(id: string, f: LogFilter, limit = 5000, signal?: AbortSignal) {
  return get<LogPage['data']>(apiPath(`/servers/${enc(id)}/logs/search`, { ...filterQuery(f), limit }), signal);
}

export function exportUrl(id: string, f: LogFilter, format: ExportFormat): string {
  return apiPath(`/servers/${enc(id)}/logs/export`, { ...filterQuery(f), format });
}

export function deleteLogs(id: string) {
  return del<unknown>(apiPath(`/servers/${enc(id)}/logs`));
}
