// Overview: what runs, its process, its run history, and what the MCP server says it offers.
import { useState, type ReactNode } from 'react';
import { Button, Card, ErrorBox, inputClass, Kbd, Loading } from '@/components/ui';
import { ApiError, errorMessage, type McpItem, type ServerView } from '@/lib/api';
import { dateTime, exitText, since } from '@/lib/format';
import { useNow } from '@/lib/use-now';
import { callTool, mcpAvailable, useMcpInfo } from '../api';
import { commandLine } from './command-line';

export function OverviewTab({ server: s }: { server: ServerView }) {
  const now = useNow();
  const running = s.status === 'running' || s.status === 'starting' || s.status === 'stopping';
  return (
    <div className="flex flex-col gap-4">
      <div className="grid gap-4 lg:grid-cols-2">
        <Card title="Definition">
          <dl className="grid grid-cols-[max-content_1fr] gap-x-4 gap-y-2 text-sm">
            <Row k="Type">
              {s.type} · {s.transport}
            </Row>
            {s.image && <Row k="Image">{<Kbd>{s.image}</Kbd>}</Row>}
            <Row k={s.type === 'remote' ? 'URL' : 'Command'}>
              <code className="font-mono text-xs break-all" data-testid="command-line">
                {commandLine(s) || '–'}
              </code>
            </Row>
            {s.working_directory && <Row k="Directory">{<Kbd>{s.working_directory}</Kbd>}</Row>}
            {(s.port !== null && s.port !== undefined) && <Row k="Port">{s.port}</Row>}
            {s.health_endpoint && <Row k="Health endpoint">{<Kbd>{s.health_endpoint}</Kbd>}</Row>}
            {s.type !== 'remote' && <Row k="Environment">
              {Object.keys(s.env).length === 0 && s.secret_env.length === 0 ? (
                <span className="text-slate-400">none</span>
              ) : (
                <div className="flex flex-wrap gap-1">
                  {Object.keys(s.env).map((k) => (
                    <Kbd key={k}>{k}</Kbd>
                  ))}
                  {s.secret_env.map((k) => (
                    <Kbd key={k}>🔒 {k}</Kbd>
                  ))}
                </div>
              )}
            </Row>}
            <Row k="Restart policy">{s.restart_policy}</Row>
          </dl>
        </Card>
        <Card title="Run">
          <dl className="grid grid-cols-[max-content_1fr] gap-x-4 gap-y-2 text-sm">
            <Row k="Status">
              {s.status} for {since(s.status_since, now)} <span className="text-slate-400">(since {dateTime(s.status_since)})</span>
            </Row>
            <Row k="Desired">{s.desired_state}</Row>
            {s.type === 'remote' ? (
              <Row k="Session">{running ? 'connected' : <span className="text-slate-400">not connected</span>}</Row>
            ) : s.container_id ? (
              <Row k="Container">
                <Kbd>{s.container_id.slice(0, 12)}</Kbd>
              </Row>
            ) : (
              <Row k="PID">{s.process_id ? <span data-testid="pid">{s.process_id}</span> : <span className="text-slate-400">{running ? '–' : 'not running'}</span>}</Row>
            )}
            <Row k="Run">#{s.generation}</Row>
            {s.isolation === 'per-session' && (
              <Row k="Session instances">
                <span data-testid="session-instances">{s.session_instances}</span>{' '}
                <span className="text-slate-400">(one process per gateway session)</span>
              </Row>
            )}
            <Row k="Automatic restarts">{s.restart_count}</Row>
            {s.next_start_at && <Row k="Next start">{dateTime(s.next_start_at)}</Row>}
            <Row k="Last exit">
              {s.last_exit ? (
                <>
                  {exitText(s.last_exit)} <span className="text-slate-400">({dateTime(s.last_exit.at)})</span>
                </>
              ) : (
                <span className="text-slate-400">–</span>
              )}
            </Row>
            {s.last_error && (
              <Row k="Last error">
                <span className="text-red-700 dark:text-red-400" data-testid="last-error">
                  {s.last_error}
                </span>
              </Row>
            )}
          </dl>
        </Card>
      </div>
      <McpCard server={s} />
    </div>
  );
}

