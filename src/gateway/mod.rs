//! The MCP gateway: `/mcp/{name}` serves a managed server to any MCP client over
//! Streamable HTTP (revision 2025-11-25; the older revisions' headers accepted), in front
//! of the server's single upstream session (DESIGN.md §16).
//!
//! Why a forwarder of raw JSON-RPC and not rmcp's (or rmcp-actix-web's) streamable-HTTP
//! server with a forwarding `ServerHandler`: a typed handler would parse every message
//! into rmcp's types and serialize it again (twice per hop, and lossy where a server sends
//! fields or result shapes rmcp does not model: elicitation schemas, untagged results),
//! and it would route through rmcp's per-session service tasks, where notifications are
//! handled apart from responses, so a progress notification read together with its result
//! can arrive after it. Here each message is parsed once as an envelope whose payload
//! stays raw bytes, ids and progress tokens are rewritten by splicing, and the router
//! handles the upstream's lines in order on one task (see [`upstream`]). MCP types still
//! come from rmcp: method names, capabilities, the `initialize` result, error bodies,
//! protocol versions.
//!
//! Layout: [`jsonrpc`] (framing), [`upstream`] (the router per upstream session, wrapped
//! around the stdio pipes by [`crate::mcp::McpSession`]), [`http_upstream`] (the gateway's
//! own session with a server reached over HTTP, feeding the same router), [`session`] (a
//! downstream client session), [`http`] (the endpoint), [`metrics`] (calls, errors and
//! latency per server and tool, recorded by the router), [`aggregate`] (`/mcp`: every
//! running, exposed server behind one endpoint), [`names`] (its naming rule) and [`isolated`]
//! (sessions with an upstream process of their own, `isolation: "per-session"`). Host/Origin checks and the bearer token come from
//! `crate::api::security`, which guards `/mcp` as it guards `/api`.
//!
//! Per-server options ([`Policy`]: exposed, tool allow/deny, start on demand) are read on
//! every request from a watch channel the ServerActor updates when its definition changes,
//! so a PATCH applies to the next request without a restart and without a mailbox hop on
//! the hot path.

pub mod aggregate;
pub mod front;
pub mod http;
pub mod http_upstream;
pub mod isolated;
pub mod jsonrpc;
pub mod metrics;
pub mod names;
pub mod session;
pub mod upstream;

pub use upstream::Upstream;

use crate::model::{McpInfo, Settings, ToolFilter};
use crate::state::StatusKind;
use session::Session;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::Duration;
use tokio::sync::watch;

/// Sessions a client never deletes end after this long without a request (an open GET
/// stream keeps a session alive).
pub const SESSION_IDLE: Duration = Duration::from_secs(30 * 60);

/// The server name of an aggregate session (`/mcp`); no server can be named so.
pub const AGGREGATE: &str = "";

/// Largest request body on the MCP endpoints (tool arguments, sampling answers with
/// images).
pub const MAX_BODY: usize = 8 * 1024 * 1024;

/// The thread that serves the HTTP connections (the daemon runs one HTTP worker) and, once
/// it is known, also reads every stdio server's stdout and runs its router: a call's answer
/// is read from the child, routed and written to its client on one thread, with no wake-up
/// of another thread in between (each one costs more than the rest of the hop).
static IO_THREAD: OnceLock<actix_rt::ArbiterHandle> = OnceLock::new();

/// Called by the HTTP worker when it starts: its thread becomes the IO thread.
pub fn claim_io_thread() {
    if let Some(arbiter) = actix_rt::Arbiter::try_current() {
        let _ = IO_THREAD.set(arbiter);
    }
}

/// Runs `fut` on the IO thread, or on the caller's runtime when there is none (unit tests,
/// a worker that has stopped at shutdown). The tasks spawned here end with their pipes.
pub fn spawn_io<F>(fut: F)
where
    F: std::future::Future<Output = ()> + Send + 'static,
{
    let Some(arbiter) = IO_THREAD.get() else {
        tokio::spawn(fut);
        return;
    };
    // A stopped arbiter drops what it is sent; the slot lets the caller take it back.
    let slot = Arc::new(Mutex::new(Some(fut)));
    let theirs = slot.clone();
    let sent = arbiter.spawn(async move {
        let fut = theirs.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(fut) = fut {
            fut.await;
        }
    });
    if !sent && let Some(fut) = slot.lock().unwrap_or_else(|p| p.into_inner()).take() {
        tokio::spawn(fut);
    }
}

/// Where a server stands for the gateway (answered by its ServerActor).
pub struct Reach {
    pub name: String,
    pub status: StatusKind,
    /// Set while the server runs and its session is one the gateway can front.
    pub upstream: Option<Upstream>,
    /// What the last handshake recorded.
    pub info: Option<McpInfo>,
    /// The server's gateway options, current at every read.
    pub policy: watch::Receiver<Arc<Policy>>,
    /// The server's status as it changes (for a caller waiting for `running`).
    pub status_changes: watch::Receiver<StatusKind>,
    /// Per-session servers give each client session an upstream of its own.
    pub isolation: crate::model::Isolation,
}

