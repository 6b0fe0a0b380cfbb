//! `syscalls/sys_enter_execve`: stash the `filename` and `argv` user pointers
//! and the syscall (`EXEC_EXECVE`) in `EXEC_STASH[tid]` (`execveat_enter` does
//! the same for execveat). A successful exec is emitted by
//! `sched_exec`, which reads argv from the new image; a failed one by
//! `execve_exit`, which reads both through the stashed pointers
//! (`read_user_exec`, here because it mirrors the syscall's arguments).
use aya_ebpf::{
    helpers::{bpf_get_current_pid_tgid, bpf_probe_read_user, bpf_probe_read_user_str_bytes},
    macros::tracepoint,
    programs::TracePointContext,
};
use lanner_common::{
    counters::{Counter, ProbeId},
    ExecEvent, ARGS_LEN, ARG_MAX_ONE, EXEC_EXECVE, FLAG_ARGS_TRUNCATED, FLAG_READ_FAILED, FLAG_USER_FILENAME, MAX_ARGS,
};

use super::arg;
use crate::{
    common::{count, is_self},
    maps::{EXEC_STASH, EXEC_STASHED},
};

const P: ProbeId = ProbeId::ExecveEnter;

#[tracepoint(category = "syscalls", name = "sys_enter_execve")]
pub fn execve_enter(ctx: TracePointContext) -> u32 {
    let _ = try_execve_enter(&ctx);
    0
}

fn try_execve_enter(ctx: &TracePointContext) -> Result<(), i64> {
    if is_self(P) {
        return Ok(());
    }
    let filename: u64 = arg(ctx, 0);
    let argv: u64 = arg(ctx, 1);
    stash_exec(P, filename, argv, EXEC_EXECVE);
    Ok(())
}

/// Stash one exec's pointers and syscall for its exit / `sched_exec`.
#[inline(always)]
pub fn stash_exec(probe: ProbeId, filename: u64, argv: u64, syscall: u16) {
    let tid = bpf_get_current_pid_tgid() as u32;
    if EXEC_STASH.insert(&tid, &[filename, argv, u64::from(syscall)], 0).is_err() {
        count(probe, Counter::StashFull);
        return;
    }
    stashed_add(1);
}

/// Take `key`'s [`EXEC_STASH`] entry out: its value, and the entry removed
/// (lowering [`EXEC_STASHED`] when the remove found it). `None` without a
/// lookup while the stash is known to be empty.
#[inline(always)]
pub fn unstash_exec(key: u32) -> Option<[u64; 3]> {
    if !stash_may_hold() {
        return None;
    }
    // SAFETY: the value is copied out before the entry is removed.
    let v = unsafe { EXEC_STASH.get(&key) }.copied()?;
    if EXEC_STASH.remove(&key).is_ok() {
        stashed_add(u64::MAX);
    }
    Some(v)
}

/// Whether [`EXEC_STASH`] may hold an entry: an inlined array read. The
/// exec'ing task's own insert happened before on this or, across a
/// migration (which orders memory), another CPU.
#[inline(always)]
fn stash_may_hold() -> bool {
    match EXEC_STASHED.get_ptr(0) {
        // SAFETY: one u64 in an array map; a racing add at worst makes this a lookup.
        Some(n) => (unsafe { core::ptr::read_volatile(n) }) != 0,
        None => true,
    }
}

/// Add `d` (1, or `u64::MAX` for -1) to [`EXEC_STASHED`]: one atomic add whose
/// result is unused, so it is the `BPF_XADD` every kernel takes (the bpf target
/// has no `AtomicU64::fetch_add`, hence the intrinsic).
#[inline(always)]
fn stashed_add(d: u64) {
    use core::intrinsics::{atomic_xadd, AtomicOrdering};
    if let Some(n) = EXEC_STASHED.get_ptr_mut(0) {
        // SAFETY: an aligned u64 in map memory, only ever accessed atomically or volatile.
        let _ = unsafe { atomic_xadd::<u64, u64, { AtomicOrdering::Relaxed }>(n, d) };
    }
}

/// Fill `ev` (header already set) with filename and argv read from the
/// caller's memory: used for a failed exec, whose old image is still mapped.
#[inline(always)]
pub fn read_user_exec(probe: ProbeId, ev: &mut ExecEvent, filename: *const u8, argv: *const *const u8) {
    ev.hdr.flags = FLAG_USER_FILENAME;
    let mut off: usize = 0;
    let mut n: u16 = 0;
    let mut i: usize = 0;
    while i < MAX_ARGS {
        let p: *const u8 = match unsafe { bpf_probe_read_user(argv.add(i)) } {
            Ok(p) => p,
            Err(_) => {
                ev.hdr.flags |= FLAG_READ_FAILED;
                count(probe, Counter::StrReadFail);
                break;
            }
        };
        if p.is_null() {
            break;
        }
        if off >= ARGS_LEN {
            ev.hdr.flags |= FLAG_ARGS_TRUNCATED;
            break;
        }
        let at = off & (ARGS_LEN - 1);
        let dst = &mut ev.tail[at..at + ARG_MAX_ONE];
        match unsafe { bpf_probe_read_user_str_bytes(p, dst) } {
            Ok(s) => {
                let len = s.len();
                if len >= ARG_MAX_ONE - 1 {
                    ev.hdr.flags |= FLAG_ARGS_TRUNCATED;
                }
                off = at + len + 1;
                n += 1;
            }
            Err(_) => {
                ev.hdr.flags |= FLAG_READ_FAILED;
                count(probe, Counter::StrReadFail);
                break;
            }
        }
        i += 1;
    }
    if i == MAX_ARGS {
        // More elements than we read?
        if let Ok(p) = unsafe { bpf_probe_read_user::<*const u8>(argv.add(MAX_ARGS)) } {
            if !p.is_null() {
                ev.hdr.flags |= FLAG_ARGS_TRUNCATED;
            }
        }
    }
    ev.args_len = off as u16;
    (ev.args_count, ev.env_count) = (n, 0);
    // The filename's section follows argv (a failed exec has no environment).
    match crate::exe::read_filename(ev, filename, true) {
        Ok(f) => ev.hdr.flags |= f,
        Err(()) => {
            ev.hdr.flags |= FLAG_READ_FAILED;
            count(probe, Counter::StrReadFail);
        }
    }
}
