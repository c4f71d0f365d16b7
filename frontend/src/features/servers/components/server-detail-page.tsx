// One server: overview, health, logs and connect tabs.
import { lazy, Suspense, type ReactNode } from 'react';
import { skipToken, useQuery } from '@tanstack/react-query';
import { pullKeys } from '@/features/events/apply-event';
import { Link } from '@/app/router';
import { EmptyState, ErrorBox, Loading } from '@/components/ui';
import { HealthIndicator, StatusBadge } from '@/components/status';
import { errorMessage } from '@/lib/api';
import { useServer } from '../api';
import { ServerActions } from './server-actions';
import { OverviewTab } from './overview-tab';
import { linkButton } from './server-list-page';

const HealthTab = lazy(() => import('@/features/health/components/health-tab'));
const LogsTab = lazy(() => import('@/features/logs/components/logs-tab'));
const ConnectTab = lazy(() => import('@/features/connect/components/connect-tab'));

export type DetailTab = 'overview' | 'health' | 'logs' | 'connect';
export const DETAIL_TABS: DetailTab[] = ['overview', 'health', 'logs', 'connect'];
const TABS: { id: DetailTab; label: string }[] = [
  { id: 'overview', label: 'Overview' },
  { id: 'health', label: 'Health' },
  { id: 'logs', label: 'Logs' },
  { id: 'connect', label: 'Connect' },
];

export function ServerDetailPage({ serverRef, tab }: { serverRef: string; tab: DetailTab }) {
  const q = useServer(serverRef);
  if (q.isPending) return <Loading what="server" />;
  if (q.isError) return <ErrorBox title="Could not load the server" message={errorMessage(q.error)} />;
  const s = q.data;
  if (!s)
    return (
      <EmptyState
        title={`No server named ${serverRef}`}
        action={
          <Link to="/" className={linkButton('secondary')}>
            Back to servers
          </Link>
        }
      >
        It may have been deleted, or the link is wrong.
      </EmptyState>
    );
  const base = `/servers/${encodeURIComponent(s.name)}`;
  let body: ReactNode;
  if (tab === 'health') body = <HealthTab server={s} />;
  else if (tab === 'logs') body = <LogsTab key={s.id} server={s} />;
  else if (tab === 'connect') body = <ConnectTab server={s} />;
  else body = <OverviewTab server={s} />;
  return (
    <div className="flex flex-col gap-4">
      <div className="flex flex-wrap items-start justify-between gap-3">
        <div className="min-w-0">
          <Link to="/" className="text-sm text-slate-500 hover:underline dark:text-slate-400">
            ← Servers
          </Link>
          <div className="flex flex-wrap items-center gap-3">
            <h1 className="truncate text-xl font-semibold text-slate-900 dark:text-slate-50" data-testid="server-title">
              {s.name}
            </h1>
            <StatusBadge status={s.status} />
            <HealthIndicator health={s.health_status} />
          </div>
          {s.status === 'starting' && s.type === 'container' && <PullProgress id={s.id} />}
        </div>
        <div className="flex items-start gap-1.5">
          <Link to={`${base}/edit`} className={`${linkButton('secondary')} !px-2.5 !py-1 !text-xs`}>
            Edit
          </Link>
          <ServerActions server={s} afterDelete="/" />
        </div>
      </div>
      <nav className="flex gap-1 border-b border-slate-200 dark:border-slate-700" aria-label="Server sections">
        {TABS.map((t) => (
          <Link
            key={t.id}
            to={t.id === 'overview' ? base : `${base}/${t.id}`}
            replace
            aria-current={tab === t.id ? 'page' : undefined}
            data-testid={`tab-${t.id}`}
            className={`-mb-px border-b-2 px-3 py-2 text-sm font-medium focus-visible:outline-2 focus-visible:outline-indigo-500 ${
              tab === t.id
                ? 'border-indigo-600 text-indigo-700 dark:border-indigo-400 dark:text-indigo-300'
                : 'border-transparent text-slate-500 hover:border-slate-300 hover:text-slate-700 dark:text-slate-400 dark:hover:text-slate-200'
            }`}
          >
            {t.label}
          </Link>
        ))}
      </nav>
      <Suspense fallback={<Loading what={tab} />}>{body}</Suspense>
    </div>
  );
}

/** Image pull progress while a container server starts (from `server:pull` events). */
function PullProgress({ id }: { id: string }) {
  const q = useQuery<{ image: string; progress: string }>({ queryKey: pullKeys.server(id), queryFn: skipToken });
  if (!q.data) return null;
  return (
    <p className="mt-1 text-sm text-sky-700 dark:text-sky-300" role="status">
      Pulling {q.data.image}: {q.data.progress}
    </p>
  );
}
