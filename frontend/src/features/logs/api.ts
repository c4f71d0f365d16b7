// Logs: the newest lines, full-text search and export links.
import { api, apiUrl, send } from '@/lib/api';
import { authHeaders, getToken, reportUnauthorized } from '@/lib/token';
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
  return api('get', '/api/servers/{ref}/logs', { path: { ref: id }, query: { limit }, signal });
}

export function searchLogs(id: string, f: LogFilter, limit = 5000, signal?: AbortSignal) {
  return api('get', '/api/servers/{ref}/logs/search', { path: { ref: id }, query: { ...filterQuery(f), limit }, signal });
}

export function exportUrl(id: string, f: LogFilter, format: ExportFormat): string {
  return apiUrl('/api/servers/{ref}/logs/export', { path: { ref: id }, query: { ...filterQuery(f), format } });
}

export function deleteLogs(id: string) {
  return api('delete', '/api/servers/{ref}/logs', { path: { ref: id } });
}

/**
 * Export links are plain downloads (streamed by the browser, any size). A daemon with an API
 * token needs the Authorization header, which a link cannot send: then the file is fetched
 * with the header and saved from memory. Answers false when the link should do it itself.
 */
export function downloadWithToken(url: string, filename: string, onError: (message: string) => void): boolean {
  if (!getToken()) return false;
  void (async () => {
    try {
      const res = await fetch(url, { headers: authHeaders() });
      if (!res.ok) {
        if (res.status === 401) reportUnauthorized();
        // Let the JSON client read the error body the usual way.
        await send('GET', url);
        throw new Error(`HTTP ${res.status}`);
      }
      const href = URL.createObjectURL(await res.blob());
      const a = document.createElement('a');
      a.href = href;
      a.download = filename;
      document.body.append(a);
      a.click();
      a.remove();
      window.setTimeout(() => URL.revokeObjectURL(href), 60_000);
    } catch (e) {
      onError(e instanceof Error ? e.message : String(e));
    }
  })();
  return true;
}
