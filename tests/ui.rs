//! The web UI in a real browser against a real daemon: `frontend/e2e/ui.mjs` (playwright-core
//! driving Debian's chromium, no browser download) adds a Python fixture server through the
//! form, watches it become running and healthy live, searches and exports its logs, checks
//! the Connect tab (Cursor's snippet equals the API's and Copy puts it on the clipboard;
//! Claude Code's command likewise), stops it, kills its process from outside (the page must
//! show it within a second), adds the fixture in HTTP mode (started by the script on a free
//! port) as a remote server and watches it reach running, imports servers from an
//! `mcpServers` JSON (one of them remote) and deletes one. Screenshots go to
//! `target/ui-screenshots`. Two smaller scripts check the gateway's CORS from a page on
//! another allowed origin (`e2e/cors.mjs`) and the footer's servers-file reload
//! (`e2e/reload.mjs`).
//!
//! Needs the built UI embedded in the binary (`cd frontend && npm ci && npm run build`
//! before `cargo build`), `frontend/node_modules` and chromium (`CHROMIUM_PATH`, default
//! `/usr/bin/chromium`). Without them the test fails and says what is missing.

mod common;

use common::*;
use std::path::PathBuf;
use std::process::Command;
use std::time::Instant;

fn chromium() -> PathBuf {
    let p = PathBuf::from(
        std::env::var("CHROMIUM_PATH").unwrap_or_else(|_| "/usr/bin/chromium".into()),
    );
    assert!(
        p.exists(),
        "chromium not found at {} (apt-get install -y chromium, or set CHROMIUM_PATH)",
        p.display()
    );
    p
}

fn frontend_ready() -> PathBuf {
    let fe = repo().join("frontend");
    assert!(
        fe.join("dist/index.html").exists(),
        "frontend/dist is missing: run `cd frontend && npm ci && npm run build`, then rebuild the daemon so it embeds the UI"
    );
    assert!(
        fe.join("node_modules/playwright-core").exists(),
        "frontend/node_modules is missing: run `cd frontend && npm ci`"
    );
    fe
}

#[tokio::test]
async fn ui_in_a_real_browser() {
    let fe = frontend_ready();
    let chromium = chromium();
    let d = Daemon::start_env(&[("MCP_MANAGER_HEALTH_INTERVAL", "1")]);

    // The daemon must serve the built UI at / (and index.html for client-side routes).
    for path in ["/", "/servers/new"] {
        let resp = d
            .http
            .get(format!("{}{path}", d.url))
            .send()
            .await
            .expect("GET");
        let status = resp.status().as_u16();
        let body = resp.text().await.unwrap_or_default();
        assert!(
            status == 200 && body.contains("<div id=\"root\">"),
            "the daemon does not serve the UI at {path} ({status}): was it built with frontend/dist present?\n{}",
            body.chars().take(300).collect::<String>()
        );
    }

    let shots = repo().join("target/ui-screenshots");
    let _ = std::fs::remove_dir_all(&shots);
    let started = Instant::now();
    let out = Command::new("node")
        .arg(fe.join("e2e/ui.mjs"))
        .current_dir(&fe)
        .env("MCP_MANAGER_URL", &d.url)
        .env("CHROMIUM_PATH", &chromium)
        .env("SCREENSHOT_DIR", &shots)
        .env("FIXTURE_PY", fixture_py())
        .env("PYTHON", "python3")
        .output()
        .expect("run node (is Node.js installed?)");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    println!("{stdout}");
    eprintln!("{stderr}");
    println!(
        "ui.mjs took {:.1}s; screenshots in {}",
        started.elapsed().as_secs_f64(),
        shots.display()
    );
    assert!(
        out.status.success(),
        "the browser test failed ({}):\n{stderr}\n--- output ---\n{stdout}\n--- daemon log (tail) ---\n{}",
        out.status,
        tail(&d.log_text(), 60)
    );
}

/// `frontend/e2e/cors.mjs`: a page on an allowed origin other than the daemon's own uses
/// `/mcp/{name}` with fetch (preflight, session id, a tool list); a page from an origin not
/// allowed cannot read anything.
#[tokio::test]
async fn a_page_on_an_allowed_origin_uses_the_gateway_in_a_real_browser() {
    let fe = frontend_ready();
    let chromium = chromium();
    let d = Daemon::start();
    d.create(py_server("fx", &[])).await;
    d.post("/api/servers/fx/start", serde_json::json!({})).await;
    d.wait_status("fx", "running", std::time::Duration::from_secs(20))
        .await;
    run_script(
        &fe.join("e2e/cors.mjs"),
        &[("MCP_SERVER", "fx")],
        &chromium,
        &d,
        "CORS OK",
    );
}

/// `frontend/e2e/reload.mjs`: the footer shows the daemon's servers file; after the file
/// gained a server, its reload button applies it, says so, and the server is listed.
#[tokio::test]
async fn the_footer_reloads_the_servers_file() {
    let fe = frontend_ready();
    let chromium = chromium();
    let tmp = tempfile::tempdir().expect("tmp");
    let file = tmp.path().join("servers.json");
    let entry = |autostart: bool| serde_json::json!({"command": "python3", "args": [fixture_py()], "autostart": autostart});
    let write = |doc: serde_json::Value| {
        std::fs::write(&file, doc.to_string()).expect("write servers file");
    };
    write(serde_json::json!({"mcpServers": {"first": entry(false)}}));
    let file_s = file.display().to_string();
    let d = Daemon::start_with(
        &tmp.path().join("data"),
        &[("MCP_MANAGER_CONFIG", file_s.as_str())],
    );
    d.server("first").await;
    write(serde_json::json!({"mcpServers": {"first": entry(false), "added-later": entry(false)}}));
    run_script(
        &fe.join("e2e/reload.mjs"),
        &[("SERVERS_FILE", &file_s), ("NEW_SERVER", "added-later")],
        &chromium,
        &d,
        "RELOAD OK",
    );
    assert_eq!(d.server("added-later").await["status"], "stopped");
}

/// Runs a browser script of `frontend/e2e` against `d`; it must exit 0 and print `ok`.
fn run_script(
    script: &std::path::Path,
    env: &[(&str, &str)],
    chromium: &std::path::Path,
    d: &Daemon,
    ok: &str,
) {
    let out = Command::new("node")
        .arg(script)
        .current_dir(repo().join("frontend"))
        .env("MCP_MANAGER_URL", &d.url)
        .env("CHROMIUM_PATH", chromium)
        .envs(env.iter().copied())
        .output()
        .expect("run node (is Node.js installed?)");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    println!("{stdout}");
    assert!(
        out.status.success() && stdout.contains(ok),
        "{} failed ({}):\n{stderr}\n--- output ---\n{stdout}\n--- daemon log (tail) ---\n{}",
        script.display(),
        out.status,
        tail(&d.log_text(), 40)
    );
}

fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}
