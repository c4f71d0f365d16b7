// Logs: a live tail that follows and can pause, level and source filters, full-text search
// with highlighted matches, export links, and a virtualized list for 100 000 lines.
import { memo, useEffect, useMemo, useRef, useState, type FormEvent } from 'react';
import { useVirtualizer } from '@tanstack/react-virtual';
import { Button, ErrorBox, inputBase, inputClass } from '@/components/ui';
import { ConfirmDialog } from '@/components/dialog';
import { errorMessage, type LogEntry, type ServerView } from '@/lib/api';
import { time } from '@/lib/format';
import { deleteLogs, downloadWithToken, EXPORT_FORMATS, exportUrl, searchLogs } from '../api';
import { DEFAULT_FILTER, filterLines, highlight, LEVELS, searchTerms, SOURCES, type Level, type LogFilter, type Source } from '../filter';
import { TAIL_CAP, useLogTail } from './use-log-tail';

const ROW = 22;

const LEVEL_STYLE: Record<string, string> = {
  error: 'text-red-700 bg-red-50 dark:text-red-300 dark:bg-red-950/60',
  warn: 'text-amber-800 bg-amber-50 dark:text-amber-300 dark:bg-amber-950/60',
  info: 'text-sky-700 dark:text-sky-300',
  debug: 'text-slate-400',
};

interface SearchState {
  filter: LogFilter;
  lines: LogEntry[] | null;
  loading: boolean;
  error: string | null;
}

