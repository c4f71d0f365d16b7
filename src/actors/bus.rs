//! The EventBus: fan-out of daemon events to WebSocket sessions (and anyone else who
//! subscribes), each through its own bounded queue.
//!
//! An event is serialized once and shared; a subscriber whose queue is full misses events
//! and is marked lagged (its session resyncs from a snapshot), so a slow client never slows
//! the daemon or the other clients. Shutdown: subscribers' receivers close when the bus stops.

use actix::prelude::*;
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use tokio::sync::mpsc;

use crate::health::HealthState;
use crate::model::ServerView;
use crate::state::StatusKind;

/// One event as sent to clients: `{type, seq, ts, data}`.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Event {
    #[serde(rename = "type")]
    pub kind: String,
    pub seq: u64,
    pub ts: DateTime<Utc>,
    #[schema(value_type = Object)]
    pub data: serde_json::Value,
}

/// What each event type carries: the one definition of the event payloads, used to build
/// every event and published in the OpenAPI document (as `EventPayload`), so clients do not
/// write them again by hand. Serialized adjacently tagged, it is `{type, data}`; the bus
/// adds `seq` and `ts`.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(tag = "type", content = "data")]
pub enum EventPayload {
    /// First message of every connection, and again after `lagged`.
    #[serde(rename = "snapshot")]
    Snapshot { servers: Vec<ServerView> },
    #[serde(rename = "server:created")]
    ServerCreated { server: ServerView },
    #[serde(rename = "server:updated")]
    ServerUpdated { server: ServerView },
    #[serde(rename = "server:deleted")]
    ServerDeleted { id: String, name: String },
    #[serde(rename = "server:status")]
    ServerStatus {
        id: String,
        name: String,
        status: StatusKind,
        previous: StatusKind,
        generation: u64,
        server: ServerView,
    },
    /// The server's health state changed.
    #[serde(rename = "server:health")]
    ServerHealth {
        id: String,
        name: String,
        health: HealthState,
        previous: HealthState,
        server: ServerView,
    },
    /// Progress of pulling a container server's image.
    #[serde(rename = "server:pull")]
    ServerPull {
        id: String,
        name: String,
        image: String,
        progress: String,
    },
    /// Every health check.
    #[serde(rename = "health:update")]
    HealthUpdate {
        id: String,
        name: String,
        /// `healthy` or `unhealthy`: this check.
        status: String,
        /// The server's health state after this check.
        health: String,
        response_time_ms: Option<i32>,
        error: Option<String>,
        probes: Vec<String>,
        at: DateTime<Utc>,
    },
    /// New lines of one server's log, only to subscribers of that server's logs.
    #[serde(rename = "logs:new")]
    LogsNew {
        server_id: String,
        lines: Vec<crate::logs::LogEntry>,
    },
}

impl EventPayload {
    pub fn kind(&self) -> &'static str {
        match self {
            EventPayload::Snapshot { .. } => "snapshot",
            EventPayload::ServerCreated { .. } => "server:created",
            EventPayload::ServerUpdated { .. } => "server:updated",
            EventPayload::ServerDeleted { .. } => "server:deleted",
            EventPayload::ServerStatus { .. } => "server:status",
            EventPayload::ServerHealth { .. } => "server:health",
            EventPayload::ServerPull { .. } => "server:pull",
            EventPayload::HealthUpdate { .. } => "health:update",
            EventPayload::LogsNew { .. } => "logs:new",
        }
    }

    /// Its `data` as JSON.
    pub fn data(&self) -> serde_json::Value {
        match serde_json::to_value(self) {
            Ok(serde_json::Value::Object(mut m)) => m.remove("data").unwrap_or_default(),
            _ => serde_json::Value::Null,
        }
    }
}

impl From<EventPayload> for Publish {
    fn from(p: EventPayload) -> Publish {
        let log_of = match &p {
            EventPayload::LogsNew { server_id, .. } => Some(server_id.clone()),
            _ => None,
        };
        Publish {
            kind: p.kind(),
            data: p.data(),
            log_of,
        }
    }
}

/// An event serialized once for every subscriber.
pub type SharedEvent = Arc<str>;

