import { describe, expect, it } from 'vitest';
import type { LogEntry } from '@/lib/api';
import { appendLines, DEFAULT_FILTER, filterLines, highlight, levelRank, searchTerms } from './filter';

let nextId = 1;
const line = (message: string, level = 'info', source = 'stderr'): LogEntry => ({
  id: nextId++,
  server_id: 's',
  level,
  message,
  source,
  timestamp: '2026-01-01T00:00:00Z',
  truncated: false,
});

const lines = [
  line('started pid=1', 'info', 'system'),
  line('debugging things', 'debug'),
  line('disk almost full', 'warn'),
  line('connection refused', 'error'),
  line('[fixture] hello zebra', 'warn', 'mcp'),
  line('plain stdout noise', 'info', 'stdout'),
];

describe('filterLines', () => {
  it('passes everything with the default filter (same array, no copy)', () => {
    expect(filterLines(lines, DEFAULT_FILTER)).toBe(lines);
  });
  it('keeps the level and above', () => {
    expect(filterLines(lines, { ...DEFAULT_FILTER, level: 'warn' }).map((l) => l.message)).toEqual(['disk almost full', 'connection refused', '[fixture] hello zebra']);
    expect(filterLines(lines, { ...DEFAULT_FILTER, level: 'error' })).toHaveLength(1);
    expect(filterLines(lines, { ...DEFAULT_FILTER, level: 'info' })).toHaveLength(5);
  });
  it('filters by source', () => {
    expect(filterLines(lines, { ...DEFAULT_FILTER, sources: ['mcp', 'system'] }).map((l) => l.source)).toEqual(['system', 'mcp']);
  });
  it('needs every search word, case-insensitively, and combines with the others', () => {
    expect(filterLines(lines, { ...DEFAULT_FILTER, query: 'HELLO zebra' })).toHaveLength(1);
    expect(filterLines(lines, { ...DEFAULT_FILTER, query: 'hello lion' })).toHaveLength(0);
    expect(filterLines(lines, { ...DEFAULT_FILTER, query: 'conn*', level: 'error' })).toHaveLength(1);
    expect(filterLines(lines, { ...DEFAULT_FILTER, query: '"almost full"' })).toHaveLength(1);
  });
});

describe('levels and terms', () => {
  it('ranks levels', () => {
    expect(levelRank('debug')).toBeLessThan(levelRank('info'));
    expect(levelRank('warning')).toBe(levelRank('warn'));
    expect(levelRank('critical')).toBe(levelRank('error'));
  });
  it('reads search terms like the daemon', () => {
    expect(searchTerms('foo "bar baz" qu* AND')).toEqual(['foo', 'bar baz', 'qu']);
  });
});

describe('highlight', () => {
  it('marks every match, case-insensitively', () => {
    expect(highlight('Zebra and zebra', ['zebra'])).toEqual([
      { text: 'Zebra', hit: true },
      { text: ' and ', hit: false },
      { text: 'zebra', hit: true },
    ]);
    expect(highlight('a.b', ['.'])).toEqual([
      { text: 'a', hit: false },
      { text: '.', hit: true },
      { text: 'b', hit: false },
    ]);
    expect(highlight('x', [])).toEqual([{ text: 'x', hit: false }]);
  });
});

describe('appendLines', () => {
  it('skips lines already held and caps the tail', () => {
    const a = [line('1'), line('2')];
    const b = line('3');
    expect(appendLines(a, [a[1]!, b], 10).map((l) => l.message)).toEqual(['1', '2', '3']);
    expect(appendLines(a, [a[0]!], 10)).toBe(a);
    expect(appendLines(a, [b], 2).map((l) => l.message)).toEqual(['2', '3']);
  });
});
