//! The LogSink: every line a server produces (stderr, non-protocol stdout, MCP log
//! notifications, the manager's own `system` lines) goes through here into `server_logs`.
//!
//! Producers never wait: they `try_send` into a bounded queue and count what they could not
//! enqueue; the count is itself logged once there is room again. One task drains the queue
//! and writes batches, each in one transaction through the store's single writer, then
//! announces `logs:new` on the bus. Shutdown: when every producer's sender is dropped the
//! task writes what is left and ends; [`LogSink::flush_and_close`] waits for that.

pub mod level;

use crate::actors::bus::{EventBus, Publish};
use crate::db::Store;
use crate::db::models::NewLogRow;
use actix::Addr;
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use tokio::sync::mpsc;

pub const QUEUE_CAPACITY: usize = 20_000;
pub const BATCH: usize = 1_000;
/// Longest line kept, in bytes; longer lines are cut and flagged `truncated`.
pub const MAX_LINE: usize = 16 * 1024;

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

#[derive(Debug, Clone, Serialize)]
pub struct LogLine {
    pub server_id: String,
    pub level: &'static str,
    pub message: String,
    pub source: Source,
    pub timestamp: DateTime<Utc>,
    pub truncated: bool,
}

/// A producer's handle; cheap to clone, one per pipe.
#[derive(Clone)]
pub struct LogSender {
    tx: mpsc::Sender<LogLine>,
    dropped: Arc<AtomicU64>,
}

impl LogSender {
    /// Enqueues without waiting. A full queue drops the line and counts it.
    pub fn send(&self, line: LogLine) {
        let dropped = self.dropped.swap(0, Ordering::Relaxed);
        if dropped > 0 {
            let note = LogLine {
                server_id: line.server_id.clone(),
                level: "warn",
                message: format!("log queue full: {dropped} lines were dropped"),
                source: Source::System,
                timestamp: line.timestamp,
                truncated: false,
            };
            if self.tx.try_send(note).is_err() {
                self.dropped.fetch_add(dropped, Ordering::Relaxed);
            }
        }
        if self.tx.try_send(line).is_err() {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    pub fn line(&self, server_id: &str, source: Source, bytes: &[u8], truncated: bool) {
        let message = sanitize(bytes);
        let level = level::detect(&message).level;
        self.send(LogLine {
            server_id: server_id.to_string(),
            level,
            message,
            source,
            timestamp: Utc::now(),
            truncated,
        });
    }

    pub fn system(&self, server_id: &str, level: &'static str, message: impl Into<String>) {
        self.send(LogLine {
            server_id: server_id.to_string(),
            level,
            message: message.into(),
            source: Source::System,
            timestamp: Utc::now(),
            truncated: false,
        });
    }
}

pub struct LogSink {
    sender: Option<LogSender>,
    task: Option<tokio::task::JoinHandle<()>>,
    close: Option<tokio::sync::oneshot::Sender<()>>,
}

impl LogSink {
    pub fn start(store: Store, bus: Addr<EventBus>) -> LogSink {
        let (tx, rx) = mpsc::channel(QUEUE_CAPACITY);
        let (close, closed) = tokio::sync::oneshot::channel();
        let task = tokio::spawn(drain(rx, closed, store, bus));
        LogSink {
            sender: Some(LogSender {
                tx,
                dropped: Arc::new(AtomicU64::new(0)),
            }),
            task: Some(task),
            close: Some(close),
        }
    }

    pub fn sender(&self) -> Option<LogSender> {
        self.sender.clone()
    }

    /// Writes every line queued so far and ends the sink (servers are stopped by then, so
    /// nothing of theirs is still on its way); gives up after `timeout`.
    pub async fn flush_and_close(&mut self, timeout: std::time::Duration) {
        self.sender = None;
        if let Some(close) = self.close.take() {
            let _ = close.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = tokio::time::timeout(timeout, task).await;
        }
    }
}

async fn drain(
    mut rx: mpsc::Receiver<LogLine>,
    mut closed: tokio::sync::oneshot::Receiver<()>,
    store: Store,
    bus: Addr<EventBus>,
) {
    let mut batch = Vec::with_capacity(BATCH);
    let mut closing = false;
    loop {
        if closing {
            // Take what is queued now, without waiting for senders that may never go away.
            while batch.len() < BATCH {
                match rx.try_recv() {
                    Ok(line) => batch.push(line),
                    Err(_) => break,
                }
            }
            if batch.is_empty() {
                return;
            }
        } else {
            tokio::select! {
                n = rx.recv_many(&mut batch, BATCH) => if n == 0 { return },
                _ = &mut closed => { closing = true; continue; }
            }
        }
        let rows: Vec<NewLogRow> = batch
            .iter()
            .map(|l| NewLogRow {
                server_id: l.server_id.clone(),
                level: l.level.to_string(),
                message: l.message.clone(),
                source: Some(l.source.as_str().to_string()),
                timestamp: l.timestamp.naive_utc(),
                truncated: l.truncated,
            })
            .collect();
        let result = store
            .write(move |c| {
                use crate::db::schema::server_logs::dsl::*;
                use diesel::prelude::*;
                // Rows of a server deleted meanwhile fail the foreign key; insert one by one
                // only then, so one gone server does not lose everyone's batch.
                match diesel::insert_into(server_logs).values(&rows).execute(c) {
                    Ok(n) => Ok(n),
                    Err(_) => {
                        let mut n = 0;
                        for r in &rows {
                            n += diesel::insert_into(server_logs)
                                .values(r)
                                .execute(c)
                                .unwrap_or(0);
                        }
                        Ok(n)
                    }
                }
            })
            .await;
        if let Err(e) = result {
            tracing::error!(error = %e, lines = batch.len(), "writing log lines failed");
        }
        for line in batch.drain(..) {
            let server = line.server_id.clone();
            bus.do_send(Publish {
                kind: "logs:new",
                data: serde_json::to_value(&line).unwrap_or_default(),
                log_of: Some(server),
            });
        }
    }
}

/// Text safe to store and show: invalid UTF-8 replaced, ANSI escapes and control
/// characters (other than tab) removed.
pub fn sanitize(bytes: &[u8]) -> String {
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
