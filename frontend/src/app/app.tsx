import { useEffect, useState } from 'react';
import { QueryClientProvider } from '@tanstack/react-query';
import { makeQueryClient } from '@/lib/query-client';
import { EventsClient, eventsUrl } from '@/features/events/events-client';
import { EventsProvider } from '@/features/events/events-context';
import { ServerListPage } from '@/features/servers/components/server-list-page';
import { EditServerPage, NewServerPage } from '@/features/servers/components/server-form-page';
import { DETAIL_TABS, ServerDetailPage, type DetailTab } from '@/features/servers/components/server-detail-page';
import { ImportPage } from '@/features/servers/components/import-page';
import { EmptyState } from '@/components/ui';
import { Layout } from './layout';
import { Link, matchPath, useLocation } from './router';

declare global {
  interface Window {
    /** For the browser test and benchmark: feed events as if they came from the socket. */
    __mcpManager?: { events: EventsClient };
  }
}

export function App() {
  const [qc] = useState(makeQueryClient);
  const [events] = useState(() => new EventsClient(qc, eventsUrl));
  useEffect(() => {
    window.__mcpManager = { events };
  }, [events]);
  return (
    <QueryClientProvider client={qc}>
      <EventsProvider client={events}>
        <Layout>
          <Routes />
        </Layout>
      </EventsProvider>
    </QueryClientProvider>
  );
}

function Routes() {
  const { path } = useLocation();
  let m: Record<string, string> | null;
  useEffect(() => {
    const name = path.startsWith('/servers/') ? decodeURIComponent(path.split('/')[2] ?? '') : '';
    document.title = name && name !== 'new' ? `${name} · mcp-manager` : path === '/import' ? 'Import · mcp-manager' : 'mcp-manager';
  }, [path]);
  if (path === '/' || path === '') return <ServerListPage />;
  if (path === '/import') return <ImportPage />;
  if (path === '/servers/new') return <NewServerPage />;
  if ((m = matchPath('/servers/:name/edit', path))) return <EditServerPage serverRef={m.name!} />;
  if ((m = matchPath('/servers/:name/:tab?', path))) {
    const tab = (DETAIL_TABS as string[]).includes(m.tab ?? '') ? (m.tab as DetailTab) : 'overview';
    return <ServerDetailPage key={m.name} serverRef={m.name!} tab={tab} />;
  }
  return (
    <EmptyState title="Page not found" action={<Link to="/" className="text-indigo-600 underline dark:text-indigo-400">Go to the servers</Link>}>
      There is nothing at {path}.
    </EmptyState>
  );
}
