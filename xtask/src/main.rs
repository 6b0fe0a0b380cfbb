//! `cargo xtask`: the project's own task runner.
//!
//! - `bootstrap`: install rust-src and bpf-linker (xtask/bootstrap.sh).
//! - `build`: the release binary in three stages, one line each (`stages.rs`).
//! - `run [ARGS]`: build and run the agent on its embedded defaults.
//! - `test`: everything CI runs (supply-chain checks, unit, rule fixtures,
//!   privileged e2e, kill-chain simulation, evtgen, the real-cluster tier,
//!   the kernel matrix).
//! - `cluster up|down|status|test`, `image`: a real kubelet + containerd
//!   cluster and Lanner's own images and Helm chart on it (`cluster.rs`).
//! - `kernels`: the agent on pinned Debian kernels under QEMU (`kernels.rs`).
//! - `sbom`, `deny`, `secrets`: the supply-chain checks on their own
//!   (docs/supply-chain.md).
//!
//! The README's two set-up commands are `cargo xtask run` and `cargo xtask test`;
//! `.ci/run` calls the latter.
use std::{
    path::{Path, PathBuf},
    process::Command,
    time::Instant,
};

use anyhow::{bail, Context as _, Result};

mod bench;
mod cluster;
mod deny;
mod evtgen;
mod kernels;
mod sbom;
mod secrets;
mod simulate;
mod stages;
mod tools;

const BENCH_NOTES: &str = include_str!("bench_notes.md");
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
    /// Build the agent (release): bootstrap, eBPF object, agent, one line each.
    Build,
    /// Build and run `lanner run` with the embedded default rules (needs root).
    Run {
        /// Extra arguments for `lanner run`.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Run every test tier: unit, rule fixtures, privileged end-to-end.
    Test,
    /// Benchmarks side by side with a no-agent baseline; writes docs/benchmarks.md.
    Bench {
        /// Smaller loops (a smoke run; figures are noisier).
        #[arg(long)]
        quick: bool,
        /// Run one group of rows only and print it (docs/benchmarks.md is not written): `unneeded`, `families`, `exec`, `rate`, `overhead`.
        #[arg(long)]
        only: Option<String>,
    },
    /// Kill-chain simulation in a kubelet-like pod: expected alerts, latency; writes docs/simulation.md (needs root).
    Simulate,
    /// One real attacker behaviour per default-pack rule in a kubelet-like pod; writes docs/detections.md (needs root).
    Evtgen {
        /// Falco's own rule files instead of the default pack (a falcosecurity/rules checkout);
        /// writes docs/falco-detections.md.
        #[arg(long = "falco-rules")]
        falco_rules: Vec<std::path::PathBuf>,
    },
    /// CycloneDX SBOM of the lanner binary (target/sbom/lanner.cdx.json), checked against Cargo.lock.
    Sbom,
    /// Licence, ban and source policy (deny.toml) with cargo-deny, offline.
    Deny,
    /// Scan the tracked tree for private keys and tokens.
    Secrets,
    /// A real single-node cluster (kubelet + containerd) and Lanner's helm install on it.
    Cluster {
        #[command(subcommand)]
        cmd: cluster::ClusterCmd,
    },
    /// Agent, triage, pause, busybox and victim images from target/release/lanner (and the
    /// LLM server image when the LLM venv exists) in target/images/; imported into the test
    /// cluster's containerd when it is up.
    Image,
    /// The agent and a smoke workload on pinned Debian kernels under QEMU; writes docs/kernels.md.
    Kernels {
        /// Use this agent binary instead of building one.
        #[arg(long)]
        bin: Option<PathBuf>,
    },
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("workspace root").to_path_buf()
}

/// The cargo target directory (honours CARGO_TARGET_DIR).
fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|| root().join("target"))
}

