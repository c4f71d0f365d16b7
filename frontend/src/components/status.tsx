// Status and health, with the same colours everywhere: running green, starting/stopping
// blue, backoff amber, failed red, stopped gray. Health per the spec: healthy green ●,
// unhealthy red ⚠, unknown gray ?.
import type { StatusKind } from '@/lib/api';

const STATUS: Record<StatusKind, string> = {
  running: 'bg-emerald-50 text-emerald-700 ring-emerald-600/20 dark:bg-emerald-950/60 dark:text-emerald-300 dark:ring-emerald-400/30',
  starting: 'bg-sky-50 text-sky-700 ring-sky-600/20 dark:bg-sky-950/60 dark:text-sky-300 dark:ring-sky-400/30',
  stopping: 'bg-sky-50 text-sky-700 ring-sky-600/20 dark:bg-sky-950/60 dark:text-sky-300 dark:ring-sky-400/30',
  backoff: 'bg-amber-50 text-amber-800 ring-amber-600/30 dark:bg-amber-950/60 dark:text-amber-300 dark:ring-amber-400/30',
  failed: 'bg-red-50 text-red-700 ring-red-600/20 dark:bg-red-950/60 dark:text-red-300 dark:ring-red-400/30',
  stopped: 'bg-slate-100 text-slate-600 ring-slate-500/20 dark:bg-slate-800 dark:text-slate-300 dark:ring-slate-400/20',
};

export function StatusBadge({ status }: { status: StatusKind }) {
  const busy = status === 'starting' || status === 'stopping';
  return (
    <span
      data-testid="status"
      data-status={status}
      className={`inline-flex items-center gap-1 rounded-full px-2 py-0.5 text-xs font-medium ring-1 ring-inset ${STATUS[status] ?? STATUS.stopped}`}
    >
      {busy && <span className="h-1.5 w-1.5 animate-pulse rounded-full bg-current" aria-hidden />}
      {status}
    </span>
  );
}

const HEALTH: Record<string, { color: string; icon: string; label: string }> = {
  healthy: { color: 'text-emerald-600 dark:text-emerald-400', icon: '●', label: 'healthy' },
  unhealthy: { color: 'text-red-600 dark:text-red-400', icon: '⚠', label: 'unhealthy' },
  unknown: { color: 'text-slate-400 dark:text-slate-500', icon: '?', label: 'unknown' },
};

export function healthStyle(h: string) {
  return HEALTH[h] ?? HEALTH.unknown!;
}

export function HealthIndicator({ health, compact = false }: { health: string; compact?: boolean }) {
  const s = healthStyle(health);
  return (
    <span data-testid="health" data-health={health} className={`inline-flex items-center gap-1.5 text-sm ${s.color}`} title={`health: ${s.label}`}>
      <span className="w-3 text-center font-semibold" aria-hidden>
        {s.icon}
      </span>
      {!compact && <span className="font-medium">{s.label}</span>}
    </span>
  );
}
