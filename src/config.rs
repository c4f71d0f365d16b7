//! Daemon configuration in one place: each setting is a flag, an environment variable and a
//! key of an optional TOML settings file, all with the same name (docs/configuration.md).
//! Precedence: flag > environment > settings file > default. clap reads flags and the
//! environment; [`settings_args`] turns the file's keys that neither set into `--key=value`
//! arguments, which the caller appends to the command line and parses again, so every value
//! goes through the same parser whatever its source, and a new flag is a file key for free.

use clap::builder::TypedValueParser;
use clap::parser::ValueSource;
use clap::{ArgMatches, Args, Command};
use std::ffi::OsString;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

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
    /// Microseconds the gateway's thread stays awake, polling, after it forwards a request
    /// or an answer, so the next one is read without a wake-up from sleep (docs/gateway.md,
    /// "Staying awake"). 0: sleep at once (less CPU, more latency per call).
    #[arg(long, env = "MCP_MANAGER_GATEWAY_SPIN_US", default_value_t = 200, value_parser = clap::value_parser!(u64).range(0..=10_000))]
    pub gateway_spin_us: u64,
    /// Seconds between retention runs (health checks and logs).
    #[arg(long, env = "MCP_MANAGER_PRUNE_INTERVAL", default_value_t = 3600.0)]
    pub prune_interval_secs: f64,
    /// Log filter, e.g. `info` or `mcp_manager=debug`.
    #[arg(long, env = "MCP_MANAGER_LOG", default_value = "info,rmcp=warn")]
    pub log: String,
    /// TOML file with any of these settings, keys named like the flags (`bind`, `data-dir`,
    /// …); flags and environment variables win over it. Empty: no file.
    /// [default: $XDG_CONFIG_HOME/mcp-manager/settings.toml, when it exists]
    #[arg(
        long,
        env = "MCP_MANAGER_SETTINGS",
        value_name = "FILE",
        value_parser = clap::builder::OsStringValueParser::new().map(PathBuf::from)
    )]
    pub settings: Option<PathBuf>,
    /// Servers file: an `mcpServers` JSON (Claude Desktop, Cursor, VS Code) whose servers
    /// are created or updated at start (docs/servers-file.md). Empty: no file.
    #[arg(
        long,
        env = "MCP_MANAGER_CONFIG",
        value_name = "FILE",
        value_parser = clap::builder::OsStringValueParser::new().map(PathBuf::from)
    )]
    pub config: Option<PathBuf>,
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
    /// The servers file to apply at start (`--config`), if any.
    pub servers_file: Option<PathBuf>,
    /// How long the gateway's thread polls before it sleeps.
    pub gateway_spin: std::time::Duration,
}

pub fn default_data_dir() -> PathBuf {
    let base = std::env::var_os("XDG_DATA_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/share")))
        .unwrap_or_else(|| PathBuf::from("."));
    base.join("mcp-manager")
}

/// Where the settings file is looked for when neither `--settings` nor `MCP_MANAGER_SETTINGS`
/// names one: next to the data dir's XDG convention, `$XDG_CONFIG_HOME/mcp-manager/settings.toml`
/// (`~/.config/mcp-manager/settings.toml`).
pub fn default_settings_path() -> Option<PathBuf> {
    std::env::var_os("XDG_CONFIG_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")))
        .map(|base| base.join("mcp-manager/settings.toml"))
}

/// A settings file that was read, and the arguments it adds.
#[derive(Debug)]
pub struct Loaded {
    pub path: PathBuf,
    pub args: Vec<OsString>,
}

/// The settings file for a parsed `serve` (or `doctor`) command line, read and turned into
/// arguments to append to it; `None` when there is no file. A file named by the flag or the
/// variable must exist; the default one is read only when it exists.
pub fn settings_args(matches: &ArgMatches) -> Result<Option<Loaded>, String> {
    let path = match matches.get_one::<PathBuf>("settings") {
        Some(p) if p.as_os_str().is_empty() => return Ok(None),
        Some(p) => p.clone(),
        None => match default_settings_path() {
            Some(p) if p.exists() => p,
            _ => return Ok(None),
        },
    };
    let text = std::fs::read_to_string(&path)
        .map_err(|e| format!("cannot read settings file {}: {e}", path.display()))?;
    let args = file_args(&path, &text, matches)?;
    Ok(Some(Loaded { path, args }))
}

/// The settings a file may hold: every `serve` flag but `--settings` itself.
fn settings_command() -> Command {
    ServeArgs::augment_args(Command::new("serve"))
}

