//! Container servers against a real Docker engine (started by `.ci/setup.sh` when none
//! answers) with an image built locally by `tests/images/build.sh`.

mod common;

use common::*;
use serde_json::{Value, json};
use std::process::Command;
use std::time::{Duration, Instant};

const IMAGE: &str = "mcp-manager-test/py-fixture:latest";

fn docker(args: &[&str]) -> (bool, String) {
    let out = Command::new("docker")
        .args(args)
        .output()
        .expect("docker CLI");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).trim().to_string(),
    )
}

fn inspect(id: &str) -> Value {
    let (ok, out) = docker(&["inspect", id]);
    assert!(ok, "docker inspect {id} failed");
    serde_json::from_str::<Value>(&out).expect("inspect json")[0].clone()
}

fn exists(id: &str) -> bool {
    docker(&["inspect", id]).0
}

/// Containers labelled with this server id, running or not.
fn containers_of(server_id: &str) -> Vec<String> {
    let (_, out) = docker(&[
        "ps",
        "-aq",
        "--no-trunc",
        "--filter",
        &format!("label=mcp-manager.server={server_id}"),
    ]);
    out.lines()
        .map(String::from)
        .filter(|l| !l.is_empty())
        .collect()
}

fn engine_ready() {
    assert!(
        docker(&["image", "inspect", IMAGE]).0,
        "the test image is missing: run `bash .ci/setup.sh` (it starts the engine and builds it)"
    );
}

fn stdio_container(name: &str, args: &[&str]) -> Value {
    json!({
        "name": name, "type": "container", "image": IMAGE,
        "args": args, "stop_grace_secs": 3, "start": true,
        "backoff": {"initial_secs": 0.3}
    })
}

fn id_of(v: &Value) -> String {
    v["id"].as_str().unwrap_or("").to_string()
}

#[tokio::test]
async fn a_stdio_container_runs_lists_tools_logs_stderr_and_stops_within_grace() {
    engine_ready();
    let d = Daemon::start();
    let sid = id_of(
        &d.create(stdio_container("ct-stdio", &["--stderr-lines", "2"]))
            .await,
    );
    let v = d
        .wait_status("ct-stdio", "running", Duration::from_secs(30))
        .await;
    let cid = v["container_id"]
        .as_str()
        .expect("container id")
        .to_string();
    assert_eq!(v["process_id"], Value::Null);
    assert!(inspect(&cid)["State"]["Running"].as_bool().unwrap_or(false));
    let labels = &inspect(&cid)["Config"]["Labels"];
    assert_eq!(labels["mcp-manager.server"], sid.as_str());
    let policy = inspect(&cid)["HostConfig"]["RestartPolicy"]["Name"].clone();
    assert!(
        policy == "" || policy == "no",
        "Docker must not restart it: {policy}"
    );

    let (s, mcp) = d.get("/api/servers/ct-stdio/mcp").await;
    assert_eq!(s, 200, "{mcp}");
    assert_eq!(mcp["data"]["server_info"]["name"], "mcp-fixture-py");
    assert!(
        mcp["data"]["tools"]
            .as_array()
            .is_some_and(|t| t.iter().any(|t| t["name"] == "echo"))
    );
    let logs = d.logs("ct-stdio").await;
    assert!(
        logs.iter()
            .any(|l| l["source"] == "stderr" && l["message"] == "stderr line 2"),
        "{logs:?}"
    );
    assert!(
        logs.iter()
            .any(|l| l["source"] == "stderr"
                && l["message"].as_str().unwrap_or("").contains("pid=1"))
    );

    let started = Instant::now();
    d.action("ct-stdio", "stop").await;
    d.wait_status("ct-stdio", "stopped", Duration::from_secs(10))
        .await;
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "grace is 3s: {:?}",
        started.elapsed()
    );
    // Stopped containers are removed, not left behind.
    let deadline = Instant::now() + Duration::from_secs(5);
    while exists(&cid) && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(!exists(&cid));
    assert!(containers_of(&sid).is_empty());
}

#[tokio::test]
async fn a_container_that_ignores_sigterm_is_killed_after_the_grace_period() {
    engine_ready();
    let d = Daemon::start();
    let mut def = stdio_container("ct-stubborn", &["--ignore-sigterm"]);
    def["stop_grace_secs"] = json!(1);
    d.create(def).await;
    d.wait_status("ct-stubborn", "running", Duration::from_secs(30))
        .await;
    let started = Instant::now();
    d.action("ct-stubborn", "stop").await;
    let v = d
        .wait_status("ct-stubborn", "stopped", Duration::from_secs(10))
        .await;
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(v["last_exit"]["code"], 137, "{v}");
}

