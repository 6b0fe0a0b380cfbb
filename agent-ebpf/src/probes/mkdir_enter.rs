//! `syscalls/sys_enter_mkdir`, `mkdirat`: stash the path with its directory fd
//! and the mode; `file_exit` emits.
use aya_ebpf::{macros::tracepoint, programs::TracePointContext};
use lanner_common::{sys, AT_FDCWD};

use super::{
    arg,
    stash::{stash_file, FileArgs},
};

#[tracepoint(category = "syscalls", name = "sys_enter_mkdir")]
pub fn mkdir_enter(ctx: TracePointContext) -> u32 {
    let _ = try_mkdir(&ctx);
    0
}

#[inline(always)]
fn try_mkdir(ctx: &TracePointContext) -> Result<(), i64> {
    stash_file(sys::MKDIR, FileArgs::one(AT_FDCWD as i64, arg(ctx, 0), 0, arg(ctx, 1)))
}

#[tracepoint(category = "syscalls", name = "sys_enter_mkdirat")]
pub fn mkdirat_enter(ctx: TracePointContext) -> u32 {
    let _ = try_mkdirat(&ctx);
    0
}

#[inline(always)]
fn try_mkdirat(ctx: &TracePointContext) -> Result<(), i64> {
    stash_file(sys::MKDIRAT, FileArgs::one(arg(ctx, 0), arg(ctx, 1), 0, arg(ctx, 2)))
}
