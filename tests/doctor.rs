//! `mcp-manager doctor`, run as a user would: what is missing is named with its fix, and any
//! failed check makes the exit code non-zero.

mod common;

use common::*;
use diesel::connection::SimpleConnection;
use serde_json::Value;
use std::path::Path;
use std::process::{Command, Output};

/// Runs `doctor` with `args`, no settings file, and `env` on top of this environment.
fn doctor(args: &[&str], env: &[(&str, &str)]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_mcp-manager"))
        .arg("doctor")
        .args(args)
        .env("MCP_MANAGER_SETTINGS", "")
        .envs(env.iter().copied())
        .output()
        .expect("run doctor")
}

fn text(out: &Output) -> String {
    format!(
        "exit {:?}\n--- stdout\n{}--- stderr\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// The report line of check `name` (`FAIL  npx   not found on PATH`) and its fix line.
fn line<'a>(stdout: &'a str, name: &str) -> (&'a str, Option<&'a str>) {
    let lines: Vec<&str> = stdout.lines().collect();
    let i = lines
        .iter()
        .position(|l| l.split_whitespace().nth(1) == Some(name))
        .unwrap_or_else(|| panic!("no {name} line in:\n{stdout}"));
    let fix = lines
        .get(i + 1)
        .map(|l| l.trim_start())
        .filter(|l| l.starts_with("fix: "));
    (lines[i], fix)
}

fn json_check<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["checks"]
        .as_array()
        .and_then(|cs| cs.iter().find(|c| c["name"] == name))
        .unwrap_or_else(|| panic!("no {name} check in {report}"))
}

/// A PATH holding only python3 (a link to the interpreter itself, not to a shim that needs
/// more of PATH), so npx, node and uv are missing.
fn path_with_only_python(dir: &Path) -> String {
    let out = Command::new("python3")
        .args(["-c", "import sys; print(sys.executable)"])
        .output()
        .expect("python3 on PATH");
    let python = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert!(out.status.success() && !python.is_empty(), "{out:?}");
    std::os::unix::fs::symlink(&python, dir.join("python3")).expect("symlink");
    dir.display().to_string()
}

#[test]
fn a_missing_npx_and_an_unreachable_docker_engine_are_named_with_their_fixes() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let bin = tmp.path().join("bin");
    std::fs::create_dir(&bin).expect("mkdir");
    let path = path_with_only_python(&bin);
    let data = tmp.path().join("data");
    let out = doctor(
        &[
            "--bind",
            "127.0.0.1:0",
            "--data-dir",
            &data.display().to_string(),
        ],
        &[("PATH", &path), ("DOCKER_HOST", "unix:///nonexistent.sock")],
    );
    let all = text(&out);
    assert_eq!(out.status.code(), Some(1), "{all}");
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();

    let (npx, fix) = line(&stdout, "npx");
    assert!(
        npx.starts_with("FAIL") && npx.contains("not found on PATH"),
        "{all}"
    );
    assert!(fix.is_some_and(|f| f.contains("install npm")), "{all}");

    let (docker, fix) = line(&stdout, "docker");
    assert!(docker.starts_with("FAIL"), "{all}");
    assert!(docker.contains("unix:///nonexistent.sock"), "{all}");
    assert!(
        fix.is_some_and(|f| f.contains("DOCKER_HOST") && f.contains("start the engine")),
        "{all}"
    );

    let (python, fix) = line(&stdout, "python3");
    assert!(
        python.starts_with("OK") && python.contains("Python 3"),
        "{all}"
    );
    assert!(fix.is_none(), "{all}");
    let (uv, fix) = line(&stdout, "uv");
    assert!(uv.starts_with("WARN"), "{all}");
    assert!(fix.is_some_and(|f| f.contains("pip install uv")), "{all}");
    let (dir, _) = line(&stdout, "data-dir");
    assert!(
        dir.starts_with("OK") && dir.contains("does not exist yet"),
        "{all}"
    );
    assert!(!data.exists(), "doctor creates nothing");
}

#[test]
fn a_writable_data_dir_and_a_free_port_are_ok() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let data = tmp.path().display().to_string();
    let out = doctor(
        &["--json", "--bind", "127.0.0.1:0", "--data-dir", &data],
        &[],
    );
    let report: Value =
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(&out)));
    assert_eq!(report["settings"]["data_dir"], data.as_str(), "{report}");
    assert_eq!(report["settings"]["settings_file"], Value::Null);
    let dir = json_check(&report, "data-dir");
    assert_eq!(dir["status"], "ok", "{report}");
    assert!(
        dir["detail"]
            .as_str()
            .is_some_and(|d| d.contains("exists and is writable"))
    );
    assert_eq!(json_check(&report, "port")["status"], "ok", "{report}");
    assert_eq!(json_check(&report, "store")["status"], "ok", "{report}");
    assert_eq!(json_check(&report, "settings")["status"], "ok", "{report}");
    assert_eq!(
        json_check(&report, "disk")["status"]
            .as_str()
            .map(|s| s != "fail"),
        Some(true)
    );
    // The exit code follows the report: 1 exactly when some check failed.
    let failed = report["checks"]
        .as_array()
        .is_some_and(|cs| cs.iter().any(|c| c["status"] == "fail"));
    assert_eq!(out.status.code(), Some(i32::from(failed)), "{report}");
}

