// Tool calls through the gateway (`/mcp/{name}`): calls, errors and latency per tool.
import { Card, ErrorBox, Loading } from '@/components/ui';
import { errorMessage, type ServerView } from '@/lib/api';
import { ms } from '@/lib/format';
import { useMetrics } from '../api';

const secs = (v: number | null | undefined) => (v === null || v === undefined ? '–' : ms(v * 1000));

export function MetricsCard({ server }: { server: ServerView }) {
  const q = useMetrics(server.id);
  return (
    <Card title="Tool calls through the gateway">
      {q.isPending ? (
        <Loading what="metrics" />
      ) : q.isError ? (
        <ErrorBox message={errorMessage(q.error)} />
      ) : q.data.tools.length === 0 ? (
        <p className="text-sm text-slate-500 dark:text-slate-400">No tool calls through /mcp/{server.name} since the daemon started.</p>
      ) : (
        <div className="overflow-x-auto">
          <table className="min-w-full text-sm" data-testid="tool-metrics">
            <thead className="text-left text-xs text-slate-500 uppercase dark:text-slate-400">
              <tr>
                <th className="py-1.5 pr-4">Tool</th>
                <th className="py-1.5 pr-4 text-right">Calls</th>
                <th className="py-1.5 pr-4 text-right">Errors</th>
                <th className="py-1.5 pr-4 text-right">Mean</th>
                <th className="py-1.5 pr-4 text-right">p50</th>
                <th className="py-1.5 pr-4 text-right">p95</th>
                <th className="py-1.5 text-right">p99</th>
              </tr>
            </thead>
            <tbody className="divide-y divide-slate-100 tabular-nums dark:divide-slate-800">
              {q.data.tools.map((t) => (
                <tr key={t.name}>
                  <td className="py-1.5 pr-4 font-medium">{t.name}</td>
                  <td className="py-1.5 pr-4 text-right">{t.calls}</td>
                  <td className="py-1.5 pr-4 text-right" title={`${t.tool_errors} with isError: true`}>
                    {t.errors}
                  </td>
                  <td className="py-1.5 pr-4 text-right">{secs(t.mean_seconds)}</td>
                  <td className="py-1.5 pr-4 text-right">{secs(t.p50_seconds)}</td>
                  <td className="py-1.5 pr-4 text-right">{secs(t.p95_seconds)}</td>
                  <td className="py-1.5 text-right">{secs(t.p99_seconds)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </Card>
  );
}
