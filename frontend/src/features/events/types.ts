// Event envelopes of `/api/events`. The OpenAPI document describes only the generic
// `Event {type, seq, ts, data}`; the payloads are the documented ones (docs/api.md), built
// from the generated schema types.
import type { HealthState, LogEntry, Schemas, ServerView, StatusKind } from '@/lib/api';

type Envelope<T extends string, D> = Omit<Schemas['Event'], 'type' | 'data'> & { type: T; data: D };

export type SnapshotEvent = Envelope<'snapshot', { servers: ServerView[] }>;
export type ServerCreatedEvent = Envelope<'server:created', { server: ServerView }>;
export type ServerUpdatedEvent = Envelope<'server:updated', { server: ServerView }>;
export type ServerDeletedEvent = Envelope<'server:deleted', { id: string; name: string }>;
export type ServerStatusEvent = Envelope<
  'server:status',
  { id: string; name: string; status: StatusKind; previous: StatusKind; generation: number; server: ServerView }
>;
export type ServerHealthEvent = Envelope<
  'server:health',
  { id: string; name: string; health: HealthState; previous: HealthState; server: ServerView }
>;
export type HealthUpdateEvent = Envelope<
  'health:update',
  {
    id: string;
    name: string;
    status: 'healthy' | 'unhealthy';
    health: HealthState;
    response_time_ms: number | null;
    error: string | null;
    probes: string[];
    at: string;
  }
>;
export type ServerPullEvent = Envelope<'server:pull', { id: string; name: string; image: string; progress: string }>;
export type LogsNewEvent = Envelope<'logs:new', { server_id: string; lines: LogEntry[] }>;
/** Sent when this connection fell behind; a fresh snapshot follows. */
export interface LaggedEvent {
  type: 'lagged';
}

export type DaemonEvent =
  | SnapshotEvent
  | ServerCreatedEvent
  | ServerUpdatedEvent
  | ServerDeletedEvent
  | ServerStatusEvent
  | ServerHealthEvent
  | HealthUpdateEvent
  | ServerPullEvent
  | LogsNewEvent
  | LaggedEvent;

/** Parses one WebSocket message; null when it is not an event this UI knows. */
export function parseEvent(text: string): DaemonEvent | null {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return null;
  }
  if (typeof v !== 'object' || v === null || typeof (v as { type?: unknown }).type !== 'string') return null;
  // JSON boundary: the daemon's events match the documented shapes by type.
  return v as DaemonEvent;
}
