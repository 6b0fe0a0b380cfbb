//! `cargo xtask deny`: licence, ban and source policy (deny.toml) by
//! cargo-deny (pinned, see `tools.rs`), offline. The advisories check needs
//! the network advisory database and is not run (deny.toml says so).
use std::{path::Path, process::Stdio};

use anyhow::{bail, Context as _, Result};

use crate::tools;

const CHECKS: [&str; 3] = ["bans", "licenses", "sources"];

/// cargo-deny's one-line verdicts (`bans ok`, `licenses FAILED`, …).
fn verdicts(stderr: &str) -> Vec<String> {
    stderr
        .lines()
        .map(str::trim)
        .filter(|l| {
            l.split_once(' ').is_some_and(|(check, rest)| CHECKS.contains(&check) && matches!(rest, "ok" | "FAILED"))
        })
        .map(str::to_string)
        .collect()
}

pub fn run(root: &Path) -> Result<()> {
    let mut cmd = tools::DENY.command()?;
    cmd.args(["--offline", "--locked", "--color", "never", "--log-level", "warn", "check", "--show-stats"])
        .args(CHECKS)
        .current_dir(root)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    eprintln!("xtask: {cmd:?}");
    let out = cmd.output().context("running cargo-deny")?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    eprint!("{stderr}");
    let v = verdicts(&stderr);
    println!(
        "cargo-deny: {} (advisories not checked: offline)",
        if v.is_empty() { "no verdict".into() } else { v.join(", ") }
    );
    if !out.status.success() {
        bail!("cargo-deny found policy violations (deny.toml): {}", out.status);
    }
    if v.len() != CHECKS.len() {
        bail!("cargo-deny succeeded but printed {} of {} verdicts", v.len(), CHECKS.len());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_verdicts() {
        let stderr = "warning[duplicate]: found 2 duplicate entries for crate 'syn'\n\
                      bans ok, 7 errors\nbans ok\nlicenses FAILED\nsources ok\nadvisories ok\n";
        assert_eq!(verdicts(stderr), ["bans ok", "licenses FAILED", "sources ok"]);
    }
}
