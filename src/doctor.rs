//! `mcp-manager doctor`: what works on this machine and what does not, with the fix for each.
//!
//! It takes the same settings as `serve` (flags, environment, settings file) and checks what
//! `serve` would use: the settings themselves, the commands servers are started with
//! (node/npx, python3, uv/uvx) on this PATH, the Docker engine (connected as the daemon
//! connects, [`Engine`]), the data dir, the bind address, the store's schema version (read
//! only, judged by the daemon's own [`db::refuse_newer`]) and the free disk. It changes
//! nothing (the write test's file is removed at once). Each check ends as OK, WARN (works, with a caveat) or FAIL (something `serve` or a
//! kind of server cannot do); any FAIL makes the exit code 1. When the store holds servers,
//! they decide: a missing tool or engine fails only when a stored server needs it (and the
//! report names them), and each stored command is resolved as its start would resolve it.

use crate::config::{self, ServeArgs};
use crate::db;
use crate::model::{ServerRecord, ServerType};
use crate::runtime::docker::{Engine, engine_address};
use crate::runtime::process::{check_working_directory, effective_path, resolve_command};
use serde::Serialize;
use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

#[derive(clap::Args, Debug, Clone)]
pub struct DoctorArgs {
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub serve: ServeArgs,
}

#[derive(Serialize, Debug, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Ok,
    Warn,
    Fail,
}

impl Status {
    fn label(self) -> &'static str {
        match self {
            Status::Ok => "OK",
            Status::Warn => "WARN",
            Status::Fail => "FAIL",
        }
    }
}

/// One line of the report.
#[derive(Serialize, Debug, Clone)]
pub struct Check {
    pub name: &'static str,
    pub status: Status,
    pub detail: String,
    /// What to do about it (for WARN and FAIL).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
}

impl Check {
    fn ok(name: &'static str, detail: impl Into<String>) -> Check {
        Check {
            name,
            status: Status::Ok,
            detail: detail.into(),
            fix: None,
        }
    }

    fn warn(name: &'static str, detail: impl Into<String>, fix: impl Into<String>) -> Check {
        Check {
            name,
            status: Status::Warn,
            detail: detail.into(),
            fix: Some(fix.into()),
        }
    }

    fn fail(name: &'static str, detail: impl Into<String>, fix: impl Into<String>) -> Check {
        Check {
            name,
            status: Status::Fail,
            detail: detail.into(),
            fix: Some(fix.into()),
        }
    }
}

/// The settings the checks ran against.
#[derive(Serialize, Debug, Clone)]
pub struct Checked {
    pub settings_file: Option<PathBuf>,
    pub bind: SocketAddr,
    pub data_dir: PathBuf,
}

#[derive(Serialize, Debug, Clone)]
pub struct Report {
    pub settings: Checked,
    pub checks: Vec<Check>,
}

impl Report {
    /// 1 when any check failed, else 0.
    pub fn exit_code(&self) -> i32 {
        i32::from(self.checks.iter().any(|c| c.status == Status::Fail))
    }

    /// One line per check, the fix indented under each problem, and a summary.
    pub fn render(&self) -> String {
        let s = &self.settings;
        let mut out = format!(
            "settings: {}; bind {}; data dir {}\n",
            match &s.settings_file {
                Some(p) => format!("file {}", p.display()),
                None => "no settings file".into(),
            },
            s.bind,
            s.data_dir.display()
        );
        let width = self.checks.iter().map(|c| c.name.len()).max().unwrap_or(0);
        for c in &self.checks {
            out += &format!(
                "{:<4}  {:<width$}  {}\n",
                c.status.label(),
                c.name,
                c.detail
            );
            if let Some(fix) = &c.fix {
                out += &format!("{:<4}  {:<width$}  fix: {fix}\n", "", "");
            }
        }
        let count = |st| self.checks.iter().filter(|c| c.status == st).count();
        out += &match (count(Status::Fail), count(Status::Warn)) {
            (0, 0) => "everything works\n".to_string(),
            (f, w) => format!("{f} failed, {w} warning{}\n", if w == 1 { "" } else { "s" }),
        };
        out
    }
}

