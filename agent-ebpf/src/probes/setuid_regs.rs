//! `syscalls/sys_exit_setuid`, `sys_exit_setreuid`, `sys_exit_setresuid` as
//! ONE exit program each (three thin entries): the requested ids from the
//! saved user registers (`crate::regs`: di, si, dx), the result from the
//! tracepoint, the header at exit, flagged `FLAG_CREDS_AFTER`. After a
//! successful call the task's credentials are already the new ones, which no
//! register holds the old values of; userspace reports the caller's
//! credentials before the change from its process table, as Falco's engine
//! does from its thread table (a failed call changed nothing, so there the
//! header is both). No enter program: with none left on the host, no syscall
//! pays for the sys_enter tracepoint (docs/probes.md).
//!
//! `lanner::probes::TABLE` prefers these over `setuid_enter` + `setuid_exit`
//! (the fallback where `bpf_task_pt_regs` is missing or off x86_64).
use aya_ebpf::{macros::tracepoint, programs::TracePointContext};
use lanner_common::{
    counters::ProbeId, EventHeader, EventKind, SetuidEvent, FLAG_CREDS_AFTER, SETUID_SETRESUID, SETUID_SETREUID,
    SETUID_SETUID, UID_UNCHANGED,
};

use super::sys_ret;
use crate::{
    common::{fill_header, filter, is_self_task, kind_enabled, submit},
    regs::{current_task_btf, syscall_args},
};

/// Counted with the pair's exit program: the two never run together.
const P: ProbeId = ProbeId::SetuidExit;

#[tracepoint(category = "syscalls", name = "sys_exit_setuid")]
pub fn setuid_regs(ctx: TracePointContext) -> u32 {
    let _ = try_setuid_regs(&ctx, SETUID_SETUID, 1);
    0
}

#[tracepoint(category = "syscalls", name = "sys_exit_setreuid")]
pub fn setreuid_regs(ctx: TracePointContext) -> u32 {
    let _ = try_setuid_regs(&ctx, SETUID_SETREUID, 2);
    0
}

#[tracepoint(category = "syscalls", name = "sys_exit_setresuid")]
pub fn setresuid_regs(ctx: TracePointContext) -> u32 {
    let _ = try_setuid_regs(&ctx, SETUID_SETRESUID, 3);
    0
}

#[inline(always)]
fn try_setuid_regs(ctx: &TracePointContext, subtype: u16, nargs: usize) -> Result<(), i64> {
    let task = current_task_btf();
    if is_self_task(P, task) || !kind_enabled(P, filter(), EventKind::Setuid) {
        return Ok(());
    }
    let ret: i64 = sys_ret(ctx);
    let [a0, a1, a2, ..] = syscall_args(task)?;
    let id = |n: usize, v: u64| if nargs > n { v as u32 } else { UID_UNCHANGED };
    let mut ev = SetuidEvent {
        hdr: EventHeader::ZERO,
        ret: ret as i32,
        ruid: a0 as u32,
        euid: id(1, a1),
        suid: id(2, a2),
        _pad1: [0; 2],
    };
    fill_header(&mut ev.hdr, EventKind::Setuid as u16);
    ev.hdr.subtype = subtype;
    ev.hdr.flags = FLAG_CREDS_AFTER;
    submit(P, &ev);
    Ok(())
}
