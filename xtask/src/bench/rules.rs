//! (d) Rule matching throughput, events/s on one core, from the rule engine's
//! own harness `rules/examples/bench_table.rs` (the realistic event mix of
//! `lanner_rules::bench`, see docs/benchmarks-rules.md). It is built before
//! any measurement (so no compile overlaps one), run here, and its Markdown
//! table parsed for the two key figures: the default pack, and the default
//! pack with 1,000 generated rules on top.
use std::{
    path::{Path, PathBuf},
    process::Command,
};

use anyhow::{bail, Context as _, Result};

use super::{verdict, Report};

/// `cargo build --release -p lanner-rules --example bench_table`; the binary.
pub fn build(root: &Path, lanner_bin: &Path) -> Result<PathBuf> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.args(["build", "--release", "-p", "lanner-rules", "--example", "bench_table"]).current_dir(root);
    eprintln!("bench: {cmd:?}");
    let st = cmd.status().context("spawning cargo")?;
    if !st.success() {
        bail!("building the bench_table example failed: {st}");
    }
    // Same target dir as the agent: <target>/release/lanner → <target>/release/examples/.
    let bin = lanner_bin.parent().context("target dir")?.join("examples/bench_table");
    if !bin.exists() {
        bail!("{} missing after the build", bin.display());
    }
    Ok(bin)
}

/// One row of bench_table's output.
#[derive(Debug, PartialEq)]
pub struct Row {
    pub workload: String,
    pub rules: u64,
    pub ns_per_event: f64,
    pub events_per_sec: f64,
    /// `best … worst` ns/event over the rounds, when printed.
    pub spread: Option<String>,
}

/// Parses `| workload | rules | ns/event | events/s/core | matches/event |` rows.
pub fn parse(table: &str) -> Vec<Row> {
    let mut rows = Vec::new();
    for l in table.lines() {
        let cells: Vec<&str> = l.trim().trim_matches('|').split('|').map(str::trim).collect();
        if cells.len() < 4 {
            continue;
        }
        let (Ok(rules), Ok(ns)) = (cells[1].parse::<u64>(), cells[2].parse::<f64>()) else {
            continue;
        };
        let Some(m) = cells[3].strip_suffix(" M").and_then(|v| v.trim().parse::<f64>().ok()) else {
            continue;
        };
        let spread = cells.get(5).filter(|c| c.contains('…')).map(|c| c.to_string());
        rows.push(Row { workload: cells[0].to_string(), rules, ns_per_event: ns, events_per_sec: m * 1e6, spread });
    }
    rows
}

fn measure(bin: &Path, extra: u64, millis: u64) -> Result<Vec<Row>> {
    let out =
        Command::new(bin).arg(extra.to_string()).arg(millis.to_string()).output().context("running bench_table")?;
    if !out.status.success() {
        bail!("bench_table failed: {}", String::from_utf8_lossy(&out.stderr).trim());
    }
    let text = String::from_utf8_lossy(&out.stdout);
    eprintln!("bench: bench_table:\n{text}");
    let rows = parse(&text);
    if rows.len() < 3 {
        bail!("unexpected bench_table output:\n{text}");
    }
    Ok(rows)
}

pub fn run(rep: &mut Report, bin: Result<PathBuf>, quick: bool) {
    let millis = if quick { 500 } else { 3_000 };
    let what_default = "rule matching, default pack: events/s on one core (realistic event mix)";
    let what_1000 = "rule matching, default pack + 1,000 generated rules: events/s on one core";
    let rows = bin.and_then(|b| measure(&b, 1000, millis));
    let rows = match rows {
        Ok(r) => r,
        Err(e) => {
            eprintln!("bench: rule matching failed: {e:#}");
            for (what, target) in [(what_default, "≥ 10 M/s"), (what_1000, "≥ 5 M/s")] {
                rep.row(what, format!("not measured: {e:#}"), target, "missed: not measured");
            }
            return;
        }
    };
    let find = |pred: &dyn Fn(&Row) -> bool| rows.iter().find(|r| pred(r));
    let default = find(&|r| r.workload == "default pack");
    let only = find(&|r| !r.workload.starts_with("default pack"));
    let both = find(&|r| r.workload.starts_with("default pack +"));
    let fmt = |r: &Row| {
        let spread = match &r.spread {
            Some(s) => format!("; median of bench_table's interleaved rounds, best … worst {s} ns/event"),
            None => String::new(),
        };
        format!("{:.2} M/s ({:.0} ns/event, {} rules{spread})", r.events_per_sec / 1e6, r.ns_per_event, r.rules)
    };
    // Issue 18's targets.
    for (what, row, target, alone) in [(what_default, default, 10e6, None), (what_1000, both, 5e6, only)] {
        let Some(r) = row else {
            rep.row(what, "not in bench_table's output", format!("≥ {} M/s", target / 1e6), "missed: not measured");
            continue;
        };
        let mut result = fmt(r);
        if let Some(o) = alone {
            result.push_str(&format!("; the 1,000 generated rules alone: {:.2} M/s", o.events_per_sec / 1e6));
        }
        rep.row(
            what,
            result,
            format!("≥ {} M/s", target / 1e6),
            verdict(r.events_per_sec >= target, format!("by {:.2} M/s", (target - r.events_per_sec) / 1e6)),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_bench_table() {
        let t = "| workload | rules | ns/event | events/s/core | matches/event |\n|---|---:|---:|---:|---:|\n\
                 | default pack | 28 | 148 | 6.76 M | 0.020 |\n\
                 | 1000 generated rules | 1000 | 72 | 13.89 M | 0.000 |\n\
                 | default pack + 1000 generated rules | 1028 | 195 | 5.14 M | 0.020 |\n";
        let r = parse(t);
        assert_eq!(r.len(), 3);
        assert_eq!(r[0].workload, "default pack");
        assert_eq!(r[0].rules, 28);
        assert!((r[0].events_per_sec - 6.76e6).abs() < 1.0);
        assert_eq!(r[2].rules, 1028);
        assert_eq!(r[0].spread, None);
        let t = "| workload | rules | ns/event | events/s/core | matches/event | ns/event best … worst of 9 rounds |\n\
                 |---|---:|---:|---:|---:|---|\n| default pack | 85 | 144 | 6.94 M | 0.020 | 126 … 168 |\n";
        let r = parse(t);
        assert_eq!(r.len(), 1);
        assert_eq!(r[0].spread.as_deref(), Some("126 … 168"));
    }
}
