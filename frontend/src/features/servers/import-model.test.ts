import { describe, expect, it } from 'vitest';
import { parseMcpServers, typeForCommand } from './import-model';

describe('parseMcpServers', () => {
  it('reads the Claude Desktop / Cursor format', () => {
    const r = parseMcpServers(
      JSON.stringify({
        mcpServers: {
          time: { command: 'uvx', args: ['mcp-server-time', '--local-timezone=UTC'], env: { TZ: 'UTC' } },
          everything: { command: 'npx', args: ['-y', '@modelcontextprotocol/server-everything'] },
          remote: { url: 'http://127.0.0.1:8080/mcp' },
        },
      }),
    );
    expect(r.error).toBeNull();
    expect(r.entries.map((e) => e.name)).toEqual(['time', 'everything', 'remote']);
    expect(r.entries[0]!.body).toEqual({ name: 'time', start: true, command: 'uvx', type: 'python', args: ['mcp-server-time', '--local-timezone=UTC'], env: { TZ: 'UTC' } });
    expect(r.entries[1]!.body.type).toBe('nodejs');
    expect(r.entries[2]!.body).toEqual({ name: 'remote', start: true, type: 'remote', url: 'http://127.0.0.1:8080/mcp' });
    expect(r.entries.every((e) => e.problems.length === 0)).toBe(true);
  });

  it('reads VS Code (servers with type, and settings.json mcp.servers)', () => {
    const a = parseMcpServers('{"servers": {"fs": {"type": "stdio", "command": "npx", "args": ["-y", "x"]}, "web": {"type": "http", "url": "https://e.com/mcp"}}, "inputs": []}');
    expect(a.entries.map((e) => [e.name, e.body.type])).toEqual([
      ['fs', 'nodejs'],
      ['web', 'remote'],
    ]);
    const b = parseMcpServers('{"mcp": {"servers": {"one": {"command": "python3", "args": ["s.py"]}}}}');
    expect(b.entries[0]!.body).toMatchObject({ name: 'one', type: 'python' });
  });

  it('renames invalid keys and reports problems per entry', () => {
    const r = parseMcpServers('{"mcpServers": {"My Server!": {"command": "node", "args": ["a.js"]}, "broken": {"args": ["x"]}, "badargs": {"command": "x", "args": "y"}}}');
    expect(r.entries[0]!.name).toBe('My-Server-');
    expect(r.entries[0]!.notes.join(' ')).toMatch(/Renamed/);
    expect(r.entries[1]!.problems.join(' ')).toMatch(/neither/);
    expect(r.entries[2]!.problems.join(' ')).toMatch(/args/);
  });

  it('flags duplicate names after renaming, and disabled entries start stopped', () => {
    const r = parseMcpServers('{"mcpServers": {"a b": {"command": "x"}, "a-b": {"command": "y", "disabled": true}}}');
    expect(r.entries[1]!.problems.join(' ')).toMatch(/also named/);
    expect(r.entries[1]!.body.start).toBe(false);
  });

  it('explains documents it cannot read', () => {
    expect(parseMcpServers('{nope').error).toMatch(/Not valid JSON/);
    expect(parseMcpServers('[]').error).toMatch(/object/);
    expect(parseMcpServers('{"other": 1}').error).toMatch(/mcpServers/);
    expect(parseMcpServers('{"mcpServers": {}}').error).toMatch(/empty/);
  });

  it('accepts a bare map of servers', () => {
    expect(parseMcpServers('{"t": {"command": "uvx", "args": ["mcp-server-time"]}}').entries).toHaveLength(1);
  });
});

describe('remote entries', () => {
  it('url, serverUrl and VS Code http/sse entries become remote servers with nothing local', () => {
    const r = parseMcpServers(
      JSON.stringify({
        servers: {
          a: { type: 'http', url: 'http://127.0.0.1:1/mcp', headers: { Authorization: 'x' } },
          b: { type: 'sse', url: 'https://e.com/sse' },
          c: { serverUrl: 'https://w.example/mcp', env: { K: 'v' } },
          d: { type: 'http' },
          e: { url: 'ws://nope' },
        },
      }),
    );
    const [a, b, c, d, e] = r.entries;
    expect(a!.body).toEqual({ name: 'a', start: true, type: 'remote', url: 'http://127.0.0.1:1/mcp' });
    expect(a!.notes.join(' ')).toMatch(/headers/);
    expect(b!.body).toEqual({ name: 'b', start: true, type: 'remote', url: 'https://e.com/sse' });
    expect(b!.notes.join(' ')).toMatch(/SSE/);
    expect(c!.body).toEqual({ name: 'c', start: true, type: 'remote', url: 'https://w.example/mcp' });
    expect(c!.notes.join(' ')).toMatch(/env/);
    expect(d!.problems.join(' ')).toMatch(/without a "url"/);
    expect(e!.problems.join(' ')).toMatch(/http/);
  });
});

describe('typeForCommand', () => {
  it('guesses the preset type', () => {
    expect(typeForCommand('npx')).toBe('nodejs');
    expect(typeForCommand('/usr/bin/python3.12')).toBe('python');
    expect(typeForCommand('uvx')).toBe('python');
    expect(typeForCommand('docker')).toBe('process');
  });
});
