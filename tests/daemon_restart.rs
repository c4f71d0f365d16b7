//! The daemon's own restarts: after `kill -9` nothing of the old run is left running
//! unmanaged, and desired states come back; a SIGTERM stops every child before exiting.

mod common;

use common::*;
use serde_json::json;
use std::time::Duration;

fn alive(pid: i32) -> bool {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    !stat.is_empty()
        && !stat
            .rsplit(')')
            .next()
            .is_some_and(|r| r.trim_start().starts_with('Z'))
}

#[tokio::test]
async fn after_kill_9_of_the_daemon_no_old_child_runs_and_desired_states_return() {
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path().join("data");
    let mut d = Daemon::start_in(&dir);
    let mut keep = py_server("keep", &["--fork-grandchild"]);
    keep["start"] = json!(true);
    let keep_id = d.create(keep).await["id"]
        .as_str()
        .unwrap_or("")
        .to_string();
    let mut halted = py_server("halted", &[]);
    halted["start"] = json!(true);
    let halted_id = d.create(halted).await["id"]
        .as_str()
        .unwrap_or("")
        .to_string();
    d.create(py_server("idle", &[])).await;
    d.wait_status("keep", "running", Duration::from_secs(20))
        .await;
    d.wait_status("halted", "running", Duration::from_secs(20))
        .await;
    d.action("halted", "stop").await;
    d.wait_status("halted", "stopped", Duration::from_secs(20))
        .await;
    let old = processes_of(&keep_id);
    assert_eq!(old.len(), 2, "fixture and grandchild: {old:?}");

    d.kill9();
    // The direct child dies with the daemon (parent-death signal); the grandchild would live
    // on unmanaged if the next start did not end it.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let survivors: Vec<i32> = old.iter().copied().filter(|p| alive(*p)).collect();
    assert!(
        !survivors.is_empty(),
        "the test needs a survivor to be meaningful"
    );

    let d2 = Daemon::start_in(&dir);
    for p in &old {
        assert!(
            !alive(*p),
            "old process {p} ({}) still running",
            cmdline(*p)
        );
    }
    let keep = d2
        .wait_status("keep", "running", Duration::from_secs(20))
        .await;
    assert!(!old.contains(&(keep["process_id"].as_i64().unwrap_or(0) as i32)));
    assert_eq!(processes_of(&keep_id).len(), 2, "exactly one new tree");
    assert_eq!(d2.server("halted").await["status"], "stopped");
    assert!(processes_of(&halted_id).is_empty());
    assert_eq!(d2.server("idle").await["status"], "stopped");
    let logs = d2.logs("keep").await;
    assert!(
        logs.iter()
            .any(|l| l["message"] == "daemon started: restoring desired state running")
    );
}

#[tokio::test]
async fn sigterm_stops_every_child_before_the_daemon_exits() {
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path().join("data");
    let mut d = Daemon::start_in(&dir);
    let mut ids = vec![];
    for i in 0..5 {
        let extra: &[&str] = if i % 2 == 0 {
            &["--fork-grandchild"]
        } else {
            &["--ignore-sigterm"]
        };
        let mut def = py_server(&format!("s{i}"), extra);
        def["stop_grace_secs"] = json!(1);
        def["start"] = json!(true);
        ids.push(d.create(def).await["id"].as_str().unwrap_or("").to_string());
    }
    for i in 0..5 {
        d.wait_status(&format!("s{i}"), "running", Duration::from_secs(20))
            .await;
    }
    let daemon_pid = d.pid() as i32;
    d.stop();
    assert!(!alive(daemon_pid));
    for id in &ids {
        assert!(
            processes_of(id).is_empty(),
            "left behind: {:?}",
            processes_of(id)
        );
    }
    // The desired state survived the shutdown.
    let d2 = Daemon::start_in(&dir);
    for i in 0..5 {
        d2.wait_status(&format!("s{i}"), "running", Duration::from_secs(20))
            .await;
    }
}
