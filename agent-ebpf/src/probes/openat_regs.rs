//! `syscalls/sys_exit_openat` and `sys_exit_openat2` as ONE program per open:
//! the result from the tracepoint record, the arguments (dirfd, path, flags,
//! mode; openat2's `struct open_how`) from the task's saved user registers
//! (`crate::regs`). No enter program, no `OPEN_STASH` insert/lookup/delete.
//!
//! The pre-filter still decides at the first look, here: a failed open is
//! dropped before any user memory is read, a path no rule needs right after
//! the path is copied (the same `fill_open` the pair and `openat_fexit` use),
//! so a dropped open costs no header, no record and no stash.
//!
//! The record is the one the enter+exit pair emits (`OpenEvent`, subtype
//! openat or openat2), with two differences in what it can show:
//! - the header (time, ids, comm) is taken at exit, not at entry;
//! - the path is read from user memory after the kernel used it: a thread that
//!   rewrites the buffer while the open runs makes the event show the new
//!   bytes (the pair has the mirror race, between its read and the kernel's
//!   copy, but a shorter window). The flags, mode and dirfd are registers and
//!   cannot change.
//!
//! `lanner::probes::TABLE` prefers these over the `openat_enter`/`openat_exit`
//! pair (their fallback where `bpf_task_pt_regs` is missing, before 5.15, or
//! off x86_64) and `openat_fexit` over both.
use aya_ebpf::{helpers::bpf_probe_read_user, macros::tracepoint, programs::TracePointContext};
use lanner_common::{
    counters::{Counter, ProbeId},
    EventKind,
};

use super::{openat_enter::fill_open, sys_ret};
use crate::{
    common::{count, filter, is_self_task, kind_enabled, submit_prefix},
    regs::{current_task_btf, syscall_args},
};

const P: ProbeId = ProbeId::OpenatExit;

#[tracepoint(category = "syscalls", name = "sys_exit_openat")]
pub fn openat_regs(ctx: TracePointContext) -> u32 {
    let _ = try_open_regs(&ctx, 1);
    0
}

#[tracepoint(category = "syscalls", name = "sys_exit_openat2")]
pub fn openat2_regs(ctx: TracePointContext) -> u32 {
    let _ = try_open_regs(&ctx, 2);
    0
}

/// `struct open_how { u64 flags; u64 mode; u64 resolve; }` (user memory).
#[repr(C)]
struct OpenHow {
    flags: u64,
    mode: u64,
}

#[inline(always)]
fn try_open_regs(ctx: &TracePointContext, subtype: u16) -> Result<(), i64> {
    let f = filter();
    let task = current_task_btf();
    if is_self_task(P, task) || !kind_enabled(P, f, EventKind::Open) {
        return Ok(());
    }
    let ret: i64 = sys_ret(ctx);
    if ret < 0 && f.drop_failed_opens != 0 {
        count(P, Counter::Filtered);
        return Ok(());
    }
    let [dirfd, path, a2, a3, _] = syscall_args(task)?;
    let (flags, mode) = if subtype == 2 {
        let how = unsafe { bpf_probe_read_user(a2 as *const OpenHow)? };
        (how.flags, how.mode)
    } else {
        (a2, a3)
    };
    // The file's facts first, into the scratch record (see `crate::openfacts`).
    crate::openfacts::scratch_with_facts(ret, f.open_file_facts != 0)?;
    let Some(ev) = fill_open(P, f, subtype, dirfd as i32, path as *const u8, flags as u32, mode as u32)? else {
        return Ok(());
    };
    crate::openfacts::clear_unwanted_facts(ev, f.open_file_facts);
    ev.ret = ret as i32;
    // Only the used part of the path travels, as from the pair's exit.
    submit_prefix(P, &*ev, lanner_common::open_record_len(ev.path_len as usize));
    Ok(())
}
