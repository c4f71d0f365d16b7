import { describe, expect, it } from 'vitest';
import type { ServerView } from '@/lib/api';
import { applyPreset, emptyForm, fieldForApiError, fromServer, suggestName, toCreateBody, toPatchBody, toolPatterns, validate, type FormState } from './form-model';

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
      backoff: { initial_secs: 1, multiplier: 2, max_secs: 60, stable_secs: 30, max_failures: 5 },
      start_timeout_secs: 120,
      stop_grace_secs: 10,
    } as unknown as ServerView);
    expect(f.backoff).toEqual({ initial_secs: '1', multiplier: '2', max_secs: '60', stable_secs: '30', max_failures: '5' });
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

describe('remote servers', () => {
  // What a local form left behind when the user switched the type to Remote.
  const leftovers: Partial<FormState> = {
    command: 'python3',
    args: ['x.py'],
    working_directory: '/tmp',
    env: [{ key: 'A', value: '1' }],
    secrets: [{ key: 'S', value: 'v', existing: false, remove: false }],
    port: '8080',
    image: 'img',
    memory_mb: '64',
    cpus: '1',
    ports: [{ container_port: '1', host_port: '', host_ip: '' }],
    stop_grace_secs: '3',
  };

  it('the create body is the url and the shared settings, nothing local', () => {
    const f = form({
      ...leftovers,
      type: 'remote',
      transport: 'http',
      url: ' http://127.0.0.1:9000/mcp ',
      health_endpoint: '/health',
      health: { ...emptyForm().health, interval_secs: '1' },
      start_timeout_secs: '20',
      restart_policy: 'always',
      backoff: { ...emptyForm().backoff, max_failures: '2' },
    });
    expect(validate(f)).toEqual({});
    expect(toCreateBody(f)).toEqual({
      name: 'time',
      type: 'remote',
      url: 'http://127.0.0.1:9000/mcp',
      health_endpoint: '/health',
      health: { interval_secs: 1 },
      restart_policy: 'always',
      start_timeout_secs: 20,
      backoff: { max_failures: 2 },
      start: true,
    });
  });

  it('a patch to remote clears what the server had as a process, and sends no transport', () => {
    const b = toPatchBody(
      form({ ...leftovers, type: 'remote', url: 'http://h/mcp', secrets: [{ key: 'OLD', value: '', existing: true, remove: false }] }),
    );
    expect(b).toMatchObject({ type: 'remote', url: 'http://h/mcp', command: null, args: [], working_directory: null, env: {}, port: null, secret_env: { OLD: null } });
    expect(b).toMatchObject({ image: null, memory_mb: null, cpus: null, ports: [] });
    expect(b.transport).toBeUndefined();
    expect(b.stop_grace_secs).toBeUndefined();
    // A remote server edited as remote sends no local field at all.
    const clean = toPatchBody(form({ type: 'remote', command: '', args: [], url: 'http://h/mcp' }));
    for (const k of ['command', 'args', 'working_directory', 'env', 'port', 'image', 'ports', 'memory_mb', 'cpus', 'secret_env', 'transport'])
      expect(clean).not.toHaveProperty(k);
  });

  it('maps "not used by type remote" to the field', () => {
    expect(fieldForApiError("command is not used by type 'remote': the manager does not run it, only connects to its url")).toBe('command');
  });
});

