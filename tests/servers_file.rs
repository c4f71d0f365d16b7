//! The servers file (`serve --config FILE`, issue 8): its servers are created at start,
//! left alone when a restart finds them unchanged, updated when the file changes, and a bad
//! file stops `serve` with exit code 2 before the store is touched. SIGHUP applies an
//! edited file to the running daemon; a bad edit is reported and changes nothing.

mod common;

use common::*;
use serde_json::{Value, json};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn write_file(path: &Path, doc: &Value) {
    std::fs::write(path, serde_json::to_string_pretty(doc).expect("json")).expect("write");
}

/// A Claude Desktop-shaped file with a fixture server (plus our own fields and a secret
/// taken from the daemon's environment), one that is not to run, and a remote entry in VS
/// Code's shape.
fn servers(extra_arg: Option<&str>) -> Value {
    let mut args = vec![json!(fixture_py())];
    if let Some(a) = extra_arg {
        args.extend([json!("--startup-delay"), json!(a)]);
    }
    json!({
        "mcpServers": {
            "fx": {
                "command": "python3",
                "args": args,
                "secret_env": {"FX_TOKEN": "${SF_TEST_TOKEN}"},
                "stop_grace_secs": 3,
                "restart_policy": "always",
            },
            "idle": {"command": "python3", "args": [fixture_py()], "autostart": false},
            "far": {"type": "http", "url": "http://127.0.0.1:9/mcp", "disabled": true},
        },
        "globalShortcut": "Ctrl+Space",
    })
}

/// Whether the daemon's log has a line saying `message` about `server` (the log is
/// coloured: escapes are removed first).
fn logged(log: &str, message: &str, server: &str) -> bool {
    let mut plain = String::with_capacity(log.len());
    let mut in_escape = false;
    for c in log.chars() {
        match (in_escape, c) {
            (false, '\x1b') => in_escape = true,
            (false, c) => plain.push(c),
            (true, 'm') => in_escape = false,
            (true, _) => {}
        }
    }
    let field = format!("server={server} ");
    plain
        .lines()
        .any(|l| l.contains(message) && l.contains(&field))
}

/// A data dir and a servers file (`servers(None)`) in `tmp`; daemons started on them see
/// the file through `MCP_MANAGER_CONFIG` and its secret's variable.
struct Setup {
    dir: std::path::PathBuf,
    file: std::path::PathBuf,
}

impl Setup {
    fn new(tmp: &Path) -> Setup {
        let setup = Setup {
            dir: tmp.join("data"),
            file: tmp.join("servers.json"),
        };
        write_file(&setup.file, &servers(None));
        setup
    }

    fn start(&self) -> Daemon {
        let file = self.file.display().to_string();
        Daemon::start_with(
            &self.dir,
            &[
                ("MCP_MANAGER_CONFIG", file.as_str()),
                ("SF_TEST_TOKEN", "t0ken"),
            ],
        )
    }
}

fn assert_logged(log: &str, message: &str, server: &str) {
    assert!(
        logged(log, message, server),
        "no {message:?} for {server}:\n{log}"
    );
}

/// The fixture's arguments as it received them.
async fn argv(d: &Daemon) -> Value {
    serde_json::from_str(&d.call_tool("fx", "argv", json!({})).await).expect("argv json")
}

