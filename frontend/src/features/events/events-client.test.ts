import { describe, expect, it, vi } from 'vitest';
import { QueryClient } from '@tanstack/react-query';
import type { ServerView } from '@/lib/api';
import { EventsClient } from './events-client';

describe('EventsClient.handle', () => {
  it('writes the snapshot into the query cache and routes log lines to subscribers', () => {
    const qc = new QueryClient();
    const c = new EventsClient(qc, 'ws://unused');
    const s = { id: 'a', name: 'a', generation: 0, updated_at: '2026-01-01T00:00:00Z' } as ServerView;
    c.handle(JSON.stringify({ type: 'snapshot', seq: 0, ts: '', data: { servers: [s] } }));
    expect(qc.getQueryData<ServerView[]>(['servers'])).toEqual([s]);

    const got = vi.fn();
    const off = c.subscribeLogs('a', got);
    c.handle(JSON.stringify({ type: 'logs:new', seq: 1, ts: '', data: { server_id: 'a', lines: [{ id: 1 }] } }));
    c.handle(JSON.stringify({ type: 'logs:new', seq: 2, ts: '', data: { server_id: 'b', lines: [{ id: 2 }] } }));
    expect(got).toHaveBeenCalledTimes(1);
    off();
    c.handle(JSON.stringify({ type: 'logs:new', seq: 3, ts: '', data: { server_id: 'a', lines: [{ id: 3 }] } }));
    expect(got).toHaveBeenCalledTimes(1);

    c.handle(JSON.stringify({ type: 'server:deleted', seq: 4, ts: '', data: { id: 'a', name: 'a' } }));
    expect(qc.getQueryData<ServerView[]>(['servers'])).toEqual([]);
  });
});

describe('EventsClient health refetches', () => {
  it('are throttled per server but never drop the last change', () => {
    vi.useFakeTimers();
    const qc = new QueryClient();
    const spy = vi.spyOn(qc, 'invalidateQueries');
    const c = new EventsClient(qc, 'ws://unused');
    const check = (n: number) =>
      JSON.stringify({ type: 'health:update', seq: n, ts: '', data: { id: 'a', name: 'a', status: 'healthy', health: 'healthy', response_time_ms: 1, error: null, probes: [], at: '' } });
    c.handle(check(1));
    c.handle(check(2));
    c.handle(check(3));
    expect(spy).toHaveBeenCalledTimes(1);
    vi.advanceTimersByTime(2000);
    expect(spy).toHaveBeenCalledTimes(2);
    vi.advanceTimersByTime(2000);
    expect(spy).toHaveBeenCalledTimes(2);
    vi.useRealTimers();
  });
});
