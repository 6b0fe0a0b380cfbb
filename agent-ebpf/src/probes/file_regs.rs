//! The path syscalls (symlink, link, unlink, rename, mkdir, rmdir, chmod, the
//! chown family, creat, mount, umount2, chroot) as ONE `sys_exit_*` program each: the
//! result from the tracepoint record, the arguments from the task's saved user
//! registers (`crate::regs`). No enter program, no `FILE_STASH` insert, lookup
//! or delete.
//!
//! The record is the pair's `FileEvent` (`stash::fill_file`, `file_exit::submit_file`), with the header
//! taken at exit and the paths read from user memory after the kernel used
//! them, as `openat_regs` reads its path: a thread rewriting a path buffer
//! while the call runs makes the event show the new bytes. Descriptors, flags,
//! modes and owners are registers and cannot change.
//!
//! `lanner::probes::TABLE` prefers each over its `<syscall>_enter` /
//! `<syscall>_exit` pair (their fallback where `bpf_task_pt_regs` is missing,
//! before 5.15, or off x86_64).
use aya_ebpf::programs::TracePointContext;
use lanner_common::counters::ProbeId;

use super::{file_exit::submit_file, stash::fill_file, sys_ret};
use crate::{
    common::{filter, is_self_task, sys_enabled},
    regs::{current_task_btf, syscall_args},
};

const P: ProbeId = ProbeId::FileExit;

syscall_programs! {
    try_file_regs;
    symlink_regs => "sys_exit_symlink", SYMLINK;
    symlinkat_regs => "sys_exit_symlinkat", SYMLINKAT;
    link_regs => "sys_exit_link", LINK;
    linkat_regs => "sys_exit_linkat", LINKAT;
    unlink_regs => "sys_exit_unlink", UNLINK;
    unlinkat_regs => "sys_exit_unlinkat", UNLINKAT;
    rename_regs => "sys_exit_rename", RENAME;
    renameat_regs => "sys_exit_renameat", RENAMEAT;
    renameat2_regs => "sys_exit_renameat2", RENAMEAT2;
    mkdir_regs => "sys_exit_mkdir", MKDIR;
    mkdirat_regs => "sys_exit_mkdirat", MKDIRAT;
    rmdir_regs => "sys_exit_rmdir", RMDIR;
    chmod_regs => "sys_exit_chmod", CHMOD;
    fchmod_regs => "sys_exit_fchmod", FCHMOD;
    fchmodat_regs => "sys_exit_fchmodat", FCHMODAT;
    chown_regs => "sys_exit_chown", CHOWN;
    lchown_regs => "sys_exit_lchown", LCHOWN;
    fchown_regs => "sys_exit_fchown", FCHOWN;
    fchownat_regs => "sys_exit_fchownat", FCHOWNAT;
    creat_regs => "sys_exit_creat", CREAT;
    mount_regs => "sys_exit_mount", MOUNT;
    umount2_regs => "sys_exit_umount", UMOUNT2;
    chroot_regs => "sys_exit_chroot", CHROOT;
}

#[inline(always)]
fn try_file_regs(ctx: &TracePointContext, subtype: u16) -> Result<(), i64> {
    let task = current_task_btf();
    if is_self_task(P, task) || !sys_enabled(P, filter(), subtype) {
        return Ok(());
    }
    let ret = sys_ret(ctx);
    submit_file(fill_file(P, subtype, syscall_args(task)?)?, ret);
    Ok(())
}
