// Servers: fetchers, query options and hooks. The list is the one source of truth for
// server state: events keep it current (features/events), mutations write their answers in.
import { queryOptions, useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { api, type RequestBody, type ServerCreate, type ServerPatch, type ServerView } from '@/lib/api';
import { removeServer, serverKeys, upsertServer } from '@/features/events/apply-event';

export const serversQuery = () =>
  queryOptions({
    queryKey: serverKeys.all,
    queryFn: ({ signal }) => api('get', '/api/servers', { signal }),
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
    queryFn: ({ signal }) => api('get', '/api/servers/{ref}/mcp', { path: { ref: server.id }, signal }),
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
    mutationFn: ({ id, action }: { id: string; action: ServerAction }) => api('post', `/api/servers/{ref}/${action}`, { path: { ref: id } }),
    onSuccess: (server) => qc.setQueryData<ServerView[]>(serverKeys.all, (l) => upsertServer(l, server)),
  });
}

export function useDeleteServer() {
  const qc = useQueryClient();
  return useMutation({
    mutationFn: (id: string) => api('delete', '/api/servers/{ref}', { path: { ref: id } }),
    onSuccess: (server) => qc.setQueryData<ServerView[]>(serverKeys.all, (l) => removeServer(l, server.id)),
  });
}

export function createServer(body: ServerCreate) {
  return api('post', '/api/servers', { body });
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
    mutationFn: ({ id, body }: { id: string; body: ServerPatch }) => api('patch', '/api/servers/{ref}', { path: { ref: id }, body }),
    onSuccess: (server) => qc.setQueryData<ServerView[]>(serverKeys.all, (l) => upsertServer(l, server)),
  });
}

type ToolCallBody = RequestBody<'/api/servers/{ref}/tools/{tool}/call', 'post'>;

export function callTool(id: string, tool: string, args: Record<string, unknown>) {
  // `arguments` is any JSON object; the document's bare `{"type": "object"}` is generated as
  // `Record<string, never>`, so the one widening happens here.
  const body: ToolCallBody = { arguments: args as ToolCallBody['arguments'] };
  return api('post', '/api/servers/{ref}/tools/{tool}/call', { path: { ref: id, tool }, body });
}
