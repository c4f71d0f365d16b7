// Add / edit a server: process (with Node.js and Python presets), container and remote.
import { useId, useRef, useState, type FormEvent, type ReactNode } from 'react';
import { Link, navigate } from '@/app/router';
import { Button, Card, EmptyState, ErrorBox, Field, inputClass, Kbd, Loading } from '@/components/ui';
import { ApiError, errorMessage, type Isolation, type RestartPolicy, type ServerType, type ServerView } from '@/lib/api';
import { useSystem } from '@/lib/system';
import { useCreateServer, useServer, useServers, useUpdateServer } from '../api';
import {
  applyPreset,
  emptyForm,
  fieldForApiError,
  fromServer,
  PRESETS,
  toCreateBody,
  toPatchBody,
  validate,
  type FormErrors,
  type FormState,
  type BackoffField,
  type HealthField,
  type Preset,
} from '../form-model';
import { ArgsEditor, EnvEditor, PortsEditor, SecretEditor } from './editors';

export function NewServerPage() {
  useServers();
  return <ServerForm initial={emptyForm()} />;
}

export function EditServerPage({ serverRef }: { serverRef: string }) {
  const q = useServer(serverRef);
  if (q.isPending) return <Loading what="server" />;
  if (q.isError) return <ErrorBox message={errorMessage(q.error)} />;
  if (!q.data)
    return (
      <EmptyState title={`No server named ${serverRef}`} action={<Link to="/" className="text-indigo-600 underline">Back to servers</Link>}>
        It may have been deleted.
      </EmptyState>
    );
  return <ServerForm key={q.data.id} initial={fromServer(q.data)} editing={q.data} />;
}

/** The form fields that hold plain text. */
type StringField = { [K in keyof FormState]: string extends FormState[K] ? (FormState[K] extends string ? K : never) : never }[keyof FormState];

const TYPES: { value: ServerType; label: string; disabled?: boolean }[] = [
  { value: 'process', label: 'Process (any command)' },
  { value: 'nodejs', label: 'Node.js' },
  { value: 'python', label: 'Python' },
  { value: 'container', label: 'Container (Docker image)' },
  { value: 'remote', label: 'Remote (HTTP URL)' },
];

