//! Health monitoring that does not lie, against a real daemon: real probes over each
//! server's own MCP session and health endpoint, thresholds, start period, recovery,
//! history, summaries, and the restart-on-unhealthy policy.

mod common;

use common::*;
use futures::StreamExt;
use serde_json::{Value, json};
use std::time::Duration;

fn fast(name: &str, extra: &[&str], health: Value) -> Value {
    let mut v = py_server(name, extra);
    v["health"] = health;
    v["start"] = json!(true);
    v
}

async fn history(d: &Daemon, name: &str) -> Vec<Value> {
    let (s, v) = d
        .get(&format!("/api/servers/{name}/health/history?limit=5000"))
        .await;
    assert_eq!(s, 200, "{v}");
    v["data"].as_array().cloned().unwrap_or_default()
}

async fn health(d: &Daemon, name: &str) -> Value {
    let (s, v) = d.get(&format!("/api/servers/{name}/health")).await;
    assert_eq!(s, 200, "{v}");
    v["data"].clone()
}

async fn wait_health(d: &Daemon, name: &str, want: &str, within: Duration) -> Value {
    let deadline = std::time::Instant::now() + within;
    loop {
        let h = health(d, name).await;
        if h["health"] == want {
            return h;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{name} never became {want}: {h}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn call(d: &Daemon, name: &str, tool: &str, args: Value) {
    let (s, v) = d
        .post(
            &format!("/api/servers/{name}/tools/{tool}/call"),
            json!({"arguments": args}),
        )
        .await;
    assert_eq!(s, 200, "{v}");
}

#[actix_rt::test]
async fn running_servers_are_checked_on_their_interval_and_every_check_is_stored_and_broadcast() {
    let d = Daemon::start();
    let (_, mut ws) = awc::Client::new()
        .ws(format!("ws://127.0.0.1:{}/api/events", d.port))
        .connect()
        .await
        .expect("ws");
    d.create(fast("hc", &[], json!({"interval_secs": 0.2})))
        .await;
    wait_health(&d, "hc", "healthy", Duration::from_secs(20)).await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let rows = history(&d, "hc").await;
    assert!(rows.len() >= 4, "about one check per 0.2 s: {}", rows.len());
    assert!(
        rows.iter()
            .all(|r| r["status"] == "healthy" && r["response_time_ms"].is_i64())
    );
    let view = d.server("hc").await;
    assert_eq!(view["health_status"], "healthy");
    assert!(view["last_health_check"].is_string());
    let mut updates = 0;
    let mut flips = 0;
    while updates < 3 {
        let frame = tokio::time::timeout(Duration::from_secs(10), ws.next())
            .await
            .expect("events")
            .expect("open")
            .expect("frame");
        if let awc::ws::Frame::Text(b) = frame {
            let e: Value = serde_json::from_slice(&b).expect("json");
            match e["type"].as_str() {
                Some("health:update") => {
                    assert_eq!(e["data"]["name"], "hc");
                    assert_eq!(e["data"]["probes"], json!(["mcp", "process"]));
                    updates += 1;
                }
                Some("server:health") => {
                    assert_eq!(e["data"]["health"], "healthy");
                    flips += 1;
                }
                _ => {}
            }
        }
    }
    assert_eq!(flips, 1, "one change of health, unknown to healthy");
}

#[tokio::test]
async fn a_hung_server_with_a_live_process_becomes_unhealthy_and_recovers_after_one_success() {
    let d = Daemon::start();
    d.create(fast(
        "hung",
        &[],
        json!({"interval_secs": 0.2, "timeout_secs": 0.3, "failure_threshold": 3}),
    ))
    .await;
    wait_health(&d, "hung", "healthy", Duration::from_secs(20)).await;
    call(&d, "hung", "hang", json!({"seconds": 3})).await;
    let h = wait_health(&d, "hung", "unhealthy", Duration::from_secs(10)).await;
    assert!(h["consecutive_failures"].as_u64().unwrap_or(0) >= 3, "{h}");
    // The process is alive the whole time: a PID check would have said healthy.
    let v = d.server("hung").await;
    assert_eq!(v["status"], "running");
    let pid = v["process_id"].as_i64().unwrap_or(0) as i32;
    assert!(nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None).is_ok());
    let rows = history(&d, "hung").await;
    let failed = rows
        .iter()
        .find(|r| r["status"] == "unhealthy")
        .expect("a failed check");
    assert!(
        failed["error"]
            .as_str()
            .unwrap_or("")
            .contains("no answer within 0.3s"),
        "{failed}"
    );
    // After the hang ends, one good check is enough.
    let h = wait_health(&d, "hung", "healthy", Duration::from_secs(10)).await;
    assert_eq!(h["consecutive_successes"], 1, "{h}");
}

#[tokio::test]
async fn a_health_endpoint_answering_500_makes_the_server_unhealthy() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr").port()
    };
    let d = Daemon::start();
    let p = port.to_string();
    let mut def = fast(
        "web",
        &["--http", &p, "--http-host", "127.0.0.1"],
        json!({"interval_secs": 0.2, "failure_threshold": 2}),
    );
    def["transport"] = json!("http");
    def["port"] = json!(port);
    def["health_endpoint"] = json!("/health");
    d.create(def).await;
    wait_health(&d, "web", "healthy", Duration::from_secs(20)).await;
    let rows = history(&d, "web").await;
    assert!(rows.iter().all(|r| r["status"] == "healthy"));
    call(&d, "web", "set_health", json!({"status": 500})).await;
    wait_health(&d, "web", "unhealthy", Duration::from_secs(10)).await;
    let rows = history(&d, "web").await;
    let bad = rows
        .iter()
        .rev()
        .find(|r| r["status"] == "unhealthy")
        .expect("bad check");
    assert!(bad["error"].as_str().unwrap_or("").contains("500"), "{bad}");
    // 4xx counts as healthy, as the spec says.
    call(&d, "web", "set_health", json!({"status": 404})).await;
    wait_health(&d, "web", "healthy", Duration::from_secs(10)).await;
}

