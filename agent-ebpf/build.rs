//! Re-run the eBPF build when bpf-linker changes (aya-template idiom).
use which::which;

fn main() {
    match which("bpf-linker") {
        Ok(p) => println!("cargo:rerun-if-changed={}", p.display()),
        Err(e) => println!("cargo:warning=bpf-linker not found ({e}); run xtask/bootstrap.sh"),
    }
}
