//! The server model: what a user defines (create / patch requests, validated here), what the
//! store keeps ([`ServerRecord`], converted from and to rows), and what the API shows
//! ([`ServerView`]). Secret env values enter here and never leave through a view.

use crate::db::models::ServerRow;
use crate::error::{AppError, AppResult};
use crate::health::HealthSettings;
use crate::state::{BackoffSettings, ExitInfo, RestartPolicy, StatusKind};
use chrono::{DateTime, NaiveDateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize};
use std::collections::BTreeMap;
use utoipa::ToSchema;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema, Default)]
#[serde(rename_all = "lowercase")]
pub enum ServerType {
    /// Any executable.
    #[default]
    Process,
    /// A Node.js server (`npx -y PACKAGE`, `node server.js`): a preset of `process`.
    Nodejs,
    /// A Python server (`uvx PACKAGE`, `python -m MODULE`): a preset of `process`.
    Python,
    /// A Docker container: `image`, optional `command`/`args` override, `ports`, limits.
    Container,
    /// A server the manager does not run (not yet supported by this build).
    Remote,
}

impl ServerType {
    pub fn as_str(self) -> &'static str {
        match self {
            ServerType::Process => "process",
            ServerType::Nodejs => "nodejs",
            ServerType::Python => "python",
            ServerType::Container => "container",
            ServerType::Remote => "remote",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        serde_json::from_value(serde_json::Value::String(s.to_string())).ok()
    }
    pub fn is_process(self) -> bool {
        matches!(
            self,
            ServerType::Process | ServerType::Nodejs | ServerType::Python
        )
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema, Default)]
#[serde(rename_all = "lowercase")]
pub enum Transport {
    /// The manager holds the server's stdin/stdout; stdout carries JSON-RPC only.
    #[default]
    Stdio,
    /// Streamable HTTP at `url` (or `http://127.0.0.1:{port}/mcp`).
    Http,
}

impl Transport {
    pub fn as_str(self) -> &'static str {
        match self {
            Transport::Stdio => "stdio",
            Transport::Http => "http",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema, Default)]
#[serde(rename_all = "lowercase")]
pub enum DesiredState {
    Running,
    #[default]
    Stopped,
}

impl DesiredState {
    pub fn as_str(self) -> &'static str {
        match self {
            DesiredState::Running => "running",
            DesiredState::Stopped => "stopped",
        }
    }
}

/// Timing settings of one server, stored in the `config` column.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Settings {
    /// How long a start may take before the run is abandoned (default 120 s, enough for a
    /// first `npx -y` download).
    pub start_timeout_secs: f64,
    /// Grace period between SIGTERM and SIGKILL when stopping (default 10 s).
    pub stop_grace_secs: f64,
    pub backoff: BackoffSettings,
    /// Container servers: published ports.
    pub ports: Vec<PortSpec>,
    /// Container servers: memory limit in MiB.
    pub memory_mb: Option<u64>,
    /// Container servers: CPU limit in cores (e.g. 0.5).
    pub cpus: Option<f64>,
    /// Health check settings (each field optional; daemon defaults apply).
    pub health: HealthSettings,
    /// Gateway: whether clients reach this server through `/mcp/{name}` and `/mcp`.
    pub exposed: bool,
    /// Gateway: a call to this server while it is stopped starts it and waits for
    /// `running` (bounded by `start_timeout_secs`) instead of failing at once.
    pub start_on_demand: bool,
    /// Gateway: one upstream shared by every client session, or one per session.
    pub isolation: Isolation,
    /// Gateway: which of the server's tools clients see and may call.
    pub tools: ToolFilter,
}

/// How client sessions of the gateway map onto upstream sessions of a server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Isolation {
    /// Every client session shares the server's one upstream session.
    #[default]
    Shared,
    /// Each client session gets its own upstream process (or container, for a container
    /// server), for servers that keep per-user state.
    PerSession,
}

/// Tool names a server shows through the gateway. Patterns match whole names, `*` standing
/// for any run of characters. An empty `allow` allows every tool; `deny` wins over `allow`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, default)]
pub struct ToolFilter {
    pub allow: Vec<String>,
    pub deny: Vec<String>,
}

impl ToolFilter {
    /// Whether a client may see and call the tool `name`.
    pub fn allows(&self, name: &str) -> bool {
        (self.allow.is_empty() || self.allow.iter().any(|p| glob_match(p, name)))
            && !self.deny.iter().any(|p| glob_match(p, name))
    }

    /// No filtering at all (the common case: the gateway skips the lists' rewrite).
    pub fn is_open(&self) -> bool {
        self.allow.is_empty() && self.deny.is_empty()
    }

    fn validate(&self) -> AppResult<()> {
        for (which, list) in [("tools.allow", &self.allow), ("tools.deny", &self.deny)] {
            if list.len() > 256 {
                return Err(AppError::Validation(format!(
                    "{which} has {} patterns; at most 256",
                    list.len()
                )));
            }
            if let Some(bad) = list.iter().find(|p| p.is_empty() || p.len() > 256) {
                return Err(AppError::Validation(format!(
                    "{which}: pattern {bad:?} must be 1 to 256 characters"
                )));
            }
        }
        Ok(())
    }
}

