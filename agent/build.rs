//! Builds the eBPF object (crate `lanner-ebpf`) with aya-build and embeds it
//! into the agent (aya-template layout). Set AYA_BUILD_SKIP=1 to skip it for
//! host-only work (the agent then fails to load probes at run time).
use anyhow::{anyhow, Context as _};
use aya_build::{Package, Toolchain};

fn main() -> anyhow::Result<()> {
    let cargo_metadata::Metadata { packages, .. } =
        cargo_metadata::MetadataCommand::new().no_deps().exec().context("MetadataCommand::exec")?;
    let ebpf = packages
        .into_iter()
        .find(|p| p.name.as_str() == "lanner-ebpf")
        .ok_or_else(|| anyhow!("lanner-ebpf package not found"))?;
    let root_dir = ebpf.manifest_path.parent().ok_or_else(|| anyhow!("no parent for {}", ebpf.manifest_path))?.as_str();
    // Build with the pinned stable toolchain: RUSTC_BOOTSTRAP=1 in the child
    // cargo only, so `-Z build-std=core` works without a nightly toolchain.
    let toolchain = std::env::var("RUSTUP_TOOLCHAIN").unwrap_or_else(|_| "1.95.0".into());
    // SAFETY: build scripts are single-threaded at this point.
    unsafe { std::env::set_var("RUSTC_BOOTSTRAP", "1") };
    println!("cargo:rerun-if-env-changed=RUSTUP_TOOLCHAIN");
    aya_build::build_ebpf(
        [Package { name: ebpf.name.as_str(), root_dir, ..Default::default() }],
        Toolchain::Custom(&toolchain),
    )
}
