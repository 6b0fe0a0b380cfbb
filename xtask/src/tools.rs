//! Pinned cargo tools (cargo-cyclonedx, cargo-deny) installed from crates.io
//! on first use into a cache outside the clone, like bpf-linker in
//! xtask/bootstrap.sh: `$LANNER_CACHE/tools/NAME-VERSION/bin/NAME`
//! (`LANNER_CACHE` defaults to `~/.cache/lanner`). Later runs reuse it.
use std::{path::PathBuf, process::Command};

use anyhow::{bail, Context as _, Result};

/// A cargo subcommand from crates.io at an exact version.
pub struct Tool {
    pub name: &'static str,
    pub version: &'static str,
}

pub const CYCLONEDX: Tool = Tool { name: "cargo-cyclonedx", version: "0.5.9" };
pub const DENY: Tool = Tool { name: "cargo-deny", version: "0.20.2" };

fn cache() -> PathBuf {
    if let Some(dir) = std::env::var_os("LANNER_CACHE") {
        return PathBuf::from(dir);
    }
    let home = std::env::var_os("HOME").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("/root"));
    home.join(".cache/lanner")
}

impl Tool {
    fn root(&self) -> PathBuf {
        cache().join("tools").join(format!("{}-{}", self.name, self.version))
    }

    /// The installed binary, installing it first when absent.
    pub fn ensure(&self) -> Result<PathBuf> {
        let bin = self.root().join("bin").join(self.name);
        if bin.is_file() {
            return Ok(bin);
        }
        eprintln!(
            "xtask: installing {} {} into {} (once, a few minutes)",
            self.name,
            self.version,
            self.root().display()
        );
        // Its own target dir: a CARGO_TARGET_DIR shared with a concurrent build breaks the install.
        let st = super::cargo()
            .args(["install", "--locked", "--quiet", self.name, "--version", self.version, "--root"])
            .arg(self.root())
            .env("CARGO_TARGET_DIR", cache().join("tools/build"))
            .status()
            .with_context(|| format!("running cargo install {}", self.name))?;
        if !st.success() || !bin.is_file() {
            bail!("installing {} {} failed: {st}", self.name, self.version);
        }
        Ok(bin)
    }

    /// `cargo NAME` with the pinned binary, run from the workspace root.
    pub fn command(&self) -> Result<Command> {
        let bin = self.ensure()?;
        let mut cmd = Command::new(bin);
        // A cargo subcommand is called with its own name first.
        cmd.arg(self.name.trim_start_matches("cargo-")).current_dir(super::root());
        Ok(cmd)
    }
}