/// What a server's settings say about its gateway endpoints.
#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    /// Clients reach the server at all (else its endpoint answers 404).
    pub exposed: bool,
    /// A call to the stopped server starts it and waits for `running`.
    pub start_on_demand: bool,
    /// How long such a call waits: the server's start timeout.
    pub start_timeout: Duration,
    /// The tools clients see and may call.
    pub tools: ToolFilter,
}

impl Policy {
    pub fn of(s: &Settings) -> Policy {
        Policy {
            exposed: s.exposed,
            start_on_demand: s.start_on_demand,
            start_timeout: Duration::try_from_secs_f64(s.start_timeout_secs)
                .unwrap_or(Duration::from_secs(120)),
            tools: s.tools.clone(),
        }
    }
}

/// The downstream sessions of every server; shared by all HTTP workers.
pub struct Gateway {
    sessions: Mutex<HashMap<String, Arc<Session>>>,
    idle: Duration,
    /// Calls, errors and latencies per server and tool.
    pub metrics: metrics::Metrics,
    /// The aggregate endpoint's names and uris, as its last lists gave them out.
    pub catalog: Mutex<aggregate::Catalog>,
}

impl Gateway {
    /// The gateway, with its idle-session reaper running (needs the actix runtime).
    pub fn start(idle: Duration) -> Arc<Gateway> {
        let gw = Arc::new(Gateway {
            sessions: Mutex::new(HashMap::new()),
            idle,
            metrics: metrics::Metrics::default(),
            catalog: Mutex::new(aggregate::Catalog::default()),
        });
        let weak = Arc::downgrade(&gw);
        let every = (idle / 4).clamp(Duration::from_millis(100), Duration::from_secs(60));
        actix_rt::spawn(async move {
            let mut tick = tokio::time::interval(every);
            loop {
                tick.tick().await;
                let Some(gw) = weak.upgrade() else { break };
                gw.expire();
            }
        });
        gw
    }

    fn sessions(&self) -> MutexGuard<'_, HashMap<String, Arc<Session>>> {
        self.sessions.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn insert(&self, session: Arc<Session>) {
        self.sessions().insert(session.id.clone(), session);
    }

    fn get(&self, id: &str) -> Option<Arc<Session>> {
        self.sessions().get(id).cloned()
    }

    /// Ends a session: its subscriptions upstream and its stream.
    fn remove(&self, id: &str) -> Option<Arc<Session>> {
        let session = self.sessions().remove(id)?;
        end(&session);
        Some(session)
    }

    fn expire(&self) {
        let expired: Vec<Arc<Session>> = {
            let mut map = self.sessions();
            let ids: Vec<String> = map
                .iter()
                .filter(|(_, s)| s.expired(self.idle))
                .map(|(id, _)| id.clone())
                .collect();
            ids.iter().filter_map(|id| map.remove(id)).collect()
        };
        for s in &expired {
            tracing::debug!(session = %s.id, server = %s.server, "gateway session expired");
            end(s);
        }
    }

    /// Ends every session (daemon shutdown): their GET streams close.
    pub fn close_all(&self) {
        let all: Vec<Arc<Session>> = self.sessions().drain().map(|(_, s)| s).collect();
        for s in &all {
            end(s);
        }
    }

    /// Every aggregate session (to tell them their lists changed).
    fn aggregate_sessions(&self) -> Vec<Arc<Session>> {
        self.sessions()
            .values()
            .filter(|s| s.is_aggregate())
            .cloned()
            .collect()
    }

    /// Number of open downstream sessions.
    pub fn len(&self) -> usize {
        self.sessions().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

fn end(session: &Arc<Session>) {
    session.close_stream();
    if let Some(up) = session.take_upstream() {
        up.detach(session);
    }
    for (server, up) in session.take_links() {
        up.detach_with(session, session.subscriptions_at(&server));
    }
    session.release_instance();
}

/// The routes, mounted by `crate::api::configure`.
pub fn configure(cfg: &mut actix_web::web::ServiceConfig) {
    use actix_web::web;
    cfg.service(
        web::scope("/mcp")
            .app_data(web::PayloadConfig::new(MAX_BODY))
            .default_service(web::to(http::endpoint)),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[actix_rt::test]
    async fn idle_sessions_expire() {
        let gw = Gateway::start(Duration::from_millis(200));
        let caps = rmcp::model::ClientCapabilities::default();
        let idle = Arc::new(Session::new(
            "a".into(),
            "s".into(),
            "2025-11-25".into(),
            &caps,
        ));
        let streaming = Arc::new(Session::new(
            "b".into(),
            "s".into(),
            "2025-11-25".into(),
            &caps,
        ));
        let _stream = streaming.open_stream();
        gw.insert(idle);
        gw.insert(streaming);
        assert_eq!(gw.len(), 2);
        tokio::time::sleep(Duration::from_millis(600)).await;
        assert!(gw.get("a").is_none(), "an idle session expires");
        assert!(gw.get("b").is_some(), "an open GET stream keeps a session");
    }
}
