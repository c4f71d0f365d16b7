// The add/edit form's model, pure so it is unit-tested: state ↔ API bodies, client-side
// validation, and mapping the daemon's validation messages to the field they name.
import type { BackoffSettings, Isolation, RestartPolicy, ServerCreate, ServerPatch, ServerType, ServerView } from '@/lib/api';

export interface KeyValue {
  key: string;
  value: string;
}
export interface SecretRow {
  key: string;
  /** New value; empty keeps the stored one (for an existing secret). */
  value: string;
  /** Already stored on the daemon (only its name is known). */
  existing: boolean;
  remove: boolean;
}

export interface PortRow {
  container_port: string;
  host_port: string;
  host_ip: string;
}

export const HEALTH_FIELDS = ['interval_secs', 'timeout_secs', 'failure_threshold', 'start_period_secs', 'restart_after_failures'] as const;
export type HealthField = (typeof HEALTH_FIELDS)[number];

/** Restart backoff (docs/api.md "Create body"); every field optional, the daemon fills in the rest. */
export const BACKOFF_FIELDS = ['initial_secs', 'multiplier', 'max_secs', 'stable_secs', 'max_failures'] as const satisfies readonly (keyof BackoffSettings)[];
export type BackoffField = (typeof BACKOFF_FIELDS)[number];

export interface FormState {
  name: string;
  type: ServerType;
  transport: 'stdio' | 'http';
  command: string;
  args: string[];
  image: string;
  url: string;
  port: string;
  health_endpoint: string;
  working_directory: string;
  env: KeyValue[];
  secrets: SecretRow[];
  restart_policy: RestartPolicy;
  health: Record<HealthField, string>;
  backoff: Record<BackoffField, string>;
  start_timeout_secs: string;
  stop_grace_secs: string;
  memory_mb: string;
  cpus: string;
  /** Container: ports published on the host. */
  ports: PortRow[];
  /** Gateway: reachable at /mcp/{name} and /mcp. */
  exposed: boolean;
  /** Gateway: a client's call starts the stopped server. */
  start_on_demand: boolean;
  isolation: Isolation;
  /** Gateway: tool name patterns, comma or line separated (empty: every tool). */
  allow_tools: string;
  deny_tools: string;
  start: boolean;
}

export type FormErrors = Partial<Record<string, string>>;

export const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
export const ENV_KEY_RE = /^[A-Za-z_][A-Za-z0-9_]*$/;

export function emptyForm(): FormState {
  return {
    name: '',
    type: 'process',
    transport: 'stdio',
    command: '',
    args: [],
    image: '',
    url: '',
    port: '',
    health_endpoint: '',
    working_directory: '',
    env: [],
    secrets: [],
    restart_policy: 'on-failure',
    health: { interval_secs: '', timeout_secs: '', failure_threshold: '', start_period_secs: '', restart_after_failures: '' },
    backoff: { initial_secs: '', multiplier: '', max_secs: '', stable_secs: '', max_failures: '' },
    start_timeout_secs: '',
    stop_grace_secs: '',
    memory_mb: '',
    cpus: '',
    ports: [],
    exposed: true,
    start_on_demand: false,
    isolation: 'shared',
    allow_tools: '',
    deny_tools: '',
    start: true,
  };
}

const str = (v: number | null | undefined) => (v === null || v === undefined ? '' : String(v));

export function fromServer(s: ServerView): FormState {
  return {
    name: s.name,
    type: s.type,
    transport: s.transport,
    command: s.command ?? '',
    args: [...s.args],
    image: s.image ?? '',
    url: s.url ?? '',
    port: str(s.port),
    health_endpoint: s.health_endpoint ?? '',
    working_directory: s.working_directory ?? '',
    env: Object.entries(s.env).map(([key, value]) => ({ key, value })),
    secrets: s.secret_env.map((key) => ({ key, value: '', existing: true, remove: false })),
    restart_policy: s.restart_policy,
    health: {
      interval_secs: str(s.health.interval_secs),
      timeout_secs: str(s.health.timeout_secs),
      failure_threshold: str(s.health.failure_threshold),
      start_period_secs: str(s.health.start_period_secs),
      restart_after_failures: str(s.health.restart_after_failures),
    },
    backoff: {
      initial_secs: str(s.backoff.initial_secs),
      multiplier: str(s.backoff.multiplier),
      max_secs: str(s.backoff.max_secs),
      stable_secs: str(s.backoff.stable_secs),
      max_failures: str(s.backoff.max_failures),
    },
    start_timeout_secs: str(s.start_timeout_secs),
    stop_grace_secs: str(s.stop_grace_secs),
    memory_mb: str(s.memory_mb),
    cpus: str(s.cpus),
    ports: s.ports.map((p) => ({ container_port: String(p.container_port), host_port: str(p.host_port), host_ip: p.host_ip ?? '' })),
    // A daemon older than these options sends none of them: its defaults.
    exposed: s.exposed ?? true,
    start_on_demand: s.start_on_demand ?? false,
    isolation: s.isolation ?? 'shared',
    allow_tools: (s.tools?.allow ?? []).join('\n'),
    deny_tools: (s.tools?.deny ?? []).join('\n'),
    start: false,
  };
}