#[tokio::test]
async fn failures_inside_the_start_period_do_not_count() {
    let d = Daemon::start();
    d.create(fast(
        "slowstart",
        &[],
        json!({"interval_secs": 0.2, "timeout_secs": 0.2, "failure_threshold": 1, "start_period_secs": 2.0}),
    ))
    .await;
    d.wait_status("slowstart", "running", Duration::from_secs(20))
        .await;
    call(&d, "slowstart", "hang", json!({"seconds": 1.2})).await;
    // Hung for 1.2 s, all inside the 2 s start period: never unhealthy.
    for _ in 0..30 {
        let h = health(&d, "slowstart").await;
        assert_ne!(h["health"], "unhealthy", "{h}");
        tokio::time::sleep(Duration::from_millis(60)).await;
    }
    assert!(
        history(&d, "slowstart")
            .await
            .iter()
            .all(|r| r["status"] != "unhealthy")
    );
    wait_health(&d, "slowstart", "healthy", Duration::from_secs(10)).await;
    // After the start period a failure counts at once (threshold 1).
    call(&d, "slowstart", "hang", json!({"seconds": 2})).await;
    wait_health(&d, "slowstart", "unhealthy", Duration::from_secs(10)).await;
}

#[tokio::test]
async fn no_checks_while_stopped_and_checks_resume_after_a_start() {
    let d = Daemon::start();
    d.create(fast("pause", &[], json!({"interval_secs": 0.2})))
        .await;
    wait_health(&d, "pause", "healthy", Duration::from_secs(20)).await;
    d.action("pause", "stop").await;
    d.wait_status("pause", "stopped", Duration::from_secs(10))
        .await;
    assert_eq!(health(&d, "pause").await["health"], "unknown");
    assert_eq!(health(&d, "pause").await["monitored"], false);
    let n = history(&d, "pause").await.len();
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(history(&d, "pause").await.len(), n, "checked while stopped");
    let (s, v) = d.post("/api/servers/pause/health/check", json!({})).await;
    assert_eq!(s, 409, "{v}");
    d.action("pause", "start").await;
    wait_health(&d, "pause", "healthy", Duration::from_secs(20)).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(history(&d, "pause").await.len() > n + 1);
    // Check now.
    let (s, v) = d.post("/api/servers/pause/health/check", json!({})).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["data"]["ok"], true);
}

