//! The release build (`cargo xtask build`, and before `run`, `test`, …) as
//! three stages with one progress line each:
//!
//! 1. bootstrap: the pinned toolchain, rust-src, bpf-linker (bootstrap.sh);
//! 2. eBPF object: `lanner`'s dependencies and agent/build.rs, which builds
//!    crate `lanner-ebpf` with aya-build;
//! 3. agent: the `lanner` binary itself.
//!
//! What the tools print is kept back and shown when a stage fails, or as it
//! comes with `LANNER_BUILD_VERBOSE=1` (which agent/build.rs honours too).
use std::{
    io::{BufRead as _, BufReader, Read as _, Write as _},
    path::{Path, PathBuf},
    process::{Command, Stdio},
    time::Instant,
};

use anyhow::{bail, Context as _, Result};
use serde_json::Value;

pub fn verbose() -> bool {
    std::env::var("LANNER_BUILD_VERBOSE").is_ok_and(|v| v == "1" || v.eq_ignore_ascii_case("true"))
}

/// `xtask: [n/3] what …` without its end; [`done`] ends it.
fn begin(n: u32, what: &str) -> Instant {
    eprint!("xtask: [{n}/3] {what} … ");
    let _ = std::io::stderr().flush();
    Instant::now()
}

fn done(t: Instant, note: &str) {
    eprintln!("{note} ({:.1} s)", t.elapsed().as_secs_f64());
}

/// Stage 1.
fn bootstrap(root: &Path) -> Result<()> {
    let t = begin(1, "bootstrap: Rust toolchain, rust-src, bpf-linker");
    let mut cmd = Command::new("bash");
    cmd.arg("xtask/bootstrap.sh").current_dir(root);
    if verbose() {
        eprintln!();
        super::sh(&mut cmd)?;
        done(t, "xtask: [1/3] bootstrap ok");
        return Ok(());
    }
    let out = cmd.output().context("running xtask/bootstrap.sh")?;
    if !out.status.success() {
        eprintln!("failed");
        std::io::stderr().write_all(&out.stdout)?;
        std::io::stderr().write_all(&out.stderr)?;
        bail!("xtask/bootstrap.sh failed: {}", out.status);
    }
    done(t, "ok");
    Ok(())
}

/// What one line of `cargo build --message-format=json` tells about the stages.
#[derive(Debug, PartialEq)]
enum Event {
    /// agent/build.rs ran (or was up to date): the eBPF object is in place.
    EbpfObject,
    /// The `lanner` binary was linked (or was up to date).
    Agent(PathBuf),
    Other,
}

fn event(line: &str) -> Event {
    let Ok(v) = serde_json::from_str::<Value>(line) else { return Event::Other };
    let lanner = v["package_id"].as_str().is_some_and(|id| id.contains("#lanner@") || id.starts_with("lanner "));
    match v["reason"].as_str() {
        Some("build-script-executed") if lanner => Event::EbpfObject,
        Some("compiler-artifact")
            if lanner && v["target"]["kind"].as_array().is_some_and(|k| k.iter().any(|k| k == "bin")) =>
        {
            v["executable"].as_str().map_or(Event::Other, |p| Event::Agent(PathBuf::from(p)))
        }
        _ => Event::Other,
    }
}

/// Stages 2 and 3: one `cargo build`, its JSON messages marking the stages.
fn cargo_build(root: &Path) -> Result<PathBuf> {
    let mut cmd = super::cargo();
    cmd.args(["build", "--release", "-p", "lanner", "--message-format=json-render-diagnostics"])
        .current_dir(root)
        .stdout(Stdio::piped())
        .stderr(if verbose() { Stdio::inherit() } else { Stdio::piped() });
    let mut t = begin(2, "eBPF object: dependencies, agent/build.rs (aya-build)");
    if verbose() {
        eprintln!();
    }
    let mut child = cmd.spawn().context("spawning cargo build")?;
    // Drain stderr on a thread so cargo never blocks on a full pipe.
    let stderr = child.stderr.take().map(|mut e| {
        std::thread::spawn(move || {
            let mut s = String::new();
            let _ = e.read_to_string(&mut s);
            s
        })
    });
    let mut bin = None;
    let mut ebpf_done = false;
    for line in BufReader::new(child.stdout.take().context("cargo stdout")?).lines() {
        match event(&line?) {
            Event::EbpfObject if !ebpf_done => {
                ebpf_done = true;
                done(t, "ok");
                t = begin(3, "agent: the lanner binary");
            }
            Event::Agent(p) => bin = Some(p),
            _ => {}
        }
    }
    let status = child.wait()?;
    let log = stderr.map(|h| h.join().unwrap_or_default()).unwrap_or_default();
    if !status.success() {
        eprintln!("failed");
        eprint!("{log}");
        bail!("cargo build --release -p lanner failed: {status}");
    }
    let warnings = log.lines().filter(|l| l.starts_with("warning:")).count();
    let bin = bin.context("cargo build succeeded but named no lanner binary")?;
    let note = if warnings > 0 {
        format!("ok, {warnings} compiler warnings (LANNER_BUILD_VERBOSE=1 shows them)")
    } else {
        "ok".into()
    };
    done(t, &format!("{note}: {}", bin.display()));
    Ok(bin)
}

/// All three stages; returns the binary.
pub fn build(root: &Path) -> Result<PathBuf> {
    bootstrap(root)?;
    cargo_build(root)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_cargo_messages() {
        let script =
            r#"{"reason":"build-script-executed","package_id":"path+file:///w/agent#lanner@0.1.0","out_dir":"/t"}"#;
        assert_eq!(event(script), Event::EbpfObject);
        let other_script = r#"{"reason":"build-script-executed","package_id":"registry+https://x#libc@0.2.1"}"#;
        assert_eq!(event(other_script), Event::Other);
        let bin = r#"{"reason":"compiler-artifact","package_id":"path+file:///w/agent#lanner@0.1.0","target":{"kind":["bin"],"name":"lanner"},"executable":"/t/release/lanner","fresh":true}"#;
        assert_eq!(event(bin), Event::Agent(PathBuf::from("/t/release/lanner")));
        let lib = r#"{"reason":"compiler-artifact","package_id":"path+file:///w/rules#lanner-rules@0.1.0","target":{"kind":["lib"]},"executable":null}"#;
        assert_eq!(event(lib), Event::Other);
        assert_eq!(event("not json"), Event::Other);
    }
}