function Row({ k, children }: { k: string; children: ReactNode }) {
  return (
    <>
      <dt className="text-slate-500 dark:text-slate-400">{k}</dt>
      <dd className="min-w-0 text-slate-800 dark:text-slate-200">{children}</dd>
    </>
  );
}

function McpCard({ server }: { server: ServerView }) {
  const q = useMcpInfo(server);
  let body: ReactNode;
  if (q.isPending && !mcpAvailable(server))
    body = (
      <p className="text-sm text-slate-500 dark:text-slate-400">
        {server.status === 'starting' || server.status === 'stopping'
          ? `Waiting for the server (${server.status})…`
          : 'Nothing recorded yet: start the server; its tools, resources and prompts are read at the MCP handshake.'}
      </p>
    );
  else if (q.isPending) body = <Loading what="MCP server info" />;
  else if (q.isError) {
    const e = q.error;
    body =
      e instanceof ApiError && (e.status === 404 || e.status === 409) ? (
        <p className="text-sm text-slate-500 dark:text-slate-400">No MCP information yet: start the server; what it offers is recorded at its first handshake.</p>
      ) : (
        <ErrorBox title="Could not read the MCP server info" message={errorMessage(e)} />
      );
  } else {
    const m = q.data;
    // JSON boundary: the schema types serverInfo, detail and tool results as free-form objects.
    const info = m.server_info as { name?: string; version?: string; title?: string };
    body = (
      <div className="flex flex-col gap-4">
        <div className="flex flex-wrap gap-x-6 gap-y-1 text-sm">
          <span>
            <span className="text-slate-500 dark:text-slate-400">Server </span>
            <strong>{info.title ?? info.name ?? '?'}</strong> {info.version && <span className="text-slate-500">v{info.version}</span>}
          </span>
          <span>
            <span className="text-slate-500 dark:text-slate-400">Protocol </span>
            {m.protocol_version ?? '?'}
          </span>
          <span className="text-slate-500 dark:text-slate-400">
            {m.live ? 'live' : `recorded ${dateTime(m.recorded_at)}`}
          </span>
        </div>
        {m.instructions && <p className="rounded bg-slate-50 p-2 text-sm text-slate-700 dark:bg-slate-800 dark:text-slate-300">{m.instructions}</p>}
        <ItemList title="Tools" items={m.tools} schemaKey="inputSchema" server={server} />
        <ItemList title="Resources" items={m.resources} />
        <ItemList title="Prompts" items={m.prompts} />
      </div>
    );
  }
  return <Card title="MCP">{body}</Card>;
}

function ItemList({ title, items, schemaKey, server }: { title: string; items: McpItem[]; schemaKey?: string; server?: ServerView }) {
  return (
    <div>
      <h3 className="mb-1.5 text-xs font-semibold tracking-wide text-slate-500 uppercase dark:text-slate-400">
        {title} <span className="font-normal">({items.length})</span>
      </h3>
      {items.length === 0 ? (
        <p className="text-sm text-slate-400">none</p>
      ) : (
        <ul className="divide-y divide-slate-100 rounded-md border border-slate-200 dark:divide-slate-800 dark:border-slate-700" data-testid={`mcp-${title.toLowerCase()}`}>
          {items.map((it) => (
            <Item key={it.name} item={it} schemaKey={schemaKey} server={server} />
          ))}
        </ul>
      )}
    </div>
  );
}

