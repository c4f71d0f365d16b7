import { describe, expect, it } from 'vitest';
import { reloadSummary } from './system';

describe('reloadSummary', () => {
  it('counts outcomes, the changes first', () => {
    const report = {
      file: '/etc/mcp-manager/servers.json',
      servers: [
        { name: 'a', outcome: 'unchanged' },
        { name: 'b', outcome: 'created' },
        { name: 'c', outcome: 'unchanged' },
        { name: 'd', outcome: 'not_in_file' },
        { name: 'e', outcome: 'failed', error: 'server e was deleted' },
        { name: 'f', outcome: 'updated' },
      ],
    };
    expect(reloadSummary(report)).toBe('1 created, 1 updated, 1 failed, 2 unchanged, 1 not in file');
  });

  it('says when the file has no servers', () => {
    expect(reloadSummary({ file: 'x.json', servers: [] })).toBe('no servers in the file');
  });
});
