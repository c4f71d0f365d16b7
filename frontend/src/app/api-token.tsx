// The API token in the UI: a dialog that asks for it when a call answers 401, and a header
// control to forget it. The token itself lives in lib/token.ts (localStorage).
import { useState, useSyncExternalStore, type FormEvent } from 'react';
import { useQueryClient } from '@tanstack/react-query';
import { Dialog } from '@/components/dialog';
import { Button, Field, inputClass } from '@/components/ui';
import { useEventsClient } from '@/features/events/events-context';
import { getToken, isUnauthorized, onTokenChange, onUnauthorized, setToken } from '@/lib/token';

const useStoredToken = () => useSyncExternalStore(onTokenChange, getToken);
const useUnauthorized = () => useSyncExternalStore(onUnauthorized, isUnauthorized);

/** After the token changed: everything is fetched again and the WebSocket reconnects with it. */
function useApplyToken() {
  const qc = useQueryClient();
  const events = useEventsClient();
  return (token: string | null) => {
    setToken(token);
    events.reconnect();
    void qc.invalidateQueries();
  };
}

export function TokenDialog() {
  const unauthorized = useUnauthorized();
  const stored = useStoredToken();
  const [dismissed, setDismissed] = useState(false);
  const [value, setValue] = useState('');
  // A new refusal after a token was stored opens the dialog again.
  const [wasUnauthorized, setWasUnauthorized] = useState(unauthorized);
  if (wasUnauthorized !== unauthorized) {
    setWasUnauthorized(unauthorized);
    if (!unauthorized) setDismissed(false);
  }
  const apply = useApplyToken();
  const open = unauthorized && !dismissed;
  const submit = (e: FormEvent) => {
    e.preventDefault();
    if (!value.trim()) return;
    apply(value);
    setValue('');
  };
  return (
    <>
      {unauthorized && dismissed && (
        <Button size="sm" variant="primary" onClick={() => setDismissed(false)} data-testid="token-needed">
          API token needed
        </Button>
      )}
      <Dialog
        open={open}
        // The dialog also reports a close when a stored token made it unnecessary; only a
        // close while still refused is the user dismissing it.
        onClose={() => isUnauthorized() && setDismissed(true)}
        title="API token"
      >
        <form onSubmit={submit} className="flex flex-col gap-3" data-testid="token-form">
          <p>
            {stored
              ? 'The daemon did not accept the stored API token. Enter the current one.'
              : <>This daemon requires an API token (it was started with <code className="whitespace-nowrap">--token</code> or <code>MCP_MANAGER_TOKEN</code>).</>}{' '}
            It is kept in this browser&apos;s local storage and sent with every request.
          </p>
          <Field label="Token" htmlFor="api-token-input">
            <input
              id="api-token-input"
              className={`${inputClass} font-mono`}
              type="password"
              autoComplete="off"
              autoFocus
              value={value}
              onChange={(e) => setValue(e.target.value)}
            />
          </Field>
          <div className="mt-1 flex justify-end gap-2">
            <Button onClick={() => setDismissed(true)}>Cancel</Button>
            <Button type="submit" variant="primary" disabled={!value.trim()} data-testid="token-save">
              Save token
            </Button>
          </div>
        </form>
      </Dialog>
    </>
  );
}

/** Shown in the header while a token is stored. */
export function ForgetTokenButton() {
  const stored = useStoredToken();
  const apply = useApplyToken();
  if (!stored) return null;
  return (
    <Button size="sm" variant="ghost" onClick={() => apply(null)} title="Remove the API token from this browser" data-testid="forget-token">
      Forget token
    </Button>
  );
}
