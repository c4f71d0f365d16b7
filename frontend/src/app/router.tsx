// A tiny history router: the app has a handful of routes, so a library is not worth its bytes.
import { useSyncExternalStore, type AnchorHTMLAttributes, type MouseEvent } from 'react';

const listeners = new Set<() => void>();

function notify() {
  for (const l of listeners) l();
}

export function navigate(to: string, opts: { replace?: boolean } = {}): void {
  if (to === location.pathname + location.search) return;
  if (opts.replace) history.replaceState(null, '', to);
  else history.pushState(null, '', to);
  notify();
}

function subscribe(l: () => void) {
  listeners.add(l);
  window.addEventListener('popstate', l);
  return () => {
    listeners.delete(l);
    window.removeEventListener('popstate', l);
  };
}

const snapshot = () => location.pathname + location.search;

/** The current path plus query string; re-renders on navigation. */
export function useLocation(): { path: string; search: URLSearchParams } {
  const full = useSyncExternalStore(subscribe, snapshot);
  const i = full.indexOf('?');
  return { path: i < 0 ? full : full.slice(0, i), search: new URLSearchParams(i < 0 ? '' : full.slice(i)) };
}

/** Matches `/servers/:name/:tab?` style patterns; answers the decoded params or null. */
export function matchPath(pattern: string, path: string): Record<string, string> | null {
  const p = pattern.split('/').filter(Boolean);
  const s = path.split('/').filter(Boolean);
  const params: Record<string, string> = {};
  let i = 0;
  for (; i < p.length; i++) {
    const seg = p[i]!;
    const optional = seg.endsWith('?');
    const name = optional ? seg.slice(1, -1) : seg.slice(1);
    const actual = s[i];
    if (seg.startsWith(':')) {
      if (actual === undefined) {
        if (optional) continue;
        return null;
      }
      params[name] = decodeURIComponent(actual);
    } else if (seg !== actual) {
      return null;
    }
  }
  return s.length <= p.length ? params : null;
}

type LinkProps = AnchorHTMLAttributes<HTMLAnchorElement> & { to: string; replace?: boolean };

export function Link({ to, replace, onClick, ...rest }: LinkProps) {
  const handle = (e: MouseEvent<HTMLAnchorElement>) => {
    onClick?.(e);
    if (e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
    e.preventDefault();
    navigate(to, { replace });
  };
  return <a href={to} onClick={handle} {...rest} />;
}
