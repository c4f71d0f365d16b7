//! Handlers for `/api/servers`: create, list, read, patch, delete, and the user commands.
//! Each looks the server up in the Registry and asks its ServerActor; none touches a status.

use super::{AppState, Data, ok};
use crate::actors::registry::{All, Create, Forget, Lookup, Rename};
use crate::actors::server::{
    ApplyPatch, CheckPatch, Delete, GetPeer, GetRecordedMcp, GetView, ServerActor, UserCommand,
};
use crate::error::{AppError, AppResult, ErrorBody};
use crate::mcp;
use crate::model::{McpInfo, ServerCreate, ServerPatch, ServerView};
use crate::state::Command;
use actix::Addr;
use actix_web::{HttpResponse, web};
use serde::Deserialize;
use std::time::Duration;

async fn lookup(state: &AppState, reference: &str) -> AppResult<Addr<ServerActor>> {
    state.registry.send(Lookup(reference.to_string())).await?
}

pub async fn views(state: &AppState) -> AppResult<Vec<ServerView>> {
    let addrs = state.registry.send(All).await?;
    let views = futures::future::join_all(addrs.iter().map(|a| a.send(GetView))).await;
    // A server deleted while we asked answers with a mailbox error: leave it out.
    Ok(views.into_iter().filter_map(Result::ok).collect())
}

/// List servers.
#[utoipa::path(get, path = "/api/servers", tag = "servers",
    responses((status = 200, description = "All servers, by name", body = Vec<ServerView>)))]
pub async fn list(state: web::Data<AppState>) -> AppResult<HttpResponse> {
    Ok(ok(views(&state).await?))
}

/// Create a server (and start it when `start` is true).
#[utoipa::path(post, path = "/api/servers", tag = "servers", request_body = ServerCreate,
    responses(
        (status = 201, description = "Created", body = ServerView),
        (status = 409, description = "Name taken", body = ErrorBody),
        (status = 422, description = "Invalid definition", body = ErrorBody)))]
pub async fn create(
    state: web::Data<AppState>,
    body: web::Json<ServerCreate>,
) -> AppResult<HttpResponse> {
    let body = body.into_inner();
    let start = body.start;
    let (mut view, addr) = state.registry.send(Create(body)).await??;
    if start && engine_ready(&state, &view).await.is_ok() {
        view = match addr.send(UserCommand(Command::Start)).await? {
            Ok(v) => v,
            // Created, but it could not start: the view says why (status failed, last_error).
            Err(_) => addr.send(GetView).await?,
        };
    }
    Ok(HttpResponse::Created().json(Data { data: view }))
}

/// One server, by id or name.
#[utoipa::path(get, path = "/api/servers/{ref}", tag = "servers",
    params(("ref" = String, Path, description = "Server id or name")),
    responses((status = 200, body = ServerView), (status = 404, body = ErrorBody)))]
pub async fn get(state: web::Data<AppState>, path: web::Path<String>) -> AppResult<HttpResponse> {
    let addr = lookup(&state, &path).await?;
    Ok(ok(addr.send(GetView).await?))
}

/// Change a server's definition; a running server picks the change up at its next start.
#[utoipa::path(patch, path = "/api/servers/{ref}", tag = "servers", request_body = ServerPatch,
    params(("ref" = String, Path, description = "Server id or name")),
    responses((status = 200, body = ServerView), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn patch(
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: web::Json<ServerPatch>,
) -> AppResult<HttpResponse> {
    let addr = lookup(&state, &path).await?;
    let patch = body.into_inner();
    let current = addr.send(GetView).await?;
    let new_name = addr.send(CheckPatch(patch.clone())).await??;
    if new_name != current.name {
        state
            .registry
            .send(Rename {
                id: current.id.clone(),
                name: new_name.clone(),
            })
            .await??;
    }
    let applied = addr.send(ApplyPatch(patch)).await?;
    if applied.is_err() && new_name != current.name {
        // The name was reserved for a patch that did not apply: give the old one back.
        let _ = state
            .registry
            .send(Rename {
                id: current.id.clone(),
                name: current.name.clone(),
            })
            .await;
    }
    Ok(ok(applied?))
}

/// Stop a server if it runs and delete it with its history.
#[utoipa::path(delete, path = "/api/servers/{ref}", tag = "servers",
    params(("ref" = String, Path, description = "Server id or name")),
    responses((status = 200, description = "The deleted server", body = ServerView),
        (status = 404, body = ErrorBody)))]
pub async fn delete(
    state: web::Data<AppState>,
    gw: web::Data<crate::gateway::Gateway>,
    path: web::Path<String>,
) -> AppResult<HttpResponse> {
    let addr = lookup(&state, &path).await?;
    let view = addr.send(GetView).await?;
    addr.send(Delete).await??;
    state.registry.do_send(Forget(view.id.clone()));
    gw.metrics.forget(&view.name);
    Ok(ok(view))
}

