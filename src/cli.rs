//! The client side of `mcp-manager server …`, `mcp-manager health NAME` and
//! `mcp-manager logs NAME`: the clap definitions, the HTTP calls to the daemon's REST API
//! (`/api/servers…`, and the `/api/events` WebSocket for `logs -f`), and the human-readable
//! output (table, key/value details, one-line confirmations, the health report with its
//! sparkline, log lines) or `--json`.
//!
//! This module depends on nothing else in the crate: it only speaks the API's JSON, so the
//! daemon's types can change without touching it as long as the wire format stays.
//! Exit codes: 0 success, 1 API error (or a value found unusable after parsing), 2 daemon
//! unreachable; usage errors are clap's, which also exit 2.

use bytes::Bytes;
use chrono::{DateTime, Local, Utc};
use clap::{Args, Subcommand, ValueEnum};
use reqwest::{Method, StatusCode, Url};
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::time::Duration;

/// How long to wait for a TCP connection to the daemon.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a whole request may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);
/// The COMMAND column of `list` is cut to this many characters.
const COMMAND_WIDTH: usize = 50;
/// Checks asked for per page of health history (the API's maximum).
const HISTORY_PAGE: usize = 5000;
/// Pages of health history read at most: far more than an hour holds at the fastest interval.
const HISTORY_PAGES: usize = 100;
/// The sparkline of `health` shows at most this many checks, the newest.
const SPARK_CELLS: usize = 60;
/// The sparkline's levels, lowest first.
const SPARK_LEVELS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];

/// How to reach the daemon and how to print its answers: the options every subcommand that
/// talks to the API shares.
#[derive(Args, Debug)]
pub struct ApiArgs {
    /// Daemon URL
    #[arg(
        long,
        env = "MCP_MANAGER_URL",
        default_value = "http://127.0.0.1:7070",
        global = true
    )]
    pub url: String,
    /// API token (needed when the daemon has one)
    #[arg(long, env = "MCP_MANAGER_TOKEN", global = true, hide_env_values = true)]
    pub token: Option<String>,
    /// Print the API's JSON instead of text
    #[arg(long, global = true)]
    pub json: bool,
}

/// Manage servers through a running daemon.
#[derive(Args, Debug)]
pub struct ServerArgs {
    #[command(flatten)]
    pub api: ApiArgs,
    #[command(subcommand)]
    pub command: ServerCommand,
}

/// Show a server's health: its state, uptime over 24h/7d/30d, the last hour's checks.
#[derive(Args, Debug)]
#[command(after_help = "\
The last hour is drawn with one cell per check, newest on the right (at most 60): the height is
the response time relative to the slowest check shown, a failed check is an `x`.

Examples:
  mcp-manager health time
  mcp-manager health time --json")]
pub struct HealthArgs {
    #[command(flatten)]
    pub api: ApiArgs,
    /// Server name or id
    pub name: String,
}

#[derive(Subcommand, Debug)]
pub enum ServerCommand {
    /// Define a new server (and optionally start it)
    Add(AddArgs),
    /// List all servers
    #[command(visible_alias = "ls")]
    List,
    /// Show one server in detail
    Show {
        /// Server name or id
        name: String,
    },
    /// Start a server
    Start {
        /// Server name or id
        name: String,
    },
    /// Stop a server
    Stop {
        /// Server name or id
        name: String,
    },
    /// Restart a server
    Restart {
        /// Server name or id
        name: String,
    },
    /// Remove a server
    #[command(visible_alias = "remove")]
    Rm {
        /// Server name or id
        name: String,
    },
    /// Apply the daemon's servers file (`serve --config FILE`) again, as SIGHUP does:
    /// new entries created, changed ones redefined and restarted if they run
    Reload,
}

/// `mcp-manager server add NAME [OPTIONS] -- COMMAND [ARGS...]`, checked as a whole: the
/// container-only options are refused for the other types (a usage error, like clap's own).
#[derive(Debug)]
pub struct AddArgs(Box<AddOptions>);

impl std::ops::Deref for AddArgs {
    type Target = AddOptions;
    fn deref(&self) -> &AddOptions {
        &self.0
    }
}

impl clap::FromArgMatches for AddArgs {
    fn from_arg_matches(matches: &clap::ArgMatches) -> Result<Self, clap::Error> {
        Self::from_arg_matches_mut(&mut matches.clone())
    }
    fn from_arg_matches_mut(matches: &mut clap::ArgMatches) -> Result<Self, clap::Error> {
        let options = AddOptions::from_arg_matches_mut(matches)?;
        options.check()?;
        Ok(AddArgs(Box::new(options)))
    }
    fn update_from_arg_matches(&mut self, matches: &clap::ArgMatches) -> Result<(), clap::Error> {
        self.update_from_arg_matches_mut(&mut matches.clone())
    }
    fn update_from_arg_matches_mut(
        &mut self,
        matches: &mut clap::ArgMatches,
    ) -> Result<(), clap::Error> {
        self.0.update_from_arg_matches_mut(matches)?;
        self.0.check()
    }
}

impl Args for AddArgs {
    fn group_id() -> Option<clap::Id> {
        AddOptions::group_id()
    }
    fn augment_args(cmd: clap::Command) -> clap::Command {
        AddOptions::augment_args(cmd)
    }
    fn augment_args_for_update(cmd: clap::Command) -> clap::Command {
        AddOptions::augment_args_for_update(cmd)
    }
}

/// The options of `server add` as clap parses them (see [`AddArgs`] for the checks).
#[derive(Args, Debug)]
#[command(after_help = "\
For a process server (process, nodejs, python), everything after `--` is the command and its
arguments, passed verbatim (no shell). For a container server it is optional and, as with
`docker run IMAGE ARGS...`, gives the arguments to the image (its CMD); `--entrypoint`
replaces the image's entrypoint.

Examples:
  mcp-manager server add time --start -- uvx mcp-server-time
  mcp-manager server add fs --type nodejs -- npx -y @modelcontextprotocol/server-filesystem /srv
  GITHUB_TOKEN=... mcp-manager server add gh --secret-env GITHUB_TOKEN -- github-mcp-server stdio
  mcp-manager server add fetch --type container --image mcp/fetch --memory-mb 256 --start
  mcp-manager server add web --type container --image my/mcp --transport http --port 8080 \\
      --publish 18080:8080 --cpus 0.5 -- --verbose
  mcp-manager server add fs --start-on-demand --deny-tool 'write_*' --deny-tool move_file \\
      -- npx -y @modelcontextprotocol/server-filesystem /srv")]
pub struct AddOptions {
    /// Unique server name (letters, digits, `.`, `_`, `-`)
    pub name: String,
    /// Kind of server [default: process]
    #[arg(long = "type", value_enum, value_name = "TYPE")]
    pub kind: Option<ServerKind>,
    /// How the manager talks to it [default: stdio]
    #[arg(long, value_enum)]
    pub transport: Option<TransportKind>,
    /// Working directory (a relative path is taken from the current directory; for a
    /// container, an absolute path inside it)
    #[arg(long, value_name = "DIR")]
    pub cwd: Option<PathBuf>,
    /// Environment variable for the server (repeatable)
    #[arg(long = "env", value_name = "KEY=VALUE", value_parser = parse_key_value)]
    pub env: Vec<(String, String)>,
    /// Secret environment variable, stored write-only and never shown (repeatable).
    /// With just KEY, the value is read from the variable KEY of this shell's environment,
    /// so the secret need not appear on the command line
    #[arg(long = "secret-env", value_name = "KEY[=VALUE]", value_parser = parse_secret_env)]
    pub secret_env: Vec<(String, String)>,
    /// When to restart it after it exits [default: on-failure]
    #[arg(long = "restart", value_enum, value_name = "POLICY")]
    pub restart: Option<RestartPolicyArg>,
    /// Port of an HTTP-transport server (for a container: the port inside it, published on
    /// 127.0.0.1 under the same number unless `--publish` maps it)
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..))]
    pub port: Option<u16>,
    /// MCP endpoint URL of an HTTP-transport server [default: http://127.0.0.1:PORT/mcp]
    /// (`--url` is taken by the daemon URL)
    #[arg(long = "server-url", value_name = "URL")]
    pub server_url: Option<String>,
    /// Health check path of an HTTP-transport server
    #[arg(long, value_name = "PATH")]
    pub health_endpoint: Option<String>,
    /// How long a start may take, in seconds
    #[arg(long, value_name = "SECS", value_parser = parse_secs)]
    pub start_timeout: Option<f64>,
    /// Time between SIGTERM and SIGKILL when stopping, in seconds
    #[arg(long, value_name = "SECS", value_parser = parse_secs)]
    pub stop_grace: Option<f64>,
    /// Container: the image to run (required with `--type container`)
    #[arg(
        long,
        value_name = "IMAGE",
        required_if_eq("kind", "container"),
        value_parser = clap::builder::NonEmptyStringValueParser::new()
    )]
    pub image: Option<String>,
    /// Container: replaces the image's entrypoint (the arguments come after `--`)
    #[arg(
        long,
        value_name = "CMD",
        value_parser = clap::builder::NonEmptyStringValueParser::new()
    )]
    pub entrypoint: Option<String>,
    /// Container: publish a port like `docker run -p` (repeatable); the host address is
    /// 127.0.0.1 unless given, a bare CONTAINER_PORT uses the same host port
    #[arg(
        long,
        value_name = "[HOST_IP:]HOST_PORT:CONTAINER_PORT",
        value_parser = parse_publish
    )]
    pub publish: Vec<Publish>,
    /// Container: memory limit in MiB (swap included)
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(4..=1_048_576))]
    pub memory_mb: Option<u64>,
    /// Container: CPU limit in cores, e.g. 0.5
    #[arg(long, value_name = "F", value_parser = parse_cpus)]
    pub cpus: Option<f64>,
    /// Start the server right after adding it
    #[arg(long)]
    pub start: bool,
    /// Gateway: keep the server off `/mcp/{name}` and `/mcp` (they answer 404)
    #[arg(long)]
    pub no_expose: bool,
    /// Gateway: a client's call to the stopped server starts it and waits for `running`
    #[arg(long)]
    pub start_on_demand: bool,
    /// Gateway: show clients only the tools matching PATTERN (repeatable; `*` matches any
    /// run of characters) [default: every tool]
    #[arg(long = "allow-tool", value_name = "PATTERN", value_parser = clap::builder::NonEmptyStringValueParser::new())]
    pub allow_tool: Vec<String>,
    /// Gateway: hide the tools matching PATTERN from clients (repeatable; wins over
    /// `--allow-tool`)
    #[arg(long = "deny-tool", value_name = "PATTERN", value_parser = clap::builder::NonEmptyStringValueParser::new())]
    pub deny_tool: Vec<String>,
    /// Gateway: share one upstream session among clients, or run one per client session
    /// [default: shared]
    #[arg(long, value_enum, value_name = "MODE")]
    pub isolation: Option<IsolationArg>,
    /// The command and its arguments, after `--` (for a container: optional, the arguments
    /// to the image)
    #[arg(last = true, value_name = "COMMAND")]
    pub command: Vec<String>,
}

impl AddOptions {
    fn is_container(&self) -> bool {
        self.kind == Some(ServerKind::Container)
    }

    /// What clap cannot say declaratively: the container-only options are refused for the
    /// other types, which need a command, and a container's working directory is a path
    /// inside it.
    fn check(&self) -> Result<(), clap::Error> {
        if !self.is_container() {
            let kind = self.kind.unwrap_or(ServerKind::Process).as_str();
            let given: Vec<&str> = [
                ("`--image`", self.image.is_some()),
                ("`--entrypoint`", self.entrypoint.is_some()),
                ("`--publish`", !self.publish.is_empty()),
                ("`--memory-mb`", self.memory_mb.is_some()),
                ("`--cpus`", self.cpus.is_some()),
            ]
            .into_iter()
            .filter_map(|(flag, present)| present.then_some(flag))
            .collect();
            if !given.is_empty() {
                let (flags, verb) = match given.as_slice() {
                    [one] => (one.to_string(), "is"),
                    [rest @ .., last] => (format!("{} and {last}", rest.join(", ")), "are"),
                    [] => unreachable!("not empty"),
                };
                return Err(usage_error(
                    clap::error::ErrorKind::ArgumentConflict,
                    format!(
                        "{flags} {verb} only for container servers (`--type container`), \
                         not for type `{kind}`"
                    ),
                ));
            }
            if self.command.is_empty() {
                return Err(usage_error(
                    clap::error::ErrorKind::MissingRequiredArgument,
                    format!(
                        "a {kind} server needs its command after `--` \
                         (e.g. `-- uvx mcp-server-time`)"
                    ),
                ));
            }
        } else if let Some(cwd) = &self.cwd
            && !cwd.is_absolute()
        {
            return Err(usage_error(
                clap::error::ErrorKind::ValueValidation,
                format!(
                    "`--cwd {}`: the working directory of a container server is a path inside \
                     the container and must be absolute",
                    cwd.display()
                ),
            ));
        }
        Ok(())
    }
}

/// A usage error of `server add`, rendered with its usage line like clap's own errors.
fn usage_error(kind: clap::error::ErrorKind, message: String) -> clap::Error {
    let mut cmd =
        AddOptions::augment_args(clap::Command::new("add")).bin_name("mcp-manager server add");
    cmd.error(kind, message)
}

/// One `--publish`: `"ports": [{container_port, host_port, host_ip}]` in the API.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Publish {
    pub container_port: u16,
    /// `None`: the same number as the container port.
    pub host_port: Option<u16>,
    /// `None`: the daemon's default, 127.0.0.1.
    pub host_ip: Option<String>,
}

impl Publish {
    fn to_json(&self) -> Value {
        let mut port = Map::new();
        port.insert("container_port".into(), self.container_port.into());
        if let Some(host_port) = self.host_port {
            port.insert("host_port".into(), host_port.into());
        }
        if let Some(ip) = &self.host_ip {
            port.insert("host_ip".into(), ip.clone().into());
        }
        Value::Object(port)
    }
}

/// Parses `[HOST_IP:]HOST_PORT:CONTAINER_PORT` or a bare `CONTAINER_PORT`, like
/// `docker run -p` (TCP only, no ranges, no random host port). An IPv6 host address may be
/// written in brackets: `[::1]:18080:8080`.
fn parse_publish(s: &str) -> Result<Publish, String> {
    const FORMAT: &str = "expected [HOST_IP:]HOST_PORT:CONTAINER_PORT or CONTAINER_PORT";
    let port = |text: &str, what: &str| -> Result<u16, String> {
        if text.is_empty() {
            return Err(format!(
                "`{s}`: the {what} port is empty ({FORMAT}; a random host port is not supported)"
            ));
        }
        if text.contains('/') {
            return Err(format!(
                "`{s}`: protocol suffixes are not supported (ports are TCP); {FORMAT}"
            ));
        }
        if text.contains('-') {
            return Err(format!(
                "`{s}`: port ranges are not supported; repeat --publish instead"
            ));
        }
        match text.parse::<u16>() {
            Ok(0) => Err(format!(
                "`{s}`: the {what} port must be between 1 and 65535"
            )),
            Ok(p) => Ok(p),
            Err(_) if text.bytes().all(|b| b.is_ascii_digit()) => Err(format!(
                "`{s}`: the {what} port must be between 1 and 65535"
            )),
            Err(_) => Err(format!("`{s}`: `{text}` is not a port number; {FORMAT}")),
        }
    };
    let mut parts = s.rsplitn(3, ':');
    let container_port = port(parts.next().unwrap_or_default(), "container")?;
    let Some(host) = parts.next() else {
        return Ok(Publish {
            container_port,
            host_port: None,
            host_ip: None,
        });
    };
    let host_port = port(host, "host")?;
    let host_ip = match parts.next() {
        None => None,
        Some(ip) => {
            let bare = ip
                .strip_prefix('[')
                .and_then(|i| i.strip_suffix(']'))
                .unwrap_or(ip);
            if bare.parse::<std::net::IpAddr>().is_err() {
                return Err(format!(
                    "`{s}`: `{ip}` is not an IP address ({FORMAT}; host names are not accepted)"
                ));
            }
            Some(bare.to_string())
        }
    };
    Ok(Publish {
        container_port,
        host_port: Some(host_port),
        host_ip,
    })
}

/// Parses a CPU limit in cores: above 0, at most 1024.
fn parse_cpus(s: &str) -> Result<f64, String> {
    match s.trim().parse::<f64>() {
        Ok(v) if v.is_finite() && v > 0.0 && v <= 1024.0 => Ok(v),
        _ => Err(format!(
            "expected a number of cores above 0 and at most 1024 (e.g. 0.5), got `{s}`"
        )),
    }
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum ServerKind {
    /// Any executable
    Process,
    /// A Node.js server (`npx -y PACKAGE`, `node server.js`)
    Nodejs,
    /// A Python server (`uvx PACKAGE`, `python -m MODULE`)
    Python,
    /// A Docker container (`--image`; the words after `--` are the image's arguments)
    Container,
}

impl ServerKind {
    fn as_str(self) -> &'static str {
        match self {
            ServerKind::Process => "process",
            ServerKind::Nodejs => "nodejs",
            ServerKind::Python => "python",
            ServerKind::Container => "container",
        }
    }
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum TransportKind {
    /// JSON-RPC over the server's stdin/stdout
    Stdio,
    /// Streamable HTTP
    Http,
}

impl TransportKind {
    fn as_str(self) -> &'static str {
        match self {
            TransportKind::Stdio => "stdio",
            TransportKind::Http => "http",
        }
    }
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum RestartPolicyArg {
    /// Never restart
    Never,
    /// Restart when it exits with an error
    OnFailure,
    /// Restart whenever it exits
    Always,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum IsolationArg {
    /// Every client session shares the server's one upstream session
    Shared,
    /// Each client session gets its own upstream process
    PerSession,
}

impl IsolationArg {
    fn as_str(self) -> &'static str {
        match self {
            IsolationArg::Shared => "shared",
            IsolationArg::PerSession => "per-session",
        }
    }
}

impl RestartPolicyArg {
    fn as_str(self) -> &'static str {
        match self {
            RestartPolicyArg::Never => "never",
            RestartPolicyArg::OnFailure => "on-failure",
            RestartPolicyArg::Always => "always",
        }
    }
}

