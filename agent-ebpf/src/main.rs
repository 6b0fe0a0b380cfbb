//! Lanner's eBPF probes.
//!
//! One hook per file under `probes/`; each is a thin entry plus a `try_`
//! function. Tracepoints and raw tracepoints load on every kernel from 5.10 on;
//! the few fexit and BPF LSM programs are preferred where the kernel has them,
//! with tracepoint fallbacks (agent/src/probes.rs).
//! Events go to one RingBuf with batched wake-ups; every failure to reserve,
//! read a string or find a stash entry is counted per probe and per CPU.
#![cfg_attr(target_arch = "bpf", no_std)]
#![cfg_attr(target_arch = "bpf", no_main)]
// `atomic_xadd` (`probes::execve_enter`): the bpf target has no `AtomicU64::fetch_add`.
#![cfg_attr(target_arch = "bpf", allow(internal_features), feature(core_intrinsics))]

#[cfg(target_arch = "bpf")]
mod common;
#[cfg(target_arch = "bpf")]
mod exe;
#[cfg(target_arch = "bpf")]
mod fdinfo;
#[cfg(target_arch = "bpf")]
mod maps;
#[cfg(target_arch = "bpf")]
mod openfacts;
#[cfg(target_arch = "bpf")]
mod pathfilter;
#[cfg(target_arch = "bpf")]
mod probes;
#[cfg(target_arch = "bpf")]
mod regs;

#[cfg(target_arch = "bpf")]
#[panic_handler]
fn panic(_info: &core::panic::PanicInfo) -> ! {
    // The verifier rejects any reachable panic; this is never called.
    loop {}
}

#[cfg(target_arch = "bpf")]
#[unsafe(link_section = "license")]
#[unsafe(no_mangle)]
static LICENSE: [u8; 4] = *b"GPL\0";

#[cfg(not(target_arch = "bpf"))]
fn main() {}