/// Whole-string match of `pattern`, where `*` matches any run of characters (greedy with
/// backtracking to the last star: linear in practice for tool names).
pub fn glob_match(pattern: &str, name: &str) -> bool {
    let (p, n) = (pattern.as_bytes(), name.as_bytes());
    let (mut pi, mut ni) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ni < n.len() {
        if pi < p.len() && p[pi] == b'*' {
            star = Some((pi, ni));
            pi += 1;
        } else if pi < p.len() && p[pi] == n[ni] {
            pi += 1;
            ni += 1;
        } else if let Some((sp, sn)) = star {
            pi = sp + 1;
            ni = sn + 1;
            star = Some((sp, sn + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == b'*')
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            start_timeout_secs: 120.0,
            stop_grace_secs: 10.0,
            backoff: BackoffSettings::default(),
            ports: vec![],
            memory_mb: None,
            cpus: None,
            health: HealthSettings::default(),
            exposed: true,
            start_on_demand: false,
            isolation: Isolation::Shared,
            tools: ToolFilter::default(),
        }
    }
}

/// A port a container publishes on the host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PortSpec {
    /// The port inside the container.
    pub container_port: u16,
    /// The host port (default: the same number).
    pub host_port: Option<u16>,
    /// The host address to bind (default 127.0.0.1, so nothing is exposed beyond this machine).
    pub host_ip: Option<String>,
}

impl PortSpec {
    pub fn host_port(&self) -> u16 {
        self.host_port.unwrap_or(self.container_port)
    }
    pub fn host_ip(&self) -> &str {
        self.host_ip.as_deref().unwrap_or("127.0.0.1")
    }
}

impl Settings {
    fn validate(&self) -> AppResult<()> {
        if !(self.start_timeout_secs.is_finite()
            && (0.1..=3600.0).contains(&self.start_timeout_secs))
        {
            return Err(AppError::Validation(
                "start_timeout_secs must be between 0.1 and 3600".into(),
            ));
        }
        if !(self.stop_grace_secs.is_finite() && (0.0..=3600.0).contains(&self.stop_grace_secs)) {
            return Err(AppError::Validation(
                "stop_grace_secs must be between 0 and 3600".into(),
            ));
        }
        for p in &self.ports {
            if p.container_port == 0 || p.host_port == Some(0) {
                return Err(AppError::Validation(
                    "ports must be between 1 and 65535".into(),
                ));
            }
            if let Some(ip) = &p.host_ip
                && ip.parse::<std::net::IpAddr>().is_err()
            {
                return Err(AppError::Validation(format!(
                    "ports: host_ip {ip:?} is not an IP address"
                )));
            }
        }
        if self
            .memory_mb
            .is_some_and(|m| !(4..=1_048_576).contains(&m))
        {
            return Err(AppError::Validation(
                "memory_mb must be between 4 and 1048576".into(),
            ));
        }
        if self
            .cpus
            .is_some_and(|c| !c.is_finite() || c <= 0.0 || c > 1024.0)
        {
            return Err(AppError::Validation(
                "cpus must be above 0 and at most 1024".into(),
            ));
        }
        self.health.validate().map_err(AppError::Validation)?;
        self.tools.validate()?;
        self.backoff.validate().map_err(AppError::Validation)
    }

    /// Every published port: the explicit ones, plus `port` on loopback when no explicit
    /// mapping covers it (so an HTTP server in a container is reachable at 127.0.0.1:port).
    pub fn published(&self, port: Option<u16>) -> Vec<PortSpec> {
        let mut all = self.ports.clone();
        if let Some(p) = port
            && !all.iter().any(|s| s.container_port == p)
        {
            all.push(PortSpec {
                container_port: p,
                host_port: None,
                host_ip: None,
            });
        }
        all
    }
}

/// How the last run ended, as stored and shown.
pub type LastExit = ExitInfo;

/// What the server told us about itself during the MCP handshake, plus its lists.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, Default)]
pub struct McpInfo {
    /// `serverInfo` from the handshake: name, version, title.
    #[schema(value_type = Object)]
    pub server_info: Option<serde_json::Value>,
    pub protocol_version: Option<String>,
    #[schema(value_type = Object)]
    pub capabilities: serde_json::Value,
    pub instructions: Option<String>,
    pub tools: Vec<McpItem>,
    pub resources: Vec<McpItem>,
    pub prompts: Vec<McpItem>,
    /// When this was read from the server.
    pub recorded_at: Option<DateTime<Utc>>,
    /// True when read live from the running server, false when it is the last recorded copy.
    #[serde(default)]
    pub live: bool,
}

/// A tool, resource or prompt.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct McpItem {
    pub name: String,
    pub title: Option<String>,
    pub description: Option<String>,
    /// Tools: the input schema. Resources: the URI and MIME type. Prompts: the arguments.
    #[schema(value_type = Object)]
    pub detail: serde_json::Value,
}

