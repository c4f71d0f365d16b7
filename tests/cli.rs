//! The CLI against a real daemon: what a person types, what they read.

mod common;

use common::*;
use std::process::Command;
use std::time::Duration;

fn mm(d: &Daemon, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_mcp-manager"))
        .arg("server")
        .args(args)
        .env("MCP_MANAGER_URL", &d.url)
        .env("SECRET_FOR_CLI", "from-the-environment")
        .env("NO_COLOR", "1")
        .output()
        .expect("run cli");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
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

#[test]
fn an_unreachable_daemon_is_said_plainly() {
    let out = Command::new(env!("CARGO_BIN_EXE_mcp-manager"))
        .args(["server", "list", "--url", "http://127.0.0.1:9"])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot reach the daemon"));
}
