//! `syscalls/sys_enter_chmod`, `fchmod`, `fchmodat`: stash the path (fchmod: the
//! fd, in `dirfd`) and the mode; `file_exit` emits.
use aya_ebpf::{macros::tracepoint, programs::TracePointContext};
use lanner_common::{sys, AT_FDCWD};

use super::{
    arg,
    stash::{stash_file, FileArgs},
};

#[tracepoint(category = "syscalls", name = "sys_enter_chmod")]
pub fn chmod_enter(ctx: TracePointContext) -> u32 {
    let _ = try_chmod(&ctx);
    0
}

#[inline(always)]
fn try_chmod(ctx: &TracePointContext) -> Result<(), i64> {
    stash_file(sys::CHMOD, FileArgs::one(AT_FDCWD as i64, arg(ctx, 0), 0, arg(ctx, 1)))
}

#[tracepoint(category = "syscalls", name = "sys_enter_fchmod")]
pub fn fchmod_enter(ctx: TracePointContext) -> u32 {
    let _ = try_fchmod(&ctx);
    0
}

#[inline(always)]
fn try_fchmod(ctx: &TracePointContext) -> Result<(), i64> {
    stash_file(sys::FCHMOD, FileArgs::one(arg(ctx, 0), core::ptr::null(), 0, arg(ctx, 1)))
}

#[tracepoint(category = "syscalls", name = "sys_enter_fchmodat")]
pub fn fchmodat_enter(ctx: TracePointContext) -> u32 {
    let _ = try_fchmodat(&ctx);
    0
}

#[inline(always)]
fn try_fchmodat(ctx: &TracePointContext) -> Result<(), i64> {
    stash_file(sys::FCHMODAT, FileArgs::one(arg(ctx, 0), arg(ctx, 1), 0, arg(ctx, 2)))
}