describe('backoff', () => {
  const bo = (over: Partial<FormState['backoff']>) => form({ backoff: { ...emptyForm().backoff, ...over } });
  it('validates each field and max against initial', () => {
    expect(validate(bo({ initial_secs: '2', multiplier: '1.5', max_secs: '30', stable_secs: '10', max_failures: '3' }))).toEqual({});
    expect(validate(bo({ multiplier: '0.5' }))['backoff.multiplier']).toMatch(/at least 1/);
    expect(validate(bo({ max_failures: '0' }))['backoff.max_failures']).toBeDefined();
    expect(validate(bo({ max_failures: '2.5' }))['backoff.max_failures']).toBeDefined();
    expect(validate(bo({ initial_secs: '-1' }))['backoff.initial_secs']).toBeDefined();
    expect(validate(bo({ stable_secs: '100000' }))['backoff.stable_secs']).toMatch(/86400/);
    expect(validate(bo({ initial_secs: '10', max_secs: '5' }))['backoff.max_secs']).toMatch(/first delay/);
    expect(validate(bo({ max_secs: '0.5' }))['backoff.max_secs']).toMatch(/default/);
  });
  it('sends only the fields set; a patch with none restores the defaults', () => {
    expect(toCreateBody(bo({ initial_secs: '0.5', max_failures: '9' })).backoff).toEqual({ initial_secs: 0.5, max_failures: 9 });
    expect(toCreateBody(form())).not.toHaveProperty('backoff');
    expect(toPatchBody(bo({ multiplier: '3' })).backoff).toEqual({ multiplier: 3 });
    expect(toPatchBody(form()).backoff).toEqual({});
  });
  it('maps the daemon messages to the backoff fields', () => {
    expect(fieldForApiError('backoff.multiplier must be at least 1')).toBe('backoff.multiplier');
    expect(fieldForApiError('backoff.max_secs must be at least backoff.initial_secs')).toBe('backoff.max_secs');
  });
});

describe('gateway options', () => {
  it('reads tool patterns one per line or comma separated', () => {
    expect(toolPatterns(' get_*, echo\n\nlist_*,, ')).toEqual(['get_*', 'echo', 'list_*']);
    expect(toolPatterns('')).toEqual([]);
  });
  it('sends only what differs from the defaults on create', () => {
    const b = toCreateBody(form());
    for (const k of ['exposed', 'start_on_demand', 'isolation', 'tools']) expect(b).not.toHaveProperty(k);
    const set = toCreateBody(form({ exposed: false, start_on_demand: true, isolation: 'per-session', deny_tools: 'rm*\nwrite_file' }));
    expect(set).toMatchObject({ exposed: false, start_on_demand: true, isolation: 'per-session', tools: { allow: [], deny: ['rm*', 'write_file'] } });
    const remote = toCreateBody(form({ type: 'remote', command: '', url: 'http://h/mcp', allow_tools: 'get_*' }));
    expect(remote.tools).toEqual({ allow: ['get_*'], deny: [] });
  });
  it('patches every option, so clearing a list or re-exposing is saved', () => {
    const b = toPatchBody(form({ exposed: true, allow_tools: '', deny_tools: '' }));
    expect(b).toMatchObject({ exposed: true, start_on_demand: false, isolation: 'shared', tools: { allow: [], deny: [] } });
  });
  it('round-trips the options of a server view', () => {
    const view = {
      ...toCreateBody(form()),
      args: [],
      env: {},
      secret_env: [],
      ports: [],
      health: {},
      backoff: {},
      exposed: false,
      start_on_demand: true,
      isolation: 'per-session',
      tools: { allow: ['get_*', 'echo'], deny: ['get_secret'] },
    } as unknown as ServerView;
    const f = fromServer(view);
    expect(f).toMatchObject({ exposed: false, start_on_demand: true, isolation: 'per-session', allow_tools: 'get_*\necho', deny_tools: 'get_secret' });
    expect(toPatchBody(f).tools).toEqual({ allow: ['get_*', 'echo'], deny: ['get_secret'] });
    // A view without the options (an older daemon) reads as the defaults.
    expect(fromServer({ ...view, exposed: undefined, start_on_demand: undefined, isolation: undefined, tools: undefined } as unknown as ServerView)).toMatchObject({
      exposed: true,
      start_on_demand: false,
      isolation: 'shared',
      allow_tools: '',
    });
  });
  it('validates patterns and maps the daemon\'s messages to the lists', () => {
    expect(validate(form({ allow_tools: 'x'.repeat(257) })).allow_tools).toMatch(/256/);
    expect(validate(form({ deny_tools: 'a,b' }))).toEqual({});
    expect(fieldForApiError('tools.deny: pattern "" must be 1 to 256 characters')).toBe('deny_tools');
    expect(fieldForApiError('tools.allow has 300 patterns; at most 256')).toBe('allow_tools');
  });
});
