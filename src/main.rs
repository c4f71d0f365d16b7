//! The `mcp-manager` binary: `serve` runs the daemon, the other subcommands talk to it.

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};
use mcp_manager::{bridge, cli, config, daemon, doctor, servers_file};
use std::path::PathBuf;

#[derive(Parser)]
#[command(name = "mcp-manager", version, about = "Supervisor for MCP servers")]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run the daemon (API, events, and every managed server).
    Serve(config::ServeArgs),
    /// Manage servers through a running daemon.
    Server(cli::ServerArgs),
    /// Show a server's health: state, uptime, the last hour's checks.
    Health(cli::HealthArgs),
    /// Show a server's log lines, or follow them live (-f).
    Logs(cli::LogsArgs),
    /// Copy the daemon's store to a file while it runs (a consistent snapshot).
    Backup(cli::BackupArgs),
    /// Print the config snippet an AI client needs for a server (--client cursor, …).
    Connect(cli::ConnectArgs),
    /// Serve one managed server over stdio (for clients that only launch commands).
    Bridge(bridge::BridgeArgs),
    /// Check this machine: node/npx, python3/uv, Docker, data dir, port, store version.
    Doctor(doctor::DoctorArgs),
}

/// Where `serve`'s and `doctor`'s settings file came from, or why it could not be used.
#[derive(Default)]
struct Settings {
    file: Option<PathBuf>,
    error: Option<String>,
}

/// Parses the command line; for `serve` and `doctor`, reads the settings file and parses
/// again with its keys appended (see `config`). A bad file ends `serve` with exit code 2;
/// `doctor` reports it as a failed check instead.
fn parse() -> (Cli, Settings) {
    let mut argv: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let mut matches = Cli::command().get_matches_from(&argv);
    let mut settings = Settings::default();
    if let Some((name @ ("serve" | "doctor"), sub)) = matches.subcommand() {
        match config::settings_args(sub) {
            Ok(None) => {}
            Ok(Some(loaded)) => {
                settings.file = Some(loaded.path);
                argv.extend(loaded.args);
                matches = Cli::command().get_matches_from(&argv);
            }
            Err(e) if name == "doctor" => settings.error = Some(e),
            Err(e) => {
                eprintln!("error: {e}");
                std::process::exit(2);
            }
        }
    }
    match Cli::from_arg_matches(&matches) {
        Ok(cli) => (cli, settings),
        Err(e) => e.exit(),
    }
}

fn main() {
    let (args, settings) = parse();
    let code = match args.command {
        Cmd::Serve(serve) => {
            init_tracing(&serve.log);
            if let Some(file) = &settings.file {
                tracing::info!(file = %file.display(), "settings file read");
            }
            // The servers file is read and checked as a whole before anything is opened or
            // bound, so a bad one changes nothing.
            let loaded = config::Config::from_args(serve).and_then(|cfg| {
                let file = cfg
                    .servers_file
                    .as_deref()
                    .map(servers_file::load)
                    .transpose()?;
                Ok((cfg, file))
            });
            match loaded {
                Err(e) => {
                    eprintln!("error: {e}");
                    2
                }
                Ok((cfg, file)) => match actix_rt::System::new().block_on(daemon::serve(cfg, file))
                {
                    Ok(()) => 0,
                    Err(e) => {
                        eprintln!("error: {e}");
                        1
                    }
                },
            }
        }
        Cmd::Server(server) => client(cli::run(server)),
        Cmd::Health(health) => client(cli::run_health(health)),
        Cmd::Logs(logs) => client(cli::run_logs(logs)),
        Cmd::Backup(backup) => client(cli::run_backup(backup)),
        Cmd::Connect(args) => client(cli::run_connect(args)),
        Cmd::Bridge(args) => client(bridge::run(args)),
        Cmd::Doctor(args) => client(doctor::main(args, settings.file, settings.error)),
    };
    std::process::exit(code);
}

/// Runs a client command (it talks to the daemon over HTTP) and returns its exit code.
fn client(command: impl std::future::Future<Output = i32>) -> i32 {
    match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt.block_on(command),
        Err(e) => {
            eprintln!("error: {e}");
            1
        }
    }
}

fn init_tracing(filter: &str) {
    let filter = tracing_subscriber::EnvFilter::try_new(filter)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}
