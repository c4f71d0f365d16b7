//! `isolation: "per-session"` (issue 8): each client session of `/mcp/{name}` gets an
//! upstream process of its own, beside the server's own run. Real daemon, real Python
//! fixture processes counted in /proc by the manager's environment marker.

mod common;

use common::mcp::Client;
use common::{Daemon, processes_of, py_server, wait_no_processes};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

const NAME: &str = "iso";

async fn daemon_with(isolation: &str) -> (Daemon, String) {
    let d = Daemon::start();
    let mut body = py_server(NAME, &[]);
    body["isolation"] = json!(isolation);
    body["start"] = json!(true);
    let v = d.create(body).await;
    let id = v["id"].as_str().expect("id").to_string();
    d.wait_status(NAME, "running", Duration::from_secs(30))
        .await;
    (d, id)
}

/// An initialized client session.
async fn session(d: &Daemon) -> Client {
    let (c, result) = Client::connect(d, NAME, "mcp-fixture-py").await;
    assert_eq!(result["instructions"], "test fixture", "{result}");
    c
}

/// `counter` through the gateway: (count, pid) of the process that answered.
async fn count(c: &Client, id: u64) -> (u64, i32) {
    let r = c.tool(id, "counter", json!({})).await;
    let text = r["result"]["content"][0]["text"]
        .as_str()
        .unwrap_or_else(|| panic!("no text in {r}"));
    let v: Value = serde_json::from_str(text).expect("counter JSON");
    let pid = v["pid"].as_i64().and_then(|p| i32::try_from(p).ok());
    (v["count"].as_u64().expect("count"), pid.expect("pid"))
}

fn alive(pid: i32) -> bool {
    // A zombie is not alive: the manager must have reaped it.
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| {
        !s.rsplit(')')
            .next()
            .is_some_and(|r| r.trim_start().starts_with('Z'))
    })
}

