//! The API as scripts and browsers meet it: bad input gets a clear 4xx, never a 500;
//! foreign Host and Origin headers are refused on REST and on the WebSocket upgrade; the
//! event stream starts with a snapshot and then shows every status change in order.

mod common;

use common::*;
use futures::StreamExt;
use serde_json::{Value, json};
use std::time::Duration;

async fn raw(
    d: &Daemon,
    method: &str,
    path: &str,
    ctype: Option<&str>,
    body: Vec<u8>,
) -> (u16, Value) {
    let m = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
    let mut r = d.http.request(m, format!("{}{}", d.url, path)).body(body);
    if let Some(ct) = ctype {
        r = r.header("content-type", ct);
    }
    let resp = r.send().await.expect("send");
    let status = resp.status().as_u16();
    let v = resp.json::<Value>().await.unwrap_or(Value::Null);
    (status, v)
}

fn assert_error(status: u16, v: &Value, expected: u16, needle: &str) {
    assert_eq!(status, expected, "{v}");
    let msg = v["error"]["message"]
        .as_str()
        .unwrap_or_else(|| panic!("no error message: {v}"));
    assert!(v["error"]["code"].as_str().is_some(), "{v}");
    assert!(msg.contains(needle), "{msg:?} should mention {needle:?}");
}

#[tokio::test]
async fn bad_input_gets_a_clear_4xx() {
    let d = Daemon::start();
    let json_ct = Some("application/json");
    let (s, v) = raw(&d, "POST", "/api/servers", json_ct, b"{\"name\": ".to_vec()).await;
    assert_error(s, &v, 400, "malformed JSON");
    let (s, v) = raw(
        &d,
        "POST",
        "/api/servers",
        json_ct,
        br#"{"name": 5, "command": "x"}"#.to_vec(),
    )
    .await;
    assert_error(s, &v, 422, "invalid type");
    let (s, v) = raw(
        &d,
        "POST",
        "/api/servers",
        json_ct,
        br#"{"name": "a", "command": "x", "comand": "y"}"#.to_vec(),
    )
    .await;
    assert_error(s, &v, 422, "unknown field `comand`");
    let (s, v) = raw(
        &d,
        "POST",
        "/api/servers",
        json_ct,
        br#"{"name": "a", "command": "x", "args": "not a list"}"#.to_vec(),
    )
    .await;
    assert_error(s, &v, 422, "invalid type");
    let (s, v) = raw(
        &d,
        "POST",
        "/api/servers",
        json_ct,
        br#"{"name": "a b", "command": "x"}"#.to_vec(),
    )
    .await;
    assert_error(s, &v, 422, "invalid name");
    let (s, v) = raw(
        &d,
        "POST",
        "/api/servers",
        Some("text/plain"),
        br#"{"name": "a", "command": "x"}"#.to_vec(),
    )
    .await;
    assert_error(s, &v, 415, "application/json");
    let big = format!(
        r#"{{"name": "a", "command": "{}"}}"#,
        "x".repeat(300 * 1024)
    );
    let (s, v) = raw(&d, "POST", "/api/servers", json_ct, big.into_bytes()).await;
    assert_error(s, &v, 413, "limit");

    d.create(json!({"name": "dup", "command": "python3", "args": [fixture_py()]}))
        .await;
    let (s, v) = d
        .post("/api/servers", json!({"name": "dup", "command": "x"}))
        .await;
    assert_error(s, &v, 409, "already exists");
    let (s, v) = d.action("dup", "stop").await;
    assert_error(s, &v, 409, "already stopped");
    let (s, v) = d.action("nope", "start").await;
    assert_error(s, &v, 404, "no server");
    let (s, v) = d.get("/api/nothing-here").await;
    assert_error(s, &v, 404, "no route");
    let (s, v) = d
        .req("PATCH", "/api/servers/dup", Some(json!({"command": null})))
        .await;
    assert_error(s, &v, 422, "command is required");
    let (s, v) = d
        .req(
            "PATCH",
            "/api/servers/dup",
            Some(json!({"restart_policy": "sometimes"})),
        )
        .await;
    assert_error(s, &v, 422, "unknown variant");
    // What the user stored is untouched by the failed patches.
    let kept = d.server("dup").await;
    assert_eq!(kept["command"], "python3");
    assert_eq!(kept["restart_policy"], "on-failure");
    // A valid patch works, a rename too, and the old name is free again.
    let (s, v) = d
        .req(
            "PATCH",
            "/api/servers/dup",
            Some(json!({"name": "renamed", "env": {"A": "1"}})),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["data"]["env"]["A"], "1");
    assert_eq!(d.get("/api/servers/dup").await.0, 404);
    assert_eq!(
        d.get(&format!(
            "/api/servers/{}",
            v["data"]["id"].as_str().unwrap_or("")
        ))
        .await
        .0,
        200
    );
    let (s, v) = d.req("DELETE", "/api/servers/renamed", None).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(d.get("/api/servers/renamed").await.0, 404);
    // A path the API has, with a method it does not take: 405 naming the ones it takes,
    // in the `Allow` header too; a path it does not have stays 404.
    for (method, path, allow) in [
        ("PUT", "/api/servers", "GET, HEAD, POST"),
        ("OPTIONS", "/api/servers", "GET, HEAD, POST"),
        ("PUT", "/api/servers/x", "GET, HEAD, PATCH, DELETE"),
        ("POST", "/api/system/backup", "GET"),
        ("POST", "/healthz", "GET, HEAD"),
        ("DELETE", "/metrics", "GET, HEAD"),
        ("GET", "/api/servers/x/start", "POST"),
    ] {
        let m = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let resp = d
            .http
            .request(m, format!("{}{path}", d.url))
            .send()
            .await
            .expect("send");
        assert_eq!(
            resp.headers().get("allow").and_then(|v| v.to_str().ok()),
            Some(allow),
            "{method} {path}"
        );
        let (s, v) = (
            resp.status().as_u16(),
            resp.json::<Value>().await.unwrap_or_default(),
        );
        assert_error(
            s,
            &v,
            405,
            &format!("{method} {path} is not allowed; this path takes {allow}"),
        );
        assert_eq!(v["error"]["code"], "method_not_allowed", "{v}");
    }
    let (s, v) = raw(&d, "GET", "/api/nope", None, Vec::new()).await;
    assert_error(s, &v, 404, "no route for GET /api/nope");
    // No 500 was ever answered, and the daemon never panicked.
    assert!(!d.log_text().contains("panicked"), "{}", d.log_text());
}