#[tokio::test]
async fn the_file_creates_its_servers_once_and_updates_them_when_it_changes() {
    let tmp = tempfile::tempdir().expect("tmp");
    let setup = Setup::new(tmp.path());
    let file = &setup.file;

    let mut d = setup.start();
    let fx = d
        .wait_status("fx", "running", Duration::from_secs(20))
        .await;
    assert_eq!(fx["type"], "python", "python3 → python, as the UI infers");
    assert_eq!(fx["desired_state"], "running", "a new entry starts");
    assert_eq!(fx["restart_policy"], "always");
    assert_eq!(fx["secret_env"], json!(["FX_TOKEN"]));
    assert_eq!(
        d.call_tool("fx", "env", json!({"name": "FX_TOKEN"})).await,
        "t0ken"
    );
    assert_eq!(argv(&d).await, json!([]));
    let far = d.server("far").await;
    assert_eq!(
        (&far["type"], &far["transport"]),
        (&json!("remote"), &json!("http"))
    );
    assert_eq!(far["url"], "http://127.0.0.1:9/mcp");
    assert_eq!(
        (&far["status"], &far["desired_state"]),
        (&json!("stopped"), &json!("stopped"))
    );
    let idle = d.server("idle").await;
    assert_eq!(
        (&idle["status"], &idle["desired_state"]),
        (&json!("stopped"), &json!("stopped"))
    );
    // A server made through the API is not the file's business.
    d.create(py_server("manual", &[])).await;
    let id = fx["id"].as_str().unwrap_or_default().to_string();
    assert_eq!(processes_of(&id).len(), 1);
    d.stop();

    // The same file again: nothing changes but the new run of the daemon.
    let mut d = setup.start();
    let again = d
        .wait_status("fx", "running", Duration::from_secs(20))
        .await;
    assert_eq!(again["id"], fx["id"]);
    // `updated_at` also moves with every status change (the UI orders views by it), so
    // the entries that do not run show that an unchanged entry is not rewritten.
    for before in [&idle, &far] {
        let name = before["name"].as_str().unwrap_or_default();
        let now = d.server(name).await;
        assert_eq!(
            (&now["id"], &now["updated_at"]),
            (&before["id"], &before["updated_at"])
        );
    }
    assert_eq!(
        again["generation"].as_u64(),
        fx["generation"].as_u64().map(|g| g + 1),
        "started once, not started and restarted"
    );
    assert_eq!(processes_of(&id).len(), 1, "one process");
    assert_eq!(d.server("manual").await["status"], "stopped");
    let log = d.log_text();
    assert!(logged(&log, "servers file: unchanged", "fx"), "{log}");
    assert!(
        !logged(&log, "servers file: definition changed", "fx"),
        "{log}"
    );
    assert_logged(
        &log,
        "servers file: not in the file, left as it is",
        "manual",
    );
    d.stop();

    // A changed argument: the same server, redefined.
    write_file(file, &servers(Some("0.1")));
    let d = setup.start();
    let changed = d
        .wait_status("fx", "running", Duration::from_secs(20))
        .await;
    assert_eq!(changed["id"], fx["id"]);
    assert_eq!(changed["created_at"], fx["created_at"]);
    assert_eq!(argv(&d).await, json!(["--startup-delay", "0.1"]));
    assert!(
        logged(
            &d.log_text(),
            "servers file: definition changed, updated",
            "fx"
        ),
        "{}",
        d.log_text()
    );
    for before in [&idle, &far] {
        let name = before["name"].as_str().unwrap_or_default();
        assert_eq!(d.server(name).await["updated_at"], before["updated_at"]);
    }
    assert_eq!(processes_of(&id).len(), 1);
}

fn hangup(d: &Daemon) {
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(d.pid() as i32),
        nix::sys::signal::Signal::SIGHUP,
    )
    .expect("SIGHUP");
}

