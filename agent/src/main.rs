//! `lanner`: eBPF-native runtime security agent for Kubernetes.
//!
//! Subcommands: `run` (load probes, stream events, match rules) and `rules`
//! (check and test rule files). Errors are reported with anyhow here only.
mod assemble;
mod btf;
mod container;
mod counters;
mod k8s;
mod kernel;
mod matchstage;
mod metrics;
mod output;
mod pipeline;
mod prefilter;
mod probes;
mod proctable;
mod protocol;
mod run;
mod sinks;
mod transport;
mod triage;

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
    /// Check and test rule files.
    #[command(subcommand)]
    Rules(RulesCmd),
    /// Triage worker: decide and respond to alerts (`triage eval FILE` scores a labelled set).
    Triage(triage::TriageArgs),
}

#[derive(Subcommand)]
enum RulesCmd {
    /// Load rule files/directories; print every error (file:line:col) and warning.
    Check {
        #[arg(required = true)]
        paths: Vec<std::path::PathBuf>,
    },
    /// Run declarative rule fixtures (YAML: events in → expected alerts).
    Test {
        /// Fixture directory (or file).
        dir: std::path::PathBuf,
        /// Rule files to test instead of the embedded default pack.
        #[arg(long = "rules", value_name = "PATH")]
        rules: Vec<std::path::PathBuf>,
    },
}

fn rules_cmd(cmd: RulesCmd) -> anyhow::Result<()> {
    match cmd {
        RulesCmd::Check { paths } => {
            let report = lanner_rules::check_paths(&paths);
            println!("{}", report.to_string().trim_end());
            if !report.is_ok() {
                anyhow::bail!("{} error(s) in the rule files", report.errors.len());
            }
            Ok(())
        }
        RulesCmd::Test { dir, rules } => {
            let rules = (!rules.is_empty()).then_some(rules.as_slice());
            let report = lanner_rules::test_dir(&dir, rules);
            println!("{}", report.to_string().trim_end());
            if !report.is_ok() {
                anyhow::bail!("{} rule fixture(s) failed", report.failed());
            }
            Ok(())
        }
    }
}

fn init_logging(json: bool) {
    use tracing_subscriber::{fmt, EnvFilter};
    let filter = EnvFilter::try_from_env("LANNER_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    use std::io::IsTerminal as _;
    let b = fmt().with_env_filter(filter).with_writer(std::io::stderr).with_ansi(std::io::stderr().is_terminal());
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
        Command::Rules(cmd) => rules_cmd(cmd),
        Command::Triage(args) => triage::run(args),
    }
}