/** Tool name patterns typed one per line or separated by commas. */
export function toolPatterns(text: string): string[] {
  return text
    .split(/[,\n]/)
    .map((p) => p.trim())
    .filter(Boolean);
}

/** The gateway options, all of them (a patch: what the form shows is what is stored). */
function gatewayBody(f: FormState) {
  return {
    exposed: f.exposed,
    start_on_demand: f.start_on_demand,
    isolation: f.isolation,
    tools: { allow: toolPatterns(f.allow_tools), deny: toolPatterns(f.deny_tools) },
  };
}

/** The gateway options that differ from the defaults (a create body stays minimal). */
function gatewayCreate(f: FormState): Partial<ServerCreate> {
  const g = gatewayBody(f);
  const b: Partial<ServerCreate> = {};
  if (!g.exposed) b.exposed = false;
  if (g.start_on_demand) b.start_on_demand = true;
  if (g.isolation !== 'shared') b.isolation = g.isolation;
  if (g.tools.allow.length || g.tools.deny.length) b.tools = g.tools;
  return b;
}

export type Preset = 'npx' | 'uvx' | 'python-m';
export const PRESETS: { id: Preset; label: string; type: ServerType; hint: string; placeholder: string }[] = [
  { id: 'npx', label: 'Node.js package', type: 'nodejs', hint: 'npx -y PACKAGE', placeholder: '@modelcontextprotocol/server-everything' },
  { id: 'uvx', label: 'Python package', type: 'python', hint: 'uvx PACKAGE', placeholder: 'mcp-server-time' },
  { id: 'python-m', label: 'Python module', type: 'python', hint: 'python -m MODULE', placeholder: 'mcp_server_fetch' },
];

/** Fills type, command and arguments from a preset and a package (or module) name. */
export function applyPreset(f: FormState, preset: Preset, pkg: string): FormState {
  const p = pkg.trim();
  const base = { ...f, transport: 'stdio' as const };
  const name = f.name || suggestName(p);
  switch (preset) {
    case 'npx':
      return { ...base, name, type: 'nodejs', command: 'npx', args: ['-y', p] };
    case 'uvx':
      return { ...base, name, type: 'python', command: 'uvx', args: [p] };
    case 'python-m':
      return { ...base, name, type: 'python', command: 'python3', args: ['-m', p] };
  }
}

/** A valid server name derived from a package name: `@scope/server-x` → `server-x`. */
export function suggestName(s: string): string {
  const last = s.split('/').pop() ?? s;
  return sanitizeName(last.replace(/@[^@]*$/, '') || s);
}

export function sanitizeName(s: string): string {
  const n = s
    .replace(/[^A-Za-z0-9._-]+/g, '-')
    .replace(/^[^A-Za-z0-9]+/, '')
    .slice(0, 64);
  return n;
}

function num(v: string): number | undefined {
  return v.trim() === '' ? undefined : Number(v);
}

const isHttpUrl = (u: string) => {
  try {
    const x = new URL(u);
    return x.protocol === 'http:' || x.protocol === 'https:';
  } catch {
    return false;
  }
};