/// Parses `KEY=VALUE` (the value may contain `=` and may be empty).
fn parse_key_value(s: &str) -> Result<(String, String), String> {
    let Some((key, value)) = s.split_once('=') else {
        return Err(format!("expected KEY=VALUE, got `{s}` (no `=`)"));
    };
    check_key(key)?;
    Ok((key.to_string(), value.to_string()))
}

/// Parses `KEY=VALUE`, or a bare `KEY` whose value is read from the CLI's environment.
fn parse_secret_env(s: &str) -> Result<(String, String), String> {
    parse_secret_env_with(s, |key| std::env::var(key).ok())
}

fn parse_secret_env_with(
    s: &str,
    lookup: impl Fn(&str) -> Option<String>,
) -> Result<(String, String), String> {
    if s.contains('=') {
        return parse_key_value(s);
    }
    check_key(s)?;
    match lookup(s) {
        Some(value) => Ok((s.to_string(), value)),
        None => Err(format!(
            "environment variable `{s}` is not set (or not valid UTF-8); \
             set it, or pass `{s}=VALUE`"
        )),
    }
}

fn check_key(key: &str) -> Result<(), String> {
    if key.is_empty() {
        return Err("the variable name before `=` is empty (expected KEY=VALUE)".to_string());
    }
    if key.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(format!(
            "variable name `{}` contains whitespace or control characters",
            key.escape_debug()
        ));
    }
    Ok(())
}

/// Parses a number of seconds (fractions allowed).
fn parse_secs(s: &str) -> Result<f64, String> {
    match s.trim().parse::<f64>() {
        Ok(v) if v.is_finite() && v >= 0.0 => Ok(v),
        _ => Err(format!("expected a number of seconds, got `{s}`")),
    }
}

/// Why a command failed; decides the exit code.
#[derive(Debug)]
enum Failure {
    /// The API refused, or the user gave something unusable: exit 1.
    Api(String),
    /// The daemon could not be reached: exit 2.
    Unreachable(String),
    /// Stdout was closed (`mcp-manager logs … | head`): stop quietly, exit 0.
    Closed,
}

impl Failure {
    fn exit_code(&self) -> i32 {
        match self {
            Failure::Api(_) => 1,
            Failure::Unreachable(_) => 2,
            Failure::Closed => 0,
        }
    }
    fn message(&self) -> &str {
        match self {
            Failure::Api(m) | Failure::Unreachable(m) => m,
            Failure::Closed => "",
        }
    }
}

/// Runs one `server` subcommand. Returns the process exit code: 0 ok, 1 API/user error,
/// 2 daemon unreachable. Errors are printed to stderr as `error: …`.
pub async fn run(args: ServerArgs) -> i32 {
    finish(execute(&args).await)
}

/// Runs `health NAME`, with the same exit codes as [`run`].
pub async fn run_health(args: HealthArgs) -> i32 {
    finish(health(&args).await)
}

/// Prints a command's output, or its failure as `error: …`; returns the exit code.
fn finish(result: Result<String, Failure>) -> i32 {
    match result {
        Ok(output) => {
            emit(&output);
            0
        }
        Err(Failure::Closed) => 0,
        Err(failure) => {
            eprintln!("error: {}", failure.message());
            failure.exit_code()
        }
    }
}

/// What every command needs: the client, and how to print.
struct Session {
    client: Client,
    json: bool,
    /// Colours: only on a terminal, without `NO_COLOR`, and never in JSON.
    color: bool,
    now: DateTime<Utc>,
}

impl Session {
    fn new(api: &ApiArgs) -> Result<Session, Failure> {
        Ok(Session {
            client: Client::new(&api.url, api_token(api))?,
            json: api.json,
            color: !api.json
                && std::io::stdout().is_terminal()
                && std::env::var_os("NO_COLOR").is_none(),
            now: Utc::now(),
        })
    }
}

/// The API token given, if any (blank counts as none).
fn api_token(api: &ApiArgs) -> Option<&str> {
    api.token
        .as_deref()
        .map(str::trim)
        .filter(|t| !t.is_empty())
}

async fn execute(args: &ServerArgs) -> Result<String, Failure> {
    let Session {
        client,
        json,
        color,
        now,
    } = Session::new(&args.api)?;
    let output = match &args.command {
        ServerCommand::Add(add) => {
            let body = add_body(add)?;
            let server = client
                .call(Method::POST, &["api", "servers"], Some(&body))
                .await?;
            if json {
                pretty(&server)?
            } else {
                let mut line = format!(
                    "added {} (id {}",
                    printable(str_field(&server, "name"), false),
                    printable(str_field(&server, "id"), false)
                );
                if add.start {
                    line.push_str(&format!(", status: {}", str_field(&server, "status")));
                }
                line.push_str(")\n");
                line
            }
        }
        ServerCommand::List => {
            let servers = client.call(Method::GET, &["api", "servers"], None).await?;
            if json {
                pretty(&servers)?
            } else {
                let list = servers.as_array().map(Vec::as_slice).unwrap_or_default();
                if list.is_empty() {
                    "no servers yet — add one with: mcp-manager server add NAME -- COMMAND ARGS...\n"
                        .to_string()
                } else {
                    render_table(list, now, color)
                }
            }
        }
        ServerCommand::Show { name } => {
            let server = client
                .call(Method::GET, &["api", "servers", checked_ref(name)?], None)
                .await?;
            if json {
                pretty(&server)?
            } else {
                render_show(&server, now, color)
            }
        }
        ServerCommand::Start { name } => action(&client, json, name, "start", "started").await?,
        ServerCommand::Stop { name } => action(&client, json, name, "stop", "stopped").await?,
        ServerCommand::Restart { name } => {
            action(&client, json, name, "restart", "restarted").await?
        }
        ServerCommand::Reload => {
            let report = client
                .call(Method::POST, &["api", "system", "reload"], None)
                .await?;
            if json {
                pretty(&report)?
            } else {
                render_reload(&report)
            }
        }
        ServerCommand::Rm { name } => {
            let server = client
                .call(
                    Method::DELETE,
                    &["api", "servers", checked_ref(name)?],
                    None,
                )
                .await?;
            if json {
                pretty(&server)?
            } else {
                format!("removed {}\n", printable(str_field(&server, "name"), false))
            }
        }
    };
    Ok(output)
}

/// `POST /api/servers/{ref}/{verb}` and its one-line report.
async fn action(
    client: &Client,
    json: bool,
    name: &str,
    verb: &str,
    done: &str,
) -> Result<String, Failure> {
    let server = client
        .call(
            Method::POST,
            &["api", "servers", checked_ref(name)?, verb],
            None,
        )
        .await?;
    if json {
        return pretty(&server);
    }
    Ok(format!(
        "{done} {} (status: {})\n",
        printable(str_field(&server, "name"), false),
        str_field(&server, "status")
    ))
}

/// `health NAME`: the current state, the summaries and the last hour's checks, as text or
/// as one JSON object `{health, summary, history}`.
async fn health(args: &HealthArgs) -> Result<String, Failure> {
    let session = Session::new(&args.api)?;
    let client = &session.client;
    let current = client
        .call(
            Method::GET,
            &["api", "servers", checked_ref(&args.name)?, "health"],
            None,
        )
        .await?;
    // The rest by id, so a rename in between cannot mix two servers.
    let server = current
        .get("id")
        .and_then(Value::as_str)
        .filter(|id| checked_ref(id).is_ok())
        .unwrap_or(&args.name);
    let summary_path = ["api", "servers", server, "health", "summary"];
    let (summary, history) = tokio::try_join!(
        client.call(Method::GET, &summary_path, None),
        last_hour(client, server),
    )?;
    if session.json {
        let mut all = Map::new();
        all.insert("health".into(), current);
        all.insert("summary".into(), summary);
        all.insert("history".into(), Value::Array(history));
        return pretty(&Value::Object(all));
    }
    Ok(render_health(
        &current,
        &summary,
        &history,
        session.now,
        session.color,
    ))
}

/// Every check of the last hour, oldest first, read page by page.
async fn last_hour(client: &Client, server: &str) -> Result<Vec<Value>, Failure> {
    let segments = ["api", "servers", server, "health", "history"];
    let mut checks = Vec::new();
    let mut cursor: Option<i64> = None;
    for _ in 0..HISTORY_PAGES {
        let mut query = vec![
            ("range", "1h".to_string()),
            ("limit", HISTORY_PAGE.to_string()),
        ];
        if let Some(cursor) = cursor {
            query.push(("cursor", cursor.to_string()));
        }
        let (data, next) = client.page(&segments, &query).await?;
        let Value::Array(page) = data else {
            return Err(Failure::Api(
                "unexpected answer from the daemon: the health history is not a list".into(),
            ));
        };
        checks.extend(page);
        match next {
            // A cursor that does not move on would loop forever.
            Some(next) if cursor.is_none_or(|c| next > c) => cursor = Some(next),
            _ => break,
        }
    }
    Ok(checks)
}

/// A server reference as a path segment: `.` and `..` would vanish from the URL.
fn checked_ref(name: &str) -> Result<&str, Failure> {
    if name.is_empty() || name == "." || name == ".." {
        return Err(Failure::Api(format!(
            "`{name}` is not a valid server name or id"
        )));
    }
    Ok(name)
}

/// Writes to stdout, ignoring a closed pipe (`mcp-manager server ls | head`).
fn emit(text: &str) {
    let mut stdout = std::io::stdout().lock();
    let _ = stdout.write_all(text.as_bytes());
    let _ = stdout.flush();
}

fn pretty(value: &Value) -> Result<String, Failure> {
    serde_json::to_string_pretty(value)
        .map(|s| s + "\n")
        .map_err(|e| Failure::Api(format!("cannot format the response: {e}")))
}

/// The body of `POST /api/servers`, with only the fields the user gave.
fn add_body(add: &AddArgs) -> Result<Value, Failure> {
    let mut body = Map::new();
    body.insert("name".into(), add.name.clone().into());
    if let Some(kind) = add.kind {
        body.insert("type".into(), kind.as_str().into());
    }
    if let Some(transport) = add.transport {
        body.insert("transport".into(), transport.as_str().into());
    }
    let strings = |words: &[String]| -> Value {
        Value::Array(words.iter().map(|w| Value::String(w.clone())).collect())
    };
    if add.is_container() {
        // Like `docker run [--entrypoint CMD] IMAGE [ARGS...]`.
        if let Some(image) = &add.image {
            body.insert("image".into(), image.clone().into());
        }
        if let Some(entrypoint) = &add.entrypoint {
            body.insert("command".into(), entrypoint.clone().into());
        }
        if !add.command.is_empty() {
            body.insert("args".into(), strings(&add.command));
        }
    } else if let Some((program, rest)) = add.command.split_first() {
        body.insert("command".into(), program.clone().into());
        if !rest.is_empty() {
            body.insert("args".into(), strings(rest));
        }
    }
    if let Some(cwd) = &add.cwd {
        // A container's directory is inside it (checked absolute by clap): sent as given.
        let dir = if add.is_container() {
            cwd.clone()
        } else {
            std::path::absolute(cwd)
                .map_err(|e| Failure::Api(format!("cannot resolve --cwd {}: {e}", cwd.display())))?
        };
        let Some(dir) = dir.to_str() else {
            return Err(Failure::Api(format!(
                "--cwd {} is not valid UTF-8",
                dir.display()
            )));
        };
        body.insert("working_directory".into(), dir.into());
    }
    if !add.env.is_empty() {
        body.insert("env".into(), string_map(&add.env));
    }
    if !add.secret_env.is_empty() {
        body.insert("secret_env".into(), string_map(&add.secret_env));
    }
    if let Some(port) = add.port {
        body.insert("port".into(), port.into());
    }
    if let Some(url) = &add.server_url {
        body.insert("url".into(), url.clone().into());
    }
    if let Some(path) = &add.health_endpoint {
        body.insert("health_endpoint".into(), path.clone().into());
    }
    if let Some(policy) = add.restart {
        body.insert("restart_policy".into(), policy.as_str().into());
    }
    if let Some(secs) = add.start_timeout {
        body.insert("start_timeout_secs".into(), secs.into());
    }
    if let Some(secs) = add.stop_grace {
        body.insert("stop_grace_secs".into(), secs.into());
    }
    if !add.publish.is_empty() {
        body.insert(
            "ports".into(),
            Value::Array(add.publish.iter().map(Publish::to_json).collect()),
        );
    }
    if let Some(mb) = add.memory_mb {
        body.insert("memory_mb".into(), mb.into());
    }
    if let Some(cpus) = add.cpus {
        body.insert("cpus".into(), cpus.into());
    }
    if add.no_expose {
        body.insert("exposed".into(), false.into());
    }
    if add.start_on_demand {
        body.insert("start_on_demand".into(), true.into());
    }
    if !add.allow_tool.is_empty() || !add.deny_tool.is_empty() {
        body.insert(
            "tools".into(),
            serde_json::json!({"allow": add.allow_tool, "deny": add.deny_tool}),
        );
    }
    if let Some(isolation) = add.isolation {
        body.insert("isolation".into(), isolation.as_str().into());
    }
    if add.start {
        body.insert("start".into(), true.into());
    }
    Ok(Value::Object(body))
}

/// `KEY=VALUE` pairs as a JSON object; a repeated key keeps its last value.
fn string_map(pairs: &[(String, String)]) -> Value {
    let map: BTreeMap<&str, &str> = pairs
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    Value::Object(
        map.into_iter()
            .map(|(k, v)| (k.to_string(), Value::String(v.to_string())))
            .collect(),
    )
}

/// A thin HTTP client for the daemon's API.
struct Client {
    http: reqwest::Client,
    base: Url,
    /// The daemon URL as the user gave it, for messages.
    shown: String,
    token: Option<String>,
}

impl Client {
    fn new(url: &str, token: Option<&str>) -> Result<Client, Failure> {
        Client::build(url, token, false)
    }

    /// A client for long answers (log exports, long histories): no limit on a whole
    /// request, only on each wait for more of it.
    fn streaming(url: &str, token: Option<&str>) -> Result<Client, Failure> {
        Client::build(url, token, true)
    }

