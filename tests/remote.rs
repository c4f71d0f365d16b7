//! Remote servers: MCP servers the manager does not run, only connects to over Streamable
//! HTTP. Here the Python fixture in `--http` mode, started by the test itself, plays the
//! remote server.

mod common;

use common::*;
use serde_json::json;
use std::process::{Command, Stdio};
use std::time::Duration;

struct Remote(std::process::Child);

impl Drop for Remote {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn remote_fixture(port: u16) -> Remote {
    Remote(
        Command::new("python3")
            .args([
                &fixture_py(),
                "--http",
                &port.to_string(),
                "--http-host",
                "127.0.0.1",
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("fixture"),
    )
}

fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").port()
}

#[tokio::test]
async fn a_remote_server_is_connected_checked_called_and_disconnected() {
    let port = free_port();
    let mut fixture = remote_fixture(port);
    let d = Daemon::start();
    let url = format!("http://127.0.0.1:{port}/mcp");
    let created = d
        .create(json!({
            "name": "far", "type": "remote", "url": url,
            "health": {"interval_secs": 0.2, "failure_threshold": 2},
            "start": true
        }))
        .await;
    assert_eq!(created["transport"], "http");
    let running = d
        .wait_status("far", "running", Duration::from_secs(20))
        .await;
    assert!(running["process_id"].is_null(), "{running}");

    // Its tools are listed and callable through the manager.
    let (s, mcp) = d.get("/api/servers/far/mcp").await;
    assert_eq!(s, 200, "{mcp}");
    assert!(
        mcp["data"]["tools"]
            .as_array()
            .is_some_and(|t| t.iter().any(|t| t["name"] == "echo")),
        "{mcp}"
    );
    let (s, out) = d
        .post(
            "/api/servers/far/tools/echo/call",
            json!({"arguments": {"message": "over http"}}),
        )
        .await;
    assert_eq!(s, 200, "{out}");
    assert!(out.to_string().contains("over http"), "{out}");

    // Health is an MCP round trip to the url: healthy while it answers, unhealthy when the
    // remote end is gone (there is no process to watch).
    d.wait_for("far", Duration::from_secs(10), "healthy", |v| {
        v["health_status"] == "healthy"
    })
    .await;
    let _ = fixture.0.kill();
    let _ = fixture.0.wait();
    d.wait_for("far", Duration::from_secs(10), "unhealthy", |v| {
        v["health_status"] == "unhealthy"
    })
    .await;

    // Stopping ends the session at once; nothing was ever spawned.
    let (s, v) = d.action("far", "stop").await;
    assert!(s == 202 || s == 200, "{v}");
    d.wait_status("far", "stopped", Duration::from_secs(5))
        .await;
    let (_, logs) = d.get("/api/servers/far/logs?limit=50").await;
    let text = logs.to_string();
    assert!(text.contains(&format!("connecting to {url}")), "{text}");
}

#[tokio::test]
async fn a_remote_server_that_is_not_there_fails_by_its_policy() {
    let port = free_port();
    let d = Daemon::start();
    d.create(json!({
        "name": "nowhere", "type": "remote",
        "url": format!("http://127.0.0.1:{port}/mcp"),
        "start_timeout_secs": 1, "restart_policy": "never", "start": true
    }))
    .await;
    let failed = d
        .wait_status("nowhere", "failed", Duration::from_secs(15))
        .await;
    assert!(
        failed["last_error"]
            .as_str()
            .unwrap_or("")
            .contains("handshake"),
        "{failed}"
    );
    // A remote definition with local fields is refused with the field named.
    let (s, v) = d
        .post(
            "/api/servers",
            json!({"name": "bad", "type": "remote", "url": "http://127.0.0.1:1/mcp", "command": "x"}),
        )
        .await;
    assert_eq!(s, 422, "{v}");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap_or("")
            .contains("command"),
        "{v}"
    );
}
