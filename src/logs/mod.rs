//! The LogSink: every line a server produces (stderr, non-protocol stdout, MCP log
//! notifications, the manager's own `system` lines) goes through here into `server_logs`.
//!
//! Producers never wait: they `try_send` into a bounded queue and count what they could not
//! enqueue; the count is itself logged once there is room again. One task drains the queue
//! and writes batches, each in one transaction through the store's single writer, then
//! announces `logs:new` on the bus. Shutdown: when every producer's sender is dropped the
//! task writes what is left and ends; [`LogSink::flush_and_close`] waits for that.

pub mod level;

use crate::actors::bus::{EventBus, PublishLogs};
use crate::db::Store;
use actix::Addr;
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::borrow::Cow;
use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use tokio::sync::Notify;

/// Lines waiting for the store, across all servers; beyond this the oldest are dropped.
pub const QUEUE_CAPACITY: usize = 100_000;
/// Lines written per transaction at most.
pub const BATCH: usize = 16_384;
/// Longest line kept, in bytes; longer lines are cut and flagged `truncated`.
pub const MAX_LINE: usize = 16 * 1024;
/// Lines kept in memory per server for instant tails.
pub const RING: usize = 1_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    Stdout,
    Stderr,
    System,
    Mcp,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Stdout => "stdout",
            Source::Stderr => "stderr",
            Source::System => "system",
            Source::Mcp => "mcp",
        }
    }
}

/// A line on its way to the store.
#[derive(Debug, Clone)]
pub struct LogLine {
    /// Shared by every line of a pipe: a flood allocates no id per line.
    pub server_id: Arc<str>,
    pub level: &'static str,
    pub original_level: Option<String>,
    pub message: String,
    pub source: Source,
    pub timestamp: DateTime<Utc>,
    pub truncated: bool,
    /// The bytes as read from a pipe, not yet cleaned nor given a level: that is done when
    /// the batch is prepared, off the thread that reads the pipes, and never for a line
    /// the full queue drops. `message` and `level` are placeholders until then.
    pub raw: Option<Vec<u8>>,
}

impl LogLine {
    /// Cleans a line read from a pipe and detects its level (see `raw`).
    fn finish(&mut self) {
        if let Some(raw) = self.raw.take() {
            self.message = sanitize_owned(raw);
            let detected = level::detect(&self.message);
            self.level = detected.level;
            self.original_level = detected.original;
        }
    }
}

/// A stored line, as the API and events show it.
// A flood makes a hundred thousand of these a second (for the ring and the bus), so the
// server id is shared and the level and source are constants where they can be.
#[derive(Debug, Clone, Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct LogEntry {
    pub id: i64,
    #[schema(value_type = String)]
    pub server_id: Arc<str>,
    #[schema(value_type = String)]
    pub level: Cow<'static, str>,
    /// The level as the line wrote it (`WARNING`, `50`, `E`), when it wrote one.
    pub original_level: Option<String>,
    pub message: String,
    #[schema(value_type = Option<String>)]
    pub source: Option<Cow<'static, str>>,
    pub timestamp: DateTime<Utc>,
    pub truncated: bool,
}

impl LogEntry {
    pub fn from_row(r: crate::db::models::LogRow) -> LogEntry {
        LogEntry {
            id: i64::from(r.id),
            server_id: r.server_id.into(),
            level: r.level.into(),
            original_level: r.original_level,
            message: r.message,
            source: r.source.map(Cow::Owned),
            timestamp: DateTime::from_naive_utc_and_offset(r.timestamp, Utc),
            truncated: r.truncated,
        }
    }
}

#[derive(Default)]
struct Queue {
    lines: VecDeque<LogLine>,
    /// Lines dropped per server since the last report.
    dropped: HashMap<Arc<str>, u64>,
    closed: bool,
}

