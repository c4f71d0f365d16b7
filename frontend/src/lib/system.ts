// `GET /api/system`: daemon version, runtimes on its PATH, Docker reachability.
import { useQuery } from '@tanstack/react-query';
import { api } from './api';

export function useSystem() {
  return useQuery({
    queryKey: ['system'],
    queryFn: ({ signal }) => api('get', '/api/system', { signal }),
    staleTime: 60_000,
  });
}
