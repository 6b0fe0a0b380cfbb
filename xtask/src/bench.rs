//! `cargo xtask bench`: measures Lanner side by side with a no-agent baseline
//! in one run and prints one Markdown table (also written to
//! docs/benchmarks.md). Every figure is a ratio or a rate measured here, in the
//! same run, on the same machine:
//!
//! - (a) syscall loops (open+close, fork+exec of /bin/true, connect to a closed
//!   port) without vs with the agent and its default rules, rounds interleaved
//!   ([`overhead`]);
//! - (b) kernel cost per program run from `bpf_stats` (ns), under load and idle
//!   ([`overhead`]);
//! - (c) the highest paced open rate delivered with zero ring-buffer drops
//!   (`--no-prefilter`, two generator threads), the drops counted exactly above
//!   it, and what the pre-filter does to the same load ([`rate`]);
//! - (d) rule matching events/s/core from `rules/examples/bench_table.rs`
//!   ([`rules`]);
//! - (e) alert latency p50/p99, event time → JSON line on stdout ([`latency`]);
//! - (f) agent RSS idle, under load and with 1,000 pods cached from a real
//!   kube-apiserver ([`pods`]).
//!
//! The module is split so each file stays readable: [`agent`] runs `lanner run`
//! and reads its counters, [`load`] holds the syscall generators.
use std::path::{Path, PathBuf};

use anyhow::Result;

mod agent;
mod drain;
mod execparts;
mod families;
mod floor;
mod kstats;
mod latency;
mod load;
mod overhead;
mod pods;
mod rate;
mod rules;
mod unneeded;

/// The table: every row is measurement | result | target | verdict.
pub struct Report {
    pub rows: Vec<[String; 4]>,
}

impl Report {
    fn row(
        &mut self,
        what: impl Into<String>,
        value: impl Into<String>,
        target: impl Into<String>,
        verdict: impl Into<String>,
    ) {
        self.rows.push([what.into(), value.into(), target.into(), verdict.into()]);
    }

    pub fn markdown(&self) -> String {
        let mut s = String::from("| measurement | result | target | verdict |\n|---|---|---|---|\n");
        for r in &self.rows {
            s.push_str(&format!("| {} | {} | {} | {} |\n", r[0], r[1], r[2], r[3]));
        }
        s
    }
}

/// "met", or "missed: <by how much>".
fn verdict(ok: bool, miss: String) -> String {
    if ok {
        "met".into()
    } else {
        format!("missed: {miss}")
    }
}

/// The smallest and largest of `v`.
fn min_max(v: &[f64]) -> (f64, f64) {
    let lo = v.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    (lo, hi)
}

/// `[min … max]` of per-round figures, in points.
fn spread(v: &[f64]) -> String {
    let (lo, hi) = min_max(v);
    format!("[{lo:+.1} … {hi:+.1}]")
}

fn median(mut v: Vec<f64>) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

/// Resident memory figures of one agent, KiB from /proc/PID/status.
#[derive(Default, Clone, Copy)]
pub struct Rss {
    pub rss: u64,
    pub anon: u64,
}

pub fn run(bin: &Path, root: &Path, quick: bool) -> Result<Report> {
    preflight()?;
    let mut rep = Report { rows: Vec::new() };
    // Build the rule-engine harness first, so no compile overlaps a measurement.
    let rules_bin = rules::build(root, bin);
    let tmp = std::env::temp_dir().join(format!("lanner-bench-{}", std::process::id()));
    std::fs::write(&tmp, b"x")?;
    let r = run_all(&mut rep, bin, &tmp, rules_bin, quick);
    let _ = std::fs::remove_file(&tmp);
    r?;
    Ok(rep)
}

/// Refuse to measure while tracing programs are loaded that the bench did not
/// load: their cost lands in every baseline. (A stray `lanner run` left over
/// from profiling sat under a whole run on 2026-12-06: the unshare floor read
/// +7 % instead of +54 %, since its syscall-exit programs were already in the
/// baseline, and the idle row read 2,379 ns per run, the bench's own `bpf()`
/// calls tripping its `bpf_regs`.)
fn preflight() -> Result<()> {
    let found = kstats::foreign_tracing();
    if !found.is_empty() {
        anyhow::bail!(
            "tracing BPF programs are already loaded, and would be in every baseline; stop what holds them \
             first:\n  {}",
            found.join("\n  ")
        );
    }
    Ok(())
}

