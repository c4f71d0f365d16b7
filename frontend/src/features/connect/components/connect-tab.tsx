// Connect: how an AI client reaches this server through the gateway. A client picker, the
// snippet for that client's config file (from the daemon, so it matches `mcp-manager
// connect`), where it goes, the `claude mcp add` command for Claude Code, the endpoint URL,
// each with a Copy button; "include the token" only when the daemon has one.
import { useEffect, useRef, useState, type ReactNode } from 'react';
import { Button, Card, ErrorBox, Loading, Segmented } from '@/components/ui';
import { errorMessage, type ServerView } from '@/lib/api';
import { useClientConfig } from '../api';
import { CLIENTS, copyText, snippetText, type ConnectClient } from '../connect-model';

export default function ConnectTab({ server }: { server: ServerView }) {
  const [client, setClient] = useState<ConnectClient>('claude-desktop');
  const [includeToken, setIncludeToken] = useState(false);
  const q = useClientConfig(server, client, includeToken);
  const c = q.data;
  return (
    <div className="flex flex-col gap-4" data-testid="connect-panel">
      <Card
        title="Connect a client"
        actions={
          <Segmented label="Client" options={CLIENTS} value={client} onChange={setClient} testId="connect-client" />
        }
      >
        {q.isPending ? (
          <Loading what="snippet" />
        ) : q.isError ? (
          <ErrorBox title="Could not make the snippet" message={errorMessage(q.error)} />
        ) : (
          c && (
            <div className="flex flex-col gap-4 text-sm">
              <Section label="Endpoint" copy={c.url} copyLabel="Copy URL" testId="connect-url">
                <code className="break-all font-mono text-slate-800 dark:text-slate-100">{c.url}</code>
              </Section>
              <Section label={`Add to ${c.file}`} copy={snippetText(c.config)} copyLabel="Copy" testId="connect-snippet">
                <pre className="overflow-x-auto rounded-md bg-slate-50 p-3 font-mono text-xs text-slate-800 ring-1 ring-slate-200 dark:bg-slate-950 dark:text-slate-100 dark:ring-slate-700">
                  {snippetText(c.config)}
                </pre>
              </Section>
              {c.command && (
                <Section label="Or run" copy={c.command} copyLabel="Copy command" testId="connect-command">
                  <pre className="overflow-x-auto rounded-md bg-slate-50 p-3 font-mono text-xs text-slate-800 ring-1 ring-slate-200 dark:bg-slate-950 dark:text-slate-100 dark:ring-slate-700">
                    {c.command}
                  </pre>
                </Section>
              )}
              {c.note && (
                <p className="text-slate-600 dark:text-slate-300" data-testid="connect-note">
                  {c.note}
                </p>
              )}
              {c.token_required && (
                <label className="flex items-center gap-2 text-slate-700 dark:text-slate-200">
                  <input type="checkbox" checked={includeToken} onChange={(e) => setIncludeToken(e.target.checked)} data-testid="connect-include-token" />
                  Include the daemon's token in the snippet (else the client fills it in)
                </label>
              )}
            </div>
          )
        )}
      </Card>
    </div>
  );
}

function Section({ label, copy, copyLabel, testId, children }: { label: string; copy: string; copyLabel: string; testId: string; children: ReactNode }) {
  return (
    <div className="flex flex-col gap-1.5" data-testid={testId} data-copy={copy}>
      <div className="flex items-center justify-between gap-2">
        <span className="font-medium text-slate-700 dark:text-slate-200">{label}</span>
        <CopyButton text={copy} label={copyLabel} />
      </div>
      {children}
    </div>
  );
}

/** Copies `text`; says "Copied" for two seconds, or that it could not. */
function CopyButton({ text, label }: { text: string; label: string }) {
  const [state, setState] = useState<'idle' | 'copied' | 'failed'>('idle');
  const timer = useRef<ReturnType<typeof setTimeout> | undefined>(undefined);
  useEffect(() => () => clearTimeout(timer.current), []);
  const onClick = async () => {
    const ok = await copyText(text);
    setState(ok ? 'copied' : 'failed');
    clearTimeout(timer.current);
    timer.current = setTimeout(() => setState('idle'), 2000);
  };
  return (
    <Button size="sm" onClick={onClick} aria-live="polite">
      {state === 'copied' ? 'Copied' : state === 'failed' ? 'Copy failed: select and copy' : label}
    </Button>
  );
}
