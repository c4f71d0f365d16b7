//! The upstream MCP session of a server: the manager as the server's MCP client.
//!
//! A session belongs to its ServerActor; others (the API's tool view, the health probe, the
//! gateway) use it through a cloned [`Peer`]. The protocol era is negotiated: rmcp's `Auto`
//! lifecycle tries `server/discover` (2026-07-28) and falls back to `initialize`
//! (2025-11-25 and older). The client's response cache is disabled, so a probe or a list
//! always reaches the server. Shutdown: [`McpSession::close`] cancels the service, which
//! drops the transport (for stdio that closes the child's stdin, the MCP way to ask a stdio
//! server to exit).

use crate::gateway::upstream::Lines;
use crate::logs::LogSender;
use crate::model::{McpInfo, McpItem};
#[allow(deprecated)]
use rmcp::model::{
    ClientCapabilities, ClientRequest, Implementation, InitializeRequestParams,
    LoggingMessageNotificationParam, ProtocolVersion, RootsCapabilities, ServerPeerInfo,
    ServerResult,
};
use rmcp::service::{
    ClientLifecycleMode, ClientServiceExt, NotificationContext, Peer, RoleClient, RunningService,
};
use rmcp::{ClientHandler, ServiceExt as _};
use std::time::{Duration, Instant};
use tokio::io::AsyncWrite;

/// Our side of the session: identifies the manager and records the server's log
/// notifications.
#[derive(Clone)]
pub struct ManagerClient {
    server_id: String,
    logs: Option<LogSender>,
}

// MCP logging is deprecated by SEP-2577, but the servers people run today still send it.
#[allow(deprecated)]
impl ClientHandler for ManagerClient {
    fn get_info(&self) -> InitializeRequestParams {
        let mut info = Implementation::from_build_env();
        info.name = "mcp-manager".into();
        info.version = env!("CARGO_PKG_VERSION").into();
        // Declared so that servers may use them: the gateway forwards these requests to the
        // client whose call caused them (see `crate::gateway::upstream`); without a gateway
        // client waiting, rmcp's defaults answer (no sampling, elicitation declined, no roots).
        let mut caps = ClientCapabilities::default();
        caps.sampling = Some(Default::default());
        caps.elicitation = Some(Default::default());
        let mut roots = RootsCapabilities::default();
        roots.list_changed = Some(true);
        caps.roots = Some(roots);
        InitializeRequestParams::new(caps, info)
    }

    async fn on_logging_message(
        &self,
        params: LoggingMessageNotificationParam,
        _context: NotificationContext<RoleClient>,
    ) {
        if let Some(logs) = &self.logs {
            let level = serde_json::to_value(params.level)
                .ok()
                .and_then(|v| v.as_str().map(String::from))
                .unwrap_or_else(|| "info".into());
            let text = match &params.data {
                serde_json::Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            let message = match &params.logger {
                Some(logger) => format!("[{logger}] {text}"),
                None => text,
            };
            logs.mcp(&self.server_id, &level, &message);
        }
    }
}

pub struct McpSession {
    service: RunningService<RoleClient, ManagerClient>,
    /// The gateway's router on the session's pipes (stdio sessions).
    upstream: Option<crate::gateway::Upstream>,
}

fn lifecycle() -> ClientLifecycleMode {
    ClientLifecycleMode::Auto {
        preferred_versions: vec![ProtocolVersion::V_2026_07_28],
        legacy_version: Some(ProtocolVersion::V_2025_11_25),
    }
}

impl McpSession {
    /// Handshake over a stdio pair (the JSON-RPC lines of the child's stdout, and its
    /// stdin).
    pub async fn connect_stdio<W>(
        server_id: &str,
        logs: Option<LogSender>,
        reader: Lines,
        writer: W,
    ) -> Result<McpSession, String>
    where
        W: AsyncWrite + Send + Unpin + 'static,
    {
        let client = ManagerClient {
            server_id: server_id.to_string(),
            logs,
        };
        let (reader, writer, upstream) = crate::gateway::Upstream::wrap(reader, writer);
        let service = client
            .serve_with_lifecycle((reader, writer), lifecycle())
            .await
            .map_err(|e| format!("MCP handshake failed: {e}"))?;
        upstream.set_modern(modern(&service.peer().peer_info()));
        Ok(Self::ready(service, Some(upstream)).await)
    }