/// A server as the store keeps it: the user's definition plus run bookkeeping.
#[derive(Debug, Clone)]
pub struct ServerRecord {
    pub id: String,
    pub name: String,
    pub kind: ServerType,
    pub transport: Transport,
    pub command: Option<String>,
    pub args: Vec<String>,
    pub working_directory: Option<String>,
    pub env: BTreeMap<String, String>,
    pub secret_env: BTreeMap<String, String>,
    pub port: Option<u16>,
    pub health_endpoint: Option<String>,
    pub url: Option<String>,
    pub image: Option<String>,
    pub restart_policy: RestartPolicy,
    pub desired_state: DesiredState,
    pub settings: Settings,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    // bookkeeping, written by the ServerActor only
    pub status: StatusKind,
    pub health_status: String,
    pub last_health_check: Option<DateTime<Utc>>,
    pub process_id: Option<u32>,
    pub process_group: Option<i32>,
    pub container_id: Option<String>,
    pub restart_count: u32,
    pub last_exit: Option<LastExit>,
    pub last_error: Option<String>,
    pub generation: u64,
    pub mcp_info: Option<McpInfo>,
}

fn utc(t: NaiveDateTime) -> DateTime<Utc> {
    DateTime::from_naive_utc_and_offset(t, Utc)
}

fn parse_status(s: &str) -> StatusKind {
    serde_json::from_value(serde_json::Value::String(s.into())).unwrap_or(StatusKind::Stopped)
}

impl ServerRecord {
    pub fn from_row(row: ServerRow) -> ServerRecord {
        ServerRecord {
            kind: ServerType::parse(&row.type_).unwrap_or_default(),
            transport: if row.transport == "http" {
                Transport::Http
            } else {
                Transport::Stdio
            },
            args: serde_json::from_str(&row.args).unwrap_or_default(),
            env: serde_json::from_str(&row.env).unwrap_or_default(),
            secret_env: serde_json::from_str(&row.secret_env).unwrap_or_default(),
            port: row.port.and_then(|p| u16::try_from(p).ok()),
            restart_policy: RestartPolicy::parse(&row.restart_policy).unwrap_or_default(),
            desired_state: if row.desired_state == "running" {
                DesiredState::Running
            } else {
                DesiredState::Stopped
            },
            settings: serde_json::from_str(&row.config).unwrap_or_default(),
            created_at: utc(row.created_at),
            updated_at: utc(row.updated_at),
            status: parse_status(&row.status),
            last_health_check: row.last_health_check.map(utc),
            process_id: row.process_id.and_then(|p| u32::try_from(p).ok()),
            restart_count: u32::try_from(row.restart_count).unwrap_or(0),
            last_exit: row.last_exit.and_then(|s| serde_json::from_str(&s).ok()),
            generation: u64::try_from(row.generation).unwrap_or(0),
            mcp_info: row.mcp_info.and_then(|s| serde_json::from_str(&s).ok()),
            id: row.id,
            name: row.name,
            command: row.command,
            working_directory: row.working_directory,
            health_endpoint: row.health_endpoint,
            url: row.url,
            image: row.image,
            health_status: row.health_status,
            process_group: row.process_group,
            container_id: row.container_id,
            last_error: row.last_error,
        }
    }

    pub fn to_row(&self) -> ServerRow {
        let json = |v: &dyn erased::Ser| v.to_json();
        ServerRow {
            id: self.id.clone(),
            name: self.name.clone(),
            type_: self.kind.as_str().into(),
            image: self.image.clone(),
            status: self.status.as_str().into(),
            port: self.port.map(i32::from),
            container_id: self.container_id.clone(),
            config: json(&self.settings),
            created_at: self.created_at.naive_utc(),
            updated_at: self.updated_at.naive_utc(),
            command: self.command.clone(),
            args: json(&self.args),
            working_directory: self.working_directory.clone(),
            process_id: self.process_id.and_then(|p| i32::try_from(p).ok()),
            health_endpoint: self.health_endpoint.clone(),
            last_health_check: self.last_health_check.map(|t| t.naive_utc()),
            health_status: self.health_status.clone(),
            transport: self.transport.as_str().into(),
            url: self.url.clone(),
            env: json(&self.env),
            secret_env: json(&self.secret_env),
            restart_policy: self.restart_policy.as_str().into(),
            desired_state: self.desired_state.as_str().into(),
            last_exit: self.last_exit.as_ref().map(|e| json(e)),
            last_error: self.last_error.clone(),
            restart_count: i32::try_from(self.restart_count).unwrap_or(i32::MAX),
            generation: i64::try_from(self.generation).unwrap_or(i64::MAX),
            process_group: self.process_group,
            mcp_info: self.mcp_info.as_ref().map(|m| json(m)),
        }
    }

    /// The URL of the server's Streamable HTTP endpoint, for `transport = http`.
    pub fn http_url(&self) -> Option<String> {
        if let Some(url) = &self.url {
            return Some(url.clone());
        }
        Some(format!("{}/mcp", self.local_base()?))
    }