#[tokio::test]
async fn an_http_container_is_reachable_on_its_published_loopback_port() {
    engine_ready();
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr").port()
    };
    let d = Daemon::start();
    let sid = id_of(
        &d.create(json!({
            "name": "ct-http", "type": "container", "image": IMAGE, "transport": "http",
            "args": ["--http", "8080"], "port": 8080,
            "ports": [{"container_port": 8080, "host_port": port}],
            "stop_grace_secs": 3, "start": true
        }))
        .await,
    );
    let v = d
        .wait_status("ct-http", "running", Duration::from_secs(30))
        .await;
    let bindings = &inspect(v["container_id"].as_str().unwrap_or(""))["HostConfig"]["PortBindings"]
        ["8080/tcp"][0];
    assert_eq!(bindings["HostIp"], "127.0.0.1");
    assert_eq!(bindings["HostPort"], port.to_string());
    let (s, mcp) = d.get("/api/servers/ct-http/mcp").await;
    assert_eq!(s, 200, "{mcp}");
    // Reachable by anyone on this machine at the published port.
    let r = reqwest::Client::new()
        .get(format!("http://127.0.0.1:{port}/health"))
        .send()
        .await
        .expect("reach the published port");
    assert_eq!(r.status().as_u16(), 200);
    d.action("ct-http", "stop").await;
    d.wait_status("ct-http", "stopped", Duration::from_secs(10))
        .await;
    let deadline = Instant::now() + Duration::from_secs(5);
    while !containers_of(&sid).is_empty() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(containers_of(&sid).is_empty());
}

#[tokio::test]
async fn docker_kill_is_seen_at_once_and_the_restart_policy_decides() {
    engine_ready();
    let d = Daemon::start();
    d.create(stdio_container("ct-kill", &[])).await;
    let first = d
        .wait_status("ct-kill", "running", Duration::from_secs(30))
        .await;
    let cid = first["container_id"].as_str().expect("cid").to_string();
    let killed = Instant::now();
    assert!(docker(&["kill", &cid]).0);
    let b = d
        .wait_for("ct-kill", Duration::from_secs(1), "out of running", |v| {
            v["status"] != "running"
        })
        .await;
    assert!(
        killed.elapsed() < Duration::from_secs(1),
        "{:?}",
        killed.elapsed()
    );
    assert_eq!(b["last_exit"]["code"], 137);
    let again = d
        .wait_for("ct-kill", Duration::from_secs(30), "running again", |v| {
            v["status"] == "running" && v["generation"] != first["generation"]
        })
        .await;
    assert_eq!(again["restart_count"], 1);
    assert_ne!(
        again["container_id"], first["container_id"],
        "a new container for a new run"
    );
    assert!(!exists(&cid) || !inspect(&cid)["State"]["Running"].as_bool().unwrap_or(true));
}

#[tokio::test]
async fn a_crash_looping_container_ends_in_failed() {
    engine_ready();
    let d = Daemon::start();
    let mut def = stdio_container("ct-loop", &["--exit-immediately", "3"]);
    def["backoff"] = json!({"initial_secs": 0.05, "max_secs": 0.2, "max_failures": 2});
    let sid = id_of(&d.create(def).await);
    let v = d
        .wait_status("ct-loop", "failed", Duration::from_secs(60))
        .await;
    assert_eq!(v["generation"], 3, "{v}");
    assert_eq!(v["last_exit"]["code"], 3);
    assert!(
        v["last_error"].as_str().unwrap_or("").contains("gave up"),
        "{v}"
    );
    let deadline = Instant::now() + Duration::from_secs(5);
    while !containers_of(&sid).is_empty() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        containers_of(&sid).is_empty(),
        "failed runs leave no containers"
    );
}