/// The file's keys as `--key=value` arguments, leaving out those a flag or an environment
/// variable already set in `matches`. Keys are the long flag names (`data-dir`, or
/// `data_dir`); a key that is no setting, or a value the flag would not accept, is an error
/// naming the file and the key.
pub fn file_args(path: &Path, text: &str, matches: &ArgMatches) -> Result<Vec<OsString>, String> {
    let file = path.display();
    let table: toml::Table =
        toml::from_str(text).map_err(|e| format!("settings file {file}: {e}"))?;
    let cmd = settings_command();
    let settings: Vec<&clap::Arg> = cmd
        .get_arguments()
        .filter(|a| a.get_long().is_some_and(|l| l != "settings"))
        .collect();
    let mut seen: Vec<&str> = Vec::new();
    let mut args = Vec::new();
    for (key, value) in &table {
        let name = key.replace('_', "-");
        let Some(arg) = settings
            .iter()
            .find(|a| a.get_long() == Some(name.as_str()))
        else {
            let known: Vec<&str> = settings.iter().filter_map(|a| a.get_long()).collect();
            return Err(format!(
                "settings file {file}: unknown key `{key}` (the keys are: {})",
                known.join(", ")
            ));
        };
        let long = arg.get_long().unwrap_or_default();
        if seen.contains(&long) {
            return Err(format!("settings file {file}: `{long}` is set twice"));
        }
        seen.push(long);
        let bad = |why: String| format!("settings file {file}: `{key}`: {why}");
        let values: Vec<String> = match value {
            toml::Value::Array(items) if arg.get_action().takes_values() && multiple(arg) => items
                .iter()
                .map(|v| {
                    scalar(v).ok_or_else(|| bad(format!("expected strings, found {}", kind(v))))
                })
                .collect::<Result<_, _>>()?,
            toml::Value::Array(_) => return Err(bad("expected one value, found an array".into())),
            v => {
                vec![scalar(v).ok_or_else(|| bad(format!("expected a value, found {}", kind(v))))?]
            }
        };
        let takes_values = arg.get_action().takes_values();
        for v in &values {
            if takes_values {
                // The flag's own parser, on this one argument (so no other setting interferes).
                Command::new("serve")
                    .arg((*arg).clone())
                    .try_get_matches_from(["serve".to_string(), format!("--{long}={v}")])
                    .map_err(|e| bad(clap_message(&e)))?;
            } else if !matches!(v.as_str(), "true" | "false") {
                return Err(bad(format!("expected true or false, found {v}")));
            }
        }
        let given = matches!(
            matches.value_source(arg.get_id().as_str()),
            Some(ValueSource::CommandLine | ValueSource::EnvVariable)
        );
        if given {
            continue;
        }
        for v in values {
            if takes_values {
                args.push(OsString::from(format!("--{long}={v}")));
            } else if v == "true" {
                args.push(OsString::from(format!("--{long}")));
            }
        }
    }
    Ok(args)
}

fn multiple(arg: &clap::Arg) -> bool {
    matches!(arg.get_action(), clap::ArgAction::Append) || arg.get_value_delimiter().is_some()
}

/// A TOML scalar as the text a flag would take (`30`, `0.5`, `true`, a string as is).
fn scalar(v: &toml::Value) -> Option<String> {
    match v {
        toml::Value::String(s) => Some(s.clone()),
        toml::Value::Integer(i) => Some(i.to_string()),
        toml::Value::Float(f) => Some(f.to_string()),
        toml::Value::Boolean(b) => Some(b.to_string()),
        _ => None,
    }
}

/// What a TOML value is, for messages.
fn kind(v: &toml::Value) -> &'static str {
    match v {
        toml::Value::Array(_) => "an array",
        toml::Value::Table(_) => "a table",
        toml::Value::Datetime(_) => "a date-time",
        _ => "a value",
    }
}

