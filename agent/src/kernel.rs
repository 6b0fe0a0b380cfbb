//! Pre-flight checks of the host: privileges, kernel version, BTF, tracefs.
//!
//! Each failure becomes an error that says what is missing and how to fix it,
//! instead of an errno from deep inside the loader.
use std::path::Path;

use aya::util::KernelVersion;

#[derive(Debug, thiserror::Error)]
pub enum HostError {
    #[error(
        "lanner run needs root or the capabilities CAP_BPF and CAP_PERFMON, plus CAP_SYS_RESOURCE on \
         kernels before 5.11 (effective uid is {uid}); run it with sudo or grant them to the container"
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

/// Root, or CAP_SYS_ADMIN, or CAP_BPF + CAP_PERFMON (+ CAP_SYS_RESOURCE
/// where the kernel charges BPF memory to RLIMIT_MEMLOCK).
fn privileged(uid: u32, caps: u64, kver: KernelVersion) -> bool {
    let has = |c: u32| caps & (1u64 << c) != 0;
    uid == 0
        || has(CAP_SYS_ADMIN)
        || (has(CAP_BPF) && has(CAP_PERFMON) && (has(CAP_SYS_RESOURCE) || !memlock_charged(kver)))
}

pub fn check_privileges(kver: KernelVersion) -> Result<(), HostError> {
    let uid = unsafe { libc::geteuid() };
    if privileged(uid, effective_caps(), kver) {
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

/// Kernels before 5.11 charge BPF maps and programs to the process's
/// RLIMIT_MEMLOCK (later ones to its memory cgroup); creating a map over the
/// limit fails with EPERM.
pub fn memlock_charged(kver: KernelVersion) -> bool {
    kver < KernelVersion::new(5, 11, 0)
}

/// What raising RLIMIT_MEMLOCK did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Memlock {
    Raised,
    /// `setrlimit` failed with this errno (EPERM: no CAP_SYS_RESOURCE).
    NotRaised(i32),
}

/// Raise RLIMIT_MEMLOCK to unlimited whenever the capability allows it (a
/// no-op for BPF on 5.11+); on older kernels a failure is a warning, since
/// maps beyond the current limit will not load.
pub fn raise_memlock(kver: KernelVersion) -> Memlock {
    let lim = libc::rlimit { rlim_cur: libc::RLIM_INFINITY, rlim_max: libc::RLIM_INFINITY };
    if unsafe { libc::setrlimit(libc::RLIMIT_MEMLOCK, &lim) } == 0 {
        return Memlock::Raised;
    }
    let err = std::io::Error::last_os_error();
    if memlock_charged(kver) {
        tracing::warn!(
            kernel = %kver,
            limit_kib = memlock_limit_kib(),
            "could not raise RLIMIT_MEMLOCK ({err}): this kernel (before 5.11) charges BPF maps to it, so maps \
             beyond the limit will fail to load; grant CAP_SYS_RESOURCE (Helm: agent.sysResource=true)"
        );
    } else {
        tracing::debug!(kernel = %kver, "RLIMIT_MEMLOCK not raised ({err}); not needed on 5.11+");
    }
    Memlock::NotRaised(err.raw_os_error().unwrap_or(0))
}

/// The current RLIMIT_MEMLOCK in KiB (`None`: unlimited or unknown).
fn memlock_limit_kib() -> Option<u64> {
    let mut lim = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    let ok = unsafe { libc::getrlimit(libc::RLIMIT_MEMLOCK, &mut lim) } == 0;
    (ok && lim.rlim_cur != libc::RLIM_INFINITY).then_some(lim.rlim_cur / 1024)
}

/// Says what to do when loading the eBPF object failed because a map hit
/// RLIMIT_MEMLOCK: map creation failed with EPERM on a kernel that charges
/// maps to it, after the limit could not be raised. `None` for any other error.
pub fn memlock_hint(err: &aya::EbpfError, kver: KernelVersion, memlock: Memlock) -> Option<String> {
    let aya::EbpfError::MapError(aya::maps::MapError::CreateError { name, io_error }) = err else {
        return None;
    };
    if io_error.raw_os_error() != Some(libc::EPERM) || !memlock_charged(kver) || memlock == Memlock::Raised {
        return None;
    }
    Some(format!(
        "creating BPF map {name} failed with EPERM: kernel {kver} (before 5.11) charges BPF maps to \
         RLIMIT_MEMLOCK and the agent could not raise that limit (it needs CAP_SYS_RESOURCE): grant \
         CAP_SYS_RESOURCE (Helm: --set agent.sysResource=true) or raise the container's memlock limit"
    ))
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

#[cfg(test)]
mod tests {
    use super::*;

    const BPF_PERFMON: u64 = (1 << CAP_BPF) | (1 << CAP_PERFMON);

    #[test]
    fn sys_resource_is_needed_only_before_5_11() {
        let (old, new) = (KernelVersion::new(5, 10, 200), KernelVersion::new(5, 11, 0));
        assert!(memlock_charged(old) && !memlock_charged(new));
        assert!(privileged(1000, BPF_PERFMON, new), "CAP_BPF + CAP_PERFMON suffice on 5.11+");
        assert!(privileged(1000, BPF_PERFMON, KernelVersion::new(6, 18, 0)));
        assert!(!privileged(1000, BPF_PERFMON, old), "memlock accounting needs CAP_SYS_RESOURCE");
        assert!(privileged(1000, BPF_PERFMON | (1 << CAP_SYS_RESOURCE), old));
        assert!(!privileged(1000, 1 << CAP_BPF, new), "CAP_PERFMON is always needed");
        assert!(privileged(0, 0, old) && privileged(1000, 1 << CAP_SYS_ADMIN, old));
    }

    fn map_error(errno: i32) -> aya::EbpfError {
        let io_error = std::io::Error::from_raw_os_error(errno);
        aya::EbpfError::MapError(aya::maps::MapError::CreateError { name: "EVENTS".into(), io_error })
    }

    #[test]
    fn a_map_failing_for_memlock_says_so() {
        let old = KernelVersion::new(5, 10, 0);
        let hint = memlock_hint(&map_error(libc::EPERM), old, Memlock::NotRaised(libc::EPERM)).expect("a hint");
        for want in ["EVENTS", "EPERM", "RLIMIT_MEMLOCK", "CAP_SYS_RESOURCE", "agent.sysResource=true", "5.11"] {
            assert!(hint.contains(want), "{want:?} missing in: {hint}");
        }
        // Not a memlock problem: raised limit, 5.11+, another errno.
        assert_eq!(memlock_hint(&map_error(libc::EPERM), old, Memlock::Raised), None);
        let new = KernelVersion::new(6, 1, 0);
        assert_eq!(memlock_hint(&map_error(libc::EPERM), new, Memlock::NotRaised(libc::EPERM)), None);
        assert_eq!(memlock_hint(&map_error(libc::EINVAL), old, Memlock::NotRaised(libc::EPERM)), None);
    }

    #[test]
    fn raising_memlock_reports_what_happened() {
        // Whatever this process may do: the outcome matches setrlimit's.
        let got = raise_memlock(KernelVersion::new(6, 18, 0));
        let mut lim = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
        assert_eq!(unsafe { libc::getrlimit(libc::RLIMIT_MEMLOCK, &mut lim) }, 0);
        match got {
            Memlock::Raised => assert_eq!(lim.rlim_cur, libc::RLIM_INFINITY),
            Memlock::NotRaised(errno) => assert_eq!(errno, libc::EPERM, "only a missing capability fails"),
        }
    }
}