    /// The URL the health probe GETs: `health_endpoint` as given when absolute, else on the
    /// server's (published) port.
    pub fn health_url(&self) -> Option<String> {
        let endpoint = self.health_endpoint.as_deref()?;
        if endpoint.starts_with("http://") || endpoint.starts_with("https://") {
            return Some(endpoint.to_string());
        }
        let base = self.local_base().or_else(|| {
            let url = self.url.as_deref()?;
            let rest = url.split_once("://")?.1;
            let host = rest.split('/').next()?;
            Some(format!("{}://{host}", url.split_once("://")?.0))
        })?;
        let sep = if endpoint.starts_with('/') { "" } else { "/" };
        Some(format!("{base}{sep}{endpoint}"))
    }

    /// `http://127.0.0.1:PORT` for the server's port (the published host port for containers).
    fn local_base(&self) -> Option<String> {
        let port = self.port?;
        let host_port = if self.kind == ServerType::Container {
            self.settings
                .published(Some(port))
                .iter()
                .find(|p| p.container_port == port)
                .map(|p| p.host_port())
                .unwrap_or(port)
        } else {
            port
        };
        Some(format!("http://127.0.0.1:{host_port}"))
    }
}

mod erased {
    /// Serializes any of the record's JSON columns; these types cannot fail to serialize.
    pub trait Ser {
        fn to_json(&self) -> String;
    }
    impl<T: serde::Serialize> Ser for T {
        fn to_json(&self) -> String {
            serde_json::to_string(self).unwrap_or_else(|_| "null".into())
        }
    }
}