#[tokio::test]
async fn env_secrets_ports_and_limits_reach_the_container() {
    engine_ready();
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr").port()
    };
    let d = Daemon::start();
    let (s, e) = d
        .post(
            "/api/servers",
            json!({"name": "bad", "type": "container", "image": IMAGE,
            "ports": [{"container_port": 9000, "host_port": 0}]}),
        )
        .await;
    assert_eq!(s, 422, "{e}");
    d.create(json!({
        "name": "ct-env", "type": "container", "image": IMAGE,
        "env": {"PLAIN": "visible"}, "secret_env": {"TOKEN": "hush-hush"},
        "ports": [{"container_port": 9000, "host_port": port}],
        "memory_mb": 64, "cpus": 0.5, "start": true
    }))
    .await;
    let v = d
        .wait_status("ct-env", "running", Duration::from_secs(30))
        .await;
    assert!(!v.to_string().contains("hush-hush"));
    assert_eq!(v["secret_env"], json!(["TOKEN"]));
    let info = inspect(v["container_id"].as_str().unwrap_or(""));
    let env: Vec<String> =
        serde_json::from_value(info["Config"]["Env"].clone()).unwrap_or_default();
    assert!(env.contains(&"PLAIN=visible".to_string()), "{env:?}");
    assert!(env.contains(&"TOKEN=hush-hush".to_string()));
    assert!(
        !env.iter().any(|e| e.starts_with("MCP_MANAGER_")),
        "host markers must not enter: {env:?}"
    );
    assert_eq!(info["HostConfig"]["Memory"], 64 * 1024 * 1024);
    assert_eq!(info["HostConfig"]["NanoCpus"], 500_000_000);
    let bound = &info["HostConfig"]["PortBindings"]["9000/tcp"][0];
    assert_eq!(
        bound["HostIp"], "127.0.0.1",
        "published on loopback unless configured"
    );
    assert_eq!(bound["HostPort"], port.to_string());
    let (s, r) = d
        .post(
            "/api/servers/ct-env/tools/env/call",
            json!({"arguments": {"name": "TOKEN"}}),
        )
        .await;
    assert_eq!(s, 200);
    assert_eq!(r["data"]["content"][0]["text"], "hush-hush");
}

#[tokio::test]
async fn after_kill_9_of_the_daemon_running_containers_are_adopted_not_duplicated() {
    engine_ready();
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path().join("data");
    let mut d = Daemon::start_in(&dir);
    let keep = id_of(&d.create(stdio_container("ct-adopt", &[])).await);
    let halt = id_of(&d.create(stdio_container("ct-halt", &[])).await);
    let before = d
        .wait_status("ct-adopt", "running", Duration::from_secs(30))
        .await;
    d.wait_status("ct-halt", "running", Duration::from_secs(30))
        .await;
    d.action("ct-halt", "stop").await;
    d.wait_status("ct-halt", "stopped", Duration::from_secs(10))
        .await;
    let cid = before["container_id"].as_str().expect("cid").to_string();

    // A labelled container whose server no longer exists.
    let instance = std::fs::read_to_string(dir.join("instance-id")).expect("instance id");
    let (ok, stray) = docker(&[
        "run",
        "-d",
        "-i",
        "--label",
        &format!("mcp-manager.instance={}", instance.trim()),
        "--label",
        "mcp-manager.server=deleted-server",
        IMAGE,
    ]);
    assert!(ok, "could not start the stray container");

    d.kill9();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        inspect(&cid)["State"]["Running"].as_bool().unwrap_or(false),
        "containers outlive the daemon"
    );

    let d2 = Daemon::start_in(&dir);
    let after = d2
        .wait_status("ct-adopt", "running", Duration::from_secs(30))
        .await;
    assert_eq!(after["container_id"], cid.as_str(), "adopted, not replaced");
    assert_eq!(after["generation"], before["generation"]);
    assert_eq!(containers_of(&keep), vec![cid.clone()], "no duplicate");
    // The adopted session works.
    let (s, r) = d2
        .post(
            "/api/servers/ct-adopt/tools/echo/call",
            json!({"arguments": {"message": "still here"}}),
        )
        .await;
    assert_eq!(s, 200, "{r}");
    assert_eq!(r["data"]["content"][0]["text"], "Echo: still here");
    // A user's stop is kept; the stray container is removed.
    assert_eq!(d2.server("ct-halt").await["status"], "stopped");
    assert!(containers_of(&halt).is_empty());
    let deadline = Instant::now() + Duration::from_secs(10);
    while exists(&stray) && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        !exists(&stray),
        "the container of a deleted server is removed"
    );
    // Its exit is still watched after adoption.
    assert!(docker(&["kill", &cid]).0);
    d2.wait_for("ct-adopt", Duration::from_secs(2), "out of running", |v| {
        v["status"] != "running"
    })
    .await;
}