export function validate(f: FormState): FormErrors {
  const e: FormErrors = {};
  if (!f.name.trim()) e.name = 'A name is required.';
  else if (f.name.length > 64) e.name = 'At most 64 characters.';
  else if (!NAME_RE.test(f.name)) e.name = "Use letters, digits, '.', '_' or '-', starting with a letter or digit.";

  const remote = f.type === 'remote';
  if (f.type === 'container') {
    if (!f.image.trim()) e.image = 'An image is required for a container server (e.g. mcp/fetch).';
  } else if (remote) {
    if (!f.url.trim()) e.url = 'A URL is required for a remote server.';
  } else if (!f.command.trim()) {
    e.command = 'A command is required (e.g. npx, uvx, python3 or a path).';
  }
  if (f.url.trim() && !isHttpUrl(f.url.trim())) e.url = 'Use an http:// or https:// URL.';
  if (!remote) validateLocal(f, e);
  for (const k of ['allow_tools', 'deny_tools'] as const) {
    const long = toolPatterns(f[k]).find((p) => p.length > 256);
    if (long) e[k] = `A pattern is at most 256 characters (${long.slice(0, 20)}…).`;
    else if (toolPatterns(f[k]).length > 256) e[k] = 'At most 256 patterns.';
  }

  const positive = (v: string, key: string, opts: { integer?: boolean; min?: number; max?: number } = {}) => {
    if (v.trim() === '') return;
    const n = Number(v);
    const min = opts.min ?? 0;
    if (!Number.isFinite(n) || n < min || (opts.integer && !Number.isInteger(n)))
      e[key] = opts.integer ? `A whole number, at least ${min}.` : `A number, at least ${min}.`;
    else if (opts.max !== undefined && n > opts.max) e[key] = `At most ${opts.max}.`;
  };
  positive(f.health.interval_secs, 'health.interval_secs', { min: 0.1 });
  positive(f.health.timeout_secs, 'health.timeout_secs', { min: 0.1 });
  positive(f.health.failure_threshold, 'health.failure_threshold', { integer: true, min: 1 });
  positive(f.health.start_period_secs, 'health.start_period_secs');
  positive(f.health.restart_after_failures, 'health.restart_after_failures', { integer: true, min: 1 });
  positive(f.start_timeout_secs, 'start_timeout_secs', { min: 1 });
  if (!remote) positive(f.stop_grace_secs, 'stop_grace_secs');
  if (f.type === 'container') {
    positive(f.memory_mb, 'memory_mb', { integer: true, min: 4 });
    positive(f.cpus, 'cpus', { min: 0.01 });
  }
  const DAY = 86_400;
  positive(f.backoff.initial_secs, 'backoff.initial_secs', { max: DAY });
  positive(f.backoff.multiplier, 'backoff.multiplier', { min: 1 });
  positive(f.backoff.max_secs, 'backoff.max_secs', { max: DAY });
  positive(f.backoff.stable_secs, 'backoff.stable_secs', { max: DAY });
  positive(f.backoff.max_failures, 'backoff.max_failures', { integer: true, min: 1 });
  const initial = num(f.backoff.initial_secs);
  const max = num(f.backoff.max_secs);
  if (!e['backoff.max_secs'] && !e['backoff.initial_secs'] && max !== undefined && max < (initial ?? 1))
    e['backoff.max_secs'] = `At least the first delay (${initial ?? '1, the default'}).`;
  return e;
}

/** Fields of a process or container server (a remote server has none of them). */
function validateLocal(f: FormState, e: FormErrors) {
  if (f.transport === 'http' && !f.url.trim() && !f.port.trim()) e.port = 'An HTTP server needs a port or a URL.';
  if (f.port.trim()) {
    const p = Number(f.port);
    if (!Number.isInteger(p) || p < 1 || p > 65535) e.port = 'A port is a whole number from 1 to 65535.';
  }
  if (f.working_directory.trim() && !f.working_directory.trim().startsWith('/') && f.type !== 'container')
    e.working_directory = 'Use an absolute path (starting with /).';

  const seen = new Set<string>();
  f.env.forEach((row, i) => {
    if (!row.key && !row.value) return;
    if (!ENV_KEY_RE.test(row.key)) e[`env.${i}`] = 'Names use letters, digits and _, not starting with a digit.';
    else if (seen.has(row.key)) e[`env.${i}`] = `${row.key} is set twice.`;
    seen.add(row.key);
  });
  f.secrets.forEach((row, i) => {
    if (!row.key && !row.value && !row.existing) return;
    if (!ENV_KEY_RE.test(row.key)) e[`secret.${i}`] = 'Names use letters, digits and _, not starting with a digit.';
    else if (seen.has(row.key)) e[`secret.${i}`] = `${row.key} is set twice.`;
    else if (!row.existing && !row.value) e[`secret.${i}`] = 'Enter a value (it is stored write-only).';
    seen.add(row.key);
  });

  if (f.type === 'container') {
    const portOk = (v: string) => Number.isInteger(Number(v)) && Number(v) >= 1 && Number(v) <= 65535;
    f.ports.forEach((p, i) => {
      if (!p.container_port && !p.host_port && !p.host_ip) return;
      if (!portOk(p.container_port)) e[`ports.${i}`] = 'The container port is a whole number from 1 to 65535.';
      else if (p.host_port && !portOk(p.host_port)) e[`ports.${i}`] = 'The host port is a whole number from 1 to 65535.';
    });
  }
}

