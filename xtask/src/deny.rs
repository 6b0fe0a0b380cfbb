//! `cargo xtask deny`: licence, ban and source policy (deny.toml) by
//! cargo-deny (pinned, see `tools.rs`), offline. The advisories check needs
//! the network advisory database and is not run (deny.toml says so).
use std::{path::Path, process::Stdio};

use anyhow::{bail, Context as _, Result};

use crate::tools;

const CHECKS: [&str; 3] = ["bans", "licenses", "sources"];

/// cargo-deny's one-line verdicts on stdout (`bans ok: 0 errors, 0 warnings, 6 notes`,
/// `licenses FAILED: 1 errors, …`).
fn verdicts(stdout: &str) -> Vec<String> {
    stdout
        .lines()
        .map(str::trim)
        .filter(|l| {
            l.split_once(' ').is_some_and(|(check, rest)| {
                CHECKS.contains(&check) && (rest.starts_with("ok:") || rest.starts_with("FAILED:"))
            })
        })
        .map(str::to_string)
        .collect()
}

pub fn run(root: &Path) -> Result<()> {
    let mut cmd = tools::DENY.command()?;
    cmd.args(["--offline", "--locked", "--color", "never", "--log-level", "warn", "--config", "deny.toml"])
        .args(["check", "--show-stats"])
        .args(CHECKS)
        .current_dir(root)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    eprintln!("xtask: {cmd:?}");
    let out = cmd.output().context("running cargo-deny")?;
    // Diagnostics go to stderr, the `--show-stats` verdicts to stdout.
    eprint!("{}", String::from_utf8_lossy(&out.stderr));
    let v = verdicts(&String::from_utf8_lossy(&out.stdout));
    println!(
        "cargo-deny: {} (advisories not checked: offline)",
        if v.is_empty() { "no verdict".into() } else { v.join("; ") }
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
        let stdout = "error[duplicate]: found 2 duplicate entries for crate 'tower-http'\n\
                      \x20 ├ bans ok v1.0.0\n\
                      \x20    bans ok: 0 errors, 0 warnings, 6 notes\n\
                      \x20licenses FAILED: 1 errors, 0 warnings, 246 notes\n\
                      \x20 sources ok: 0 errors, 0 warnings, 0 notes\n\
                      advisories ok: 0 errors\n";
        assert_eq!(
            verdicts(stdout),
            [
                "bans ok: 0 errors, 0 warnings, 6 notes",
                "licenses FAILED: 1 errors, 0 warnings, 246 notes",
                "sources ok: 0 errors, 0 warnings, 0 notes"
            ]
        );
    }
}
