//! `syscalls/sys_enter_dup`, `dup2`, `dup3`: stash the old fd, the new fd and the
//! flags; `sys_exit` adds what the new fd refers to (file, pipe, socket endpoints).
use aya_ebpf::{macros::tracepoint, programs::TracePointContext};
use lanner_common::sys;

use super::{arg, stash::stash_sys};

#[tracepoint(category = "syscalls", name = "sys_enter_dup")]
pub fn dup_enter(ctx: TracePointContext) -> u32 {
    let _ = try_dup(&ctx);
    0
}

#[inline(always)]
fn try_dup(ctx: &TracePointContext) -> Result<(), i64> {
    stash_sys(sys::DUP, [arg(ctx, 0), 0, 0, 0])
}

#[tracepoint(category = "syscalls", name = "sys_enter_dup2")]
pub fn dup2_enter(ctx: TracePointContext) -> u32 {
    let _ = try_dup2(&ctx);
    0
}

#[inline(always)]
fn try_dup2(ctx: &TracePointContext) -> Result<(), i64> {
    stash_sys(sys::DUP2, [arg(ctx, 0), arg(ctx, 1), 0, 0])
}

#[tracepoint(category = "syscalls", name = "sys_enter_dup3")]
pub fn dup3_enter(ctx: TracePointContext) -> u32 {
    let _ = try_dup3(&ctx);
    0
}

#[inline(always)]
fn try_dup3(ctx: &TracePointContext) -> Result<(), i64> {
    stash_sys(sys::DUP3, [arg(ctx, 0), arg(ctx, 1), arg(ctx, 2), 0])
}