function portSpecs(rows: PortRow[]) {
  return rows
    .filter((p) => p.container_port.trim())
    .map((p) => ({
      container_port: Number(p.container_port),
      host_port: p.host_port.trim() ? Number(p.host_port) : null,
      host_ip: p.host_ip.trim() || null,
    }));
}

function envMap(rows: KeyValue[]): Record<string, string> {
  const m: Record<string, string> = {};
  for (const r of rows) if (r.key) m[r.key] = r.value;
  return m;
}

function healthBody(f: FormState) {
  const h: Record<string, number> = {};
  for (const k of HEALTH_FIELDS) {
    const v = num(f.health[k]);
    if (v !== undefined) h[k] = v;
  }
  return h;
}

/** The backoff fields that are set; undefined when none is (the daemon's defaults apply). */
function backoffBody(f: FormState): Partial<BackoffSettings> | undefined {
  const b: Partial<BackoffSettings> = {};
  for (const k of BACKOFF_FIELDS) {
    const v = num(f.backoff[k]);
    if (v !== undefined) b[k] = v;
  }
  return Object.keys(b).length ? b : undefined;
}

const opt = (v: string) => (v.trim() === '' ? undefined : v.trim());

/**
 * A remote server's create body: `{name, type: "remote", url, health_endpoint, health,
 * restart_policy, start_timeout_secs, backoff, start}` and nothing a process or container
 * would take (the daemon refuses those with 422; it sets the transport to http itself).
 */
function remoteCreateBody(f: FormState): ServerCreate {
  const body: ServerCreate = { name: f.name.trim(), type: 'remote', url: f.url.trim(), restart_policy: f.restart_policy, start: f.start, ...gatewayCreate(f) };
  if (opt(f.health_endpoint)) body.health_endpoint = opt(f.health_endpoint);
  const h = healthBody(f);
  if (Object.keys(h).length) body.health = h;
  if (num(f.start_timeout_secs) !== undefined) body.start_timeout_secs = num(f.start_timeout_secs);
  const b = backoffBody(f);
  if (b) body.backoff = b;
  return body;
}

export function toCreateBody(f: FormState): ServerCreate {
  if (f.type === 'remote') return remoteCreateBody(f);
  const container = f.type === 'container';
  const body: ServerCreate = {
    name: f.name.trim(),
    type: f.type,
    transport: f.transport,
    restart_policy: f.restart_policy,
    start: f.start,
    ...gatewayCreate(f),
  };
  {
    if (opt(f.command)) body.command = opt(f.command);
    const args = f.args.filter((a, i) => a !== '' || i < f.args.length - 1);
    if (args.length) body.args = args;
    if (opt(f.working_directory)) body.working_directory = opt(f.working_directory);
    const env = envMap(f.env);
    if (Object.keys(env).length) body.env = env;
    const secrets: Record<string, string> = {};
    for (const s of f.secrets) if (s.key && s.value && !s.remove) secrets[s.key] = s.value;
    if (Object.keys(secrets).length) body.secret_env = secrets;
  }
  if (container && opt(f.image)) body.image = opt(f.image);
  if (f.transport === 'http') {
    if (opt(f.url)) body.url = opt(f.url);
    if (num(f.port) !== undefined) body.port = num(f.port);
    if (opt(f.health_endpoint)) body.health_endpoint = opt(f.health_endpoint);
  }
  const h = healthBody(f);
  if (Object.keys(h).length) body.health = h;
  if (num(f.start_timeout_secs) !== undefined) body.start_timeout_secs = num(f.start_timeout_secs);
  if (num(f.stop_grace_secs) !== undefined) body.stop_grace_secs = num(f.stop_grace_secs);
  const b = backoffBody(f);
  if (b) body.backoff = b;
  if (container) {
    if (num(f.memory_mb) !== undefined) body.memory_mb = num(f.memory_mb);
    if (num(f.cpus) !== undefined) body.cpus = num(f.cpus);
    const ports = portSpecs(f.ports);
    if (ports.length) body.ports = ports;
  }
  return body;
}

