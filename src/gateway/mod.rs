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
//! latency per server and tool, recorded by the router), [`isolated`] (sessions with an
//! upstream process of their own, `isolation: "per-session"`). Host/Origin checks and the bearer token come from
//! `crate::api::security`, which guards `/mcp` as it guards `/api`.

pub mod http;
pub mod http_upstream;
pub mod isolated;
pub mod jsonrpc;
pub mod metrics;
pub mod session;
pub mod upstream;

pub use upstream::Upstream;

use crate::model::McpInfo;
use crate::state::StatusKind;
use session::Session;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

/// Sessions a client never deletes end after this long without a request (an open GET
/// stream keeps a session alive).
pub const SESSION_IDLE: Duration = Duration::from_secs(30 * 60);

/// Largest request body on the MCP endpoints (tool arguments, sampling answers with
/// images).
pub const MAX_BODY: usize = 8 * 1024 * 1024;

/// Where a server stands for the gateway (answered by its ServerActor).
pub struct Reach {
    pub name: String,
    pub status: StatusKind,
    /// Set while the server runs and its session is one the gateway can front.
    pub upstream: Option<Upstream>,
    /// What the last handshake recorded.
    pub info: Option<McpInfo>,
    /// Per-session servers give each client session an upstream of its own.
    pub isolation: crate::model::Isolation,
}

/// The downstream sessions of every server; shared by all HTTP workers.
pub struct Gateway {
    sessions: Mutex<HashMap<String, Arc<Session>>>,
    idle: Duration,
    /// Calls, errors and latencies per server and tool.
    pub metrics: metrics::Metrics,
}

impl Gateway {
    /// The gateway, with its idle-session reaper running (needs the actix runtime).
    pub fn start(idle: Duration) -> Arc<Gateway> {
        let gw = Arc::new(Gateway {
            sessions: Mutex::new(HashMap::new()),
            idle,
            metrics: metrics::Metrics::default(),
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
    session.release_instance();
}

/// The routes, mounted by `crate::api::configure`.
pub fn configure(cfg: &mut actix_web::web::ServiceConfig) {
    use actix_web::web;
    cfg.service(
        web::resource("/mcp/{name}")
            .app_data(web::PayloadConfig::new(MAX_BODY))
            .route(web::post().to(http::post))
            .route(web::get().to(http::get))
            .route(web::delete().to(http::delete)),
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