/// A server as the API shows it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ServerView {
    pub id: String,
    pub name: String,
    #[serde(rename = "type")]
    pub kind: ServerType,
    pub transport: Transport,
    pub command: Option<String>,
    pub args: Vec<String>,
    pub working_directory: Option<String>,
    pub env: BTreeMap<String, String>,
    /// Names of the secret variables. Their values are write-only and never shown.
    pub secret_env: Vec<String>,
    pub port: Option<u16>,
    pub health_endpoint: Option<String>,
    pub url: Option<String>,
    pub image: Option<String>,
    pub restart_policy: RestartPolicy,
    pub desired_state: DesiredState,
    pub status: StatusKind,
    /// When the current status began.
    pub status_since: Option<DateTime<Utc>>,
    /// In `backoff`: when the next start is due.
    pub next_start_at: Option<DateTime<Utc>>,
    pub health_status: String,
    pub last_health_check: Option<DateTime<Utc>>,
    pub process_id: Option<u32>,
    pub restart_count: u32,
    pub last_exit: Option<LastExit>,
    pub last_error: Option<String>,
    /// The container of the current run (type container).
    pub container_id: Option<String>,
    pub ports: Vec<PortSpec>,
    pub memory_mb: Option<u64>,
    pub cpus: Option<f64>,
    pub health: HealthSettings,
    /// Run number, incremented on every start.
    pub generation: u64,
    pub start_timeout_secs: f64,
    pub stop_grace_secs: f64,
    pub backoff: BackoffSettings,
    /// Reachable through the gateway (`/mcp/{name}` and `/mcp`).
    pub exposed: bool,
    /// A gateway call to the stopped server starts it.
    pub start_on_demand: bool,
    pub isolation: Isolation,
    /// With isolation `per-session`: the upstream processes (or containers) running now,
    /// one per gateway client session (on top of the server's own instance).
    pub session_instances: u32,
    pub tools: ToolFilter,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl ServerView {
    pub fn from_record(r: &ServerRecord) -> ServerView {
        ServerView {
            id: r.id.clone(),
            name: r.name.clone(),
            kind: r.kind,
            transport: r.transport,
            command: r.command.clone(),
            args: r.args.clone(),
            working_directory: r.working_directory.clone(),
            env: r.env.clone(),
            secret_env: r.secret_env.keys().cloned().collect(),
            port: r.port,
            health_endpoint: r.health_endpoint.clone(),
            url: r.url.clone(),
            image: r.image.clone(),
            restart_policy: r.restart_policy,
            desired_state: r.desired_state,
            status: r.status,
            status_since: None,
            next_start_at: None,
            health_status: r.health_status.clone(),
            last_health_check: r.last_health_check,
            process_id: r.process_id,
            restart_count: r.restart_count,
            last_exit: r.last_exit.clone(),
            last_error: r.last_error.clone(),
            container_id: r.container_id.clone(),
            ports: r.settings.ports.clone(),
            memory_mb: r.settings.memory_mb,
            cpus: r.settings.cpus,
            health: r.settings.health,
            generation: r.generation,
            start_timeout_secs: r.settings.start_timeout_secs,
            stop_grace_secs: r.settings.stop_grace_secs,
            backoff: r.settings.backoff,
            exposed: r.settings.exposed,
            start_on_demand: r.settings.start_on_demand,
            isolation: r.settings.isolation,
            session_instances: 0,
            tools: r.settings.tools.clone(),
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

/// Body of `POST /api/servers`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ServerCreate {
    /// Unique, URL-safe: letters, digits, `.`, `_`, `-`; at most 64 characters.
    pub name: String,
    #[serde(rename = "type", default)]
    pub kind: ServerType,
    #[serde(default)]
    pub transport: Transport,
    pub command: Option<String>,
    #[serde(default)]
    pub args: Vec<String>,
    pub working_directory: Option<String>,
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// Write-only values, e.g. API keys.
    #[serde(default)]
    pub secret_env: BTreeMap<String, String>,
    pub port: Option<u16>,
    pub health_endpoint: Option<String>,
    pub url: Option<String>,
    pub image: Option<String>,
    #[serde(default)]
    pub restart_policy: RestartPolicy,
    pub start_timeout_secs: Option<f64>,
    pub stop_grace_secs: Option<f64>,
    pub backoff: Option<BackoffSettings>,
    #[serde(default)]
    pub ports: Vec<PortSpec>,
    pub memory_mb: Option<u64>,
    pub cpus: Option<f64>,
    #[serde(default)]
    pub health: HealthSettings,
    /// Reachable through the gateway (default true).
    pub exposed: Option<bool>,
    /// A gateway call to the stopped server starts it (default false).
    #[serde(default)]
    pub start_on_demand: bool,
    #[serde(default)]
    pub isolation: Isolation,
    #[serde(default)]
    pub tools: ToolFilter,
    /// Start the server right after creating it.
    #[serde(default)]
    pub start: bool,
}

/// Deserializes a present field (even `null`) as `Some(..)`, so PATCH can tell "clear" from
/// "leave alone".
fn some<'de, T: Deserialize<'de>, D: Deserializer<'de>>(d: D) -> Result<Option<T>, D::Error> {
    T::deserialize(d).map(Some)
}

/// Body of `PATCH /api/servers/{ref}`. Absent fields are left alone; `null` clears a
/// nullable field. `env` replaces the whole map; `secret_env` merges (a `null` value removes
/// that key), because the client cannot send back values it was never shown.
/// Changes to a running server apply at its next start.
#[derive(Debug, Clone, Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct ServerPatch {
    pub name: Option<String>,
    #[serde(rename = "type")]
    pub kind: Option<ServerType>,
    pub transport: Option<Transport>,
    #[serde(default, deserialize_with = "some")]
    #[schema(value_type = Option<String>)]
    pub command: Option<Option<String>>,
    pub args: Option<Vec<String>>,
    #[serde(default, deserialize_with = "some")]
    #[schema(value_type = Option<String>)]
    pub working_directory: Option<Option<String>>,
    pub env: Option<BTreeMap<String, String>>,
    #[schema(value_type = Option<BTreeMap<String, Option<String>>>)]
    pub secret_env: Option<BTreeMap<String, Option<String>>>,
    #[serde(default, deserialize_with = "some")]
    #[schema(value_type = Option<u16>)]
    pub port: Option<Option<u16>>,
    #[serde(default, deserialize_with = "some")]
    #[schema(value_type = Option<String>)]
    pub health_endpoint: Option<Option<String>>,
    #[serde(default, deserialize_with = "some")]
    #[schema(value_type = Option<String>)]
    pub url: Option<Option<String>>,
    #[serde(default, deserialize_with = "some")]
    #[schema(value_type = Option<String>)]
    pub image: Option<Option<String>>,
    pub restart_policy: Option<RestartPolicy>,
    pub start_timeout_secs: Option<f64>,
    pub stop_grace_secs: Option<f64>,
    pub backoff: Option<BackoffSettings>,
    pub ports: Option<Vec<PortSpec>>,
    #[serde(default, deserialize_with = "some")]
    #[schema(value_type = Option<u64>)]
    pub memory_mb: Option<Option<u64>>,
    #[serde(default, deserialize_with = "some")]
    #[schema(value_type = Option<f64>)]
    pub cpus: Option<Option<f64>>,
    pub health: Option<HealthSettings>,
    pub exposed: Option<bool>,
    pub start_on_demand: Option<bool>,
    pub isolation: Option<Isolation>,
    pub tools: Option<ToolFilter>,
}

pub fn validate_name(name: &str) -> AppResult<()> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if !ok {
        return Err(AppError::Validation(format!(
            "invalid name {name:?}: use 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit"
        )));
    }
    if uuid::Uuid::parse_str(name).is_ok() {
        return Err(AppError::Validation(
            "a name may not look like a server id (UUID)".into(),
        ));
    }
    Ok(())
}

fn no_nul(what: &str, s: &str) -> AppResult<()> {
    if s.contains('\0') {
        return Err(AppError::Validation(format!("{what} contains a NUL byte")));
    }
    Ok(())
}

fn validate_env(what: &str, env: &BTreeMap<String, String>) -> AppResult<()> {
    for (k, v) in env {
        if k.is_empty() || k.contains('=') || k.contains('\0') {
            return Err(AppError::Validation(format!(
                "{what}: invalid variable name {k:?}"
            )));
        }
        no_nul(&format!("{what}.{k}"), v)?;
    }
    Ok(())
}