/// clap's message without its `error: ` prefix and usage hints.
fn clap_message(e: &clap::Error) -> String {
    let text = e.to_string();
    let first = text.lines().next().unwrap_or_default();
    first.strip_prefix("error: ").unwrap_or(first).to_string()
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
            servers_file: a.config.filter(|p| !p.as_os_str().is_empty()),
            gateway_spin: std::time::Duration::from_micros(a.gateway_spin_us),
            bind: a.bind,
            data_dir: a.data_dir.unwrap_or_else(default_data_dir),
            token,
            allowed_hosts,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::FromArgMatches;

    /// Parses `argv` (after `serve`) with `file` as the settings file, the way `main` does.
    fn resolve(argv: &[&str], file: &str) -> Result<ServeArgs, String> {
        let mut argv: Vec<OsString> = std::iter::once("serve")
            .chain(argv.iter().copied())
            .map(OsString::from)
            .collect();
        let first = settings_command()
            .try_get_matches_from(&argv)
            .map_err(|e| e.to_string())?;
        argv.extend(file_args(Path::new("/etc/s.toml"), file, &first)?);
        let second = settings_command()
            .try_get_matches_from(&argv)
            .map_err(|e| e.to_string())?;
        ServeArgs::from_arg_matches(&second).map_err(|e| e.to_string())
    }

    #[test]
    fn the_file_wins_over_defaults_and_flags_win_over_the_file() {
        let file = "bind = \"127.0.0.1:9999\"\ndata-dir = \"/from/file\"\nlog_max_mb = 7\n\
                    health-interval-secs = 2.5\nallowed-host = [\"a.example\", \"b.example\"]\n";
        let a = resolve(&[], file).expect("resolve");
        assert_eq!(a.bind.to_string(), "127.0.0.1:9999");
        assert_eq!(a.data_dir, Some(PathBuf::from("/from/file")));
        assert_eq!(a.log_max_mb, 7.0);
        assert_eq!(a.health_interval_secs, 2.5);
        assert_eq!(a.allowed_hosts, ["a.example", "b.example"]);
        assert_eq!(
            a.log_retention_days, 30.0,
            "untouched keys keep their default"
        );

        let a = resolve(
            &["--bind", "127.0.0.1:1234", "--allowed-host", "c.example"],
            file,
        )
        .expect("resolve");
        assert_eq!(a.bind.to_string(), "127.0.0.1:1234");
        assert_eq!(a.allowed_hosts, ["c.example"]);
        assert_eq!(a.data_dir, Some(PathBuf::from("/from/file")));
    }

    #[test]
    fn port_0_and_the_token_may_come_from_the_file() {
        let a = resolve(&[], "bind = \"127.0.0.1:0\"\ntoken = \"s3cret\"\n").expect("resolve");
        assert_eq!(a.bind.port(), 0);
        assert_eq!(a.token.as_deref(), Some("s3cret"));
    }

    #[test]
    fn an_unknown_key_is_an_error_naming_the_key_and_the_file() {
        let e = resolve(&[], "bind = \"127.0.0.1:1\"\ndata-directory = \"/x\"\n")
            .expect_err("unknown key");
        assert!(e.contains("/etc/s.toml"), "{e}");
        assert!(e.contains("unknown key `data-directory`"), "{e}");
        assert!(e.contains("data-dir"), "the message lists the keys: {e}");
        let e = resolve(&[], "settings = \"/other.toml\"\n").expect_err("no nesting");
        assert!(e.contains("unknown key `settings`"), "{e}");
    }

    #[test]
    fn a_value_of_the_wrong_type_is_an_error_naming_the_key_and_the_file() {
        for (file, key) in [
            ("log-max-mb = \"lots\"\n", "log-max-mb"),
            ("bind = 7070\n", "bind"),
            ("bind = [\"127.0.0.1:1\"]\n", "bind"),
            ("allowed-host = [{ a = 1 }]\n", "allowed-host"),
            ("[data-dir]\nx = 1\n", "data-dir"),
        ] {
            let e = resolve(&[], file).expect_err(file);
            assert!(
                e.contains("/etc/s.toml") && e.contains(&format!("`{key}`")),
                "{file}: {e}"
            );
        }
        let e = resolve(&[], "bind = \n").expect_err("not TOML");
        assert!(e.contains("/etc/s.toml"), "{e}");
    }

    #[test]
    fn a_key_given_twice_is_an_error() {
        let e = resolve(&[], "data-dir = \"/a\"\ndata_dir = \"/b\"\n").expect_err("twice");
        assert!(e.contains("set twice"), "{e}");
    }

    /// docs/configuration.md documents every setting: its flag, variable and file key.
    #[test]
    fn every_setting_is_documented() {
        let doc = include_str!("../docs/configuration.md");
        for arg in settings_command().get_arguments() {
            let Some(long) = arg.get_long() else { continue };
            assert!(
                doc.contains(&format!("`--{long}")),
                "--{long} is not documented"
            );
            if long != "settings" {
                assert!(
                    doc.contains(&format!("`{long}`")),
                    "key {long} is not documented"
                );
            }
            let env = arg.get_env().map(|e| e.to_string_lossy().to_string());
            let env = env.unwrap_or_else(|| panic!("--{long} has no environment variable"));
            assert!(doc.contains(&format!("`{env}`")), "{env} is not documented");
        }
    }
}
