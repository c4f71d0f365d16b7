// The REST client, typed from the daemon's OpenAPI document (`npm run gen:api` →
// api-schema.d.ts): routes, parameters, request bodies and the `{"data": …}` success bodies
// all come from `paths`; nothing about the API's shapes is written here by hand. Every error
// is `{"error": {"code", "message"}}`.
import type { components, paths } from './api-schema';
import { authHeaders, reportUnauthorized } from './token';

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
export type BackoffSettings = Schemas['BackoffSettings'];
export type Isolation = Schemas['Isolation'];
export type EventPayload = Schemas['EventPayload'];

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

// ---- Typed from the document -------------------------------------------------------------

type Method = 'get' | 'post' | 'patch' | 'delete';
/** Every route of the document, as written there: `/api/servers/{ref}/health`. */
export type ApiRoute = keyof paths;
type Operation<P extends ApiRoute, M extends Method> = paths[P][M] extends infer O ? (O extends { responses: unknown } ? O : never) : never;
/** The methods a route has. */
export type MethodOf<P extends ApiRoute> = { [M in Method]: [Operation<P, M>] extends [never] ? never : M }[Method];

type SuccessStatus = 200 | 201 | 202 | 204;
type JsonOf<R> = R extends { content: { 'application/json': infer B } } ? B : undefined;
/** The success body of a call, as the document describes it (`{data: …}`, or undefined without one). */
export type SuccessBody<P extends ApiRoute, M extends MethodOf<P>> =
  Operation<P, M> extends { responses: infer R } ? JsonOf<R[keyof R & SuccessStatus]> : never;
/** What `api()` answers: the `data` of the success body (unknown when the document gives no body). */
export type ResponseData<P extends ApiRoute, M extends MethodOf<P>> = SuccessBody<P, M> extends { data: infer D } ? D : unknown;

type Parameters_<O> = O extends { parameters: infer X } ? X : never;
type PathParams<O> = Parameters_<O> extends { path: infer X } ? X : never;
type QueryParams<O> = Parameters_<O> extends { query?: infer X } ? NonNullable<X> : never;
type JsonBody<O> = O extends { requestBody: { content: { 'application/json': infer B } } } ? B : never;
type Field<K extends string, T, Required extends boolean> = [T] extends [never]
  ? { [k in K]?: undefined }
  : Required extends true
    ? { [k in K]: T }
    : { [k in K]?: T };

/** Path parameters, query and body of a call, each typed from the document. */
export type RequestOptions<P extends ApiRoute, M extends MethodOf<P>> = Field<'path', PathParams<Operation<P, M>>, true> &
  Field<'query', QueryParams<Operation<P, M>>, false> &
  Field<'body', JsonBody<Operation<P, M>>, true> & { signal?: AbortSignal };
/** The request body type of a call. */
export type RequestBody<P extends ApiRoute, M extends MethodOf<P>> = JsonBody<Operation<P, M>>;

type UrlOptions = { path?: Record<string, string>; query?: Record<string, string | number | boolean | undefined | null> };
type OptArgs<T> = object extends T ? [opts?: T] : [opts: T];

/** `route` with its `{params}` filled in and the query appended (undefined, null and empty values left out). */
export function apiUrl<P extends ApiRoute, M extends MethodOf<P> = MethodOf<P>>(
  route: P,
  ...[opts]: OptArgs<Omit<RequestOptions<P, M>, 'body' | 'signal'>>
): string {
  const o = (opts ?? {}) as UrlOptions;
  const path = route.replace(/\{(\w+)\}/g, (_, k: string) => {
    const v = o.path?.[k];
    if (v === undefined) throw new Error(`apiUrl: no value for {${k}} in ${route}`);
    return encodeURIComponent(v);
  });
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries(o.query ?? {})) {
    if (v !== undefined && v !== null && v !== '') params.set(k, String(v));
  }
  const qs = params.toString();
  return `${path}${qs ? `?${qs}` : ''}`;
}

/**
 * Calls the daemon and answers the success body's `data`, typed from the document: the
 * route, the method, the path parameters, the query and the body are all checked against
 * `paths` in api-schema.d.ts. The JSON boundary: the daemon's body is trusted to match the
 * document. A 401 asks for the API token (lib/token.ts).
 */
export async function api<P extends ApiRoute, M extends MethodOf<P>>(
  method: M,
  route: P,
  ...[opts]: OptArgs<RequestOptions<P, M>>
): Promise<ResponseData<P, M>> {
  const o = (opts ?? {}) as UrlOptions & { body?: unknown; signal?: AbortSignal };
  const url = apiUrl(route, o as never);
  const json = await send(method.toUpperCase(), url, o.body, o.signal);
  return (isObject(json) ? json.data : undefined) as ResponseData<P, M>;
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null;

/** One request: the token rides along; any answer but a 2xx becomes an `ApiError`. */
export async function send(method: string, url: string, body?: unknown, signal?: AbortSignal): Promise<unknown> {
  let res: Response;
  try {
    res = await fetch(url, {
      method,
      headers: {
        accept: 'application/json',
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        ...authHeaders(),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal,
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
    if (res.status === 401) reportUnauthorized();
    const err: Partial<ErrorDetail> | undefined = isObject(json) && isObject(json.error) ? (json.error as Partial<ErrorDetail>) : undefined;
    throw new ApiError(res.status, err?.code ?? `http_${res.status}`, err?.message ?? (text || res.statusText || `HTTP ${res.status}`));
  }
  return json;
}
