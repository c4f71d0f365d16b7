//! `mcp-manager logs NAME` against a real daemon: tails, filters, search, export, following
//! live lines, and the errors a person sees.

mod common;

use common::*;
use serde_json::{Value, json};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// What the fixture writes to stderr at start, one line each (levels as detected).
const EMITTED: &str = "INFO alpha one\n\
                       WARN disk almost full\n\
                       ERROR gamma exploded\n\
                       the needle42 is here\n\
                       debug: chatty details\n";

/// `mcp-manager ARGS...` against the daemon: exit code, stdout, stderr.
fn cli(d: &Daemon, args: &[&str]) -> (i32, String, String) {
    d.cli(args, &[])
}

/// A running fixture server that wrote [`EMITTED`] and `stderr line 1..=lines` at start;
/// returns its id once the MCP handshake is logged.
async fn server(d: &Daemon, name: &str, lines: usize) -> String {
    let file = d.dir.join(format!("{name}-emit.txt"));
    std::fs::write(&file, EMITTED).expect("write emit file");
    let lines = lines.to_string();
    let mut def = py_server(
        name,
        &[
            "--emit-file",
            &file.display().to_string(),
            "--stderr-lines",
            &lines,
        ],
    );
    def["start"] = json!(true);
    let id = d.create(def).await["id"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    d.wait_status(name, "running", Duration::from_secs(20))
        .await;
    wait_for_line(d, name, "handshake").await;
    id
}

/// Waits until a stored line of the server contains `text`.
async fn wait_for_line(d: &Daemon, name: &str, text: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !d
        .logs(name)
        .await
        .iter()
        .any(|l| l["message"].as_str().unwrap_or("").contains(text))
    {
        assert!(Instant::now() < deadline, "no line with {text:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// One printed line, `TIME LEVEL SOURCE MESSAGE` with `--utc`, taken apart.
struct Printed {
    level: String,
    source: String,
    message: String,
}

fn parse_line(line: &str) -> Printed {
    let mut parts = line.splitn(4, ' ').filter(|p| !p.is_empty());
    let time = parts.next().unwrap_or_default();
    assert!(
        chrono::DateTime::parse_from_rfc3339(time).is_ok(),
        "not an RFC 3339 time at the start of {line:?}"
    );
    // The level is padded to 5 and the source to 6 characters.
    let rest = line[time.len() + 1..].to_string();
    let level = rest[..5].trim_end().to_string();
    let source = rest[6..12].trim_end().to_string();
    let message = rest[13..].to_string();
    assert!(
        ["DEBUG", "INFO", "WARN", "ERROR"].contains(&level.as_str()),
        "level {level:?} in {line:?}"
    );
    assert!(
        ["stdout", "stderr", "system", "mcp"].contains(&source.as_str()),
        "source {source:?} in {line:?}"
    );
    Printed {
        level,
        source,
        message,
    }
}

fn printed(out: &str) -> Vec<Printed> {
    out.lines().map(parse_line).collect()
}

/// Calls the fixture's `log` tool: an MCP log message at `level`.
async fn log_tool(d: &Daemon, name: &str, level: &str, message: &str) {
    let (s, v) = d
        .post(
            &format!("/api/servers/{name}/tools/log/call"),
            json!({"arguments": {"level": level, "message": message}}),
        )
        .await;
    assert_eq!(s, 200, "{v}");
}

/// A `logs -f` child whose stdout lines arrive on a channel.
struct Follower {
    child: Child,
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl Follower {
    fn start(d: &Daemon, args: &[&str]) -> Follower {
        let mut child = Command::new(env!("CARGO_BIN_EXE_mcp-manager"))
            .arg("logs")
            .args(args)
            .env("MCP_MANAGER_URL", &d.url)
            .env_remove("MCP_MANAGER_TOKEN")
            .env("NO_COLOR", "1")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn logs -f");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Follower {
            child,
            lines,
            seen: Vec::new(),
        }
    }

    /// Reads lines until one contains `text`; panics after `timeout`.
    fn wait_for(&mut self, text: &str, timeout: Duration) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(line) = self.seen.iter().find(|l| l.contains(text)) {
                return line.clone();
            }
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => self.seen.push(line),
                Err(_) => panic!(
                    "no line with {text:?} within {timeout:?}; got {:?}",
                    self.seen
                ),
            }
        }
    }

    /// Collects what arrives within `wait`.
    fn drain(&mut self, wait: Duration) {
        let deadline = Instant::now() + wait;
        while let Ok(line) = self
            .lines
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
        {
            self.seen.push(line);
        }
    }

    fn count(&self, text: &str) -> usize {
        self.seen.iter().filter(|l| l.contains(text)).count()
    }

    /// Waits for the child to exit on its own; its exit code and stderr.
    fn wait_exit(&mut self, timeout: Duration) -> (i32, String) {
        let deadline = Instant::now() + timeout;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                let mut err = String::new();
                if let Some(mut stderr) = self.child.stderr.take() {
                    let _ = std::io::Read::read_to_string(&mut stderr, &mut err);
                }
                return (status.code().unwrap_or(-1), err);
            }
            assert!(Instant::now() < deadline, "logs -f did not exit");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Follower {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test]
async fn tail_shows_the_newest_lines_oldest_first() {
    let d = Daemon::start();
    server(&d, "tail", 30).await;

    // New lines may still come (health checks): compare with the API until both agree.
    let mut attempts = 0;
    let (out, api) = loop {
        let (code, out, err) = cli(&d, &["logs", "tail", "-n", "7", "--utc"]);
        assert_eq!(code, 0, "{err}");
        let (s, v) = d.get("/api/servers/tail/logs?limit=7").await;
        assert_eq!(s, 200, "{v}");
        let api: Vec<String> = v["data"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .iter()
            .map(|l| l["message"].as_str().unwrap_or_default().to_string())
            .collect();
        let got: Vec<String> = printed(&out).into_iter().map(|p| p.message).collect();
        attempts += 1;
        if got == api || attempts == 5 {
            break (got, api);
        }
    };
    assert_eq!(out.len(), 7, "{out:?}");
    assert_eq!(out, api);

    // The default is 100 lines; there are fewer here, so all of them, from the first.
    let (code, out, _) = cli(&d, &["logs", "tail", "--utc"]);
    assert_eq!(code, 0);
    let lines = printed(&out);
    assert!(lines.len() > 30 && lines.len() <= 100, "{out}");
    assert!(lines[0].message.starts_with("spawned"), "{out}");
    // Lines of different pipes interleave as they arrive; stderr's own are in order.
    let stderr: Vec<_> = lines.iter().filter(|p| p.source == "stderr").collect();
    let first = stderr
        .iter()
        .position(|p| p.message == "stderr line 1")
        .expect("stderr line 1");
    assert_eq!(stderr[first + 29].message, "stderr line 30", "{out}");

    // --json: one API object per line.
    let (code, out, _) = cli(&d, &["logs", "tail", "-n", "3", "--json"]);
    assert_eq!(code, 0);
    let objects: Vec<Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).expect("NDJSON"))
        .collect();
    assert_eq!(objects.len(), 3);
    assert!(
        objects
            .windows(2)
            .all(|w| w[0]["id"].as_i64() < w[1]["id"].as_i64())
    );
    assert!(
        objects
            .iter()
            .all(|o| o["level"].is_string() && o["timestamp"].is_string())
    );
}

#[tokio::test]
async fn level_source_and_grep_filter_the_lines() {
    let d = Daemon::start();
    server(&d, "filtered", 3).await;

    let (code, out, err) = cli(&d, &["logs", "filtered", "--level", "warn", "--utc"]);
    assert_eq!(code, 0, "{err}");
    let lines = printed(&out);
    assert!(
        lines
            .iter()
            .all(|p| p.level == "WARN" || p.level == "ERROR"),
        "{out}"
    );
    let messages: Vec<&str> = lines.iter().map(|p| p.message.as_str()).collect();
    assert!(messages.contains(&"WARN disk almost full"), "{out}");
    assert!(messages.contains(&"ERROR gamma exploded"), "{out}");
    assert!(
        !out.contains("alpha one") && !out.contains("chatty"),
        "{out}"
    );

    let (code, out, _) = cli(&d, &["logs", "filtered", "--level", "error", "--utc"]);
    assert_eq!(code, 0);
    assert!(printed(&out).iter().all(|p| p.level == "ERROR"), "{out}");
    assert!(!out.contains("disk almost full"), "{out}");

    // Full-text search: a word, any case; a prefix; a phrase.
    for grep in ["needle42", "NEEDLE42", "needl*", "\"needle42 is here\""] {
        let (code, out, err) = cli(&d, &["logs", "filtered", "--grep", grep, "--utc"]);
        assert_eq!(code, 0, "{err}");
        let lines = printed(&out);
        assert_eq!(lines.len(), 1, "--grep {grep}: {out}");
        assert_eq!(lines[0].message, "the needle42 is here");
    }
    let (code, out, _) = cli(&d, &["logs", "filtered", "--grep", "no-such-word-here"]);
    assert_eq!(code, 0);
    assert_eq!(out, "");

    // Sources, and filters together with a time window.
    let (code, out, _) = cli(
        &d,
        &[
            "logs", "filtered", "--source", "system", "--since", "1h", "--utc",
        ],
    );
    assert_eq!(code, 0);
    let lines = printed(&out);
    assert!(!lines.is_empty(), "{out}");
    assert!(lines.iter().all(|p| p.source == "system"), "{out}");
    let (code, out, _) = cli(
        &d,
        &[
            "logs",
            "filtered",
            "--grep",
            "stderr line",
            "--since",
            "1h",
            "-n",
            "2",
            "--utc",
        ],
    );
    assert_eq!(code, 0);
    let messages: Vec<String> = printed(&out).into_iter().map(|p| p.message).collect();
    assert_eq!(messages, ["stderr line 2", "stderr line 3"]);
    let (code, out, _) = cli(&d, &["logs", "filtered", "--until", "2000-01-01"]);
    assert_eq!(code, 0);
    assert_eq!(out, "");

    // A bad value is a usage error.
    let (code, _, err) = cli(&d, &["logs", "filtered", "--level", "loud"]);
    assert_eq!(code, 2, "{err}");
    let (code, _, err) = cli(&d, &["logs", "filtered", "--since", "last tuesday"]);
    assert_eq!(code, 2, "{err}");
}

#[tokio::test]
async fn export_writes_csv_with_every_matching_line() {
    let d = Daemon::start();
    server(&d, "exported", 5).await;

    let (code, out, err) = cli(&d, &["logs", "exported", "--export", "csv"]);
    assert_eq!(code, 0, "{err}");
    let mut reader = csv::Reader::from_reader(out.as_bytes());
    let header: Vec<String> = reader
        .headers()
        .expect("header")
        .iter()
        .map(str::to_string)
        .collect();
    assert_eq!(
        header,
        [
            "id",
            "timestamp",
            "level",
            "original_level",
            "source",
            "message",
            "truncated"
        ]
    );
    let rows: Vec<csv::StringRecord> = reader.records().map(|r| r.expect("row")).collect();
    let messages: Vec<&str> = rows.iter().map(|r| &r[5]).collect();
    for line in EMITTED.lines() {
        assert!(messages.contains(&line), "{line:?} not in {messages:?}");
    }
    assert!(messages.contains(&"stderr line 5"), "{messages:?}");
    let warn = rows
        .iter()
        .find(|r| &r[5] == "WARN disk almost full")
        .expect("warn row");
    assert_eq!(&warn[2], "warn");
    assert_eq!(&warn[4], "stderr");

    // Filtered, into a file.
    let file = d.dir.join("export.csv");
    let (code, out, err) = cli(
        &d,
        &[
            "logs",
            "exported",
            "--export",
            "csv",
            "--level",
            "warn",
            "--output",
            &file.display().to_string(),
        ],
    );
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, "");
    let mut reader = csv::Reader::from_path(&file).expect("open export");
    let levels: Vec<String> = reader
        .records()
        .map(|r| r.expect("row")[2].to_string())
        .collect();
    assert!(levels.len() >= 2, "{levels:?}");
    assert!(
        levels.iter().all(|l| l == "warn" || l == "error"),
        "{levels:?}"
    );
    let leftovers: Vec<_> = std::fs::read_dir(&d.dir)
        .expect("dir")
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().contains(".partial-"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");

    // NDJSON too, and usage errors for what export cannot do.
    let (code, out, _) = cli(
        &d,
        &[
            "logs", "exported", "--export", "ndjson", "--grep", "needle42",
        ],
    );
    assert_eq!(code, 0);
    let objects: Vec<Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).expect("NDJSON"))
        .collect();
    assert_eq!(objects.len(), 1, "{out}");
    assert_eq!(objects[0]["message"], "the needle42 is here");
    let (code, _, _) = cli(&d, &["logs", "exported", "--export", "csv", "-f"]);
    assert_eq!(code, 2);
    let (code, _, _) = cli(&d, &["logs", "exported", "--output", "x.csv"]);
    assert_eq!(code, 2);
}

