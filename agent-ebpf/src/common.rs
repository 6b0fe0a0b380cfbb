//! Helpers every probe uses: configuration access, the own-pid filter, header
//! filling, counters, batched ring-buffer submission and task_struct reads at
//! offsets the agent found in the kernel's BTF.
use aya_ebpf::{
    bindings::{BPF_RB_FORCE_WAKEUP, BPF_RB_NO_WAKEUP},
    helpers::{
        bpf_get_current_comm, bpf_get_current_pid_tgid, bpf_get_current_uid_gid, bpf_probe_read_kernel,
        generated::{bpf_get_current_cgroup_id, bpf_get_current_task, bpf_get_current_task_btf, bpf_ktime_get_boot_ns},
    },
};
use lanner_common::{
    config::OFFSET_NONE,
    counters::{counter_index, Counter, ProbeId},
    EventHeader, ProbeConfig,
};

use crate::maps::{COUNTERS, EVENTS, FILTER, READER_IDLE};

/// Written by the agent before load (`EbpfLoader::set_global`).
#[unsafe(no_mangle)]
pub static LANNER_CONFIG: ProbeConfig = ProbeConfig::DEFAULT;

/// Read one field of [`LANNER_CONFIG`]; volatile so the compiler cannot
/// constant-fold the default the object was built with.
macro_rules! conf {
    ($($f:ident).+) => {
        unsafe { core::ptr::read_volatile(&raw const $crate::common::LANNER_CONFIG.$($f).+) }
    };
}
pub(crate) use conf;

#[inline(always)]
pub fn count(probe: ProbeId, counter: Counter) {
    if let Some(slot) = COUNTERS.get_ptr_mut(counter_index(probe, counter)) {
        // Per-CPU slot: no other CPU writes it, no atomics needed.
        unsafe { *slot += 1 };
    }
}

/// True when the current task belongs to the agent itself.
#[inline(always)]
pub fn is_self(probe: ProbeId) -> bool {
    is_own(probe, (bpf_get_current_pid_tgid() >> 32) as u32)
}

/// True (and counted) when `tgid` is the agent's.
#[inline(always)]
fn is_own(probe: ProbeId, tgid: u32) -> bool {
    let own: u32 = conf!(agent_tgid);
    if own != 0 && tgid == own {
        count(probe, Counter::Own);
        return true;
    }
    false
}

/// [`is_self`] for a program that already holds the current task as a
/// BTF-typed pointer (`regs::current_task_btf`, the exit-only programs): with
/// [`direct`] the tgid is one plain load instead of a helper call.
#[inline(always)]
pub fn is_self_task(probe: ProbeId, task: *const u8) -> bool {
    let tgid = match if direct() { ld::<u32>(task, conf!(offsets.task_tgid)) } else { None } {
        Some(tgid) => tgid,
        None => (bpf_get_current_pid_tgid() >> 32) as u32,
    };
    is_own(probe, tgid)
}

/// The record header: kind, time, ids, credentials, cgroup ids and comm of the
/// current task. With [`direct`] the task's fields are plain loads
/// ([`task_header`]); `bpf_ktime_get_boot_ns` stays a helper call.
#[inline(always)]
pub fn fill_header(hdr: &mut EventHeader, kind: u16) {
    hdr.kind = kind;
    hdr.flags = 0;
    hdr.subtype = 0;
    hdr._pad0 = 0;
    hdr.ts_boot_ns = unsafe { bpf_ktime_get_boot_ns() };
    if direct() {
        task_header(hdr);
    } else {
        let pid_tgid = bpf_get_current_pid_tgid();
        let uid_gid = bpf_get_current_uid_gid();
        hdr.tid = pid_tgid as u32;
        hdr.tgid = (pid_tgid >> 32) as u32;
        hdr.uid = uid_gid as u32;
        hdr.gid = (uid_gid >> 32) as u32;
        hdr.cgroup_id = unsafe { bpf_get_current_cgroup_id() };
        hdr.comm = bpf_get_current_comm().unwrap_or([0u8; 16]);
    }
    hdr.cgroup_v1_id = cgroup_v1_id();
}