    fn build(url: &str, token: Option<&str>, streaming: bool) -> Result<Client, Failure> {
        let shown = url.trim().to_string();
        let base = Url::parse(&shown)
            .map_err(|e| Failure::Api(format!("invalid daemon URL `{url}`: {e}")))?;
        if base.scheme() != "http" {
            return Err(Failure::Api(format!(
                "invalid daemon URL `{url}`: only http:// is supported"
            )));
        }
        let builder = reqwest::Client::builder().connect_timeout(CONNECT_TIMEOUT);
        let builder = if streaming {
            builder.read_timeout(REQUEST_TIMEOUT)
        } else {
            builder.timeout(REQUEST_TIMEOUT)
        };
        let http = builder
            .user_agent(concat!("mcp-manager-cli/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| Failure::Api(format!("cannot set up the HTTP client: {e}")))?;
        Ok(Client {
            http,
            base,
            shown,
            token: token.map(str::to_string),
        })
    }

    /// The base URL with `segments` appended, each percent-encoded as one path segment.
    fn endpoint(&self, segments: &[&str]) -> Result<Url, Failure> {
        let mut url = self.base.clone();
        url.set_query(None);
        url.set_fragment(None);
        url.path_segments_mut()
            .map_err(|()| Failure::Api(format!("invalid daemon URL `{}`", self.shown)))?
            .pop_if_empty()
            .extend(segments);
        Ok(url)
    }

    /// The WebSocket URL (`ws://`) of `segments`.
    fn ws_endpoint(&self, segments: &[&str]) -> Result<Url, Failure> {
        let mut url = self.endpoint(segments)?;
        url.set_scheme("ws")
            .map_err(|()| Failure::Api(format!("invalid daemon URL `{}`", self.shown)))?;
        Ok(url)
    }

    /// `GET` whose successful answer is read piece by piece with [`Client::chunk`].
    async fn stream(
        &self,
        segments: &[&str],
        query: &[(&str, String)],
    ) -> Result<reqwest::Response, Failure> {
        let mut url = self.endpoint(segments)?;
        url.query_pairs_mut().extend_pairs(query);
        let mut request = self.http.get(url);
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.map_err(|e| self.send_failure(&e))?;
        let status = response.status();
        if status.is_success() {
            return Ok(response);
        }
        let bytes = response.bytes().await.map_err(|e| self.send_failure(&e))?;
        Err(self.refusal(status, &bytes))
    }

    /// The next piece of a streamed answer; `None` at its end.
    async fn chunk(&self, response: &mut reqwest::Response) -> Result<Option<Bytes>, Failure> {
        response.chunk().await.map_err(|e| {
            Failure::Unreachable(format!(
                "lost the connection to the daemon at {} mid-answer: {}",
                self.shown,
                root_cause(&e)
            ))
        })
    }

    /// Sends one request and returns the `data` of a successful answer.
    async fn call(
        &self,
        method: Method,
        segments: &[&str],
        body: Option<&Value>,
    ) -> Result<Value, Failure> {
        let url = self.endpoint(segments)?;
        self.send(method, url, body).await.map(|(data, _)| data)
    }

    /// `GET` of one page of a list: its `data` and the answer's `next_cursor`.
    async fn page(
        &self,
        segments: &[&str],
        query: &[(&str, String)],
    ) -> Result<(Value, Option<i64>), Failure> {
        let mut url = self.endpoint(segments)?;
        url.query_pairs_mut().extend_pairs(query);
        let (data, mut rest) = self.send(Method::GET, url, None).await?;
        let cursor = rest.remove("next_cursor").and_then(|c| c.as_i64());
        Ok((data, cursor))
    }

    /// Sends one request: the `data` of a successful answer and the rest of its fields, or
    /// the failure (the one place where answers and errors are interpreted).
    async fn send(
        &self,
        method: Method,
        url: Url,
        body: Option<&Value>,
    ) -> Result<(Value, Map<String, Value>), Failure> {
        let mut request = self.http.request(method, url.clone());
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request.send().await.map_err(|e| self.send_failure(&e))?;
        let status = response.status();
        let bytes = response.bytes().await.map_err(|e| self.send_failure(&e))?;
        if status.is_success() {
            let parsed: Value = serde_json::from_slice(&bytes).map_err(|_| {
                Failure::Api(format!(
                    "unexpected answer from {url} (HTTP {status}, not JSON) — is this an mcp-manager daemon?"
                ))
            })?;
            match parsed {
                Value::Object(mut map) => match map.remove("data") {
                    Some(data) => Ok((data, map)),
                    None => Err(Failure::Api(format!(
                        "unexpected answer from {url}: no `data` field"
                    ))),
                },
                _ => Err(Failure::Api(format!(
                    "unexpected answer from {url}: not a JSON object"
                ))),
            }
        } else {
            Err(self.refusal(status, &bytes))
        }
    }

    /// The failure an error answer stands for.
    fn refusal(&self, status: StatusCode, body: &[u8]) -> Failure {
        let mut message = error_message(status, body);
        if status == StatusCode::UNAUTHORIZED && self.token.is_none() {
            message.push_str(" (pass --token or set MCP_MANAGER_TOKEN)");
        }
        Failure::Api(message)
    }

    fn send_failure(&self, error: &reqwest::Error) -> Failure {
        let cause = root_cause(error);
        if error.is_connect() || error.is_timeout() {
            Failure::Unreachable(format!(
                "cannot reach the daemon at {}: {cause} (is `mcp-manager serve` running?)",
                self.shown
            ))
        } else {
            Failure::Api(format!(
                "request to the daemon at {} failed: {cause}",
                self.shown
            ))
        }
    }
}

/// The innermost cause of an error, e.g. `Connection refused (os error 111)`.
fn root_cause(error: &(dyn std::error::Error + 'static)) -> String {
    let mut current = error;
    while let Some(source) = current.source() {
        current = source;
    }
    current.to_string()
}

/// The message of an error answer: `error.message` of the API's JSON, or a generic line.
fn error_message(status: StatusCode, body: &[u8]) -> String {
    if let Ok(value) = serde_json::from_slice::<Value>(body)
        && let Some(message) = value.pointer("/error/message").and_then(Value::as_str)
    {
        return message.to_string();
    }
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    if text.is_empty() {
        format!("the daemon answered HTTP {status}")
    } else {
        format!(
            "the daemon answered HTTP {status}: {}",
            printable(&truncate(text, 200), false)
        )
    }
}

// ---------------------------------------------------------------------------------------
// Output
// ---------------------------------------------------------------------------------------

fn str_field<'a>(value: &'a Value, key: &str) -> &'a str {
    value.get(key).and_then(Value::as_str).unwrap_or("-")
}

fn time_field(value: &Value, key: &str) -> Option<DateTime<Utc>> {
    let text = value.get(key)?.as_str()?;
    DateTime::parse_from_rfc3339(text)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// `42s`, `3m12s`, `2h05m`, `3d04h`.
fn format_duration(secs: i64) -> String {
    let secs = secs.max(0);
    if secs < 60 {
        format!("{secs}s")
    } else if secs < 3600 {
        format!("{}m{:02}s", secs / 60, secs % 60)
    } else if secs < 86_400 {
        format!("{}h{:02}m", secs / 3600, (secs % 3600) / 60)
    } else {
        format!("{}d{:02}h", secs / 86_400, (secs % 86_400) / 3600)
    }
}

/// How long a running server has been up, or `-`.
fn uptime(server: &Value, now: DateTime<Utc>) -> String {
    if str_field(server, "status") != "running" {
        return "-".to_string();
    }
    match time_field(server, "status_since") {
        Some(since) => format_duration((now - since).num_seconds()),
        None => "-".to_string(),
    }
}

/// A local timestamp for humans.
fn format_time(t: DateTime<Utc>) -> String {
    t.with_timezone(&Local)
        .format("%Y-%m-%d %H:%M:%S")
        .to_string()
}

fn is_container(server: &Value) -> bool {
    str_field(server, "type") == "container"
}

/// A container's published ports, docker style: `127.0.0.1:18080->8080`.
fn format_ports(ports: &[Value]) -> String {
    ports
        .iter()
        .filter_map(|p| {
            let container = p.get("container_port")?.as_u64()?;
            let host = p
                .get("host_port")
                .and_then(Value::as_u64)
                .unwrap_or(container);
            let ip = printable(
                p.get("host_ip")
                    .and_then(Value::as_str)
                    .unwrap_or("127.0.0.1"),
                false,
            );
            let ip = if ip.contains(':') {
                format!("[{ip}]")
            } else {
                ip
            };
            Some(format!("{ip}:{host}->{container}"))
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// The command line for display: command and shell-quoted args.
fn command_line(server: &Value) -> String {
    let mut words: Vec<String> = Vec::new();
    if let Some(command) = server.get("command").and_then(Value::as_str) {
        words.push(shell_quote(command));
    }
    if let Some(args) = server.get("args").and_then(Value::as_array) {
        words.extend(args.iter().filter_map(Value::as_str).map(shell_quote));
    }
    if words.is_empty() {
        "-".to_string()
    } else {
        words.join(" ")
    }
}

/// Quotes a word the way a POSIX shell would need it (display only).
fn shell_quote(word: &str) -> String {
    let safe = |c: char| c.is_ascii_alphanumeric() || "@%+=:,./_-".contains(c);
    if !word.is_empty() && word.chars().all(safe) {
        return word.to_string();
    }
    if word.chars().any(char::is_control) {
        let mut out = String::from("$'");
        for c in word.chars() {
            match c {
                '\n' => out.push_str("\\n"),
                '\t' => out.push_str("\\t"),
                '\r' => out.push_str("\\r"),
                '\\' => out.push_str("\\\\"),
                '\'' => out.push_str("\\'"),
                c if c.is_control() && (c as u32) < 0x80 => {
                    out.push_str(&format!("\\x{:02x}", c as u32));
                }
                c if c.is_control() => out.push_str(&format!("\\u{:04x}", c as u32)),
                c => out.push(c),
            }
        }
        out.push('\'');
        return out;
    }
    format!("'{}'", word.replace('\'', r"'\''"))
}

/// Escapes control characters (terminal escapes included) so daemon-supplied text cannot
/// mess up the terminal or the layout; newlines are kept when `keep_newlines`.
fn printable(text: &str, keep_newlines: bool) -> String {
    text.chars()
        .map(|c| match c {
            '\n' if keep_newlines => "\n".to_string(),
            c if c.is_control() => c.escape_default().to_string(),
            c => c.to_string(),
        })
        .collect()
}

/// Cuts `text` to `max` characters, ending with `…` when cut.
fn truncate(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let mut cut: String = text.chars().take(max.saturating_sub(1)).collect();
    cut.push('…');
    cut
}

/// The colour of a server status or a health state.
fn status_color(status: &str) -> Option<&'static str> {
    match status {
        "running" | "healthy" => Some("\x1b[32m"),
        "failed" | "unhealthy" => Some("\x1b[31m"),
        "backoff" | "starting" | "stopping" => Some("\x1b[33m"),
        _ => None,
    }
}

fn paint(text: &str, status: &str, color: bool) -> String {
    match status_color(status) {
        Some(code) if color => format!("{code}{text}\x1b[0m"),
        _ => text.to_string(),
    }
}

/// The `list` table: aligned columns, two spaces apart, no trailing blanks.
fn render_table(servers: &[Value], now: DateTime<Utc>, color: bool) -> String {
    const HEADER: [&str; 7] = [
        "NAME", "TYPE", "STATUS", "PID", "RESTARTS", "UPTIME", "COMMAND",
    ];
    const STATUS: usize = 2;
    let rows: Vec<[String; 7]> = servers
        .iter()
        .map(|s| {
            [
                printable(str_field(s, "name"), false),
                printable(str_field(s, "type"), false),
                printable(str_field(s, "status"), false),
                if is_container(s) {
                    "-".to_string()
                } else {
                    s.get("process_id")
                        .and_then(Value::as_u64)
                        .map_or("-".to_string(), |p| p.to_string())
                },
                s.get("restart_count")
                    .and_then(Value::as_u64)
                    .map_or("-".to_string(), |n| n.to_string()),
                uptime(s, now),
                if is_container(s) {
                    truncate(&printable(str_field(s, "image"), false), COMMAND_WIDTH)
                } else {
                    truncate(&command_line(s), COMMAND_WIDTH)
                },
            ]
        })
        .collect();
    let mut widths = HEADER.map(|h| h.chars().count());
    for row in &rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let header = HEADER.map(str::to_string);
    for (index, row) in std::iter::once(&header).chain(&rows).enumerate() {
        let mut line = String::new();
        for (column, cell) in row.iter().enumerate() {
            if column > 0 {
                line.push_str("  ");
            }
            let pad = widths[column].saturating_sub(cell.chars().count());
            if column == STATUS && index > 0 {
                line.push_str(&paint(cell, cell, color));
            } else {
                line.push_str(cell);
            }
            if column + 1 < row.len() {
                line.push_str(&" ".repeat(pad));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

fn signal_name(signal: i64) -> Option<&'static str> {
    Some(match signal {
        1 => "SIGHUP",
        2 => "SIGINT",
        3 => "SIGQUIT",
        4 => "SIGILL",
        6 => "SIGABRT",
        7 => "SIGBUS",
        8 => "SIGFPE",
        9 => "SIGKILL",
        11 => "SIGSEGV",
        13 => "SIGPIPE",
        14 => "SIGALRM",
        15 => "SIGTERM",
        _ => return None,
    })
}

/// One line per server of a reload: `NAME  OUTCOME`, with the error of one that failed.
fn render_reload(report: &Value) -> String {
    let mut out = format!(
        "servers file {} applied\n",
        printable(str_field(report, "file"), false)
    );
    let servers = report["servers"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default();
    let width = servers
        .iter()
        .map(|s| str_field(s, "name").chars().count())
        .max()
        .unwrap_or(0);
    for s in servers {
        let name = printable(str_field(s, "name"), false);
        let outcome = str_field(s, "outcome").replace('_', " ");
        out.push_str(&format!("  {name:<width$}  {outcome}"));
        if let Some(e) = s["error"].as_str() {
            out.push_str(&format!(": {}", printable(e, false)));
        }
        out.push('\n');
    }
    out
}

/// `exited with code 3 at …` / `killed by signal 9 (SIGKILL) at …`.
fn describe_exit(exit: &Value) -> Option<String> {
    if !exit.is_object() {
        return None;
    }
    let at = time_field(exit, "at")
        .map(|t| format!(" at {}", format_time(t)))
        .unwrap_or_default();
    if let Some(signal) = exit.get("signal").and_then(Value::as_i64) {
        let name = signal_name(signal)
            .map(|n| format!(" ({n})"))
            .unwrap_or_default();
        return Some(format!("killed by signal {signal}{name}{at}"));
    }
    if let Some(code) = exit.get("code").and_then(Value::as_i64) {
        return Some(format!("exited with code {code}{at}"));
    }
    Some(format!("exited{at}"))
}

/// How clients reach the server through the gateway: exposed or not, on demand,
/// isolation, and the tool filter (one line each for allow and deny).
fn gateway_line(server: &Value) -> String {
    let flag =
        |key: &str, default: bool| server.get(key).and_then(Value::as_bool).unwrap_or(default);
    let mut parts = vec![if flag("exposed", true) {
        "exposed".to_string()
    } else {
        "not exposed".to_string()
    }];
    if flag("start_on_demand", false) {
        parts.push("starts on demand".into());
    }
    if let Some(isolation) = server.get("isolation").and_then(Value::as_str) {
        parts.push(format!("isolation {}", printable(isolation, false)));
    }
    let mut out = parts.join(", ");
    for which in ["allow", "deny"] {
        let patterns: Vec<String> = server
            .pointer(&format!("/tools/{which}"))
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .map(|p| printable(p, false))
            .collect();
        if !patterns.is_empty() {
            out.push_str(&format!("\n{which} tools: {}", patterns.join(" ")));
        }
    }
    out
}

/// The `show` details: one `key: value` line per item, continuation lines indented.
fn render_show(server: &Value, now: DateTime<Utc>, color: bool) -> String {
    let mut lines: Vec<(&str, String)> = Vec::new();
    lines.push(("name", printable(str_field(server, "name"), false)));
    lines.push(("id", printable(str_field(server, "id"), false)));
    lines.push((
        "type",
        format!(
            "{} ({})",
            printable(str_field(server, "type"), false),
            printable(str_field(server, "transport"), false)
        ),
    ));
    let container = is_container(server);
    if container {
        lines.push(("image", printable(str_field(server, "image"), false)));
        if let Some(entrypoint) = server.get("command").and_then(Value::as_str) {
            lines.push(("entrypoint", shell_quote(entrypoint)));
        }
        if let Some(args) = server
            .get("args")
            .and_then(Value::as_array)
            .filter(|a| !a.is_empty())
        {
            let words: Vec<String> = args
                .iter()
                .filter_map(Value::as_str)
                .map(shell_quote)
                .collect();
            lines.push(("args", words.join(" ")));
        }
    } else {
        lines.push(("command", command_line(server)));
    }
    if let Some(cwd) = server.get("working_directory").and_then(Value::as_str) {
        lines.push(("cwd", printable(cwd, false)));
    }
    if let Some(port) = server.get("port").and_then(Value::as_u64) {
        lines.push(("port", port.to_string()));
    }
    if let Some(url) = server.get("url").and_then(Value::as_str) {
        lines.push(("url", printable(url, false)));
    }
    if let Some(path) = server.get("health_endpoint").and_then(Value::as_str) {
        lines.push(("health endpoint", printable(path, false)));
    }
    if let Some(ports) = server
        .get("ports")
        .and_then(Value::as_array)
        .filter(|p| !p.is_empty())
    {
        lines.push(("ports", format_ports(ports)));
    }
    if let Some(mb) = server.get("memory_mb").and_then(Value::as_u64) {
        lines.push(("memory limit", format!("{mb} MiB")));
    }
    if let Some(cpus) = server.get("cpus").and_then(Value::as_f64) {
        lines.push(("cpu limit", format!("{cpus} CPUs")));
    }
    if let Some(env) = server
        .get("env")
        .and_then(Value::as_object)
        .filter(|e| !e.is_empty())
    {
        let pairs: Vec<String> = env
            .iter()
            .map(|(k, v)| {
                let value = v.as_str().map_or_else(|| v.to_string(), shell_quote);
                format!("{}={value}", printable(k, false))
            })
            .collect();
        lines.push(("env", pairs.join("\n")));
    }
    if let Some(secrets) = server
        .get("secret_env")
        .and_then(Value::as_array)
        .filter(|s| !s.is_empty())
    {
        let names: Vec<String> = secrets
            .iter()
            .filter_map(Value::as_str)
            .map(|k| format!("{}=<hidden>", printable(k, false)))
            .collect();
        lines.push(("secret env", names.join("\n")));
    }
    lines.push((
        "restart policy",
        printable(str_field(server, "restart_policy"), false),
    ));
    lines.push((
        "desired state",
        printable(str_field(server, "desired_state"), false),
    ));
    lines.push(("gateway", gateway_line(server)));

    let status = str_field(server, "status");
    let mut status_line = paint(&printable(status, false), status, color);
    if let Some(since) = time_field(server, "status_since") {
        status_line.push_str(&format!(
            " since {} ({} ago)",
            format_time(since),
            format_duration((now - since).num_seconds())
        ));
    }
    if let Some(next) = time_field(server, "next_start_at") {
        status_line.push_str(&format!(
            "\nnext start at {} (in {})",
            format_time(next),
            format_duration((next - now).num_seconds())
        ));
    }
    lines.push(("status", status_line));
    if let Some(health) = server
        .get("health_status")
        .and_then(Value::as_str)
        .filter(|h| !h.is_empty())
    {
        let mut text = printable(health, false);
        if let Some(checked) = time_field(server, "last_health_check") {
            text.push_str(&format!(" (checked {})", format_time(checked)));
        }
        lines.push(("health", text));
    }
    if container {
        lines.push((
            "container id",
            server
                .get("container_id")
                .and_then(Value::as_str)
                .filter(|c| !c.is_empty())
                .map_or("-".to_string(), |c| {
                    printable(&c.chars().take(12).collect::<String>(), false)
                }),
        ));
    } else {
        lines.push((
            "pid",
            server
                .get("process_id")
                .and_then(Value::as_u64)
                .map_or("-".to_string(), |p| p.to_string()),
        ));
    }
    lines.push((
        "restarts",
        server
            .get("restart_count")
            .and_then(Value::as_u64)
            .map_or("-".to_string(), |n| n.to_string()),
    ));
    if let Some(exit) = server.get("last_exit").and_then(describe_exit) {
        lines.push(("last exit", exit));
    }
    if let Some(error) = server
        .get("last_error")
        .and_then(Value::as_str)
        .filter(|e| !e.is_empty())
    {
        lines.push(("last error", printable(error, true)));
    }

    let width = lines.iter().map(|(k, _)| k.len()).max().unwrap_or(0) + 2;
    let mut out = String::new();
    for (key, value) in lines {
        for (i, part) in value.split('\n').enumerate() {
            let label = if i == 0 {
                format!("{key}:")
            } else {
                String::new()
            };
            out.push_str(format!("{label:<width$}{part}").trim_end());
            out.push('\n');
        }
    }
    out
}

/// `30s`, `0.2s`, `1m30s`: a health interval.
fn format_interval(secs: f64) -> String {
    if secs >= 1.0 && secs.fract() == 0.0 {
        format_duration(secs as i64)
    } else {
        format!("{secs}s")
    }
}

/// The first line of `health`: state, status, and how (or why not) it is checked.
fn health_headline(health: &Value, now: DateTime<Utc>, color: bool) -> String {
    let state = str_field(health, "health");
    let status = str_field(health, "status");
    let mut line = format!(
        "{}: {} ({})",
        printable(str_field(health, "name"), false),
        paint(&printable(state, false), state, color),
        paint(&printable(status, false), status, color),
    );
    let monitored = health.get("monitored").and_then(Value::as_bool) == Some(true);
    if monitored {
        if let Some(secs) = health
            .pointer("/settings/interval_secs")
            .and_then(Value::as_f64)
        {
            line.push_str(&format!(", checked every {}", format_interval(secs)));
        }
    } else if status == "running" {
        line.push_str(", not monitored");
    } else {
        line.push_str(&format!(
            ", not monitored: the server is {}",
            printable(status, false)
        ));
    }
    match time_field(health, "last_health_check") {
        Some(at) => line.push_str(&format!(
            ", last check {} ago",
            format_duration((now - at).num_seconds())
        )),
        None if monitored => line.push_str(", no check yet"),
        None => {}
    }
    line.push('\n');
    line
}

/// The cells of one summary line: uptime, checks, response times.
fn summary_cells(summary: &Value) -> Vec<String> {
    let count = |key: &str| summary.get(key).and_then(Value::as_u64).unwrap_or(0);
    let total = count("total_checks");
    if total == 0 {
        return vec!["no checks".to_string()];
    }
    let uptime = match summary.get("uptime_percent").and_then(Value::as_f64) {
        // Rounded down: 99.999% of healthy checks is not 100%.
        Some(percent) => format!("uptime {:.2}%", (percent * 100.0).floor() / 100.0),
        None => "uptime -".to_string(),
    };
    let mut cells = vec![
        uptime,
        format!(
            "{total} check{} ({} unhealthy)",
            if total == 1 { "" } else { "s" },
            count("unhealthy_checks")
        ),
    ];
    if let Some(avg) = summary.get("avg_response_time_ms").and_then(Value::as_f64) {
        cells.push(format!("avg {avg:.1} ms"));
    }
    if let Some(p95) = summary.get("p95_response_time_ms").and_then(Value::as_i64) {
        cells.push(format!("p95 {p95} ms"));
    }
    cells
}

/// One cell per check (the newest [`SPARK_CELLS`], newest right): the response time relative
/// to the slowest one shown, or a failed check as `x` (a red `✗` in colour).
fn sparkline(checks: &[Value], color: bool) -> String {
    let shown = &checks[checks.len().saturating_sub(SPARK_CELLS)..];
    let healthy = |check: &Value| check.get("status").and_then(Value::as_str) == Some("healthy");
    let time = |check: &Value| check.get("response_time_ms").and_then(Value::as_f64);
    let max = shown
        .iter()
        .filter(|c| healthy(c))
        .filter_map(time)
        .fold(0.0, f64::max);
    shown
        .iter()
        .map(|check| {
            if !healthy(check) {
                return if color {
                    paint("✗", "unhealthy", true)
                } else {
                    "x".to_string()
                };
            }
            let top = SPARK_LEVELS.len() - 1;
            let level = match time(check) {
                Some(t) if max > 0.0 => ((t.max(0.0) / max) * top as f64).round() as usize,
                _ => 0,
            };
            SPARK_LEVELS[level.min(top)].to_string()
        })
        .collect()
}

/// The text of `health NAME`.
fn render_health(
    health: &Value,
    summary: &Value,
    history: &[Value],
    now: DateTime<Utc>,
    color: bool,
) -> String {
    const WINDOWS: [&str; 3] = ["24h", "7d", "30d"];
    let mut out = health_headline(health, now, color);
    let windows: Vec<&Value> = WINDOWS
        .iter()
        .filter_map(|w| summary.get(*w).filter(|s| s.is_object()))
        .collect();
    let ever_checked = !history.is_empty()
        || windows
            .iter()
            .any(|s| s.get("total_checks").and_then(Value::as_u64).unwrap_or(0) > 0);
    if !ever_checked {
        let monitored = health.get("monitored").and_then(Value::as_bool) == Some(true);
        out.push_str(&match str_field(health, "status") {
            _ if monitored => "  no checks yet: the first one comes within an interval\n".into(),
            "stopped" | "failed" => format!(
                "  no checks yet: servers are checked only while running \
                 (start it with: mcp-manager server start {})\n",
                shell_quote(str_field(health, "name"))
            ),
            _ => "  no checks yet: servers are checked only while running\n".to_string(),
        });
        return out;
    }

    // The summaries, columns aligned across the windows.
    let rows: Vec<(&str, Vec<String>)> = WINDOWS
        .iter()
        .filter_map(|w| {
            let s = summary.get(*w).filter(|s| s.is_object())?;
            Some((*w, summary_cells(s)))
        })
        .collect();
    let mut widths: Vec<usize> = Vec::new();
    for (_, cells) in &rows {
        for (i, cell) in cells.iter().enumerate() {
            let len = cell.chars().count();
            match widths.get_mut(i) {
                Some(w) => *w = (*w).max(len),
                None => widths.push(len),
            }
        }
    }
    let label_width = rows.iter().map(|(l, _)| l.len()).max().unwrap_or(0);
    for (label, cells) in &rows {
        let mut line = format!("  {label:<label_width$}");
        for (cell, width) in cells.iter().zip(&widths) {
            line.push_str(&format!("  {cell:<width$}"));
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }

    if history.is_empty() {
        out.push_str("  last hour  no checks\n");
    } else {
        out.push_str(&format!("  last hour  {}\n", sparkline(history, color)));
    }
    if let Some(streak) = ["30d", "7d", "24h"].iter().find_map(|w| {
        summary
            .get(*w)?
            .get("current_streak")
            .filter(|s| s.is_object())
    }) {
        let status = str_field(streak, "status");
        let checks = streak.get("checks").and_then(Value::as_u64).unwrap_or(0);
        out.push_str(&format!(
            "  streak: {checks} {} check{}\n",
            paint(&printable(status, false), status, color),
            if checks == 1 { "" } else { "s" }
        ));
    }
    if let Some(failed) = history
        .iter()
        .rev()
        .find(|c| c.get("status").and_then(Value::as_str) != Some("healthy"))
    {
        let error = failed
            .get("error")
            .and_then(Value::as_str)
            .filter(|e| !e.trim().is_empty())
            .map_or_else(|| "the check failed".to_string(), |e| printable(e, false));
        let ago = time_field(failed, "timestamp")
            .map(|at| format!(" ({} ago)", format_duration((now - at).num_seconds())))
            .unwrap_or_default();
        out.push_str(&format!("  last error: {error}{ago}\n"));
    }
    out
}

// ---------------------------------------------------------------------------------------
// logs NAME
// ---------------------------------------------------------------------------------------

/// Lines shown by `logs` without `-n` (and without `--since`).
const DEFAULT_LINES: usize = 100;
/// Lines asked for per page of logs (the API's maximum).
const LOG_PAGE: usize = 5000;
/// The first page of a catch-up: usually all that was missed.
const CATCH_UP_FIRST_PAGE: usize = 500;
/// A catch-up after a gap prints at most this many lines, the newest.
const CATCH_UP_MAX: usize = 100_000;
/// The largest WebSocket message accepted: a `logs:new` batch can hold thousands of lines
/// of up to 16 KiB each. A larger one ends the connection, and the reconnection catches up
/// over REST.
const MAX_FRAME: usize = 256 * 1024 * 1024;
/// The daemon pings every 10 s: this long without a frame means the connection is dead.
const SILENCE_LIMIT: Duration = Duration::from_secs(35);
/// The daemon does not acknowledge `subscribe_logs`: this long after sending it, a REST
/// catch-up covers lines written before the subscription took effect.
const SUBSCRIBE_SETTLE: Duration = Duration::from_millis(500);
/// Reconnection delays, doubling from the first to the last.
const RECONNECT_MIN: Duration = Duration::from_millis(250);
const RECONNECT_MAX: Duration = Duration::from_secs(5);

/// Show a server's log lines, or follow them live.
#[derive(Args, Debug)]
#[command(after_help = "\
Lines are printed oldest first as `TIME LEVEL SOURCE MESSAGE`, the time in local time with
milliseconds (`--utc`: RFC 3339 in UTC); `--json` prints each line as the API's JSON object,
one per line (NDJSON). Levels are debug < info < warn < error; sources are stdout, stderr,
system (the manager's own lines: spawned, exited, restarting) and mcp (MCP log messages).

Without `-n`, the newest 100 lines are shown; with `--since` and no `-n`, every line since
then (like journalctl). `--grep` is the API's full-text search: all words must appear (any
case), \"a phrase\" in quotes, `prefix*`; it is not a regular expression.

With `-f` the history is printed first, then new lines as they are written (same filters),
until Ctrl-C, the `--until` time, or the server's deletion (all exit 0). A lost connection to
the daemon is retried, and the lines written in the meantime are caught up.

`--export` streams every matching line (no `-n` limit) in the API's export format, to stdout
or to `--output FILE` (written in full or not at all).

Examples:
  mcp-manager logs time                      # the newest 100 lines
  mcp-manager logs time -f -n 20             # the newest 20, then follow
  mcp-manager logs time --level warn --since 1h
  mcp-manager logs time --source stderr,mcp --grep 'timeout conn*'
  mcp-manager logs time --since '2026-01-02 09:00' --until '2026-01-02 10:00'
  mcp-manager logs time --export csv --output time.csv")]
pub struct LogsArgs {
    #[command(flatten)]
    pub api: ApiArgs,
    /// Server name or id
    pub name: String,
    /// After the history, print new lines as they come (until Ctrl-C)
    #[arg(short, long)]
    pub follow: bool,
    /// Only lines at this level or above
    #[arg(long, value_enum, value_name = "LEVEL")]
    pub level: Option<LogLevel>,
    /// Only lines from these sources (comma-separated, or repeat the option)
    #[arg(long, value_enum, value_delimiter = ',', value_name = "SOURCE")]
    pub source: Vec<LogSource>,
    /// Only lines from this time on: RFC 3339, a local `YYYY-MM-DD[ HH:MM[:SS]]`, an age
    /// like `30s`, `15m`, `1h30m`, `2d`, `1w`, or `today`, `yesterday`, `now`
    #[arg(long, value_name = "WHEN", value_parser = parse_when)]
    pub since: Option<DateTime<Utc>>,
    /// Only lines before this time (same forms as --since); with -f, stop then
    #[arg(long, value_name = "WHEN", value_parser = parse_when)]
    pub until: Option<DateTime<Utc>>,
    /// Only lines with all these words, "a phrase", or prefix* (full-text search)
    #[arg(long, value_name = "TEXT")]
    pub grep: Option<String>,
    /// How many of the newest matching lines to show, or `all` [default: 100, or all with
    /// --since]
    #[arg(short = 'n', long, value_name = "N", value_parser = parse_line_count)]
    pub lines: Option<LineCount>,
    /// Write every matching line in this format instead (streamed, no line limit)
    #[arg(
        long,
        value_enum,
        value_name = "FORMAT",
        conflicts_with_all = ["follow", "lines", "json"]
    )]
    pub export: Option<ExportFormat>,
    /// With --export: write to FILE instead of stdout
    #[arg(short, long, value_name = "FILE", requires = "export")]
    pub output: Option<PathBuf>,
    /// Do not colour the level (colour is used only on a terminal and without NO_COLOR)
    #[arg(long)]
    pub no_color: bool,
    /// Print times as RFC 3339 in UTC instead of local time
    #[arg(long)]
    pub utc: bool,
}

/// The levels the daemon assigns, lowest first.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum LogLevel {
    Debug,
    Info,
    #[value(alias = "warning")]
    Warn,
    Error,
}

impl LogLevel {
    fn as_str(self) -> &'static str {
        match self {
            LogLevel::Debug => "debug",
            LogLevel::Info => "info",
            LogLevel::Warn => "warn",
            LogLevel::Error => "error",
        }
    }

    fn parse(text: &str) -> Option<LogLevel> {
        match text {
            "debug" => Some(LogLevel::Debug),
            "info" => Some(LogLevel::Info),
            "warn" => Some(LogLevel::Warn),
            "error" => Some(LogLevel::Error),
            _ => None,
        }
    }
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogSource {
    /// The server's stdout (lines that are not JSON-RPC)
    Stdout,
    /// The server's stderr
    Stderr,
    /// The manager's own lines about the server
    System,
    /// MCP log notifications
    Mcp,
}

impl LogSource {
    fn as_str(self) -> &'static str {
        match self {
            LogSource::Stdout => "stdout",
            LogSource::Stderr => "stderr",
            LogSource::System => "system",
            LogSource::Mcp => "mcp",
        }
    }
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExportFormat {
    /// One JSON array
    Json,
    /// One JSON object per line
    Ndjson,
    /// RFC 4180, with a header row
    Csv,
    /// `TIME LEVEL [SOURCE] MESSAGE`, UTC
    Txt,
}

impl ExportFormat {
    fn as_str(self) -> &'static str {
        match self {
            ExportFormat::Json => "json",
            ExportFormat::Ndjson => "ndjson",
            ExportFormat::Csv => "csv",
            ExportFormat::Txt => "txt",
        }
    }
}

/// `-n N` or `-n all`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LineCount {
    Last(usize),
    All,
}

fn parse_line_count(s: &str) -> Result<LineCount, String> {
    let text = s.trim();
    if text.eq_ignore_ascii_case("all") {
        return Ok(LineCount::All);
    }
    text.parse::<usize>()
        .map(LineCount::Last)
        .map_err(|_| format!("expected a number of lines or `all`, got `{s}`"))
}

/// `--since`/`--until`: an absolute time, or an age counted back from now.
fn parse_when(s: &str) -> Result<DateTime<Utc>, String> {
    parse_when_at(s, Utc::now())
}

fn parse_when_at(s: &str, now: DateTime<Utc>) -> Result<DateTime<Utc>, String> {
    use chrono::{NaiveDate, NaiveDateTime, NaiveTime, TimeZone};
    let text = s.trim();
    let local = |naive: NaiveDateTime| -> Result<DateTime<Utc>, String> {
        Local
            .from_local_datetime(&naive)
            .earliest()
            .map(|t| t.with_timezone(&Utc))
            .ok_or_else(|| format!("`{s}` does not exist in the local time zone"))
    };
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Ok(t.with_timezone(&Utc));
    }
    let today = now.with_timezone(&Local).date_naive();
    match text {
        "now" => return Ok(now),
        "today" => return local(today.and_time(NaiveTime::MIN)),
        "yesterday" => {
            let day = today.pred_opt().unwrap_or(today);
            return local(day.and_time(NaiveTime::MIN));
        }
        _ => {}
    }
    for format in [
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M",
        "%Y-%m-%dT%H:%M",
    ] {
        if let Ok(naive) = NaiveDateTime::parse_from_str(text, format) {
            return local(naive);
        }
    }
    if let Ok(day) = NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        return local(day.and_time(NaiveTime::MIN));
    }
    let age = text.strip_prefix('-').unwrap_or(text);
    let age = age.strip_suffix("ago").unwrap_or(age).trim();
    match parse_age(age) {
        Some(secs) => chrono::Duration::try_seconds(secs)
            .and_then(|d| now.checked_sub_signed(d))
            .ok_or_else(|| format!("`{s}` is too far back")),
        None => Err(format!(
            "expected RFC 3339 (2026-01-02T15:04:05Z), a local time (2026-01-02 15:04), an \
             age (30s, 15m, 1h30m, 2d, 1w), or today/yesterday/now; got `{s}`"
        )),
    }
}

/// `1h30m`, `90s`, `2d`, `1w` in seconds; `None` unless the whole text is such an age.
fn parse_age(text: &str) -> Option<i64> {
    let mut total: i64 = 0;
    let mut digits = String::new();
    let mut parts = 0;
    for c in text.chars() {
        if c.is_ascii_digit() {
            digits.push(c);
            continue;
        }
        let unit: i64 = match c {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            'd' => 86_400,
            'w' => 7 * 86_400,
            _ => return None,
        };
        let n: i64 = digits.parse().ok()?;
        digits.clear();
        total = total.checked_add(n.checked_mul(unit)?)?;
        parts += 1;
    }
    (digits.is_empty() && parts > 0).then_some(total)
}

/// The filters of `logs`: sent to the API as query parameters, and applied here to the
/// lines that arrive live.
#[derive(Debug, Default)]
struct LogFilter {
    level: Option<LogLevel>,
    sources: Vec<LogSource>,
    since: Option<DateTime<Utc>>,
    until: Option<DateTime<Utc>>,
    grep: Option<String>,
    /// `--grep` as the daemon's search, to check live lines the same way.
    search: Option<crate::db::logs::Search>,
}

impl LogFilter {
    fn new(args: &LogsArgs) -> LogFilter {
        let grep = args
            .grep
            .as_deref()
            .map(str::trim)
            .filter(|g| !g.is_empty())
            .map(str::to_string);
        LogFilter {
            level: args.level,
            sources: args.source.clone(),
            since: args.since,
            until: args.until,
            search: grep.as_deref().and_then(crate::db::logs::Search::parse),
            grep,
        }
    }

    fn is_empty(&self) -> bool {
        self.level.is_none()
            && self.sources.is_empty()
            && self.since.is_none()
            && self.until.is_none()
            && self.grep.is_none()
    }

    /// The endpoint under `/api/servers/{id}/` that answers pages of these lines.
    fn endpoint(&self) -> &'static [&'static str] {
        if self.is_empty() {
            &["logs"]
        } else {
            &["logs", "search"]
        }
    }

    /// The API's query parameters for these filters (times sent as absolute RFC 3339, so
    /// every page of a read means the same window).
    fn query(&self) -> Vec<(&'static str, String)> {
        let time = |t: DateTime<Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
        let mut query = Vec::new();
        if let Some(grep) = &self.grep {
            query.push(("q", grep.clone()));
        }
        if let Some(level) = self.level {
            query.push(("level", level.as_str().to_string()));
        }
        if !self.sources.is_empty() {
            let list: Vec<&str> = self.sources.iter().map(|s| s.as_str()).collect();
            query.push(("source", list.join(",")));
        }
        if let Some(since) = self.since {
            query.push(("since", time(since)));
        }
        if let Some(until) = self.until {
            query.push(("until", time(until)));
        }
        query
    }

    /// Whether a line (the API's JSON) passes the filters, as the API would judge it.
    fn matches(&self, entry: &Value) -> bool {
        if let Some(min) = self.level {
            match entry
                .get("level")
                .and_then(Value::as_str)
                .and_then(LogLevel::parse)
            {
                Some(level) if level >= min => {}
                _ => return false,
            }
        }
        if !self.sources.is_empty() {
            let source = entry.get("source").and_then(Value::as_str);
            if !self.sources.iter().any(|s| Some(s.as_str()) == source) {
                return false;
            }
        }
        if self.since.is_some() || self.until.is_some() {
            let Some(at) = time_field(entry, "timestamp") else {
                return false;
            };
            if self.since.is_some_and(|since| at < since) || self.until.is_some_and(|u| at >= u) {
                return false;
            }
        }
        if let Some(search) = &self.search
            && !search.matches(entry.get("message").and_then(Value::as_str).unwrap_or(""))
        {
            return false;
        }
        true
    }
}

/// A line's id (0 when missing).
fn entry_id(entry: &Value) -> i64 {
    entry.get("id").and_then(Value::as_i64).unwrap_or(0)
}

fn level_color(level: &str) -> Option<&'static str> {
    match level {
        "error" => Some("\x1b[31m"),
        "warn" => Some("\x1b[33m"),
        "info" => Some("\x1b[32m"),
        "debug" => Some("\x1b[90m"),
        _ => None,
    }
}