/// Container servers need the engine; say so at once rather than after a failed run.
async fn engine_ready(state: &AppState, view: &ServerView) -> AppResult<()> {
    if view.kind == crate::model::ServerType::Container {
        state
            .engine
            .version()
            .await
            .map_err(AppError::Unprocessable)?;
    }
    Ok(())
}

async fn command(state: &AppState, reference: &str, cmd: Command) -> AppResult<HttpResponse> {
    let addr = lookup(state, reference).await?;
    if cmd != Command::Stop {
        engine_ready(state, &addr.send(GetView).await?).await?;
    }
    let view = addr.send(UserCommand(cmd)).await??;
    Ok(HttpResponse::Accepted().json(Data { data: view }))
}

/// Start a server. Answers at once with status `starting`; watch `/api/events` or poll.
#[utoipa::path(post, path = "/api/servers/{ref}/start", tag = "servers",
    params(("ref" = String, Path, description = "Server id or name")),
    responses((status = 202, body = ServerView), (status = 404, body = ErrorBody),
        (status = 409, description = "Already running or stopping", body = ErrorBody),
        (status = 422, description = "Command or directory missing", body = ErrorBody)))]
pub async fn start(state: web::Data<AppState>, path: web::Path<String>) -> AppResult<HttpResponse> {
    command(&state, &path, Command::Start).await
}

/// Stop a server: close stdin, SIGTERM, then SIGKILL after the grace period.
#[utoipa::path(post, path = "/api/servers/{ref}/stop", tag = "servers",
    params(("ref" = String, Path, description = "Server id or name")),
    responses((status = 202, body = ServerView), (status = 404, body = ErrorBody),
        (status = 409, description = "Already stopped or stopping", body = ErrorBody)))]
pub async fn stop(state: web::Data<AppState>, path: web::Path<String>) -> AppResult<HttpResponse> {
    command(&state, &path, Command::Stop).await
}

/// Restart a server (start it when it is not running).
#[utoipa::path(post, path = "/api/servers/{ref}/restart", tag = "servers",
    params(("ref" = String, Path, description = "Server id or name")),
    responses((status = 202, body = ServerView), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody)))]
pub async fn restart(
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> AppResult<HttpResponse> {
    command(&state, &path, Command::Restart).await
}

/// What the server is and offers: live from a running server, else the last recorded copy.
#[utoipa::path(get, path = "/api/servers/{ref}/mcp", tag = "servers",
    params(("ref" = String, Path, description = "Server id or name")),
    responses((status = 200, body = McpInfo), (status = 404, body = ErrorBody),
        (status = 409, description = "Never ran", body = ErrorBody),
        (status = 502, description = "The server did not answer", body = ErrorBody)))]
pub async fn mcp(state: web::Data<AppState>, path: web::Path<String>) -> AppResult<HttpResponse> {
    let addr = lookup(&state, &path).await?;
    match addr.send(GetPeer).await? {
        Ok((peer, _)) => {
            let info = tokio::time::timeout(Duration::from_secs(15), mcp::describe(&peer))
                .await
                .map_err(|_| AppError::Upstream("the server did not answer within 15s".into()))?
                .map_err(AppError::Upstream)?;
            Ok(ok(info))
        }
        Err(not_running) => match addr.send(GetRecordedMcp).await? {
            Some(info) => Ok(ok(info)),
            None => Err(not_running),
        },
    }
}

/// Body of a tool call.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ToolCall {
    /// The tool's arguments, an object matching its input schema.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub arguments: serde_json::Map<String, serde_json::Value>,
}

/// Call one tool of a running server through its upstream MCP session (a "try it" for
/// people and scripts; AI clients use the gateway).
#[utoipa::path(post, path = "/api/servers/{ref}/tools/{tool}/call", tag = "servers",
    request_body = ToolCall,
    params(("ref" = String, Path, description = "Server id or name"),
        ("tool" = String, Path, description = "Tool name")),
    responses((status = 200, description = "The tool's result (MCP CallToolResult)", body = Object),
        (status = 404, body = ErrorBody), (status = 409, description = "Not running", body = ErrorBody),
        (status = 502, description = "The server failed the call", body = ErrorBody)))]
pub async fn call_tool(
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    body: web::Json<ToolCall>,
) -> AppResult<HttpResponse> {
    let (reference, tool) = path.into_inner();
    let addr = lookup(&state, &reference).await?;
    let (peer, _) = addr.send(GetPeer).await??;
    let params =
        rmcp::model::CallToolRequestParams::new(tool).with_arguments(body.into_inner().arguments);
    let result = tokio::time::timeout(Duration::from_secs(60), peer.call_tool(params))
        .await
        .map_err(|_| AppError::Upstream("the tool call did not finish within 60s".into()))?
        .map_err(|e| AppError::Upstream(format!("tool call failed: {e}")))?;
    Ok(ok(result))
}
