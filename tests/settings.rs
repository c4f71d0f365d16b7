//! The settings file, with the real binary: `serve --settings FILE` listens where the file says
//! and keeps its store where the file says; flags and environment variables win over it; a
//! bad file stops `serve` with a message naming the file and the key.

use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_mcp-manager"))
}

/// Ends the daemon when the test ends, whatever happened.
struct Serve(Child);

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(self.0.id() as i32),
            nix::sys::signal::Signal::SIGTERM,
        );
        let _ = self.0.wait();
    }
}

fn write(path: &Path, text: &str) {
    std::fs::write(path, text).expect("write settings");
}

#[tokio::test]
async fn serve_listens_and_keeps_its_store_where_the_settings_file_says() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let data = tmp.path().join("from-file");
    let file = tmp.path().join("settings.toml");
    write(
        &file,
        &format!(
            "bind = \"127.0.0.1:0\"\ndata-dir = \"{}\"\nlog-max-mb = 10\n",
            data.display()
        ),
    );
    let mut child = bin()
        .args(["serve", "--settings"])
        .arg(&file)
        .env_remove("MCP_MANAGER_BIND")
        .env_remove("MCP_MANAGER_DATA_DIR")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let stdout = child.stdout.take().expect("stdout");
    let stderr = child.stderr.take().expect("stderr");
    let serve = Serve(child);
    let mut first = String::new();
    BufReader::new(stdout).read_line(&mut first).expect("read");
    let url = first
        .trim()
        .strip_prefix("mcp-manager listening on ")
        .unwrap_or_else(|| panic!("unexpected first line {first:?}"))
        .to_string();
    assert!(url.starts_with("http://127.0.0.1:"), "{url}");
    assert!(
        !url.ends_with(":7070") && !url.ends_with(":0"),
        "port 0 from the file: {url}"
    );
    let body: Value = reqwest::get(format!("{url}/healthz"))
        .await
        .expect("healthz")
        .json()
        .await
        .expect("json");
    assert_eq!(body["status"], "ok");
    assert!(
        data.join("mcp-manager.db").exists(),
        "the store is in the file's data dir"
    );
    drop(serve);
    let mut log = String::new();
    let _ = std::io::Read::read_to_string(&mut BufReader::new(stderr), &mut log);
    assert!(log.contains("settings file read"), "{log}");
}

#[test]
fn a_bad_settings_file_stops_serve_naming_the_file_and_the_key() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let file = tmp.path().join("settings.toml");
    for (text, wanted) in [
        (
            "bind = \"127.0.0.1:0\"\nport = 7070\n",
            "unknown key `port`",
        ),
        (
            "log-max-mb = \"lots\"\n",
            "`log-max-mb`: invalid value 'lots'",
        ),
    ] {
        write(&file, text);
        let out = bin()
            .args(["serve", "--settings"])
            .arg(&file)
            .arg("--data-dir")
            .arg(tmp.path().join("data"))
            .output()
            .expect("run");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{err}");
        assert!(err.contains(&file.display().to_string()), "{err}");
        assert!(err.contains(wanted), "{err}");
        assert!(!tmp.path().join("data").exists(), "nothing started");
    }
    // A file named explicitly must exist.
    let out = bin()
        .args(["serve", "--settings"])
        .arg(tmp.path().join("missing.toml"))
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot read settings file"));
}

fn doctor_json(args: &[&str], env: &[(&str, &str)]) -> (Output, Value) {
    let out = bin()
        .arg("doctor")
        .arg("--json")
        .args(args)
        .env_remove("MCP_MANAGER_BIND")
        .env_remove("MCP_MANAGER_DATA_DIR")
        .env_remove("MCP_MANAGER_SETTINGS")
        .envs(env.iter().copied())
        .output()
        .expect("run doctor");
    let report = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{e}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (out, report)
}

#[test]
fn a_flag_wins_over_the_environment_which_wins_over_the_file() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let file = tmp.path().join("settings.toml");
    write(
        &file,
        "bind = \"127.0.0.1:1111\"\ndata_dir = \"/from/file\"\n",
    );
    let f = file.display().to_string();

    let (_, r) = doctor_json(&["--settings", &f], &[]);
    assert_eq!(r["settings"]["settings_file"], f.as_str());
    assert_eq!(r["settings"]["bind"], "127.0.0.1:1111");
    assert_eq!(r["settings"]["data_dir"], "/from/file");

    let env = [("MCP_MANAGER_BIND", "127.0.0.1:2222")];
    let (_, r) = doctor_json(&["--settings", &f], &env);
    assert_eq!(r["settings"]["bind"], "127.0.0.1:2222");
    assert_eq!(r["settings"]["data_dir"], "/from/file");

    let (_, r) = doctor_json(&["--settings", &f, "--bind", "127.0.0.1:3333"], &env);
    assert_eq!(r["settings"]["bind"], "127.0.0.1:3333");

    // The file named by the environment variable, and no file at all.
    let (_, r) = doctor_json(&[], &[("MCP_MANAGER_SETTINGS", &f)]);
    assert_eq!(r["settings"]["bind"], "127.0.0.1:1111");
    let (_, r) = doctor_json(&["--settings", ""], &[("MCP_MANAGER_SETTINGS", &f)]);
    assert_eq!(r["settings"]["bind"], "127.0.0.1:7070");
    assert_eq!(r["settings"]["settings_file"], Value::Null);

    // The default place, under XDG_CONFIG_HOME.
    let config = tmp.path().join("config");
    std::fs::create_dir_all(config.join("mcp-manager")).expect("mkdir");
    std::fs::copy(&file, config.join("mcp-manager/settings.toml")).expect("copy");
    let (_, r) = doctor_json(&[], &[("XDG_CONFIG_HOME", &config.display().to_string())]);
    assert_eq!(r["settings"]["bind"], "127.0.0.1:1111");
}

#[test]
fn doctor_reports_a_bad_settings_file_as_a_failed_check() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let file = tmp.path().join("settings.toml");
    write(&file, "bind = \"127.0.0.1:0\"\nbogus = 1\n");
    let data = tmp.path().display().to_string();
    let (out, r) = doctor_json(
        &[
            "--settings",
            &file.display().to_string(),
            "--data-dir",
            &data,
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(1));
    let settings = &r["checks"][0];
    assert_eq!(settings["name"], "settings");
    assert_eq!(settings["status"], "fail");
    assert!(
        settings["detail"]
            .as_str()
            .is_some_and(|d| d.contains("unknown key `bogus`")),
        "{r}"
    );
}