export default function LogsTab({ server }: { server: ServerView }) {
  const [paused, setPaused] = useState(false);
  const [follow, setFollow] = useState(true);
  const [level, setLevel] = useState<Level>(DEFAULT_FILTER.level);
  const [sources, setSources] = useState<Source[]>([]);
  const [query, setQuery] = useState('');
  const [search, setSearch] = useState<SearchState | null>(null);
  const tail = useLogTail(server.id, paused);
  const [confirmDelete, setConfirmDelete] = useState(false);
  const [deleting, setDeleting] = useState(false);
  const [actionError, setActionError] = useState<{ title: string; message: string } | null>(null);
  const onDelete = () => {
    setDeleting(true);
    deleteLogs(server.id)
      .then(() => {
        tail.clear();
        setSearch(null);
        setActionError(null);
      })
      .catch((e: unknown) => setActionError({ title: 'Could not delete the logs', message: errorMessage(e) }))
      .finally(() => {
        setDeleting(false);
        setConfirmDelete(false);
      });
  };

  const filter: LogFilter = useMemo(() => ({ level, sources, query: '' }), [level, sources]);
  const searching = search !== null;
  const shown = useMemo(() => (search?.lines ? search.lines : filterLines(tail.lines, filter)), [search, tail.lines, filter]);
  const terms = useMemo(() => (search ? searchTerms(search.filter.query) : []), [search]);

  const runSearch = (f: LogFilter) => {
    setSearch({ filter: f, lines: null, loading: true, error: null });
    searchLogs(server.id, f)
      .then((lines) => setSearch((s) => (s && s.filter === f ? { ...s, lines, loading: false } : s)))
      .catch((e: unknown) => setSearch((s) => (s && s.filter === f ? { ...s, lines: [], loading: false, error: errorMessage(e) } : s)));
  };
  const onSearch = (e: FormEvent) => {
    e.preventDefault();
    if (query.trim()) runSearch({ level, sources, query });
    else setSearch(null);
  };
  // Filters changed while showing search results: search again with them.
  const changeLevel = (l: Level) => {
    setLevel(l);
    if (search) runSearch({ ...search.filter, level: l });
  };

  const activeFilter: LogFilter = search ? search.filter : filter;
  const toggleSource = (s: Source) => {
    const next = sources.includes(s) ? sources.filter((x) => x !== s) : [...sources, s];
    setSources(next);
    if (search) runSearch({ ...search.filter, sources: next });
  };

  return (
    <div className="flex flex-col gap-3">
      <div className="flex flex-wrap items-end gap-3 rounded-lg border border-slate-200 bg-white p-3 shadow-xs dark:border-slate-700/70 dark:bg-slate-900">
        <form onSubmit={onSearch} className="flex min-w-64 flex-1 gap-2" role="search">
          <input
            type="search"
            className={inputClass}
            placeholder='Search all stored lines: words, "a phrase", prefix*'
            aria-label="Search logs"
            value={query}
            onChange={(e) => {
              setQuery(e.target.value);
              if (!e.target.value) setSearch(null);
            }}
            data-testid="log-search"
          />
          <Button type="submit" variant="primary" pending={search?.loading}>
            Search
          </Button>
        </form>
        <label className="flex flex-col gap-1 text-xs text-slate-500 dark:text-slate-400">
          Level
          <select className={`${inputBase} w-40`} value={level} onChange={(e) => changeLevel(e.target.value as Level)} aria-label="Minimum level" data-testid="log-level">
            {LEVELS.map((l) => (
              <option key={l} value={l}>
                {l === 'debug' ? 'all levels' : l === 'error' ? 'error' : `${l} and above`}
              </option>
            ))}
          </select>
        </label>
        <fieldset className="flex flex-col gap-1 text-xs text-slate-500 dark:text-slate-400">
          <legend className="mb-1">Sources</legend>
          <div className="flex gap-1">
            {SOURCES.map((s) => {
              const on = sources.length === 0 || sources.includes(s);
              return (
                <button
                  key={s}
                  type="button"
                  aria-pressed={sources.includes(s)}
                  onClick={() => toggleSource(s)}
                  className={`rounded-full px-2.5 py-1 text-xs font-medium ring-1 ring-inset focus-visible:outline-2 focus-visible:outline-indigo-500 ${
                    sources.includes(s)
                      ? 'bg-indigo-600 text-white ring-indigo-600'
                      : on
                        ? 'text-slate-700 ring-slate-300 hover:bg-slate-50 dark:text-slate-300 dark:ring-slate-600 dark:hover:bg-slate-800'
                        : 'text-slate-400 ring-slate-200 dark:ring-slate-700'
                  }`}
                >
                  {s}
                </button>
              );
            })}
          </div>
        </fieldset>
      </div>

      <div className="flex flex-wrap items-center justify-between gap-2 text-sm">
        <div className="flex items-center gap-2 text-slate-600 dark:text-slate-300" data-testid="log-status">
          {searching ? (
            <>
              <span>
                {search.loading ? 'Searching…' : `${search.lines?.length ?? 0}${(search.lines?.length ?? 0) >= 5000 ? '+' : ''} ${(search.lines?.length ?? 0) === 1 ? 'match' : 'matches'} for `}
                {!search.loading && <strong>{search.filter.query}</strong>}
              </span>
              <Button
                size="sm"
                variant="ghost"
                onClick={() => {
                  setSearch(null);
                  setQuery('');
                }}
              >
                ✕ Back to live tail
              </Button>
            </>
          ) : (
            <>
              <span className={`inline-block h-2 w-2 rounded-full ${paused ? 'bg-amber-500' : 'animate-pulse bg-emerald-500'}`} aria-hidden />
              <span>
                {paused ? 'Paused' : 'Live'} · {shown.length.toLocaleString()} {shown.length === tail.lines.length ? '' : `of ${tail.lines.length.toLocaleString()} `}lines
                {tail.lines.length >= TAIL_CAP ? ` (newest ${TAIL_CAP.toLocaleString()} kept)` : ''}
                {paused && tail.pendingCount > 0 ? ` · ${tail.pendingCount} new` : ''}
              </span>
              <Button size="sm" onClick={() => setPaused((p) => !p)} data-testid="log-pause">
                {paused ? '▶ Resume' : '❚❚ Pause'}
              </Button>
              {!follow && (
                <Button size="sm" onClick={() => setFollow(true)}>
                  ↓ Follow
                </Button>
              )}
              <Button size="sm" variant="ghost" onClick={tail.clear} title="Clear the view (stored lines are kept)">
                Clear view
              </Button>
            </>
          )}
        </div>
        <div className="flex items-center gap-1.5">
          <span className="text-xs text-slate-500 dark:text-slate-400">Export</span>
          {EXPORT_FORMATS.map((f) => (
            <a
              key={f}
              href={exportUrl(server.id, activeFilter, f)}
              download={`${server.name}-logs.${f === 'ndjson' ? 'ndjson' : f}`}
              onClick={(e) => {
                const a = e.currentTarget;
                if (downloadWithToken(a.href, a.download, (m) => setActionError({ title: 'Could not export the logs', message: m }))) e.preventDefault();
              }}
              data-testid={`export-${f}`}
              className="rounded-md px-2 py-1 text-xs font-medium text-slate-700 ring-1 ring-slate-300 ring-inset hover:bg-slate-50 focus-visible:outline-2 focus-visible:outline-indigo-500 dark:text-slate-200 dark:ring-slate-600 dark:hover:bg-slate-800"
            >
              {f.toUpperCase()}
            </a>
          ))}
          <Button size="sm" variant="danger" onClick={() => setConfirmDelete(true)} className="ml-2">
            Delete stored lines
          </Button>
        </div>
        <ConfirmDialog
          open={confirmDelete}
          title={`Delete the stored logs of ${server.name}?`}
          confirmLabel="Delete logs"
          pending={deleting}
          onClose={() => setConfirmDelete(false)}
          onConfirm={onDelete}
        >
          Every stored line of this server is deleted; new lines are still recorded. Export them first if you need them.
        </ConfirmDialog>
      </div>

      {tail.error && !searching && <ErrorBox title="Could not load the logs" message={tail.error} />}
      {search?.error && <ErrorBox title="Search failed" message={search.error} />}
      {actionError && <ErrorBox title={actionError.title} message={actionError.message} />}
      <LogList
        lines={shown}
        terms={terms}
        follow={follow && !searching}
        setFollow={setFollow}
        empty={
          searching
            ? search.loading
              ? 'Searching…'
              : 'No stored line matches this search. Try fewer words, a prefix like "conn*", or a lower level.'
            : tail.loading
              ? 'Loading…'
              : tail.lines.length === 0
                ? server.status === 'running'
                  ? 'No lines yet. Lines the server writes to stderr, and its MCP log messages, appear here as they come.'
                  : 'No lines yet. Start the server: its output appears here live.'
                : 'No line matches these filters.'
        }
      />
    </div>
  );
}

