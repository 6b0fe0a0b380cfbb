//! `syscalls/sys_enter_unlink`, `unlinkat`, `rmdir`: stash the path with its
//! directory fd (and unlinkat's flags); `file_exit` emits.
use aya_ebpf::{macros::tracepoint, programs::TracePointContext};
use lanner_common::{sys, AT_FDCWD};

use super::{
    arg,
    stash::{stash_file, FileArgs},
};

#[tracepoint(category = "syscalls", name = "sys_enter_unlink")]
pub fn unlink_enter(ctx: TracePointContext) -> u32 {
    let _ = try_unlink(&ctx);
    0
}

#[inline(always)]
fn try_unlink(ctx: &TracePointContext) -> Result<(), i64> {
    stash_file(sys::UNLINK, FileArgs::one(AT_FDCWD as i64, arg(ctx, 0), 0, 0))
}

#[tracepoint(category = "syscalls", name = "sys_enter_unlinkat")]
pub fn unlinkat_enter(ctx: TracePointContext) -> u32 {
    let _ = try_unlinkat(&ctx);
    0
}

#[inline(always)]
fn try_unlinkat(ctx: &TracePointContext) -> Result<(), i64> {
    stash_file(sys::UNLINKAT, FileArgs::one(arg(ctx, 0), arg(ctx, 1), arg(ctx, 2), 0))
}

#[tracepoint(category = "syscalls", name = "sys_enter_rmdir")]
pub fn rmdir_enter(ctx: TracePointContext) -> u32 {
    let _ = try_rmdir(&ctx);
    0
}

#[inline(always)]
fn try_rmdir(ctx: &TracePointContext) -> Result<(), i64> {
    stash_file(sys::RMDIR, FileArgs::one(AT_FDCWD as i64, arg(ctx, 0), 0, 0))
}