function Item({ item, schemaKey, server }: { item: McpItem; schemaKey?: string; server?: ServerView }) {
  const [open, setOpen] = useState(false);
  const detail = item.detail as Record<string, unknown>; // JSON boundary (free-form object)
  const shown = schemaKey && schemaKey in detail ? detail[schemaKey] : detail;
  const hasDetail = shown !== null && shown !== undefined && (typeof shown !== 'object' || Object.keys(shown).length > 0);
  return (
    <li>
      <button
        type="button"
        onClick={() => setOpen((o) => !o)}
        aria-expanded={open}
        disabled={!hasDetail}
        className="flex w-full items-start gap-2 px-3 py-2 text-left hover:bg-slate-50 focus-visible:outline-2 focus-visible:outline-indigo-500 disabled:cursor-default dark:hover:bg-slate-800/60"
      >
        <span className={`mt-0.5 w-3 text-xs text-slate-400 transition-transform ${open ? 'rotate-90' : ''}`} aria-hidden>
          {hasDetail ? '▶' : ''}
        </span>
        <span className="min-w-0">
          <span className="font-mono text-sm font-medium text-slate-800 dark:text-slate-100">{item.name}</span>
          {item.title && <span className="ml-2 text-sm text-slate-500">{item.title}</span>}
          {item.description && <span className="block text-sm text-slate-600 dark:text-slate-400">{item.description}</span>}
        </span>
      </button>
      {open && hasDetail && (
        <div className="mx-3 mb-3 grid gap-3 lg:grid-cols-2">
          <div>
            {server && <div className="mb-1 text-xs font-medium text-slate-500">Input schema</div>}
            <pre className="max-h-80 overflow-auto rounded bg-slate-50 p-2 font-mono text-xs text-slate-700 dark:bg-slate-950 dark:text-slate-300">
              {JSON.stringify(shown, null, 2)}
            </pre>
          </div>
          {server && <ToolCall server={server} tool={item.name} schema={shown} />}
        </div>
      )}
    </li>
  );
}

/** A skeleton of the arguments from an input schema: each property with an empty value. */
function skeleton(schema: unknown): string {
  const props = (schema as { properties?: Record<string, { type?: string }> } | null)?.properties ?? {};
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(props)) out[k] = v.type === 'number' || v.type === 'integer' ? 0 : v.type === 'boolean' ? false : '';
  return JSON.stringify(out, null, 2);
}

function ToolCall({ server, tool, schema }: { server: ServerView; tool: string; schema: unknown }) {
  const [args, setArgs] = useState(() => skeleton(schema));
  const [result, setResult] = useState<{ ok: boolean; text: string } | null>(null);
  const [pending, setPending] = useState(false);
  const running = server.status === 'running';
  const call = () => {
    let parsed: unknown;
    try {
      parsed = JSON.parse(args || '{}');
    } catch (e) {
      setResult({ ok: false, text: `The arguments are not valid JSON: ${errorMessage(e)}` });
      return;
    }
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
      setResult({ ok: false, text: 'The arguments must be a JSON object.' });
      return;
    }
    setPending(true);
    callTool(server.id, tool, parsed as Record<string, unknown>)
      .then((r) => {
        // JSON boundary: an MCP CallToolResult.
        const res = r as { content?: { type: string; text?: string }[]; isError?: boolean };
        const texts = (res.content ?? []).map((c) => (c.type === 'text' ? (c.text ?? '') : `[${c.type}]`));
        setResult({ ok: !res.isError, text: texts.length ? texts.join('\n') : JSON.stringify(r, null, 2) });
      })
      .catch((e: unknown) => setResult({ ok: false, text: errorMessage(e) }))
      .finally(() => setPending(false));
  };
  return (
    <div className="flex flex-col gap-2">
      <div className="text-xs font-medium text-slate-500">Try it (arguments as JSON)</div>
      <textarea
        className={`${inputClass} h-28 font-mono text-xs`}
        value={args}
        onChange={(e) => setArgs(e.target.value)}
        aria-label={`Arguments for ${tool}`}
        spellCheck={false}
        onKeyDown={(e) => {
          if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) call();
        }}
      />
      <div className="flex items-center gap-2">
        <Button size="sm" variant="primary" onClick={call} pending={pending} disabled={!running} title={running ? 'Ctrl+Enter' : 'Start the server to call its tools'}>
          Call {tool}
        </Button>
        {!running && <span className="text-xs text-slate-500">Start the server to call its tools.</span>}
      </div>
      {result && (
        <pre
          role="status"
          className={`max-h-60 overflow-auto rounded p-2 font-mono text-xs whitespace-pre-wrap ${
            result.ok ? 'bg-emerald-50 text-emerald-900 dark:bg-emerald-950/50 dark:text-emerald-200' : 'bg-red-50 text-red-800 dark:bg-red-950/50 dark:text-red-200'
          }`}
        >
          {result.text}
        </pre>
      )}
    </div>
  );
}