/// Runs every check. `settings_file` is the file the settings came from; `settings_error`
/// why it could not be used (the checks then run on flags, environment and defaults).
pub async fn run(
    args: &ServeArgs,
    settings_file: Option<PathBuf>,
    settings_error: Option<String>,
) -> Report {
    let data_dir = args
        .data_dir
        .clone()
        .unwrap_or_else(config::default_data_dir);
    let mut checks = vec![settings(
        args,
        settings_file.as_deref(),
        settings_error.as_deref(),
    )];
    let path = std::env::var("PATH").ok();
    // Without stored servers (no store yet, or an empty one) each check keeps its general
    // severity: it then tells what a kind of server would need.
    let stored = stored_servers(&data_dir).filter(|s| !s.is_empty());
    let needs = stored.as_deref().map(Needs::of);
    let (tools, docker, port) = tokio::join!(
        tools(path.as_deref(), needs.as_ref()),
        docker(needs.as_ref().map(|n| n.of_tool("docker"))),
        port(args.bind)
    );
    checks.extend(tools);
    checks.push(docker);
    checks.push(data_dir_check(&data_dir));
    checks.push(port);
    checks.push(store(&data_dir));
    if let Some(servers) = &stored {
        checks.push(commands(servers));
    }
    checks.push(disk(&data_dir));
    Report {
        settings: Checked {
            settings_file,
            bind: args.bind,
            data_dir,
        },
        checks,
    }
}

fn settings(args: &ServeArgs, file: Option<&Path>, error: Option<&str>) -> Check {
    if let Some(e) = error {
        return Check::fail(
            "settings",
            e,
            "correct the settings file (keys and values as in docs/configuration.md)",
        );
    }
    if let Err(e) = config::Config::from_args(args.clone()) {
        return Check::fail(
            "settings",
            e,
            "change the setting named above (flag, environment variable or settings file)",
        );
    }
    let Some(file) = file else {
        return Check::ok("settings", "valid (flags, environment and defaults)");
    };
    let open_to_others = std::fs::metadata(file)
        .map(|m| std::os::unix::fs::PermissionsExt::mode(&m.permissions()) & 0o077 != 0)
        .unwrap_or(false);
    if args.token.is_some() && open_to_others {
        return Check::warn(
            "settings",
            format!(
                "valid, but {} may hold the API token and others can read it",
                file.display()
            ),
            format!("chmod 600 {}", file.display()),
        );
    }
    Check::ok("settings", format!("valid ({})", file.display()))
}

/// A command servers are started with, looked up on `path` as the daemon would, and the
/// first line of its `--version`.
struct Tool {
    name: &'static str,
    missing: Status,
    fix: &'static str,
}

const TOOLS: [Tool; 5] = [
    Tool {
        name: "node",
        missing: Status::Fail,
        fix: "install Node.js 18 or newer (https://nodejs.org, or `apt install nodejs npm`); npm servers (`npx -y …`) need it",
    },
    Tool {
        name: "npx",
        missing: Status::Fail,
        fix: "install npm, which ships npx (`apt install npm`, or Node.js from https://nodejs.org); npm servers (`npx -y …`) need it",
    },
    Tool {
        name: "python3",
        missing: Status::Fail,
        fix: "install Python 3 (`apt install python3`); Python servers need it",
    },
    Tool {
        name: "uv",
        missing: Status::Warn,
        fix: "`pip install uv` (or `curl -LsSf https://astral.sh/uv/install.sh | sh`); PyPI servers started with `uvx …` need it",
    },
    Tool {
        name: "uvx",
        missing: Status::Warn,
        fix: "`pip install uv` (uvx comes with uv); PyPI servers started with `uvx …` need it",
    },
];

