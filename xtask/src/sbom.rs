//! `cargo xtask sbom`: a CycloneDX 1.5 SBOM (JSON) of the `lanner` binary's
//! dependency tree, by cargo-cyclonedx (pinned, see `tools.rs`), written to
//! `target/sbom/lanner.cdx.json` (under CARGO_TARGET_DIR when set).
//!
//! The SBOM covers what the binary is built from on the host platform:
//! the normal and build dependencies of package `lanner`, the eBPF crate
//! (a build dependency: its object is embedded) included, dev-dependencies
//! not. It is checked against Cargo.lock: every locked crate in that tree
//! must be a component at its locked version, and every component must be
//! locked; the locked crates outside it (other platforms only; xtask, tests
//! and dev-dependencies only) are counted and named in the output.
//!
//! The container images (deploy/docker/Dockerfile) are not built by the
//! project yet; their SBOM follows the image task (`cargo xtask image`).
use std::{
    collections::{BTreeMap, BTreeSet},
    path::{Path, PathBuf},
    process::Command,
};

use anyhow::{bail, Context as _, Result};
use serde_json::Value;

use crate::tools;

/// (name, version) of a crate.
type Crate = (String, String);

const HOST: &str = "x86_64-unknown-linux-gnu";

/// The crates of Cargo.lock.
fn lock_crates(text: &str) -> BTreeSet<Crate> {
    let mut out = BTreeSet::new();
    for block in text.split("[[package]]").skip(1) {
        let field = |key: &str| {
            block.lines().find_map(|l| {
                l.strip_prefix(key)
                    .and_then(|r| r.trim_start().strip_prefix('='))
                    .map(|v| v.trim().trim_matches('"').to_string())
            })
        };
        if let (Some(n), Some(v)) = (field("name"), field("version")) {
            out.insert((n, v));
        }
    }
    out
}

