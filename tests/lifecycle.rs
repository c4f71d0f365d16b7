//! Process servers end to end against a real daemon: start to `running` only after the MCP
//! handshake, env and working directory, verbatim arguments, stop escalation, crash
//! detection, restart policy with backoff, and `failed` after a crash loop.

mod common;

use common::*;
use serde_json::json;
use std::time::{Duration, Instant};

#[tokio::test]
async fn python_and_node_fixtures_reach_running_with_their_tools() {
    let d = Daemon::start();
    d.create(json!({"name": "py", "command": "python3", "args": [fixture_py()], "start": true}))
        .await;
    d.create(json!({"name": "node", "command": "node", "args": [fixture_node()], "start": true}))
        .await;
    for (name, server_name) in [("py", "mcp-fixture-py"), ("node", "mcp-fixture-node")] {
        let v = d
            .wait_status(name, "running", Duration::from_secs(20))
            .await;
        assert!(v["process_id"].as_u64().is_some(), "{v}");
        let (s, mcp) = d.get(&format!("/api/servers/{name}/mcp")).await;
        assert_eq!(s, 200, "{mcp}");
        assert_eq!(mcp["data"]["server_info"]["name"], server_name);
        assert_eq!(mcp["data"]["protocol_version"], "2025-11-25");
        let tools: Vec<&str> = mcp["data"]["tools"]
            .as_array()
            .expect("tools")
            .iter()
            .filter_map(|t| t["name"].as_str())
            .collect();
        assert!(
            tools.contains(&"echo") && tools.contains(&"env"),
            "{tools:?}"
        );
        assert_eq!(mcp["data"]["resources"][0]["name"], "hello");
        assert_eq!(mcp["data"]["prompts"][0]["name"], "greet");
        assert_eq!(
            d.call_tool(name, "echo", json!({"message": "hi"})).await,
            "Echo: hi"
        );
    }
}

#[tokio::test]
async fn a_server_that_never_answers_the_handshake_is_not_running() {
    let d = Daemon::start();
    let mut def = py_server("mute", &["--hang-on-init"]);
    def["start_timeout_secs"] = json!(1.5);
    def["restart_policy"] = json!("never");
    def["start"] = json!(true);
    d.create(def).await;
    // alive as a process, but never `running`
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert_eq!(d.server("mute").await["status"], "starting");
    let v = d
        .wait_status("mute", "failed", Duration::from_secs(15))
        .await;
    assert!(
        v["last_error"].as_str().unwrap_or("").contains("timed out"),
        "{v}"
    );
    wait_no_processes(v["id"].as_str().unwrap_or(""), Duration::from_secs(5)).await;
}

#[tokio::test]
async fn env_and_working_directory_reach_the_child_and_stdout_noise_is_logged() {
    let d = Daemon::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let cwd = dir
        .path()
        .canonicalize()
        .expect("canon")
        .display()
        .to_string();
    let mut def = py_server("envy", &["--stdout-noise"]);
    def["working_directory"] = json!(cwd);
    def["env"] = json!({"PLAIN_VAR": "plain value"});
    def["secret_env"] = json!({"API_KEY": "s3cret-value"});
    def["start"] = json!(true);
    let created = d.create(def).await;
    assert_eq!(created["secret_env"], json!(["API_KEY"]));
    assert!(!created.to_string().contains("s3cret-value"));
    d.wait_status("envy", "running", Duration::from_secs(20))
        .await;
    assert_eq!(
        d.call_tool("envy", "env", json!({"name": "PLAIN_VAR"}))
            .await,
        "plain value"
    );
    assert_eq!(
        d.call_tool("envy", "env", json!({"name": "API_KEY"})).await,
        "s3cret-value"
    );
    assert_eq!(d.call_tool("envy", "cwd", json!({})).await, cwd);
    // The secret never comes back out of the API.
    let (_, all) = d.get("/api/servers").await;
    assert!(!all.to_string().contains("s3cret-value"));
    // Non-JSON stdout lines are logged, not fed to the protocol.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let logs = d.logs("envy").await;
    assert!(
        logs.iter()
            .any(|l| l["source"] == "stdout" && l["message"] == "fixture starting up (not JSON)"),
        "{logs:?}"
    );
    assert!(logs.iter().any(|l| {
        l["source"] == "stderr"
            && l["message"]
                .as_str()
                .unwrap_or("")
                .contains("mcp-fixture-py started")
    }));
    assert!(logs.iter().any(|l| {
        l["source"] == "system"
            && l["message"]
                .as_str()
                .unwrap_or("")
                .starts_with("spawned pid")
    }));
}

