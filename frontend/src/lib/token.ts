// The API token. A daemon bound beyond loopback requires `Authorization: Bearer TOKEN` on
// every `/api` request (the WebSocket takes `?token=`). The token is kept in localStorage;
// a 401 from any call asks for it (see `TokenDialog`).

const KEY = 'mcp-manager.api-token';

type Listener = () => void;
const changeListeners = new Set<Listener>();
const unauthorizedListeners = new Set<Listener>();
let unauthorized = false;

function storage(): Storage | null {
  try {
    return typeof localStorage === 'undefined' ? null : localStorage;
  } catch {
    return null; // storage disabled (e.g. some private modes)
  }
}

/** The stored token, or null. */
export function getToken(): string | null {
  try {
    const t = storage()?.getItem(KEY);
    return t ? t : null;
  } catch {
    return null;
  }
}

/** Stores the token (blank forgets it) and tells everyone who listens. */
export function setToken(token: string | null): void {
  const t = token?.trim() ?? '';
  try {
    if (t) storage()?.setItem(KEY, t);
    else storage()?.removeItem(KEY);
  } catch {
    /* not persisted; nothing else to do */
  }
  unauthorized = false;
  for (const l of changeListeners) l();
  for (const l of unauthorizedListeners) l();
}

export const forgetToken = (): void => setToken(null);

/** For useSyncExternalStore: fires when the token is stored or forgotten. */
export function onTokenChange(l: Listener): () => void {
  changeListeners.add(l);
  return () => changeListeners.delete(l);
}

/** Headers that carry the token, when there is one. */
export function authHeaders(): Record<string, string> {
  const t = getToken();
  return t ? { authorization: `Bearer ${t}` } : {};
}

/** Adds `token=` to a URL (for the WebSocket, which cannot send headers). */
export function withToken(url: string): string {
  const t = getToken();
  if (!t) return url;
  return `${url}${url.includes('?') ? '&' : '?'}token=${encodeURIComponent(t)}`;
}

/** Called by the client when the daemon answered 401. */
export function reportUnauthorized(): void {
  if (unauthorized) return;
  unauthorized = true;
  for (const l of unauthorizedListeners) l();
}

/** Whether a call was refused for a missing or wrong token since the last `setToken`. */
export const isUnauthorized = (): boolean => unauthorized;

export function onUnauthorized(l: Listener): () => void {
  unauthorizedListeners.add(l);
  return () => unauthorizedListeners.delete(l);
}
