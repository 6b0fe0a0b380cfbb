//! Builds the eBPF object (crate `lanner-ebpf`) with aya-build and embeds it
//! into the agent (aya-template layout). Set AYA_BUILD_SKIP=1 to skip it for
//! host-only work (the agent then fails to load probes at run time).
//!
//! aya-build relays every line of the nested cargo (`Compiling core …`, the
//! eBPF crate's diagnostics) as `cargo:warning=`, which cargo prints as dozens
//! of `warning: lanner@0.1.0:` lines. So this script runs itself a second time
//! as a child (`LANNER_EBPF_CHILD=1`) that calls aya-build, passes the child's
//! build instructions on to cargo, and keeps its warnings back: they are shown
//! when the eBPF build fails, or always with `LANNER_BUILD_VERBOSE=1`.
use std::process::Command;

use anyhow::{anyhow, bail, Context as _};
use aya_build::{Package, Toolchain};

const CHILD: &str = "LANNER_EBPF_CHILD";
const VERBOSE: &str = "LANNER_BUILD_VERBOSE";
const WARNING: &str = "cargo:warning=";

fn main() -> anyhow::Result<()> {
    if std::env::var_os(CHILD).is_some() {
        return build_ebpf();
    }
    println!("cargo:rerun-if-env-changed={VERBOSE}");
    let verbose = std::env::var(VERBOSE).is_ok_and(|v| v == "1" || v.eq_ignore_ascii_case("true"));
    let me = std::env::current_exe().context("the build script's own path")?;
    // RUSTC_BOOTSTRAP=1 in the child (and so in the cargo it runs) only, so
    // `-Z build-std=core` works on the pinned stable toolchain.
    let out = Command::new(&me)
        .env(CHILD, "1")
        .env("RUSTC_BOOTSTRAP", "1")
        .output()
        .with_context(|| format!("running {}", me.display()))?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let mut held = Vec::new();
    for line in stdout.lines() {
        match line.strip_prefix(WARNING) {
            // The child's own notes (`lanner: ...`) always show; aya-build's relayed lines wait.
            Some(w) if !verbose && !w.starts_with("lanner: ") => held.push(w),
            _ => println!("{line}"),
        }
    }
    if !out.status.success() {
        // Cargo shows a failed build script's stderr: the whole eBPF build log.
        for w in held {
            eprintln!("{w}");
        }
        eprint!("{}", String::from_utf8_lossy(&out.stderr));
        bail!("building the eBPF object failed ({}); LANNER_BUILD_VERBOSE=1 shows its log on success too", out.status);
    }
    Ok(())
}

/// The child: aya-build on `lanner-ebpf` with the pinned toolchain.
fn build_ebpf() -> anyhow::Result<()> {
    let cargo_metadata::Metadata { packages, .. } =
        cargo_metadata::MetadataCommand::new().no_deps().exec().context("MetadataCommand::exec")?;
    let ebpf = packages
        .into_iter()
        .find(|p| p.name.as_str() == "lanner-ebpf")
        .ok_or_else(|| anyhow!("lanner-ebpf package not found"))?;
    let root_dir = ebpf.manifest_path.parent().ok_or_else(|| anyhow!("no parent for {}", ebpf.manifest_path))?.as_str();
    let toolchain = std::env::var("RUSTUP_TOOLCHAIN").unwrap_or_else(|_| "1.95.0".into());
    println!("cargo:rerun-if-env-changed=RUSTUP_TOOLCHAIN");
    aya_build::build_ebpf(
        [Package { name: ebpf.name.as_str(), root_dir, ..Default::default() }],
        Toolchain::Custom(&toolchain),
    )?;
    strip_debug(&std::path::Path::new(&std::env::var("OUT_DIR")?).join("lanner-probes"))
}

/// The object as bpf-linker writes it is ~8 MB, three quarters DWARF (`debug = 2`
/// in the workspace profile: bpf-linker derives the BTF from it), which the
/// loader never reads: aya uses `.BTF`, `.BTF.ext` and the relocations. The
/// toolchain's own `rust-objcopy` (part of the rustc component) drops the
/// `.debug_*` sections: ~2 MB embedded instead of ~8. Where it is missing or
/// fails, the full object is embedded and the build says so.
fn strip_debug(obj: &std::path::Path) -> anyhow::Result<()> {
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let host = std::env::var("HOST")?;
    let sysroot = Command::new(&rustc).args(["--print", "sysroot"]).output().context("rustc --print sysroot")?;
    let sysroot = std::path::PathBuf::from(String::from_utf8_lossy(&sysroot.stdout).trim());
    let objcopy = sysroot.join(format!("lib/rustlib/{host}/bin/rust-objcopy"));
    // Written beside, then renamed: the object may be a hard link into aya-build's target dir.
    let tmp = obj.with_extension("stripped");
    let out = Command::new(&objcopy)
        .env("LD_LIBRARY_PATH", sysroot.join("lib"))
        .arg("--strip-debug")
        .arg(obj)
        .arg(&tmp)
        .output();
    match out {
        Ok(o) if o.status.success() => {
            std::fs::rename(&tmp, obj).with_context(|| format!("renaming {} to {}", tmp.display(), obj.display()))
        }
        Ok(o) => {
            println!(
                "cargo:warning=lanner: embedding the eBPF object with its DWARF: {} failed: {}",
                objcopy.display(),
                String::from_utf8_lossy(&o.stderr).trim()
            );
            Ok(())
        }
        Err(e) => {
            println!("cargo:warning=lanner: embedding the eBPF object with its DWARF: {}: {e}", objcopy.display());
            Ok(())
        }
    }
}