#[test]
fn a_running_daemon_on_the_port_is_recognised_and_its_store_is_current() {
    let d = Daemon::start();
    let bind = format!("127.0.0.1:{}", d.port);
    let data = d.dir.display().to_string();
    let out = doctor(&["--bind", &bind, "--data-dir", &data], &[]);
    let all = text(&out);
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    let (port, fix) = line(&stdout, "port");
    assert!(
        port.starts_with("OK") && port.contains("a daemon is already running there"),
        "{all}"
    );
    assert!(fix.is_none(), "{all}");
    let (store, _) = line(&stdout, "store");
    assert!(
        store.starts_with("OK") && store.contains("up to date"),
        "{all}"
    );

    // A port held by something else is a FAIL.
    let other = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let bind = other.local_addr().expect("addr").to_string();
    std::thread::spawn(move || {
        for conn in other.incoming() {
            drop(conn);
        }
    });
    let out = doctor(&["--bind", &bind, "--data-dir", &data], &[]);
    let all = text(&out);
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    let (port, fix) = line(&stdout, "port");
    assert!(
        port.starts_with("FAIL") && port.contains("in use by another program"),
        "{all}"
    );
    assert!(fix.is_some_and(|f| f.contains("--bind")), "{all}");
    assert_eq!(out.status.code(), Some(1), "{all}");
}

#[test]
fn a_store_from_a_newer_build_fails_with_the_message_serve_gives() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let db = tmp.path().join("mcp-manager.db");
    {
        let mut conn = mcp_manager::db::open_connection(&db).expect("open");
        mcp_manager::db::migrate(&mut conn).expect("migrate");
        conn.batch_execute(
            "INSERT INTO __diesel_schema_migrations (version) VALUES ('29991231000000');
             PRAGMA wal_checkpoint(TRUNCATE);",
        )
        .expect("insert");
    }
    let before = std::fs::read(&db).expect("read");
    let data = tmp.path().display().to_string();
    let out = doctor(&["--bind", "127.0.0.1:0", "--data-dir", &data], &[]);
    let all = text(&out);
    assert_eq!(out.status.code(), Some(1), "{all}");
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    let (store, fix) = line(&stdout, "store");
    assert!(store.starts_with("FAIL"), "{all}");
    assert!(
        store.contains("the store was written by a newer mcp-manager (migration 29991231000000"),
        "{all}"
    );
    assert!(
        fix.is_some_and(|f| f.contains("newer mcp-manager")),
        "{all}"
    );
    assert_eq!(
        std::fs::read(&db).expect("read"),
        before,
        "the store is unchanged"
    );
}

/// The stored servers decide: a machine with Python alone is healthy for Python servers
/// (missing Node.js and Docker are warnings), and fails once a stored server needs what
/// is missing, naming that server; a stored command that does not resolve fails too.
#[tokio::test]
async fn the_stored_servers_decide_what_a_missing_tool_means() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let bin = tmp.path().join("bin");
    std::fs::create_dir(&bin).expect("mkdir");
    let path = path_with_only_python(&bin);
    let mut d = Daemon::start();
    d.create(serde_json::json!({"name": "py", "command": "python3", "args": ["-m", "srv"]}))
        .await;
    d.stop();
    let data = d.dir.display().to_string();
    let env = [
        ("PATH", path.as_str()),
        ("DOCKER_HOST", "unix:///nonexistent.sock"),
    ];
    let run = |env: &[(&str, &str)]| {
        let out = doctor(&["--bind", "127.0.0.1:0", "--data-dir", &data], env);
        (
            out.status.code(),
            text(&out),
            String::from_utf8_lossy(&out.stdout).to_string(),
        )
    };

    let (code, all, stdout) = run(&env);
    for tool in ["node", "npx"] {
        let (l, fix) = line(&stdout, tool);
        assert!(
            l.starts_with("WARN") && l.contains("not found on PATH; no stored server needs it"),
            "{all}"
        );
        assert!(fix.is_some_and(|f| f.contains("install")), "{all}");
    }
    let (docker, _) = line(&stdout, "docker");
    assert!(
        docker.starts_with("WARN") && docker.ends_with("no stored server needs it"),
        "{all}"
    );
    let (commands, _) = line(&stdout, "commands");
    assert!(
        commands.starts_with("OK") && commands.contains("the command of 1 stored server found"),
        "{all}"
    );
    assert_eq!(code, Some(0), "{all}");

    // Servers that need what this machine lacks.
    let mut d = Daemon::start_in(&d.dir);
    for def in [
        serde_json::json!({"name": "everything", "command": "npx", "args": ["-y", "@modelcontextprotocol/server-everything"]}),
        serde_json::json!({"name": "ct", "type": "container", "image": "mcp-manager-test/py-fixture:latest"}),
        serde_json::json!({"name": "ghost", "command": "surely-not-a-command-xyz"}),
    ] {
        d.create(def).await;
    }
    d.stop();
    let (code, all, stdout) = run(&env);
    assert_eq!(code, Some(1), "{all}");
    for tool in ["node", "npx"] {
        let (l, _) = line(&stdout, tool);
        assert!(
            l.starts_with("FAIL") && l.ends_with("not found on PATH; needed by everything"),
            "{all}"
        );
    }
    let (docker, _) = line(&stdout, "docker");
    assert!(
        docker.starts_with("FAIL") && docker.ends_with("needed by ct"),
        "{all}"
    );
    let (commands, fix) = line(&stdout, "commands");
    assert!(commands.starts_with("FAIL"), "{all}");
    assert!(
        commands.contains("everything: command not found: npx")
            && commands.contains("ghost: command not found: surely-not-a-command-xyz")
            && !commands.contains("py:"),
        "{all}"
    );
    assert!(
        fix.is_some_and(|f| f.contains("correct the server's command")),
        "{all}"
    );
}