#[actix_rt::test]
async fn foreign_host_and_origin_are_refused() {
    let d = Daemon::start();
    let url = format!("{}/api/servers", d.url);
    let r = d
        .http
        .get(&url)
        .header("host", "evil.example")
        .send()
        .await
        .expect("send");
    assert_eq!(r.status().as_u16(), 403);
    let r = d
        .http
        .get(&url)
        .header("origin", "http://evil.example")
        .send()
        .await
        .expect("send");
    assert_eq!(r.status().as_u16(), 403);
    let r = d
        .http
        .post(&url)
        .header("origin", "http://localhost.evil.example:7070")
        .json(&json!({"name": "x", "command": "touch"}))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status().as_u16(), 403);
    assert_eq!(
        d.get("/api/servers").await.1["data"],
        json!([]),
        "nothing was created"
    );
    let r = d
        .http
        .get(&url)
        .header("origin", format!("http://127.0.0.1:{}", d.port))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status().as_u16(), 200);

    // The WebSocket upgrade is guarded the same way.
    let ws = format!("ws://127.0.0.1:{}/api/events", d.port);
    let refused = awc::Client::new()
        .ws(&ws)
        .origin("http://evil.example")
        .connect()
        .await;
    match refused {
        Err(awc::error::WsClientError::InvalidResponseStatus(s)) => assert_eq!(s.as_u16(), 403),
        Err(e) => panic!("unexpected error {e}"),
        Ok(_) => panic!("foreign origin was upgraded"),
    }
    let refused = awc::Client::new()
        .ws(&ws)
        .set_header("host", "evil.example")
        .connect()
        .await;
    assert!(
        matches!(refused, Err(awc::error::WsClientError::InvalidResponseStatus(s)) if s.as_u16() == 403)
    );
}

