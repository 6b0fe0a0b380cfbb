//! `syscalls/sys_enter_symlink`, `symlinkat`, `link`, `linkat`: stash the target
//! (or old path) and the link path with their directory fds; `file_exit` emits.
use aya_ebpf::{macros::tracepoint, programs::TracePointContext};
use lanner_common::{sys, AT_FDCWD};

use super::{
    arg,
    stash::{stash_file, FileArgs},
};

#[tracepoint(category = "syscalls", name = "sys_enter_symlink")]
pub fn symlink_enter(ctx: TracePointContext) -> u32 {
    let _ = try_symlink(&ctx);
    0
}

#[inline(always)]
fn try_symlink(ctx: &TracePointContext) -> Result<(), i64> {
    stash_file(
        sys::SYMLINK,
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

#[tracepoint(category = "syscalls", name = "sys_enter_symlinkat")]
pub fn symlinkat_enter(ctx: TracePointContext) -> u32 {
    let _ = try_symlinkat(&ctx);
    0
}

#[inline(always)]
fn try_symlinkat(ctx: &TracePointContext) -> Result<(), i64> {
    stash_file(
        sys::SYMLINKAT,
        FileArgs {
            dirfd: AT_FDCWD as i64,
            path: arg(ctx, 0),
            dirfd2: arg(ctx, 1),
            path2: arg(ctx, 2),
            flags: 0,
            mode: 0,
        },
    )
}

#[tracepoint(category = "syscalls", name = "sys_enter_link")]
pub fn link_enter(ctx: TracePointContext) -> u32 {
    let _ = try_link(&ctx);
    0
}

#[inline(always)]
fn try_link(ctx: &TracePointContext) -> Result<(), i64> {
    stash_file(
        sys::LINK,
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

#[tracepoint(category = "syscalls", name = "sys_enter_linkat")]
pub fn linkat_enter(ctx: TracePointContext) -> u32 {
    let _ = try_linkat(&ctx);
    0
}

#[inline(always)]
fn try_linkat(ctx: &TracePointContext) -> Result<(), i64> {
    stash_file(
        sys::LINKAT,
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