struct Shared {
    queue: Mutex<Queue>,
    wake: Notify,
    /// The newest lines of each server, for tails without a query.
    ring: Mutex<HashMap<Arc<str>, VecDeque<LogEntry>>>,
    dropped_total: AtomicU64,
    /// Lines written to the store (counted as they are published).
    stored_total: AtomicU64,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// A producer's handle; cheap to clone, one per pipe.
#[derive(Clone)]
pub struct LogSender {
    shared: Arc<Shared>,
}

impl LogSender {
    /// Enqueues without waiting: a full queue drops its oldest line (counted per server,
    /// and reported as a `system` line), so a slow store never blocks a server.
    pub fn send(&self, line: LogLine) {
        self.send_all(std::iter::once(line));
    }

    /// [`LogSender::send`] for many lines, under one lock and with one wake-up.
    fn send_all(&self, lines: impl Iterator<Item = LogLine>) {
        let mut q = lock(&self.shared.queue);
        if q.closed {
            return;
        }
        let mut dropped = 0;
        for line in lines {
            if q.lines.len() >= QUEUE_CAPACITY
                && let Some(old) = q.lines.pop_front()
            {
                *q.dropped.entry(old.server_id).or_insert(0) += 1;
                dropped += 1;
            }
            q.lines.push_back(line);
        }
        drop(q);
        if dropped > 0 {
            self.shared
                .dropped_total
                .fetch_add(dropped, Ordering::Relaxed);
        }
        self.shared.wake.notify_one();
    }

    pub fn line(&self, server_id: &str, source: Source, bytes: &[u8], truncated: bool) {
        self.send(log_line(
            server_id.into(),
            source,
            sanitize(bytes),
            truncated,
            Utc::now(),
        ));
    }

    /// The lines of one read of a pipe (it takes them): they share the read's time.
    pub fn lines(
        &self,
        server_id: &Arc<str>,
        source: Source,
        lines: &mut Vec<crate::runtime::lines::Line>,
    ) {
        let now = Utc::now();
        self.send_all(lines.drain(..).map(|l| LogLine {
            server_id: server_id.clone(),
            level: "info",
            original_level: None,
            message: String::new(),
            source,
            timestamp: now,
            truncated: l.truncated,
            raw: Some(l.bytes),
        }));
    }

    pub fn system(&self, server_id: &str, level: &'static str, message: impl Into<String>) {
        self.send(LogLine {
            server_id: server_id.into(),
            level,
            original_level: None,
            message: message.into(),
            source: Source::System,
            timestamp: Utc::now(),
            truncated: false,
            raw: None,
        });
    }

    /// An MCP `notifications/message`, with its RFC 5424 level.
    pub fn mcp(&self, server_id: &str, mcp_level: &str, message: &str) {
        // A notification may carry several lines (a stack trace): keep them as one entry.
        let mut message = message
            .split('\n')
            .map(|l| sanitize(l.as_bytes()))
            .collect::<Vec<_>>()
            .join("\n");
        let truncated = message.len() > MAX_LINE;
        if truncated {
            let mut cut = MAX_LINE;
            while !message.is_char_boundary(cut) {
                cut -= 1;
            }
            message.truncate(cut);
        }
        self.send(LogLine {
            server_id: server_id.into(),
            level: level::from_mcp(mcp_level),
            original_level: Some(mcp_level.to_string()),
            message,
            source: Source::Mcp,
            timestamp: Utc::now(),
            truncated,
            raw: None,
        });
    }
}

fn log_line(
    server_id: Arc<str>,
    source: Source,
    message: String,
    truncated: bool,
    timestamp: DateTime<Utc>,
) -> LogLine {
    let detected = level::detect(&message);
    LogLine {
        server_id,
        level: detected.level,
        original_level: detected.original,
        message,
        source,
        timestamp,
        truncated,
        raw: None,
    }
}

pub struct LogSink {
    sender: LogSender,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl LogSink {
    pub fn start(store: Store, bus: Addr<EventBus>) -> LogSink {
        let shared = Arc::new(Shared {
            queue: Mutex::new(Queue::default()),
            wake: Notify::new(),
            ring: Mutex::new(HashMap::new()),
            dropped_total: AtomicU64::new(0),
            stored_total: AtomicU64::new(0),
        });
        tokio::spawn(fill_missing_terms(store.clone()));
        let task = tokio::spawn(drain(shared.clone(), store, bus));
        LogSink {
            sender: LogSender { shared },
            task: Some(task),
        }
    }

    pub fn sender(&self) -> LogSender {
        self.sender.clone()
    }

    /// Writes every line queued so far and ends the sink (servers are stopped by then, so
    /// nothing of theirs is still on its way); gives up after `timeout`.
    pub async fn flush_and_close(&mut self, timeout: std::time::Duration) {
        lock(&self.sender.shared.queue).closed = true;
        self.sender.shared.wake.notify_one();
        if let Some(task) = self.task.take() {
            let _ = tokio::time::timeout(timeout, task).await;
        }
    }
}

impl LogSender {
    /// The newest `limit` lines of a server from memory, oldest first, when memory holds
    /// that many; `None` means ask the store.
    pub fn recent(&self, server_id: &str, limit: usize) -> Option<Vec<LogEntry>> {
        let ring = lock(&self.shared.ring);
        let lines = ring.get(server_id)?;
        (lines.len() >= limit).then(|| lines.iter().skip(lines.len() - limit).cloned().collect())
    }