#[tokio::test]
async fn missing_command_or_directory_is_named_before_anything_is_spawned() {
    let d = Daemon::start();
    d.create(json!({"name": "nocmd", "command": "surely-not-installed-xyz"}))
        .await;
    let (s, v) = d.action("nocmd", "start").await;
    assert_eq!(s, 422, "{v}");
    let msg = v["error"]["message"].as_str().unwrap_or("");
    assert!(
        msg.contains("command not found: surely-not-installed-xyz"),
        "{msg}"
    );
    let after = d.server("nocmd").await;
    assert_eq!(after["status"], "failed");
    assert_eq!(after["process_id"], json!(null));
    assert_eq!(
        after["generation"], 0,
        "nothing may have been spawned: {after}"
    );

    let mut def = py_server("nodir", &[]);
    def["working_directory"] = json!("/definitely/not/a/dir");
    d.create(def).await;
    let (s, v) = d.action("nodir", "start").await;
    assert_eq!(s, 422, "{v}");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap_or("")
            .contains("working directory does not exist: /definitely/not/a/dir"),
        "{v}"
    );
}

#[tokio::test]
async fn shell_metacharacters_reach_the_child_verbatim() {
    let d = Daemon::start();
    let marker = std::env::temp_dir().join(format!("mcpm-inject-{}", std::process::id()));
    let _ = std::fs::remove_file(&marker);
    let m = marker.display().to_string();
    let evil = vec![
        format!("; touch {m}"),
        format!("$(touch {m})"),
        format!("`touch {m}`"),
        format!("&& touch {m} | cat > {m}"),
        "'quoted' \"double\" $HOME *".to_string(),
    ];
    let mut args = vec![fixture_py()];
    args.extend(evil.iter().cloned());
    d.create(json!({"name": "evil", "command": "python3", "args": args, "start": true}))
        .await;
    d.wait_status("evil", "running", Duration::from_secs(20))
        .await;
    let argv: Vec<String> =
        serde_json::from_str(&d.call_tool("evil", "argv", json!({})).await).expect("argv json");
    assert_eq!(argv, evil);
    assert!(!marker.exists(), "a shell ran: {m} exists");
}

#[tokio::test]
async fn a_child_that_ignores_sigterm_is_killed_at_the_end_of_the_grace_period() {
    let d = Daemon::start();
    let mut def = py_server("stubborn", &["--ignore-sigterm", "--ignore-stdin-eof"]);
    def["stop_grace_secs"] = json!(2);
    def["start"] = json!(true);
    let id = d.create(def).await["id"].as_str().unwrap_or("").to_string();
    d.wait_status("stubborn", "running", Duration::from_secs(20))
        .await;
    assert_eq!(processes_of(&id).len(), 1);
    let started = Instant::now();
    let (s, v) = d.action("stubborn", "stop").await;
    assert_eq!(s, 202, "{v}");
    assert_eq!(v["data"]["status"], "stopping");
    let gone = wait_no_processes(&id, Duration::from_secs(10)).await;
    let v = d
        .wait_status("stubborn", "stopped", Duration::from_secs(5))
        .await;
    let took = started.elapsed();
    assert!(
        took < Duration::from_secs(3),
        "took {took:?} (grace 2s + 1s)"
    );
    assert!(gone < Duration::from_secs(3));
    assert_eq!(v["last_exit"]["signal"], 9, "{v}");
    let logs = d.logs("stubborn").await;
    assert!(
        logs.iter().any(|l| l["message"] == "ignoring SIGTERM"),
        "SIGTERM was sent"
    );
}

#[tokio::test]
async fn stop_ends_the_whole_process_group_including_grandchildren() {
    let d = Daemon::start();
    let id = d
        .create({
            let mut v = py_server("forker", &["--fork-grandchild"]);
            v["start"] = json!(true);
            v
        })
        .await["id"]
        .as_str()
        .unwrap_or("")
        .to_string();
    d.wait_status("forker", "running", Duration::from_secs(20))
        .await;
    assert_eq!(processes_of(&id).len(), 2, "fixture and its grandchild");
    d.action("forker", "stop").await;
    wait_no_processes(&id, Duration::from_secs(5)).await;
}

