//! The CLI against a real daemon: what a person types, what they read.

mod common;

use common::*;
use serde_json::json;
use std::process::Command;
use std::time::Duration;

/// `mcp-manager server ARGS...` against the daemon.
fn mm(d: &Daemon, args: &[&str]) -> (i32, String, String) {
    cli(d, &[&["server"], args].concat())
}

/// `mcp-manager ARGS...` against the daemon: exit code, stdout, stderr.
fn cli(d: &Daemon, args: &[&str]) -> (i32, String, String) {
    d.cli(args, &[("SECRET_FOR_CLI", "from-the-environment")])
}

#[tokio::test]
async fn add_list_show_stop_rm_through_the_cli() {
    let d = Daemon::start();
    let (code, out, _) = mm(&d, &["list"]);
    assert_eq!(code, 0);
    assert!(out.contains("no servers yet"), "{out}");

    let fixture = fixture_py();
    let (code, out, err) = mm(
        &d,
        &[
            "add",
            "clitest",
            "--type",
            "python",
            "--env",
            "A=1",
            "--secret-env",
            "SECRET_FOR_CLI",
            "--start",
            "--",
            "python3",
            &fixture,
            "; touch /tmp/nope",
        ],
    );
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("clitest"), "{out}");
    let v = d
        .wait_status("clitest", "running", Duration::from_secs(20))
        .await;
    assert_eq!(v["args"][1], "; touch /tmp/nope");
    assert_eq!(v["secret_env"][0], "SECRET_FOR_CLI");

    let (code, out, _) = mm(&d, &["list"]);
    assert_eq!(code, 0);
    let row = out
        .lines()
        .find(|l| l.starts_with("clitest"))
        .unwrap_or_else(|| panic!("{out}"));
    assert!(row.contains("running") && row.contains("python"), "{row}");
    assert!(out.lines().next().unwrap_or("").contains("STATUS"), "{out}");

    let (code, out, _) = mm(&d, &["show", "clitest"]);
    assert_eq!(code, 0);
    assert!(out.contains("SECRET_FOR_CLI=<hidden>"), "{out}");
    assert!(!out.contains("from-the-environment"), "{out}");

    let (code, out, _) = mm(&d, &["--json", "show", "clitest"]);
    assert_eq!(code, 0);
    let json: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert_eq!(json["name"], "clitest");

    let (code, _, _) = mm(&d, &["stop", "clitest"]);
    assert_eq!(code, 0);
    d.wait_status("clitest", "stopped", Duration::from_secs(20))
        .await;
    let (code, _, err) = mm(&d, &["stop", "clitest"]);
    assert_eq!(code, 1);
    assert!(err.contains("already stopped"), "{err}");

    let (code, _, _) = mm(&d, &["rm", "clitest"]);
    assert_eq!(code, 0);
    let (code, _, err) = mm(&d, &["show", "clitest"]);
    assert_eq!(code, 1);
    assert!(err.contains("no server"), "{err}");
}

