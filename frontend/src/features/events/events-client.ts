// The one WebSocket to `/api/events`: applies events to the query cache, reconnects with
// backoff, resyncs after a reconnect or a `lagged`, and hands log lines to open log views.
import type { QueryClient } from '@tanstack/react-query';
import type { LogEntry, ServerView } from '@/lib/api';
import { applyEvent, pullKeys, serverKeys } from './apply-event';
import { withToken } from '@/lib/token';
import { parseEvent } from './types';

export type ConnectionState = 'connecting' | 'open' | 'reconnecting';
type LogListener = (lines: LogEntry[]) => void;

/** Delay before reconnect attempt `n` (0-based): 0.5 s doubling to 10 s, ±20 % jitter. */
export function backoffDelay(n: number, random = Math.random): number {
  const base = Math.min(10_000, 500 * 2 ** n);
  return Math.round(base * (0.8 + 0.4 * random()));
}

export class EventsClient {
  private ws: WebSocket | null = null;
  private state: ConnectionState = 'connecting';
  private attempts = 0;
  private everOpen = false;
  private timer: number | undefined;
  private closed = false;
  private readonly stateListeners = new Set<() => void>();
  private readonly resyncListeners = new Set<() => void>();
  private readonly logListeners = new Map<string, Set<LogListener>>();
  private readonly throttled = new Map<string, { pending: boolean }>();
  private readonly qc: QueryClient;
  private readonly url: () => string;

  /** `url` is read at every (re)connect, so a new API token is picked up. */
  constructor(qc: QueryClient, url: string | (() => string)) {
    this.qc = qc;
    this.url = typeof url === 'string' ? () => url : url;
  }

  start(): void {
    this.closed = false;
    this.connect();
  }

  stop(): void {
    this.closed = true;
    window.clearTimeout(this.timer);
    this.ws?.close();
    this.ws = null;
  }

  /** Drops the connection and connects again at once (e.g. with a new API token). */
  reconnect(): void {
    if (this.closed) return;
    const old = this.ws;
    this.ws = null;
    old?.close();
    window.clearTimeout(this.timer);
    this.attempts = 0;
    this.connect();
  }

  getState = (): ConnectionState => this.state;

  onState = (l: () => void): (() => void) => {
    this.stateListeners.add(l);
    return () => this.stateListeners.delete(l);
  };

  /** Called after every resync (reconnect or lagged): log views refetch their tail. */
  onResync(l: () => void): () => void {
    this.resyncListeners.add(l);
    return () => this.resyncListeners.delete(l);
  }

  /** Receives `logs:new` lines of one server while subscribed. */
  subscribeLogs(serverId: string, l: LogListener): () => void {
    let set = this.logListeners.get(serverId);
    if (!set) {
      set = new Set();
      this.logListeners.set(serverId, set);
    }
    set.add(l);
    this.sendTopics();
    return () => {
      const s = this.logListeners.get(serverId);
      s?.delete(l);
      if (s && s.size === 0) this.logListeners.delete(serverId);
      this.sendTopics();
    };
  }

  private setState(s: ConnectionState) {
    if (s === this.state) return;
    this.state = s;
    for (const l of this.stateListeners) l();
  }

  private sendTopics() {
    if (this.ws?.readyState === WebSocket.OPEN) {
      this.ws.send(JSON.stringify({ type: 'subscribe_logs', servers: [...this.logListeners.keys()] }));
    }
  }

  private connect() {
    if (this.closed) return;
    let ws: WebSocket;
    try {
      ws = new WebSocket(this.url());
    } catch {
      this.scheduleReconnect();
      return;
    }
    this.ws = ws;
    ws.onopen = () => {
      this.attempts = 0;
      this.setState('open');
      this.sendTopics();
      if (this.everOpen) this.resync();
      this.everOpen = true;
    };
    ws.onmessage = (m: MessageEvent) => {
      if (typeof m.data === 'string') this.handle(m.data);
    };
    ws.onclose = () => {
      if (this.ws !== ws) return;
      this.ws = null;
      this.scheduleReconnect();
    };
    ws.onerror = () => {
      // onclose follows and schedules the reconnect.
    };
  }

  private scheduleReconnect() {
    if (this.closed) return;
    this.setState(this.everOpen ? 'reconnecting' : 'connecting');
    const delay = backoffDelay(this.attempts++);
    window.clearTimeout(this.timer);
    this.timer = window.setTimeout(() => this.connect(), delay);
  }

  private resync() {
    // The snapshot that arrives with every connection refreshes the list; everything else
    // the pages show is refetched.
    void this.qc.invalidateQueries({ predicate: (q) => q.queryKey[0] !== serverKeys.all[0] || q.queryKey.length > 1 });
    for (const l of this.resyncListeners) l();
  }

  /** Exposed for tests and benchmarks: applies one raw message as if it came from the socket. */
  handle(text: string): void {
    const ev = parseEvent(text);
    if (!ev) return;
    const list = this.qc.getQueryData<ServerView[]>(serverKeys.all);
    const fx = applyEvent(list, ev);
    if (fx.servers) this.qc.setQueryData(serverKeys.all, fx.servers);
    for (const key of fx.invalidate) this.invalidateThrottled(key);
    if (fx.resync) this.resync();
    if (fx.pull) this.qc.setQueryData(pullKeys.server(fx.pull.id), fx.pull);
    if (fx.logs) {
      const set = this.logListeners.get(fx.logs.serverId);
      if (set) for (const l of set) l(fx.logs.lines);
    }
  }

  /**
   * At most one refetch per key every 2 s (health checks can come every second); a change
   * inside the window is refetched when the window ends, so the last state is never missed.
   */
  private invalidateThrottled(key: readonly unknown[]) {
    const k = JSON.stringify(key);
    const t = this.throttled.get(k);
    if (t) {
      t.pending = true;
      return;
    }
    void this.qc.invalidateQueries({ queryKey: key });
    const entry = { pending: false };
    this.throttled.set(k, entry);
    window.setTimeout(() => {
      this.throttled.delete(k);
      if (entry.pending) this.invalidateThrottled(key);
    }, 2000);
  }
}

/** The events URL; a browser cannot set headers on a WebSocket, so the API token rides as `?token=`. */
export function eventsUrl(): string {
  const proto = location.protocol === 'https:' ? 'wss:' : 'ws:';
  return withToken(`${proto}//${location.host}/api/events`);
}
