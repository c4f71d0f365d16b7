import { useEffect, useState } from 'react';
import { useConnectionState } from './events-context';

/**
 * A visible banner while the live connection is down; the pages keep their last data. The
 * first connection gets a second before the banner shows, so a normal page load has none.
 */
export function ConnectionBanner() {
  const state = useConnectionState();
  const [grace, setGrace] = useState(true);
  useEffect(() => {
    const t = window.setTimeout(() => setGrace(false), 1000);
    return () => window.clearTimeout(t);
  }, []);
  if (state === 'open' || (state === 'connecting' && grace)) return null;
  return (
    <div
      role="status"
      data-testid="connection-banner"
      className="flex items-center justify-center gap-2 bg-amber-100 px-4 py-1.5 text-sm text-amber-900 dark:bg-amber-900/60 dark:text-amber-100"
    >
      <span className="inline-block h-2 w-2 animate-pulse rounded-full bg-amber-500" aria-hidden />
      {state === 'connecting' ? 'Connecting to the daemon…' : 'Reconnecting… live updates are paused; the data shown may be out of date.'}
    </div>
  );
}

export function ConnectionDot() {
  const state = useConnectionState();
  const label = state === 'open' ? 'Live' : state === 'connecting' ? 'Connecting' : 'Reconnecting';
  const color = state === 'open' ? 'bg-emerald-500' : 'bg-amber-500 animate-pulse';
  return (
    <span className="flex items-center gap-1.5 text-xs text-slate-500 dark:text-slate-400" data-testid="connection-state" data-state={state}>
      <span className={`inline-block h-2 w-2 rounded-full ${color}`} aria-hidden />
      {label}
    </span>
  );
}