/// The crates `lanner` is built from: its normal and build dependencies,
/// transitively, from `cargo metadata` (restricted to `platform` if given).
fn binary_tree(root: &Path, platform: Option<&str>) -> Result<BTreeSet<Crate>> {
    let mut cmd = super::cargo();
    cmd.args(["metadata", "--format-version", "1", "--locked"]).current_dir(root);
    if let Some(p) = platform {
        cmd.args(["--filter-platform", p]);
    }
    let out = cmd.output().context("running cargo metadata")?;
    if !out.status.success() {
        bail!("cargo metadata failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    let meta: Value = serde_json::from_slice(&out.stdout).context("cargo metadata output")?;
    tree_from_metadata(&meta, "lanner")
}

fn tree_from_metadata(meta: &Value, root_name: &str) -> Result<BTreeSet<Crate>> {
    let mut ids = BTreeMap::new();
    for p in meta["packages"].as_array().context("metadata: packages")? {
        let (Some(id), Some(n), Some(v)) = (p["id"].as_str(), p["name"].as_str(), p["version"].as_str()) else {
            bail!("metadata: a package without id, name or version");
        };
        ids.insert(id.to_string(), (n.to_string(), v.to_string()));
    }
    let mut edges: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for node in meta["resolve"]["nodes"].as_array().context("metadata: resolve.nodes")? {
        let id = node["id"].as_str().context("metadata: node id")?;
        let deps = node["deps"].as_array().into_iter().flatten().filter(|d| {
            // `kind` is null for normal dependencies, "build" or "dev" otherwise.
            d["dep_kinds"].as_array().into_iter().flatten().any(|k| k["kind"].as_str() != Some("dev"))
        });
        edges.insert(id, deps.filter_map(|d| d["pkg"].as_str()).collect());
    }
    let start = ids
        .iter()
        .find(|(id, (n, _))| *n == root_name && edges.contains_key(id.as_str()))
        .map(|(id, _)| id.as_str())
        .with_context(|| format!("package {root_name} not in cargo metadata"))?;
    let (mut seen, mut todo) = (BTreeSet::new(), vec![start]);
    while let Some(id) = todo.pop() {
        if seen.insert(id) {
            todo.extend(edges.get(id).into_iter().flatten());
        }
    }
    Ok(seen.into_iter().filter_map(|id| ids.get(id).cloned()).collect())
}

/// The components of a CycloneDX JSON document, the described one included.
fn components(bom: &Value) -> Result<BTreeSet<Crate>> {
    let top = &bom["metadata"]["component"];
    let mut out = BTreeSet::new();
    for c in std::iter::once(top).chain(bom["components"].as_array().context("SBOM without components")?) {
        let (Some(n), Some(v)) = (c["name"].as_str(), c["version"].as_str()) else {
            bail!("SBOM component without name or version: {c}");
        };
        out.insert((n.to_string(), v.to_string()));
    }
    Ok(out)
}

/// What the check found: the SBOM against Cargo.lock and the binary's tree.
#[derive(Debug, PartialEq)]
struct Coverage {
    /// Locked crates of the binary's tree that the SBOM misses.
    missing: Vec<Crate>,
    /// Components that Cargo.lock does not have (name and version).
    unlocked: Vec<Crate>,
    /// Locked crates that only other platforms' builds of the binary use.
    other_platforms: usize,
    /// Locked crates that only xtask, the tests or dev-dependencies use.
    not_shipped: usize,
}

fn coverage(
    lock: &BTreeSet<Crate>,
    sbom: &BTreeSet<Crate>,
    host_tree: &BTreeSet<Crate>,
    all_tree: &BTreeSet<Crate>,
) -> Coverage {
    Coverage {
        missing: host_tree.intersection(lock).filter(|c| !sbom.contains(*c)).cloned().collect(),
        unlocked: sbom.difference(lock).cloned().collect(),
        other_platforms: lock.iter().filter(|c| !sbom.contains(*c) && all_tree.contains(*c)).count(),
        not_shipped: lock.iter().filter(|c| !all_tree.contains(*c)).count(),
    }
}

/// cargo-cyclonedx's output name (without `.json`) beside each member's Cargo.toml.
const SCRATCH: &str = "lanner-sbom.xtask";

fn remove_scratch(root: &Path) -> Result<()> {
    for entry in std::fs::read_dir(root)? {
        let file = entry?.path().join(format!("{SCRATCH}.json"));
        if file.is_file() {
            std::fs::remove_file(&file).with_context(|| format!("removing {}", file.display()))?;
        }
    }
    Ok(())
}

fn sha256(path: &Path) -> Option<String> {
    let out = Command::new("sha256sum").arg(path).output().ok()?;
    let text = String::from_utf8(out.stdout).ok()?;
    text.split_whitespace().next().filter(|h| h.len() == 64).map(str::to_string)
}

/// Write the SBOM, check it, print its path and component count.
pub fn run(root: &Path, target_dir: &Path, binary: &Path) -> Result<PathBuf> {
    let dir = target_dir.join("sbom");
    std::fs::create_dir_all(&dir)?;
    // cargo-cyclonedx writes one file next to each workspace member's
    // Cargo.toml: keep agent/'s (package lanner), remove them all.
    let mut cmd = tools::CYCLONEDX.command()?;
    cmd.args(["--manifest-path", "agent/Cargo.toml", "--format", "json", "--spec-version", "1.5", "--all"])
        .args(["--target", HOST, "--override-filename", SCRATCH, "--quiet"])
        .env("SOURCE_DATE_EPOCH", "0");
    let ran = super::sh(&mut cmd);
    let scratch = root.join("agent").join(format!("{SCRATCH}.json"));
    let text = std::fs::read_to_string(&scratch).with_context(|| format!("reading {}", scratch.display()));
    remove_scratch(root)?;
    ran?;
    let text = text?;
    let mut bom: Value = serde_json::from_str(&text).context("cargo-cyclonedx wrote invalid JSON")?;
    if let Some(hash) = sha256(binary) {
        // Ties the SBOM to the binary it describes (built just before).
        bom["metadata"]["component"]["hashes"] = serde_json::json!([{"alg": "SHA-256", "content": hash}]);
    }
    let path = dir.join("lanner.cdx.json");
    std::fs::write(&path, serde_json::to_vec_pretty(&bom)?)?;

    let lock = lock_crates(&std::fs::read_to_string(root.join("Cargo.lock"))?);
    let sbom = components(&bom)?;
    let cov = coverage(&lock, &sbom, &binary_tree(root, Some(HOST))?, &binary_tree(root, None)?);
    println!(
        "sbom: {} (CycloneDX 1.5): {} components; Cargo.lock: {} crates, {} in the binary's tree ({HOST}), \
         {} only for other platforms, {} only for xtask/tests/dev-dependencies",
        path.display(),
        sbom.len(),
        lock.len(),
        lock.intersection(&sbom).count(),
        cov.other_platforms,
        cov.not_shipped,
    );
    println!(
        "sbom: container images (`cargo xtask image`, digests in target/images/digests.txt) have no SBOM of their \
         own yet: the agent image adds to this binary the shared libraries `ldd` lists and Debian's ca-certificates"
    );
    if !cov.missing.is_empty() || !cov.unlocked.is_empty() {
        bail!("the SBOM does not match Cargo.lock: missing {:?}; not in Cargo.lock {:?}", cov.missing, cov.unlocked);
    }
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(items: &[(&str, &str)]) -> BTreeSet<Crate> {
        items.iter().map(|(n, v)| (n.to_string(), v.to_string())).collect()
    }

    #[test]
    fn reads_cargo_lock() {
        let lock = "version = 4\n\n[[package]]\nname = \"aya\"\nversion = \"0.14.0\"\nsource = \"registry\"\n\
                    dependencies = [\n \"bytes\",\n]\n\n[[package]]\nname = \"lanner\"\nversion = \"0.1.0\"\n";
        assert_eq!(lock_crates(lock), set(&[("aya", "0.14.0"), ("lanner", "0.1.0")]));
    }

    #[test]
    fn follows_normal_and_build_dependencies_only() {
        let meta = serde_json::json!({
            "packages": [
                {"id": "l", "name": "lanner", "version": "0.1.0"},
                {"id": "a", "name": "aya", "version": "0.14.0"},
                {"id": "b", "name": "aya-build", "version": "0.2.0"},
                {"id": "t", "name": "tempfile", "version": "3.0.0"},
                {"id": "x", "name": "xtask", "version": "0.1.0"},
            ],
            "resolve": {"nodes": [
                {"id": "l", "deps": [
                    {"pkg": "a", "dep_kinds": [{"kind": null}]},
                    {"pkg": "b", "dep_kinds": [{"kind": "build"}]},
                    {"pkg": "t", "dep_kinds": [{"kind": "dev"}]},
                ]},
                {"id": "a", "deps": []}, {"id": "b", "deps": []}, {"id": "t", "deps": []},
                {"id": "x", "deps": [{"pkg": "a", "dep_kinds": [{"kind": null}]}]},
            ]},
        });
        let tree = tree_from_metadata(&meta, "lanner").unwrap();
        assert_eq!(tree, set(&[("lanner", "0.1.0"), ("aya", "0.14.0"), ("aya-build", "0.2.0")]));
    }

    #[test]
    fn coverage_finds_missing_and_unlocked_components() {
        let lock = set(&[("lanner", "0.1.0"), ("aya", "0.14.0"), ("windows-sys", "0.61.0"), ("tempfile", "3.0.0")]);
        let host = set(&[("lanner", "0.1.0"), ("aya", "0.14.0")]);
        let all = set(&[("lanner", "0.1.0"), ("aya", "0.14.0"), ("windows-sys", "0.61.0")]);
        let full = coverage(&lock, &host, &host, &all);
        assert_eq!(full, Coverage { missing: vec![], unlocked: vec![], other_platforms: 1, not_shipped: 1 });
        let short = coverage(&lock, &set(&[("lanner", "0.1.0"), ("aya", "0.13.0")]), &host, &all);
        assert_eq!(short.missing, vec![("aya".to_string(), "0.14.0".to_string())]);
        assert_eq!(short.unlocked, vec![("aya".to_string(), "0.13.0".to_string())]);
    }

    #[test]
    fn reads_components() {
        let bom = serde_json::json!({
            "metadata": {"component": {"name": "lanner", "version": "0.1.0"}},
            "components": [{"name": "aya", "version": "0.14.0"}],
        });
        assert_eq!(components(&bom).unwrap(), set(&[("lanner", "0.1.0"), ("aya", "0.14.0")]));
        assert!(components(&serde_json::json!({"metadata": {}})).is_err());
    }
}
