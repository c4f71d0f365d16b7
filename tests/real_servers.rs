//! Published MCP servers, installed by `.ci/setup.sh` (never fetched during a test):
//! `@modelcontextprotocol/server-everything` through `npx`, and `mcp-server-time` from PyPI
//! with `python -m`. Also the npx process tree: stop leaves nothing, and a kill of the real
//! server (npx's grandchild) is seen at once.

mod common;

use common::*;
use serde_json::json;
use std::time::{Duration, Instant};

fn everything(name: &str) -> serde_json::Value {
    let deps = deps();
    json!({
        "name": name,
        "type": "nodejs",
        "command": "npx",
        "args": ["--offline", "-y", "@modelcontextprotocol/server-everything", "stdio"],
        "working_directory": deps.join("npm").display().to_string(),
        "env": {
            "npm_config_cache": deps.join("npm-cache").display().to_string(),
            "npm_config_update_notifier": "false"
        },
        "stop_grace_secs": 5,
        "start": true
    })
}

fn tool_names(mcp: &serde_json::Value) -> Vec<String> {
    mcp["data"]["tools"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|t| t["name"].as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn server_everything_through_npx_runs_and_stops_without_leftovers() {
    let d = Daemon::start();
    let id = d.create(everything("everything")).await["id"]
        .as_str()
        .unwrap_or("")
        .to_string();
    let v = d
        .wait_status("everything", "running", Duration::from_secs(60))
        .await;
    let (s, mcp) = d.get("/api/servers/everything/mcp").await;
    assert_eq!(s, 200, "{mcp}");
    let tools = tool_names(&mcp);
    assert!(tools.iter().any(|t| t == "echo"), "{tools:?}");
    assert!(mcp["data"]["server_info"]["name"].as_str().is_some());
    // npx → sh → node: several processes, all ours.
    let tree = processes_of(&id);
    assert!(tree.len() >= 2, "expected the npx tree, got {tree:?}");
    assert!(tree.contains(&(v["process_id"].as_i64().unwrap_or(0) as i32)));
    let (s, _) = d.action("everything", "stop").await;
    assert_eq!(s, 202);
    d.wait_status("everything", "stopped", Duration::from_secs(10))
        .await;
    // Counted, not assumed.
    wait_no_processes(&id, Duration::from_secs(2)).await;
}

#[tokio::test]
async fn killing_the_node_grandchild_of_npx_is_seen_within_a_second() {
    let d = Daemon::start();
    let mut def = everything("everything-kill");
    def["backoff"] = json!({"initial_secs": 0.2});
    let id = d.create(def).await["id"].as_str().unwrap_or("").to_string();
    let v = d
        .wait_status("everything-kill", "running", Duration::from_secs(60))
        .await;
    let leader = v["process_id"].as_i64().unwrap_or(0) as i32;
    let node = processes_of(&id)
        .into_iter()
        .find(|p| *p != leader && cmdline(*p).starts_with("node "))
        .unwrap_or_else(|| panic!("no node grandchild among {:?}", processes_of(&id)));
    let killed = Instant::now();
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(node),
        nix::sys::signal::Signal::SIGKILL,
    )
    .expect("kill");
    d.wait_for(
        "everything-kill",
        Duration::from_secs(1),
        "out of running",
        |v| v["status"] != "running",
    )
    .await;
    assert!(killed.elapsed() < Duration::from_secs(1));
    // on-failure brings it back as a new generation.
    let again = d
        .wait_for(
            "everything-kill",
            Duration::from_secs(60),
            "running again",
            |x| x["status"] == "running" && x["generation"] != v["generation"],
        )
        .await;
    assert_eq!(again["restart_count"], 1);
}

#[tokio::test]
async fn mcp_server_time_from_pypi_runs_with_python_m() {
    let d = Daemon::start();
    let python = deps().join("venv/bin/python").display().to_string();
    d.create(json!({
        "name": "time",
        "type": "python",
        "command": python,
        "args": ["-m", "mcp_server_time", "--local-timezone", "UTC"],
        "start": true
    }))
    .await;
    d.wait_status("time", "running", Duration::from_secs(60))
        .await;
    let (s, mcp) = d.get("/api/servers/time/mcp").await;
    assert_eq!(s, 200, "{mcp}");
    let tools = tool_names(&mcp);
    assert!(tools.iter().any(|t| t == "get_current_time"), "{tools:?}");
    let (s, r) = d
        .post(
            "/api/servers/time/tools/get_current_time/call",
            json!({"arguments": {"timezone": "UTC"}}),
        )
        .await;
    assert_eq!(s, 200, "{r}");
    assert!(r.to_string().contains("UTC"), "{r}");
}

#[tokio::test]
async fn an_http_transport_server_reaches_running_through_its_endpoint() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr").port()
    };
    let d = Daemon::start();
    let mut def = everything("everything-http");
    def["args"] = json!([
        "--offline",
        "-y",
        "@modelcontextprotocol/server-everything",
        "streamableHttp"
    ]);
    def["transport"] = json!("http");
    def["port"] = json!(port);
    def["env"]["PORT"] = json!(port.to_string());
    let id = d.create(def).await["id"].as_str().unwrap_or("").to_string();
    let v = d
        .wait_status("everything-http", "running", Duration::from_secs(60))
        .await;
    assert_eq!(v["transport"], "http");
    let (s, mcp) = d.get("/api/servers/everything-http/mcp").await;
    assert_eq!(s, 200, "{mcp}");
    assert!(tool_names(&mcp).iter().any(|t| t == "echo"));
    // Its stdout and stderr are plain logs.
    let logs = d.logs("everything-http").await;
    assert!(
        logs.iter().any(|l| l["message"]
            .as_str()
            .unwrap_or("")
            .contains("listening on port")),
        "{logs:?}"
    );
    d.action("everything-http", "stop").await;
    d.wait_status("everything-http", "stopped", Duration::from_secs(10))
        .await;
    wait_no_processes(&id, Duration::from_secs(2)).await;
}
