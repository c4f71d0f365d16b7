// The live tail of one server: the newest stored lines, then `logs:new` lines from the
// WebSocket, capped in memory; refetched (and merged by id) after a resync. Mount it once per
// server (key the component by server id).
import { useCallback, useEffect, useRef, useState } from 'react';
import type { LogEntry } from '@/lib/api';
import { errorMessage } from '@/lib/api';
import { useLiveLogs } from '@/features/events/events-context';
import { fetchTail } from '../api';
import { appendLines } from '../filter';

export const TAIL_CAP = 100_000;

export function useLogTail(serverId: string, paused: boolean) {
  const [lines, setLines] = useState<LogEntry[]>([]);
  const [loading, setLoading] = useState(true);
  const [error, setError] = useState<string | null>(null);
  const [pendingCount, setPendingCount] = useState(0);
  const loaded = useRef(false);
  const held = useRef<LogEntry[]>([]);
  const pending = useRef<LogEntry[]>([]);
  const pausedRef = useRef(paused);

  const flush = useCallback(() => {
    if (pending.current.length === 0) return;
    held.current = appendLines(held.current, pending.current, TAIL_CAP);
    pending.current = [];
    setPendingCount(0);
    setLines(held.current);
  }, []);

  useEffect(() => {
    pausedRef.current = paused;
    if (!paused && loaded.current) flush();
  }, [paused, flush]);

  const load = useCallback(
    (signal?: AbortSignal) => {
      fetchTail(serverId, 5000, signal)
        .then((tail) => {
          held.current = appendLines(held.current, tail, TAIL_CAP);
          loaded.current = true;
          setError(null);
          setLoading(false);
          if (!pausedRef.current) flush();
          setLines(held.current);
        })
        .catch((e: unknown) => {
          if (signal?.aborted) return;
          setError(errorMessage(e));
          setLoading(false);
        });
    },
    [serverId, flush],
  );

  useEffect(() => {
    // The component using this is keyed by server, so the state starts empty for each one.
    const ac = new AbortController();
    load(ac.signal);
    return () => ac.abort();
  }, [load]);

  const onLines = useCallback(
    (incoming: LogEntry[]) => {
      pending.current = pending.current.concat(incoming);
      if (loaded.current && !pausedRef.current) flush();
      else setPendingCount(pending.current.length);
    },
    [flush],
  );
  const onResync = useCallback(() => load(), [load]);
  useLiveLogs(serverId, onLines, onResync);

  const clear = useCallback(() => {
    held.current = [];
    pending.current = [];
    setPendingCount(0);
    setLines([]);
  }, []);

  return { lines, loading, error, pendingCount, clear };
}
