//! Daemon configuration: flags and their environment variables, with defaults.

use std::net::SocketAddr;
use std::path::PathBuf;

#[derive(clap::Args, Debug, Clone)]
pub struct ServeArgs {
    /// Address to listen on. Binding anything but loopback requires --token.
    #[arg(long, env = "MCP_MANAGER_BIND", default_value = "127.0.0.1:7070")]
    pub bind: SocketAddr,
    /// Where the store and state live [default: $XDG_DATA_HOME/mcp-manager]
    #[arg(long, env = "MCP_MANAGER_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// API token; when set, every API request must carry `Authorization: Bearer TOKEN`.
    #[arg(long, env = "MCP_MANAGER_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// Extra host names accepted in Host and Origin headers (loopback names always are).
    #[arg(
        long = "allowed-host",
        env = "MCP_MANAGER_ALLOWED_HOSTS",
        value_delimiter = ','
    )]
    pub allowed_hosts: Vec<String>,
    /// Health checks older than this many days are pruned (hourly).
    #[arg(
        long,
        env = "MCP_MANAGER_HEALTH_RETENTION_DAYS",
        default_value_t = 30.0
    )]
    pub health_retention_days: f64,
    /// Default seconds between health checks (a server's `health.interval_secs` overrides).
    #[arg(long, env = "MCP_MANAGER_HEALTH_INTERVAL", default_value_t = 30.0)]
    pub health_interval_secs: f64,
    /// Server log lines older than this many days are pruned (hourly).
    #[arg(long, env = "MCP_MANAGER_LOG_RETENTION_DAYS", default_value_t = 30.0)]
    pub log_retention_days: f64,
    /// Each server keeps at most this many MiB of log text; older lines are pruned (hourly).
    #[arg(long, env = "MCP_MANAGER_LOG_MAX_MB", default_value_t = 50.0)]
    pub log_max_mb: f64,
    /// Seconds between retention runs (health checks and logs).
    #[arg(long, env = "MCP_MANAGER_PRUNE_INTERVAL", default_value_t = 3600.0)]
    pub prune_interval_secs: f64,
    /// Log filter, e.g. `info` or `mcp_manager=debug`.
    #[arg(long, env = "MCP_MANAGER_LOG", default_value = "info,rmcp=warn")]
    pub log: String,
}

#[derive(Debug, Clone)]
pub struct Config {
    pub bind: SocketAddr,
    pub data_dir: PathBuf,
    pub token: Option<String>,
    pub allowed_hosts: Vec<String>,
    pub health_retention: chrono::Duration,
    pub log_retention: chrono::Duration,
    pub log_max_bytes: i64,
    pub prune_interval: std::time::Duration,
    pub health_defaults: crate::health::HealthDefaults,
}

pub fn default_data_dir() -> PathBuf {
    let base = std::env::var_os("XDG_DATA_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/share")))
        .unwrap_or_else(|| PathBuf::from("."));
    base.join("mcp-manager")
}

impl Config {
    pub fn from_args(a: ServeArgs) -> Result<Config, String> {
        let token = a.token.filter(|t| !t.is_empty());
        if !a.bind.ip().is_loopback() && token.is_none() {
            return Err(format!(
                "refusing to listen on {} without an API token: a server definition is a command \
                 that will run on this machine. Set --token (or MCP_MANAGER_TOKEN), or bind 127.0.0.1.",
                a.bind
            ));
        }
        let mut allowed_hosts: Vec<String> = ["localhost", "127.0.0.1", "::1", "[::1]"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        if !a.bind.ip().is_unspecified() {
            allowed_hosts.push(a.bind.ip().to_string());
        }
        allowed_hosts.extend(
            a.allowed_hosts
                .into_iter()
                .map(|h| h.trim().to_ascii_lowercase())
                .filter(|h| !h.is_empty()),
        );
        if !(a.health_retention_days.is_finite() && a.health_retention_days > 0.0) {
            return Err("--health-retention-days must be above 0".into());
        }
        if !(a.health_interval_secs.is_finite()
            && (0.1..=86_400.0).contains(&a.health_interval_secs))
        {
            return Err("--health-interval-secs must be between 0.1 and 86400".into());
        }
        if !(a.log_retention_days.is_finite() && a.log_retention_days > 0.0) {
            return Err("--log-retention-days must be above 0".into());
        }
        if !(a.log_max_mb.is_finite() && a.log_max_mb > 0.0) {
            return Err("--log-max-mb must be above 0".into());
        }
        if !(a.prune_interval_secs.is_finite() && a.prune_interval_secs >= 0.1) {
            return Err("--prune-interval-secs must be at least 0.1".into());
        }
        Ok(Config {
            prune_interval: std::time::Duration::from_secs_f64(a.prune_interval_secs),
            log_retention: chrono::Duration::seconds((a.log_retention_days * 86_400.0) as i64),
            log_max_bytes: (a.log_max_mb * 1024.0 * 1024.0) as i64,
            health_retention: chrono::Duration::seconds(
                (a.health_retention_days * 86_400.0) as i64,
            ),
            health_defaults: crate::health::HealthDefaults {
                interval_secs: a.health_interval_secs,
                ..Default::default()
            },
            bind: a.bind,
            data_dir: a.data_dir.unwrap_or_else(default_data_dir),
            token,
            allowed_hosts,
        })
    }
}
