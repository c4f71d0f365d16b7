import { describe, expect, it } from 'vitest';
import type { ServerView } from '@/lib/api';
import { applyPreset, emptyForm, fieldForApiError, fromServer, suggestName, toCreateBody, toPatchBody, validate, type FormState } from './form-model';

const form = (over: Partial<FormState> = {}): FormState => ({ ...emptyForm(), name: 'time', command: 'uvx', args: ['mcp-server-time'], ...over });

describe('validate', () => {
  it('accepts a minimal process server', () => {
    expect(validate(form())).toEqual({});
  });
  it('checks the name', () => {
    expect(validate(form({ name: '' })).name).toMatch(/required/);
    expect(validate(form({ name: 'has space' })).name).toMatch(/letters/);
    expect(validate(form({ name: '-dash' })).name).toMatch(/letters/);
    expect(validate(form({ name: 'a'.repeat(65) })).name).toMatch(/64/);
    expect(validate(form({ name: 'a'.repeat(64) })).name).toBeUndefined();
    expect(validate(form({ name: 'my.server_2-x' })).name).toBeUndefined();
  });
  it('requires command, image or url by type', () => {
    expect(validate(form({ command: '' })).command).toBeDefined();
    expect(validate(form({ type: 'container', command: '', image: '' })).image).toBeDefined();
    expect(validate(form({ type: 'container', command: '', image: 'mcp/fetch' }))).toEqual({});
    expect(validate(form({ type: 'remote', command: '', url: '' })).url).toBeDefined();
    expect(validate(form({ type: 'remote', command: '', url: 'ftp://x' })).url).toMatch(/http/);
    expect(validate(form({ type: 'remote', command: '', url: 'http://127.0.0.1:9/mcp' }))).toEqual({});
  });
  it('checks paths, ports, numbers and env names', () => {
    expect(validate(form({ working_directory: 'rel/dir' })).working_directory).toBeDefined();
    expect(validate(form({ transport: 'http' })).port).toBeDefined();
    expect(validate(form({ transport: 'http', port: '70000' })).port).toBeDefined();
    expect(validate(form({ transport: 'http', port: '8080' }))).toEqual({});
    expect(validate(form({ health: { ...emptyForm().health, interval_secs: '0' } }))['health.interval_secs']).toBeDefined();
    expect(validate(form({ health: { ...emptyForm().health, failure_threshold: '1.5' } }))['health.failure_threshold']).toBeDefined();
    expect(validate(form({ env: [{ key: '1BAD', value: 'x' }] }))['env.0']).toBeDefined();
    expect(validate(form({ env: [{ key: 'A', value: '1' }, { key: 'A', value: '2' }] }))['env.1']).toMatch(/twice/);
    expect(validate(form({ env: [{ key: '', value: '' }] }))).toEqual({});
    expect(validate(form({ secrets: [{ key: 'KEY', value: '', existing: false, remove: false }] }))['secret.0']).toBeDefined();
    expect(validate(form({ secrets: [{ key: 'KEY', value: '', existing: true, remove: false }] }))).toEqual({});
  });
});

describe('bodies', () => {
  it('builds a create body without empty fields', () => {
    const b = toCreateBody(
      form({
        env: [{ key: 'TZ', value: 'UTC' }, { key: '', value: '' }],
        secrets: [{ key: 'API_KEY', value: 's3cret', existing: false, remove: false }],
        health: { ...emptyForm().health, interval_secs: '5' },
      }),
    );
    expect(b).toEqual({
      name: 'time',
      type: 'process',
      transport: 'stdio',
      restart_policy: 'on-failure',
      start: true,
      command: 'uvx',
      args: ['mcp-server-time'],
      env: { TZ: 'UTC' },
      secret_env: { API_KEY: 's3cret' },
      health: { interval_secs: 5 },
    });
  });
  it('patches secrets by merging: new values set, removed ones null, untouched ones absent', () => {
    const b = toPatchBody(
      form({
        secrets: [
          { key: 'KEEP', value: '', existing: true, remove: false },
          { key: 'REPLACE', value: 'new', existing: true, remove: false },
          { key: 'DROP', value: '', existing: true, remove: true },
          { key: 'ADDED', value: 'v', existing: false, remove: false },
        ],
      }),
    );
    expect(b.secret_env).toEqual({ REPLACE: 'new', DROP: null, ADDED: 'v' });
    expect(b.working_directory).toBeNull();
    expect(b.env).toEqual({});
  });
  it('round-trips a server view into the form', () => {
    const f = fromServer({
      name: 'x',
      type: 'nodejs',
      transport: 'stdio',
      command: 'npx',
      args: ['-y', 'pkg'],
      env: { A: '1' },
      secret_env: ['TOKEN'],
      ports: [],
      restart_policy: 'always',
      health: { interval_secs: 2 },
      start_timeout_secs: 120,
      stop_grace_secs: 10,
    } as unknown as ServerView);
    expect(f.env).toEqual([{ key: 'A', value: '1' }]);
    expect(f.secrets).toEqual([{ key: 'TOKEN', value: '', existing: true, remove: false }]);
    expect(f.health.interval_secs).toBe('2');
    expect(f.start).toBe(false);
  });
});

describe('presets', () => {
  it('fill command and arguments', () => {
    expect(applyPreset(emptyForm(), 'npx', '@modelcontextprotocol/server-everything')).toMatchObject({
      type: 'nodejs',
      command: 'npx',
      args: ['-y', '@modelcontextprotocol/server-everything'],
      name: 'server-everything',
    });
    expect(applyPreset(emptyForm(), 'uvx', 'mcp-server-time')).toMatchObject({ type: 'python', command: 'uvx', args: ['mcp-server-time'] });
    expect(applyPreset(form({ name: 'keep' }), 'python-m', 'mcp_server_fetch')).toMatchObject({ command: 'python3', args: ['-m', 'mcp_server_fetch'], name: 'keep' });
    expect(suggestName('@scope/pkg@1.2.3')).toBe('pkg');
  });
});

describe('fieldForApiError', () => {
  it('maps the daemon messages to fields', () => {
    expect(fieldForApiError(`invalid name "bad name!": use 1-64 letters`)).toBe('name');
    expect(fieldForApiError("command is required for type 'process'")).toBe('command');
    expect(fieldForApiError('working_directory must be an absolute path, got "rel"')).toBe('working_directory');
    expect(fieldForApiError('health.interval_secs must be between 0.1 and 86400')).toBe('health.interval_secs');
    expect(fieldForApiError("image is required for type 'container'")).toBe('image');
    expect(fieldForApiError("transport 'http' needs a url or a port")).toBe('port');
    expect(fieldForApiError('a server named "fx1" already exists')).toBe('name');
    expect(fieldForApiError("type 'remote' is not supported by this build yet")).toBe(null);
    expect(fieldForApiError('invalid body: unknown field `bogus`, expected one of `name`, `type`')).toBe(null);
    expect(fieldForApiError('command not found: uvx')).toBe('command');
  });
});

describe('container ports', () => {
  it('validates and sends published ports', () => {
    const f = form({ type: 'container', command: '', image: 'mcp/fetch', ports: [{ container_port: '8080', host_port: '', host_ip: '' }] });
    expect(validate(f)).toEqual({});
    expect(toCreateBody(f).ports).toEqual([{ container_port: 8080, host_port: null, host_ip: null }]);
    expect(validate({ ...f, ports: [{ container_port: 'x', host_port: '', host_ip: '' }] })['ports.0']).toBeDefined();
    expect(toPatchBody({ ...f, ports: [] }).ports).toEqual([]);
  });
});
