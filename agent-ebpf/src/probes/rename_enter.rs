//! `syscalls/sys_enter_rename`, `renameat`, `renameat2`: stash both paths with
//! their directory fds (and renameat2's flags); `file_exit` emits.
use aya_ebpf::{macros::tracepoint, programs::TracePointContext};
use lanner_common::{sys, AT_FDCWD};

use super::{
    arg,
    stash::{stash_file, FileArgs},
};

#[tracepoint(category = "syscalls", name = "sys_enter_rename")]
pub fn rename_enter(ctx: TracePointContext) -> u32 {
    let _ = try_rename(&ctx);
    0
}

#[inline(always)]
fn try_rename(ctx: &TracePointContext) -> Result<(), i64> {
    stash_file(
        sys::RENAME,
        FileArgs {
            dirfd: AT_FDCWD as i64,
            path: arg(ctx, 0),
            dirfd2: AT_FDCWD as i64,
            path2: arg(ctx, 1),
            flags: 0,
            mode: 0,
        },
    )
}

#[tracepoint(category = "syscalls", name = "sys_enter_renameat")]
pub fn renameat_enter(ctx: TracePointContext) -> u32 {
    let _ = try_renameat(&ctx);
    0
}

#[inline(always)]
fn try_renameat(ctx: &TracePointContext) -> Result<(), i64> {
    stash_file(
        sys::RENAMEAT,
        FileArgs { dirfd: arg(ctx, 0), path: arg(ctx, 1), dirfd2: arg(ctx, 2), path2: arg(ctx, 3), flags: 0, mode: 0 },
    )
}

#[tracepoint(category = "syscalls", name = "sys_enter_renameat2")]
pub fn renameat2_enter(ctx: TracePointContext) -> u32 {
    let _ = try_renameat2(&ctx);
    0
}

#[inline(always)]
fn try_renameat2(ctx: &TracePointContext) -> Result<(), i64> {
    stash_file(
        sys::RENAMEAT2,
        FileArgs {
            dirfd: arg(ctx, 0),
            path: arg(ctx, 1),
            dirfd2: arg(ctx, 2),
            path2: arg(ctx, 3),
            flags: arg(ctx, 4),
            mode: 0,
        },
    )
}