impl ServerRecord {
    /// Checks the definition as a whole (after a create or a patch was applied to it).
    pub fn validate(&self) -> AppResult<()> {
        validate_name(&self.name)?;
        match self.kind {
            ServerType::Remote => {
                if self.url.is_none() {
                    return Err(AppError::Validation(
                        "url is required for type 'remote' (its Streamable HTTP endpoint)".into(),
                    ));
                }
                let local_only = [
                    ("command", self.command.is_some()),
                    ("args", !self.args.is_empty()),
                    ("working_directory", self.working_directory.is_some()),
                    ("env", !self.env.is_empty()),
                    ("secret_env", !self.secret_env.is_empty()),
                    ("image", self.image.is_some()),
                    ("port", self.port.is_some()),
                    ("ports", !self.settings.ports.is_empty()),
                    ("memory_mb", self.settings.memory_mb.is_some()),
                    ("cpus", self.settings.cpus.is_some()),
                ];
                if let Some((field, _)) = local_only.iter().find(|(_, set)| *set) {
                    return Err(AppError::Validation(format!(
                        "{field} is not used by type 'remote': the manager does not run it, only connects to its url"
                    )));
                }
            }
            ServerType::Container => {
                if self.image.as_deref().unwrap_or("").trim().is_empty() {
                    return Err(AppError::Validation(
                        "image is required for type 'container'".into(),
                    ));
                }
            }
            _ => {
                if self.command.as_deref().unwrap_or("").trim().is_empty() {
                    return Err(AppError::Validation(format!(
                        "command is required for type '{}'",
                        self.kind.as_str()
                    )));
                }
                if self.image.is_some() {
                    return Err(AppError::Validation(format!(
                        "image is only for type 'container', not '{}'",
                        self.kind.as_str()
                    )));
                }
                if !self.settings.ports.is_empty()
                    || self.settings.memory_mb.is_some()
                    || self.settings.cpus.is_some()
                {
                    return Err(AppError::Validation(
                        "ports, memory_mb and cpus are only for type 'container'".into(),
                    ));
                }
            }
        }
        let command = self.command.as_deref().unwrap_or("");
        no_nul("command", command)?;
        for a in &self.args {
            no_nul("args", a)?;
        }
        if let Some(dir) = &self.working_directory {
            no_nul("working_directory", dir)?;
            if !std::path::Path::new(dir).is_absolute() {
                return Err(AppError::Validation(format!(
                    "working_directory must be an absolute path, got {dir:?}"
                )));
            }
        }
        validate_env("env", &self.env)?;
        validate_env("secret_env", &self.secret_env)?;
        if let Some(duplicate) = self.env.keys().find(|k| self.secret_env.contains_key(*k)) {
            return Err(AppError::Validation(format!(
                "{duplicate} is in both env and secret_env"
            )));
        }
        if self.port == Some(0) {
            return Err(AppError::Validation(
                "port must be between 1 and 65535".into(),
            ));
        }
        if let Some(url) = &self.url
            && !(url.starts_with("http://") || url.starts_with("https://"))
        {
            return Err(AppError::Validation(format!(
                "url must start with http:// or https://, got {url:?}"
            )));
        }
        if self.transport == Transport::Http && self.http_url().is_none() {
            return Err(AppError::Validation(
                "transport 'http' needs a url or a port".into(),
            ));
        }
        if self.settings.isolation == Isolation::PerSession {
            // Each client session gets its own child (process or container) on its own
            // pipes: only a server the manager runs over stdio can be multiplied that way.
            if self.kind == ServerType::Remote || self.transport == Transport::Http {
                return Err(AppError::Validation(
                    "isolation per-session needs a stdio server".into(),
                ));
            }
        }
        self.settings.validate()
    }

    pub fn from_create(c: ServerCreate, now: DateTime<Utc>) -> AppResult<ServerRecord> {
        let defaults = Settings::default();
        let record = ServerRecord {
            id: uuid::Uuid::new_v4().to_string(),
            name: c.name,
            kind: c.kind,
            transport: c.transport,
            command: c.command,
            args: c.args,
            working_directory: c.working_directory,
            env: c.env,
            secret_env: c.secret_env,
            port: c.port,
            health_endpoint: c.health_endpoint,
            url: c.url,
            image: c.image,
            restart_policy: c.restart_policy,
            desired_state: DesiredState::Stopped,
            settings: Settings {
                start_timeout_secs: c.start_timeout_secs.unwrap_or(defaults.start_timeout_secs),
                stop_grace_secs: c.stop_grace_secs.unwrap_or(defaults.stop_grace_secs),
                backoff: c.backoff.unwrap_or(defaults.backoff),
                ports: c.ports,
                memory_mb: c.memory_mb,
                cpus: c.cpus,
                health: c.health,
                exposed: c.exposed.unwrap_or(defaults.exposed),
                start_on_demand: c.start_on_demand,
                isolation: c.isolation,
                tools: c.tools,
            },
            created_at: now,
            updated_at: now,
            status: StatusKind::Stopped,
            health_status: "unknown".into(),
            last_health_check: None,
            process_id: None,
            process_group: None,
            container_id: None,
            restart_count: 0,
            last_exit: None,
            last_error: None,
            generation: 0,
            mcp_info: None,
        };
        let mut record = record;
        record.remote_is_http();
        record.validate()?;
        Ok(record)
    }