/// One line as `TIME LEVEL SOURCE MESSAGE`: local time with milliseconds, or RFC 3339 UTC.
fn render_entry(entry: &Value, color: bool, utc: bool) -> String {
    let time = match time_field(entry, "timestamp") {
        Some(t) if utc => t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        Some(t) => t
            .with_timezone(&Local)
            .format("%Y-%m-%d %H:%M:%S%.3f")
            .to_string(),
        None => "-".to_string(),
    };
    let level = str_field(entry, "level");
    let shown = printable(&level.to_uppercase(), false);
    let pad = " ".repeat(5usize.saturating_sub(shown.chars().count()));
    let level_cell = match level_color(level) {
        Some(code) if color => format!("{code}{shown}\x1b[0m{pad}"),
        _ => format!("{shown}{pad}"),
    };
    let source = printable(str_field(entry, "source"), false);
    let mut line = format!(
        "{time} {level_cell} {source:<6} {}",
        printable(str_field(entry, "message"), false)
    );
    if entry.get("truncated").and_then(Value::as_bool) == Some(true) {
        line.push_str(" [truncated]");
    }
    line.push('\n');
    line
}

/// Prints lines to stdout as text or NDJSON.
struct Printer {
    out: std::io::BufWriter<std::io::Stdout>,
    json: bool,
    color: bool,
    utc: bool,
}

