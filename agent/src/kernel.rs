//! Pre-flight checks of the host: privileges, kernel version, BTF, tracefs.
//!
//! Each failure becomes an error that says what is missing and how to fix it,
//! instead of an errno from deep inside the loader.
use std::path::Path;

use aya::util::KernelVersion;

#[derive(Debug, thiserror::Error)]
pub enum HostError {
    #[error(
        "lanner run needs root or the capabilities CAP_BPF, CAP_PERFMON and CAP_SYS_RESOURCE \
         (effective uid is {uid}); run it with sudo or grant them to the container"
    )]
    NotPrivileged { uid: u32 },
    #[error("kernel {found} is too old: Lanner needs {need}+ (BPF ring buffer, BTF)")]
    KernelTooOld { found: String, need: String },
    #[error("kernel BTF not found at /sys/kernel/btf/vmlinux (CONFIG_DEBUG_INFO_BTF=y is required)")]
    NoBtf,
    #[error("tracefs is not mounted and mounting it at {path} failed: {source}")]
    Tracefs { path: String, source: std::io::Error },
}

/// RingBuf (5.8) and bpf_ktime_get_boot_ns (5.8) set the floor.
pub const MIN_KERNEL: (u8, u8, u16) = (5, 8, 0);

const CAP_SYS_RESOURCE: u32 = 24;
const CAP_SYS_ADMIN: u32 = 21;
const CAP_PERFMON: u32 = 38;
const CAP_BPF: u32 = 39;

fn effective_caps() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines().find_map(|l| l.strip_prefix("CapEff:")).and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
        })
        .unwrap_or(0)
}

pub fn check_privileges() -> Result<(), HostError> {
    let uid = unsafe { libc::geteuid() };
    if uid == 0 {
        return Ok(());
    }
    let caps = effective_caps();
    let has = |c: u32| caps & (1u64 << c) != 0;
    if has(CAP_SYS_ADMIN) || (has(CAP_BPF) && has(CAP_PERFMON) && has(CAP_SYS_RESOURCE)) {
        return Ok(());
    }
    Err(HostError::NotPrivileged { uid })
}

pub fn kernel_version() -> Option<KernelVersion> {
    KernelVersion::current().ok()
}

pub fn check_kernel() -> Result<KernelVersion, HostError> {
    let (a, b, c) = MIN_KERNEL;
    let need = KernelVersion::new(a, b, c);
    match kernel_version() {
        Some(v) if v < need => Err(HostError::KernelTooOld { found: format!("{v:?}"), need: format!("{a}.{b}") }),
        Some(v) => {
            if !Path::new("/sys/kernel/btf/vmlinux").exists() {
                return Err(HostError::NoBtf);
            }
            Ok(v)
        }
        // Unknown version string: let the loader decide.
        None => Ok(need),
    }
}

/// Make sure tracefs is mounted (classic tracepoints attach through it).
pub fn ensure_tracefs() -> Result<&'static str, HostError> {
    for p in ["/sys/kernel/tracing", "/sys/kernel/debug/tracing"] {
        if Path::new(p).join("events").is_dir() {
            return Ok(p);
        }
    }
    let path = "/sys/kernel/tracing";
    let c = |s: &str| std::ffi::CString::new(s).expect("no NUL");
    let (src, dst, fs) = (c("tracefs"), c(path), c("tracefs"));
    let rc = unsafe { libc::mount(src.as_ptr(), dst.as_ptr(), fs.as_ptr(), 0, std::ptr::null()) };
    if rc != 0 {
        return Err(HostError::Tracefs { path: path.into(), source: std::io::Error::last_os_error() });
    }
    tracing::info!(path, "mounted tracefs");
    Ok(path)
}

/// Raise RLIMIT_MEMLOCK for kernels that still charge BPF memory to it (< 5.11).
pub fn raise_memlock() {
    let lim = libc::rlimit { rlim_cur: libc::RLIM_INFINITY, rlim_max: libc::RLIM_INFINITY };
    if unsafe { libc::setrlimit(libc::RLIMIT_MEMLOCK, &lim) } != 0 {
        tracing::debug!("could not raise RLIMIT_MEMLOCK: {}", std::io::Error::last_os_error());
    }
}

/// Offset that turns `bpf_ktime_get_boot_ns` into Unix time in nanoseconds.
pub fn boot_to_unix_offset_ns() -> i128 {
    let now = |clock| {
        let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
        unsafe { libc::clock_gettime(clock, &mut ts) };
        ts.tv_sec as i128 * 1_000_000_000 + ts.tv_nsec as i128
    };
    let real = now(libc::CLOCK_REALTIME);
    let boot = now(libc::CLOCK_BOOTTIME);
    real - boot
}