#[tokio::test]
async fn follow_prints_new_lines_as_they_come_until_the_server_is_deleted() {
    let d = Daemon::start();
    server(&d, "live", 3).await;

    // stderr's lines may still be arriving after the handshake's: enough history for both.
    let mut all = Follower::start(&d, &["live", "-f", "-n", "50", "--utc"]);
    let mut errors = Follower::start(&d, &["live", "-f", "-n", "0", "--level", "error", "--utc"]);
    // The history first.
    all.wait_for("handshake", Duration::from_secs(20));

    log_tool(&d, "live", "warning", "live warn marker").await;
    let line = all.wait_for("live warn marker", Duration::from_secs(20));
    let p = parse_line(&line);
    assert_eq!(
        (p.level.as_str(), p.source.as_str()),
        ("WARN", "mcp"),
        "{line}"
    );

    log_tool(&d, "live", "error", "live error marker").await;
    all.wait_for("live error marker", Duration::from_secs(20));
    errors.wait_for("live error marker", Duration::from_secs(20));
    // Filtered client-side like the history: the warning and the info lines are not shown.
    errors.drain(Duration::from_millis(500));
    assert_eq!(errors.count("live warn marker"), 0, "{:?}", errors.seen);
    assert!(
        errors.seen.iter().all(|l| parse_line(l).level == "ERROR"),
        "{:?}",
        errors.seen
    );
    // Each line once, although the history and the live stream overlap.
    all.drain(Duration::from_millis(500));
    assert_eq!(all.count("live warn marker"), 1, "{:?}", all.seen);
    assert_eq!(all.count("live error marker"), 1, "{:?}", all.seen);

    // Deleting the server ends the follow, with exit code 0 and a note.
    let (s, v) = d.req("DELETE", "/api/servers/live", None).await;
    assert_eq!(s, 200, "{v}");
    let (code, err) = all.wait_exit(Duration::from_secs(20));
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("deleted"), "{err}");
    let (code, _) = errors.wait_exit(Duration::from_secs(20));
    assert_eq!(code, 0);
}