/// What the helpers `bpf_get_current_{pid_tgid,uid_gid,cgroup_id,comm}` read,
/// as plain loads from the current task (`pid`, `tgid`, `cred->uid`,
/// `cred->gid`, `cgroups->dfl_cgrp->kn->id`, `comm`): ~10 loads instead of
/// four helper calls. A field whose offset the kernel's BTF lacked falls back
/// to its helper (the branch is folded at load).
#[inline(always)]
fn task_header(hdr: &mut EventHeader) {
    let task = task_ptr();
    match (ld::<u32>(task, conf!(offsets.task_pid)), ld::<u32>(task, conf!(offsets.task_tgid))) {
        (Some(tid), Some(tgid)) => (hdr.tid, hdr.tgid) = (tid, tgid),
        _ => {
            let pid_tgid = bpf_get_current_pid_tgid();
            (hdr.tid, hdr.tgid) = (pid_tgid as u32, (pid_tgid >> 32) as u32);
        }
    }
    let cred: Option<*const u8> = ld(task, conf!(exe.task_cred));
    let ids = cred.and_then(|c| Some((ld::<u32>(c, conf!(offsets.cred_uid))?, ld::<u32>(c, conf!(offsets.cred_gid))?)));
    match ids {
        Some((uid, gid)) => (hdr.uid, hdr.gid) = (uid, gid),
        None => {
            let uid_gid = bpf_get_current_uid_gid();
            (hdr.uid, hdr.gid) = (uid_gid as u32, (uid_gid >> 32) as u32);
        }
    }
    let css_set: Option<*const u8> = ld(task, conf!(cgroup.task_cgroups));
    let cgrp: Option<*const u8> = css_set.and_then(|c| ld(c, conf!(cgroup.css_set_dfl_cgrp)));
    let kn: Option<*const u8> = cgrp.and_then(|c| ld(c, conf!(cgroup.cgroup_kn)));
    hdr.cgroup_id = match kn.and_then(|k| ld::<u64>(k, conf!(cgroup.kn_id))) {
        Some(id) => id,
        None => unsafe { bpf_get_current_cgroup_id() },
    };
    hdr.comm = match ld::<[u8; 16]>(task, conf!(offsets.task_comm)) {
        Some(comm) => comm,
        None => bpf_get_current_comm().unwrap_or([0u8; 16]),
    };
}

/// The current task's cgroup id in the agent's chosen v1 hierarchy
/// (`task->cgroups->subsys[i]->cgroup->kn->id`); 0 when none was chosen
/// (pure v2 hosts: one branch, no reads) or a read fails. Five plain loads
/// with [`direct`] (~30 instead of ~170 ns per event on the development VM).
#[inline(always)]
fn cgroup_v1_id() -> u64 {
    let subsys = conf!(cgroup.v1_subsys);
    // The bound keeps the verifier's view of the index small (CGROUP_SUBSYS_COUNT < 32).
    if subsys >= 32 {
        return 0;
    }
    let array = conf!(cgroup.css_set_subsys);
    if array == OFFSET_NONE {
        return 0;
    }
    let css_set: Option<*const u8> = ld(task_ptr(), conf!(cgroup.task_cgroups));
    let css: Option<*const u8> = css_set.and_then(|c| ld(c, array + subsys * 8));
    let cgroup: Option<*const u8> = css.and_then(|c| ld(c, conf!(cgroup.css_cgroup)));
    let kn: Option<*const u8> = cgroup.and_then(|c| ld(c, conf!(cgroup.cgroup_kn)));
    kn.and_then(|k| ld::<u64>(k, conf!(cgroup.kn_id))).unwrap_or(0)
}