impl Printer {
    fn print(&mut self, entry: &Value) -> Result<(), Failure> {
        let text = if self.json {
            let mut text = serde_json::to_string(entry)
                .map_err(|e| Failure::Api(format!("cannot format a log line: {e}")))?;
            text.push('\n');
            text
        } else {
            render_entry(entry, self.color, self.utc)
        };
        self.out.write_all(text.as_bytes()).map_err(output_failure)
    }

    fn flush(&mut self) -> Result<(), Failure> {
        self.out.flush().map_err(output_failure)
    }
}

/// A failed write to stdout: a closed pipe (`… | head`) ends the command quietly.
fn output_failure(error: std::io::Error) -> Failure {
    if error.kind() == std::io::ErrorKind::BrokenPipe {
        Failure::Closed
    } else {
        Failure::Api(format!("cannot write the output: {error}"))
    }
}

/// Runs `logs NAME`, with the same exit codes as [`run`]. Errors are printed to stderr.
pub async fn run_logs(args: LogsArgs) -> i32 {
    // The WebSocket client runs its connection on the current thread.
    let local = tokio::task::LocalSet::new();
    let result = local.run_until(logs(&args)).await;
    finish(result.map(|()| String::new()))
}

async fn logs(args: &LogsArgs) -> Result<(), Failure> {
    let client = Client::streaming(&args.api.url, api_token(&args.api))?;
    let server = client
        .call(
            Method::GET,
            &["api", "servers", checked_ref(&args.name)?],
            None,
        )
        .await?;
    // Everything after by id, so a rename in between cannot mix two servers.
    let id = server
        .get("id")
        .and_then(Value::as_str)
        .filter(|id| checked_ref(id).is_ok())
        .ok_or_else(|| Failure::Api("unexpected answer from the daemon: no server id".into()))?
        .to_string();
    let name = printable(
        server.get("name").and_then(Value::as_str).unwrap_or(&id),
        false,
    );
    let filter = LogFilter::new(args);

    if let Some(format) = args.export {
        return export(&client, &id, &filter, format, args.output.as_deref()).await;
    }

    let mut printer = Printer {
        out: std::io::BufWriter::new(std::io::stdout()),
        json: args.api.json,
        color: !args.api.json
            && !args.no_color
            && std::env::var_os("NO_COLOR").is_none()
            && std::io::stdout().is_terminal(),
        utc: args.utc,
    };
    let count = match (args.lines, args.since) {
        (Some(count), _) => count,
        (None, Some(_)) => LineCount::All,
        (None, None) => LineCount::Last(DEFAULT_LINES),
    };
    if !args.follow {
        history(&client, &id, &filter, count, &mut printer).await?;
        return Ok(());
    }

    // Subscribe before reading the history, so that nothing falls between the two.
    let mut follower = Follower {
        client: &client,
        id: id.clone(),
        name,
        filter: &filter,
        last_id: 0,
        printer,
    };
    let Some(socket) = connect_events(&client, &id).await? else {
        follower.deleted();
        return Ok(());
    };
    follower.last_id = history(&client, &id, &filter, count, &mut follower.printer).await?;
    follower.run(socket, args.until).await
}

/// Prints the history: the newest `count` matching lines, or all of them, oldest first.
/// Returns the id of the newest line of the server seen (0 when none), where following goes
/// on from.
async fn history(
    client: &Client,
    id: &str,
    filter: &LogFilter,
    count: LineCount,
    printer: &mut Printer,
) -> Result<i64, Failure> {
    let last = match count {
        LineCount::All => stream_all(client, id, filter, printer).await?,
        LineCount::Last(0) => {
            // Nothing to print; following starts after the newest line there is.
            let (data, _) = client
                .page(&["api", "servers", id, "logs"], &[("limit", "1".into())])
                .await?;
            data.as_array()
                .and_then(|lines| lines.last())
                .map_or(0, entry_id)
        }
        LineCount::Last(n) => {
            let (lines, _) = newest(client, id, filter, 0, n, n.min(LOG_PAGE)).await?;
            for entry in &lines {
                printer.print(entry)?;
            }
            lines.last().map_or(0, entry_id)
        }
    };
    printer.flush()?;
    Ok(last)
}

/// The newest matching lines with an id above `after`, at most `max`, oldest first, read
/// page by page back in time (the first page of `first_page` lines); and whether older
/// ones were left out because of `max`.
async fn newest(
    client: &Client,
    id: &str,
    filter: &LogFilter,
    after: i64,
    max: usize,
    first_page: usize,
) -> Result<(Vec<Value>, bool), Failure> {
    let mut segments = vec!["api", "servers", id];
    segments.extend_from_slice(filter.endpoint());
    let mut pages: Vec<Vec<Value>> = Vec::new();
    let mut total = 0;
    let mut cursor: Option<i64> = None;
    let mut page_size = first_page.clamp(1, LOG_PAGE);
    loop {
        let wanted = (max - total).min(page_size).max(1);
        let mut query = filter.query();
        query.push(("limit", wanted.to_string()));
        if let Some(cursor) = cursor {
            query.push(("cursor", cursor.to_string()));
        }
        let (data, next) = client.page(&segments, &query).await?;
        let Value::Array(page) = data else {
            return Err(Failure::Api(
                "unexpected answer from the daemon: the log lines are not a list".into(),
            ));
        };
        let reached = page.first().is_none_or(|e| entry_id(e) <= after);
        let mut page: Vec<Value> = page.into_iter().filter(|e| entry_id(e) > after).collect();
        // Oldest first: the newest are at the end.
        let keep = (max - total).min(page.len());
        page.drain(..page.len() - keep);
        total += page.len();
        pages.push(page);
        if reached {
            break;
        }
        match next {
            // A cursor that does not move back would loop forever.
            Some(next) if cursor.is_none_or(|c| next < c) => cursor = Some(next),
            _ => break,
        }
        if total >= max {
            pages.reverse();
            return Ok((pages.into_iter().flatten().collect(), true));
        }
        page_size = LOG_PAGE;
    }
    pages.reverse();
    Ok((pages.into_iter().flatten().collect(), false))
}

/// Prints every matching line, oldest first, streamed from the export endpoint as NDJSON
/// (no limit, little memory). Returns the newest id printed.
async fn stream_all(
    client: &Client,
    id: &str,
    filter: &LogFilter,
    printer: &mut Printer,
) -> Result<i64, Failure> {
    let mut query = filter.query();
    query.push(("format", "ndjson".into()));
    let mut response = client
        .stream(&["api", "servers", id, "logs", "export"], &query)
        .await?;
    let mut pending: Vec<u8> = Vec::new();
    let mut last = 0;
    let mut print_line = |line: &[u8], printer: &mut Printer| -> Result<(), Failure> {
        if line.iter().all(u8::is_ascii_whitespace) {
            return Ok(());
        }
        let entry: Value = serde_json::from_slice(line).map_err(|e| {
            Failure::Api(format!(
                "unexpected answer from the daemon: a bad log line: {e}"
            ))
        })?;
        last = last.max(entry_id(&entry));
        printer.print(&entry)
    };
    while let Some(chunk) = client.chunk(&mut response).await? {
        pending.extend_from_slice(&chunk);
        let mut start = 0;
        while let Some(end) = pending[start..].iter().position(|b| *b == b'\n') {
            print_line(&pending[start..start + end], printer)?;
            start += end + 1;
        }
        pending.drain(..start);
        printer.flush()?;
    }
    print_line(&pending, printer)?;
    Ok(last)
}

/// `--export`: the export endpoint's body, streamed to stdout or into a file.
async fn export(
    client: &Client,
    id: &str,
    filter: &LogFilter,
    format: ExportFormat,
    output: Option<&std::path::Path>,
) -> Result<(), Failure> {
    let mut query = filter.query();
    query.push(("format", format.as_str().into()));
    let mut response = client
        .stream(&["api", "servers", id, "logs", "export"], &query)
        .await?;
    let Some(path) = output else {
        let mut out = std::io::stdout().lock();
        while let Some(chunk) = client.chunk(&mut response).await? {
            out.write_all(&chunk).map_err(output_failure)?;
        }
        return out.flush().map_err(output_failure);
    };
    // Into a temporary file next to the target, renamed when complete: FILE is never left
    // half-written.
    let file_name = path
        .file_name()
        .ok_or_else(|| Failure::Api(format!("--output {}: not a file name", path.display())))?;
    let mut partial_name = std::ffi::OsString::from(".");
    partial_name.push(file_name);
    partial_name.push(format!(".partial-{}", std::process::id()));
    let partial = path.with_file_name(partial_name);
    let file_error =
        |e: std::io::Error| Failure::Api(format!("cannot write {}: {e}", path.display()));
    let mut file = std::fs::File::create(&partial).map_err(file_error)?;
    let written: Result<(), Failure> = async {
        while let Some(chunk) = client.chunk(&mut response).await? {
            file.write_all(&chunk).map_err(file_error)?;
        }
        file.sync_all().map_err(file_error)?;
        std::fs::rename(&partial, path).map_err(file_error)
    }
    .await;
    if written.is_err() {
        let _ = std::fs::remove_file(&partial);
    }
    written
}

/// Connects to `/api/events`, checks the snapshot, and subscribes to the server's lines.
/// `None`: the server is gone.
async fn connect_events(client: &Client, id: &str) -> Result<Option<Socket>, Failure> {
    use futures::{SinkExt, StreamExt};
    let url = client.ws_endpoint(&["api", "events"])?;
    let mut request = awc::Client::builder()
        .timeout(CONNECT_TIMEOUT)
        .finish()
        .ws(url.as_str())
        .max_frame_size(MAX_FRAME);
    if let Some(token) = &client.token {
        request = request.bearer_auth(token);
    }
    let unreachable = |cause: String| {
        Failure::Unreachable(format!(
            "cannot reach the daemon at {}: {cause} (is `mcp-manager serve` running?)",
            client.shown
        ))
    };
    let (_, mut socket) = match tokio::time::timeout(CONNECT_TIMEOUT, request.connect()).await {
        Err(_) => return Err(unreachable("no WebSocket answer in time".into())),
        Ok(Err(awc::error::WsClientError::InvalidResponseStatus(status))) => {
            let mut message = format!(
                "the daemon at {} refused the event stream: HTTP {status}",
                client.shown
            );
            if status == awc::http::StatusCode::UNAUTHORIZED && client.token.is_none() {
                message.push_str(" (pass --token or set MCP_MANAGER_TOKEN)");
            }
            return Err(Failure::Api(message));
        }
        Ok(Err(awc::error::WsClientError::SendRequest(e))) => {
            return Err(unreachable(root_cause(&e)));
        }
        Ok(Err(e)) => {
            return Err(Failure::Api(format!(
                "the event stream of the daemon at {} failed: {e}",
                client.shown
            )));
        }
        Ok(Ok(connected)) => connected,
    };
    // The snapshot comes first: it says whether the server still exists.
    let lost = |what: String| {
        Failure::Unreachable(format!(
            "the event stream of the daemon at {} {what}",
            client.shown
        ))
    };
    loop {
        let frame = match tokio::time::timeout(SILENCE_LIMIT, socket.next()).await {
            Err(_) => return Err(lost("sent no snapshot".into())),
            Ok(None) => return Err(lost("closed at once".into())),
            Ok(Some(Err(e))) => return Err(lost(format!("failed: {e}"))),
            Ok(Some(Ok(frame))) => frame,
        };
        match frame {
            awc::ws::Frame::Text(bytes) => {
                let Ok(event) = serde_json::from_slice::<Value>(&bytes) else {
                    continue;
                };
                if event.get("type").and_then(Value::as_str) != Some("snapshot") {
                    continue;
                }
                if !snapshot_has(&event, id) {
                    return Ok(None);
                }
                break;
            }
            awc::ws::Frame::Ping(bytes) => {
                let _ = socket.send(awc::ws::Message::Pong(bytes)).await;
            }
            awc::ws::Frame::Close(_) => return Err(lost("closed at once".into())),
            _ => {}
        }
    }
    let subscribe = serde_json::json!({"type": "subscribe_logs", "servers": [id]});
    socket
        .send(awc::ws::Message::Text(subscribe.to_string().into()))
        .await
        .map_err(|e| lost(format!("failed: {e}")))?;
    Ok(Some(Box::new(socket)))
}

/// The event stream: WebSocket frames in, messages out.
trait EventSocket:
    futures::Stream<Item = Result<awc::ws::Frame, awc::error::WsProtocolError>>
    + futures::Sink<awc::ws::Message, Error = awc::error::WsProtocolError>
    + Unpin
{
}

impl<S> EventSocket for S where
    S: futures::Stream<Item = Result<awc::ws::Frame, awc::error::WsProtocolError>>
        + futures::Sink<awc::ws::Message, Error = awc::error::WsProtocolError>
        + Unpin
{
}

type Socket = Box<dyn EventSocket>;

/// Whether a `snapshot` event lists the server.
fn snapshot_has(event: &Value, id: &str) -> bool {
    event
        .pointer("/data/servers")
        .and_then(Value::as_array)
        .is_some_and(|servers| {
            servers
                .iter()
                .any(|s| s.get("id").and_then(Value::as_str) == Some(id))
        })
}

/// Why one connection of `logs -f` ended.
enum Ended {
    /// Ctrl-C, SIGTERM, or the `--until` time: stop.
    Stop,
    /// The server was deleted: stop.
    Deleted,
    /// The connection failed: reconnect and catch up.
    Lost(String),
}

/// What one event means for the follower.
enum Seen {
    Nothing,
    Lines(Vec<Value>),
    CatchUp,
    Deleted,
}

/// Reads one event of `/api/events` as far as `logs -f` cares.
fn read_event(bytes: &[u8], id: &str) -> Seen {
    let Ok(mut event) = serde_json::from_slice::<Value>(bytes) else {
        return Seen::Nothing;
    };
    let data_id = |key: &str| {
        event
            .pointer(&format!("/data/{key}"))
            .and_then(Value::as_str)
            == Some(id)
    };
    match event.get("type").and_then(Value::as_str) {
        Some("logs:new") if data_id("server_id") => {
            match event.pointer_mut("/data/lines").map(Value::take) {
                Some(Value::Array(lines)) => Seen::Lines(lines),
                _ => Seen::Nothing,
            }
        }
        Some("server:deleted") if data_id("id") => Seen::Deleted,
        Some("lagged") => Seen::CatchUp,
        Some("snapshot") if !snapshot_has(&event, id) => Seen::Deleted,
        _ => Seen::Nothing,
    }
}

/// `logs -f` after the history: live lines, with reconnection and catch-up.
struct Follower<'a> {
    client: &'a Client,
    id: String,
    name: String,
    filter: &'a LogFilter,
    /// The newest line id seen: lines at or below it are not printed again.
    last_id: i64,
    printer: Printer,
}