#[tokio::test]
async fn a_non_loopback_bind_needs_a_token_and_the_token_is_enforced() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_mcp-manager"))
        .args([
            "serve",
            "--bind",
            "0.0.0.0:0",
            "--data-dir",
            "/nonexistent-unused",
        ])
        .env_remove("MCP_MANAGER_TOKEN")
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("without an API token"));

    let dir = tempfile::tempdir().expect("tmp");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_mcp-manager"))
        .args([
            "serve",
            "--bind",
            "127.0.0.1:0",
            "--token",
            "t0ken",
            "--data-dir",
        ])
        .arg(dir.path())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn");
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(child.stdout.take().expect("stdout")),
        &mut line,
    )
    .expect("line");
    let url = line
        .trim()
        .trim_start_matches("mcp-manager listening on ")
        .to_string();
    let http = reqwest::Client::new();
    let r = http
        .get(format!("{url}/api/servers"))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status().as_u16(), 401);
    let r = http
        .get(format!("{url}/api/servers"))
        .bearer_auth("wrong")
        .send()
        .await
        .expect("send");
    assert_eq!(r.status().as_u16(), 401);
    let r = http
        .get(format!("{url}/api/servers"))
        .bearer_auth("t0ken")
        .send()
        .await
        .expect("send");
    assert_eq!(r.status().as_u16(), 200);
    let _ = child.kill();
    let _ = child.wait();
}

async fn next_json(framed: &mut actix_codec::Framed<awc::BoxedSocket, awc::ws::Codec>) -> Value {
    loop {
        let frame = tokio::time::timeout(Duration::from_secs(20), framed.next())
            .await
            .expect("an event within 20s")
            .expect("stream open")
            .expect("frame");
        if let awc::ws::Frame::Text(bytes) = frame {
            return serde_json::from_slice(&bytes).expect("json");
        }
    }
}

#[actix_rt::test]
async fn websocket_shows_a_snapshot_then_every_status_change_in_order() {
    let d = Daemon::start();
    d.create(json!({"name": "before", "command": "python3", "args": [fixture_py()]}))
        .await;
    let (_, mut ws) = awc::Client::new()
        .ws(format!("ws://127.0.0.1:{}/api/events", d.port))
        .connect()
        .await
        .expect("connect");
    let snap = next_json(&mut ws).await;
    assert_eq!(snap["type"], "snapshot");
    assert_eq!(snap["data"]["servers"][0]["name"], "before");
    assert_eq!(snap["data"]["servers"][0]["status"], "stopped");

    d.create(py_server("watched", &[])).await;
    d.action("watched", "start").await;
    d.wait_status("watched", "running", Duration::from_secs(20))
        .await;
    d.action("watched", "stop").await;
    d.wait_status("watched", "stopped", Duration::from_secs(20))
        .await;

    let mut seen = vec![];
    let mut last_seq = 0;
    while seen.len() < 5 {
        let e = next_json(&mut ws).await;
        let seq = e["seq"].as_u64().expect("seq");
        assert!(seq > last_seq, "sequence numbers increase");
        last_seq = seq;
        assert!(e["ts"].as_str().is_some());
        match e["type"].as_str() {
            Some("server:created") => seen.push(format!(
                "created:{}",
                e["data"]["server"]["name"].as_str().unwrap_or("")
            )),
            Some("server:status") => {
                assert_eq!(e["data"]["name"], "watched");
                assert_eq!(e["data"]["server"]["status"], e["data"]["status"]);
                seen.push(e["data"]["status"].as_str().unwrap_or("").to_string());
            }
            _ => {}
        }
    }
    assert_eq!(
        seen,
        [
            "created:watched",
            "starting",
            "running",
            "stopping",
            "stopped"
        ]
    );
}

#[tokio::test]
async fn openapi_and_system_describe_the_daemon() {
    let d = Daemon::start();
    let (s, doc) = d.get("/api/openapi.json").await;
    assert_eq!(s, 200);
    assert!(doc["openapi"].as_str().unwrap_or("").starts_with("3."));
    for path in [
        "/api/servers",
        "/api/servers/{ref}",
        "/api/servers/{ref}/start",
        "/api/servers/{ref}/mcp",
        "/api/system",
    ] {
        assert!(doc["paths"][path].is_object(), "{path} missing");
    }
    assert!(doc["components"]["schemas"]["ServerView"].is_object());
    let (s, sys) = d.get("/api/system").await;
    assert_eq!(s, 200);
    assert_eq!(sys["data"]["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(sys["data"]["servers"]["total"], 0);
    assert!(sys["data"]["runtimes"]["python3"].as_str().is_some());
}
