import { createContext, useContext, useEffect, useSyncExternalStore, type ReactNode } from 'react';
import type { LogEntry } from '@/lib/api';
import type { ConnectionState, EventsClient } from './events-client';

const Ctx = createContext<EventsClient | null>(null);

export function EventsProvider({ client, children }: { client: EventsClient; children: ReactNode }) {
  useEffect(() => {
    client.start();
    return () => client.stop();
  }, [client]);
  return <Ctx.Provider value={client}>{children}</Ctx.Provider>;
}

export function useEventsClient(): EventsClient {
  const c = useContext(Ctx);
  if (!c) throw new Error('useEventsClient outside EventsProvider');
  return c;
}

export function useConnectionState(): ConnectionState {
  const c = useEventsClient();
  return useSyncExternalStore(c.onState, c.getState);
}

/** Subscribes to one server's live log lines while the calling component is mounted. */
export function useLiveLogs(serverId: string | undefined, onLines: (lines: LogEntry[]) => void, onResync: () => void) {
  const c = useEventsClient();
  useEffect(() => {
    if (!serverId) return;
    const off1 = c.subscribeLogs(serverId, onLines);
    const off2 = c.onResync(onResync);
    return () => {
      off1();
      off2();
    };
  }, [c, serverId, onLines, onResync]);
}
