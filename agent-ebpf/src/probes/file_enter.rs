//! `syscalls/sys_enter_*` of the path syscalls (symlink, link, unlink, rename,
//! mkdir, rmdir, chmod, the chown family, creat, mount, umount2, chroot): copy the paths
//! and stash the record by thread id; `file_exit` adds the result and emits.
//! Which raw argument goes where is `stash::file_args`, shared with the
//! exit-only `file_regs` programs (the preferred path where they load).
use aya_ebpf::{macros::tracepoint, programs::TracePointContext};
use lanner_common::sys;

use super::{arg, stash::stash_file};

/// The first `n` raw arguments of a `sys_enter_*` record, the rest zero. `n` is
/// the syscall's argument count (a constant), so no load past the record is
/// emitted: the kernel refuses to attach a program that reads past it.
#[inline(always)]
fn raw_args(ctx: &TracePointContext, n: usize) -> [u64; 5] {
    let mut r = [0u64; 5];
    let mut i = 0;
    while i < 5 {
        if i < n {
            r[i] = arg(ctx, i);
        }
        i += 1;
    }
    r
}

/// One `sys_enter_*` program per syscall: `(program => tracepoint, id, argument count)`.
macro_rules! file_enter {
    ($($f:ident => $tp:literal, $id:ident, $n:literal;)*) => {$(
        #[tracepoint(category = "syscalls", name = $tp)]
        pub fn $f(ctx: TracePointContext) -> u32 {
            let _ = stash_file(sys::$id, raw_args(&ctx, $n));
            0
        }
    )*};
}

file_enter! {
    symlink_enter => "sys_enter_symlink", SYMLINK, 2;
    symlinkat_enter => "sys_enter_symlinkat", SYMLINKAT, 3;
    link_enter => "sys_enter_link", LINK, 2;
    linkat_enter => "sys_enter_linkat", LINKAT, 5;
    unlink_enter => "sys_enter_unlink", UNLINK, 1;
    unlinkat_enter => "sys_enter_unlinkat", UNLINKAT, 3;
    rename_enter => "sys_enter_rename", RENAME, 2;
    renameat_enter => "sys_enter_renameat", RENAMEAT, 4;
    renameat2_enter => "sys_enter_renameat2", RENAMEAT2, 5;
    mkdir_enter => "sys_enter_mkdir", MKDIR, 2;
    mkdirat_enter => "sys_enter_mkdirat", MKDIRAT, 3;
    rmdir_enter => "sys_enter_rmdir", RMDIR, 1;
    chmod_enter => "sys_enter_chmod", CHMOD, 2;
    fchmod_enter => "sys_enter_fchmod", FCHMOD, 2;
    fchmodat_enter => "sys_enter_fchmodat", FCHMODAT, 3;
    chown_enter => "sys_enter_chown", CHOWN, 3;
    lchown_enter => "sys_enter_lchown", LCHOWN, 3;
    fchown_enter => "sys_enter_fchown", FCHOWN, 3;
    fchownat_enter => "sys_enter_fchownat", FCHOWNAT, 5;
    creat_enter => "sys_enter_creat", CREAT, 2;
    mount_enter => "sys_enter_mount", MOUNT, 4;
    umount2_enter => "sys_enter_umount", UMOUNT2, 2;
    chroot_enter => "sys_enter_chroot", CHROOT, 1;
}
