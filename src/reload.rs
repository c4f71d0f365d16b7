//! Applying the servers file to a running daemon: on SIGHUP (`crate::daemon`) and on
//! `POST /api/system/reload` (`mcp-manager server reload`). The file is read and checked as
//! a whole first; then each entry goes to its server's actor, which owns the running
//! definition (`Redefine`: replaced, and restarted if it runs), or becomes a new server
//! through the registry. Holds nothing between reloads and has nothing to shut down.

use crate::actors::registry::{All, Create, Lookup, Registry};
use crate::actors::server::{GetView, Redefine, UserCommand};
use crate::model::{DesiredState, ServerRecord};
use actix::Addr;
use serde::Serialize;
use std::collections::HashSet;
use std::path::Path;

/// What a reload did, per server.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ReloadReport {
    pub file: String,
    pub servers: Vec<Reloaded>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct Reloaded {
    pub name: String,
    /// `created`, `updated` (its definition changed; restarted if it ran), `unchanged`,
    /// `not_in_file` (left alone) or `failed` (see `error`).
    pub outcome: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Reads `path` again and applies it. A file that does not read or check is an error
/// naming the problem, and nothing of it is applied. Every outcome is also logged, with
/// the lines of the start-up apply.
pub async fn reload(path: &Path, registry: &Addr<Registry>) -> Result<ReloadReport, String> {
    let shown = path.display().to_string();
    let read = path.to_path_buf();
    let loaded = tokio::task::spawn_blocking(move || crate::servers_file::load(&read))
        .await
        .unwrap_or_else(|e| Err(format!("servers file {shown}: {e}")));
    let checked = loaded.and_then(|file| {
        let now = chrono::Utc::now();
        file.servers
            .into_iter()
            .map(
                |entry| match ServerRecord::from_create(entry.create.clone(), now) {
                    Ok(rec) => Ok((entry, rec)),
                    Err(e) => Err(format!("servers file {shown}: server {:?}: {e}", entry.key)),
                },
            )
            .collect::<Result<Vec<_>, String>>()
    });
    let entries = match checked {
        Ok(entries) => entries,
        Err(e) => {
            // A bad edit must not take the running setup down: the servers keep the
            // definitions they have.
            tracing::error!("{e}; nothing applied");
            return Err(format!("{e}; nothing applied"));
        }
    };
    let mut servers = Vec::with_capacity(entries.len());
    let mut in_file = HashSet::new();
    for (entry, rec) in entries {
        let name = rec.name.clone();
        in_file.insert(name.clone());
        let outcome = match registry.send(Lookup(name.clone())).await {
            Ok(Ok(addr)) => match addr
                .send(Redefine {
                    wanted: rec,
                    desired: entry.desired,
                })
                .await
            {
                Ok(Ok(true)) => Ok("updated"),
                Ok(Ok(false)) => Ok("unchanged"),
                Ok(Err(e)) => Err(e.to_string()),
                Err(e) => Err(e.to_string()),
            },
            Ok(Err(_)) => match registry.send(Create(entry.create)).await {
                Ok(Ok((_, addr))) => {
                    if entry.desired.unwrap_or(DesiredState::Running) == DesiredState::Running {
                        // A start that fails shows in the server's status and log.
                        let _ = addr.send(UserCommand(crate::state::Command::Start)).await;
                    }
                    Ok("created")
                }
                Ok(Err(e)) => Err(e.to_string()),
                Err(e) => Err(e.to_string()),
            },
            Err(e) => Err(e.to_string()),
        };
        match &outcome {
            Ok("created") => tracing::info!(server = %name, file = %shown, "servers file: created"),
            Ok("updated") => {
                tracing::info!(server = %name, file = %shown, "servers file: definition changed, updated")
            }
            Ok(_) => tracing::debug!(server = %name, file = %shown, "servers file: unchanged"),
            Err(e) => {
                tracing::warn!(server = %name, file = %shown, error = %e, "servers file: not applied")
            }
        }
        servers.push(match outcome {
            Ok(what) => Reloaded {
                name,
                outcome: what.into(),
                error: None,
            },
            Err(e) => Reloaded {
                name,
                outcome: "failed".into(),
                error: Some(e),
            },
        });
    }
    if let Ok(all) = registry.send(All).await {
        for addr in all {
            if let Ok(view) = addr.send(GetView).await
                && !in_file.contains(&view.name)
            {
                tracing::info!(server = %view.name, file = %shown, "servers file: not in the file, left as it is");
                servers.push(Reloaded {
                    name: view.name,
                    outcome: "not_in_file".into(),
                    error: None,
                });
            }
        }
    }
    Ok(ReloadReport {
        file: shown,
        servers,
    })
}
