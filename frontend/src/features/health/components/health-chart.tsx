// The health history as SVG: a bar per bucket (height = uptime %, colour by uptime, gray
// when no checks) and the average response time as a line. No chart library.
import type { Bucket } from '@/lib/api';
import { ms, percent } from '@/lib/format';

const W = 800;
const H = 180;
const PAD_L = 36;
const PAD_R = 44;
const PAD_T = 8;
const PAD_B = 22;

function barColor(b: Bucket): string {
  if (b.total === 0 || b.uptime_percent === null || b.uptime_percent === undefined) return 'fill-slate-200 dark:fill-slate-700';
  if (b.uptime_percent >= 99.9) return 'fill-emerald-500';
  if (b.uptime_percent >= 90) return 'fill-amber-500';
  return 'fill-red-500';
}

function label(iso: string, span: number): string {
  const d = new Date(iso);
  return span > 36 * 3600_000 ? d.toLocaleDateString(undefined, { month: 'short', day: 'numeric' }) + ' ' + d.toLocaleTimeString(undefined, { hour: '2-digit', minute: '2-digit' }) : d.toLocaleTimeString(undefined, { hour: '2-digit', minute: '2-digit' });
}

export function HealthChart({ buckets }: { buckets: Bucket[] }) {
  const n = buckets.length;
  if (n === 0) return null;
  const iw = W - PAD_L - PAD_R;
  const ih = H - PAD_T - PAD_B;
  const bw = iw / n;
  const times = buckets.map((b) => b.avg_response_time_ms).filter((v): v is number => typeof v === 'number');
  const maxT = Math.max(1, ...times) * 1.15;
  const first = buckets[0]!;
  const last = buckets[n - 1]!;
  const span = Date.parse(last.end) - Date.parse(first.start);
  const pts: string[] = [];
  buckets.forEach((b, i) => {
    if (typeof b.avg_response_time_ms === 'number') {
      pts.push(`${(PAD_L + bw * (i + 0.5)).toFixed(1)},${(PAD_T + ih - (b.avg_response_time_ms / maxT) * ih).toFixed(1)}`);
    }
  });
  return (
    <figure className="w-full">
      <svg viewBox={`0 0 ${W} ${H}`} className="h-48 w-full" role="img" aria-label="Health history: uptime per interval and average response time" data-testid="health-chart">
        {[0, 50, 100].map((p) => {
          const y = PAD_T + ih - (p / 100) * ih;
          return (
            <g key={p}>
              <line x1={PAD_L} x2={W - PAD_R} y1={y} y2={y} className="stroke-slate-200 dark:stroke-slate-700" strokeDasharray={p === 0 ? undefined : '3 3'} />
              <text x={PAD_L - 6} y={y + 3} textAnchor="end" className="fill-slate-400 text-[10px]">
                {p}%
              </text>
            </g>
          );
        })}
        <text x={W - PAD_R + 6} y={PAD_T + 8} className="fill-indigo-400 text-[10px]">
          {ms(maxT / 1.15)}
        </text>
        {buckets.map((b, i) => {
          const up = b.total === 0 ? 0 : (b.uptime_percent ?? 0);
          const h = b.total === 0 ? 2 : Math.max(2, (up / 100) * ih);
          return (
            <rect key={b.start} x={PAD_L + bw * i + bw * 0.12} width={Math.max(1, bw * 0.76)} y={PAD_T + ih - h} height={h} className={barColor(b)} rx={1}>
              <title>
                {`${new Date(b.start).toLocaleString()} – ${new Date(b.end).toLocaleTimeString()}\n` +
                  (b.total === 0
                    ? 'no checks'
                    : `uptime ${percent(b.uptime_percent)} (${b.healthy}/${b.total} healthy)\navg ${ms(b.avg_response_time_ms)}, p95 ${ms(b.p95_response_time_ms)}`)}
              </title>
            </rect>
          );
        })}
        {pts.length > 1 && <polyline points={pts.join(' ')} fill="none" className="stroke-indigo-500 dark:stroke-indigo-400" strokeWidth={1.5} strokeLinejoin="round" />}
        {pts.length === 1 && <circle cx={pts[0]!.split(',')[0]} cy={pts[0]!.split(',')[1]} r={2.5} className="fill-indigo-500" />}
        <text x={PAD_L} y={H - 6} className="fill-slate-400 text-[10px]">
          {label(first.start, span)}
        </text>
        <text x={W - PAD_R} y={H - 6} textAnchor="end" className="fill-slate-400 text-[10px]">
          {label(last.end, span)}
        </text>
      </svg>
      <figcaption className="mt-1 flex flex-wrap gap-4 text-xs text-slate-500 dark:text-slate-400">
        <Legend cls="bg-emerald-500" text="uptime ≥ 99.9%" />
        <Legend cls="bg-amber-500" text="≥ 90%" />
        <Legend cls="bg-red-500" text="< 90%" />
        <Legend cls="bg-slate-300 dark:bg-slate-600" text="no checks" />
        <Legend cls="bg-indigo-500 h-0.5" text="avg response time" />
      </figcaption>
    </figure>
  );
}

function Legend({ cls, text }: { cls: string; text: string }) {
  return (
    <span className="flex items-center gap-1.5">
      <span className={`inline-block h-2.5 w-2.5 rounded-sm ${cls}`} aria-hidden />
      {text}
    </span>
  );
}
