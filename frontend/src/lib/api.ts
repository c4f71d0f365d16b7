// The REST client: typed with the schemas generated from the daemon's OpenAPI document
// (`npm run gen:api` → api-schema.d.ts). Every success body is `{"data": …}`, every error
// `{"error": {"code", "message"}}`.
import type { components } from './api-schema';

export type Schemas = components['schemas'];
export type ServerView = Schemas['ServerView'];
export type ServerCreate = Schemas['ServerCreate'];
export type ServerPatch = Schemas['ServerPatch'];
export type ServerType = Schemas['ServerType'];
export type StatusKind = Schemas['StatusKind'];
export type HealthState = Schemas['HealthState'];
export type RestartPolicy = Schemas['RestartPolicy'];
export type HealthView = Schemas['HealthView'];
export type HealthSettings = Schemas['HealthSettings'];
export type Summary = Schemas['Summary'];
export type Series = Schemas['Series'];
export type Bucket = Schemas['Bucket'];
export type CheckResult = Schemas['CheckResult'];
export type LogEntry = Schemas['LogEntry'];
export type LogPage = Schemas['LogPage'];
export type McpInfo = Schemas['McpInfo'];
export type McpItem = Schemas['McpItem'];
export type SystemInfo = Schemas['SystemInfo'];
export type ErrorDetail = Schemas['ErrorDetail'];

/** An answer of the daemon that was not a success, or a failure to reach it. */
export class ApiError extends Error {
  readonly status: number;
  readonly code: string;
  constructor(status: number, code: string, message: string) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
  }
}

export function errorMessage(e: unknown): string {
  if (e instanceof ApiError) return e.message;
  if (e instanceof Error) return e.message;
  return String(e);
}

/** Builds `/api/…?k=v` leaving out undefined, null and empty values. */
export function apiPath(path: string, query?: Record<string, string | number | undefined | null>): string {
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries(query ?? {})) {
    if (v !== undefined && v !== null && v !== '') params.set(k, String(v));
  }
  const qs = params.toString();
  return `/api${path}${qs ? `?${qs}` : ''}`;
}

export const enc = encodeURIComponent;

/**
 * Sends a request and answers the body's `data` (or the whole body with `raw`).
 * The JSON boundary: the body is trusted to match the schema type the caller names.
 */
export async function request<T>(
  method: string,
  path: string,
  body?: unknown,
  opts: { raw?: boolean; signal?: AbortSignal } = {},
): Promise<T> {
  let res: Response;
  try {
    res = await fetch(path, {
      method,
      headers: body === undefined ? { accept: 'application/json' } : { 'content-type': 'application/json', accept: 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: opts.signal,
    });
  } catch (e) {
    if (e instanceof DOMException && e.name === 'AbortError') throw e;
    throw new ApiError(0, 'unreachable', 'Cannot reach the mcp-manager daemon. Is `mcp-manager serve` running?');
  }
  const text = await res.text();
  let json: unknown = undefined;
  if (text) {
    try {
      json = JSON.parse(text);
    } catch {
      json = undefined;
    }
  }
  if (!res.ok) {
    const err = (json as { error?: Partial<ErrorDetail> } | undefined)?.error;
    throw new ApiError(res.status, err?.code ?? `http_${res.status}`, err?.message ?? (text || res.statusText || `HTTP ${res.status}`));
  }
  if (opts.raw) return json as T;
  return (json as { data: T } | undefined)?.data as T;
}

export const get = <T>(path: string, signal?: AbortSignal) => request<T>('GET', path, undefined, { signal });
export const post = <T>(path: string, body: unknown = {}) => request<T>('POST', path, body);
export const patch = <T>(path: string, body: unknown) => request<T>('PATCH', path, body);
export const del = <T>(path: string) => request<T>('DELETE', path);
