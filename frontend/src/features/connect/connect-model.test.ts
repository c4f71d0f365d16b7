import { describe, expect, it } from 'vitest';
import { CLIENTS, copyText, snippetText } from './connect-model';

describe('clients', () => {
  it('are the four the daemon takes, in its order', () => {
    expect(CLIENTS.map((c) => c.id)).toEqual(['claude-desktop', 'claude-code', 'cursor', 'vscode']);
  });
});

describe('snippetText', () => {
  it('is the config as JSON indented by two, keys in the order given', () => {
    const config = { mcpServers: { time: { url: 'http://127.0.0.1:7070/mcp/time' } } };
    expect(snippetText(config)).toBe('{\n  "mcpServers": {\n    "time": {\n      "url": "http://127.0.0.1:7070/mcp/time"\n    }\n  }\n}');
    expect(JSON.parse(snippetText(config))).toEqual(config);
  });
});

describe('copyText', () => {
  it('uses the Clipboard API when there is one', async () => {
    const written: string[] = [];
    const legacy: string[] = [];
    const ok = await copyText('abc', {
      clipboard: { writeText: async (t) => void written.push(t) },
      execCopy: (t) => (legacy.push(t), true),
    });
    expect(ok).toBe(true);
    expect(written).toEqual(['abc']);
    expect(legacy).toEqual([]);
  });

  it('falls back to the legacy copy when the Clipboard API refuses', async () => {
    const legacy: string[] = [];
    const ok = await copyText('abc', {
      clipboard: { writeText: () => Promise.reject(new DOMException('denied', 'NotAllowedError')) },
      execCopy: (t) => (legacy.push(t), true),
    });
    expect(ok).toBe(true);
    expect(legacy).toEqual(['abc']);
  });

  it('falls back when there is no Clipboard API (not a secure context)', async () => {
    const legacy: string[] = [];
    expect(await copyText('x', { clipboard: undefined, execCopy: (t) => (legacy.push(t), true) })).toBe(true);
    expect(legacy).toEqual(['x']);
  });

  it('says so when neither way works', async () => {
    expect(await copyText('x', { clipboard: undefined, execCopy: () => false })).toBe(false);
    expect(
      await copyText('x', {
        clipboard: { writeText: () => Promise.reject(new Error('no')) },
        execCopy: () => {
          throw new Error('no execCommand');
        },
      }),
    ).toBe(false);
  });
});