impl Follower<'_> {
    fn deleted(&self) {
        eprintln!("{}: the server was deleted", self.name);
    }

    /// Prints the lines above `last_id`; `check` applies the filters (live lines are not
    /// filtered by the daemon).
    fn show(&mut self, lines: &[Value], check: bool) -> Result<(), Failure> {
        for entry in lines {
            let id = entry_id(entry);
            if id <= self.last_id {
                continue;
            }
            self.last_id = id;
            if !check || self.filter.matches(entry) {
                self.printer.print(entry)?;
            }
        }
        self.printer.flush()
    }

    /// Reads over REST what was written since `last_id` and prints it. `Err(reason)` when
    /// the daemon could not say (then reconnecting sorts it out).
    async fn catch_up(&mut self) -> Result<Result<(), String>, Failure> {
        let found = newest(
            self.client,
            &self.id,
            self.filter,
            self.last_id,
            CATCH_UP_MAX,
            CATCH_UP_FIRST_PAGE,
        )
        .await;
        match found {
            Ok((lines, cut)) => {
                if cut {
                    eprintln!(
                        "note: more than {CATCH_UP_MAX} lines were missed; only the newest \
                         are shown"
                    );
                }
                self.show(&lines, false)?;
                Ok(Ok(()))
            }
            Err(failure) => Ok(Err(failure.message().to_string())),
        }
    }

    /// Follows until stopped: live lines over the WebSocket, reconnecting (and catching up)
    /// when the connection is lost.
    async fn run(mut self, socket: Socket, until: Option<DateTime<Utc>>) -> Result<(), Failure> {
        let mut stop = std::pin::pin!(stop_signal(until));
        let mut socket = Some(socket);
        let mut delay = RECONNECT_MIN;
        let mut outage = false;
        loop {
            let current = match socket.take() {
                Some(s) => s,
                None => {
                    tokio::select! {
                        () = stop.as_mut() => return Ok(()),
                        () = tokio::time::sleep(delay) => {}
                    }
                    delay = (delay * 2).min(RECONNECT_MAX);
                    let connected = tokio::select! {
                        () = stop.as_mut() => return Ok(()),
                        connected = connect_events(self.client, &self.id) => connected,
                    };
                    match connected {
                        Ok(None) => {
                            self.deleted();
                            return Ok(());
                        }
                        Ok(Some(s)) => {
                            if outage {
                                eprintln!("reconnected to the daemon at {}", self.client.shown);
                            }
                            s
                        }
                        Err(failure) => {
                            if !outage {
                                eprintln!("{}; reconnecting…", failure.message());
                                outage = true;
                            }
                            continue;
                        }
                    }
                }
            };
            let started = std::time::Instant::now();
            match self.session(current, &mut stop).await? {
                Ended::Stop => return Ok(()),
                Ended::Deleted => {
                    self.deleted();
                    return Ok(());
                }
                Ended::Lost(reason) => {
                    eprintln!(
                        "lost the connection to the daemon at {}: {reason}; reconnecting…",
                        self.client.shown
                    );
                    outage = true;
                    // A connection that lasted is no sign of trouble: retry at once.
                    if started.elapsed() > SILENCE_LIMIT {
                        delay = RECONNECT_MIN;
                    }
                }
            }
        }
    }

    /// One connection: prints the server's new lines until it ends.
    async fn session<F>(
        &mut self,
        mut socket: Socket,
        stop: &mut std::pin::Pin<&mut F>,
    ) -> Result<Ended, Failure>
    where
        F: std::future::Future<Output = ()>,
    {
        use futures::{SinkExt, StreamExt};
        let mut settle = std::pin::pin!(tokio::time::sleep(SUBSCRIBE_SETTLE));
        let mut settled = false;
        let ended = loop {
            tokio::select! {
                () = stop.as_mut() => break Ended::Stop,
                () = &mut settle, if !settled => {
                    settled = true;
                    if let Err(reason) = self.catch_up().await? {
                        break Ended::Lost(reason);
                    }
                }
                frame = tokio::time::timeout(SILENCE_LIMIT, socket.next()) => {
                    let frame = match frame {
                        Err(_) => break Ended::Lost(format!(
                            "no message for {}s", SILENCE_LIMIT.as_secs()
                        )),
                        Ok(None) => break Ended::Lost("the connection closed".into()),
                        Ok(Some(Err(e))) => break Ended::Lost(e.to_string()),
                        Ok(Some(Ok(frame))) => frame,
                    };
                    match frame {
                        awc::ws::Frame::Ping(bytes) => {
                            if let Err(e) = socket.send(awc::ws::Message::Pong(bytes)).await {
                                break Ended::Lost(e.to_string());
                            }
                        }
                        awc::ws::Frame::Close(_) => {
                            break Ended::Lost("the daemon closed the connection".into());
                        }
                        awc::ws::Frame::Text(bytes) => match read_event(&bytes, &self.id) {
                            Seen::Nothing => {}
                            Seen::Deleted => break Ended::Deleted,
                            Seen::CatchUp => {
                                if let Err(reason) = self.catch_up().await? {
                                    break Ended::Lost(reason);
                                }
                            }
                            Seen::Lines(lines) => {
                                if !settled {
                                    // Lines may have been written before the subscription
                                    // took effect: read them first.
                                    settled = true;
                                    if let Err(reason) = self.catch_up().await? {
                                        break Ended::Lost(reason);
                                    }
                                }
                                self.show(&lines, true)?;
                            }
                        },
                        _ => {}
                    }
                }
            }
        };
        if !matches!(ended, Ended::Lost(_)) {
            let close = socket.send(awc::ws::Message::Close(None));
            let _ = tokio::time::timeout(Duration::from_secs(1), close).await;
        }
        Ok(ended)
    }
}