/// Publish an event; the bus assigns its sequence number and time.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Publish {
    pub kind: &'static str,
    pub data: serde_json::Value,
    /// Events about one server's logs go only to subscribers of that server.
    pub log_of: Option<String>,
}

/// New lines of one server's log, sent only to the subscribers of that server's logs and
/// serialized only when there is one.
#[derive(Message)]
#[rtype(result = "()")]
pub struct PublishLogs {
    pub server_id: String,
    pub lines: Vec<crate::logs::LogEntry>,
}

/// Register a subscriber; returns its id and the sequence number of the last event
/// published before it joined.
#[derive(Message)]
#[rtype(result = "(u64, u64)")]
pub struct Subscribe {
    pub tx: mpsc::Sender<SharedEvent>,
    pub lagged: Arc<AtomicBool>,
}

#[derive(Message)]
#[rtype(result = "()")]
pub struct Unsubscribe(pub u64);

/// Set which servers' log lines a subscriber receives.
#[derive(Message)]
#[rtype(result = "()")]
pub struct SetLogTopics {
    pub id: u64,
    pub servers: Vec<String>,
}

struct Subscriber {
    tx: mpsc::Sender<SharedEvent>,
    lagged: Arc<AtomicBool>,
    log_topics: Vec<String>,
}

#[derive(Default)]
pub struct EventBus {
    seq: u64,
    next_id: u64,
    subscribers: HashMap<u64, Subscriber>,
}

impl Actor for EventBus {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        // Publishers use do_send; the bus must keep up with bursts of them.
        ctx.set_mailbox_capacity(1 << 20);
    }
}

impl Handler<Publish> for EventBus {
    type Result = ();

    fn handle(&mut self, msg: Publish, _: &mut Self::Context) {
        // Log lines are the bulk of events: do not even serialize them for nobody.
        if let Some(server) = &msg.log_of
            && !self
                .subscribers
                .values()
                .any(|s| s.log_topics.iter().any(|t| t == server || t == "*"))
        {
            return;
        }
        self.seq += 1;
        let event = Event {
            kind: msg.kind.to_string(),
            seq: self.seq,
            ts: Utc::now(),
            data: msg.data,
        };
        let Ok(text) = serde_json::to_string(&event) else {
            return;
        };
        let shared: SharedEvent = Arc::from(text);
        self.subscribers.retain(|_, s| {
            if let Some(server) = &msg.log_of
                && !s.log_topics.iter().any(|t| t == server || t == "*")
            {
                return true;
            }
            match s.tx.try_send(shared.clone()) {
                Ok(()) => true,
                Err(mpsc::error::TrySendError::Full(_)) => {
                    s.lagged.store(true, Ordering::Relaxed);
                    true
                }
                Err(mpsc::error::TrySendError::Closed(_)) => false,
            }
        });
    }
}

impl Handler<PublishLogs> for EventBus {
    type Result = ();

    fn handle(&mut self, msg: PublishLogs, ctx: &mut Self::Context) {
        let wanted = self
            .subscribers
            .values()
            .any(|s| s.log_topics.iter().any(|t| *t == msg.server_id || t == "*"));
        if !wanted {
            return;
        }
        let event = EventPayload::LogsNew {
            server_id: msg.server_id,
            lines: msg.lines,
        };
        self.handle(Publish::from(event), ctx);
    }
}

impl Handler<Subscribe> for EventBus {
    type Result = MessageResult<Subscribe>;

    fn handle(&mut self, msg: Subscribe, _: &mut Self::Context) -> Self::Result {
        self.next_id += 1;
        self.subscribers.insert(
            self.next_id,
            Subscriber {
                tx: msg.tx,
                lagged: msg.lagged,
                log_topics: vec![],
            },
        );
        MessageResult((self.next_id, self.seq))
    }
}

impl Handler<Unsubscribe> for EventBus {
    type Result = ();

    fn handle(&mut self, msg: Unsubscribe, _: &mut Self::Context) {
        self.subscribers.remove(&msg.0);
    }
}

impl Handler<SetLogTopics> for EventBus {
    type Result = ();

    fn handle(&mut self, msg: SetLogTopics, _: &mut Self::Context) {
        if let Some(s) = self.subscribers.get_mut(&msg.id) {
            s.log_topics = msg.servers;
        }
    }
}