/**
 * A PATCH body: every field the form shows (null clears), secrets merged by name. Fields the
 * new type does not take are cleared when the server had them (a process turned remote loses
 * its command, arguments, environment and secrets; a container turned process its image).
 */
export function toPatchBody(f: FormState): ServerPatch {
  const nul = (v: string) => (v.trim() === '' ? null : v.trim());
  const n = (v: string) => (v.trim() === '' ? null : Number(v));
  const container = f.type === 'container';
  const remote = f.type === 'remote';
  const secret_env: Record<string, string | null> = {};
  for (const s of f.secrets) {
    if (!s.key) continue;
    if (s.remove || remote) {
      if (s.existing) secret_env[s.key] = null;
    } else if (s.value) secret_env[s.key] = s.value;
  }
  const body: ServerPatch = {
    name: f.name.trim(),
    type: f.type,
    restart_policy: f.restart_policy,
    health: healthBody(f),
    // Cleared fields fall back to the daemon's defaults.
    backoff: backoffBody(f) ?? {},
    ...gatewayBody(f),
  };
  if (Object.keys(secret_env).length) body.secret_env = secret_env;
  if (f.start_timeout_secs.trim()) body.start_timeout_secs = Number(f.start_timeout_secs);
  if (remote) {
    body.url = nul(f.url);
    body.health_endpoint = nul(f.health_endpoint);
    if (f.command.trim()) body.command = null;
    if (f.args.length) body.args = [];
    if (f.working_directory.trim()) body.working_directory = null;
    if (f.env.length) body.env = {};
    if (f.port.trim()) body.port = null;
  } else {
    const http = f.transport === 'http';
    Object.assign(body, {
      transport: f.transport,
      command: nul(f.command),
      args: f.args.filter((a, i) => a !== '' || i < f.args.length - 1),
      working_directory: nul(f.working_directory),
      env: envMap(f.env),
      url: http ? nul(f.url) : null,
      port: http ? n(f.port) : null,
      health_endpoint: http ? nul(f.health_endpoint) : null,
    } satisfies ServerPatch);
    if (f.stop_grace_secs.trim()) body.stop_grace_secs = Number(f.stop_grace_secs);
  }
  if (container) {
    body.image = nul(f.image);
    body.memory_mb = n(f.memory_mb);
    body.cpus = n(f.cpus);
    body.ports = portSpecs(f.ports);
  } else {
    if (f.image.trim()) body.image = null;
    if (f.memory_mb.trim()) body.memory_mb = null;
    if (f.cpus.trim()) body.cpus = null;
    if (f.ports.length) body.ports = [];
  }
  return body;
}

/** Form fields the daemon's messages can name, most specific first. */
const API_FIELDS = [
  ...HEALTH_FIELDS.map((h) => `health.${h}`),
  ...BACKOFF_FIELDS.map((b) => `backoff.${b}`),
  'working_directory',
  'health_endpoint',
  'start_timeout_secs',
  'stop_grace_secs',
  'secret_env',
  'restart_policy',
  'memory_mb',
  'transport',
  'ports',
  'command',
  'image',
  'cpus',
  'name',
  'args',
  'env',
  'url',
  'port',
];

/**
 * The form field a daemon validation message is about (the field it names first), or null
 * when it names none: "command is required for type 'process'" → `command`.
 */
export function fieldForApiError(message: string): string | null {
  if (/^invalid body/i.test(message)) return null;
  if (/named .* already exists/i.test(message)) return 'name';
  if (/^tools\.allow\b/.test(message)) return 'allow_tools';
  if (/^tools\.deny\b/.test(message)) return 'deny_tools';
  let best: { field: string; at: number } | null = null;
  for (const field of API_FIELDS) {
    const re = new RegExp(`(^|[^A-Za-z0-9_.])${field.replace('.', '\\.')}(?![A-Za-z0-9_])`, 'i');
    const m = re.exec(message);
    if (!m) continue;
    const at = m.index + m[1]!.length;
    if (!best || at < best.at) best = { field, at };
  }
  if (best?.field === 'transport' && /url or a port/.test(message)) return 'port';
  if (best?.field === 'health_endpoint') return 'health_endpoint';
  return best?.field ?? null;
}