async fn wait_gone(pid: i32, timeout: Duration) {
    let deadline = Instant::now() + timeout;
    while alive(pid) {
        assert!(Instant::now() < deadline, "pid {pid} still alive");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_session_gets_its_own_process_and_loses_it_when_it_ends() {
    let (d, id) = daemon_with("per-session").await;
    let main = d.server(NAME).await["process_id"]
        .as_i64()
        .and_then(|p| i32::try_from(p).ok())
        .expect("the server's own process");
    assert_eq!(processes_of(&id), vec![main], "only the server's own run");

    let a = session(&d).await;
    let b = session(&d).await;
    let (n1, pid_a) = count(&a, 1).await;
    let (n2, again) = count(&a, 2).await;
    let (m1, pid_b) = count(&b, 1).await;
    assert_eq!(
        (n1, n2, m1),
        (1, 2, 1),
        "each session counts in its own process"
    );
    assert_eq!(pid_a, again);
    assert!(
        pid_a != pid_b && pid_a != main && pid_b != main,
        "{main} {pid_a} {pid_b}"
    );
    let mut procs = processes_of(&id);
    procs.sort_unstable();
    let mut want = vec![main, pid_a, pid_b];
    want.sort_unstable();
    assert_eq!(procs, want, "1 + one per session");
    assert_eq!(d.server(NAME).await["session_instances"], 2);

    // The instances' stderr is in the server's log, marked with their session.
    let tag = &a.session.as_deref().unwrap_or_default()[..8];
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let logs = d.logs(NAME).await;
        let spawned = logs.iter().any(|l| {
            l["source"] == "system"
                && l["message"].as_str().is_some_and(|m| {
                    m.contains(&format!("spawned pid {pid_a} for gateway session {tag}"))
                })
        });
        let stderr = logs.iter().any(|l| {
            l["source"] == "stderr"
                && l["message"].as_str().is_some_and(|m| {
                    m.starts_with(&format!(
                        "[session {tag}] mcp-fixture-py started pid={pid_a}"
                    ))
                })
        });
        if spawned && stderr {
            break;
        }
        assert!(Instant::now() < deadline, "log lines missing: {logs:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // DELETE of one session ends exactly its process, reaped.
    assert_eq!(b.delete().await, 200);
    wait_gone(pid_b, Duration::from_secs(10)).await;
    assert!(alive(pid_a) && alive(main));
    assert_eq!(count(&a, 3).await, (3, pid_a));
    d.wait_for(NAME, Duration::from_secs(5), "1 instance", |v| {
        v["session_instances"] == 1
    })
    .await;
    let logs = d.logs(NAME).await;
    assert!(
        logs.iter().any(|l| l["source"] == "system"
            && l["message"]
                .as_str()
                .is_some_and(|m| m.starts_with(&format!("per-session instance pid {pid_b} ")))),
        "exit line missing: {logs:?}"
    );

    // Its process exits mid-call: that call fails, later ones say why, and a new session
    // gets a new process.
    let crashed = a.tool(4, "crash", json!({})).await;
    assert!(crashed["error"].is_object(), "{crashed}");
    wait_gone(pid_a, Duration::from_secs(10)).await;
    let after = a.tool(5, "counter", json!({})).await;
    let msg = after["error"]["message"].as_str().unwrap_or_default();
    assert!(
        msg.contains("exited") && msg.contains("initialize"),
        "{after}"
    );
    let c = session(&d).await;
    let (n, pid_c) = count(&c, 1).await;
    assert_eq!(n, 1);
    assert!(pid_c != pid_a && alive(pid_c));
    assert!(alive(main), "the server's own run is untouched");

    // Stopping the server ends every instance with it.
    let (s, v) = d.action(NAME, "stop").await;
    assert_eq!(s, 202, "{v}");
    wait_no_processes(&id, Duration::from_secs(15)).await;
    let v = d
        .wait_status(NAME, "stopped", Duration::from_secs(10))
        .await;
    assert_eq!(v["session_instances"], 0, "{v}");
    let after = c.tool(2, "counter", json!({})).await;
    assert!(after["error"].is_object(), "{after}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn daemon_shutdown_ends_every_session_instance() {
    let (mut d, id) = daemon_with("per-session").await;
    let a = session(&d).await;
    let b = session(&d).await;
    let (_, pid_a) = count(&a, 1).await;
    let (_, pid_b) = count(&b, 1).await;
    assert_eq!(processes_of(&id).len(), 3);
    d.stop();
    // The daemon waits for them before it exits: nothing left, nothing orphaned.
    assert!(!alive(pid_a) && !alive(pid_b));
    assert_eq!(processes_of(&id), Vec::<i32>::new());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shared_server_keeps_one_process_for_two_sessions() {
    let (d, id) = daemon_with("shared").await;
    let a = session(&d).await;
    let b = session(&d).await;
    let (n1, pid_a) = count(&a, 1).await;
    let (n2, pid_b) = count(&b, 1).await;
    assert_eq!((n1, n2), (1, 2), "one process counts for both");
    assert_eq!(pid_a, pid_b);
    assert_eq!(processes_of(&id), vec![pid_a]);
    assert_eq!(d.server(NAME).await["session_instances"], 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn per_session_isolation_needs_a_stdio_server() {
    let d = Daemon::start();
    let refused = [
        json!({"name": "h", "command": "python3", "transport": "http", "port": 9,
               "isolation": "per-session"}),
        json!({"name": "r", "type": "remote", "url": "http://127.0.0.1:9/mcp",
               "isolation": "per-session"}),
    ];
    for body in refused {
        let (s, v) = d.post("/api/servers", body.clone()).await;
        assert_eq!(s, 422, "{body} → {v}");
        let msg = v["error"]["message"]
            .as_str()
            .or_else(|| v["message"].as_str())
            .unwrap_or_default()
            .to_string();
        assert!(msg.contains("per-session"), "{v}");
    }
    let (s, v) = d
        .post(
            "/api/servers",
            json!({"name": "h", "command": "python3", "transport": "http", "port": 9}),
        )
        .await;
    assert_eq!(s, 201, "{v}");
    let (s, v) = d
        .req(
            "PATCH",
            "/api/servers/h",
            Some(json!({"isolation": "per-session"})),
        )
        .await;
    assert_eq!(s, 422, "{v}");
    assert!(
        v.to_string()
            .contains("isolation per-session needs a stdio server"),
        "{v}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_instance_limit_refuses_one_session_more_and_frees_a_slot_when_one_ends() {
    let (d, id) = daemon_with("per-session").await;
    // 32 sessions, opened a few at a time as clients would.
    let mut open = Vec::new();
    for _ in 0..8 {
        let batch = futures::future::join_all((0..4).map(|_| session(&d))).await;
        open.extend(batch);
    }
    assert_eq!(d.server(NAME).await["session_instances"], 32);
    assert_eq!(
        processes_of(&id).len(),
        33,
        "32 instances and the server's own run"
    );

    // One more: refused at once with the limit named, and nothing spawned for it.
    let mut extra = Client::new(&d, NAME);
    let refused = extra.initialize().await;
    assert_eq!(refused.status, 503, "{:?}", refused.messages);
    let msg = refused.messages[0]["error"]["message"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(msg.contains("32") && msg.contains("limit"), "{msg}");
    assert!(extra.session.is_none());
    assert_eq!(processes_of(&id).len(), 33);

    // The sessions that are open still work.
    let (n, _) = count(&open[31], 1).await;
    assert_eq!(n, 1);

    // A session that ends gives its slot back: the next one gets a process.
    let (_, pid) = count(&open[0], 1).await;
    assert_eq!(open.remove(0).delete().await, 200);
    wait_gone(pid, Duration::from_secs(10)).await;
    let again = session(&d).await;
    assert_eq!(count(&again, 1).await.0, 1);
    assert_eq!(d.server(NAME).await["session_instances"], 32);
}