function LogList({ lines, terms, follow, setFollow, empty }: { lines: LogEntry[]; terms: string[]; follow: boolean; setFollow: (f: boolean) => void; empty: string }) {
  const parent = useRef<HTMLDivElement>(null);
  // eslint-disable-next-line react-hooks/incompatible-library -- the virtualizer's API is not memoizable; this component does not rely on the compiler
  const v = useVirtualizer({ count: lines.length, getScrollElement: () => parent.current, estimateSize: () => ROW, overscan: 20 });
  useEffect(() => {
    if (follow && lines.length > 0) v.scrollToIndex(lines.length - 1, { align: 'end' });
  }, [follow, lines, v]);
  // Following stops only when the user scrolls up. Lines arriving between a programmatic
  // scroll to the end and its scroll event (a flood) leave the view short of the bottom
  // without any scroll up, and must not stop it.
  const lastTop = useRef(0);
  const onScroll = () => {
    const el = parent.current;
    if (!el) return;
    const top = el.scrollTop;
    const up = top < lastTop.current - 1;
    lastTop.current = top;
    const atBottom = el.scrollHeight - top - el.clientHeight < ROW * 2;
    if (atBottom && !follow) setFollow(true);
    else if (!atBottom && up && follow) setFollow(false);
  };
  return (
    <div
      ref={parent}
      onScroll={onScroll}
      tabIndex={0}
      aria-label="Log lines"
      data-testid="log-list"
      className="h-[60vh] min-h-72 overflow-auto rounded-lg border border-slate-200 bg-white font-mono text-xs leading-[22px] focus-visible:outline-2 focus-visible:outline-indigo-500 dark:border-slate-700/70 dark:bg-slate-950"
    >
      {lines.length === 0 ? (
        <div className="p-6 text-center font-sans text-sm text-slate-500 dark:text-slate-400">{empty}</div>
      ) : (
        <div style={{ height: v.getTotalSize(), position: 'relative', minWidth: '100%' }} className="w-max">
          {v.getVirtualItems().map((item) => {
            const l = lines[item.index]!;
            return <LogRow key={l.id} line={l} top={item.start} terms={terms} />;
          })}
        </div>
      )}
    </div>
  );
}

/** One line; memoized so scrolling renders only the rows that come into view. */
const LogRow = memo(function LogRow({ line: l, top, terms }: { line: LogEntry; top: number; terms: string[] }) {
  return (
    <div
      data-testid="log-line"
      className="absolute left-0 flex w-full gap-3 px-3 whitespace-pre hover:bg-slate-50 dark:hover:bg-slate-900"
      style={{ height: ROW, transform: `translateY(${top}px)` }}
    >
      <span className="text-slate-400 select-none" title={l.timestamp}>
        {time(l.timestamp)}
      </span>
      <span className={`w-11 shrink-0 rounded px-1 text-center uppercase ${LEVEL_STYLE[l.level] ?? ''}`}>{l.level}</span>
      <span className="w-12 shrink-0 text-slate-400">{l.source ?? ''}</span>
      <span className="text-slate-800 dark:text-slate-200">
        {highlight(l.message, terms).map((p, i) =>
          p.hit ? (
            <mark key={i} className="rounded-sm bg-yellow-200 text-slate-900 dark:bg-yellow-500/40 dark:text-yellow-50">
              {p.text}
            </mark>
          ) : (
            <span key={i}>{p.text}</span>
          ),
        )}
        {l.truncated && <span className="ml-2 text-amber-600">[truncated]</span>}
      </span>
    </div>
  );
});
