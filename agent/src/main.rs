//! `lanner`: eBPF-native runtime security agent for Kubernetes.
//!
//! Subcommands: `run` (load probes, stream events, match rules) and `rules`
//! (check and test rule files); `floor` (hidden) serves the benchmark. Errors
//! are reported with anyhow here only.
mod assemble;
mod btf;
mod container;
mod counters;
mod dns;
mod evtargs;
mod floor;
mod image;
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
mod replay;
mod run;
mod sinks;
mod sysargs;
mod transport;
mod triage;
mod users;

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
    /// Benchmark only: hold an empty program on tracepoints until stdin closes.
    #[command(hide = true)]
    Floor(floor::FloorArgs),
    /// Benchmark only: open records through the userspace pipeline, no kernel.
    #[command(hide = true)]
    Replay(replay::ReplayArgs),
}

#[derive(Subcommand)]
enum RulesCmd {
    /// Load rule files/directories; print every error (file:line:col) and warning, and
    /// a table of every rule: active, or inactive with its reason.
    Check {
        #[arg(required = true)]
        paths: Vec<std::path::PathBuf>,
        /// Fail when any rule is inactive (for CI): every rule must run on Lanner.
        #[arg(long)]
        strict: bool,
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

/// `lanner rules ...`: the report is the output; a failure exits 1 without an error
/// chain or backtrace (whatever RUST_BACKTRACE says), since the messages are the output.
fn rules_cmd(cmd: RulesCmd) -> ! {
    let ok = match cmd {
        RulesCmd::Check { paths, strict } => {
            let report = lanner_rules::check_paths(&paths, strict);
            println!("{}", report.to_string().trim_end());
            report.is_ok()
        }
        RulesCmd::Test { dir, rules } => {
            let rules = (!rules.is_empty()).then_some(rules.as_slice());
            let report = lanner_rules::test_dir(&dir, rules);
            println!("{}", report.to_string().trim_end());
            report.is_ok()
        }
    };
    let _ = std::io::Write::flush(&mut std::io::stdout());
    std::process::exit(if ok { 0 } else { 1 })
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
        Command::Floor(args) => floor::run(args),
        Command::Replay(args) => replay::run(args),
    }
}
