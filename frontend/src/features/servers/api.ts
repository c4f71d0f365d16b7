// Servers: fetchers, query options and hooks. The list is the one source of truth for
// server state: events keep it current (features/events), mutations write their answers in.
import { queryOptions, useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { apiPath, del, enc, get, patch, post, type McpInfo, type ServerCreate, type ServerPatch, type ServerView } from '@/lib/api';
import { removeServer, serverKeys, upsertServer } from '@/features/events/apply-event';

export const serversQuery = () =>
  queryOptions({
    queryKey: serverKeys.all,
    queryFn: ({ signal }) => get<ServerView[]>(apiPath('/servers'), signal),
  });

export function useServers() {
  return useQuery(serversQuery());
}

/** One server by name or id, read from the live list. */
export function useServer(ref: string) {
  return useQuery({
    ...serversQuery(),
    select: (list: ServerView[]) => list.find((s) => s.name === ref || s.id === ref) ?? null,
  });
}

export const mcpQuery = (server: ServerView) =>
  queryOptions({
    queryKey: serverKeys.mcp(server.id),
    queryFn: ({ signal }) => get<McpInfo>(apiPath(`/servers/${enc(server.id)}/mcp`), signal),
    retry: false,
  });

/**
 * Asked only when there is something to read: live while running, else the copy recorded at
 * the last handshake (a server that never ran has none, and the daemon answers 409).
 */
export function mcpAvailable(server: ServerView): boolean {
  return server.status === 'running' || (server.generation > 0 && server.status !== 'starting' && server.status !== 'stopping');
}

export function useMcpInfo(server: ServerView) {
  return useQuery({ ...mcpQuery(server), enabled: mcpAvailable(server) });
}

export type ServerAction = 'start' | 'stop' | 'restart';

export function useServerAction() {
  const qc = useQueryClient();
  return useMutation({
    mutationFn: ({ id, action }: { id: string; action: ServerAction }) =>
      post<ServerView>(apiPath(`/servers/${enc(id)}/${action}`)),
    onSuccess: (server) => qc.setQueryData<ServerView[]>(serverKeys.all, (l) => upsertServer(l, server)),
  });
}

export function useDeleteServer() {
  const qc = useQueryClient();
  return useMutation({
    mutationFn: (id: string) => del<ServerView>(apiPath(`/servers/${enc(id)}`)),
    onSuccess: (server) => qc.setQueryData<ServerView[]>(serverKeys.all, (l) => removeServer(l, server.id)),
  });
}

export function createServer(body: ServerCreate) {
  return post<ServerView>(apiPath('/servers'), body);
}

export function useCreateServer() {
  const qc = useQueryClient();
  return useMutation({
    mutationFn: createServer,
    onSuccess: (server) => qc.setQueryData<ServerView[]>(serverKeys.all, (l) => upsertServer(l, server)),
  });
}

export function useUpdateServer() {
  const qc = useQueryClient();
  return useMutation({
    mutationFn: ({ id, body }: { id: string; body: ServerPatch }) => patch<ServerView>(apiPath(`/servers/${enc(id)}`), body),
    onSuccess: (server) => qc.setQueryData<ServerView[]>(serverKeys.all, (l) => upsertServer(l, server)),
  });
}

export function callTool(id: string, tool: string, args: Record<string, unknown>) {
  return post<unknown>(apiPath(`/servers/${enc(id)}/tools/${enc(tool)}/call`), { arguments: args });
}
