//! `syscalls/sys_exit_*` of ptrace, socket, the module syscalls, memfd_create,
//! unshare and setns: add the
//! result to the stashed record and emit it.
use aya_ebpf::{helpers::bpf_get_current_pid_tgid, macros::tracepoint, programs::TracePointContext};
use lanner_common::{
    counters::{Counter, ProbeId},
    sys,
};

use super::SYS_RET;
use crate::{
    common::{count, filter, is_self, submit},
    maps::SYS_STASH,
};

const P: ProbeId = ProbeId::SysExit;

#[tracepoint(category = "syscalls", name = "sys_exit_ptrace")]
pub fn ptrace_exit(ctx: TracePointContext) -> u32 {
    let _ = try_sys_exit(&ctx, sys::PTRACE);
    0
}

#[tracepoint(category = "syscalls", name = "sys_exit_socket")]
pub fn socket_exit(ctx: TracePointContext) -> u32 {
    let _ = try_sys_exit(&ctx, sys::SOCKET);
    0
}

#[tracepoint(category = "syscalls", name = "sys_exit_init_module")]
pub fn init_module_exit(ctx: TracePointContext) -> u32 {
    let _ = try_sys_exit(&ctx, sys::INIT_MODULE);
    0
}

#[tracepoint(category = "syscalls", name = "sys_exit_finit_module")]
pub fn finit_module_exit(ctx: TracePointContext) -> u32 {
    let _ = try_sys_exit(&ctx, sys::FINIT_MODULE);
    0
}

#[tracepoint(category = "syscalls", name = "sys_exit_delete_module")]
pub fn delete_module_exit(ctx: TracePointContext) -> u32 {
    let _ = try_sys_exit(&ctx, sys::DELETE_MODULE);
    0
}

#[tracepoint(category = "syscalls", name = "sys_exit_memfd_create")]
pub fn memfd_create_exit(ctx: TracePointContext) -> u32 {
    let _ = try_sys_exit(&ctx, sys::MEMFD_CREATE);
    0
}

#[tracepoint(category = "syscalls", name = "sys_exit_unshare")]
pub fn unshare_exit(ctx: TracePointContext) -> u32 {
    let _ = try_sys_exit(&ctx, sys::UNSHARE);
    0
}

#[tracepoint(category = "syscalls", name = "sys_exit_setns")]
pub fn setns_exit(ctx: TracePointContext) -> u32 {
    let _ = try_sys_exit(&ctx, sys::SETNS);
    0
}

#[inline(always)]
fn try_sys_exit(ctx: &TracePointContext, subtype: u16) -> Result<(), i64> {
    if is_self(P) || filter().sys_off & (1u64 << (subtype as u64 & 63)) != 0 {
        return Ok(());
    }
    let ret: i64 = unsafe { ctx.read_at(SYS_RET)? };
    let tid = bpf_get_current_pid_tgid() as u32;
    let Some(ev) = SYS_STASH.get_ptr_mut(&tid) else {
        count(P, Counter::StashMiss);
        return Ok(());
    };
    let ev = unsafe { &mut *ev };
    ev.ret = ret;
    submit(P, &*ev);
    let _ = SYS_STASH.remove(&tid);
    Ok(())
}
