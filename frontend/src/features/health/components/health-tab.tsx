// Health: the state now, the history chart with a range picker, summary figures, check now,
// and the gateway's tool-call metrics.
import { useState } from 'react';
import { Button, Card, ErrorBox, Loading, Segmented } from '@/components/ui';
import { HealthIndicator } from '@/components/status';
import { errorMessage, type ServerView, type Summary } from '@/lib/api';
import { ago, ms, percent } from '@/lib/format';
import { useNow } from '@/lib/use-now';
import { RANGES, useCheckNow, useHealth, useHealthHistory, useHealthSummary, type HealthRange } from '../api';
import { HealthChart } from './health-chart';
import { MetricsCard } from './metrics-card';

export default function HealthTab({ server }: { server: ServerView }) {
  const [range, setRange] = useState<HealthRange>('1h');
  const now = useNow();
  const health = useHealth(server.id);
  const summary = useHealthSummary(server.id);
  const history = useHealthHistory(server.id, range);
  const check = useCheckNow();
  const running = server.status === 'running';
  return (
    <div className="flex flex-col gap-4">
      <Card
        title="Now"
        actions={
          <Button size="sm" variant="primary" onClick={() => check.mutate(server.id)} pending={check.isPending} disabled={!running} title={running ? 'Run a check now' : 'Checks run only while the server is running'}>
            Check now
          </Button>
        }
      >
        {health.isPending ? (
          <Loading what="health" />
        ) : health.isError ? (
          <ErrorBox message={errorMessage(health.error)} />
        ) : (
          <div className="flex flex-wrap items-start gap-x-10 gap-y-3 text-sm">
            <div>
              <HealthIndicator health={server.health_status} />
              <div className="mt-1 text-xs text-slate-500 dark:text-slate-400">
                {health.data.monitored ? `checked every ${health.data.settings.interval_secs}s` : 'not monitored: checks run while the server is running'}
              </div>
            </div>
            <Stat k="Last check" v={ago(server.last_health_check ?? health.data.last_health_check, now)} />
            <Stat k="Failures in a row" v={String(health.data.consecutive_failures)} />
            <Stat k="Successes in a row" v={String(health.data.consecutive_successes)} />
            <Stat k="Unhealthy after" v={`${health.data.settings.failure_threshold} failures`} />
            <Stat k="Timeout" v={`${health.data.settings.timeout_secs}s`} />
            {health.data.settings.restart_after_failures ? <Stat k="Restart after" v={`${health.data.settings.restart_after_failures} unhealthy checks`} /> : null}
          </div>
        )}
        {check.data && (
          <p className={`mt-3 text-sm ${check.data.ok ? 'text-emerald-700 dark:text-emerald-400' : 'text-red-700 dark:text-red-400'}`} role="status">
            Check {check.data.ok ? 'passed' : 'failed'} ({check.data.probes.join(', ')}) in {ms(check.data.response_time_ms)}
            {check.data.error ? `: ${check.data.error}` : ''}
          </p>
        )}
        {check.isError && <p className="mt-3 text-sm text-red-700 dark:text-red-400" role="alert">{errorMessage(check.error)}</p>}
      </Card>

      <Card
        title="History"
        actions={
          <Segmented label="Range" options={RANGES.map((r) => ({ id: r, label: r }))} value={range} onChange={setRange} />
        }
      >
        {history.isPending ? (
          <Loading what="history" />
        ) : history.isError ? (
          <ErrorBox message={errorMessage(history.error)} />
        ) : history.data.buckets.every((b) => b.total === 0) ? (
          <p className="py-8 text-center text-sm text-slate-500 dark:text-slate-400">No checks in the last {range}. Checks are recorded while the server runs.</p>
        ) : (
          <HealthChart buckets={history.data.buckets} />
        )}
      </Card>

      <Card title="Summary">
        {summary.isPending ? (
          <Loading what="summary" />
        ) : summary.isError ? (
          <ErrorBox message={errorMessage(summary.error)} />
        ) : (
          <div className="overflow-x-auto">
            <table className="min-w-full text-sm" data-testid="health-summary">
              <thead className="text-left text-xs text-slate-500 uppercase dark:text-slate-400">
                <tr>
                  <th className="py-1.5 pr-4">Window</th>
                  <th className="py-1.5 pr-4 text-right">Uptime</th>
                  <th className="py-1.5 pr-4 text-right">Checks</th>
                  <th className="py-1.5 pr-4 text-right">Healthy</th>
                  <th className="py-1.5 pr-4 text-right">Unhealthy</th>
                  <th className="py-1.5 pr-4 text-right">Avg</th>
                  <th className="py-1.5 pr-4 text-right">p95</th>
                  <th className="py-1.5">Streak</th>
                </tr>
              </thead>
              <tbody className="divide-y divide-slate-100 tabular-nums dark:divide-slate-800">
                {['24h', '7d', '30d'].map((w) => {
                  const s: Summary | undefined = summary.data[w];
                  if (!s) return null;
                  return (
                    <tr key={w}>
                      <td className="py-1.5 pr-4 font-medium">{w}</td>
                      <td className="py-1.5 pr-4 text-right">{percent(s.uptime_percent)}</td>
                      <td className="py-1.5 pr-4 text-right">{s.total_checks}</td>
                      <td className="py-1.5 pr-4 text-right">{s.healthy_checks}</td>
                      <td className="py-1.5 pr-4 text-right">{s.unhealthy_checks}</td>
                      <td className="py-1.5 pr-4 text-right">{ms(s.avg_response_time_ms)}</td>
                      <td className="py-1.5 pr-4 text-right">{ms(s.p95_response_time_ms)}</td>
                      <td className="py-1.5">{s.current_streak ? `${s.current_streak.checks} × ${s.current_streak.status}` : '–'}</td>
                    </tr>
                  );
                })}
              </tbody>
            </table>
          </div>
        )}
      </Card>

      <MetricsCard server={server} />
    </div>
  );
}

function Stat({ k, v }: { k: string; v: string }) {
  return (
    <div>
      <div className="text-xs text-slate-500 dark:text-slate-400">{k}</div>
      <div className="font-medium text-slate-800 dark:text-slate-100">{v}</div>
    </div>
  );
}
