//! `syscalls/sys_enter_setgid`, `setresgid`, `capset` and `prctl`: stash the requested
//! gids, prctl's option and second argument (PR_SET_NAME's name as the string);
//! `sys_exit` emits, for capset with the capability sets in force after the call.
use aya_ebpf::{macros::tracepoint, programs::TracePointContext};
use lanner_common::sys;

use super::{arg, stash::stash_sys};

#[tracepoint(category = "syscalls", name = "sys_enter_setgid")]
pub fn setgid_enter(ctx: TracePointContext) -> u32 {
    let _ = try_setgid(&ctx);
    0
}

#[inline(always)]
fn try_setgid(ctx: &TracePointContext) -> Result<(), i64> {
    stash_sys(sys::SETGID, [arg(ctx, 0), 0, 0, 0])
}

#[tracepoint(category = "syscalls", name = "sys_enter_setresgid")]
pub fn setresgid_enter(ctx: TracePointContext) -> u32 {
    let _ = try_setresgid(&ctx);
    0
}

#[inline(always)]
fn try_setresgid(ctx: &TracePointContext) -> Result<(), i64> {
    stash_sys(sys::SETRESGID, [arg(ctx, 0), arg(ctx, 1), arg(ctx, 2), 0])
}

#[tracepoint(category = "syscalls", name = "sys_enter_capset")]
pub fn capset_enter(ctx: TracePointContext) -> u32 {
    let _ = try_capset(&ctx);
    0
}

#[inline(always)]
fn try_capset(_ctx: &TracePointContext) -> Result<(), i64> {
    stash_sys(sys::CAPSET, [0; 4])
}

#[tracepoint(category = "syscalls", name = "sys_enter_prctl")]
pub fn prctl_enter(ctx: TracePointContext) -> u32 {
    let _ = try_prctl(&ctx);
    0
}

#[inline(always)]
fn try_prctl(ctx: &TracePointContext) -> Result<(), i64> {
    stash_sys(sys::PRCTL, [arg(ctx, 0), arg(ctx, 1), 0, 0])
}