/// One group of rows, for working on it (`cargo xtask bench --only GROUP`).
pub fn run_only(group: &str, bin: &Path, quick: bool) -> Result<Report> {
    preflight()?;
    let mut rep = Report { rows: Vec::new() };
    // Off while loops are timed; on only around `bpf_stats` reads (`kstats`).
    kstats::set(false);
    match group {
        "unneeded" => unneeded::run(&mut rep, bin, quick)?,
        "families" => families::run(&mut rep, bin, quick)?,
        "exec" => execparts::run(&mut rep, bin, quick)?,
        "rate" | "overhead" => {
            let tmp = std::env::temp_dir().join(format!("lanner-bench-{}", std::process::id()));
            std::fs::write(&tmp, b"x")?;
            let r = if group == "rate" {
                rate::run(&mut rep, bin, &tmp, quick).map(drop)
            } else {
                overhead::run(&mut rep, bin, &tmp, quick).map(drop)
            };
            let _ = std::fs::remove_file(&tmp);
            r?;
        }
        other => anyhow::bail!("unknown bench group {other:?} (known: unneeded, families, exec, rate, overhead)"),
    }
    Ok(rep)
}

fn run_all(rep: &mut Report, bin: &Path, tmp: &Path, rules_bin: Result<PathBuf>, quick: bool) -> Result<()> {
    // Off while loops are timed; on only around `bpf_stats` reads (`kstats`).
    kstats::set(false);
    // (a) and (b), plus idle RSS and the first under-load peak.
    let mut mem = overhead::run(rep, bin, tmp, quick)?;
    // (c): paced opens, agent restarted per step.
    let peak = rate::run(rep, bin, tmp, quick)?;
    mem.peak = mem.peak.max(peak);
    // A syscall no rule needs: its programs are not attached.
    unneeded::run(rep, bin, quick)?;
    // One row per syscall family added for Falco's rules.
    families::run(rep, bin, quick)?;
    // Exec: the record's cost by part, and the kernel vs userspace side of its slowdown.
    execparts::run(rep, bin, quick)?;
    // (d): rule matching on one core.
    rules::run(rep, rules_bin, quick);
    // (e): alert latency.
    if let Err(e) = latency::run(rep, bin, quick) {
        eprintln!("bench: alert latency failed: {e:#}");
        rep.row(
            "alert latency (event time → alert on stdout)",
            format!("not measured: {e:#}"),
            "p99 ≤ 5 ms",
            "missed: not measured",
        );
    }
    // (f): memory, the 1,000-pod figure last (it may start an API server).
    rep.row(
        "agent RSS idle, no Kubernetes (of which heap/anon; the rest is mostly the 16 MiB ring buffer, mapped twice)",
        format!("{:.1} MiB ({:.1} MiB anon)", mib(mem.idle.rss), mib(mem.idle.anon)),
        "≤ 64 MiB",
        verdict(mem.idle.rss <= 64 * 1024, format!("by {:.1} MiB", mib(mem.idle.rss) - 64.0)),
    );
    rep.row(
        "agent peak RSS under load (VmHWM over the loops and the paced rates)",
        format!("{:.1} MiB", mib(mem.peak)),
        "≤ 64 MiB",
        verdict(mem.peak <= 64 * 1024, format!("by {:.1} MiB", mib(mem.peak) - 64.0)),
    );
    pods::run(rep, bin, mem.idle, quick);
    Ok(())
}

pub fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("model name"))
                .map(|v| v.trim_start_matches([' ', '\t', ':']).to_string())
        })
        .unwrap_or_default();
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0);
    let mem = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|s| s.lines().next().map(|l| l.to_string()))
        .unwrap_or_default();
    format!(
        "{cores} cores ({cpu}), {}, kernel {}",
        mem.split_whitespace().skip(1).take(2).collect::<Vec<_>>().join(" "),
        kernel.trim()
    )
}

pub fn docs_path(root: &Path) -> PathBuf {
    root.join("docs/benchmarks.md")
}
