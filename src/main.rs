//! The `mcp-manager` binary: `serve` runs the daemon, the other subcommands talk to it.

use clap::{Parser, Subcommand};
use mcp_manager::{cli, config, daemon};

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
}

fn main() {
    let args = Cli::parse();
    let code = match args.command {
        Cmd::Serve(serve) => {
            init_tracing(&serve.log);
            match config::Config::from_args(serve) {
                Err(e) => {
                    eprintln!("error: {e}");
                    2
                }
                Ok(cfg) => match actix_rt::System::new().block_on(daemon::serve(cfg)) {
                    Ok(()) => 0,
                    Err(e) => {
                        eprintln!("error: {e}");
                        1
                    }
                },
            }
        }
        Cmd::Server(server) => {
            match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(rt) => rt.block_on(cli::run(server)),
                Err(e) => {
                    eprintln!("error: {e}");
                    1
                }
            }
        }
    };
    std::process::exit(code);
}

fn init_tracing(filter: &str) {
    let filter = tracing_subscriber::EnvFilter::try_new(filter)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}
