// List editors of the server form: arguments, environment, secret environment.
import { Button, inputBase, inputClass } from '@/components/ui';
import type { FormErrors, KeyValue, PortRow, SecretRow } from '../form-model';

export function ArgsEditor({ args, onChange }: { args: string[]; onChange: (a: string[]) => void }) {
  const set = (i: number, v: string) => onChange(args.map((a, j) => (j === i ? v : a)));
  const move = (i: number, d: -1 | 1) => {
    const next = args.slice();
    const j = i + d;
    if (j < 0 || j >= next.length) return;
    [next[i], next[j]] = [next[j]!, next[i]!];
    onChange(next);
  };
  return (
    <div className="flex flex-col gap-1.5" data-testid="args-editor">
      {args.length === 0 && <p className="text-xs text-slate-500 dark:text-slate-400">No arguments. Each argument is passed as is, never through a shell.</p>}
      {args.map((a, i) => (
        <div key={i} className="flex items-center gap-1.5">
          <span className="w-6 text-right font-mono text-xs text-slate-400">{i + 1}</span>
          <input
            className={`${inputClass} font-mono`}
            value={a}
            aria-label={`Argument ${i + 1}`}
            name={`arg-${i}`}
            onChange={(e) => set(i, e.target.value)}
          />
          <Button size="sm" variant="ghost" onClick={() => move(i, -1)} disabled={i === 0} aria-label={`Move argument ${i + 1} up`}>
            ↑
          </Button>
          <Button size="sm" variant="ghost" onClick={() => move(i, 1)} disabled={i === args.length - 1} aria-label={`Move argument ${i + 1} down`}>
            ↓
          </Button>
          <Button size="sm" variant="ghost" onClick={() => onChange(args.filter((_, j) => j !== i))} aria-label={`Remove argument ${i + 1}`}>
            ✕
          </Button>
        </div>
      ))}
      <div>
        <Button size="sm" onClick={() => onChange([...args, ''])} data-testid="add-arg">
          + Add argument
        </Button>
      </div>
    </div>
  );
}

export function EnvEditor({ rows, onChange, errors }: { rows: KeyValue[]; onChange: (r: KeyValue[]) => void; errors: FormErrors }) {
  const set = (i: number, patch: Partial<KeyValue>) => onChange(rows.map((r, j) => (j === i ? { ...r, ...patch } : r)));
  return (
    <div className="flex flex-col gap-1.5">
      {rows.map((r, i) => (
        <div key={i}>
          <div className="flex items-center gap-1.5">
            <input className={`${inputBase} w-2/5 font-mono`} placeholder="NAME" aria-label={`Variable ${i + 1} name`} value={r.key} aria-invalid={!!errors[`env.${i}`]} onChange={(e) => set(i, { key: e.target.value })} />
            <span className="text-slate-400">=</span>
            <input className={`${inputClass} font-mono`} placeholder="value" aria-label={`Variable ${i + 1} value`} value={r.value} onChange={(e) => set(i, { value: e.target.value })} />
            <Button size="sm" variant="ghost" onClick={() => onChange(rows.filter((_, j) => j !== i))} aria-label={`Remove variable ${i + 1}`}>
              ✕
            </Button>
          </div>
          {errors[`env.${i}`] && <p className="mt-0.5 text-xs text-red-600 dark:text-red-400">{errors[`env.${i}`]}</p>}
        </div>
      ))}
      <div>
        <Button size="sm" onClick={() => onChange([...rows, { key: '', value: '' }])}>
          + Add variable
        </Button>
      </div>
    </div>
  );
}

export function SecretEditor({ rows, onChange, errors }: { rows: SecretRow[]; onChange: (r: SecretRow[]) => void; errors: FormErrors }) {
  const set = (i: number, patch: Partial<SecretRow>) => onChange(rows.map((r, j) => (j === i ? { ...r, ...patch } : r)));
  return (
    <div className="flex flex-col gap-1.5">
      {rows.map((r, i) => (
        <div key={i}>
          <div className={`flex items-center gap-1.5 ${r.remove ? 'opacity-50' : ''}`}>
            <input
              className={`${inputBase} w-2/5 font-mono`}
              placeholder="API_KEY"
              aria-label={`Secret ${i + 1} name`}
              value={r.key}
              readOnly={r.existing}
              aria-invalid={!!errors[`secret.${i}`]}
              onChange={(e) => set(i, { key: e.target.value })}
            />
            <span className="text-slate-400">=</span>
            <input
              className={`${inputClass} font-mono`}
              type="password"
              autoComplete="new-password"
              placeholder={r.existing ? '•••••• stored (type to replace)' : 'value (write-only)'}
              aria-label={`Secret ${i + 1} value`}
              value={r.value}
              disabled={r.remove}
              onChange={(e) => set(i, { value: e.target.value })}
            />
            {r.existing ? (
              <Button size="sm" variant="ghost" onClick={() => set(i, { remove: !r.remove, value: '' })} aria-label={r.remove ? `Keep secret ${r.key}` : `Remove secret ${r.key}`}>
                {r.remove ? 'Undo' : '✕'}
              </Button>
            ) : (
              <Button size="sm" variant="ghost" onClick={() => onChange(rows.filter((_, j) => j !== i))} aria-label={`Remove secret ${i + 1}`}>
                ✕
              </Button>
            )}
          </div>
          {r.remove && <p className="mt-0.5 text-xs text-amber-700 dark:text-amber-400">{r.key} will be removed when you save.</p>}
          {errors[`secret.${i}`] && <p className="mt-0.5 text-xs text-red-600 dark:text-red-400">{errors[`secret.${i}`]}</p>}
        </div>
      ))}
      <div>
        <Button size="sm" onClick={() => onChange([...rows, { key: '', value: '', existing: false, remove: false }])}>
          + Add secret
        </Button>
      </div>
    </div>
  );
}

export function PortsEditor({ rows, onChange, errors }: { rows: PortRow[]; onChange: (r: PortRow[]) => void; errors: FormErrors }) {
  const set = (i: number, patch: Partial<PortRow>) => onChange(rows.map((r, j) => (j === i ? { ...r, ...patch } : r)));
  return (
    <div className="flex flex-col gap-1.5">
      {rows.map((r, i) => (
        <div key={i}>
          <div className="flex items-center gap-1.5 text-sm text-slate-500">
            <input className={`${inputBase} w-36`} placeholder="127.0.0.1" aria-label={`Port ${i + 1} host address`} value={r.host_ip} onChange={(e) => set(i, { host_ip: e.target.value })} />
            :
            <input className={`${inputBase} w-24`} inputMode="numeric" placeholder="same" aria-label={`Port ${i + 1} host port`} value={r.host_port} onChange={(e) => set(i, { host_port: e.target.value })} />
            →
            <input
              className={`${inputBase} w-24`}
              inputMode="numeric"
              placeholder="8080"
              aria-label={`Port ${i + 1} container port`}
              aria-invalid={!!errors[`ports.${i}`]}
              value={r.container_port}
              onChange={(e) => set(i, { container_port: e.target.value })}
            />
            <Button size="sm" variant="ghost" onClick={() => onChange(rows.filter((_, j) => j !== i))} aria-label={`Remove port ${i + 1}`}>
              ✕
            </Button>
          </div>
          {errors[`ports.${i}`] && <p className="mt-0.5 text-xs text-red-600 dark:text-red-400">{errors[`ports.${i}`]}</p>}
        </div>
      ))}
      <div>
        <Button size="sm" onClick={() => onChange([...rows, { container_port: '', host_port: '', host_ip: '' }])}>
          + Publish a port
        </Button>
      </div>
    </div>
  );
}
