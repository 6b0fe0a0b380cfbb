//! `syscalls/sys_exit_setuid` / `setreuid` / `setresuid`: add the result to the
//! stashed request and emit.
use aya_ebpf::{helpers::bpf_get_current_pid_tgid, macros::tracepoint, programs::TracePointContext};
use lanner_common::counters::{Counter, ProbeId};

use super::sys_ret;
use crate::{
    common::{count, is_self, submit},
    maps::SETUID_STASH,
};

const P: ProbeId = ProbeId::SetuidExit;

#[tracepoint(category = "syscalls", name = "sys_exit_setuid")]
pub fn setuid_exit(ctx: TracePointContext) -> u32 {
    let _ = try_setuid_exit(&ctx);
    0
}

#[tracepoint(category = "syscalls", name = "sys_exit_setreuid")]
pub fn setreuid_exit(ctx: TracePointContext) -> u32 {
    let _ = try_setuid_exit(&ctx);
    0
}

#[tracepoint(category = "syscalls", name = "sys_exit_setresuid")]
pub fn setresuid_exit(ctx: TracePointContext) -> u32 {
    let _ = try_setuid_exit(&ctx);
    0
}

#[inline(always)]
fn try_setuid_exit(ctx: &TracePointContext) -> Result<(), i64> {
    if is_self(P) {
        return Ok(());
    }
    let ret: i64 = sys_ret(ctx);
    let tid = bpf_get_current_pid_tgid() as u32;
    let Some(ev) = SETUID_STASH.get_ptr_mut(&tid) else {
        count(P, Counter::StashMiss);
        return Ok(());
    };
    let ev = unsafe { &mut *ev };
    ev.ret = ret as i32;
    submit(P, &*ev);
    let _ = SETUID_STASH.remove(&tid);
    Ok(())
}