/// Flags for `bpf_ringbuf_output`. Past the fill threshold: wake the reader.
/// If the reader has declared itself idle (`READER_IDLE` = 1, set by the
/// reader after a few empty polls), clear the flag and wake it: one wake-up
/// per idle→busy transition. Otherwise the reader is polling and sees the
/// record within its poll period, so no wake-up (an IPI, a VM exit on a
/// virtual machine) is paid here.
#[inline(always)]
pub fn wakeup_flags() -> u64 {
    let threshold = conf!(wakeup_bytes) as u64;
    if threshold == 0 {
        return 0;
    }
    // BPF_RB_AVAIL_DATA = 0
    if EVENTS.query(0) >= threshold {
        return BPF_RB_FORCE_WAKEUP as u64;
    }
    match READER_IDLE.get_ptr_mut(0) {
        // SAFETY: one u32 in an array map; racing CPUs at worst both wake.
        Some(idle) if unsafe { *idle } != 0 => {
            unsafe { *idle = 0 };
            BPF_RB_FORCE_WAKEUP as u64
        }
        Some(_) => BPF_RB_NO_WAKEUP as u64,
        None => BPF_RB_FORCE_WAKEUP as u64,
    }
}

/// Copy `ev` into the ring buffer, counting success or the drop.
#[inline(always)]
pub fn submit<T>(probe: ProbeId, ev: &T) {
    match EVENTS.output::<T>(ev, wakeup_flags()) {
        Ok(()) => count(probe, Counter::Emitted),
        Err(_) => count(probe, Counter::RingbufDrop),
    }
}

/// Copy the first `len` bytes of `ev` into the ring buffer (records whose
/// trailing buffer is only partly used); `len` is clamped to `size_of::<T>()`.
#[inline(always)]
pub fn submit_prefix<T>(probe: ProbeId, ev: &T, len: usize) {
    let len = if len > core::mem::size_of::<T>() { core::mem::size_of::<T>() } else { len };
    // SAFETY: `len` <= size_of::<T>(); the bytes belong to `ev`.
    let bytes = unsafe { core::slice::from_raw_parts(ev as *const T as *const u8, len) };
    match EVENTS.output::<[u8]>(bytes, wakeup_flags()) {
        Ok(()) => count(probe, Counter::Emitted),
        Err(_) => count(probe, Counter::RingbufDrop),
    }
}

#[inline(always)]
pub fn current_task() -> *const u8 {
    unsafe { bpf_get_current_task() as *const u8 }
}

/// Whether kernel memory is read with plain BTF loads ([`ld`]): the agent's
/// `ProbeConfig::direct`, set from 6.1. On older kernels every branch taken on
/// it is dead code the verifier never visits.
#[inline(always)]
pub fn direct() -> bool {
    conf!(direct) != 0
}

/// The current task as a base for [`ld`]: BTF-typed (`bpf_get_current_task_btf`)
/// with [`direct`], a plain address otherwise. Also a valid base for [`read_at`].
#[inline(always)]
pub fn task_ptr() -> *const u8 {
    if direct() {
        unsafe { bpf_get_current_task_btf() as *const u8 }
    } else {
        current_task()
    }
}

/// `T` at `base + off`; `None` when the offset is unknown, the base is null or
/// a helper read fails. With [`direct`] it is one plain load, which the
/// verifier types against the kernel's BTF and the JIT guards like a probe
/// read (a fault reads 0), so `base` must then be [`task_ptr`] or a pointer
/// [`ld`] returned; each offset must be a `.rodata` constant that lands on a
/// member (a pointer read whole, or bytes within one scalar member). Reads the
/// verifier cannot type (variable indexes, `container_of`) use [`read_at`].
#[inline(always)]
pub fn ld<T: Copy>(base: *const u8, off: u32) -> Option<T> {
    if off == OFFSET_NONE || base.is_null() {
        return None;
    }
    if direct() {
        // SAFETY: see above; a load the verifier cannot type fails the program's load.
        Some(unsafe { core::ptr::read_volatile(base.add(off as usize) as *const T) })
    } else {
        unsafe { bpf_probe_read_kernel(base.add(off as usize) as *const T).ok() }
    }
}

/// Read a `T` at `base + off` with a helper call; `None` when the offset is
/// unknown or the read fails. Any base, typed or not (see [`ld`]).
#[inline(always)]
pub fn read_at<T>(base: *const u8, off: u32) -> Option<T> {
    if off == OFFSET_NONE || base.is_null() {
        return None;
    }
    unsafe { bpf_probe_read_kernel(base.add(off as usize) as *const T).ok() }
}