/// Waits until the daemon's log satisfies `pred` (`what` names it in the failure).
async fn wait_log(d: &Daemon, what: &str, pred: impl Fn(&str) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !pred(&d.log_text()) {
        assert!(
            Instant::now() < deadline,
            "no {what} in the log:\n{}",
            d.log_text()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn sighup_applies_the_edited_file_to_the_running_daemon_and_a_bad_edit_changes_nothing() {
    let tmp = tempfile::tempdir().expect("tmp");
    let setup = Setup::new(tmp.path());
    let file = &setup.file;
    let d = setup.start();
    let fx = d
        .wait_status("fx", "running", Duration::from_secs(20))
        .await;
    let id = fx["id"].as_str().unwrap_or_default().to_string();
    let old_pid = fx["process_id"].as_i64();
    let far = d.server("far").await;
    d.create(py_server("manual", &[])).await;

    // fx gets an argument (so it runs again, with it), idle is now to run, extra is new
    // and not to run, far is as it was.
    let mut edited = servers(Some("0.1"));
    edited["mcpServers"]["idle"]["autostart"] = json!(true);
    edited["mcpServers"]["extra"] =
        json!({"command": "python3", "args": [fixture_py()], "autostart": false});
    write_file(file, &edited);
    hangup(&d);

    let gen0 = fx["generation"].as_u64().unwrap_or(0);
    let again = d
        .wait_for("fx", Duration::from_secs(20), "restarted", |v| {
            v["status"] == "running" && v["generation"].as_u64() == Some(gen0 + 1)
        })
        .await;
    assert_eq!(
        (&again["id"], &again["created_at"]),
        (&fx["id"], &fx["created_at"])
    );
    assert_ne!(again["process_id"].as_i64(), old_pid, "a new process");
    assert_eq!(argv(&d).await, json!(["--startup-delay", "0.1"]));
    assert_eq!(processes_of(&id).len(), 1, "the old process is gone");
    d.wait_status("idle", "running", Duration::from_secs(20))
        .await;
    wait_log(&d, "created extra", |l| {
        logged(l, "servers file: created", "extra")
    })
    .await;
    let extra = d.server("extra").await;
    assert_eq!(
        (&extra["status"], &extra["desired_state"]),
        (&json!("stopped"), &json!("stopped"))
    );
    assert_eq!(d.server("far").await["updated_at"], far["updated_at"]);
    assert_eq!(d.server("manual").await["status"], "stopped");
    let log = d.log_text();
    assert!(
        logged(&log, "servers file: definition changed, updated", "fx"),
        "{log}"
    );
    assert_logged(
        &log,
        "servers file: not in the file, left as it is",
        "manual",
    );
    assert!(
        !logged(&log, "servers file: definition changed", "far"),
        "{log}"
    );

    // A bad edit (a typo in one entry, a new entry beside it): reported, nothing applied,
    // the daemon goes on.
    let mut bad = edited.clone();
    bad["mcpServers"]["fx"]["restart"] = json!("always");
    bad["mcpServers"]["late"] = json!({"command": "python3", "args": [fixture_py()]});
    write_file(file, &bad);
    let before = d.server("fx").await;
    hangup(&d);
    wait_log(&d, "error", |l| l.contains("nothing applied")).await;
    assert!(
        d.log_text().contains("unknown field `restart`"),
        "{}",
        d.log_text()
    );
    let (status, _) = d.get("/api/servers/late").await;
    assert_eq!(status, 404, "no entry of a bad file is applied");
    let after = d.server("fx").await;
    assert_eq!(
        (&after["status"], &after["generation"], &after["updated_at"]),
        (
            &json!("running"),
            &before["generation"],
            &before["updated_at"]
        )
    );
}

#[tokio::test]
async fn reload_through_the_api_and_the_cli_says_what_it_did_to_each_server() {
    let tmp = tempfile::tempdir().expect("tmp");
    let setup = Setup::new(tmp.path());
    let d = setup.start();
    d.wait_status("fx", "running", Duration::from_secs(20))
        .await;
    d.create(py_server("manual", &[])).await;
    let mut edited = servers(None);
    edited["mcpServers"]["extra"] =
        json!({"command": "python3", "args": [fixture_py()], "autostart": false});
    write_file(&setup.file, &edited);

    let (status, v) = d.post("/api/system/reload", json!({})).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["data"]["file"], setup.file.display().to_string());
    let outcomes: std::collections::BTreeMap<String, String> = v["data"]["servers"]
        .as_array()
        .expect("servers")
        .iter()
        .map(|s| {
            (
                s["name"].as_str().unwrap_or("").into(),
                s["outcome"].as_str().unwrap_or("").into(),
            )
        })
        .collect();
    let expected: std::collections::BTreeMap<String, String> = [
        ("extra", "created"),
        ("far", "unchanged"),
        ("fx", "unchanged"),
        ("idle", "unchanged"),
        ("manual", "not_in_file"),
    ]
    .into_iter()
    .map(|(a, b)| (a.into(), b.into()))
    .collect();
    assert_eq!(outcomes, expected, "{v}");
    assert_eq!(d.server("extra").await["status"], "stopped");

    // A changed argument through the CLI: the line says so, and fx runs with it.
    edited["mcpServers"]["fx"]["args"] = json!([fixture_py(), "--startup-delay", "0.1"]);
    write_file(&setup.file, &edited);
    let (code, out, err) = d.cli(&["server", "reload"], &[]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("applied"), "{out}");
    assert!(
        out.lines()
            .any(|l| l.split_whitespace().collect::<Vec<_>>() == ["fx", "updated"]),
        "{out}"
    );
    d.wait_for("fx", Duration::from_secs(20), "running again", |v| {
        v["status"] == "running"
    })
    .await;
    assert_eq!(argv(&d).await, json!(["--startup-delay", "0.1"]));

    // A bad file: 422 naming the problem, the CLI fails with it, nothing applied.
    edited["mcpServers"]["fx"]["restart"] = json!("always");
    write_file(&setup.file, &edited);
    let (status, v) = d.post("/api/system/reload", json!({})).await;
    assert_eq!(status, 422, "{v}");
    assert!(v.to_string().contains("unknown field `restart`"), "{v}");
    let (code, out, err) = d.cli(&["server", "reload"], &[]);
    assert_ne!(code, 0, "{out}");
    assert!(err.contains("nothing applied"), "{err}");
}

#[tokio::test]
async fn without_a_servers_file_sighup_is_logged_and_the_daemon_goes_on() {
    let tmp = tempfile::tempdir().expect("tmp");
    let d = Daemon::start_in(&tmp.path().join("data"));
    d.create(py_server("kept", &[])).await;
    hangup(&d);
    wait_log(&d, "SIGHUP line", |l| {
        l.contains("SIGHUP: no servers file to read again")
    })
    .await;
    assert_eq!(d.server("kept").await["name"], "kept");
    let (status, v) = d.post("/api/system/reload", json!({})).await;
    assert_eq!(status, 409, "{v}");
    assert!(v.to_string().contains("without a servers file"), "{v}");
}

/// Runs `serve` on `dir` with `args`; returns its exit code and stderr. A daemon that
/// starts anyway (the bug this guards against) is killed after 20 s.
fn serve_fails(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> (Option<i32>, String, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_mcp-manager"))
        .args(["serve", "--bind", "127.0.0.1:0", "--data-dir"])
        .arg(dir)
        .args(args)
        .env("MCP_MANAGER_SETTINGS", "")
        .env_remove("SF_UNSET")
        .envs(env.iter().copied())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn serve");
    let deadline = Instant::now() + Duration::from_secs(20);
    while child.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    if child.try_wait().ok().flatten().is_none() {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(child.id() as i32),
            nix::sys::signal::Signal::SIGTERM,
        );
    }
    let out = child.wait_with_output().expect("wait");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).to_string(),
        String::from_utf8_lossy(&out.stderr).to_string(),
    )
}