    /// Resumes the session of a server that is already initialized (a container adopted
    /// after a daemon restart): no new handshake, the recorded peer info, then a ping to prove
    /// the server still answers.
    pub async fn resume_stdio<W>(
        server_id: &str,
        logs: Option<LogSender>,
        reader: Lines,
        writer: W,
        recorded: &McpInfo,
    ) -> Result<McpSession, String>
    where
        W: AsyncWrite + Send + Unpin + 'static,
    {
        let version = recorded
            .protocol_version
            .clone()
            .unwrap_or_else(|| ProtocolVersion::V_2025_11_25.to_string());
        let capabilities = serde_json::from_value(recorded.capabilities.clone())
            .map_err(|e| format!("recorded capabilities unusable: {e}"))?;
        let mut info = ServerPeerInfo::new(
            serde_json::from_value(serde_json::Value::String(version))
                .map_err(|e| format!("recorded protocol version unusable: {e}"))?,
            capabilities,
        );
        if let Some(si) = recorded
            .server_info
            .clone()
            .and_then(|v| serde_json::from_value::<Implementation>(v).ok())
        {
            info = info.with_server_info(si);
        }
        let client = ManagerClient {
            server_id: server_id.to_string(),
            logs,
        };
        let (reader, writer, upstream) = crate::gateway::Upstream::wrap(reader, writer);
        upstream.set_modern(info.protocol_version == ProtocolVersion::V_2026_07_28);
        let service = rmcp::service::serve_directly(client, (reader, writer), Some(info));
        let session = Self::ready(service, Some(upstream)).await;
        ping(&session.peer())
            .await
            .map_err(|e| format!("the adopted server did not answer a ping: {e}"))?;
        Ok(session)
    }