/// Resolves at Ctrl-C, SIGTERM, or the `--until` time.
async fn stop_signal(until: Option<DateTime<Utc>>) {
    let until = async {
        match until {
            Some(t) => {
                let wait = (t - Utc::now()).to_std().unwrap_or_default();
                tokio::time::sleep(wait).await;
            }
            None => std::future::pending().await,
        }
    };
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        () = terminate => {}
        () = until => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::{CommandFactory, Parser};
    use serde_json::json;

    #[derive(Parser, Debug)]
    #[command(name = "mcp-manager")]
    struct TestCli {
        #[command(subcommand)]
        command: TestCommand,
    }

    #[derive(Subcommand, Debug)]
    enum TestCommand {
        Server(ServerArgs),
        Health(HealthArgs),
        Logs(LogsArgs),
    }

    fn parse_logs(args: &[&str]) -> Result<LogsArgs, clap::Error> {
        let argv = ["mcp-manager", "logs"]
            .into_iter()
            .chain(args.iter().copied());
        TestCli::try_parse_from(argv).map(|cli| match cli.command {
            TestCommand::Logs(logs) => logs,
            other => panic!("expected logs, got {other:?}"),
        })
    }

    fn parse(args: &[&str]) -> Result<ServerArgs, clap::Error> {
        let argv = std::iter::once("mcp-manager")
            .chain(std::iter::once("server"))
            .chain(args.iter().copied());
        TestCli::try_parse_from(argv).map(|cli| match cli.command {
            TestCommand::Server(server) => server,
            other => panic!("expected server, got {other:?}"),
        })
    }

    fn parse_health(args: &[&str]) -> Result<HealthArgs, clap::Error> {
        let argv = ["mcp-manager", "health"]
            .into_iter()
            .chain(args.iter().copied());
        TestCli::try_parse_from(argv).map(|cli| match cli.command {
            TestCommand::Health(health) => health,
            other => panic!("expected health, got {other:?}"),
        })
    }

    fn add_args(args: &[&str]) -> AddArgs {
        match parse(args).expect("parses").command {
            ServerCommand::Add(add) => add,
            other => panic!("expected add, got {other:?}"),
        }
    }

    #[test]
    fn clap_definition_is_consistent() {
        TestCli::command().debug_assert();
    }

    #[test]
    fn key_value_parsing() {
        assert_eq!(parse_key_value("A=b"), Ok(("A".into(), "b".into())));
        assert_eq!(parse_key_value("A=b=c"), Ok(("A".into(), "b=c".into())));
        assert_eq!(parse_key_value("A="), Ok(("A".into(), String::new())));
        assert!(parse_key_value("A").unwrap_err().contains("KEY=VALUE"));
        assert!(parse_key_value("=x").unwrap_err().contains("empty"));
        assert!(parse_key_value("A B=x").is_err());
    }

    #[test]
    fn secret_env_parsing() {
        let lookup = |k: &str| (k == "TOKEN").then(|| "s3cret".to_string());
        assert_eq!(
            parse_secret_env_with("K=v", lookup),
            Ok(("K".into(), "v".into()))
        );
        assert_eq!(
            parse_secret_env_with("TOKEN", lookup),
            Ok(("TOKEN".into(), "s3cret".into()))
        );
        let err = parse_secret_env_with("MISSING", lookup).unwrap_err();
        assert!(err.contains("MISSING") && err.contains("not set"), "{err}");
        assert!(parse_secret_env_with("", lookup).is_err());
    }

    #[test]
    fn bad_key_value_is_a_clap_error() {
        let err = parse(&["add", "x", "--env", "NOEQUALS", "--", "cmd"]).unwrap_err();
        assert_eq!(err.kind(), clap::error::ErrorKind::ValueValidation);
        assert!(err.to_string().contains("KEY=VALUE"), "{err}");
    }

    #[test]
    fn durations() {
        assert_eq!(format_duration(-5), "0s");
        assert_eq!(format_duration(0), "0s");
        assert_eq!(format_duration(59), "59s");
        assert_eq!(format_duration(60), "1m00s");
        assert_eq!(format_duration(192), "3m12s");
        assert_eq!(format_duration(7500), "2h05m");
        assert_eq!(format_duration(90_061), "1d01h");
    }

    #[test]
    fn add_keeps_trailing_args_verbatim() {
        let add = add_args(&["add", "time", "--", "cmd", "--flag", "; touch /tmp/x"]);
        assert_eq!(add.name, "time");
        assert_eq!(add.command, ["cmd", "--flag", "; touch /tmp/x"]);
        assert!(!add.start);
        let body = add_body(&add).expect("body");
        assert_eq!(
            body,
            json!({"name": "time", "command": "cmd", "args": ["--flag", "; touch /tmp/x"]})
        );
    }

    #[test]
    fn add_with_gateway_options() {
        let add = add_args(&[
            "add",
            "fs",
            "--no-expose",
            "--start-on-demand",
            "--allow-tool",
            "read_*",
            "--allow-tool",
            "list_directory",
            "--deny-tool",
            "read_secret*",
            "--isolation",
            "per-session",
            "--",
            "fs-server",
        ]);
        let body = add_body(&add).expect("body");
        assert_eq!(
            body,
            json!({
                "name": "fs", "command": "fs-server", "exposed": false, "start_on_demand": true,
                "tools": {"allow": ["read_*", "list_directory"], "deny": ["read_secret*"]},
                "isolation": "per-session",
            })
        );
        // Only a deny list: the allow list stays empty (every other tool allowed).
        let body = add_body(&add_args(&["add", "a", "--deny-tool", "rm*", "--", "x"])).unwrap();
        assert_eq!(body["tools"], json!({"allow": [], "deny": ["rm*"]}));
        assert!(body.get("exposed").is_none() && body.get("isolation").is_none());
        for bad in [
            &["add", "a", "--isolation", "none", "--", "x"][..],
            &["add", "a", "--allow-tool", "", "--", "x"],
        ] {
            assert!(parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn show_gateway_options() {
        let now = Utc::now();
        let base = json!({"name": "a", "status": "stopped"});
        let text = render_show(&base, now, false);
        assert!(text.contains("gateway:        exposed\n"), "{text}");
        let server = json!({
            "name": "fs", "status": "stopped", "exposed": false, "start_on_demand": true,
            "isolation": "per-session",
            "tools": {"allow": ["read_*", "list"], "deny": ["read_secret*"]},
        });
        let text = render_show(&server, now, false);
        assert!(
            text.contains(
                "gateway:        not exposed, starts on demand, isolation per-session\n\
                 \x20               allow tools: read_* list\n\
                 \x20               deny tools: read_secret*\n"
            ),
            "{text}"
        );
    }

    #[test]
    fn add_without_command_is_rejected() {
        for argv in [
            &["add", "time"][..],
            &["add", "time", "--"],
            &["add", "time", "--type", "nodejs"],
        ] {
            let err = parse(argv).unwrap_err();
            assert_eq!(
                err.kind(),
                clap::error::ErrorKind::MissingRequiredArgument,
                "{argv:?}"
            );
            assert!(
                err.to_string().contains("needs its command after `--`"),
                "{err}"
            );
        }
    }

    #[test]
    fn add_with_all_options() {
        let argv: Vec<&str> = "add web --type nodejs --transport http --cwd sub/dir \
             --env A=1 --env B=x=y --secret-env K=v --restart on-failure --port 8080 \
             --server-url http://127.0.0.1:8080/mcp --health-endpoint /health \
             --start-timeout 2.5 --stop-grace 3 --start --json --url http://10.0.0.1:9000 \
             -- npx -y pkg"
            .split_whitespace()
            .collect();
        let args = parse(&argv).expect("parses");
        assert!(args.api.json);
        assert_eq!(args.api.url, "http://10.0.0.1:9000");
        let ServerCommand::Add(add) = &args.command else {
            panic!("expected add")
        };
        let body = add_body(add).expect("body");
        let cwd = body["working_directory"].as_str().expect("cwd");
        assert!(
            std::path::Path::new(cwd).is_absolute() && cwd.ends_with("sub/dir"),
            "{cwd}"
        );
        assert_eq!(body["type"], "nodejs");
        assert_eq!(body["transport"], "http");
        assert_eq!(body["env"], json!({"A": "1", "B": "x=y"}));
        assert_eq!(body["secret_env"], json!({"K": "v"}));
        assert_eq!(body["restart_policy"], "on-failure");
        assert_eq!(body["port"], 8080);
        assert_eq!(body["url"], "http://127.0.0.1:8080/mcp");
        assert_eq!(body["health_endpoint"], "/health");
        assert_eq!(body["start_timeout_secs"], 2.5);
        assert_eq!(body["stop_grace_secs"], 3.0);
        assert_eq!(body["start"], true);
        assert_eq!(body["command"], "npx");
        assert_eq!(body["args"], json!(["-y", "pkg"]));
    }

    #[test]
    fn aliases_and_global_flags() {
        assert!(matches!(
            parse(&["ls", "--json"]).expect("ls").command,
            ServerCommand::List
        ));
        let args = parse(&["--token", "t", "remove", "time"]).expect("remove");
        assert_eq!(args.api.token.as_deref(), Some("t"));
        assert!(matches!(args.command, ServerCommand::Rm { ref name } if name == "time"));
    }

    fn publish(container_port: u16, host_port: Option<u16>, host_ip: Option<&str>) -> Publish {
        Publish {
            container_port,
            host_port,
            host_ip: host_ip.map(str::to_string),
        }
    }

    #[test]
    fn publish_parsing() {
        assert_eq!(parse_publish("8080"), Ok(publish(8080, None, None)));
        assert_eq!(
            parse_publish("18080:8080"),
            Ok(publish(8080, Some(18080), None))
        );
        assert_eq!(
            parse_publish("127.0.0.1:18080:8080"),
            Ok(publish(8080, Some(18080), Some("127.0.0.1")))
        );
        assert_eq!(
            parse_publish("0.0.0.0:80:8080"),
            Ok(publish(8080, Some(80), Some("0.0.0.0")))
        );
        assert_eq!(
            parse_publish("[::1]:18080:8080"),
            Ok(publish(8080, Some(18080), Some("::1")))
        );
        assert_eq!(
            parse_publish("::1:18080:8080"),
            Ok(publish(8080, Some(18080), Some("::1")))
        );
        let err = |s: &str| parse_publish(s).expect_err(s);
        for bad in ["", "0", "18080:0", "0:8080", "65536", "70000:80"] {
            assert!(err(bad).contains("port"), "{bad}: {}", err(bad));
        }
        assert!(err("65536").contains("between 1 and 65535"));
        assert!(err("http").contains("not a port number"));
        assert!(err("8080/udp").contains("protocol"));
        assert!(err("8000-8010:8000-8010").contains("ranges"));
        assert!(err("127.0.0.1::8080").contains("random host port"));
        assert!(err("localhost:18080:8080").contains("not an IP address"));
        assert!(err("1.2.3:18080:8080").contains("not an IP address"));
        assert!(err(" 8080").contains("not a port number"));
    }

    #[test]
    fn publish_body() {
        assert_eq!(
            publish(8080, None, None).to_json(),
            json!({"container_port": 8080})
        );
        assert_eq!(
            publish(8080, Some(18080), Some("::1")).to_json(),
            json!({"container_port": 8080, "host_port": 18080, "host_ip": "::1"})
        );
    }

    #[test]
    fn cpus_parsing() {
        assert_eq!(parse_cpus("0.5"), Ok(0.5));
        assert_eq!(parse_cpus("2"), Ok(2.0));
        for bad in ["0", "-1", "1025", "NaN", "inf", "x", ""] {
            assert!(parse_cpus(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn container_add_parses_into_the_api_body() {
        let argv: Vec<&str> = "add web --type container --image mcp/fetch:1.0 \
             --entrypoint /usr/bin/python3 --publish 18080:8080 --publish 10.0.0.2:9000:9000 \
             --publish 7000 --memory-mb 64 --cpus 0.5 --cwd /srv --transport http --port 8080 \
             --start -- -m fetch --verbose"
            .split_whitespace()
            .collect();
        let add = add_args(&argv);
        assert_eq!(add.kind, Some(ServerKind::Container));
        let body = add_body(&add).expect("body");
        assert_eq!(
            body,
            json!({
                "name": "web", "type": "container", "transport": "http",
                "image": "mcp/fetch:1.0", "command": "/usr/bin/python3",
                "args": ["-m", "fetch", "--verbose"], "working_directory": "/srv",
                "port": 8080, "start": true, "memory_mb": 64, "cpus": 0.5,
                "ports": [
                    {"container_port": 8080, "host_port": 18080},
                    {"container_port": 9000, "host_port": 9000, "host_ip": "10.0.0.2"},
                    {"container_port": 7000},
                ],
            })
        );
    }

    #[test]
    fn a_container_needs_only_its_image() {
        let add = add_args(&["add", "ct", "--type", "container", "--image", "img"]);
        assert_eq!(
            add_body(&add).expect("body"),
            json!({"name": "ct", "type": "container", "image": "img"})
        );
        // Everything after `--` is the image's arguments, the first word included.
        let add = add_args(&[
            "add",
            "ct",
            "--type",
            "container",
            "--image",
            "img",
            "--",
            "serve",
            "--x",
        ]);
        assert_eq!(
            add_body(&add).expect("body"),
            json!({"name": "ct", "type": "container", "image": "img", "args": ["serve", "--x"]})
        );
    }

    #[test]
    fn container_usage_errors() {
        use clap::error::ErrorKind;
        let err = parse(&["add", "ct", "--type", "container"]).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::MissingRequiredArgument);
        let text = err.to_string();
        assert!(text.contains("--image <IMAGE>"), "{text}");
        assert!(
            !text.contains("  <COMMAND>..."),
            "only --image is missing: {text}"
        );

        let err = parse(&["add", "ct", "--image", "img", "--", "cmd"]).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::ArgumentConflict);
        let text = err.to_string();
        assert!(
            text.contains(
                "`--image` is only for container servers (`--type container`), \
                 not for type `process`"
            ),
            "{text}"
        );
        assert!(text.contains("Usage: mcp-manager server add"), "{text}");

        // The misplaced option is what is reported, not the missing command.
        let err = parse(&["add", "ct", "--type", "python", "--image", "img"]).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::ArgumentConflict);
        assert!(err.to_string().contains("type `python`"), "{err}");
        let err = parse(&["add", "ct", "--memory-mb", "64"]).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::ArgumentConflict);
        assert!(err.to_string().contains("`--memory-mb` is only"), "{err}");

        let argv = [
            "add",
            "ct",
            "--type",
            "nodejs",
            "--publish",
            "80",
            "--cpus",
            "1",
            "--memory-mb",
            "64",
            "--entrypoint",
            "x",
            "--",
            "node",
        ];
        let err = parse(&argv).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::ArgumentConflict);
        assert!(
            err.to_string().contains(
                "`--entrypoint`, `--publish`, `--memory-mb` and `--cpus` are only for \
                 container servers"
            ),
            "{err}"
        );

        let container = ["add", "ct", "--type", "container", "--image", "img"];
        let with = |extra: &[&str]| {
            let argv: Vec<&str> = container.iter().chain(extra).copied().collect();
            parse(&argv).unwrap_err()
        };
        let err = with(&["--cwd", "rel/dir"]);
        assert_eq!(err.kind(), ErrorKind::ValueValidation);
        assert!(err.to_string().contains("must be absolute"), "{err}");
        let err = with(&["--publish", "localhost:80:80"]);
        assert_eq!(err.kind(), ErrorKind::ValueValidation);
        assert!(err.to_string().contains("not an IP address"), "{err}");
        assert_eq!(
            with(&["--memory-mb", "2"]).kind(),
            ErrorKind::ValueValidation
        );
        assert_eq!(with(&["--cpus", "0"]).kind(), ErrorKind::ValueValidation);
        assert_eq!(
            parse(&["add", "ct", "--type", "container", "--image", ""])
                .unwrap_err()
                .kind(),
            ErrorKind::InvalidValue
        );
    }

    fn fake_servers(now: DateTime<Utc>) -> Vec<Value> {
        let since = (now - chrono::Duration::seconds(192)).to_rfc3339();
        vec![
            json!({
                "id": "a1", "name": "time", "type": "python", "status": "running",
                "status_since": since, "process_id": 4242, "restart_count": 0,
                "command": "uvx", "args": ["mcp-server-time"],
            }),
            json!({
                "id": "b2", "name": "filesystem-server", "type": "nodejs", "status": "failed",
                "status_since": since, "process_id": null, "restart_count": 12,
                "command": "npx",
                "args": ["-y", "@modelcontextprotocol/server-filesystem", "/a/very/long/path/to/somewhere"],
            }),
        ]
    }

    #[test]
    fn table_layout() {
        let now = Utc::now();
        let table = render_table(&fake_servers(now), now, false);
        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(lines.len(), 3);
        assert_eq!(
            lines[0],
            "NAME               TYPE    STATUS   PID   RESTARTS  UPTIME  COMMAND"
        );
        assert_eq!(
            lines[1],
            "time               python  running  4242  0         3m12s   uvx mcp-server-time"
        );
        assert!(
            lines[2]
                .starts_with("filesystem-server  nodejs  failed   -     12        -       npx -y "),
            "{}",
            lines[2]
        );
        let command = &lines[2][lines[0].find("COMMAND").expect("column")..];
        assert_eq!(command.chars().count(), COMMAND_WIDTH);
        assert!(command.ends_with('…'));
        assert!(!table.contains('\x1b'));
        assert!(lines.iter().all(|l| l == &l.trim_end()));
    }

    #[test]
    fn table_colours_only_the_status() {
        let now = Utc::now();
        let table = render_table(&fake_servers(now), now, true);
        assert!(table.contains("\x1b[32mrunning\x1b[0m  4242"));
        assert!(table.contains("\x1b[31mfailed\x1b[0m   -"));
        assert!(table.lines().next().is_some_and(|h| !h.contains('\x1b')));
    }

    #[test]
    fn show_details() {
        let now = Utc::now();
        let server = json!({
            "id": "a1", "name": "time", "type": "process", "transport": "stdio",
            "command": "python3", "args": ["-m", "mod", "; touch /tmp/x", "it's"],
            "working_directory": "/srv", "env": {"LANG": "C", "GREETING": "hello world"},
            "secret_env": ["API_KEY"], "restart_policy": "on-failure", "desired_state": "running",
            "status": "backoff", "status_since": now.to_rfc3339(),
            "next_start_at": (now + chrono::Duration::seconds(5)).to_rfc3339(),
            "process_id": null, "restart_count": 3,
            "last_exit": {"code": null, "signal": 9, "at": now.to_rfc3339()},
            "last_error": "boom\nsecond line",
        });
        let text = render_show(&server, now, false);
        assert!(
            text.contains("command:        python3 -m mod '; touch /tmp/x' 'it'\\''s'\n"),
            "{text}"
        );
        assert!(
            text.contains("env:            GREETING='hello world'\n                LANG=C\n"),
            "{text}"
        );
        assert!(
            text.contains("secret env:     API_KEY=<hidden>\n"),
            "{text}"
        );
        assert!(text.contains("killed by signal 9 (SIGKILL) at "), "{text}");
        assert!(text.contains("(in 5s)"), "{text}");
        assert!(
            text.contains("last error:     boom\n                second line\n"),
            "{text}"
        );
        assert!(text.contains("pid:            -\n"), "{text}");
        let exited = describe_exit(&json!({"code": 3, "signal": null, "at": null}));
        assert_eq!(exited.as_deref(), Some("exited with code 3"));
    }

    fn fake_container(now: DateTime<Utc>) -> Value {
        json!({
            "id": "c3", "name": "fetch", "type": "container", "transport": "http",
            "status": "running", "status_since": (now - chrono::Duration::seconds(5)).to_rfc3339(),
            "process_id": 999, "restart_count": 1, "image": "mcp/fetch:latest",
            "command": "/bin/fetch", "args": ["--port", "8080"], "port": 8080,
            "container_id": "0123456789abcdef0123456789abcdef",
            "ports": [
                {"container_port": 8080, "host_port": 18080, "host_ip": null},
                {"container_port": 9000, "host_port": null, "host_ip": "::1"},
                {"container_port": 9100, "host_port": 9101, "host_ip": "0.0.0.0"},
            ],
            "memory_mb": 64, "cpus": 0.5, "restart_policy": "on-failure",
            "desired_state": "running",
        })
    }

    #[test]
    fn containers_in_the_table() {
        let now = Utc::now();
        let mut servers = fake_servers(now);
        servers.push(fake_container(now));
        let table = render_table(&servers, now, false);
        let row = table
            .lines()
            .find(|l| l.starts_with("fetch"))
            .unwrap_or_else(|| panic!("{table}"));
        assert_eq!(
            row,
            "fetch              container  running  -     1         5s      mcp/fetch:latest"
        );
    }

    #[test]
    fn show_container_details() {
        let now = Utc::now();
        let text = render_show(&fake_container(now), now, false);
        for line in [
            "type:           container (http)\n",
            "image:          mcp/fetch:latest\n",
            "entrypoint:     /bin/fetch\n",
            "args:           --port 8080\n",
            "ports:          127.0.0.1:18080->8080, [::1]:9000->9000, 0.0.0.0:9101->9100\n",
            "memory limit:   64 MiB\n",
            "cpu limit:      0.5 CPUs\n",
            "container id:   0123456789ab\n",
        ] {
            assert!(text.contains(line), "{line}in:\n{text}");
        }
        assert!(
            !text.contains("command:") && !text.contains("pid:"),
            "{text}"
        );

        // Before the first start: no container yet, no overrides, no limits.
        let server = json!({"name": "ct", "type": "container", "image": "img", "args": []});
        let text = render_show(&server, now, false);
        assert!(text.contains("container id:   -\n"), "{text}");
        for absent in ["entrypoint", "args", "ports", "limit"] {
            assert!(!text.contains(absent), "{absent} in:\n{text}");
        }
    }

    #[test]
    fn quoting_and_truncation() {
        assert_eq!(shell_quote("plain-arg/1.0"), "plain-arg/1.0");
        assert_eq!(shell_quote(""), "''");
        assert_eq!(shell_quote("a b"), "'a b'");
        assert_eq!(shell_quote("a\nb"), "$'a\\nb'");
        assert_eq!(truncate("abcdef", 4), "abc…");
        assert_eq!(truncate("abc", 4), "abc");
        assert_eq!(printable("a\x1b[31mb", false), "a\\u{1b}[31mb");
    }

    #[test]
    fn endpoints_are_encoded() {
        let client = Client::new("http://127.0.0.1:7070/", None).expect("client");
        let url = client
            .endpoint(&["api", "servers", "a b/c?d", "start"])
            .expect("url");
        assert_eq!(
            url.as_str(),
            "http://127.0.0.1:7070/api/servers/a%20b%2Fc%3Fd/start"
        );
        let prefixed = Client::new("http://host/prefix", None).expect("client");
        let url = prefixed.endpoint(&["api", "servers"]).expect("url");
        assert_eq!(url.as_str(), "http://host/prefix/api/servers");
        assert!(Client::new("https://host", None).is_err());
        assert!(checked_ref("..").is_err());
    }

    #[test]
    fn api_error_messages() {
        let body = br#"{"error":{"code":"not_found","message":"no server named `x`"}}"#;
        assert_eq!(
            error_message(StatusCode::NOT_FOUND, body),
            "no server named `x`"
        );
        assert_eq!(
            error_message(StatusCode::BAD_GATEWAY, b""),
            "the daemon answered HTTP 502 Bad Gateway"
        );
    }

    #[test]
    fn health_arguments() {
        let args =
            parse_health(&["--json", "time", "--url", "http://10.0.0.1:9000"]).expect("parses");
        assert_eq!(args.name, "time");
        assert!(args.api.json);
        assert_eq!(args.api.url, "http://10.0.0.1:9000");
        assert_eq!(
            parse_health(&[]).unwrap_err().kind(),
            clap::error::ErrorKind::MissingRequiredArgument
        );
    }

    fn check(status: &str, ms: Option<i64>) -> Value {
        json!({"id": 1, "status": status, "response_time_ms": ms, "error": null,
               "timestamp": Utc::now().to_rfc3339()})
    }

    fn healthy(times: impl IntoIterator<Item = i64>) -> Vec<Value> {
        times
            .into_iter()
            .map(|t| check("healthy", Some(t)))
            .collect()
    }

    #[test]
    fn sparkline_scales_to_the_slowest_check_shown() {
        assert_eq!(sparkline(&healthy([1, 2, 4, 8]), false), "▂▃▅█");
        assert_eq!(sparkline(&healthy([0, 6, 14]), false), "▁▄█");
        // All equally fast: all at the top; all at 0 ms, or untimed: at the bottom.
        assert_eq!(sparkline(&healthy([3, 3]), false), "██");
        assert_eq!(sparkline(&healthy([0, 0]), false), "▁▁");
        assert_eq!(
            sparkline(&[check("healthy", None), check("healthy", Some(5))], false),
            "▁█"
        );
        assert_eq!(sparkline(&[], false), "");
    }

    #[test]
    fn sparkline_marks_failed_checks() {
        let checks = [
            check("healthy", Some(8)),
            // A failure's time (a timeout, say) does not squash the others.
            check("unhealthy", Some(5000)),
            check("unhealthy", None),
            check("healthy", Some(4)),
        ];
        assert_eq!(sparkline(&checks, false), "█xx▅");
        assert_eq!(
            sparkline(&checks, true),
            "█\x1b[31m✗\x1b[0m\x1b[31m✗\x1b[0m▅"
        );
        assert_eq!(sparkline(&[check("unhealthy", None)], false), "x");
    }

    #[test]
    fn sparkline_shows_the_newest_checks() {
        // 100 checks, 0..=99 ms: the newest 60 are 40..=99 ms, scaled to 99.
        let line = sparkline(&healthy(0..100), false);
        assert_eq!(line.chars().count(), SPARK_CELLS);
        assert!(line.starts_with('▄'), "40/99 of the way up: {line}");
        assert!(line.ends_with('█'), "{line}");
        // An old slow check out of view does not flatten the rest.
        let mut checks = healthy([1000]);
        checks.extend(healthy(std::iter::repeat_n(2, SPARK_CELLS)));
        assert_eq!(sparkline(&checks, false), "█".repeat(SPARK_CELLS));
        // A failure out of view is not shown.
        let mut checks = vec![check("unhealthy", None)];
        checks.extend(healthy(std::iter::repeat_n(1, SPARK_CELLS)));
        assert!(!sparkline(&checks, false).contains('x'));
    }

    fn fake_health(now: DateTime<Utc>, status: &str, health: &str, monitored: bool) -> Value {
        json!({
            "id": "a1", "name": "time", "status": status, "health": health,
            "monitored": monitored, "consecutive_failures": 0, "consecutive_successes": 120,
            "last_health_check": monitored.then(|| (now - chrono::Duration::seconds(4)).to_rfc3339()),
            "settings": {"interval_secs": 30.0, "timeout_secs": 5.0, "failure_threshold": 3,
                         "start_period_secs": 0.0, "restart_after_failures": null},
        })
    }

    #[test]
    fn health_headline_lines() {
        let now = Utc::now();
        let h = fake_health(now, "running", "healthy", true);
        assert_eq!(
            health_headline(&h, now, false),
            "time: healthy (running), checked every 30s, last check 4s ago\n"
        );
        assert_eq!(
            health_headline(&h, now, true),
            "time: \x1b[32mhealthy\x1b[0m (\x1b[32mrunning\x1b[0m), checked every 30s, \
             last check 4s ago\n"
        );
        let mut h = fake_health(now, "running", "unknown", true);
        h["last_health_check"] = Value::Null;
        h["settings"]["interval_secs"] = json!(0.2);
        assert_eq!(
            health_headline(&h, now, false),
            "time: unknown (running), checked every 0.2s, no check yet\n"
        );
        let h = fake_health(now, "stopped", "unknown", false);
        assert_eq!(
            health_headline(&h, now, false),
            "time: unknown (stopped), not monitored: the server is stopped\n"
        );
        assert_eq!(format_interval(30.0), "30s");
        assert_eq!(format_interval(90.0), "1m30s");
        assert_eq!(format_interval(0.2), "0.2s");
        assert_eq!(format_interval(1.5), "1.5s");
    }

    #[test]
    fn summary_line_cells() {
        let s = json!({"uptime_percent": 99.8610628690518, "total_checks": 2879,
            "healthy_checks": 2875, "unhealthy_checks": 4, "avg_response_time_ms": 3.149,
            "p95_response_time_ms": 7, "last_check": null, "current_streak": null});
        assert_eq!(
            summary_cells(&s),
            [
                "uptime 99.86%",
                "2879 checks (4 unhealthy)",
                "avg 3.1 ms",
                "p95 7 ms"
            ]
        );
        // Never rounded up to a perfect score.
        let s = json!({"uptime_percent": 99.999, "total_checks": 1, "unhealthy_checks": 0,
            "avg_response_time_ms": null, "p95_response_time_ms": null});
        assert_eq!(
            summary_cells(&s),
            ["uptime 99.99%", "1 check (0 unhealthy)"]
        );
        assert_eq!(summary_cells(&json!({"total_checks": 0})), ["no checks"]);
    }

    #[test]
    fn health_report_layout() {
        let now = Utc::now();
        let ago = |secs: i64| (now - chrono::Duration::seconds(secs)).to_rfc3339();
        let window = |uptime: f64, total: u64, unhealthy: u64| {
            json!({"uptime_percent": uptime, "total_checks": total,
                "healthy_checks": total - unhealthy, "unhealthy_checks": unhealthy,
                "avg_response_time_ms": 3.1, "p95_response_time_ms": 7,
                "last_check": null, "current_streak": {"status": "healthy", "checks": 120}})
        };
        let summary = json!({"24h": window(99.86, 2879, 4), "7d": window(99.9, 20150, 20),
            "30d": window(100.0, 86400, 0)});
        let mut history = healthy([1, 2, 3]);
        history.insert(
            1,
            json!({"id": 2, "status": "unhealthy", "response_time_ms": null,
                   "error": "MCP ping: no answer within 5s\x1b[2J", "timestamp": ago(720)}),
        );
        let health = fake_health(now, "running", "healthy", true);
        let text = render_health(&health, &summary, &history, now, false);
        assert_eq!(
            text,
            "time: healthy (running), checked every 30s, last check 4s ago\n\
             \x20 24h  uptime 99.86%   2879 checks (4 unhealthy)    avg 3.1 ms  p95 7 ms\n\
             \x20 7d   uptime 99.90%   20150 checks (20 unhealthy)  avg 3.1 ms  p95 7 ms\n\
             \x20 30d  uptime 100.00%  86400 checks (0 unhealthy)   avg 3.1 ms  p95 7 ms\n\
             \x20 last hour  ▃x▆█\n\
             \x20 streak: 120 healthy checks\n\
             \x20 last error: MCP ping: no answer within 5s\\u{1b}[2J (12m00s ago)\n"
        );
        // No failure in the last hour: no error line.
        let text = render_health(&health, &summary, &healthy([1]), now, false);
        assert!(!text.contains("last error"), "{text}");
        // Checked before, but not in the last hour.
        let text = render_health(&health, &summary, &[], now, false);
        assert!(text.contains("  last hour  no checks\n"), "{text}");
    }

    #[test]
    fn health_without_checks_says_why() {
        let now = Utc::now();
        let empty = json!({"total_checks": 0, "uptime_percent": null, "last_check": null,
            "current_streak": null});
        let summary = json!({"24h": empty, "7d": empty, "30d": empty});
        let stopped = fake_health(now, "stopped", "unknown", false);
        assert_eq!(
            render_health(&stopped, &summary, &[], now, false),
            "time: unknown (stopped), not monitored: the server is stopped\n\
             \x20 no checks yet: servers are checked only while running \
             (start it with: mcp-manager server start time)\n"
        );
        let starting = fake_health(now, "starting", "unknown", false);
        let text = render_health(&starting, &summary, &[], now, false);
        assert!(
            text.ends_with("  no checks yet: servers are checked only while running\n"),
            "{text}"
        );
        let mut waiting = fake_health(now, "running", "unknown", true);
        waiting["last_health_check"] = Value::Null;
        let text = render_health(&waiting, &summary, &[], now, false);
        assert!(
            text.contains("no checks yet: the first one comes"),
            "{text}"
        );
    }

    #[test]
    fn logs_arguments() {
        let args = parse_logs(&[
            "time",
            "-f",
            "-n",
            "20",
            "--level",
            "warning",
            "--source",
            "stderr,mcp",
            "--source",
            "system",
            "--grep",
            "conn*",
            "--since",
            "1h",
            "--utc",
        ])
        .expect("parses");
        assert_eq!(args.name, "time");
        assert!(args.follow && args.utc && !args.no_color);
        assert_eq!(args.lines, Some(LineCount::Last(20)));
        assert_eq!(args.level, Some(LogLevel::Warn));
        assert_eq!(
            args.source,
            [LogSource::Stderr, LogSource::Mcp, LogSource::System]
        );
        assert!(args.since.is_some_and(
            |t| (Utc::now() - t).num_minutes() == 59 || (Utc::now() - t).num_minutes() == 60
        ));
        assert_eq!(
            parse_logs(&["x", "-n", "all"]).expect("all").lines,
            Some(LineCount::All)
        );
        let export = parse_logs(&["x", "--export", "csv", "-o", "out.csv"]).expect("export");
        assert_eq!(export.export, Some(ExportFormat::Csv));
        assert_eq!(export.output, Some(PathBuf::from("out.csv")));
        for (bad, kind) in [
            (
                &["x", "--export", "csv", "-f"][..],
                clap::error::ErrorKind::ArgumentConflict,
            ),
            (
                &["x", "--export", "csv", "-n", "3"][..],
                clap::error::ErrorKind::ArgumentConflict,
            ),
            (
                &["x", "--export", "csv", "--json"][..],
                clap::error::ErrorKind::ArgumentConflict,
            ),
            (
                &["x", "--output", "f"][..],
                clap::error::ErrorKind::MissingRequiredArgument,
            ),
            (
                &["x", "--level", "loud"][..],
                clap::error::ErrorKind::InvalidValue,
            ),
            (
                &["x", "--source", "stdout,pipe"][..],
                clap::error::ErrorKind::InvalidValue,
            ),
            (
                &["x", "-n", "-3"][..],
                clap::error::ErrorKind::UnknownArgument,
            ),
            (
                &["x", "-n", "many"][..],
                clap::error::ErrorKind::ValueValidation,
            ),
            (
                &["x", "--since", "soon"][..],
                clap::error::ErrorKind::ValueValidation,
            ),
            (&[][..], clap::error::ErrorKind::MissingRequiredArgument),
        ] {
            assert_eq!(
                parse_logs(bad).map(|_| ()).unwrap_err().kind(),
                kind,
                "{bad:?}"
            );
        }
    }

    #[test]
    fn times_and_ages() {
        let now = DateTime::parse_from_rfc3339("2026-03-04T12:00:00Z")
            .expect("time")
            .with_timezone(&Utc);
        let at = |s: &str| parse_when_at(s, now);
        assert_eq!(
            at("2026-01-02T03:04:05+02:00").expect("rfc"),
            "2026-01-02T01:04:05Z".parse::<DateTime<Utc>>().expect("t")
        );
        assert_eq!(at("now").expect("now"), now);
        for (age, secs) in [
            ("30s", 30),
            ("15m", 900),
            ("1h30m", 5400),
            ("2d", 172_800),
            ("1w", 604_800),
            ("-1h", 3600),
            ("1h ago", 3600),
            ("0s", 0),
        ] {
            assert_eq!(
                at(age).expect(age),
                now - chrono::Duration::seconds(secs),
                "{age}"
            );
        }
        for bad in [
            "",
            "h",
            "1x",
            "1h30",
            "soon",
            "1.5h",
            "2026-13-01",
            "99999999999999999w",
        ] {
            assert!(at(bad).is_err(), "{bad}");
        }
        // Local dates and times.
        let local = at("2026-01-02 03:04").expect("local");
        assert_eq!(
            local
                .with_timezone(&Local)
                .format("%Y-%m-%d %H:%M:%S")
                .to_string(),
            "2026-01-02 03:04:00"
        );
        let midnight = at("2026-01-02").expect("date");
        assert_eq!(
            midnight.with_timezone(&Local).format("%H:%M").to_string(),
            "00:00"
        );
        let today = at("today").expect("today");
        assert!(today - at("yesterday").expect("yesterday") > chrono::Duration::hours(22));
        assert!(today <= now);
    }

    #[test]
    fn grep_mirrors_the_full_text_search() {
        let matches = |grep: &str, message: &str| {
            let filter = LogFilter {
                search: crate::db::logs::Search::parse(grep),
                grep: Some(grep.to_string()),
                ..LogFilter::default()
            };
            filter.matches(&json!({"message": message}))
        };
        assert!(matches("timeout", "Request TIMEOUT after 5s"));
        assert!(matches("timeout request", "request: timeout"));
        assert!(!matches("timeout request", "timeout only"));
        assert!(matches("conn*", "connection refused"));
        assert!(!matches("conn", "connection refused"));
        assert!(matches(
            "\"broken pipe\"",
            "write: Broken pipe (os error 32)"
        ));
        assert!(!matches("\"broken pipe\"", "pipe broken"));
        assert!(matches("error_count=0", "stats: error count 0"));
        assert!(matches("foo-ba*", "foo bar"));
        assert!(!matches("terror", "error"));
        // Nothing searchable: everything matches, as in the API.
        assert!(crate::db::logs::Search::parse("  \"\" *** ").is_none());
    }

    #[test]
    fn live_lines_are_filtered_like_the_api_does() {
        let at = "2026-03-04T12:00:00Z".parse::<DateTime<Utc>>().expect("t");
        let line = |level: &str, source: &str, ts: DateTime<Utc>| {
            json!({"id": 1, "level": level, "source": source, "message": "m",
                   "timestamp": ts.to_rfc3339()})
        };
        let filter = LogFilter {
            level: Some(LogLevel::Warn),
            sources: vec![LogSource::Stderr, LogSource::Mcp],
            since: Some(at),
            until: Some(at + chrono::Duration::hours(1)),
            ..LogFilter::default()
        };
        assert!(filter.matches(&line("warn", "stderr", at)));
        assert!(filter.matches(&line("error", "mcp", at + chrono::Duration::minutes(59))));
        assert!(!filter.matches(&line("info", "stderr", at)));
        assert!(!filter.matches(&line("loud", "stderr", at)));
        assert!(!filter.matches(&line("error", "system", at)));
        assert!(!filter.matches(&json!({"level": "error", "source": null, "timestamp": at})));
        assert!(!filter.matches(&line("error", "mcp", at - chrono::Duration::seconds(1))));
        assert!(!filter.matches(&line("error", "mcp", at + chrono::Duration::hours(1))));
        assert!(LogFilter::default().matches(&json!({})));
        assert_eq!(LogFilter::default().endpoint(), ["logs"]);
        assert_eq!(filter.endpoint(), ["logs", "search"]);
        assert_eq!(
            filter.query(),
            [
                ("level", "warn".to_string()),
                ("source", "stderr,mcp".to_string()),
                ("since", "2026-03-04T12:00:00.000000Z".to_string()),
                ("until", "2026-03-04T13:00:00.000000Z".to_string()),
            ]
        );
    }

    #[test]
    fn log_line_layout() {
        let entry = json!({"id": 7, "level": "warn", "source": "mcp", "truncated": true,
            "message": "[fixture] disk \x1b[2Jfull", "timestamp": "2026-03-04T12:00:00.123456Z"});
        assert_eq!(
            render_entry(&entry, false, true),
            "2026-03-04T12:00:00.123Z WARN  mcp    [fixture] disk \\u{1b}[2Jfull [truncated]\n"
        );
        assert_eq!(
            render_entry(&entry, true, true),
            "2026-03-04T12:00:00.123Z \x1b[33mWARN\x1b[0m  mcp    [fixture] disk \\u{1b}[2Jfull \
             [truncated]\n"
        );
        let local = render_entry(&entry, false, false);
        let shown = "2026-03-04T12:00:00.123Z"
            .parse::<DateTime<Utc>>()
            .expect("t")
            .with_timezone(&Local)
            .format("%Y-%m-%d %H:%M:%S%.3f")
            .to_string();
        assert!(local.starts_with(&format!("{shown} WARN  mcp ")), "{local}");
        let error = json!({"level": "error", "source": "stderr", "message": "boom"});
        assert_eq!(render_entry(&error, false, true), "- ERROR stderr boom\n");
    }

    #[test]
    fn events_that_matter_to_a_follower() {
        let id = "s1";
        let lines = br#"{"type":"logs:new","seq":3,"data":{"server_id":"s1","lines":[{"id":5}]}}"#;
        assert!(matches!(read_event(lines, id), Seen::Lines(l) if l.len() == 1));
        let other = br#"{"type":"logs:new","data":{"server_id":"s2","lines":[{"id":5}]}}"#;
        assert!(matches!(read_event(other, id), Seen::Nothing));
        let deleted = br#"{"type":"server:deleted","data":{"id":"s1","name":"x"}}"#;
        assert!(matches!(read_event(deleted, id), Seen::Deleted));
        let lagged = br#"{"type":"lagged","ts":"2026-01-01T00:00:00Z"}"#;
        assert!(matches!(read_event(lagged, id), Seen::CatchUp));
        let gone = br#"{"type":"snapshot","data":{"servers":[{"id":"s2"}]}}"#;
        assert!(matches!(read_event(gone, id), Seen::Deleted));
        let there = br#"{"type":"snapshot","data":{"servers":[{"id":"s1"}]}}"#;
        assert!(matches!(read_event(there, id), Seen::Nothing));
        assert!(matches!(read_event(b"not json", id), Seen::Nothing));
    }

    #[tokio::test]
    async fn unreachable_daemon_exits_2() {
        // A port that was just free: connecting to it is refused.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        let url = format!("http://127.0.0.1:{port}");
        let args = parse(&["--url", &url, "ls"]).expect("parses");
        assert_eq!(run(args).await, 2);
        let args = parse(&["--url", "https://127.0.0.1:1", "ls"]).expect("parses");
        assert_eq!(run(args).await, 1);
        let args = parse_health(&["--url", &url, "time"]).expect("parses");
        assert_eq!(run_health(args).await, 2);
        let args = parse_health(&["--url", &url, ".."]).expect("parses");
        assert_eq!(run_health(args).await, 1);
        let args = parse_logs(&["--url", &url, "time"]).expect("parses");
        assert_eq!(run_logs(args).await, 2);
        let args = parse_logs(&["--url", &url, "time", "-f"]).expect("parses");
        assert_eq!(run_logs(args).await, 2);
    }
}

/// Copy the daemon's store to a file while it runs.
#[derive(Args, Debug)]
#[command(
    after_help = "The copy is consistent (one snapshot of the store, taken with SQLite's \
VACUUM INTO while the daemon keeps writing) and is checked with PRAGMA integrity_check before \
it is put in place. To restore: stop the daemon, replace mcp-manager.db in its data dir with \
the copy (and remove mcp-manager.db-wal and -shm), start it again.

Example:
  mcp-manager backup ~/backups/mcp-manager-$(date +%F).db"
)]
pub struct BackupArgs {
    #[command(flatten)]
    pub api: ApiArgs,
    /// Where to write the copy
    pub file: std::path::PathBuf,
    /// Replace FILE if it exists
    #[arg(long)]
    pub force: bool,
}