#[tokio::test]
async fn without_an_engine_the_daemon_runs_and_container_starts_say_why() {
    let d = Daemon::start_env(&[("DOCKER_HOST", "unix:///tmp/no-engine-here.sock")]);
    let (s, sys) = d.get("/api/system").await;
    assert_eq!(s, 200);
    assert_eq!(sys["data"]["docker"]["reachable"], false);
    assert!(
        sys["data"]["docker"]["error"]
            .as_str()
            .unwrap_or("")
            .contains("not reachable")
    );
    // Process servers work.
    d.create({
        let mut v = py_server("proc", &[]);
        v["start"] = json!(true);
        v
    })
    .await;
    d.wait_status("proc", "running", Duration::from_secs(20))
        .await;
    // Container servers can be defined, but a start says plainly why it cannot happen.
    d.create(json!({"name": "ct", "type": "container", "image": IMAGE}))
        .await;
    let (s, v) = d.action("ct", "start").await;
    assert_eq!(s, 422, "{v}");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap_or("")
            .contains("Docker engine not reachable at unix:///tmp/no-engine-here.sock"),
        "{v}"
    );
    assert_eq!(d.server("ct").await["status"], "stopped");
    assert!(!d.log_text().contains("panicked"));
}

#[tokio::test]
async fn an_out_of_memory_kill_is_reported_as_such() {
    engine_ready();
    let d = Daemon::start();
    let mut def = stdio_container("ct-oom", &["--alloc-mb", "200"]);
    def["memory_mb"] = json!(48);
    def["restart_policy"] = json!("never");
    d.create(def).await;
    let v = d
        .wait_status("ct-oom", "failed", Duration::from_secs(30))
        .await;
    assert_eq!(v["last_exit"]["code"], 137, "{v}");
    assert!(
        v["last_error"]
            .as_str()
            .unwrap_or("")
            .contains("out of memory"),
        "{v}"
    );
}

#[tokio::test]
async fn a_missing_image_is_pulled_and_a_failed_pull_says_so() {
    engine_ready();
    let d = Daemon::start();
    d.create(json!({
        "name": "ct-nopull", "type": "container", "image": "mcp-manager-test/not-built-anywhere:1",
        "restart_policy": "never", "start": true
    }))
    .await;
    let v = d
        .wait_status("ct-nopull", "failed", Duration::from_secs(60))
        .await;
    let err = v["last_error"].as_str().unwrap_or("");
    assert!(
        err.contains("could not pull image mcp-manager-test/not-built-anywhere:1"),
        "{err}"
    );
    let logs = d.logs("ct-nopull").await;
    assert!(
        logs.iter().any(|l| l["message"]
            .as_str()
            .unwrap_or("")
            .contains("is not present; pulling it")),
        "{logs:?}"
    );
}

/// Running containers of a server, with their `mcp-manager.session` label ("" for the
/// run's own).
fn running_of(server_id: &str) -> Vec<(String, String)> {
    containers_of(server_id)
        .into_iter()
        .filter_map(|id| {
            let v = inspect(&id);
            v["State"]["Running"].as_bool().unwrap_or(false).then(|| {
                let session = v["Config"]["Labels"]["mcp-manager.session"]
                    .as_str()
                    .unwrap_or("")
                    .to_string();
                (id, session)
            })
        })
        .collect()
}