    /// Forgets a server's lines in memory (after a clear or a delete).
    pub fn forget(&self, server_id: &str) {
        lock(&self.shared.ring).remove(server_id);
    }

    /// Lines dropped because the store fell behind, since the daemon started.
    pub fn dropped_total(&self) -> u64 {
        self.shared.dropped_total.load(Ordering::Relaxed)
    }

    /// Lines written to the store since the daemon started.
    pub fn stored_total(&self) -> u64 {
        self.shared.stored_total.load(Ordering::Relaxed)
    }
}

async fn drain(shared: Arc<Shared>, store: Store, bus: Addr<EventBus>) {
    // The id of the next line (the sink is the only writer of lines).
    let mut next_id = None;
    // The batch being written while the next one is prepared: the store's writer thread
    // and the preparing thread work side by side.
    let mut writing: Option<tokio::task::JoinHandle<Vec<LogEntry>>> = None;
    loop {
        let (mut batch, dropped, closed) = {
            let mut q = lock(&shared.queue);
            let n = q.lines.len().min(BATCH);
            let batch: Vec<LogLine> = q.lines.drain(..n).collect();
            (batch, std::mem::take(&mut q.dropped), q.closed)
        };
        for (server_id, n) in dropped {
            batch.push(LogLine {
                message: format!("{n} log lines were dropped: the log store fell behind"),
                server_id,
                level: "warn",
                original_level: None,
                source: Source::System,
                timestamp: Utc::now(),
                truncated: false,
                raw: None,
            });
        }
        if batch.is_empty() {
            if let Some(w) = writing.take() {
                publish(&shared, &bus, w.await.unwrap_or_default());
                continue;
            }
            if closed {
                return;
            }
            shared.wake.notified().await;
            continue;
        }
        let prepared = prepare(&store, &mut next_id, batch).await;
        if let Some(w) = writing.take() {
            publish(&shared, &bus, w.await.unwrap_or_default());
        }
        writing = prepared.map(|p| tokio::spawn(store_prepared(store.clone(), p)));
    }
}

/// Gives the blocks written before blocks carried search filters (migration 000007) their
/// filter, a few hundred at a time between the sink's own writes; until then a search
/// reads such blocks whole. Ends when none is left (at once on a new store).
async fn fill_missing_terms(store: Store) {
    let mut filled = 0usize;
    loop {
        let filters = match store.read(|c| crate::db::logs::missing_terms(c, 256)).await {
            Ok(f) if f.is_empty() => break,
            Ok(f) => f,
            Err(e) => {
                tracing::warn!(error = %e, "reading log blocks without a search filter failed");
                return;
            }
        };
        filled += filters.len();
        if let Err(e) = store
            .write(move |c| crate::db::logs::set_terms(c, &filters))
            .await
        {
            tracing::warn!(error = %e, "storing log search filters failed");
            return;
        }
    }
    if filled > 0 {
        tracing::info!(blocks = filled, "log blocks given their search filters");
    }
}

/// Puts stored lines in the ring and announces them (`entries`: each server's lines as one
/// run, in id order).
fn publish(shared: &Shared, bus: &Addr<EventBus>, mut entries: Vec<LogEntry>) {
    shared
        .stored_total
        .fetch_add(entries.len() as u64, Ordering::Relaxed);
    while !entries.is_empty() {
        let server_id = entries[0].server_id.clone();
        let run = entries
            .iter()
            .position(|e| e.server_id != server_id)
            .unwrap_or(entries.len());
        let rest = entries.split_off(run);
        let mut lines = std::mem::replace(&mut entries, rest);
        {
            let mut ring = lock(&shared.ring);
            let r = ring.entry(server_id.clone()).or_default();
            let newest = &lines[lines.len().saturating_sub(RING)..];
            let overflow = (r.len() + newest.len()).saturating_sub(RING);
            r.drain(..overflow.min(r.len()));
            r.extend(newest.iter().cloned());
        }
        // A backlog is written in big batches; clients get it in events of a size they
        // can take in one WebSocket message.
        while lines.len() > EVENT_LINES {
            let rest = lines.split_off(EVENT_LINES);
            let head = std::mem::replace(&mut lines, rest);
            bus.do_send(PublishLogs {
                server_id: server_id.to_string(),
                lines: head,
            });
        }
        bus.do_send(PublishLogs {
            server_id: server_id.to_string(),
            lines,
        });
    }
}

/// Batches up to this many lines are prepared on the sink's own thread.
const SMALL_BATCH: usize = 256;

/// Lines per `logs:new` event at most.
const EVENT_LINES: usize = 1_000;

/// A batch numbered and encoded as blocks, ready for the store's writer.
pub struct Prepared {
    batch: Vec<LogLine>,
    blocks: Vec<crate::db::logs::PreparedBlock>,
    /// For each block, the indexes of its lines in `batch`.
    members: Vec<Vec<usize>>,
}

/// Numbers a batch and encodes it as blocks, on a blocking thread (neither the thread that
/// reads the pipes nor the store's writer does it).
///
/// The sink numbers the lines itself (`next`, read from the store the first time): it is
/// the only writer of lines.
pub async fn prepare(
    store: &Store,
    next: &mut Option<i64>,
    batch: Vec<LogLine>,
) -> Option<Prepared> {
    use crate::db::logs as q;
    let small = batch.len() <= SMALL_BATCH;
    let first = match *next {
        Some(id) => id,
        None => match store.read(q::next_id).await {
            Ok(id) => id,
            Err(e) => {
                tracing::error!(error = %e, lines = batch.len(), "reading the next log line id failed");
                return None;
            }
        },
    };
    let work = move || {
        let mut batch = batch;
        batch.iter_mut().for_each(LogLine::finish);
        let mut next = first;
        let lines: Vec<q::NewLine> = batch
            .iter()
            .map(|l| q::NewLine {
                server_id: &l.server_id,
                level: l.level,
                source: l.source.as_str(),
                timestamp: l.timestamp.timestamp_micros(),
                truncated: l.truncated,
                original_level: l.original_level.as_deref(),
                message: &l.message,
            })
            .collect();
        let (blocks, members) = q::prepare(&lines, &mut next);
        drop(lines);
        (
            Prepared {
                batch,
                blocks,
                members,
            },
            next,
        )
    };
    // A few lines (a server's normal pace) are prepared here at once: a hop to another
    // thread would only add latency to `logs -f`.
    let done = if small {
        Ok(work())
    } else {
        tokio::task::spawn_blocking(work).await
    };
    match done {
        Ok((prepared, after)) => {
            *next = Some(after);
            Some(prepared)
        }
        Err(e) => {
            tracing::error!(error = %e, "preparing log lines failed");
            None
        }
    }
}

/// Writes a prepared batch in one transaction and returns the stored entries, each
/// server's lines as one run in id order.
pub async fn store_prepared(store: Store, prepared: Prepared) -> Vec<LogEntry> {
    let started = std::time::Instant::now();
    let Prepared {
        batch,
        blocks,
        members,
    } = prepared;
    let n = batch.len();
    let result = store
        .write(move |c| {
            let stored = crate::db::logs::insert_blocks(c, &blocks)?;
            Ok((blocks, stored))
        })
        .await;
    tracing::trace!(
        lines = n,
        ms = started.elapsed().as_millis() as u64,
        "log batch written"
    );
    let (blocks, stored) = match result {
        Ok(done) => done,
        Err(e) => {
            tracing::error!(error = %e, lines = n, "writing log lines failed");
            return vec![];
        }
    };
    let mut batch: Vec<Option<LogLine>> = batch.into_iter().map(Some).collect();
    let mut entries = Vec::with_capacity(n);
    for ((block, idx), ok) in blocks.iter().zip(members).zip(stored) {
        if !ok {
            continue;
        }
        for (k, i) in idx.into_iter().enumerate() {
            let Some(l) = batch[i].take() else { continue };
            entries.push(LogEntry {
                id: block.id + k as i64,
                server_id: l.server_id,
                level: Cow::Borrowed(l.level),
                original_level: l.original_level,
                message: l.message,
                source: Some(Cow::Borrowed(l.source.as_str())),
                timestamp: l.timestamp,
                truncated: l.truncated,
            });
        }
    }
    entries
}

/// [`prepare`] then [`store_prepared`], one batch at a time (for
/// `examples/ingest_writer.rs`, which measures this path alone).
pub async fn write(store: &Store, next: &mut Option<i64>, batch: Vec<LogLine>) -> Vec<LogEntry> {
    match prepare(store, next, batch).await {
        Some(p) => store_prepared(store.clone(), p).await,
        None => vec![],
    }
}

/// [`sanitize`] of bytes it may keep: printable ASCII becomes the String without a copy.
pub fn sanitize_owned(bytes: Vec<u8>) -> String {
    if is_plain(&bytes) {
        return String::from_utf8(bytes).unwrap_or_default();
    }
    sanitize(&bytes)
}

/// Printable ASCII (and tab) only: nothing to clean.
fn is_plain(bytes: &[u8]) -> bool {
    // Without an early exit per byte the compiler checks 32 or 64 bytes an instruction.
    bytes.chunks(64).all(|chunk| {
        chunk.iter().fold(true, |ok, &b| {
            ok & ((b.wrapping_sub(0x20) < 0x5f) | (b == b'\t'))
        })
    })
}

/// Text safe to store and show: invalid UTF-8 replaced, ANSI escapes and control
/// characters (other than tab) removed.
pub fn sanitize(bytes: &[u8]) -> String {
    // Most lines are plain printable ASCII: one scan, one copy.
    if is_plain(bytes)
        && let Ok(plain) = std::str::from_utf8(bytes)
    {
        return plain.to_owned();
    }
    let text = String::from_utf8_lossy(bytes);
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            // CSI: ESC [ params final-byte; other escapes: ESC + one char.
            if chars.peek() == Some(&'[') {
                chars.next();
                for c2 in chars.by_ref() {
                    if ('@'..='~').contains(&c2) {
                        break;
                    }
                }
            } else {
                chars.next();
            }
        } else if c == '\t' || !c.is_control() {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sanitizes() {
        assert_eq!(sanitize(b"\x1b[31mred\x1b[0m\x00ok\tx"), "redok\tx");
        assert_eq!(sanitize(b"bad \xff byte"), "bad \u{fffd} byte");
    }
}