#[tokio::test]
async fn follow_loses_nothing_and_repeats_nothing_while_it_starts() {
    let d = Daemon::start();
    server(&d, "quick", 1).await;
    let mut f = Follower::start(&d, &["quick", "-f", "-n", "5", "--json"]);
    // No waiting for the follower: the line comes while it starts, before or after its
    // history was read or its subscription took effect. Either way it is printed once.
    log_tool(&d, "quick", "info", "written at once").await;
    let line = f.wait_for("written at once", Duration::from_secs(20));
    let v: Value = serde_json::from_str(&line).expect("NDJSON");
    assert_eq!(v["source"], "mcp");
    log_tool(&d, "quick", "info", "written later").await;
    f.wait_for("written later", Duration::from_secs(20));
    f.drain(Duration::from_millis(800));
    assert_eq!(f.count("written at once"), 1, "{:?}", f.seen);
    assert_eq!(f.count("written later"), 1, "{:?}", f.seen);
    let ids: Vec<i64> = f
        .seen
        .iter()
        .map(|l| {
            serde_json::from_str::<Value>(l).expect("NDJSON")["id"]
                .as_i64()
                .unwrap_or(0)
        })
        .collect();
    assert!(
        ids.windows(2).all(|w| w[0] < w[1]),
        "in order, once: {ids:?}"
    );

    // SIGTERM (like Ctrl-C) ends it cleanly.
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(f.child.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    );
    let (code, _) = f.wait_exit(Duration::from_secs(10));
    assert_eq!(code, 0);
}

#[tokio::test]
async fn unknown_server_and_missing_daemon_are_clear_errors() {
    let d = Daemon::start();
    let (code, out, err) = cli(&d, &["logs", "no-such-server"]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(err.starts_with("error: "), "{err}");
    assert!(err.contains("no-such-server"), "{err}");
    assert_eq!(out, "");
    let (code, _, err) = cli(&d, &["logs", "no-such-server", "-f"]);
    assert_eq!(code, 1, "{err}");
    let (code, _, err) = cli(&d, &["logs", "no-such-server", "--export", "csv"]);
    assert_eq!(code, 1, "{err}");

    // A port that was just free: nobody answers there.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let url = format!("http://127.0.0.1:{port}");
    let (code, _, err) = cli(&d, &["logs", "x", "--url", &url]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains(&url) && err.contains("cannot reach the daemon"),
        "{err}"
    );
    let (code, _, err) = cli(&d, &["logs", "x", "-f", "--url", &url]);
    assert_eq!(code, 2, "{err}");
}
