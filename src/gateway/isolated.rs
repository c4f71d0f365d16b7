//! `isolation: "per-session"`: a client session of `/mcp/{name}` with an upstream process
//! of its own, for servers that keep per-user state.
//!
//! At the client's `initialize` the gateway asks the server's actor for a fresh instance
//! ([`crate::actors::server::OpenInstance`]); the actor spawns it, does the manager's
//! handshake over its pipes and hands back the router on them, whose requests,
//! notifications and server→client requests then concern this one session only (the
//! router's attribution rules have a single session to choose from). The client's
//! `initialize` answer is that instance's own handshake result.
//!
//! The session holds a [`Lease`] on its instance. Ending the session (DELETE, idle expiry,
//! daemon shutdown: `Gateway::remove`, `expire`, `close_all`) releases it, and so does
//! dropping the session: the actor then stops the instance with the stop sequence of a run.
//! The actor owns the process; when the server stops, restarts or is deleted it stops every
//! instance itself, and the session's next request is told its upstream is gone.

use super::Reach;
use super::session::Session;
use super::upstream::Upstream;
use crate::actors::registry::Lookup;
use crate::actors::server::{EndInstance, OpenInstance, ServerActor};
use crate::api::AppState;
use crate::error::AppError;
use crate::model::McpInfo;
use crate::state::StatusKind;
use actix::Addr;
use actix_web::http::StatusCode;
use rmcp::model::{ErrorCode, ErrorData};
use std::sync::atomic::{AtomicBool, Ordering};

/// A session's claim on its instance: released once, explicitly or on drop.
pub struct Lease {
    actor: Addr<ServerActor>,
    session_id: String,
    released: AtomicBool,
}

impl Lease {
    /// The session ended: the actor stops its instance.
    pub fn release(&self) {
        if !self.released.swap(true, Ordering::AcqRel) {
            self.actor.do_send(EndInstance {
                session_id: self.session_id.clone(),
            });
        }
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        self.release();
    }
}

/// A new session's own instance, ready.
pub struct Opened {
    pub upstream: Upstream,
    /// Its handshake, in the shape the gateway answers `initialize` from.
    pub info: McpInfo,
    pub lease: Lease,
}

fn error(code: ErrorCode, message: String, status: Option<StatusKind>) -> ErrorData {
    ErrorData {
        code,
        message: message.into(),
        data: status.map(|s| serde_json::json!({ "status": s })),
    }
}

/// Asks the actor of `reach.name` for an instance for the new session `session_id`.
/// On failure: the HTTP status to answer with (503 at the instance limit) and the error.
pub async fn open(
    app: &AppState,
    reach: &Reach,
    session_id: &str,
) -> Result<Opened, (StatusCode, ErrorData)> {
    if reach.status != StatusKind::Running {
        return Err((StatusCode::OK, super::http::unavailable(reach)));
    }
    let actor = match app.registry.send(Lookup(reach.name.clone())).await {
        Ok(Ok(addr)) => addr,
        Ok(Err(e)) => {
            return Err((
                StatusCode::NOT_FOUND,
                error(ErrorCode::INVALID_PARAMS, e.to_string(), None),
            ));
        }
        Err(e) => {
            return Err((
                StatusCode::INTERNAL_SERVER_ERROR,
                error(ErrorCode::INTERNAL_ERROR, e.to_string(), None),
            ));
        }
    };
    // Taken before the request is sent: if this handler is dropped mid-handshake (the
    // client went away), the lease's drop stops the instance the actor is starting.
    let lease = Lease {
        actor: actor.clone(),
        session_id: session_id.to_string(),
        released: AtomicBool::new(false),
    };
    let ready = actor
        .send(OpenInstance {
            session_id: session_id.to_string(),
        })
        .await;
    let ready = match ready {
        Ok(Ok(r)) => r,
        Ok(Err(e)) => {
            let status = match e {
                AppError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
                _ => StatusCode::OK,
            };
            return Err((
                status,
                error(
                    super::jsonrpc::SERVER_ERROR,
                    e.to_string(),
                    Some(reach.status),
                ),
            ));
        }
        Err(e) => {
            return Err((
                StatusCode::INTERNAL_SERVER_ERROR,
                error(ErrorCode::INTERNAL_ERROR, e.to_string(), None),
            ));
        }
    };
    let peer = ready.peer.as_deref();
    let info = McpInfo {
        server_info: peer
            .and_then(|p| p.server_info.as_ref())
            .and_then(|s| serde_json::to_value(s).ok()),
        protocol_version: peer.map(|p| p.protocol_version.to_string()),
        capabilities: peer
            .and_then(|p| serde_json::to_value(&p.capabilities).ok())
            .unwrap_or_default(),
        instructions: peer.and_then(|p| p.instructions.clone()),
        ..McpInfo::default()
    };
    Ok(Opened {
        upstream: ready.upstream,
        info,
        lease,
    })
}

/// The error for a request of a session whose own instance has exited: it does not fall
/// back on the shared upstream (that would mix users' state); the client initializes again.
pub fn gone(session: &Session) -> ErrorData {
    error(
        super::jsonrpc::SERVER_ERROR,
        format!(
            "server {}: this session's own upstream process exited (isolation per-session); initialize a new session to get a new one",
            session.server
        ),
        None,
    )
}
