//! `syscalls/sys_enter_unshare`, `setns`, `memfd_create`: stash the namespace flags
//! (setns: the fd and nstype), or memfd_create's name and flags; `sys_exit` emits.
use aya_ebpf::{macros::tracepoint, programs::TracePointContext};
use lanner_common::sys;

use super::{arg, stash::stash_sys};

#[tracepoint(category = "syscalls", name = "sys_enter_unshare")]
pub fn unshare_enter(ctx: TracePointContext) -> u32 {
    let _ = try_unshare(&ctx);
    0
}

#[inline(always)]
fn try_unshare(ctx: &TracePointContext) -> Result<(), i64> {
    stash_sys(sys::UNSHARE, [arg(ctx, 0), 0, 0, 0])
}

#[tracepoint(category = "syscalls", name = "sys_enter_setns")]
pub fn setns_enter(ctx: TracePointContext) -> u32 {
    let _ = try_setns(&ctx);
    0
}

#[inline(always)]
fn try_setns(ctx: &TracePointContext) -> Result<(), i64> {
    stash_sys(sys::SETNS, [arg(ctx, 0), arg(ctx, 1), 0, 0])
}

#[tracepoint(category = "syscalls", name = "sys_enter_memfd_create")]
pub fn memfd_create_enter(ctx: TracePointContext) -> u32 {
    let _ = try_memfd_create(&ctx);
    0
}

#[inline(always)]
fn try_memfd_create(ctx: &TracePointContext) -> Result<(), i64> {
    stash_sys(sys::MEMFD_CREATE, [arg(ctx, 0), arg(ctx, 1), 0, 0])
}
