// Import servers from the `mcpServers` JSON of Claude Desktop, Cursor or VS Code: paste or
// upload, preview (with conflicts), create, per-server results.
import { useMemo, useState, type ChangeEvent } from 'react';
import { Link } from '@/app/router';
import { Button, Card, ErrorBox, inputClass, Kbd } from '@/components/ui';
import { errorMessage } from '@/lib/api';
import { createServer, useServers } from '../api';
import { parseMcpServers, type ImportEntry } from '../import-model';
import { commandLine } from './command-line';
import { linkButton } from './server-list-page';

const EXAMPLE = `{
  "mcpServers": {
    "everything": { "command": "npx", "args": ["-y", "@modelcontextprotocol/server-everything"] },
    "time": { "command": "uvx", "args": ["mcp-server-time"], "env": { "TZ": "UTC" } }
  }
}`;

type Result = { ok: true } | { ok: false; message: string };

export function ImportPage() {
  const servers = useServers();
  const [text, setText] = useState('');
  const [skip, setSkip] = useState<Set<string>>(new Set());
  const [results, setResults] = useState<Record<string, Result>>({});
  const [busy, setBusy] = useState(false);
  const parsed = useMemo(() => (text.trim() ? parseMcpServers(text) : null), [text]);
  const existing = useMemo(() => new Set((servers.data ?? []).map((s) => s.name)), [servers.data]);

  const conflict = (e: ImportEntry) => existing.has(e.name) && !results[e.key]?.ok;
  const importable = (e: ImportEntry) => e.problems.length === 0 && !conflict(e) && !skip.has(e.key) && !results[e.key]?.ok;
  const selected = parsed?.entries.filter(importable) ?? [];

  const onFile = async (ev: ChangeEvent<HTMLInputElement>) => {
    const f = ev.target.files?.[0];
    if (f) {
      setText(await f.text());
      setResults({});
    }
    ev.target.value = '';
  };

  const run = async () => {
    setBusy(true);
    for (const e of selected) {
      try {
        await createServer(e.body);
        setResults((r) => ({ ...r, [e.key]: { ok: true } }));
      } catch (err) {
        setResults((r) => ({ ...r, [e.key]: { ok: false, message: errorMessage(err) } }));
      }
    }
    setBusy(false);
  };
  const done = Object.values(results).filter((r) => r.ok).length;

  return (
    <div className="flex max-w-5xl flex-col gap-4">
      <div>
        <Link to="/" className="text-sm text-slate-500 hover:underline dark:text-slate-400">
          ← Servers
        </Link>
        <h1 className="text-xl font-semibold text-slate-900 dark:text-slate-50">Import servers</h1>
        <p className="text-sm text-slate-500 dark:text-slate-400">
          Paste or upload the JSON your AI client uses: Claude Desktop&apos;s <Kbd>claude_desktop_config.json</Kbd>, Cursor&apos;s <Kbd>mcp.json</Kbd> (
          <Kbd>mcpServers</Kbd>) or VS Code&apos;s <Kbd>.vscode/mcp.json</Kbd> (<Kbd>servers</Kbd>).
        </p>
      </div>
      <Card
        title="JSON"
        actions={
          <>
            <Button size="sm" variant="ghost" onClick={() => setText(EXAMPLE)}>
              Use an example
            </Button>
            <label className={`${linkButton('secondary')} !px-2.5 !py-1 !text-xs cursor-pointer`}>
              Upload file…
              <input type="file" accept=".json,application/json" className="sr-only" onChange={(e) => void onFile(e)} data-testid="import-file" />
            </label>
          </>
        }
      >
        <textarea
          className={`${inputClass} h-48 font-mono text-xs`}
          value={text}
          placeholder={EXAMPLE}
          spellCheck={false}
          aria-label="mcpServers JSON"
          data-testid="import-json"
          onChange={(e) => {
            setText(e.target.value);
            setResults({});
          }}
        />
      </Card>
      {parsed?.error && <ErrorBox title="Cannot read this JSON" message={parsed.error} />}
      {parsed && parsed.entries.length > 0 && (
        <Card title={`Preview: ${parsed.entries.length} server${parsed.entries.length === 1 ? '' : 's'}`}>
          <div className="overflow-x-auto">
            <table className="min-w-full text-sm" data-testid="import-preview">
              <thead className="text-left text-xs text-slate-500 uppercase dark:text-slate-400">
                <tr>
                  <th className="py-2 pr-3">Import</th>
                  <th className="py-2 pr-3">Name</th>
                  <th className="py-2 pr-3">Type</th>
                  <th className="py-2 pr-3">Command / URL</th>
                  <th className="py-2 pr-3">Env</th>
                  <th className="py-2">Result</th>
                </tr>
              </thead>
              <tbody className="divide-y divide-slate-100 dark:divide-slate-800">
                {parsed.entries.map((e) => {
                  const r = results[e.key];
                  const blocked = e.problems.length > 0 || conflict(e);
                  return (
                    <tr key={e.key} data-testid="import-row" data-name={e.name} className="align-top">
                      <td className="py-2 pr-3">
                        <input
                          type="checkbox"
                          className="h-4 w-4 accent-indigo-600"
                          aria-label={`Import ${e.name}`}
                          checked={!blocked && !skip.has(e.key)}
                          disabled={blocked || !!r?.ok}
                          onChange={() =>
                            setSkip((s) => {
                              const n = new Set(s);
                              if (n.has(e.key)) n.delete(e.key);
                              else n.add(e.key);
                              return n;
                            })
                          }
                        />
                      </td>
                      <td className="py-2 pr-3 font-medium">{e.name || e.key}</td>
                      <td className="py-2 pr-3">{e.body.type ?? 'process'}</td>
                      <td className="max-w-md py-2 pr-3 font-mono text-xs break-all">
                        {commandLine({ type: e.body.type ?? 'process', command: e.body.command ?? null, args: e.body.args ?? [], image: null, url: e.body.url ?? null })}
                      </td>
                      <td className="py-2 pr-3 text-xs">{Object.keys(e.body.env ?? {}).join(', ') || '–'}</td>
                      <td className="py-2 text-xs" data-testid="import-result">
                        {r?.ok ? (
                          <span className="font-medium text-emerald-700 dark:text-emerald-400">✓ created</span>
                        ) : r ? (
                          <span className="text-red-700 dark:text-red-400">✕ {r.message}</span>
                        ) : conflict(e) ? (
                          <span className="text-amber-700 dark:text-amber-400">A server named {e.name} exists: skipped</span>
                        ) : e.problems.length ? (
                          <span className="text-red-700 dark:text-red-400">{e.problems.join(' ')}</span>
                        ) : (
                          <span className="text-slate-500">{e.notes.join(' ') || 'ready'}</span>
                        )}
                      </td>
                    </tr>
                  );
                })}
              </tbody>
            </table>
          </div>
          <div className="mt-4 flex items-center justify-between gap-3">
            <p className="text-sm text-slate-500 dark:text-slate-400">
              {done > 0 ? `${done} created. ` : ''}Imported servers are started right away (unless disabled in the file).
            </p>
            <div className="flex gap-2">
              {done > 0 && (
                <Link to="/" className={linkButton('secondary')}>
                  Go to servers
                </Link>
              )}
              <Button variant="primary" onClick={() => void run()} pending={busy} disabled={selected.length === 0} data-testid="import-submit">
                Import {selected.length} server{selected.length === 1 ? '' : 's'}
              </Button>
            </div>
          </div>
        </Card>
      )}
    </div>
  );
}
