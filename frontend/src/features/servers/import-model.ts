// Parsing the `mcpServers` JSON that Claude Desktop, Cursor and others use
// (`{"mcpServers": {"name": {"command", "args", "env"}, "other": {"url"}}}`), VS Code's
// `{"servers": {…}}` (entries with `type`) and its settings form `{"mcp": {"servers": …}}`,
// into create bodies. Pure, so it is unit-tested.
import type { ServerCreate, ServerType } from '@/lib/api';
import { NAME_RE, sanitizeName } from './form-model';

export interface ImportEntry {
  /** The key in the file. */
  key: string;
  /** The server name to create (the key, made valid). */
  name: string;
  body: ServerCreate;
  /** Problems that stop this entry from being created. */
  problems: string[];
  /** Things worth knowing that do not stop it. */
  notes: string[];
}

export interface ImportParse {
  entries: ImportEntry[];
  /** Problems with the document as a whole. */
  error: string | null;
}

type Json = Record<string, unknown>;
const isObj = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

export function typeForCommand(command: string): ServerType {
  const base = command.split('/').pop() ?? command;
  if (/^(npx|node|npm|pnpm|bunx|yarn)$/.test(base)) return 'nodejs';
  if (/^(uvx|uv|python|python3(\.\d+)?|pipx)$/.test(base)) return 'python';
  return 'process';
}

export function parseMcpServers(text: string): ImportParse {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    return { entries: [], error: `Not valid JSON: ${e instanceof Error ? e.message : String(e)}` };
  }
  if (!isObj(doc)) return { entries: [], error: 'Expected a JSON object with an "mcpServers" (or "servers") key.' };
  let map: unknown = doc.mcpServers ?? doc.servers ?? (isObj(doc.mcp) ? doc.mcp.servers : undefined);
  if (map === undefined) {
    // A bare map of servers ({"name": {"command": …}}) is accepted too.
    const values = Object.values(doc);
    if (values.length > 0 && values.every((v) => isObj(v) && ('command' in v || 'url' in v || 'serverUrl' in v))) map = doc;
  }
  if (!isObj(map)) return { entries: [], error: 'No "mcpServers" (or VS Code "servers") object found in this JSON.' };
  const entries = Object.entries(map).map(([key, v]) => entryFrom(key, v));
  if (entries.length === 0) return { entries, error: 'The "mcpServers" object is empty.' };
  const seen = new Map<string, number>();
  for (const e of entries) {
    const n = (seen.get(e.name) ?? 0) + 1;
    seen.set(e.name, n);
    if (n > 1) e.problems.push(`Another entry in this file is also named ${e.name}.`);
  }
  return { entries, error: null };
}

function entryFrom(key: string, v: unknown): ImportEntry {
  const name = NAME_RE.test(key) ? key : sanitizeName(key);
  const problems: string[] = [];
  const notes: string[] = [];
  if (name !== key) notes.push(`Renamed from "${key}" (names use letters, digits, . _ -).`);
  if (!name) problems.push('The key cannot be turned into a valid name.');
  const body: ServerCreate = { name, start: true };
  if (!isObj(v)) {
    problems.push('Expected an object with "command" or "url".');
    return { key, name, body, problems, notes };
  }
  const kind = typeof v.type === 'string' ? v.type : undefined;
  // Claude Desktop / Cursor write `url`, Windsurf `serverUrl`; VS Code adds `type: "http" | "sse"`.
  const url = typeof v.url === 'string' ? v.url.trim() : typeof v.serverUrl === 'string' ? v.serverUrl.trim() : '';
  if (typeof v.command === 'string' && v.command.trim()) {
    body.command = v.command.trim();
    body.type = typeForCommand(body.command);
    if (Array.isArray(v.args)) {
      if (v.args.every((a) => typeof a === 'string' || typeof a === 'number')) body.args = v.args.map(String);
      else problems.push('"args" must be a list of strings.');
    } else if (v.args !== undefined) problems.push('"args" must be a list of strings.');
    if (typeof v.cwd === 'string' && v.cwd) body.working_directory = v.cwd;
    readEnv(v, body, problems, notes);
  } else if (url) {
    // A remote server: only its url (the daemon refuses local fields and sets the transport).
    body.type = 'remote';
    body.url = url;
    if (!/^https?:\/\//i.test(url)) problems.push('"url" must be an http:// or https:// URL.');
    if (kind === 'sse') notes.push('An SSE server: connected over Streamable HTTP (it must answer at this url).');
    if (isObj(v.headers) && Object.keys(v.headers).length) notes.push('Its "headers" are not imported (remote servers take no headers yet).');
    if (isObj(v.env) && Object.keys(v.env).length) notes.push('Its "env" is not imported (a remote server has no process to pass it to).');
  } else if (kind === 'http' || kind === 'sse') {
    problems.push(`A "${kind}" server without a "url".`);
  } else {
    problems.push('Has neither "command" nor "url".');
  }
  if (v.disabled === true) {
    body.start = false;
    notes.push('Disabled in the file: created stopped.');
  }
  return { key, name, body, problems, notes };
}

function readEnv(v: Json, body: ServerCreate, problems: string[], notes: string[]) {
  if (v.env === undefined) return;
  if (!isObj(v.env)) {
    problems.push('"env" must be an object.');
    return;
  }
  const env: Record<string, string> = {};
  for (const [k, val] of Object.entries(v.env)) env[k] = typeof val === 'string' ? val : JSON.stringify(val);
  if (Object.keys(env).length) body.env = env;
  if (Object.values(env).some((x) => /\$\{input:/.test(x))) notes.push('Some env values are VS Code ${input:…} placeholders: set them after importing.');
}
