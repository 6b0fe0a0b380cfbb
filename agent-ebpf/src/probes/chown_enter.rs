//! `syscalls/sys_enter_chown`, `lchown`, `fchown`, `fchownat` and `creat`: stash the
//! path (fchown: the fd, in `dirfd`), the owner (uid in `mode`, gid in `dirfd2`) and
//! the flags, or creat's path and mode; `file_exit` emits.
use aya_ebpf::{macros::tracepoint, programs::TracePointContext};
use lanner_common::{sys, AT_FDCWD};

use super::{
    arg,
    stash::{stash_file, FileArgs},
};

/// A chown-family record: `path` relative to `dirfd`, owner `uid`:`gid`.
#[inline(always)]
fn owner(dirfd: i64, path: *const u8, uid: u64, gid: u64, flags: u64) -> FileArgs {
    FileArgs { dirfd, path, dirfd2: gid as u32 as i64, path2: core::ptr::null(), flags, mode: uid }
}

#[tracepoint(category = "syscalls", name = "sys_enter_chown")]
pub fn chown_enter(ctx: TracePointContext) -> u32 {
    let _ = try_chown(&ctx, sys::CHOWN);
    0
}

#[tracepoint(category = "syscalls", name = "sys_enter_lchown")]
pub fn lchown_enter(ctx: TracePointContext) -> u32 {
    let _ = try_chown(&ctx, sys::LCHOWN);
    0
}

/// chown/lchown(path, uid, gid).
#[inline(always)]
fn try_chown(ctx: &TracePointContext, id: u16) -> Result<(), i64> {
    stash_file(id, owner(AT_FDCWD as i64, arg(ctx, 0), arg(ctx, 1), arg(ctx, 2), 0))
}

#[tracepoint(category = "syscalls", name = "sys_enter_fchown")]
pub fn fchown_enter(ctx: TracePointContext) -> u32 {
    let _ = try_fchown(&ctx);
    0
}

/// fchown(fd, uid, gid).
#[inline(always)]
fn try_fchown(ctx: &TracePointContext) -> Result<(), i64> {
    stash_file(sys::FCHOWN, owner(arg(ctx, 0), core::ptr::null(), arg(ctx, 1), arg(ctx, 2), 0))
}

#[tracepoint(category = "syscalls", name = "sys_enter_fchownat")]
pub fn fchownat_enter(ctx: TracePointContext) -> u32 {
    let _ = try_fchownat(&ctx);
    0
}

/// fchownat(dfd, filename, user, group, flag).
#[inline(always)]
fn try_fchownat(ctx: &TracePointContext) -> Result<(), i64> {
    stash_file(sys::FCHOWNAT, owner(arg(ctx, 0), arg(ctx, 1), arg(ctx, 2), arg(ctx, 3), arg(ctx, 4)))
}

#[tracepoint(category = "syscalls", name = "sys_enter_creat")]
pub fn creat_enter(ctx: TracePointContext) -> u32 {
    let _ = try_creat(&ctx);
    0
}

/// creat(pathname, mode).
#[inline(always)]
fn try_creat(ctx: &TracePointContext) -> Result<(), i64> {
    stash_file(sys::CREAT, FileArgs::one(AT_FDCWD as i64, arg(ctx, 0), 0, arg(ctx, 1)))
}
