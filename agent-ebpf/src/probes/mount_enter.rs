//! `syscalls/sys_enter_mount` and `sys_enter_umount` (the umount2 syscall): stash the
//! mount point, the device or source and the filesystem type (mount), or the target
//! (umount2), with the flags; `file_exit` emits.
use aya_ebpf::{macros::tracepoint, programs::TracePointContext};
use lanner_common::{sys, AT_FDCWD};

use super::{
    arg,
    stash::{stash_file, stash_file_aux, FileArgs},
};

#[tracepoint(category = "syscalls", name = "sys_enter_mount")]
pub fn mount_enter(ctx: TracePointContext) -> u32 {
    let _ = try_mount(&ctx);
    0
}

/// mount(dev_name, dir_name, type, flags, data).
#[inline(always)]
fn try_mount(ctx: &TracePointContext) -> Result<(), i64> {
    let a = FileArgs {
        dirfd: AT_FDCWD as i64,
        path: arg(ctx, 1),
        dirfd2: AT_FDCWD as i64,
        path2: arg(ctx, 0),
        flags: arg(ctx, 3),
        mode: 0,
    };
    stash_file_aux(sys::MOUNT, a, arg(ctx, 2))
}

#[tracepoint(category = "syscalls", name = "sys_enter_umount")]
pub fn umount2_enter(ctx: TracePointContext) -> u32 {
    let _ = try_umount2(&ctx);
    0
}

/// umount2(name, flags).
#[inline(always)]
fn try_umount2(ctx: &TracePointContext) -> Result<(), i64> {
    stash_file(sys::UMOUNT2, FileArgs::one(AT_FDCWD as i64, arg(ctx, 0), arg(ctx, 1), 0))
}