/// Parent process id (`task->real_parent->tgid`).
#[inline(always)]
pub fn task_ppid(task: *const u8) -> u32 {
    let parent: Option<*const u8> = ld(task, conf!(offsets.task_real_parent));
    match parent {
        Some(p) => ld::<u32>(p, conf!(offsets.task_tgid)).unwrap_or(0),
        None => 0,
    }
}

/// Audit login uid (`task->loginuid.val`), `u32::MAX` when unknown.
#[inline(always)]
pub fn task_loginuid(task: *const u8) -> u32 {
    ld::<u32>(task, conf!(offsets.task_loginuid)).unwrap_or(u32::MAX)
}

/// Controlling tty as `/proc/PID/stat`'s tty_nr (`0` when none).
#[inline(always)]
pub fn task_tty(task: *const u8) -> u32 {
    let signal: *const u8 = match ld(task, conf!(offsets.task_signal)) {
        Some(s) => s,
        None => return 0,
    };
    let tty: *const u8 = match ld(signal, conf!(offsets.signal_tty)) {
        Some(t) => t,
        None => return 0,
    };
    if tty.is_null() {
        return 0;
    }
    let index: i32 = ld(tty, conf!(offsets.tty_index)).unwrap_or(0);
    let driver: *const u8 = match ld(tty, conf!(offsets.tty_driver)) {
        Some(d) => d,
        None => return 0,
    };
    let major: i32 = ld(driver, conf!(offsets.driver_major)).unwrap_or(0);
    let minor_start: i32 = ld(driver, conf!(offsets.driver_minor_start)).unwrap_or(0);
    let minor = (minor_start + index) as u32;
    // new_encode_dev(MKDEV(major, minor))
    (minor & 0xff) | ((major as u32) << 8) | ((minor & !0xff) << 12)
}

/// The runtime pre-filter; everything passes until the agent writes it.
/// Read once per program run and passed on (one map lookup, no copy).
#[inline(always)]
pub fn filter() -> &'static lanner_common::FilterConfig {
    match FILTER.get(0) {
        Some(f) => f,
        None => &lanner_common::FilterConfig::PASS_ALL,
    }
}

/// Is this syscall (`lanner_common::sys::*`) wanted by the loaded rules? Counts the
/// filtered event.
#[inline(always)]
pub fn sys_enabled(probe: ProbeId, f: &lanner_common::FilterConfig, id: u16) -> bool {
    if f.sys_off & (1u64 << (id as u64 & 63)) != 0 {
        count(probe, Counter::Filtered);
        return false;
    }
    true
}

/// Copy a user string into `buf`; returns its length without the NUL and sets
/// `FLAG_PATH_TRUNCATED` / `FLAG_READ_FAILED` in `flags`. A null pointer is empty.
#[inline(always)]
pub fn read_user_str<const N: usize>(probe: ProbeId, src: *const u8, buf: &mut [u8; N], flags: &mut u16) -> u16 {
    use aya_ebpf::helpers::bpf_probe_read_user_str_bytes;
    use lanner_common::{FLAG_PATH_TRUNCATED, FLAG_READ_FAILED};
    buf[0] = 0;
    if src.is_null() {
        return 0;
    }
    match unsafe { bpf_probe_read_user_str_bytes(src, buf) } {
        Ok(s) => {
            if s.len() >= N - 1 {
                *flags |= FLAG_PATH_TRUNCATED;
            }
            s.len() as u16
        }
        Err(_) => {
            *flags |= FLAG_READ_FAILED;
            count(probe, Counter::StrReadFail);
            0
        }
    }
}

/// Is this event kind wanted by the loaded rules? Counts the filtered event.
#[inline(always)]
pub fn kind_enabled(probe: ProbeId, f: &lanner_common::FilterConfig, kind: lanner_common::EventKind) -> bool {
    if f.kinds_off & (1u32 << (kind as u32)) != 0 {
        count(probe, Counter::Filtered);
        return false;
    }
    true
}