    /// A remote server is only ever reached over HTTP.
    fn remote_is_http(&mut self) {
        if self.kind == ServerType::Remote {
            self.transport = Transport::Http;
        }
    }

    /// Applies a patch to a copy and validates the result; the original is untouched on error.
    pub fn patched(&self, p: ServerPatch, now: DateTime<Utc>) -> AppResult<ServerRecord> {
        let mut r = self.clone();
        // Absent fields are left alone; present ones (a `Some(None)` clears) replace.
        macro_rules! replace {
            ($($field:ident),*) => { $( if let Some(v) = p.$field { r.$field = v; } )* };
        }
        replace!(
            name,
            kind,
            transport,
            command,
            args,
            working_directory,
            env,
            port,
            health_endpoint,
            url,
            image,
            restart_policy
        );
        if let Some(secrets) = p.secret_env {
            for (k, v) in secrets {
                match v {
                    Some(v) => r.secret_env.insert(k, v),
                    None => r.secret_env.remove(&k),
                };
            }
        }
        if let Some(v) = p.start_timeout_secs {
            r.settings.start_timeout_secs = v;
        }
        if let Some(v) = p.stop_grace_secs {
            r.settings.stop_grace_secs = v;
        }
        if let Some(v) = p.backoff {
            r.settings.backoff = v;
        }
        if let Some(v) = p.ports {
            r.settings.ports = v;
        }
        if let Some(v) = p.memory_mb {
            r.settings.memory_mb = v;
        }
        if let Some(v) = p.cpus {
            r.settings.cpus = v;
        }
        if let Some(v) = p.health {
            r.settings.health = v;
        }
        if let Some(v) = p.exposed {
            r.settings.exposed = v;
        }
        if let Some(v) = p.start_on_demand {
            r.settings.start_on_demand = v;
        }
        if let Some(v) = p.isolation {
            r.settings.isolation = v;
        }
        if let Some(v) = p.tools {
            r.settings.tools = v;
        }
        r.updated_at = now;
        r.remote_is_http();
        r.validate()?;
        Ok(r)
    }

    /// Whether `other` defines the same server: every field a user writes, ignoring the id,
    /// the times, the desired state and the run's bookkeeping.
    pub fn same_definition(&self, other: &ServerRecord) -> bool {
        self.name == other.name
            && self.kind == other.kind
            && self.transport == other.transport
            && self.command == other.command
            && self.args == other.args
            && self.working_directory == other.working_directory
            && self.env == other.env
            && self.secret_env == other.secret_env
            && self.port == other.port
            && self.health_endpoint == other.health_endpoint
            && self.url == other.url
            && self.image == other.image
            && self.restart_policy == other.restart_policy
            && self.settings == other.settings
    }