async fn wait_containers(server_id: &str, n: usize, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let all = containers_of(server_id);
        if all.len() == n {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{what}: want {n} containers, have {all:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// An initialized gateway session on a per-session container server.
async fn container_session(d: &Daemon, name: &str) -> common::mcp::Client {
    common::mcp::Client::connect(d, name, "mcp-fixture-py")
        .await
        .0
}

async fn counter(c: &common::mcp::Client, id: u64) -> u64 {
    let r = c.tool(id, "counter", json!({})).await;
    let text = common::mcp::text_of(&r);
    let v: Value = serde_json::from_str(&text).unwrap_or_else(|_| panic!("counter: {r}"));
    v["count"].as_u64().expect("count")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn per_session_isolation_gives_each_session_a_container_of_its_own() {
    engine_ready();
    let mut d = Daemon::start();
    let mut def = stdio_container("ct-iso", &[]);
    def["isolation"] = json!("per-session");
    // A published port stays the run's: the sessions' containers do not try to bind it.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr").port()
    };
    def["ports"] = json!([{"container_port": 8080, "host_port": port}]);
    let sid = id_of(&d.create(def).await);
    let run = d
        .wait_status("ct-iso", "running", Duration::from_secs(30))
        .await["container_id"]
        .as_str()
        .expect("the run's container")
        .to_string();

    let a = container_session(&d, "ct-iso").await;
    let b = container_session(&d, "ct-iso").await;
    let c = container_session(&d, "ct-iso").await;
    assert_eq!(
        (
            counter(&a, 1).await,
            counter(&a, 2).await,
            counter(&b, 1).await
        ),
        (1, 2, 1),
        "each session counts in its own container"
    );
    let mut running = running_of(&sid);
    running.sort_by(|x, y| x.1.cmp(&y.1));
    let mut want: Vec<String> = [&a, &b, &c]
        .iter()
        .map(|s| s.session.clone().expect("session id"))
        .collect();
    want.push(String::new());
    want.sort();
    assert_eq!(
        running.iter().map(|r| r.1.clone()).collect::<Vec<_>>(),
        want,
        "the run's container and one per session, labelled with it"
    );
    assert!(running.iter().any(|r| r.0 == run && r.1.is_empty()));
    assert_eq!(d.server("ct-iso").await["session_instances"], 3);
    // Their stderr is in the server's log, behind the session's marker.
    let tag = &a.session.as_deref().unwrap_or_default()[..8];
    let deadline = Instant::now() + Duration::from_secs(10);
    while !d.logs("ct-iso").await.iter().any(|l| {
        l["source"] == "stderr"
            && l["message"]
                .as_str()
                .is_some_and(|m| m.starts_with(&format!("[session {tag}] mcp-fixture-py started")))
    }) {
        assert!(Instant::now() < deadline, "{:?}", d.logs("ct-iso").await);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // DELETE ends exactly that session's container, and removes it.
    let b_id = b.session.clone().expect("b's session");
    assert_eq!(b.delete().await, 200);
    wait_containers(&sid, 3, "after DELETE").await;
    assert!(running_of(&sid).iter().all(|r| r.1 != b_id));
    assert_eq!(counter(&a, 3).await, 3);

    // Its process dies mid-call: the call fails, the container goes, the session says why.
    let crashed = a.tool(4, "crash", json!({})).await;
    assert!(crashed["error"].is_object(), "{crashed}");
    wait_containers(&sid, 2, "after the crash").await;
    let after = a.tool(5, "counter", json!({})).await;
    let msg = after["error"]["message"].as_str().unwrap_or_default();
    assert!(
        msg.contains("exited") && msg.contains("initialize"),
        "{after}"
    );
    d.wait_for("ct-iso", Duration::from_secs(5), "1 instance", |v| {
        v["session_instances"] == 1
    })
    .await;
    let logs = d.logs("ct-iso").await;
    assert!(
        logs.iter().any(|l| l["source"] == "system"
            && l["message"]
                .as_str()
                .is_some_and(|m| m.starts_with("per-session instance container ")
                    && m.contains(&format!("(gateway session {tag}, "))
                    && m.contains("exited on its own"))),
        "{logs:?}"
    );

    // The daemon's shutdown ends and removes the rest, the run's container included.
    d.stop();
    assert!(containers_of(&sid).is_empty(), "{:?}", containers_of(&sid));
    drop(c);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_kill_9_per_session_containers_are_removed_and_only_the_run_is_adopted() {
    engine_ready();
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path().join("data");
    let mut d = Daemon::start_in(&dir);
    let mut def = stdio_container("ct-iso9", &[]);
    def["isolation"] = json!("per-session");
    let sid = id_of(&d.create(def).await);
    let run = d
        .wait_status("ct-iso9", "running", Duration::from_secs(30))
        .await["container_id"]
        .as_str()
        .expect("the run's container")
        .to_string();
    let a = container_session(&d, "ct-iso9").await;
    assert_eq!(counter(&a, 1).await, 1);
    assert_eq!(running_of(&sid).len(), 2);

    d.kill9();
    let d2 = Daemon::start_in(&dir);
    let v = d2
        .wait_status("ct-iso9", "running", Duration::from_secs(30))
        .await;
    assert_eq!(v["container_id"], run.as_str(), "the run is adopted");
    // The session died with the daemon; so does its container.
    wait_containers(&sid, 1, "after the restart").await;
    assert_eq!(containers_of(&sid), vec![run]);
    assert_eq!(v["session_instances"], 0);
    // A new session gets a new container.
    let b = container_session(&d2, "ct-iso9").await;
    assert_eq!(counter(&b, 1).await, 1);
    assert_eq!(running_of(&sid).len(), 2);
}
