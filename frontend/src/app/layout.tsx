import type { ReactNode } from 'react';
import { ConnectionBanner, ConnectionDot } from '@/features/events/connection-banner';
import { Link, useLocation } from './router';
import { ThemeToggle } from './theme';
import { ForgetTokenButton, TokenDialog } from './api-token';
import { reloadSummary, useReloadServersFile, useSystem } from '@/lib/system';

export function Layout({ children }: { children: ReactNode }) {
  const { path } = useLocation();
  const nav = [
    { to: '/', label: 'Servers', active: path === '/' || (path.startsWith('/servers') && path !== '/servers/new') },
    { to: '/servers/new', label: 'Add server', active: path === '/servers/new' },
    { to: '/import', label: 'Import', active: path === '/import' },
  ];
  return (
    <div className="min-h-screen bg-slate-50 text-slate-900 dark:bg-slate-950 dark:text-slate-100">
      <header className="sticky top-0 z-10 border-b border-slate-200 bg-white/90 backdrop-blur dark:border-slate-800 dark:bg-slate-900/90">
        <ConnectionBanner />
        <div className="mx-auto flex h-14 max-w-7xl items-center gap-6 px-4 sm:px-6">
          <Link to="/" className="flex items-center gap-2 font-semibold tracking-tight focus-visible:outline-2 focus-visible:outline-indigo-500">
            <Logo />
            mcp-manager
          </Link>
          <nav className="flex gap-1" aria-label="Main">
            {nav.map((n) => (
              <Link
                key={n.to}
                to={n.to}
                aria-current={n.active ? 'page' : undefined}
                className={`rounded-md px-3 py-1.5 text-sm font-medium focus-visible:outline-2 focus-visible:outline-indigo-500 ${
                  n.active ? 'bg-slate-100 text-slate-900 dark:bg-slate-800 dark:text-white' : 'text-slate-600 hover:text-slate-900 dark:text-slate-400 dark:hover:text-white'
                }`}
              >
                {n.label}
              </Link>
            ))}
          </nav>
          <div className="ml-auto flex items-center gap-4">
            <TokenDialog />
            <ConnectionDot />
            <ForgetTokenButton />
            <ThemeToggle />
          </div>
        </div>
      </header>
      <main className="mx-auto max-w-7xl px-4 py-6 sm:px-6">{children}</main>
      <Footer />
    </div>
  );
}

function Logo() {
  return (
    <svg viewBox="0 0 24 24" className="h-6 w-6 text-indigo-600 dark:text-indigo-400" fill="none" stroke="currentColor" strokeWidth="2" aria-hidden>
      <rect x="3" y="4" width="18" height="6" rx="1.5" />
      <rect x="3" y="14" width="18" height="6" rx="1.5" />
      <circle cx="7" cy="7" r="0.8" fill="currentColor" />
      <circle cx="7" cy="17" r="0.8" fill="currentColor" />
    </svg>
  );
}

function Footer() {
  const q = useSystem();
  if (!q.data) return null;
  const s = q.data;
  return (
    <footer className="mx-auto max-w-7xl px-4 pb-6 text-xs text-slate-400 sm:px-6 dark:text-slate-500">
      mcp-manager {s.version} · {s.bind} · data in {s.data_dir} · Docker{' '}
      {s.docker.reachable ? `${s.docker.version ?? ''} reachable` : 'not reachable (container servers cannot start)'}
      {s.servers_file ? <ServersFile path={s.servers_file} /> : null}
    </footer>
  );
}

/** The servers file the daemon was started with, and a button that applies it again (as
 * `mcp-manager server reload` or SIGHUP do) after an edit. */
function ServersFile({ path }: { path: string }) {
  const reload = useReloadServersFile();
  return (
    <span>
      {' '}
      · servers file {path}{' '}
      <button
        type="button"
        title="Apply the servers file again, as `mcp-manager server reload` does: new servers are created, changed ones restarted"
        className="underline decoration-dotted hover:text-slate-600 disabled:opacity-50 dark:hover:text-slate-300"
        disabled={reload.isPending}
        onClick={() => reload.mutate()}
      >
        {reload.isPending ? 'reloading…' : 'reload'}
      </button>
      {reload.isSuccess ? <span role="status"> · applied: {reloadSummary(reload.data)}</span> : null}
      {reload.isError ? (
        <span role="alert" className="text-red-600 dark:text-red-400">
          {' '}
          · not applied: {reload.error.message}
        </span>
      ) : null}
    </span>
  );
}
