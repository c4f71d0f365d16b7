import { afterEach, beforeEach, describe, expect, expectTypeOf, it, vi } from 'vitest';
import { api, ApiError, apiUrl, type LogEntry, type ServerView, type SystemInfo } from './api';
import { forgetToken, getToken, isUnauthorized, onTokenChange, onUnauthorized, setToken, withToken } from './token';
import { eventsUrl } from '@/features/events/events-client';

type Call = { url: string; init: RequestInit };

function mockFetch(status: number, body: unknown) {
  const calls: Call[] = [];
  const fn = vi.fn((url: string, init: RequestInit) => {
    calls.push({ url, init });
    return Promise.resolve(new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json' } }));
  });
  vi.stubGlobal('fetch', fn);
  return calls;
}

const header = (c: Call, name: string) => new Headers(c.init.headers).get(name);

beforeEach(() => {
  localStorage.clear();
  setToken(null);
});
afterEach(() => {
  vi.unstubAllGlobals();
});

describe('the typed client', () => {
  it('answers the data of the {data: …} body, typed from the document', async () => {
    const calls = mockFetch(200, { data: [{ id: 'a', name: 'a' }] });
    const list = api('get', '/api/servers');
    expectTypeOf(list).toEqualTypeOf<Promise<ServerView[]>>();
    expect(await list).toEqual([{ id: 'a', name: 'a' }]);
    expect(calls[0]!.url).toBe('/api/servers');
    expect(calls[0]!.init.method).toBe('GET');
  });

  it('fills path parameters and the query from the document', async () => {
    const calls = mockFetch(200, { data: [], next_cursor: null });
    const page = api('get', '/api/servers/{ref}/logs/search', { path: { ref: 'a b' }, query: { q: 'x', level: undefined, limit: 5 } });
    expectTypeOf(page).toEqualTypeOf<Promise<LogEntry[]>>();
    await page;
    expect(calls[0]!.url).toBe('/api/servers/a%20b/logs/search?q=x&limit=5');
    expectTypeOf(api('get', '/api/system')).toEqualTypeOf<Promise<SystemInfo>>();
    expect(apiUrl('/api/servers/{ref}/logs/export', { path: { ref: 'x' }, query: { format: 'csv' } })).toBe('/api/servers/x/logs/export?format=csv');
  });

  it('turns error bodies into ApiError', async () => {
    mockFetch(422, { error: { code: 'validation_failed', message: 'command is not used by type remote' } });
    const e = await api('post', '/api/servers', { body: { name: 'x' } }).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(ApiError);
    expect((e as ApiError).status).toBe(422);
    expect((e as ApiError).message).toMatch(/command/);
  });
});

describe('API token', () => {
  it('sends no Authorization header without a token', async () => {
    const calls = mockFetch(200, { data: {} });
    await api('get', '/api/system');
    expect(header(calls[0]!, 'authorization')).toBeNull();
  });

  it('is kept in localStorage and sent as a Bearer header on every request', async () => {
    const changed = vi.fn();
    const off = onTokenChange(changed);
    setToken('  s3cret ');
    off();
    expect(changed).toHaveBeenCalledTimes(1);
    expect(getToken()).toBe('s3cret');
    expect(localStorage.getItem('mcp-manager.api-token')).toBe('s3cret');
    const calls = mockFetch(200, { data: {} });
    await api('get', '/api/system');
    await api('post', '/api/servers/{ref}/stop', { path: { ref: 'a' } });
    expect(calls.map((c) => header(c, 'authorization'))).toEqual(['Bearer s3cret', 'Bearer s3cret']);
  });

  it('rides on the WebSocket URL as ?token=', () => {
    expect(eventsUrl()).toMatch(/^ws:\/\/[^/]+\/api\/events$/);
    setToken('a&b');
    expect(eventsUrl()).toMatch(/\/api\/events\?token=a%26b$/);
    expect(withToken('/x?y=1')).toBe('/x?y=1&token=a%26b');
  });

  it('a 401 asks for the token once, until one is stored', async () => {
    const asked = vi.fn();
    const off = onUnauthorized(asked);
    mockFetch(401, { error: { code: 'unauthorized', message: 'missing or wrong API token' } });
    await expect(api('get', '/api/servers')).rejects.toMatchObject({ status: 401 });
    await expect(api('get', '/api/system')).rejects.toMatchObject({ status: 401 });
    expect(isUnauthorized()).toBe(true);
    expect(asked).toHaveBeenCalledTimes(1);
    setToken('new');
    expect(isUnauthorized()).toBe(false);
    off();
  });

  it('forgetting removes it from storage and from requests', async () => {
    setToken('t');
    forgetToken();
    expect(getToken()).toBeNull();
    expect(localStorage.getItem('mcp-manager.api-token')).toBeNull();
    const calls = mockFetch(200, { data: {} });
    await api('get', '/api/system');
    expect(header(calls[0]!, 'authorization')).toBeNull();
  });
});
