// Client snippets for one server's gateway endpoint (`GET /api/servers/{ref}/client-config`).
// One query per client and token choice; an answer changes only with the server's name or
// the daemon's token, so it is kept (the app's queries are never stale by time).
import { queryOptions, useQuery } from '@tanstack/react-query';
import { api, type ServerView } from '@/lib/api';
import type { ConnectClient } from './connect-model';

export const connectKeys = {
  server: (id: string) => ['client-config', id] as const,
};

export const clientConfigQuery = (server: Pick<ServerView, 'id' | 'name'>, client: ConnectClient, includeToken: boolean) =>
  queryOptions({
    // The name is in the key: the snippet holds it, and a rename keeps the id.
    queryKey: [...connectKeys.server(server.id), server.name, client, includeToken],
    queryFn: ({ signal }) =>
      api('get', '/api/servers/{ref}/client-config', { path: { ref: server.id }, query: { client, include_token: includeToken }, signal }),
  });

export const useClientConfig = (server: Pick<ServerView, 'id' | 'name'>, client: ConnectClient, includeToken: boolean) =>
  useQuery(clientConfigQuery(server, client, includeToken));
