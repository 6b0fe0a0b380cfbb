//! `cargo xtask`: the project's own task runner.
//!
//! - `bootstrap`: install rust-src and bpf-linker (xtask/bootstrap.sh).
//! - `run [ARGS]`: build and run the agent on its embedded defaults.
//! - `test`: everything CI runs (unit, rule fixtures, privileged e2e).
//!
//! The README's two set-up commands are `cargo xtask run` and `cargo xtask test`;
//! `.ci/run` calls the latter.
use std::{
    path::{Path, PathBuf},
    process::Command,
    time::Instant,
};

use anyhow::{bail, Context as _, Result};
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "xtask")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Install the eBPF toolchain (rust-src, bpf-linker against rustc's LLVM).
    Bootstrap,
    /// Build the agent (release).
    Build,
    /// Build and run `lanner run` with the embedded default rules (needs root).
    Run {
        /// Extra arguments for `lanner run`.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Run every test tier: unit, rule fixtures, privileged end-to-end.
    Test,
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("workspace root").to_path_buf()
}

fn sh(cmd: &mut Command) -> Result<()> {
    eprintln!("xtask: {cmd:?}");
    let st = cmd.current_dir(root()).status().with_context(|| format!("spawning {cmd:?}"))?;
    if !st.success() {
        bail!("{cmd:?} failed: {st}");
    }
    Ok(())
}

fn cargo() -> Command {
    Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
}

fn bootstrap() -> Result<()> {
    sh(Command::new("bash").arg("xtask/bootstrap.sh"))
}

fn build() -> Result<()> {
    bootstrap()?;
    sh(cargo().args(["build", "--release", "-p", "lanner"]))
}

fn is_root() -> bool {
    Command::new("id").arg("-u").output().map(|o| o.stdout.starts_with(b"0\n")).unwrap_or(false)
}

fn test() -> Result<()> {
    let t = Instant::now();
    build()?;
    let bin = root().join("target/release/lanner");
    // Tier 1 + 2: unit tests and privileged e2e (which find target/release/lanner).
    sh(cargo().args(["test", "--release", "--workspace", "--no-fail-fast"]).env("LANNER_BIN", &bin))?;
    if !is_root() {
        eprintln!("xtask: not root: the privileged end-to-end tests printed SKIP; CI runs them as root");
    }
    eprintln!("xtask: all tests passed in {:.0} s", t.elapsed().as_secs_f64());
    Ok(())
}

fn main() -> Result<()> {
    match Cli::parse().cmd {
        Cmd::Bootstrap => bootstrap(),
        Cmd::Build => build(),
        Cmd::Run { args } => {
            build()?;
            let bin = root().join("target/release/lanner");
            sh(Command::new(bin).arg("run").args(args))
        }
        Cmd::Test => test(),
    }
}
