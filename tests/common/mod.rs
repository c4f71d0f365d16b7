//! Test harness: a real daemon (the built binary) on 127.0.0.1:0 with its own temp data dir,
//! driven over HTTP like a user would, plus helpers to find the processes it runs.
#![allow(dead_code)]

pub mod mcp;

use serde_json::{Value, json};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn fixture_py() -> String {
    repo()
        .join("tests/fixtures/mcp_fixture.py")
        .display()
        .to_string()
}

pub fn fixture_node() -> String {
    repo()
        .join("tests/fixtures/mcp_fixture.mjs")
        .display()
        .to_string()
}

/// The dependencies `.ci/setup.sh` installs; tests that need them fail loudly without them.
pub fn deps() -> PathBuf {
    let d = repo().join(".deps");
    assert!(
        d.join("npm/node_modules/@modelcontextprotocol/server-everything")
            .exists()
            && d.join("venv/bin/python").exists(),
        "test dependencies missing: run `bash .ci/setup.sh` first"
    );
    d
}

pub struct Daemon {
    pub child: Option<Child>,
    pub url: String,
    pub port: u16,
    pub dir: PathBuf,
    _tmp: Option<tempfile::TempDir>,
    pub http: reqwest::Client,
}

impl Daemon {
    /// `mcp-manager ARGS...` against this daemon (plain output, `env` added, no token from
    /// the test's own environment): exit code, stdout, stderr.
    pub fn cli(&self, args: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
        let out = Command::new(env!("CARGO_BIN_EXE_mcp-manager"))
            .args(args)
            .env("MCP_MANAGER_URL", &self.url)
            .env_remove("MCP_MANAGER_TOKEN")
            .env("NO_COLOR", "1")
            .envs(env.iter().copied())
            .output()
            .expect("run cli");
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    pub fn start() -> Daemon {
        let tmp = tempfile::tempdir().expect("tempdir");
        let dir = tmp.path().to_path_buf();
        let mut d = Daemon::start_in(&dir);
        d._tmp = Some(tmp);
        d
    }

    /// Starts a daemon on an existing data dir (for restart tests).
    pub fn start_in(dir: &Path) -> Daemon {
        Daemon::start_with(dir, &[])
    }

    /// A daemon with extra environment variables, on its own temp data dir.
    pub fn start_env(env: &[(&str, &str)]) -> Daemon {
        let tmp = tempfile::tempdir().expect("tempdir");
        let dir = tmp.path().to_path_buf();
        let mut d = Daemon::start_with(&dir, env);
        d._tmp = Some(tmp);
        d
    }

    /// A daemon on an existing data dir with extra environment variables (restart tests
    /// that pass settings, such as `MCP_MANAGER_CONFIG`, the same way each time).
    pub fn start_with(dir: &Path, env: &[(&str, &str)]) -> Daemon {
        let mut child = Command::new(env!("CARGO_BIN_EXE_mcp-manager"))
            // A developer's own settings file must not change the daemon under test.
            .env("MCP_MANAGER_SETTINGS", "")
            .env("MCP_MANAGER_CONFIG", "")
            .envs(env.iter().copied())
            .args(["serve", "--bind", "127.0.0.1:0", "--data-dir"])
            .arg(dir)
            .env("MCP_MANAGER_LOG", "info,rmcp=warn,mcp_manager=debug")
            .stdout(Stdio::piped())
            .stderr(Stdio::from(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(dir.parent().unwrap_or(dir).join(format!(
                        "daemon-{}.log",
                        dir.file_name().and_then(|n| n.to_str()).unwrap_or("x")
                    )))
                    .expect("log file"),
            ))
            .spawn()
            .expect("spawn daemon");
        let stdout = child.stdout.take().expect("stdout");
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("read listening line");
        let url = line
            .trim()
            .strip_prefix("mcp-manager listening on ")
            .unwrap_or_else(|| panic!("unexpected first line: {line:?}"))
            .to_string();
        let port = url
            .rsplit(':')
            .next()
            .and_then(|p| p.parse().ok())
            .expect("port");
        Daemon {
            child: Some(child),
            url,
            port,
            dir: dir.to_path_buf(),
            _tmp: None,
            http: reqwest::Client::new(),
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().map(|c| c.id()).unwrap_or(0)
    }

    pub async fn req(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        let m = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let mut r = self.http.request(m, format!("{}{}", self.url, path));
        if let Some(b) = body {
            r = r.json(&b);
        }
        let resp = r.send().await.expect("request");
        let status = resp.status().as_u16();
        let text = resp.text().await.expect("body");
        let value = serde_json::from_str(&text).unwrap_or(Value::String(text));
        (status, value)
    }

    pub async fn get(&self, path: &str) -> (u16, Value) {
        self.req("GET", path, None).await
    }

    pub async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        self.req("POST", path, Some(body)).await
    }

    /// Creates a server and returns its JSON; panics unless 201.
    pub async fn create(&self, body: Value) -> Value {
        let (s, v) = self.post("/api/servers", body).await;
        assert_eq!(s, 201, "create failed: {v}");
        v["data"].clone()
    }

    pub async fn server(&self, name: &str) -> Value {
        let (s, v) = self.get(&format!("/api/servers/{name}")).await;
        assert_eq!(s, 200, "{v}");
        v["data"].clone()
    }

    /// Calls a tool of a running server through the API; the text of its first content
    /// item. Panics unless 200.
    pub async fn call_tool(&self, name: &str, tool: &str, args: Value) -> String {
        let (s, v) = self
            .post(
                &format!("/api/servers/{name}/tools/{tool}/call"),
                json!({"arguments": args}),
            )
            .await;
        assert_eq!(s, 200, "{v}");
        v["data"]["content"][0]["text"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    pub async fn action(&self, name: &str, action: &str) -> (u16, Value) {
        self.post(&format!("/api/servers/{name}/{action}"), json!({}))
            .await
    }

    /// Waits until `pred` holds for the server's JSON (polled every 20 ms).
    pub async fn wait_for(
        &self,
        name: &str,
        timeout: Duration,
        what: &str,
        pred: impl Fn(&Value) -> bool,
    ) -> Value {
        let deadline = Instant::now() + timeout;
        loop {
            let v = self.server(name).await;
            if pred(&v) {
                return v;
            }
            if Instant::now() > deadline {
                panic!("timed out waiting for {name} to be {what}; last: {v}");
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    pub async fn wait_status(&self, name: &str, status: &str, timeout: Duration) -> Value {
        self.wait_for(name, timeout, status, |v| v["status"] == status)
            .await
    }

    pub async fn logs(&self, name: &str) -> Vec<Value> {
        let (s, v) = self
            .get(&format!("/api/servers/{name}/logs?limit=5000"))
            .await;
        assert_eq!(s, 200, "{v}");
        v["data"].as_array().cloned().unwrap_or_default()
    }

    /// SIGTERM and wait (the daemon stops its servers first).
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(c.id() as i32),
                nix::sys::signal::Signal::SIGTERM,
            );
            let deadline = Instant::now() + Duration::from_secs(30);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = c.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = c.kill();
            let _ = c.wait();
            panic!("daemon did not stop within 30s of SIGTERM");
        }
    }

    /// kill -9, as a crash would.
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    pub fn log_text(&self) -> String {
        let name = self.dir.file_name().and_then(|n| n.to_str()).unwrap_or("x");
        std::fs::read_to_string(
            self.dir
                .parent()
                .unwrap_or(&self.dir)
                .join(format!("daemon-{name}.log")),
        )
        .unwrap_or_default()
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if self.child.is_some() {
            self.stop();
        }
    }
}

/// Pids of live processes whose environment says they belong to server `id`.
pub fn processes_of(server_id: &str) -> Vec<i32> {
    let needle = format!("MCP_MANAGER_SERVER_ID={server_id}");
    let mut pids = vec![];
    for entry in std::fs::read_dir("/proc").expect("/proc").flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<i32>().ok())
        else {
            continue;
        };
        // Zombies have no environ; they are not running.
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        if stat
            .rsplit(')')
            .next()
            .is_some_and(|rest| rest.trim_start().starts_with('Z'))
        {
            continue;
        }
        if let Ok(env) = std::fs::read(format!("/proc/{pid}/environ"))
            && env.split(|b| *b == 0).any(|v| v == needle.as_bytes())
        {
            pids.push(pid);
        }
    }
    pids
}

/// Waits until no process of the server is left; returns how long that took.
pub async fn wait_no_processes(server_id: &str, timeout: Duration) -> Duration {
    let started = Instant::now();
    loop {
        let left = processes_of(server_id);
        if left.is_empty() {
            return started.elapsed();
        }
        if started.elapsed() > timeout {
            panic!("processes still alive after {timeout:?}: {left:?}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

pub fn child_pids(pid: i32) -> Vec<i32> {
    std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children"))
        .unwrap_or_default()
        .split_whitespace()
        .filter_map(|p| p.parse().ok())
        .collect()
}

pub fn cmdline(pid: i32) -> String {
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .map(|b| String::from_utf8_lossy(&b).replace('\0', " "))
        .unwrap_or_default()
}

pub fn py_server(name: &str, extra: &[&str]) -> Value {
    let mut args = vec![fixture_py()];
    args.extend(extra.iter().map(|s| s.to_string()));
    json!({"name": name, "command": "python3", "args": args, "stop_grace_secs": 3})
}

/// Runs `script` with the Python of `.deps/venv` (the official MCP SDK is there) and `arg`
/// as its argument; returns its stdout, panicking with its output unless it succeeds.
pub async fn run_python(script: &str, arg: &str) -> String {
    let out = tokio::process::Command::new(deps().join("venv/bin/python"))
        .arg("-c")
        .arg(script)
        .arg(arg)
        .output()
        .await
        .expect("python");
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    println!("{stdout}");
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}
