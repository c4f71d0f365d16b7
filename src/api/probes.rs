//! The daemon's own health, for process supervisors, container engines and Kubernetes:
//! `/healthz` (the process answers) and `/readyz` (the store answers a query; the registry
//! was loaded before the HTTP server started). Both unauthenticated, outside the Host check
//! (they reveal nothing), and cheap. Also the store's online backup. Nothing to shut down.

use super::AppState;
use crate::error::{AppError, AppResult};
use actix_web::{HttpResponse, web};
use diesel::RunQueryDsl;

pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({"status": "ok"}))
}

pub async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    let store = state
        .store
        .read(|c| diesel::sql_query("SELECT 1").execute(c))
        .await;
    match store {
        Ok(_) => HttpResponse::Ok().json(serde_json::json!({
            "status": "ready", "store": "ok", "migrations": "done", "registry": "loaded",
        })),
        Err(e) => {
            tracing::warn!(error = %e, "readiness: the store does not answer");
            HttpResponse::ServiceUnavailable()
                .json(serde_json::json!({"status": "not ready", "store": "not answering"}))
        }
    }
}

/// Removes the snapshot file once its stream is done (or dropped by a client that left).
struct Snapshot {
    path: std::path::PathBuf,
    file: tokio::fs::File,
}

impl Drop for Snapshot {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// A consistent copy of the whole store, taken while the daemon runs (`VACUUM INTO` reads
/// one snapshot; writers go on), streamed as a SQLite file.
#[utoipa::path(get, path = "/api/system/backup", tag = "system",
    responses((status = 200, description = "The store as a SQLite database file", content_type = "application/vnd.sqlite3")))]
pub async fn backup(state: web::Data<AppState>) -> AppResult<HttpResponse> {
    let path = state
        .data_dir
        .join(format!(".backup-{}.db", uuid::Uuid::new_v4()));
    let target = path.display().to_string();
    state
        .store
        .read(move |c| {
            diesel::sql_query("VACUUM INTO ?")
                .bind::<diesel::sql_types::Text, _>(target)
                .execute(c)
        })
        .await?;
    let file = match tokio::fs::File::open(&path).await {
        Ok(f) => f,
        Err(e) => {
            let _ = std::fs::remove_file(&path);
            return Err(AppError::Internal(format!("reading the backup: {e}")));
        }
    };
    let size = file.metadata().await.map(|m| m.len()).ok();
    let body = futures::stream::unfold(Some(Snapshot { path, file }), |snap| async move {
        use tokio::io::AsyncReadExt;
        let mut snap = snap?;
        let mut buf = vec![0u8; 256 * 1024];
        match snap.file.read(&mut buf).await {
            Ok(0) => None,
            Ok(n) => {
                buf.truncate(n);
                Some((Ok::<_, std::io::Error>(bytes::Bytes::from(buf)), Some(snap)))
            }
            Err(e) => Some((Err(e), None)),
        }
    });
    let name = format!(
        "mcp-manager-{}.db",
        chrono::Utc::now().format("%Y%m%d-%H%M%S")
    );
    let mut resp = HttpResponse::Ok();
    resp.content_type("application/vnd.sqlite3").insert_header((
        "Content-Disposition",
        format!("attachment; filename=\"{name}\""),
    ));
    if let Some(size) = size {
        resp.insert_header(("X-Backup-Size", size.to_string()));
    }
    Ok(resp.streaming(body))
}