/// The built agent binary.
fn lanner_bin() -> PathBuf {
    target_dir().join("release/lanner")
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

/// The release binary, built in three stages (`stages.rs`).
fn build() -> Result<PathBuf> {
    stages::build(&root())
}

/// SBOM, cargo-deny and the secret scan; returns how many failed.
fn supply_chain(bin: &Path) -> u64 {
    let checks: [(&str, &dyn Fn() -> Result<()>); 3] = [
        ("sbom", &|| sbom::run(&root(), &target_dir(), bin).map(|_| ())),
        ("cargo-deny", &|| deny::run(&root())),
        ("secret scan", &|| secrets::run(&root())),
    ];
    let mut failed = 0;
    for (name, check) in checks {
        if let Err(e) = check() {
            eprintln!("xtask: {name} failed: {e:#}");
            failed += 1;
        }
    }
    failed
}

fn is_root() -> bool {
    Command::new("id").arg("-u").output().map(|o| o.stdout.starts_with(b"0\n")).unwrap_or(false)
}

/// Totals parsed from libtest's `test result:` lines.
#[derive(Default, Clone, Copy)]
struct Totals {
    passed: u64,
    failed: u64,
    ignored: u64,
}

impl std::ops::AddAssign for Totals {
    fn add_assign(&mut self, o: Totals) {
        self.passed += o.passed;
        self.failed += o.failed;
        self.ignored += o.ignored;
    }
}

fn parse_result(line: &str) -> Option<Totals> {
    let rest = line.trim().strip_prefix("test result: ")?;
    let num = |key: &str| -> u64 {
        rest.split(';')
            .find_map(|part| part.trim().trim_start_matches("ok. ").trim_start_matches("FAILED. ").strip_suffix(key))
            .and_then(|n| n.trim().parse().ok())
            .unwrap_or(0)
    };
    Some(Totals { passed: num(" passed"), failed: num(" failed"), ignored: num(" ignored") })
}

/// Run `cargo test ARGS`, streaming its output, and sum its results.
fn cargo_test(args: &[&str], envs: &[(&str, &Path)]) -> Result<(Totals, bool)> {
    use std::io::BufRead as _;
    let mut cmd = cargo();
    cmd.arg("test").args(args).current_dir(root()).stdout(std::process::Stdio::piped());
    for (k, v) in envs {
        cmd.env(k, v);
    }
    eprintln!("xtask: {cmd:?}");
    let mut child = cmd.spawn().context("spawning cargo test")?;
    let mut totals = Totals::default();
    for line in std::io::BufReader::new(child.stdout.take().expect("stdout")).lines() {
        let line = line?;
        println!("{line}");
        if let Some(t) = parse_result(&line) {
            totals += t;
        }
    }
    let ok = child.wait()?.success();
    Ok((totals, ok))
}

/// Run `script sub` and collect the `export K=V` lines it prints.
fn script_env(script: &str) -> Result<Vec<(String, String)>> {
    let out = Command::new("bash").arg(script).arg("env").current_dir(root()).output()?;
    if !out.status.success() {
        bail!("{script} env failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    let mut v = Vec::new();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let Some((k, val)) = line.strip_prefix("export ").and_then(|l| l.split_once('=')) else {
            continue;
        };
        let val = val.trim_matches('\'');
        let val = if k == "PATH" {
            let dir = val.split(':').next().unwrap_or_default().trim_matches('"');
            format!("{dir}:{}", std::env::var("PATH").unwrap_or_default())
        } else {
            val.trim_matches('"').to_string()
        };
        v.push((k.to_string(), val));
    }
    Ok(v)
}

/// Debian packages the privileged tiers call, by the command each provides:
/// bpftool names the programs the agent attached (`tests/tests/*_e2e.rs`), a
/// static busybox fills the test root filesystems (`rootfs_users_e2e.rs`),
/// iptables is evtgen's firewall action. A fresh machine has none of them.
const HOST_DEBS: &[(&str, &str)] = &[("bpftool", "bpftool"), ("busybox", "busybox-static"), ("iptables", "iptables")];

/// Is `cmd` an executable in PATH or the sbin directories (root's tools)?
fn on_path(cmd: &str) -> bool {
    let path = std::env::var("PATH").unwrap_or_default();
    let found = path
        .split(':')
        .chain(["/usr/sbin", "/sbin", "/usr/bin"])
        .any(|d| std::fs::metadata(Path::new(d).join(cmd)).is_ok_and(|m| m.is_file()));
    found
}

/// Install the [`HOST_DEBS`] whose command is missing (as root; once per machine).
fn host_packages() -> Result<()> {
    let missing: Vec<&str> = HOST_DEBS.iter().filter(|(cmd, _)| !on_path(cmd)).map(|(_, deb)| *deb).collect();
    if missing.is_empty() || !is_root() {
        return Ok(());
    }
    eprintln!("xtask: installing {} from Debian's packages (once)", missing.join(", "));
    let install = || {
        Command::new("apt-get")
            .args(["install", "-y", "-q", "--no-install-recommends", "-o", "DPkg::Lock::Timeout=300"])
            .args(&missing)
            .env("DEBIAN_FRONTEND", "noninteractive")
            .stdout(std::process::Stdio::null())
            .status()
    };
    if !install()?.success() {
        sh(Command::new("apt-get").args(["update", "-q", "-o", "DPkg::Lock::Timeout=300"]))?;
        if !install()?.success() {
            bail!("apt-get install {} failed", missing.join(" "));
        }
    }
    Ok(())
}

/// The real services the tests use: a kube-apiserver and a local LLM server.
fn infra_up() -> Result<Vec<(String, String)>> {
    host_packages()?;
    sh(Command::new("bash").args(["xtask/kube/kube.sh", "up"]))?;
    sh(Command::new("bash").args(["xtask/llm/llm.sh", "install"]))?;
    sh(Command::new("bash").args(["xtask/llm/llm.sh", "up"]))?;
    let mut env = script_env("xtask/kube/kube.sh")?;
    env.extend(script_env("xtask/llm/llm.sh")?);
    Ok(env)
}

fn infra_down() {
    let _ = sh(Command::new("bash").args(["xtask/llm/llm.sh", "down"]));
    let _ = sh(Command::new("bash").args(["xtask/kube/kube.sh", "down"]));
}

fn test() -> Result<()> {
    let t = Instant::now();
    let bin = build()?;
    let infra = infra_up()?;
    for (k, v) in &infra {
        // SAFETY: single-threaded here; children inherit the environment.
        unsafe { std::env::set_var(k, v) };
    }
    let r = run_tiers(&bin, t);
    if std::env::var_os("LANNER_KEEP_INFRA").is_none() {
        infra_down();
    }
    r
}

fn run_tiers(bin: &Path, t: Instant) -> Result<()> {
    let envs = [("LANNER_BIN", bin)];
    // Supply chain: the SBOM against Cargo.lock, cargo-deny, no secrets in the tree.
    let supply_failed = supply_chain(bin);
    // Tier 3, as a rule author runs it: the CLI on the default pack and fixtures.
    sh(Command::new(bin).args(["rules", "check", "rules/default"]))?;
    sh(Command::new(bin).args(["rules", "test", "rules/fixtures"]))?;
    // Manifests: yamllint, kubernetes-validate, helm lint/render, checkov, dry-run=server.
    sh(Command::new("bash").arg("xtask/deploy/validate.sh"))?;
    // Tier 1 and 3: unit tests, rule fixtures (release profile: one eBPF build).
    let (unit, unit_ok) =
        cargo_test(&["--release", "--workspace", "--exclude", "lanner-tests", "--no-fail-fast"], &envs)?;
    // Tier 2: privileged end-to-end tests against the real kernel.
    let (e2e, e2e_ok) =
        cargo_test(&["--release", "-p", "lanner-tests", "--no-fail-fast", "--", "--test-threads=1"], &envs)?;
    if is_root() {
        eprintln!("xtask: privileged end-to-end tests executed as root: {} passed, {} failed", e2e.passed, e2e.failed);
    } else {
        eprintln!("xtask: not root: the privileged end-to-end tests printed SKIP; CI runs them as root");
    }
    // Root-only tiers, each counted as one test: the kill-chain simulation (every step
    // detected, the pod quarantined/deleted), detection breadth (one real action per
    // default-pack rule), the real cluster (images, helm install, the attack in a real
    // pod; always torn down).
    let tiers: [(&str, Tier); 3] = [
        ("kill-chain simulation", simulate::run),
        ("evtgen", evtgen::run),
        ("real-cluster tier (kubelet + containerd)", cluster::tier),
    ];
    let mut tiers_ok = true;
    let mut all = unit;
    all += e2e;
    for (name, run) in tiers {
        let ok = root_tier(name, run);
        tiers_ok &= ok;
        all += Totals { passed: u64::from(ok), failed: u64::from(!ok), ignored: 0 };
    }
    // Kernel matrix: the agent and a smoke workload on pinned Debian kernels (QEMU, TCG).
    let kernels = match kernels::run(&root(), bin) {
        Ok(rows) => {
            let failed = rows.iter().filter(|r| !r.outcome.passed()).count() as u64;
            Totals { passed: rows.len() as u64 - failed, failed, ignored: 0 }
        }
        Err(e) => {
            eprintln!("xtask: kernel matrix failed: {e:#}");
            Totals { passed: 0, failed: 1, ignored: 0 }
        }
    };
    eprintln!("xtask: kernel matrix: {} kernels passed, {} failed", kernels.passed, kernels.failed);
    all += kernels;
    all += Totals { passed: 3 - supply_failed, failed: supply_failed, ignored: 0 };
    eprintln!("xtask: tests finished in {:.0} s", t.elapsed().as_secs_f64());
    println!("summary: {} passed, {} failed, {} skipped", all.passed, all.failed, all.ignored);
    if !(unit_ok && e2e_ok && tiers_ok) || all.failed > 0 {
        bail!("tests failed");
    }
    Ok(())
}

/// A root-only test tier: runs, and says why it failed.
type Tier = fn() -> Result<()>;

/// Runs a root-only tier: true when it passed; as non-root it says it did not run
/// (CI runs as root) and counts as passed.
fn root_tier(name: &str, run: Tier) -> bool {
    if !is_root() {
        eprintln!("xtask: not root: the {name} did not run; CI runs it as root");
        return true;
    }
    match run() {
        Ok(()) => true,
        Err(e) => {
            eprintln!("xtask: {name} failed: {e:#}");
            false
        }
    }
}

fn main() -> Result<()> {
    match Cli::parse().cmd {
        Cmd::Bootstrap => bootstrap(),
        Cmd::Build => build().map(|_| ()),
        Cmd::Run { args } => {
            let bin = build()?;
            sh(Command::new(bin).arg("run").args(args))
        }
        Cmd::Test => test(),
        Cmd::Simulate => simulate::run(),
        Cmd::Evtgen { falco_rules } if falco_rules.is_empty() => evtgen::run(),
        Cmd::Evtgen { falco_rules } => evtgen::falco::run(&falco_rules),
        Cmd::Sbom => {
            let bin = build()?;
            sbom::run(&root(), &target_dir(), &bin).map(|_| ())
        }
        Cmd::Deny => deny::run(&root()),
        Cmd::Secrets => secrets::run(&root()),
        Cmd::Cluster { cmd } => cluster::run(cmd),
        Cmd::Image => {
            build()?;
            cluster::image()
        }
        Cmd::Kernels { bin } => {
            let bin = match bin {
                Some(b) => b,
                None => build()?,
            };
            let rows = kernels::run(&root(), &bin)?;
            let failed = rows.iter().filter(|r| !r.outcome.passed()).count();
            println!("kernels: {} passed, {failed} failed", rows.len() - failed);
            if failed > 0 {
                bail!("kernel matrix: {failed} kernel(s) failed");
            }
            Ok(())
        }
        Cmd::Bench { quick, only: Some(group) } => {
            build()?;
            println!("{}", bench::run_only(&group, &lanner_bin(), quick)?.markdown());
            Ok(())
        }
        Cmd::Bench { quick, only: None } => {
            build()?;
            let rep = bench::run(&lanner_bin(), &root(), quick)?;
            let table = rep.markdown();
            println!("{table}");
            let date = Command::new("date").arg("-u").arg("+%Y-%m-%d %H:%M UTC").output()?.stdout;
            let doc = format!(
                "# Benchmarks\n\nLatest `cargo xtask bench{}` run, {}, on {}.\n\n{}\n{}",
                if quick { " --quick" } else { "" },
                String::from_utf8_lossy(&date).trim(),
                bench::machine(),
                table,
                BENCH_NOTES
            );
            std::fs::write(bench::docs_path(&root()), doc)?;
            eprintln!("xtask: wrote docs/benchmarks.md");
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_libtest_summaries() {
        let t = parse_result(
            "test result: ok. 8 passed; 0 failed; 1 ignored; 0 measured; 0 filtered out; finished in 0.01s",
        )
        .unwrap();
        assert_eq!((t.passed, t.failed, t.ignored), (8, 0, 1));
        let t = parse_result("test result: FAILED. 3 passed; 2 failed; 0 ignored; 0 measured").unwrap();
        assert_eq!((t.passed, t.failed), (3, 2));
        assert!(parse_result("running 3 tests").is_none());
    }
}
