// Messages of `/api/events`, derived from the daemon's OpenAPI document: `EventPayload` is the
// adjacently tagged `{type, data}` union of every event, and each message adds `seq` and `ts`
// (from the document's `Event`). Nothing here restates a payload by hand.
import type { EventPayload, Schemas } from '@/lib/api';

/** One event message: a payload of the document plus its sequence number and time. */
export type DaemonPayloadEvent = EventPayload & Pick<Schemas['Event'], 'seq' | 'ts'>;

/**
 * Sent when this connection fell behind; a fresh snapshot follows. Not part of the
 * document's `EventPayload` (it is a message of the connection, not an event of the bus).
 */
export interface LaggedEvent {
  type: 'lagged';
}

export type DaemonEvent = DaemonPayloadEvent | LaggedEvent;
export type EventType = DaemonEvent['type'];
/** The message of one event type, e.g. `EventOf<'server:status'>`. */
export type EventOf<T extends EventType> = Extract<DaemonEvent, { type: T }>;

/** Parses one WebSocket message; null when it is not an event message at all. */
export function parseEvent(text: string): DaemonEvent | null {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return null;
  }
  if (typeof v !== 'object' || v === null || typeof (v as { type?: unknown }).type !== 'string') return null;
  // JSON boundary: the daemon's messages match the document's `EventPayload` by type
  // (unknown types fall through `applyEvent`'s default branch).
  return v as DaemonEvent;
}
