//! The daemon's own health endpoints and the online backup of its store.

mod common;

use common::*;
use diesel::{Connection, RunQueryDsl, SqliteConnection};
use serde_json::json;
use std::process::Command;
use std::time::{Duration, Instant};

#[derive(diesel::QueryableByName)]
struct N {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
}

fn count(c: &mut SqliteConnection, sql: &str) -> i64 {
    diesel::sql_query(sql).get_result::<N>(c).expect("count").n
}

#[tokio::test]
async fn healthz_and_readyz_answer_probes_without_a_token_or_a_known_host() {
    let d = Daemon::start_env(&[("MCP_MANAGER_TOKEN", "s3cret")]);
    let (s, _) = d.get("/api/servers").await;
    assert_eq!(s, 401, "the API still needs the token");
    // Downloads (a link cannot carry a header) take it in the query string.
    let r = d
        .http
        .get(format!("{}/api/system/backup?token=s3cret", d.url))
        .send()
        .await
        .expect("backup");
    assert_eq!(r.status().as_u16(), 200);
    assert!(
        r.bytes()
            .await
            .expect("body")
            .starts_with(b"SQLite format 3")
    );
    let r = d
        .http
        .get(format!("{}/api/servers?token=s3cret", d.url))
        .send()
        .await
        .expect("servers");
    assert_eq!(
        r.status().as_u16(),
        401,
        "other routes take the header only"
    );
    for path in ["/healthz", "/readyz"] {
        // A kubelet names the pod by its address, which no --allowed-host lists.
        let r = d
            .http
            .get(format!("{}{path}", d.url))
            .header("Host", "10.1.2.3:7070")
            .send()
            .await
            .expect(path);
        assert_eq!(r.status().as_u16(), 200, "{path}");
        let body: serde_json::Value = r.json().await.expect("json");
        assert!(
            body["status"] == "ok" || body["status"] == "ready",
            "{body}"
        );
        // An uptime monitor's HEAD gets the probe's own answer (not the UI's page), no body.
        let r = d
            .http
            .head(format!("{}{path}", d.url))
            .header("Host", "10.1.2.3:7070")
            .send()
            .await
            .expect(path);
        assert_eq!(r.status().as_u16(), 200, "HEAD {path}");
        assert_eq!(
            r.headers()
                .get("content-type")
                .and_then(|v| v.to_str().ok()),
            Some("application/json"),
            "HEAD {path}"
        );
        assert!(r.bytes().await.expect("body").is_empty(), "HEAD {path}");
    }
    // Everything else still checks the Host.
    let r = d
        .http
        .get(format!("{}/", d.url))
        .header("Host", "10.1.2.3:7070")
        .send()
        .await
        .expect("ui");
    assert_eq!(r.status().as_u16(), 403);
}

#[tokio::test]
async fn a_backup_taken_during_a_log_flood_is_sound_and_holds_every_committed_row() {
    let d = Daemon::start();
    let mut def = py_server(
        "flood",
        &["--flood-lines", "400000", "--flood-stream", "stderr"],
    );
    def["start"] = json!(true);
    def["restart_policy"] = json!("never");
    d.create(def).await;
    // Wait until the flood is being written, then note the newest committed line.
    let deadline = Instant::now() + Duration::from_secs(30);
    let newest = loop {
        let (_, v) = d.get("/api/servers/flood/logs?limit=1").await;
        let id = v["data"][0]["id"].as_i64().unwrap_or(0);
        if id > 2000 {
            break id;
        }
        assert!(
            Instant::now() < deadline,
            "the flood never reached the store"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let tmp = tempfile::tempdir().expect("tmp");
    let file = tmp.path().join("copy.db");
    let out = Command::new(env!("CARGO_BIN_EXE_mcp-manager"))
        .args(["backup", "--url", &d.url])
        .arg(&file)
        .env_remove("MCP_MANAGER_TOKEN")
        .output()
        .expect("backup");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("integrity ok"), "{stdout}");
    // Again without --force: refused, the copy untouched.
    let again = Command::new(env!("CARGO_BIN_EXE_mcp-manager"))
        .args(["backup", "--url", &d.url])
        .arg(&file)
        .output()
        .expect("backup again");
    assert_eq!(again.status.code(), Some(1));

    let mut copy = SqliteConnection::establish(&file.display().to_string()).expect("open copy");
    let id = d.server("flood").await["id"]
        .as_str()
        .expect("id")
        .to_string();
    assert_eq!(
        count(
            &mut copy,
            &format!("SELECT COUNT(*) AS n FROM servers WHERE id = '{id}'")
        ),
        1
    );
    // Every line committed before the backup started is in it: ids are never reused, and
    // nothing was pruned, so the live store's rows up to that id are the reference.
    let in_copy = count(
        &mut copy,
        &format!("SELECT COUNT(*) AS n FROM server_logs WHERE id <= {newest}"),
    );
    let mut live = SqliteConnection::establish(&d.dir.join("mcp-manager.db").display().to_string())
        .expect("open live");
    let in_live = count(
        &mut live,
        &format!("SELECT COUNT(*) AS n FROM server_logs WHERE id <= {newest}"),
    );
    assert!(in_live >= 2000);
    assert_eq!(in_copy, in_live, "lines up to id {newest}");
    // The daemon left no snapshot file behind.
    let leftovers: Vec<_> = std::fs::read_dir(&d.dir)
        .expect("dir")
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with(".backup-"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

/// Issue 9, acceptance 4: a store written by a newer build is refused at start, with a
/// message that says so, and the file is left byte for byte as it was.
#[test]
fn a_store_from_a_newer_schema_is_refused_at_start_and_left_unchanged() {
    use diesel::connection::SimpleConnection;
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("mcp-manager.db");
    {
        let mut conn = mcp_manager::db::open_connection(&db).expect("open");
        mcp_manager::db::migrate(&mut conn).expect("migrate");
        conn.batch_execute(
            "INSERT INTO servers (id, name, type) VALUES ('a', 'kept', 'process');
             INSERT INTO __diesel_schema_migrations (version) VALUES ('29991231000000');
             PRAGMA wal_checkpoint(TRUNCATE);",
        )
        .expect("a newer store");
    }
    let before = std::fs::read(&db).expect("read the store");
    let started = Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_mcp-manager"))
        .args(["serve", "--bind", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path())
        .env("MCP_MANAGER_SETTINGS", "")
        .output()
        .expect("run serve");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success(),
        "serve started on a newer store: {stderr}"
    );
    assert!(
        stderr.contains("written by a newer mcp-manager") && stderr.contains("29991231000000"),
        "{stderr}"
    );
    assert!(started.elapsed() < Duration::from_secs(20));
    assert_eq!(
        std::fs::read(&db).expect("read the store"),
        before,
        "the store was changed"
    );
}