#[tokio::test]
async fn kill_9_is_seen_at_once_and_on_failure_restarts_with_growing_delays() {
    let d = Daemon::start();
    let mut def = py_server("crashy", &[]);
    def["backoff"] = json!({"initial_secs": 0.3, "multiplier": 2.0, "max_secs": 5, "stable_secs": 30, "max_failures": 5});
    def["start"] = json!(true);
    d.create(def).await;
    let mut delays = vec![];
    let mut last_gen = 0;
    for round in 0..3 {
        let v = d
            .wait_status("crashy", "running", Duration::from_secs(20))
            .await;
        let generation = v["generation"].as_u64().unwrap_or(0);
        assert!(generation > last_gen, "a new run each time");
        last_gen = generation;
        let pid = v["process_id"].as_i64().expect("pid") as i32;
        let killed = Instant::now();
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid),
            nix::sys::signal::Signal::SIGKILL,
        )
        .expect("kill");
        let b = d
            .wait_for("crashy", Duration::from_secs(2), "in backoff", |v| {
                v["status"] == "backoff"
            })
            .await;
        assert!(
            killed.elapsed() < Duration::from_secs(1),
            "exit seen after {:?}",
            killed.elapsed()
        );
        assert_eq!(b["last_exit"]["signal"], 9);
        assert_eq!(b["restart_count"], round);
        let next = chrono::DateTime::parse_from_rfc3339(b["next_start_at"].as_str().expect("next"))
            .expect("time");
        let at = chrono::DateTime::parse_from_rfc3339(b["last_exit"]["at"].as_str().expect("at"))
            .expect("time");
        delays.push((next - at).num_milliseconds());
    }
    // 0.3 s, 0.6 s, 1.2 s, each with up to ±20 % jitter
    assert!(delays[0] >= 200 && delays[0] <= 400, "{delays:?}");
    assert!(delays[1] > delays[0] && delays[2] > delays[1], "{delays:?}");
    d.wait_status("crashy", "running", Duration::from_secs(20))
        .await;
}

#[tokio::test]
async fn a_crash_loop_ends_in_failed() {
    let d = Daemon::start();
    let mut def = py_server("loop", &["--exit-immediately", "3"]);
    def["backoff"] = json!({"initial_secs": 0.05, "max_secs": 0.2, "max_failures": 3});
    def["start"] = json!(true);
    let id = d.create(def).await["id"].as_str().unwrap_or("").to_string();
    let v = d
        .wait_status("loop", "failed", Duration::from_secs(30))
        .await;
    assert_eq!(v["generation"], 4, "first run plus three restarts: {v}");
    assert_eq!(v["restart_count"], 3);
    assert_eq!(v["last_exit"]["code"], 3);
    assert!(
        v["last_error"].as_str().unwrap_or("").contains("gave up"),
        "{v}"
    );
    // Failed stays failed.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(d.server("loop").await["status"], "failed");
    assert!(processes_of(&id).is_empty());
    // A user start leaves it.
    let (s, _) = d.action("loop", "start").await;
    assert_eq!(s, 202);
}

#[tokio::test]
async fn restart_makes_a_new_generation_and_the_old_exit_does_not_touch_it() {
    let d = Daemon::start();
    d.create({
        let mut v = py_server("gen", &[]);
        v["start"] = json!(true);
        v
    })
    .await;
    let first = d
        .wait_status("gen", "running", Duration::from_secs(20))
        .await;
    let (s, _) = d.action("gen", "restart").await;
    assert_eq!(s, 202);
    let second = d
        .wait_for("gen", Duration::from_secs(20), "running again", |v| {
            v["status"] == "running" && v["generation"] != first["generation"]
        })
        .await;
    assert_eq!(
        second["generation"].as_u64(),
        first["generation"].as_u64().map(|g| g + 1)
    );
    assert_ne!(second["process_id"], first["process_id"]);
    // The old run's exit (code 0 after stdin closed) must not have moved the new run.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let now = d.server("gen").await;
    assert_eq!(now["status"], "running");
    assert_eq!(now["generation"], second["generation"]);
    assert_eq!(
        now["restart_count"], 0,
        "a user restart is not a crash restart"
    );
}

#[tokio::test]
async fn a_clean_exit_with_policy_never_is_stopped_and_a_crash_is_failed() {
    let d = Daemon::start();
    let mut def = py_server("once", &["--crash-after", "0.5"]);
    def["restart_policy"] = json!("never");
    def["start"] = json!(true);
    d.create(def).await;
    d.wait_status("once", "running", Duration::from_secs(20))
        .await;
    let v = d
        .wait_status("once", "failed", Duration::from_secs(10))
        .await;
    assert_eq!(v["last_error"], "exited with code 1");
}