function ServerForm({ initial, editing }: { initial: FormState; editing?: ServerView }) {
  const [f, setF] = useState<FormState>(initial);
  const [errors, setErrors] = useState<FormErrors>({});
  const [topError, setTopError] = useState<string | null>(null);
  const [showAdvanced, setShowAdvanced] = useState(false);
  const create = useCreateServer();
  const update = useUpdateServer();
  const formRef = useRef<HTMLFormElement>(null);
  const id = useId();
  const set = <K extends keyof FormState>(k: K, v: FormState[K]) => setF((p) => ({ ...p, [k]: v }));
  const setHealth = (k: HealthField, v: string) => setF((p) => ({ ...p, health: { ...p.health, [k]: v } }));
  const setBackoff = (k: BackoffField, v: string) => setF((p) => ({ ...p, backoff: { ...p.backoff, [k]: v } }));
  const pending = create.isPending || update.isPending;
  const container = f.type === 'container';
  const remote = f.type === 'remote';
  const system = useSystem();
  const cmdBase = f.command.trim().split('/').pop() ?? '';
  const missingRuntime =
    !container && !remote && cmdBase && !f.command.includes('/') && system.data && cmdBase in system.data.runtimes && system.data.runtimes[cmdBase] === null;
  const dockerDown = container && system.data && !system.data.docker.reachable;

  const focusFirstError = (errs: FormErrors) => {
    const first = Object.keys(errs)[0];
    if (!first) return;
    if (first.startsWith('health.') || first.startsWith('backoff.') || ['start_timeout_secs', 'stop_grace_secs', 'memory_mb', 'cpus'].includes(first)) setShowAdvanced(true);
    window.setTimeout(() => formRef.current?.querySelector<HTMLElement>(`[data-field="${first}"]`)?.focus(), 0);
  };

  const onSubmit = async (e: FormEvent) => {
    e.preventDefault();
    setTopError(null);
    const errs = validate(f);
    setErrors(errs);
    if (Object.keys(errs).length > 0) {
      focusFirstError(errs);
      return;
    }
    try {
      const server = editing
        ? await update.mutateAsync({ id: editing.id, body: toPatchBody(f) })
        : await create.mutateAsync(toCreateBody(f));
      navigate(`/servers/${encodeURIComponent(server.name)}`);
    } catch (err) {
      const msg = errorMessage(err);
      const field = err instanceof ApiError && (err.status === 422 || err.status === 409) ? fieldForApiError(msg) : null;
      // A field this type of server does not show (e.g. `command` for a remote server) is
      // reported at the top.
      if (field && shownFields(f).has(field.split('.')[0]!)) {
        const errs2 = { [field]: msg };
        setErrors(errs2);
        focusFirstError(errs2);
      } else setTopError(msg);
    }
  };

  const input = (key: StringField, props: { placeholder?: string; mono?: boolean; type?: string; autoFocus?: boolean } = {}) => (
    <input
      id={`${id}-${key}`}
      data-field={key}
      name={key}
      className={`${inputClass} ${props.mono ? 'font-mono' : ''}`}
      value={f[key]}
      placeholder={props.placeholder}
      type={props.type ?? 'text'}
      autoFocus={props.autoFocus}
      aria-invalid={!!errors[key]}
      onChange={(e) => set(key, e.target.value)}
    />
  );

  return (
    <form ref={formRef} onSubmit={(e) => void onSubmit(e)} noValidate className="flex max-w-3xl flex-col gap-4" data-testid="server-form">
      <div>
        <Link to={editing ? `/servers/${encodeURIComponent(editing.name)}` : '/'} className="text-sm text-slate-500 hover:underline dark:text-slate-400">
          ← {editing ? editing.name : 'Servers'}
        </Link>
        <h1 className="text-xl font-semibold text-slate-900 dark:text-slate-50">{editing ? `Edit ${editing.name}` : 'Add a server'}</h1>
        {editing && editing.status !== 'stopped' && (
          <p className="text-sm text-slate-500 dark:text-slate-400">Changes apply at the server&apos;s next start (restart it after saving).</p>
        )}
      </div>
      {topError && <ErrorBox title="The daemon did not accept this" message={topError} />}

      {!editing && (
        <Card title="Quick start">
          <PresetPicker onApply={(p, pkg) => setF((cur) => applyPreset(cur, p, pkg))} />
        </Card>
      )}

      <Card title="Server">
        <div className="grid gap-4 sm:grid-cols-2">
          <Field label="Name" htmlFor={`${id}-name`} error={errors.name} hint="Letters, digits, . _ - (at most 64). Used in URLs and the CLI.">
            {input('name', { placeholder: 'time', autoFocus: !editing })}
          </Field>
          <Field label="Type" htmlFor={`${id}-type`} error={errors.type}>
            <select
              id={`${id}-type`}
              data-field="type"
              className={inputClass}
              value={f.type}
              onChange={(e) => {
                const t = e.target.value as ServerType;
                setF((p) => ({ ...p, type: t, transport: t === 'remote' ? 'http' : p.type === 'remote' ? 'stdio' : p.transport }));
              }}
            >
              {TYPES.map((t) => (
                <option key={t.value} value={t.value} disabled={t.disabled}>
                  {t.label}
                </option>
              ))}
            </select>
          </Field>
        </div>
      </Card>

      <Card title={remote ? 'Endpoint' : container ? 'Container' : 'Command'}>
        <div className="flex flex-col gap-4">
          {remote ? (
            <Field label="URL" htmlFor={`${id}-url`} error={errors.url} hint="The server's Streamable HTTP endpoint; the manager monitors it but does not run it.">
              {input('url', { placeholder: 'http://127.0.0.1:8080/mcp', mono: true })}
            </Field>
          ) : (
            <>
              {dockerDown && (
                <p className="rounded-md bg-amber-50 p-2 text-sm text-amber-900 dark:bg-amber-950/50 dark:text-amber-200" role="status">
                  The Docker engine is not reachable at {system.data?.docker.address}: you can add the server, but it cannot
                  start until Docker runs.
                </p>
              )}
              {container && (
                <Field label="Image" htmlFor={`${id}-image`} error={errors.image} hint="A local or pullable image; stdio images are attached like docker run -i.">
                  {input('image', { placeholder: 'mcp/fetch', mono: true })}
                </Field>
              )}
              <Field
                label={container ? 'Entrypoint (optional)' : 'Command'}
                htmlFor={`${id}-command`}
                error={errors.command}
                hint={container ? "Replaces the image's entrypoint." : 'Resolved on the PATH when the server starts, e.g. npx, uvx, python3, or an absolute path.'}
              >
                {input('command', { placeholder: container ? '' : 'npx', mono: true })}
                {missingRuntime && (
                  <p className="text-xs text-amber-700 dark:text-amber-400" role="status">
                    {cmdBase} is not on the daemon&apos;s PATH: starting will fail with &quot;command not found&quot; until it is installed.
                  </p>
                )}
              </Field>
              <Field label="Arguments" error={errors.args}>
                <ArgsEditor args={f.args} onChange={(a) => set('args', a)} />
              </Field>
              <Field
                label="Working directory"
                htmlFor={`${id}-working_directory`}
                error={errors.working_directory}
                hint={container ? 'Inside the container.' : "An absolute path; default: the daemon's directory."}
              >
                {input('working_directory', { placeholder: '/home/me/project', mono: true })}
              </Field>
              {container && (
                <Field label="Published ports" error={errors.ports} hint="host address : host port → container port; the address defaults to 127.0.0.1 (nothing exposed beyond this machine).">
                  <PortsEditor rows={f.ports} onChange={(r) => set('ports', r)} errors={errors} />
                </Field>
              )}
              <div className="grid gap-4 sm:grid-cols-3">
                <Field label="Transport" htmlFor={`${id}-transport`} error={errors.transport}>
                  <select id={`${id}-transport`} data-field="transport" className={inputClass} value={f.transport} onChange={(e) => set('transport', e.target.value as 'stdio' | 'http')}>
                    <option value="stdio">stdio</option>
                    <option value="http">Streamable HTTP</option>
                  </select>
                </Field>
                {f.transport === 'http' && (
                  <>
                    <Field label="Port" htmlFor={`${id}-port`} error={errors.port}>
                      {input('port', { placeholder: '8080', type: 'number' })}
                    </Field>
                    <Field label="URL (optional)" htmlFor={`${id}-url`} error={errors.url}>
                      {input('url', { placeholder: 'http://127.0.0.1:8080/mcp', mono: true })}
                    </Field>
                  </>
                )}
              </div>
            </>
          )}
        </div>
      </Card>

      {!remote && (
        <Card title="Environment">
          <div className="flex flex-col gap-5">
            <Field label="Variables" error={errors.env}>
              <EnvEditor rows={f.env} onChange={(r) => set('env', r)} errors={errors} />
            </Field>
            <Field label="Secrets" error={errors.secret_env} hint="Write-only: values are never shown again, not in the API, logs or exports.">
              <SecretEditor rows={f.secrets} onChange={(r) => set('secrets', r)} errors={errors} />
            </Field>
          </div>
        </Card>
      )}

      <Card
        title="Restart and health"
        actions={
          <Button size="sm" variant="ghost" onClick={() => setShowAdvanced((v) => !v)} aria-expanded={showAdvanced} aria-controls={`${id}-advanced`} data-testid="toggle-advanced">
            {showAdvanced ? 'Hide advanced' : 'Advanced…'}
          </Button>
        }
      >
        <div className="grid gap-4 sm:grid-cols-2">
          <Field label="Restart policy" htmlFor={`${id}-restart_policy`} error={errors.restart_policy}>
            <select id={`${id}-restart_policy`} data-field="restart_policy" className={inputClass} value={f.restart_policy} onChange={(e) => set('restart_policy', e.target.value as RestartPolicy)}>
              <option value="on-failure">on-failure: restart after a crash</option>
              <option value="always">always: restart after any exit</option>
              <option value="never">never</option>
            </select>
          </Field>
          {f.transport === 'http' && (
            <Field label="Health endpoint" htmlFor={`${id}-health_endpoint`} error={errors.health_endpoint} hint={remote ? "GET path (relative to the url's origin) or URL; status < 500 is healthy." : 'GET path (relative to the port) or URL; status < 500 is healthy.'}>
              {input('health_endpoint', { placeholder: '/health', mono: true })}
            </Field>
          )}
          {showAdvanced && (
            <div id={`${id}-advanced`} className="contents">
              <Section>Health checks</Section>
              <Num label="Check interval (s)" k="health.interval_secs" v={f.health.interval_secs} on={(v) => setHealth('interval_secs', v)} errors={errors} ph="30" />
              <Num label="Check timeout (s)" k="health.timeout_secs" v={f.health.timeout_secs} on={(v) => setHealth('timeout_secs', v)} errors={errors} ph="5" />
              <Num label="Failures before unhealthy" k="health.failure_threshold" v={f.health.failure_threshold} on={(v) => setHealth('failure_threshold', v)} errors={errors} ph="3" />
              <Num label="Start period (s)" k="health.start_period_secs" v={f.health.start_period_secs} on={(v) => setHealth('start_period_secs', v)} errors={errors} ph="0" />
              <Num
                label="Restart after N unhealthy checks"
                k="health.restart_after_failures"
                v={f.health.restart_after_failures}
                on={(v) => setHealth('restart_after_failures', v)}
                errors={errors}
                ph="never"
              />
              <Section>Timing</Section>
              <Num
                label={remote ? 'Connect timeout (s)' : 'Start timeout (s)'}
                k="start_timeout_secs"
                v={f.start_timeout_secs}
                on={(v) => set('start_timeout_secs', v)}
                errors={errors}
                ph="120"
              />
              {!remote && <Num label="Stop grace period (s)" k="stop_grace_secs" v={f.stop_grace_secs} on={(v) => set('stop_grace_secs', v)} errors={errors} ph="10" />}
              {container && (
                <>
                  <Num label="Memory limit (MB)" k="memory_mb" v={f.memory_mb} on={(v) => set('memory_mb', v)} errors={errors} ph="no limit" />
                  <Num label="CPUs" k="cpus" v={f.cpus} on={(v) => set('cpus', v)} errors={errors} ph="no limit" />
                </>
              )}
              <Section hint="After a quick failure the next start waits initial × multiplier^n seconds, at most the maximum; a run that lasts the stable time resets it. Empty fields use the daemon's defaults.">
                Restart backoff
              </Section>
              <Num label="First delay (s)" k="backoff.initial_secs" v={f.backoff.initial_secs} on={(v) => setBackoff('initial_secs', v)} errors={errors} ph="1" />
              <Num label="Multiplier" k="backoff.multiplier" v={f.backoff.multiplier} on={(v) => setBackoff('multiplier', v)} errors={errors} ph="2" />
              <Num label="Maximum delay (s)" k="backoff.max_secs" v={f.backoff.max_secs} on={(v) => setBackoff('max_secs', v)} errors={errors} ph="60" />
              <Num label="Stable after (s)" k="backoff.stable_secs" v={f.backoff.stable_secs} on={(v) => setBackoff('stable_secs', v)} errors={errors} ph="30" />
              <Num
                label="Quick failures before failed"
                k="backoff.max_failures"
                v={f.backoff.max_failures}
                on={(v) => setBackoff('max_failures', v)}
                errors={errors}
                ph="5"
              />
            </div>
          )}
        </div>
      </Card>

      <Card title="Gateway">
        <div className="grid gap-4 sm:grid-cols-2">
          <label className="flex items-center gap-2 text-sm text-slate-700 dark:text-slate-200">
            <input type="checkbox" data-field="exposed" checked={f.exposed} onChange={(e) => set('exposed', e.target.checked)} className="h-4 w-4 rounded accent-indigo-600" />
            Exposed to MCP clients (at /mcp/{f.name.trim() || 'NAME'} and /mcp)
          </label>
          <label className="flex items-center gap-2 text-sm text-slate-700 dark:text-slate-200">
            <input
              type="checkbox"
              data-field="start_on_demand"
              checked={f.start_on_demand}
              onChange={(e) => set('start_on_demand', e.target.checked)}
              className="h-4 w-4 rounded accent-indigo-600"
            />
            Start on demand (a client's call starts it when stopped)
          </label>
          <Field label="Isolation" htmlFor={`${id}-isolation`} error={errors.isolation} hint="Per session: each client session gets a server of its own (a process or container), for servers that keep per-user state.">
            <select id={`${id}-isolation`} data-field="isolation" className={inputClass} value={f.isolation} onChange={(e) => set('isolation', e.target.value as Isolation)}>
              <option value="shared">shared: every client uses one server</option>
              <option value="per-session">per-session: one server per client session</option>
            </select>
          </Field>
          <div className="hidden sm:block" />
          <Patterns
            label="Allowed tools"
            k="allow_tools"
            v={f.allow_tools}
            on={(v) => set('allow_tools', v)}
            errors={errors}
            ph="get_*"
            hint="Patterns, one per line or comma separated; * matches anything. Empty: every tool."
          />
          <Patterns
            label="Denied tools"
            k="deny_tools"
            v={f.deny_tools}
            on={(v) => set('deny_tools', v)}
            errors={errors}
            ph="delete_*"
            hint="Hidden from clients even when allowed. The API and this UI still show every tool."
          />
        </div>
      </Card>

      <div className="flex flex-wrap items-center justify-between gap-3">
        {!editing ? (
          <label className="flex items-center gap-2 text-sm text-slate-700 dark:text-slate-200">
            <input type="checkbox" checked={f.start} onChange={(e) => set('start', e.target.checked)} className="h-4 w-4 rounded accent-indigo-600" />
            Start it now
          </label>
        ) : (
          <span />
        )}
        <div className="flex gap-2">
          <Button onClick={() => navigate(editing ? `/servers/${encodeURIComponent(editing.name)}` : '/')}>Cancel</Button>
          <Button type="submit" variant="primary" pending={pending} data-testid="submit-server">
            {editing ? 'Save changes' : 'Add server'}
          </Button>
        </div>
      </div>
    </form>
  );
}

function Section({ children, hint }: { children: ReactNode; hint?: string }) {
  return (
    <div className="sm:col-span-2">
      <h3 className="border-t border-slate-200 pt-3 text-sm font-semibold text-slate-700 dark:border-slate-700 dark:text-slate-200">{children}</h3>
      {hint && <p className="mt-1 text-xs text-slate-500 dark:text-slate-400">{hint}</p>}
    </div>
  );
}

/** The top-level fields the form shows for this type (API errors about others go to the top). */
function shownFields(f: FormState): Set<string> {
  const shared = ['name', 'type', 'url', 'restart_policy', 'health', 'health_endpoint', 'start_timeout_secs', 'backoff', 'isolation', 'allow_tools', 'deny_tools'];
  if (f.type === 'remote') return new Set(shared);
  const local = [...shared, 'command', 'args', 'working_directory', 'env', 'secret_env', 'transport', 'port', 'stop_grace_secs'];
  return new Set(f.type === 'container' ? [...local, 'image', 'ports', 'memory_mb', 'cpus'] : local);
}

function Num({ label, k, v, on, errors, ph }: { label: string; k: string; v: string; on: (v: string) => void; errors: FormErrors; ph: string }) {
  const id = useId();
  return (
    <Field label={label} htmlFor={id} error={errors[k]}>
      <input id={id} data-field={k} className={inputClass} inputMode="decimal" value={v} placeholder={ph} aria-invalid={!!errors[k]} onChange={(e) => on(e.target.value)} />
    </Field>
  );
}

/** A list of tool name patterns, typed one per line or comma separated. */
function Patterns({ label, k, v, on, errors, ph, hint }: { label: string; k: string; v: string; on: (v: string) => void; errors: FormErrors; ph: string; hint: string }) {
  const id = useId();
  return (
    <Field label={label} htmlFor={id} error={errors[k]} hint={hint}>
      <textarea id={id} data-field={k} rows={3} className={`${inputClass} font-mono`} value={v} placeholder={ph} aria-invalid={!!errors[k]} onChange={(e) => on(e.target.value)} />
    </Field>
  );
}

function PresetPicker({ onApply }: { onApply: (p: Preset, pkg: string) => void }) {
  const [preset, setPreset] = useState<Preset>('npx');
  const [pkg, setPkg] = useState('');
  const cur = PRESETS.find((p) => p.id === preset)!;
  const apply = () => {
    if (pkg.trim()) onApply(preset, pkg);
  };
  return (
    <div className="flex flex-col gap-3">
      <div className="flex flex-wrap gap-2" role="radiogroup" aria-label="Preset">
        {PRESETS.map((p) => (
          <button
            key={p.id}
            type="button"
            role="radio"
            aria-checked={preset === p.id}
            onClick={() => setPreset(p.id)}
            className={`rounded-md px-3 py-1.5 text-left text-sm ring-1 ring-inset focus-visible:outline-2 focus-visible:outline-indigo-500 ${
              preset === p.id
                ? 'bg-indigo-50 text-indigo-800 ring-indigo-400 dark:bg-indigo-950 dark:text-indigo-200 dark:ring-indigo-500'
                : 'text-slate-700 ring-slate-300 hover:bg-slate-50 dark:text-slate-300 dark:ring-slate-600 dark:hover:bg-slate-800'
            }`}
          >
            <div className="font-medium">{p.label}</div>
            <div className="font-mono text-xs opacity-75">{p.hint}</div>
          </button>
        ))}
      </div>
      <div className="flex gap-2">
        <input
          className={`${inputClass} font-mono`}
          aria-label={preset === 'python-m' ? 'Module' : 'Package'}
          placeholder={cur.placeholder}
          value={pkg}
          onChange={(e) => setPkg(e.target.value)}
          onKeyDown={(e) => {
            if (e.key === 'Enter') {
              e.preventDefault();
              apply();
            }
          }}
        />
        <Button onClick={apply} disabled={!pkg.trim()}>
          Fill in
        </Button>
      </div>
      <Hint>
        Fills in the type, command and arguments below; edit them freely. Or skip this and enter any command, e.g. <Kbd>python3</Kbd> with the path of a script.
      </Hint>
    </div>
  );
}

function Hint({ children }: { children: ReactNode }) {
  return <p className="text-xs text-slate-500 dark:text-slate-400">{children}</p>;
}