#[tokio::test]
async fn a_crash_is_an_unhealthy_check_at_once() {
    let d = Daemon::start();
    let mut def = fast("crash", &[], json!({"interval_secs": 60}));
    def["restart_policy"] = json!("never");
    d.create(def).await;
    d.wait_status("crash", "running", Duration::from_secs(20))
        .await;
    let (s, _) = d
        .post(
            "/api/servers/crash/tools/crash/call",
            json!({"arguments": {"code": 9}}),
        )
        .await;
    assert_eq!(s, 502, "the call fails: the server died");
    d.wait_status("crash", "failed", Duration::from_secs(5))
        .await;
    // The check is recorded at the exit, by a store write queued beside the status change.
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    let rows = loop {
        let rows = history(&d, "crash").await;
        if !rows.is_empty() || std::time::Instant::now() > deadline {
            break rows;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let last = rows.last().expect("a check");
    assert_eq!(last["status"], "unhealthy");
    assert!(
        last["error"]
            .as_str()
            .unwrap_or("")
            .contains("exited with code 9"),
        "{last}"
    );
    assert_eq!(d.server("crash").await["health_status"], "unhealthy");
}

#[tokio::test]
async fn history_paginates_buckets_and_summaries_answer_for_each_window() {
    let d = Daemon::start();
    d.create(fast("hist", &[], json!({"interval_secs": 0.1})))
        .await;
    wait_health(&d, "hist", "healthy", Duration::from_secs(20)).await;
    tokio::time::sleep(Duration::from_millis(1200)).await;
    d.action("hist", "stop").await;
    d.wait_status("hist", "stopped", Duration::from_secs(10))
        .await;
    let all = history(&d, "hist").await;
    assert!(all.len() >= 8);
    // Pages of 3 give back exactly the same checks, in order.
    let mut paged = vec![];
    let mut cursor: Option<i64> = None;
    loop {
        let q = match cursor {
            Some(c) => format!("/api/servers/hist/health/history?limit=3&cursor={c}"),
            None => "/api/servers/hist/health/history?limit=3".to_string(),
        };
        let (s, v) = d.get(&q).await;
        assert_eq!(s, 200, "{v}");
        paged.extend(v["data"].as_array().cloned().unwrap_or_default());
        match v["next_cursor"].as_i64() {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    assert_eq!(paged, all);
    let (s, b) = d
        .get("/api/servers/hist/health/history?range=1h&buckets=12")
        .await;
    assert_eq!(s, 200);
    let buckets = b["data"]["buckets"].as_array().expect("buckets");
    assert_eq!(buckets.len(), 12);
    assert_eq!(
        buckets
            .iter()
            .map(|x| x["total"].as_u64().unwrap_or(0))
            .sum::<u64>(),
        all.len() as u64
    );
    let (s, sum) = d.get("/api/servers/hist/health/summary?range=1h").await;
    assert_eq!(s, 200, "{sum}");
    for w in ["24h", "7d", "30d", "1h"] {
        let x = &sum["data"][w];
        assert_eq!(x["total_checks"], all.len(), "{w}: {x}");
        assert_eq!(x["uptime_percent"], 100.0);
        assert_eq!(x["current_streak"]["checks"], all.len());
    }
    let (s, e) = d.get("/api/servers/hist/health/history?range=2y").await;
    assert_eq!(s, 400, "{e}");
}

#[tokio::test]
async fn restart_on_unhealthy_restarts_a_hung_server_only_when_enabled() {
    let d = Daemon::start();
    let policy = json!({"interval_secs": 0.2, "timeout_secs": 0.2, "failure_threshold": 2, "restart_after_failures": 1});
    d.create(fast("fixme", &[], policy)).await;
    d.create(fast(
        "leave",
        &[],
        json!({"interval_secs": 0.2, "timeout_secs": 0.2, "failure_threshold": 2}),
    ))
    .await;
    let a = d
        .wait_status("fixme", "running", Duration::from_secs(20))
        .await;
    let b = d
        .wait_status("leave", "running", Duration::from_secs(20))
        .await;
    call(&d, "fixme", "hang", json!({})).await;
    call(&d, "leave", "hang", json!({})).await;
    let restarted = d
        .wait_for("fixme", Duration::from_secs(15), "restarted", |v| {
            v["status"] == "running" && v["generation"] != a["generation"]
        })
        .await;
    assert_eq!(restarted["restart_count"], 1);
    let logs = d.logs("fixme").await;
    assert!(
        logs.iter().any(|l| l["message"]
            .as_str()
            .unwrap_or("")
            .contains("failed health checks in a row: restarting")),
        "{logs:?}"
    );
    wait_health(&d, "fixme", "healthy", Duration::from_secs(10)).await;
    wait_health(&d, "leave", "unhealthy", Duration::from_secs(10)).await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    let still = d.server("leave").await;
    assert_eq!(still["generation"], b["generation"], "left alone");
    assert_eq!(still["status"], "running");
}

#[tokio::test]
async fn server_everything_over_streamable_http_is_checked_with_mcp() {
    let deps = deps();
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr").port()
    };
    let d = Daemon::start();
    d.create(json!({
        "name": "ev-http", "type": "nodejs", "command": "npx", "transport": "http", "port": port,
        "args": ["--offline", "-y", "@modelcontextprotocol/server-everything", "streamableHttp"],
        "working_directory": deps.join("npm").display().to_string(),
        "env": {"PORT": port.to_string(), "npm_config_cache": deps.join("npm-cache").display().to_string()},
        "health": {"interval_secs": 0.3},
        "start": true
    }))
    .await;
    wait_health(&d, "ev-http", "healthy", Duration::from_secs(60)).await;
    tokio::time::sleep(Duration::from_millis(700)).await;
    let rows = history(&d, "ev-http").await;
    assert!(
        rows.len() >= 2 && rows.iter().all(|r| r["status"] == "healthy"),
        "{rows:?}"
    );
    let (s, v) = d.post("/api/servers/ev-http/health/check", json!({})).await;
    assert_eq!(s, 200);
    assert_eq!(v["data"]["probes"], json!(["mcp", "process"]));
    assert_eq!(v["data"]["ok"], true);
}