    /// This server with the whole definition of `other` (a replacement, not a merge: what
    /// `other` leaves out goes back to its default). The id, creation time, desired state
    /// and run bookkeeping stay.
    pub fn redefined(&self, other: &ServerRecord, now: DateTime<Utc>) -> ServerRecord {
        ServerRecord {
            name: other.name.clone(),
            kind: other.kind,
            transport: other.transport,
            command: other.command.clone(),
            args: other.args.clone(),
            working_directory: other.working_directory.clone(),
            env: other.env.clone(),
            secret_env: other.secret_env.clone(),
            port: other.port,
            health_endpoint: other.health_endpoint.clone(),
            url: other.url.clone(),
            image: other.image.clone(),
            restart_policy: other.restart_policy,
            settings: other.settings.clone(),
            updated_at: now,
            ..self.clone()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn create(json: serde_json::Value) -> AppResult<ServerRecord> {
        let c: ServerCreate =
            serde_json::from_value(json).map_err(|e| AppError::Validation(e.to_string()))?;
        ServerRecord::from_create(c, Utc::now())
    }

    #[test]
    fn tool_filters() {
        assert!(glob_match("get_*", "get_time"));
        assert!(glob_match("*", ""));
        assert!(glob_match("a*b*c", "axxbyyc"));
        assert!(!glob_match("a*b*c", "axxbyy"));
        assert!(!glob_match("get", "get_time"));
        assert!(glob_match("*_time", "get_current_time"));
        let f = ToolFilter {
            allow: vec!["get_*".into(), "echo".into()],
            deny: vec!["get_secret*".into()],
        };
        assert!(f.allows("get_time") && f.allows("echo"));
        assert!(!f.allows("get_secret_key") && !f.allows("delete_all"));
        let open = ToolFilter::default();
        assert!(open.is_open() && open.allows("anything"));
        let deny_only = ToolFilter {
            allow: vec![],
            deny: vec!["rm*".into()],
        };
        assert!(deny_only.allows("ls") && !deny_only.allows("rmdir"));
    }

    #[test]
    fn gateway_settings() {
        // A config stored before these fields existed reads with their defaults.
        let old: Settings = serde_json::from_str(r#"{"start_timeout_secs": 5.0}"#).unwrap();
        assert!(old.exposed && !old.start_on_demand);
        assert_eq!(old.isolation, Isolation::Shared);
        let r = create(serde_json::json!({
            "name": "a", "command": "x", "exposed": false, "start_on_demand": true,
            "isolation": "per-session", "tools": {"deny": ["rm*"]}
        }))
        .unwrap();
        assert!(!r.settings.exposed && r.settings.start_on_demand);
        assert_eq!(r.settings.isolation, Isolation::PerSession);
        assert!(!r.settings.tools.allows("rm"));
        assert!(
            create(serde_json::json!({"name": "a", "command": "x", "tools": {"allow": [""]}}))
                .is_err()
        );
        assert!(
            create(serde_json::json!({"name": "a", "command": "x", "isolation": "none"})).is_err()
        );
        let patched = r
            .patched(
                serde_json::from_value(serde_json::json!({"exposed": true, "tools": {}})).unwrap(),
                Utc::now(),
            )
            .unwrap();
        assert!(patched.settings.exposed && patched.settings.tools.is_open());
        assert!(patched.settings.start_on_demand);
    }

    #[test]
    fn names() {
        assert!(validate_name("time").is_ok());
        assert!(validate_name("my_server-2.0").is_ok());
        assert!(validate_name("").is_err());
        assert!(validate_name("-x").is_err());
        assert!(validate_name("a/b").is_err());
        assert!(validate_name("a b").is_err());
        assert!(validate_name(&"a".repeat(65)).is_err());
        assert!(validate_name("0b9ef2a4-3b1e-4c55-9d7e-4a0f3b2f6a11").is_err());
    }

    #[test]
    fn unknown_fields_are_rejected() {
        let e = create(serde_json::json!({"name": "a", "command": "x", "comand": "y"}));
        assert!(e.is_err());
    }

    #[test]
    fn round_trip_through_a_row() {
        let r = create(serde_json::json!({
            "name": "a", "command": "python3", "args": ["-m", "x; rm -rf /"],
            "env": {"A": "1"}, "secret_env": {"KEY": "s3cret"}, "restart_policy": "always"
        }))
        .expect("valid");
        let back = ServerRecord::from_row(r.to_row());
        assert_eq!(back.args, r.args);
        assert_eq!(
            back.secret_env.get("KEY").map(String::as_str),
            Some("s3cret")
        );
        assert_eq!(back.restart_policy, RestartPolicy::Always);
        let view = serde_json::to_string(&ServerView::from_record(&back)).expect("json");
        assert!(!view.contains("s3cret"), "secret leaked: {view}");
        assert!(view.contains("\"KEY\""));
    }

    #[test]
    fn patch_merges_secrets_and_clears_nullables() {
        let r = create(serde_json::json!({
            "name": "a", "command": "x", "working_directory": "/tmp",
            "secret_env": {"A": "1", "B": "2"}
        }))
        .expect("valid");
        let p: ServerPatch = serde_json::from_value(serde_json::json!({
            "working_directory": null, "secret_env": {"A": null, "C": "3"}
        }))
        .expect("patch");
        let r2 = r.patched(p, Utc::now()).expect("patched");
        assert_eq!(r2.working_directory, None);
        assert_eq!(r2.secret_env.keys().collect::<Vec<_>>(), vec!["B", "C"]);
        let bad: ServerPatch =
            serde_json::from_value(serde_json::json!({"command": null})).expect("patch");
        assert!(r.patched(bad, Utc::now()).is_err());
    }

    #[test]
    fn a_remote_server_is_a_url_reached_over_http() {
        let r = create(
            serde_json::json!({"name": "r", "type": "remote", "url": "http://127.0.0.1:9/mcp"}),
        )
        .expect("remote");
        assert_eq!(r.transport, Transport::Http);
        assert_eq!(r.http_url().as_deref(), Some("http://127.0.0.1:9/mcp"));
    }

    #[test]
    fn invalid_definitions() {
        for bad in [
            serde_json::json!({"name": "a"}),
            serde_json::json!({"name": "a", "command": "x", "working_directory": "rel/dir"}),
            serde_json::json!({"name": "a", "command": "x", "env": {"A=B": "1"}}),
            serde_json::json!({"name": "a", "command": "x", "transport": "http"}),
            serde_json::json!({"name": "a", "command": "x", "start_timeout_secs": -1}),
            serde_json::json!({"name": "a", "type": "container"}),
            serde_json::json!({"name": "a", "type": "remote"}),
            serde_json::json!({"name": "a", "type": "remote", "url": "ftp://x"}),
            serde_json::json!({"name": "a", "type": "remote", "url": "http://x", "command": "x"}),
            serde_json::json!({"name": "a", "type": "remote", "url": "http://x", "env": {"A": "1"}}),
            serde_json::json!({"name": "a", "command": "x", "memory_mb": 64}),
            serde_json::json!({"name": "a", "type": "container", "image": "i", "ports": [{"container_port": 0}]}),
            serde_json::json!({"name": "a", "command": "x", "env": {"A": "1"}, "secret_env": {"A": "2"}}),
        ] {
            assert!(create(bad.clone()).is_err(), "{bad}");
        }
    }
}