/// What the stored servers need of this machine: for each tool (and `docker`), the servers
/// that use it. With it, a missing tool fails only when a server needs it: a machine that
/// runs Python servers alone is healthy without Node.js or Docker.
struct Needs(BTreeMap<&'static str, Vec<String>>);

impl Needs {
    fn of(servers: &[ServerRecord]) -> Needs {
        let mut by: BTreeMap<&'static str, Vec<String>> = BTreeMap::new();
        for s in servers {
            let tools: &[&'static str] = match s.kind {
                ServerType::Container => &["docker"],
                ServerType::Remote => &[],
                _ => {
                    let program = s.command.as_deref().map(Path::new);
                    match program.and_then(Path::file_name).and_then(|n| n.to_str()) {
                        // npx is a Node.js script.
                        Some("npx") => &["npx", "node"],
                        Some("node") => &["node"],
                        Some("python3") => &["python3"],
                        Some("uvx") => &["uvx"],
                        Some("uv") => &["uv"],
                        _ => &[],
                    }
                }
            };
            for t in tools {
                by.entry(t).or_default().push(s.name.clone());
            }
        }
        Needs(by)
    }

    fn of_tool(&self, tool: &str) -> &[String] {
        self.0.get(tool).map_or(&[], Vec::as_slice)
    }
}

/// `a, b and 3 more`: who needs a tool, short enough for one report line.
fn names(servers: &[String]) -> String {
    const SHOWN: usize = 3;
    let mut s = servers
        .iter()
        .take(SHOWN)
        .map(String::as_str)
        .collect::<Vec<_>>()
        .join(", ");
    if servers.len() > SHOWN {
        s += &format!(" and {} more", servers.len() - SHOWN);
    }
    s
}

/// How bad a missing tool or engine is: `general` without a store to judge by; a FAIL
/// when stored servers need it (the detail names them); a WARN when none does.
fn missing(
    name: &'static str,
    detail: impl Into<String>,
    fix: impl Into<String>,
    general: Status,
    needed_by: Option<&[String]>,
) -> Check {
    let detail = detail.into();
    let (status, detail) = match needed_by {
        None => (general, detail),
        Some([]) => (Status::Warn, format!("{detail}; no stored server needs it")),
        Some(servers) => (
            Status::Fail,
            format!("{detail}; needed by {}", names(servers)),
        ),
    };
    match status {
        Status::Fail => Check::fail(name, detail, fix),
        _ => Check::warn(name, detail, fix),
    }
}

async fn tools(path: Option<&str>, needs: Option<&Needs>) -> Vec<Check> {
    futures::future::join_all(
        TOOLS
            .iter()
            .map(|t| tool(t, path, needs.map(|n| n.of_tool(t.name)))),
    )
    .await
}

async fn tool(t: &Tool, path: Option<&str>, needed_by: Option<&[String]>) -> Check {
    let found = match resolve_command(t.name, path, None) {
        Ok(p) => p,
        Err(_) => return missing(t.name, "not found on PATH", t.fix, t.missing, needed_by),
    };
    match version(&found).await {
        Ok(v) => Check::ok(t.name, format!("{v} ({})", found.display())),
        Err(e) => Check::warn(
            t.name,
            format!("{} is on PATH but `--version` failed: {e}", found.display()),
            format!("reinstall it: {}", t.fix),
        ),
    }
}

async fn version(program: &Path) -> Result<String, String> {
    let run = tokio::process::Command::new(program)
        .arg("--version")
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(Duration::from_secs(15), run)
        .await
        .map_err(|_| "no answer within 15s".to_string())?
        .map_err(|e| e.to_string())?;
    if !out.status.success() {
        return Err(format!("{}", out.status));
    }
    Ok(first_line(&out.stdout)
        .or_else(|| first_line(&out.stderr))
        .unwrap_or_else(|| "version unknown".into()))
}

fn first_line(bytes: &[u8]) -> Option<String> {
    String::from_utf8_lossy(bytes)
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .map(str::to_string)
}

async fn docker(needed_by: Option<&[String]>) -> Check {
    match Engine::default().version().await {
        Ok(v) => Check::ok(
            "docker",
            format!("Docker engine {v} at {}", engine_address()),
        ),
        Err(e) => {
            let fix = if e.contains("ermission denied") {
                "let this user use the engine (`sudo usermod -aG docker $USER`, then log in again), or point DOCKER_HOST at one it may use".to_string()
            } else if let Ok(host) = std::env::var("DOCKER_HOST") {
                format!(
                    "start the engine DOCKER_HOST={host} names, or correct or unset DOCKER_HOST (the default is the local socket); container servers need it"
                )
            } else {
                "start the Docker engine (`sudo systemctl start docker`), or set DOCKER_HOST to one that runs; container servers need it".to_string()
            };
            missing("docker", e, fix, Status::Fail, needed_by)
        }
    }
}

/// Every stored server the manager spawns: its command resolves on its PATH (the server's
/// own `PATH` env when it sets one) and its working directory exists, as the start checks.
fn commands(servers: &[ServerRecord]) -> Check {
    const NAME: &str = "commands";
    let spawned: Vec<&ServerRecord> = servers
        .iter()
        .filter(|s| !matches!(s.kind, ServerType::Container | ServerType::Remote))
        .filter(|s| s.command.is_some())
        .collect();
    let problems: Vec<String> = spawned
        .iter()
        .filter_map(|s| {
            let cwd = s.working_directory.as_deref().map(Path::new);
            cwd.map_or(Ok(()), check_working_directory)
                .and_then(|()| {
                    let path = effective_path(&s.env);
                    resolve_command(s.command.as_deref().unwrap_or(""), path.as_deref(), cwd)
                })
                .err()
                .map(|e| format!("{}: {e}", s.name))
        })
        .collect();
    match (spawned.len(), problems.len()) {
        (0, _) => Check::ok(NAME, "no stored server runs a command on this machine"),
        (n, 0) => Check::ok(
            NAME,
            format!(
                "the command{} of {n} stored server{} found",
                if n == 1 { "" } else { "s" },
                if n == 1 { "" } else { "s" }
            ),
        ),
        (_, _) => Check::fail(
            NAME,
            problems.join("; "),
            "install what is missing, or correct the server's command or working directory (the UI's Edit, or PATCH /api/servers/NAME)",
        ),
    }
}

/// The servers in the store, read only; `None` without a store, or when it cannot be read
/// as this build's (the `store` check says why).
fn stored_servers(data_dir: &Path) -> Option<Vec<ServerRecord>> {
    use crate::db::models::ServerRow;
    use crate::db::schema::servers::dsl;
    use diesel::prelude::*;
    let path = data_dir.join("mcp-manager.db");
    if !path.exists() {
        return None;
    }
    let mut conn = open_read_only(&path).ok()?;
    let rows = dsl::servers
        .select(ServerRow::as_select())
        .load(&mut conn)
        .ok()?;
    Some(rows.into_iter().map(ServerRecord::from_row).collect())
}

/// The data dir exists and takes a new file, or it does not exist yet and `serve` can create
/// it.
fn data_dir_check(dir: &Path) -> Check {
    const NAME: &str = "data-dir";
    let shown = dir.display();
    let other = "or choose another data dir (--data-dir, MCP_MANAGER_DATA_DIR, `data-dir` in the settings file)";
    match std::fs::metadata(dir) {
        Ok(m) if !m.is_dir() => Check::fail(
            NAME,
            format!("{shown} exists and is not a directory"),
            format!("move it away, {other}"),
        ),
        Ok(_) => {
            let probe = dir.join(format!(".doctor-{}", uuid::Uuid::new_v4()));
            if let Err(e) = std::fs::File::create(&probe) {
                return Check::fail(
                    NAME,
                    format!("{shown} is not writable: {e}"),
                    format!("make it this user's (`chown -R $USER {shown}`), {other}"),
                );
            }
            let _ = std::fs::remove_file(&probe);
            Check::ok(NAME, format!("{shown} exists and is writable"))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let Some(parent) = existing_ancestor(dir) else {
                return Check::fail(NAME, format!("{shown} cannot be created"), other);
            };
            match nix::unistd::access(&parent, nix::unistd::AccessFlags::W_OK) {
                Ok(()) => Check::ok(
                    NAME,
                    format!("{shown} does not exist yet; serve creates it (mode 700)"),
                ),
                Err(e) => Check::fail(
                    NAME,
                    format!(
                        "{shown} does not exist and cannot be created: {} is not writable ({e})",
                        parent.display()
                    ),
                    format!("create it as this user (`mkdir -p {shown}`), {other}"),
                ),
            }
        }
        Err(e) => Check::fail(
            NAME,
            format!("{shown}: {e}"),
            format!("make it reachable for this user, {other}"),
        ),
    }
}

fn existing_ancestor(dir: &Path) -> Option<PathBuf> {
    let absolute = std::path::absolute(dir).ok()?;
    absolute
        .ancestors()
        .find(|a| a.exists())
        .map(Path::to_path_buf)
}

/// The bind address is free, or a daemon already answers `/healthz` there.
async fn port(bind: SocketAddr) -> Check {
    const NAME: &str = "port";
    let other = "stop what listens there, or choose another address (--bind, MCP_MANAGER_BIND, `bind` in the settings file)";
    if bind.port() == 0 {
        return Check::ok(NAME, format!("{bind}: serve picks a free port at start"));
    }
    let err = match std::net::TcpListener::bind(bind) {
        Ok(_) => return Check::ok(NAME, format!("{bind} is free")),
        Err(e) => e,
    };
    if err.kind() != std::io::ErrorKind::AddrInUse {
        return Check::fail(
            NAME,
            format!("cannot listen on {bind}: {err}"),
            "choose an address of this machine, and a port from 1024 up unless privileged (--bind, MCP_MANAGER_BIND, `bind` in the settings file)",
        );
    }
    if answers_healthz(bind).await {
        Check::ok(
            NAME,
            format!(
                "{bind} is in use by a running mcp-manager (it answers /healthz): a daemon is already running there"
            ),
        )
    } else {
        Check::fail(NAME, format!("{bind} is in use by another program"), other)
    }
}

async fn answers_healthz(bind: SocketAddr) -> bool {
    let ip = match bind.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    let url = format!("http://{}/healthz", SocketAddr::new(ip, bind.port()));
    let Ok(client) = reqwest::Client::builder()
        .timeout(Duration::from_secs(3))
        .build()
    else {
        return false;
    };
    let Ok(resp) = client.get(&url).send().await else {
        return false;
    };
    if !resp.status().is_success() {
        return false;
    }
    resp.json::<serde_json::Value>()
        .await
        .is_ok_and(|v| v["status"] == "ok")
}

/// The store's schema against this build's migrations, read only: a store from a newer build
/// is a FAIL with the message `serve` gives; pending migrations are fine (they run at start).
fn store(data_dir: &Path) -> Check {
    const NAME: &str = "store";
    let path = data_dir.join("mcp-manager.db");
    if !path.exists() {
        return Check::ok(
            NAME,
            format!("no store yet; serve creates {}", path.display()),
        );
    }
    let elsewhere = "move it away (or restore a backup), or choose another data dir";
    let applied = match applied_migrations(&path) {
        Ok(Some(applied)) => applied,
        Ok(None) => {
            return Check::fail(
                NAME,
                format!("{} is not an mcp-manager store", path.display()),
                elsewhere,
            );
        }
        Err(e) => {
            return Check::fail(
                NAME,
                format!("cannot read {}: {e}", path.display()),
                elsewhere,
            );
        }
    };
    if let Err(e) = db::refuse_newer(&applied) {
        return Check::fail(
            NAME,
            format!("{}: {e}", path.display()),
            "run the newer mcp-manager that wrote it, or restore a backup taken with this version",
        );
    }
    let known = db::known_migrations().unwrap_or_default();
    let pending = known.iter().filter(|k| !applied.contains(k)).count();
    let at = applied
        .iter()
        .max()
        .cloned()
        .unwrap_or_else(|| "none".into());
    Check::ok(
        NAME,
        match pending {
            0 => format!("{}: schema {at}, up to date", path.display()),
            n => format!(
                "{}: schema {at}; serve applies {n} newer migration{} at start",
                path.display(),
                if n == 1 { "" } else { "s" }
            ),
        },
    )
}

/// The migrations applied to the store at `path`, opened read only; `None` when the file is
/// a database without them (empty databases have no tables and count as a new store).
fn applied_migrations(path: &Path) -> Result<Option<Vec<String>>, String> {
    use diesel::prelude::*;
    #[derive(QueryableByName)]
    struct Name {
        #[diesel(sql_type = diesel::sql_types::Text)]
        name: String,
    }
    #[derive(QueryableByName)]
    struct Version {
        #[diesel(sql_type = diesel::sql_types::Text)]
        version: String,
    }
    let mut conn = open_read_only(path)?;
    let tables: Vec<Name> =
        diesel::sql_query("SELECT name FROM sqlite_master WHERE type = 'table'")
            .load(&mut conn)
            .map_err(|e| e.to_string())?;
    if tables.is_empty() {
        return Ok(Some(Vec::new()));
    }
    if !tables
        .iter()
        .any(|t| t.name == "__diesel_schema_migrations")
    {
        return Ok(None);
    }
    let versions: Vec<Version> =
        diesel::sql_query("SELECT version FROM __diesel_schema_migrations")
            .load(&mut conn)
            .map_err(|e| e.to_string())?;
    Ok(Some(versions.into_iter().map(|v| v.version).collect()))
}

fn open_read_only(path: &Path) -> Result<diesel::sqlite::SqliteConnection, String> {
    use diesel::Connection;
    // A URI, so that `mode=ro` opens it read only; `?`, `#` and `%` in the path are escaped.
    let escaped = path
        .to_string_lossy()
        .replace('%', "%25")
        .replace('?', "%3f")
        .replace('#', "%23");
    diesel::sqlite::SqliteConnection::establish(&format!("file:{escaped}?mode=ro"))
        .map_err(|e| e.to_string())
}

/// Free space where the store lives (or will).
fn disk(data_dir: &Path) -> Check {
    const NAME: &str = "disk";
    const LOW: u64 = 512 * 1024 * 1024;
    let Some(at) = existing_ancestor(data_dir) else {
        return Check::warn(
            NAME,
            format!("cannot tell the free space for {}", data_dir.display()),
            "check the data dir's path",
        );
    };
    match nix::sys::statvfs::statvfs(&at) {
        Ok(s) => {
            let free = s.blocks_available().saturating_mul(s.fragment_size());
            let detail = format!("{} free on {}", human(free), at.display());
            if free < LOW {
                Check::warn(
                    NAME,
                    detail,
                    "free some space, or lower --log-max-mb / --log-retention-days (logs are the store's bulk)",
                )
            } else {
                Check::ok(NAME, detail)
            }
        }
        Err(e) => Check::warn(
            NAME,
            format!("cannot tell the free space on {}: {e}", at.display()),
            "check the data dir's file system",
        ),
    }
}

fn human(bytes: u64) -> String {
    const GIB: f64 = 1024.0 * 1024.0 * 1024.0;
    let b = bytes as f64;
    if b >= GIB {
        format!("{:.1} GiB", b / GIB)
    } else {
        format!("{:.0} MiB", b / (1024.0 * 1024.0))
    }
}

/// Runs the checks and prints the report; returns the exit code.
pub async fn main(args: DoctorArgs, settings_file: Option<PathBuf>, error: Option<String>) -> i32 {
    let report = run(&args.serve, settings_file, error).await;
    if args.json {
        match serde_json::to_string_pretty(&report) {
            Ok(text) => println!("{text}"),
            Err(e) => {
                eprintln!("error: {e}");
                return 1;
            }
        }
    } else {
        print!("{}", report.render());
    }
    report.exit_code()
}

#[cfg(test)]
mod tests {
    use super::*;
    use diesel::connection::SimpleConnection;

    fn report(checks: Vec<Check>) -> Report {
        Report {
            settings: Checked {
                settings_file: None,
                bind: "127.0.0.1:7070".parse().expect("addr"),
                data_dir: PathBuf::from("/d"),
            },
            checks,
        }
    }

    #[test]
    fn a_failed_check_makes_the_exit_code_1_and_a_warning_does_not() {
        assert_eq!(report(vec![Check::ok("a", "fine")]).exit_code(), 0);
        assert_eq!(report(vec![Check::warn("a", "meh", "do")]).exit_code(), 0);
        assert_eq!(
            report(vec![Check::ok("a", "x"), Check::fail("b", "no", "do")]).exit_code(),
            1
        );
    }

    #[test]
    fn the_report_has_one_line_per_check_and_the_fix_under_each_problem() {
        let text = report(vec![
            Check::ok("node", "v22"),
            Check::fail("npx", "not found on PATH", "install npm"),
            Check::warn("uv", "not found on PATH", "pip install uv"),
        ])
        .render();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[0],
            "settings: no settings file; bind 127.0.0.1:7070; data dir /d"
        );
        assert_eq!(lines[1], "OK    node  v22");
        assert_eq!(lines[2], "FAIL  npx   not found on PATH");
        assert_eq!(lines[3], "            fix: install npm");
        assert_eq!(lines[4], "WARN  uv    not found on PATH");
        assert_eq!(lines[5], "            fix: pip install uv");
        assert_eq!(lines[6], "1 failed, 1 warning");
    }

    #[tokio::test]
    async fn a_missing_tool_is_named_with_its_fix() {
        let empty = tempfile::tempdir().expect("tempdir");
        let path = empty.path().display().to_string();
        let checks = tools(Some(&path), None).await;
        let npx = checks.iter().find(|c| c.name == "npx").expect("npx");
        assert_eq!(npx.status, Status::Fail);
        assert!(npx.fix.as_deref().is_some_and(|f| f.contains("npm")));
        let uv = checks.iter().find(|c| c.name == "uv").expect("uv");
        assert_eq!(uv.status, Status::Warn);
        assert!(
            uv.fix
                .as_deref()
                .is_some_and(|f| f.contains("pip install uv"))
        );
    }

    fn server(def: serde_json::Value) -> ServerRecord {
        let c: crate::model::ServerCreate = serde_json::from_value(def).expect("definition");
        ServerRecord::from_create(c, chrono::Utc::now()).expect("valid")
    }

    #[test]
    fn the_stored_servers_decide_which_missing_tool_fails() {
        let servers = [
            server(
                serde_json::json!({"name": "fs", "command": "/usr/bin/npx", "args": ["-y", "x"]}),
            ),
            server(
                serde_json::json!({"name": "time", "command": "uvx", "args": ["mcp-server-time"]}),
            ),
            server(serde_json::json!({"name": "ct", "type": "container", "image": "img"})),
            server(serde_json::json!({"name": "own", "command": "./srv"})),
        ];
        let needs = Needs::of(&servers);
        assert_eq!(needs.of_tool("npx"), ["fs"]);
        assert_eq!(needs.of_tool("node"), ["fs"]);
        assert_eq!(needs.of_tool("uvx"), ["time"]);
        assert_eq!(needs.of_tool("docker"), ["ct"]);
        assert!(needs.of_tool("python3").is_empty());

        let needed = missing(
            "npx",
            "not found on PATH",
            "fix",
            Status::Warn,
            Some(&["a".into()]),
        );
        assert_eq!(needed.status, Status::Fail);
        assert_eq!(needed.detail, "not found on PATH; needed by a");
        let unneeded = missing("npx", "not found on PATH", "fix", Status::Fail, Some(&[]));
        assert_eq!(unneeded.status, Status::Warn);
        assert_eq!(
            unneeded.detail,
            "not found on PATH; no stored server needs it"
        );
        let general = missing("npx", "not found on PATH", "fix", Status::Fail, None);
        assert_eq!(general.status, Status::Fail);
        assert_eq!(general.detail, "not found on PATH");
        let many: Vec<String> = (1..=5).map(|i| format!("s{i}")).collect();
        assert_eq!(names(&many), "s1, s2, s3 and 2 more");
    }

    #[test]
    fn a_stored_command_that_does_not_resolve_fails_naming_its_server() {
        let dir = tempfile::tempdir().expect("tempdir");
        let gone = dir.path().join("gone").display().to_string();
        let servers = [
            server(serde_json::json!({"name": "ok", "command": "sh"})),
            server(serde_json::json!({"name": "ghost", "command": "surely-not-a-command-xyz"})),
            server(serde_json::json!({"name": "lost", "command": "sh", "working_directory": gone})),
            server(serde_json::json!({"name": "ct", "type": "container", "image": "img"})),
        ];
        let check = commands(&servers);
        assert_eq!(check.status, Status::Fail, "{check:?}");
        assert!(
            check
                .detail
                .contains("ghost: command not found: surely-not-a-command-xyz"),
            "{check:?}"
        );
        assert!(
            check
                .detail
                .contains("lost: working directory does not exist"),
            "{check:?}"
        );
        assert!(
            !check.detail.contains("ok:") && !check.detail.contains("ct:"),
            "{check:?}"
        );
        let fine = commands(&servers[..1]);
        assert_eq!(fine.status, Status::Ok, "{fine:?}");
        assert_eq!(fine.detail, "the command of 1 stored server found");
        assert_eq!(commands(&servers[3..]).status, Status::Ok);
    }

    #[tokio::test]
    async fn a_tool_on_path_is_ok_with_its_version() {
        let dir = tempfile::tempdir().expect("tempdir");
        let script = dir.path().join("node");
        std::fs::write(&script, "#!/bin/sh\necho v99.1.0\n").expect("write");
        std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .expect("chmod");
        let path = dir.path().display().to_string();
        let node = tool(&TOOLS[0], Some(&path), None).await;
        assert_eq!(node.status, Status::Ok, "{node:?}");
        assert!(node.detail.starts_with("v99.1.0 ("), "{node:?}");
    }

    #[test]
    fn the_data_dir_is_writable_creatable_or_not() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let ok = data_dir_check(tmp.path());
        assert_eq!(ok.status, Status::Ok, "{ok:?}");
        assert!(ok.detail.contains("writable"));
        assert_eq!(std::fs::read_dir(tmp.path()).expect("ls").count(), 0);

        let later = data_dir_check(&tmp.path().join("a/b"));
        assert_eq!(later.status, Status::Ok, "{later:?}");
        assert!(later.detail.contains("does not exist yet"));

        let file = tmp.path().join("f");
        std::fs::write(&file, "").expect("write");
        assert_eq!(data_dir_check(&file).status, Status::Fail);
    }

    #[tokio::test]
    async fn a_port_in_use_by_another_program_fails() {
        let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = taken.local_addr().expect("addr");
        // Accept and close: not an HTTP server, so no /healthz.
        std::thread::spawn(move || {
            for conn in taken.incoming() {
                drop(conn);
            }
        });
        let check = port(addr).await;
        assert_eq!(check.status, Status::Fail, "{check:?}");
        assert!(check.detail.contains("in use"));
        let free = port("127.0.0.1:0".parse().expect("addr")).await;
        assert_eq!(free.status, Status::Ok);
    }

    #[test]
    fn the_store_version_is_read_and_a_newer_store_fails_like_serve() {
        let tmp = tempfile::tempdir().expect("tempdir");
        assert_eq!(store(tmp.path()).status, Status::Ok);
        let path = tmp.path().join("mcp-manager.db");
        let mut conn = db::open_connection(&path).expect("open");
        db::migrate(&mut conn).expect("migrate");
        let current = store(tmp.path());
        assert_eq!(current.status, Status::Ok, "{current:?}");
        assert!(current.detail.contains("up to date"), "{current:?}");

        conn.batch_execute(
            "INSERT INTO __diesel_schema_migrations (version) VALUES ('29991231000000')",
        )
        .expect("insert");
        let before = std::fs::read(&path).expect("read");
        let newer = store(tmp.path());
        assert_eq!(newer.status, Status::Fail, "{newer:?}");
        assert!(newer.detail.contains("newer mcp-manager"), "{newer:?}");
        assert!(newer.detail.contains("29991231000000"), "{newer:?}");
        assert_eq!(std::fs::read(&path).expect("read"), before);
    }

    #[test]
    fn a_database_that_is_not_a_store_fails() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let path = tmp.path().join("mcp-manager.db");
        let mut conn = db::open_connection(&path).expect("open");
        conn.batch_execute("CREATE TABLE other (x)")
            .expect("create");
        let check = store(tmp.path());
        assert_eq!(check.status, Status::Fail, "{check:?}");
        assert!(check.detail.contains("not an mcp-manager store"));
    }
}