    /// Handshake with a Streamable HTTP endpoint; retried until `deadline` because a freshly
    /// spawned server needs a moment before it listens.
    pub async fn connect_http(
        server_id: &str,
        logs: Option<LogSender>,
        url: &str,
        deadline: Instant,
    ) -> Result<McpSession, String> {
        let mut last_error;
        loop {
            let client = ManagerClient {
                server_id: server_id.to_string(),
                logs: logs.clone(),
            };
            let transport =
                rmcp::transport::StreamableHttpClientTransport::from_uri(url.to_string());
            match client.serve(transport).await {
                Ok(service) => {
                    // The gateway's own session with the same URL, shared by its clients.
                    // Bounded: a server that does not answer it must not hold up its start.
                    let gateway = tokio::time::timeout(
                        Duration::from_secs(5),
                        crate::gateway::Upstream::connect_http(url),
                    )
                    .await
                    .unwrap_or_else(|_| Err("no answer within 5 s".into()));
                    let upstream = match gateway {
                        Ok(up) => Some(up),
                        Err(e) => {
                            tracing::warn!(server = server_id, error = %e, "no gateway session");
                            None
                        }
                    };
                    return Ok(Self::ready(service, upstream).await);
                }
                Err(e) => last_error = format!("MCP handshake with {url} failed: {e}"),
            }
            if Instant::now() + Duration::from_millis(200) >= deadline {
                return Err(last_error);
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    async fn ready(
        service: RunningService<RoleClient, ManagerClient>,
        upstream: Option<crate::gateway::Upstream>,
    ) -> McpSession {
        // Never answer from a cache: a list or a probe must reach the server.
        service
            .peer()
            .set_response_cache_config(rmcp::service::ClientCacheConfig::disabled())
            .await;
        McpSession { service, upstream }
    }

    pub fn peer(&self) -> Peer<RoleClient> {
        self.service.peer().clone()
    }

    /// The gateway's way in (stdio sessions only, for now).
    pub fn upstream(&self) -> Option<crate::gateway::Upstream> {
        self.upstream.clone()
    }

    pub async fn close(self) {
        if let Some(up) = &self.upstream {
            up.close();
        }
        let _ = self.service.cancel().await;
    }
}

fn modern(info: &Option<std::sync::Arc<ServerPeerInfo>>) -> bool {
    info.as_ref()
        .is_some_and(|i| i.protocol_version == ProtocolVersion::V_2026_07_28)
}

/// One liveness round trip: `ping` for servers that speak it, `server/discover` (uncached)
/// for stateless 2026-era servers.
pub async fn ping(peer: &Peer<RoleClient>) -> Result<Duration, String> {
    let started = Instant::now();
    let modern = peer
        .peer_info()
        .is_some_and(|i| i.protocol_version == ProtocolVersion::V_2026_07_28);
    let result = if modern {
        peer.discover(Default::default()).await.map(|_| ())
    } else {
        peer.send_request(ClientRequest::PingRequest(Default::default()))
            .await
            .and_then(|r| match r {
                ServerResult::EmptyResult(_) => Ok(()),
                _ => Err(rmcp::ServiceError::UnexpectedResponse),
            })
    };
    result.map_err(|e| e.to_string())?;
    Ok(started.elapsed())
}

fn item(v: serde_json::Value) -> McpItem {
    let serde_json::Value::Object(mut map) = v else {
        return McpItem {
            name: String::new(),
            title: None,
            description: None,
            detail: serde_json::Value::Null,
        };
    };
    let mut take = |k: &str| match map.remove(k) {
        Some(serde_json::Value::String(s)) => Some(s),
        _ => None,
    };
    let name = take("name").or_else(|| take("uri")).unwrap_or_default();
    let title = take("title");
    let description = take("description");
    McpItem {
        name,
        title,
        description,
        detail: serde_json::Value::Object(map),
    }
}

fn items<T: serde::Serialize>(list: Vec<T>) -> Vec<McpItem> {
    list.into_iter()
        .filter_map(|t| serde_json::to_value(t).ok())
        .map(item)
        .collect()
}

/// What the server is and offers, read live.
pub async fn describe(peer: &Peer<RoleClient>) -> Result<McpInfo, String> {
    let info = peer.peer_info();
    let caps = info
        .as_ref()
        .map(|i| i.capabilities.clone())
        .unwrap_or_default();
    let err = |what: &str, e: rmcp::ServiceError| format!("listing {what} failed: {e}");
    let tools = if caps.tools.is_some() {
        items(peer.list_all_tools().await.map_err(|e| err("tools", e))?)
    } else {
        vec![]
    };
    let resources = if caps.resources.is_some() {
        items(
            peer.list_all_resources()
                .await
                .map_err(|e| err("resources", e))?,
        )
    } else {
        vec![]
    };
    let prompts = if caps.prompts.is_some() {
        items(
            peer.list_all_prompts()
                .await
                .map_err(|e| err("prompts", e))?,
        )
    } else {
        vec![]
    };
    Ok(McpInfo {
        server_info: info
            .as_ref()
            .and_then(|i| i.server_info.as_ref())
            .and_then(|s| serde_json::to_value(s).ok()),
        protocol_version: info.as_ref().map(|i| i.protocol_version.to_string()),
        capabilities: serde_json::to_value(&caps).unwrap_or_default(),
        instructions: info.as_ref().and_then(|i| i.instructions.clone()),
        tools,
        resources,
        prompts,
        recorded_at: Some(chrono::Utc::now()),
        live: true,
    })
}
