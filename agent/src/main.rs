//! `lanner`: eBPF-native runtime security agent for Kubernetes.
//!
//! Subcommands: `run` (load probes, stream events, match rules) and `rules`
//! (check and test rule files). Errors are reported with anyhow here only.
mod btf;
mod counters;
mod kernel;
mod pipeline;
mod prefilter;
mod probes;
mod proctable;
mod run;
mod transport;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "lanner", version, about = "eBPF-native runtime security for Kubernetes")]
struct Cli {
    /// Log as JSON lines (Loki/Promtail friendly).
    #[arg(long, global = true, env = "LANNER_LOG_JSON")]
    log_json: bool,
    #[command(subcommand)]
    cmd: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Load the probes and watch the node.
    Run(run::RunArgs),
}

fn init_logging(json: bool) {
    use tracing_subscriber::{fmt, EnvFilter};
    let filter = EnvFilter::try_from_env("LANNER_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    use std::io::IsTerminal as _;
    let b = fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
    if json {
        b.json().init();
    } else {
        b.init();
    }
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    init_logging(cli.log_json);
    match cli.cmd {
        Command::Run(args) => run::run(args),
    }
}