#[tokio::test]
async fn a_bad_file_stops_serve_with_exit_code_2_and_leaves_the_store_alone() {
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path().join("data");
    let mut d = Daemon::start_in(&dir);
    d.create(py_server("kept", &[])).await;
    d.stop();
    let db = dir.join("mcp-manager.db");
    let before = std::fs::read(&db).expect("store");

    let good = json!({"command": "python3", "args": [fixture_py()]});
    let cases: Vec<(&str, String, &[&str])> = vec![
        ("missing.json", String::new(), &["cannot read servers file"]),
        ("bad.json", "{\"mcpServers\": {".into(), &["not valid JSON"]),
        (
            "unknown.json",
            json!({"mcpServers": {"ok": good, "typo": {"command": "x", "restart": "always"}}})
                .to_string(),
            &["server \"typo\"", "unknown field `restart`"],
        ),
        (
            "invalid.json",
            json!({"mcpServers": {"ok": good, "rel": {"command": "x", "cwd": "relative/dir"}}})
                .to_string(),
            &["server \"rel\"", "working_directory must be an absolute path"],
        ),
        (
            "unset.json",
            json!({"mcpServers": {"ok": good, "sec": {"command": "x", "secret_env": {"K": "${SF_UNSET}"}}}})
                .to_string(),
            &["server \"sec\"", "`secret_env`", "${SF_UNSET} is not set"],
        ),
    ];
    for (name, text, needles) in cases {
        let path = tmp.path().join(name);
        if !text.is_empty() {
            std::fs::write(&path, &text).expect("write");
        }
        let shown = path.display().to_string();
        let (code, stdout, stderr) = serve_fails(&dir, &["--config", &shown], &[]);
        assert_eq!(code, Some(2), "{name}: {stderr}");
        assert!(!stdout.contains("listening"), "{name} bound: {stdout}");
        assert!(
            stderr.contains(&shown),
            "{name}: the message names the file: {stderr}"
        );
        for n in needles {
            assert!(stderr.contains(n), "{name}: {n:?} not in {stderr}");
        }
        assert_eq!(
            std::fs::read(&db).expect("store"),
            before,
            "{name} changed the store"
        );
    }

    // The settings file's `config` key reaches the same check.
    let settings = tmp.path().join("settings.toml");
    std::fs::write(
        &settings,
        format!(
            "config = {:?}\n",
            tmp.path().join("unknown.json").display().to_string()
        ),
    )
    .expect("write");
    let settings = settings.display().to_string();
    let (code, _, stderr) = serve_fails(&dir, &[], &[("MCP_MANAGER_SETTINGS", &settings)]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("unknown field `restart`"), "{stderr}");
    assert_eq!(std::fs::read(&db).expect("store"), before);
}
