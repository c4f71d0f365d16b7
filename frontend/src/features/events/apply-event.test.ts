import { describe, expect, it } from 'vitest';
import type { ServerView } from '@/lib/api';
import { applyEvent, upsertServer } from './apply-event';
import { parseEvent, type DaemonEvent } from './types';
import { backoffDelay } from './events-client';

function server(over: Partial<ServerView> = {}): ServerView {
  return {
    id: 'id-a',
    name: 'alpha',
    type: 'python',
    transport: 'stdio',
    command: 'python3',
    args: ['fixture.py'],
    env: {},
    secret_env: [],
    restart_policy: 'on-failure',
    desired_state: 'stopped',
    status: 'stopped',
    status_since: '2026-01-01T00:00:00Z',
    health_status: 'unknown',
    restart_count: 0,
    ports: [],
    health: {},
    generation: 0,
    start_timeout_secs: 120,
    stop_grace_secs: 10,
    backoff: { initial_secs: 1, max_failures: 5, max_secs: 60, multiplier: 2, stable_secs: 30 },
    exposed: true,
    start_on_demand: false,
    isolation: 'shared',
    session_instances: 0,
    tools: {},
    created_at: '2026-01-01T00:00:00Z',
    updated_at: '2026-01-01T00:00:00Z',
    ...over,
  };
}

const env = { seq: 1, ts: '2026-01-01T00:00:00Z' };

describe('applyEvent', () => {
  it('snapshot replaces the list, sorted by name', () => {
    const fx = applyEvent([server()], { ...env, type: 'snapshot', data: { servers: [server({ id: 'z', name: 'zeta' }), server({ id: 'b', name: 'beta' })] } });
    expect(fx.servers?.map((s) => s.name)).toEqual(['beta', 'zeta']);
    expect(fx.resync).toBe(false);
  });

  it('server:created inserts, keeping the order', () => {
    const fx = applyEvent([server({ id: 'c', name: 'charlie' })], { ...env, type: 'server:created', data: { server: server() } });
    expect(fx.servers?.map((s) => s.name)).toEqual(['alpha', 'charlie']);
  });

  it('server:created into an empty cache works', () => {
    const fx = applyEvent(undefined, { ...env, type: 'server:created', data: { server: server() } });
    expect(fx.servers).toHaveLength(1);
  });

  it('server:status replaces the server and invalidates its health and MCP info', () => {
    const running = server({ status: 'running', generation: 1, status_since: '2026-01-01T00:01:00Z', process_id: 42 });
    const fx = applyEvent([server()], {
      ...env,
      type: 'server:status',
      data: { id: 'id-a', name: 'alpha', status: 'running', previous: 'starting', generation: 1, server: running },
    });
    expect(fx.servers?.[0]?.status).toBe('running');
    expect(fx.servers?.[0]?.process_id).toBe(42);
    expect(fx.invalidate).toContainEqual(['health', 'id-a']);
    expect(fx.invalidate).toContainEqual(['servers', 'mcp', 'id-a']);
  });

  it('an older view of a server does not overwrite a newer one', () => {
    const newer = server({ status: 'running', generation: 2, status_since: '2026-01-01T00:02:00Z' });
    const older = server({ status: 'starting', generation: 2, status_since: '2026-01-01T00:01:00Z' });
    expect(upsertServer([newer], older)[0]?.status).toBe('running');
    const prevRun = server({ status: 'failed', generation: 1, status_since: '2026-01-01T00:03:00Z' });
    expect(upsertServer([newer], prevRun)[0]?.status).toBe('running');
  });

  it('health:update sets health and last check without touching the rest', () => {
    const list = [server({ status: 'running' }), server({ id: 'b', name: 'beta' })];
    const fx = applyEvent(list, {
      ...env,
      type: 'health:update',
      data: { id: 'id-a', name: 'alpha', status: 'healthy', health: 'healthy', response_time_ms: 2, error: null, probes: ['mcp'], at: '2026-01-01T00:05:00Z' },
    });
    expect(fx.servers?.[0]).toMatchObject({ health_status: 'healthy', last_health_check: '2026-01-01T00:05:00Z', status: 'running' });
    expect(fx.servers?.[1]).toBe(list[1]);
    expect(fx.invalidate).toEqual([['health', 'id-a']]);
  });

  it('server:health replaces the server', () => {
    const fx = applyEvent([server({ health_status: 'healthy' })], {
      ...env,
      type: 'server:health',
      data: { id: 'id-a', name: 'alpha', health: 'unhealthy', previous: 'healthy', server: server({ health_status: 'unhealthy' }) },
    });
    expect(fx.servers?.[0]?.health_status).toBe('unhealthy');
  });

  it('server:deleted removes it', () => {
    const fx = applyEvent([server(), server({ id: 'b', name: 'beta' })], { ...env, type: 'server:deleted', data: { id: 'id-a', name: 'alpha' } });
    expect(fx.servers?.map((s) => s.name)).toEqual(['beta']);
  });

  it('logs:new hands out the lines and leaves the list alone', () => {
    const line = { id: 1, server_id: 'id-a', level: 'info', message: 'hi', timestamp: env.ts, truncated: false, source: 'stderr' };
    const fx = applyEvent([server()], { ...env, type: 'logs:new', data: { server_id: 'id-a', lines: [line] } });
    expect(fx.servers).toBeUndefined();
    expect(fx.logs).toEqual({ serverId: 'id-a', lines: [line] });
  });

  it('lagged asks for a resync', () => {
    expect(applyEvent([], { type: 'lagged' }).resync).toBe(true);
  });

  it('unknown events change nothing', () => {
    const fx = applyEvent([server()], { ...env, type: 'something:new', data: {} } as unknown as DaemonEvent);
    expect(fx).toEqual({ invalidate: [], resync: false });
  });
});

describe('parseEvent', () => {
  it('parses events and rejects junk', () => {
    expect(parseEvent('{"type":"lagged"}')).toEqual({ type: 'lagged' });
    expect(parseEvent('not json')).toBeNull();
    expect(parseEvent('[1,2]')).toBeNull();
    expect(parseEvent('{"no":"type"}')).toBeNull();
  });
});

describe('backoffDelay', () => {
  it('doubles from 0.5 s up to 10 s with jitter', () => {
    expect(backoffDelay(0, () => 0.5)).toBe(500);
    expect(backoffDelay(1, () => 0.5)).toBe(1000);
    expect(backoffDelay(10, () => 0.5)).toBe(10000);
    expect(backoffDelay(0, () => 0)).toBe(400);
    expect(backoffDelay(0, () => 1)).toBe(600);
  });
});
