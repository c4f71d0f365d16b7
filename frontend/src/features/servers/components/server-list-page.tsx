// The home page: every server with its status, health and actions, live.
import { Link } from '@/app/router';
import { Button, EmptyState, ErrorBox, Kbd, Loading } from '@/components/ui';
import { HealthIndicator, StatusBadge } from '@/components/status';
import { ago, formatDuration, percent, since } from '@/lib/format';
import { useNow } from '@/lib/use-now';
import { errorMessage, type ServerView } from '@/lib/api';
import { useHealthSummary } from '@/features/health/api';
import { useServers } from '../api';
import { ServerActions } from './server-actions';
import { commandLine } from './command-line';

export function ServerListPage() {
  const q = useServers();
  const now = useNow();
  return (
    <div className="flex flex-col gap-4">
      <div className="flex flex-wrap items-center justify-between gap-3">
        <div>
          <h1 className="text-xl font-semibold text-slate-900 dark:text-slate-50">Servers</h1>
          <p className="text-sm text-slate-500 dark:text-slate-400">
            {q.data && q.data.length > 0 ? <Counts servers={q.data} /> : 'MCP servers this daemon runs and watches. Changes appear here live.'}
          </p>
        </div>
        <div className="flex gap-2">
          <Link to="/import" className={linkButton('secondary')}>
            Import JSON
          </Link>
          <Link to="/servers/new" className={linkButton('primary')}>
            + Add server
          </Link>
        </div>
      </div>
      {q.isPending ? (
        <Loading what="servers" />
      ) : q.isError ? (
        <ErrorBox
          title="Could not load the servers"
          message={errorMessage(q.error)}
          action={
            <Button size="sm" onClick={() => void q.refetch()}>
              Try again
            </Button>
          }
        />
      ) : q.data.length === 0 ? (
        <EmptyState
          title="No servers yet"
          action={
            <>
              <Link to="/servers/new" className={linkButton('primary')}>
                + Add a server
              </Link>
              <Link to="/import" className={linkButton('secondary')}>
                Import from Claude / Cursor / VS Code
              </Link>
            </>
          }
        >
          Add an MCP server by its command (for example <Kbd>npx -y @modelcontextprotocol/server-everything</Kbd> or{' '}
          <Kbd>uvx mcp-server-time</Kbd>), a container image, or import the <Kbd>mcpServers</Kbd> JSON your AI client already uses. From the
          command line: <Kbd>mcp-manager server add NAME -- COMMAND ARGS…</Kbd>.
        </EmptyState>
      ) : (
        <div className="overflow-x-auto rounded-lg border border-slate-200 bg-white shadow-xs dark:border-slate-700/70 dark:bg-slate-900">
          <table className="min-w-full text-sm" data-testid="server-table">
            <thead className="bg-slate-50 text-left text-xs font-medium tracking-wide text-slate-500 uppercase dark:bg-slate-800/60 dark:text-slate-400">
              <tr>
                <th className="px-4 py-2.5">Name</th>
                <th className="px-3 py-2.5">Type</th>
                <th className="px-3 py-2.5">Status</th>
                <th className="px-3 py-2.5">Health</th>
                <th className="px-3 py-2.5 text-right">Uptime 24h</th>
                <th className="px-3 py-2.5">Last check</th>
                <th className="px-3 py-2.5 text-right">Restarts</th>
                <th className="px-4 py-2.5 text-right">
                  <span className="sr-only">Actions</span>
                </th>
              </tr>
            </thead>
            <tbody className="divide-y divide-slate-100 dark:divide-slate-800">
              {q.data.map((s) => (
                <ServerRow key={s.id} server={s} now={now} />
              ))}
            </tbody>
          </table>
        </div>
      )}
    </div>
  );
}

function ServerRow({ server: s, now }: { server: ServerView; now: number }) {
  return (
    <tr data-testid="server-row" data-name={s.name} className="align-top hover:bg-slate-50/70 dark:hover:bg-slate-800/40">
      <td className="max-w-xs px-4 py-3">
        <Link to={`/servers/${encodeURIComponent(s.name)}`} className="font-medium text-indigo-700 hover:underline dark:text-indigo-300">
          {s.name}
        </Link>
        <div className="truncate font-mono text-xs text-slate-500 dark:text-slate-400" title={commandLine(s)}>
          {commandLine(s)}
        </div>
      </td>
      <td className="px-3 py-3 text-slate-600 dark:text-slate-300">{s.type}</td>
      <td className="px-3 py-3 whitespace-nowrap">
        <StatusBadge status={s.status} />
        {(s.status === 'failed' || s.status === 'backoff') && s.last_error && (
          <div className="mt-0.5 max-w-56 truncate text-xs text-red-600 dark:text-red-400" title={s.last_error}>
            {s.last_error}
          </div>
        )}
        {(s.status_since || (s.status === 'backoff' && s.next_start_at)) && (
          <div className="mt-0.5 text-xs text-slate-500 dark:text-slate-400">
            {s.status === 'backoff' && s.next_start_at ? `retry in ${formatDuration(Math.max(0, Date.parse(s.next_start_at) - now))}` : `for ${since(s.status_since, now)}`}
          </div>
        )}
      </td>
      <td className="px-3 py-3 whitespace-nowrap">
        <HealthIndicator health={s.health_status} />
      </td>
      <td className="px-3 py-3 text-right tabular-nums">
        <Uptime id={s.id} />
      </td>
      <td className="px-3 py-3 whitespace-nowrap text-slate-600 dark:text-slate-300" title={s.last_health_check ?? ''}>
        {ago(s.last_health_check, now)}
      </td>
      <td className="px-3 py-3 text-right tabular-nums">{s.restart_count}</td>
      <td className="px-4 py-3">
        <ServerActions server={s} />
      </td>
    </tr>
  );
}

function Counts({ servers }: { servers: ServerView[] }) {
  const n = (f: (s: ServerView) => boolean) => servers.filter(f).length;
  const running = n((s) => s.status === 'running');
  const unhealthy = n((s) => s.health_status === 'unhealthy');
  const failed = n((s) => s.status === 'failed' || s.status === 'backoff');
  return (
    <span data-testid="server-counts">
      {servers.length} server{servers.length === 1 ? '' : 's'} · {running} running
      {unhealthy > 0 && <span className="text-red-600 dark:text-red-400"> · {unhealthy} unhealthy</span>}
      {failed > 0 && <span className="text-amber-700 dark:text-amber-400"> · {failed} failing</span>}
    </span>
  );
}

function Uptime({ id }: { id: string }) {
  const q = useHealthSummary(id);
  const v = q.data?.['24h']?.uptime_percent;
  const cls = v === null || v === undefined ? 'text-slate-400' : v >= 99 ? 'text-emerald-700 dark:text-emerald-400' : v >= 90 ? 'text-amber-700 dark:text-amber-400' : 'text-red-700 dark:text-red-400';
  return <span className={cls}>{percent(v)}</span>;
}

export function linkButton(variant: 'primary' | 'secondary'): string {
  const base =
    'inline-flex items-center gap-1.5 rounded-md px-3.5 py-2 text-sm font-medium shadow-xs focus-visible:outline-2 focus-visible:outline-offset-2 focus-visible:outline-indigo-500';
  return variant === 'primary'
    ? `${base} bg-indigo-600 text-white hover:bg-indigo-500`
    : `${base} bg-white text-slate-700 ring-1 ring-inset ring-slate-300 hover:bg-slate-50 dark:bg-slate-800 dark:text-slate-200 dark:ring-slate-600 dark:hover:bg-slate-700`;
}