pub async fn run_backup(args: BackupArgs) -> i32 {
    finish(backup(&args).await)
}

async fn backup(args: &BackupArgs) -> Result<String, Failure> {
    use std::io::Write;
    if args.file.exists() && !args.force {
        return Err(Failure::Api(format!(
            "{} exists (use --force to replace it)",
            args.file.display()
        )));
    }
    let client = Client::streaming(&args.api.url, api_token(&args.api))?;
    let mut response = client.stream(&["api", "system", "backup"], &[]).await?;
    let partial = args.file.with_extension("partial");
    let mut out = std::fs::File::create(&partial)
        .map_err(|e| Failure::Api(format!("cannot write {}: {e}", partial.display())))?;
    let mut bytes = 0u64;
    let written = async {
        while let Some(chunk) = client.chunk(&mut response).await? {
            out.write_all(&chunk)
                .map_err(|e| Failure::Api(format!("writing {}: {e}", partial.display())))?;
            bytes += chunk.len() as u64;
        }
        out.sync_all()
            .map_err(|e| Failure::Api(format!("writing {}: {e}", partial.display())))?;
        check_backup(&partial)
    }
    .await;
    if let Err(e) = written {
        let _ = std::fs::remove_file(&partial);
        return Err(e);
    }
    std::fs::rename(&partial, &args.file).map_err(|e| {
        Failure::Api(format!(
            "cannot move the copy to {}: {e}",
            args.file.display()
        ))
    })?;
    Ok(format!(
        "backup: {} ({:.1} MB, integrity ok)",
        args.file.display(),
        bytes as f64 / 1e6
    ))
}

/// The copy opens as a database and SQLite finds nothing wrong in it.
fn check_backup(path: &std::path::Path) -> Result<(), Failure> {
    use diesel::{Connection, RunQueryDsl, SqliteConnection};
    #[derive(diesel::QueryableByName)]
    struct Check {
        #[diesel(sql_type = diesel::sql_types::Text)]
        integrity_check: String,
    }
    let bad = |e: String| Failure::Api(format!("the copy is not a sound database: {e}"));
    let mut c =
        SqliteConnection::establish(&path.display().to_string()).map_err(|e| bad(e.to_string()))?;
    let rows: Vec<Check> = diesel::sql_query("PRAGMA integrity_check")
        .load(&mut c)
        .map_err(|e| bad(e.to_string()))?;
    match rows.first() {
        Some(r) if r.integrity_check == "ok" && rows.len() == 1 => Ok(()),
        _ => Err(bad(rows
            .iter()
            .map(|r| r.integrity_check.as_str())
            .collect::<Vec<_>>()
            .join("; "))),
    }
}

/// Print the configuration snippet an AI client needs to use a managed server.
#[derive(Args, Debug)]
#[command(after_help = "\
The snippet (JSON) goes to stdout, where to put it and any remark about the token to stderr.
Claude Desktop only launches commands: its snippet runs `mcp-manager bridge NAME`. The others
connect to the daemon's gateway, http://HOST:PORT/mcp/NAME. With --all instead of NAME, the
snippet is for the aggregate endpoint http://HOST:PORT/mcp (every running, exposed server, tools
named SERVER__TOOL), under the entry `mcp-manager`. With a daemon token the snippet refers to it
(an environment variable or input the client expands) unless --include-token.

Examples:
  mcp-manager connect --all --client claude-code
  mcp-manager connect time --client cursor
  mcp-manager connect time --client claude-desktop --include-token
  mcp-manager connect time --client claude-code --json")]
pub struct ConnectArgs {
    #[command(flatten)]
    pub api: ApiArgs,
    /// Server name or id
    #[arg(required_unless_present = "all")]
    pub name: Option<String>,
    /// Every running, exposed server through the aggregate endpoint `/mcp`
    #[arg(long, conflicts_with = "name")]
    pub all: bool,
    /// The client to configure
    #[arg(long, value_enum)]
    pub client: ClientKind,
    /// Put the daemon's token itself in the snippet
    #[arg(long)]
    pub include_token: bool,
}

/// The clients `connect` knows (the API's `client=` values).
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClientKind {
    ClaudeDesktop,
    ClaudeCode,
    Cursor,
    Vscode,
}

impl ClientKind {
    fn as_str(self) -> &'static str {
        match self {
            ClientKind::ClaudeDesktop => "claude-desktop",
            ClientKind::ClaudeCode => "claude-code",
            ClientKind::Cursor => "cursor",
            ClientKind::Vscode => "vscode",
        }
    }
}

/// Runs `connect NAME --client C`, with the same exit codes as [`run`].
pub async fn run_connect(args: ConnectArgs) -> i32 {
    finish(connect(&args).await)
}

async fn connect(args: &ConnectArgs) -> Result<String, Failure> {
    let client = Client::new(&args.api.url, api_token(&args.api))?;
    let mut query = vec![("client", args.client.as_str().to_string())];
    if args.include_token {
        query.push(("include_token", "true".to_string()));
    }
    let path = match args.name.as_deref().filter(|_| !args.all) {
        Some(name) => vec!["api", "servers", name, "client-config"],
        None => vec!["api", "client-config"],
    };
    let (data, _) = client.page(&path, &query).await?;
    if args.api.json {
        return pretty(&data);
    }
    let config = data
        .get("config")
        .ok_or_else(|| Failure::Api("unexpected answer: no `config`".into()))?;
    let mut hints = Vec::new();
    if let Some(file) = data.get("file").and_then(Value::as_str) {
        hints.push(format!("# add to {file}"));
    }
    if let Some(command) = data.get("command").and_then(Value::as_str) {
        hints.push(format!("# or run: {command}"));
    }
    if let Some(note) = data.get("note").and_then(Value::as_str) {
        hints.push(format!("# {note}"));
    }
    if !hints.is_empty() {
        eprintln!("{}", hints.join("\n"));
    }
    pretty(config)
}
