//! `GET /api/system`: what the daemon is and what this machine can run;
//! `POST /api/system/reload`: the servers file applied again.

use super::{AppState, ok};
use crate::error::{AppError, AppResult, ErrorBody};
use crate::runtime::process;
use actix_web::{HttpResponse, web};
use serde::Serialize;
use std::collections::BTreeMap;

#[derive(Serialize, utoipa::ToSchema)]
pub struct SystemInfo {
    pub version: String,
    pub pid: u32,
    pub started_at: chrono::DateTime<chrono::Utc>,
    pub uptime_secs: i64,
    pub data_dir: String,
    pub bind: String,
    pub servers: ServerCounts,
    /// Commands servers are usually started with, and where they resolve on this machine's
    /// PATH (null: not found).
    pub runtimes: BTreeMap<String, Option<String>>,
    /// The Docker engine container servers run on.
    pub docker: DockerInfo,
    /// The servers file of `serve --config FILE` (`POST /api/system/reload` applies it
    /// again); null without one.
    pub servers_file: Option<String>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct ServerCounts {
    pub total: usize,
    pub by_status: BTreeMap<String, usize>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct DockerInfo {
    pub reachable: bool,
    /// Where the engine is expected (`DOCKER_HOST` or the local socket).
    pub address: String,
    pub version: Option<String>,
    /// Why it is not reachable.
    pub error: Option<String>,
}

/// Daemon version, uptime, server counts and available runtimes.
#[utoipa::path(get, path = "/api/system", tag = "system",
    responses((status = 200, body = SystemInfo)))]
pub async fn system(state: web::Data<AppState>) -> AppResult<HttpResponse> {
    let views = super::servers::views(&state).await?;
    let mut by_status = BTreeMap::new();
    for v in &views {
        *by_status.entry(v.status.as_str().to_string()).or_insert(0) += 1;
    }
    let path = std::env::var("PATH").ok();
    let runtimes = ["node", "npx", "python3", "uvx", "uv", "docker"]
        .iter()
        .map(|c| {
            let found = process::resolve_command(c, path.as_deref(), None)
                .ok()
                .map(|p| p.display().to_string());
            (c.to_string(), found)
        })
        .collect();
    let now = chrono::Utc::now();
    Ok(ok(SystemInfo {
        version: env!("CARGO_PKG_VERSION").into(),
        pid: std::process::id(),
        started_at: state.started_at,
        uptime_secs: (now - state.started_at).num_seconds(),
        data_dir: state.data_dir.display().to_string(),
        bind: state.bind.clone(),
        servers: ServerCounts {
            total: views.len(),
            by_status,
        },
        runtimes,
        servers_file: state.servers_file.as_ref().map(|p| p.display().to_string()),
        docker: match state.engine.version().await {
            Ok(version) => DockerInfo {
                reachable: true,
                address: crate::runtime::docker::engine_address(),
                version: Some(version),
                error: None,
            },
            Err(e) => DockerInfo {
                reachable: false,
                address: crate::runtime::docker::engine_address(),
                version: None,
                error: Some(e),
            },
        },
    }))
}

/// Reads the daemon's servers file (`serve --config FILE`) again and applies it, as SIGHUP
/// does: new entries created, changed ones redefined (and restarted if they run). A file
/// that does not read or check changes nothing (422).
#[utoipa::path(post, path = "/api/system/reload", tag = "system",
    responses((status = 200, body = crate::reload::ReloadReport),
        (status = 409, body = ErrorBody, description = "the daemon has no servers file"),
        (status = 422, body = ErrorBody, description = "the file does not read or check; nothing applied")))]
pub async fn reload(state: web::Data<AppState>) -> AppResult<HttpResponse> {
    let Some(path) = &state.servers_file else {
        return Err(AppError::Conflict(
            "the daemon was started without a servers file (serve --config FILE): nothing to reload"
                .into(),
        ));
    };
    crate::reload::reload(path, &state.registry)
        .await
        .map(ok)
        .map_err(AppError::Validation)
}
