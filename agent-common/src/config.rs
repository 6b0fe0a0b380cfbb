//! Configuration the agent writes into the probes' `.rodata` before load.
//!
//! Rust eBPF has no CO-RE field relocations, so the agent reads struct member
//! offsets from the running kernel's BTF (/sys/kernel/btf/vmlinux) and passes
//! them here; a missing member is `OFFSET_NONE` and the probe skips that read.

/// Offset not available on this kernel.
pub const OFFSET_NONE: u32 = u32::MAX;

/// Byte offsets of the kernel struct members the probes read.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KernelOffsets {
    pub task_pid: u32,
    pub task_tgid: u32,
    pub task_real_parent: u32,
    pub task_exit_code: u32,
    pub task_loginuid: u32,
    pub task_signal: u32,
    pub signal_tty: u32,
    pub tty_index: u32,
    pub tty_driver: u32,
    pub driver_major: u32,
    pub driver_minor_start: u32,
    pub task_mm: u32,
    pub mm_arg_start: u32,
    pub mm_arg_end: u32,
}

impl KernelOffsets {
    pub const NONE: KernelOffsets = KernelOffsets {
        task_pid: OFFSET_NONE,
        task_tgid: OFFSET_NONE,
        task_real_parent: OFFSET_NONE,
        task_exit_code: OFFSET_NONE,
        task_loginuid: OFFSET_NONE,
        task_signal: OFFSET_NONE,
        signal_tty: OFFSET_NONE,
        tty_index: OFFSET_NONE,
        tty_driver: OFFSET_NONE,
        driver_major: OFFSET_NONE,
        driver_minor_start: OFFSET_NONE,
        task_mm: OFFSET_NONE,
        mm_arg_start: OFFSET_NONE,
        mm_arg_end: OFFSET_NONE,
    };
}

/// Global probe configuration (the `LANNER_CONFIG` global in the object).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProbeConfig {
    /// The agent's own process id: its events are dropped in the kernel.
    pub agent_tgid: u32,
    /// Wake the reader only once this many bytes are pending (0 = every event).
    pub wakeup_bytes: u32,
    pub _pad0: u32,
    pub _pad: u32,
    pub offsets: KernelOffsets,
}

impl ProbeConfig {
    pub const DEFAULT: ProbeConfig =
        ProbeConfig { agent_tgid: 0, wakeup_bytes: 0, _pad0: 0, _pad: 0, offsets: KernelOffsets::NONE };
}

const _: () = assert!(core::mem::size_of::<KernelOffsets>() == 56);
const _: () = assert!(core::mem::size_of::<ProbeConfig>() == 72);

#[cfg(feature = "user")]
// SAFETY: repr(C), Copy, only u32 fields.
unsafe impl aya::Pod for ProbeConfig {}

/// Runtime pre-filter, in the `FILTER` array map (one entry), rewritten by the
/// agent whenever the rule set changes. Derived from the rules: event types no
/// rule needs are not emitted, and opens can be limited to path prefixes.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FilterConfig {
    /// Bit `EventKind as u16` set = do NOT emit that kind (a zeroed map entry
    /// passes everything). Exec, fork and exit are always emitted: the process
    /// table needs them.
    pub kinds_off: u32,
    /// Non-zero: drop opens that failed (ret < 0).
    pub drop_failed_opens: u32,
    /// Non-zero: emit an absolute-path open only if its path has a prefix in
    /// `OPEN_PREFIXES` (relative paths always pass).
    pub open_prefix_filter: u32,
    /// With `open_prefix_filter`: still emit every open for writing.
    pub open_writes_always: u32,
    /// Non-zero: drop connects that failed with an error other than EINPROGRESS.
    pub drop_failed_connects: u32,
    /// Non-zero: drop connects to loopback (127.0.0.0/8, ::1, ::ffff:127.0.0.0/104).
    pub drop_loopback_connects: u32,
    /// Non-zero: drop unix-socket connects.
    pub drop_unix_connects: u32,
    pub _pad: u32,
    /// Bit `event::sys::*` set = do NOT emit that syscall (file and sys records).
    pub sys_off: u64,
}

impl FilterConfig {
    /// Emit everything (no pre-filter).
    pub const PASS_ALL: FilterConfig = FilterConfig {
        kinds_off: 0,
        drop_failed_opens: 0,
        open_prefix_filter: 0,
        open_writes_always: 0,
        drop_failed_connects: 0,
        drop_loopback_connects: 0,
        drop_unix_connects: 0,
        _pad: 0,
        sys_off: 0,
    };
}

/// Is this connect destination loopback? `addr` holds 4 (IPv4) or 16 (IPv6)
/// address bytes. IPv4-mapped `::ffff:127.0.0.0/104` counts as loopback.
#[inline(always)]
pub fn is_loopback(family: u16, addr: &[u8; 16]) -> bool {
    if family == crate::AF_INET {
        return addr[0] == 127;
    }
    let zero10 = addr[..10].iter().all(|b| *b == 0);
    (zero10 && addr[10] == 0 && addr[11] == 0 && addr[12..15].iter().all(|b| *b == 0) && addr[15] == 1)
        || (zero10 && addr[10] == 0xff && addr[11] == 0xff && addr[12] == 127)
}

/// Bytes of a path compared against `OPEN_PREFIXES` (longer prefixes are cut).
pub const PREFIX_KEY_LEN: usize = 64;

const _: () = assert!(core::mem::size_of::<FilterConfig>() == 40);

#[cfg(feature = "user")]
// SAFETY: repr(C), Copy, only integer fields, no implicit padding.
unsafe impl aya::Pod for FilterConfig {}