#[tokio::test]
async fn health_through_the_cli() {
    let d = Daemon::start();
    let mut server = py_server("hc", &[]);
    server["health"] = json!({"interval_secs": 0.2});
    server["start"] = json!(true);
    d.create(server).await;
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let (status, v) = d.get("/api/servers/hc/health").await;
        assert_eq!(status, 200, "{v}");
        if v["data"]["health"] == "healthy" {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "hc never became healthy: {v}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // A few more checks, about one per 0.2 s.
    tokio::time::sleep(Duration::from_secs(1)).await;

    let (code, out, err) = cli(&d, &["health", "hc"]);
    assert_eq!(code, 0, "{out}{err}");
    let first = out.lines().next().unwrap_or_default();
    assert!(
        first.starts_with("hc: healthy (running), checked every 0.2s, last check "),
        "{out}"
    );
    assert!(out.contains("\n  24h  uptime "), "{out}");
    let spark = out
        .lines()
        .find_map(|l| l.strip_prefix("  last hour  "))
        .unwrap_or_else(|| panic!("no sparkline in:\n{out}"));
    assert!(
        spark.chars().count() >= 3 && spark.chars().all(|c| "▁▂▃▄▅▆▇█x".contains(c)),
        "{spark:?} in:\n{out}"
    );
    assert!(!out.contains('\x1b'), "NO_COLOR is set: {out}");

    let (code, out, err) = cli(&d, &["health", "hc", "--json"]);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert_eq!(v["health"]["health"], "healthy", "{v}");
    assert!(
        v["summary"]["24h"]["total_checks"].as_u64() >= Some(3),
        "{v}"
    );
    assert!(v["history"].as_array().is_some_and(|h| h.len() >= 3), "{v}");

    let (code, out, err) = cli(&d, &["health", "nope"]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(err.contains("no server"), "{err}");
    assert!(out.is_empty(), "{out}");
}

#[test]
fn an_unreachable_daemon_is_said_plainly() {
    let out = Command::new(env!("CARGO_BIN_EXE_mcp-manager"))
        .args(["server", "list", "--url", "http://127.0.0.1:9"])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot reach the daemon"));
}

#[tokio::test]
async fn a_container_server_through_the_cli() {
    const IMAGE: &str = "mcp-manager-test/py-fixture:latest";
    let image_there = Command::new("docker")
        .args(["image", "inspect", IMAGE])
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        image_there,
        "the test image is missing: run `bash .ci/setup.sh` (it starts the engine and builds it)"
    );
    let d = Daemon::start();

    // Usage errors are caught before the daemon is asked.
    let (code, _, err) = mm(&d, &["add", "ct", "--image", IMAGE, "--", "x"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("only for container servers"), "{err}");

    let (code, out, err) = mm(
        &d,
        &[
            "add",
            "ct",
            "--type",
            "container",
            "--image",
            IMAGE,
            "--memory-mb",
            "64",
            "--start",
        ],
    );
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("added ct"), "{out}");
    let v = d
        .wait_status("ct", "running", Duration::from_secs(60))
        .await;
    assert_eq!(v["type"], "container");
    assert_eq!(v["image"], IMAGE);
    assert_eq!(v["memory_mb"], 64);
    assert_eq!(v["command"], serde_json::Value::Null);
    let cid = v["container_id"]
        .as_str()
        .expect("container id")
        .to_string();

    let (code, out, _) = mm(&d, &["list"]);
    assert_eq!(code, 0);
    let row = out
        .lines()
        .find(|l| l.starts_with("ct "))
        .unwrap_or_else(|| panic!("{out}"));
    let cells: Vec<&str> = row.split_whitespace().collect();
    assert_eq!(cells[..4], ["ct", "container", "running", "-"], "{row}");
    assert!(row.ends_with(IMAGE), "{row}");

    let (code, out, err) = mm(&d, &["show", "ct"]);
    assert_eq!(code, 0, "{err}");
    let line = |key: &str| {
        out.lines()
            .find(|l| l.starts_with(key))
            .unwrap_or_else(|| panic!("no {key} in:\n{out}"))
            .to_string()
    };
    assert!(line("image:").ends_with(&format!(" {IMAGE}")), "{out}");
    assert!(line("memory limit:").ends_with(" 64 MiB"), "{out}");
    assert!(out.contains(&cid[..12]) && !out.contains(&cid), "{out}");

    let (code, out, err) = mm(&d, &["rm", "ct"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("removed ct"), "{out}");
    let (code, _, err) = mm(&d, &["show", "ct"]);
    assert_eq!(code, 1);
    assert!(err.contains("no server"), "{err}");
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while docker_has(&cid) {
        assert!(
            std::time::Instant::now() < deadline,
            "container {cid} still there after rm"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn docker_has(container: &str) -> bool {
    Command::new("docker")
        .args(["container", "inspect", container])
        .output()
        .is_ok_and(|o| o.status.success())
}
