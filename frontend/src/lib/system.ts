// `GET /api/system`: daemon version, runtimes on its PATH, Docker reachability.
import { useQuery } from '@tanstack/react-query';
import { apiPath, get, type SystemInfo } from './api';

export function useSystem() {
  return useQuery({
    queryKey: ['system'],
    queryFn: ({ signal }) => get<SystemInfo>(apiPath('/system'), signal),
    staleTime: 60_000,
  });
}
