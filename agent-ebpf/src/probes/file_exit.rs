//! `syscalls/sys_exit_*` of the path syscalls (also chown, creat, mount, umount2, chroot): add the result to the stashed
//! record and emit it, cut after the used part of its second path.
use aya_ebpf::{helpers::bpf_get_current_pid_tgid, programs::TracePointContext};
use lanner_common::{
    counters::{Counter, ProbeId},
    file_record_len, FileEvent,
};

use super::sys_ret;
use crate::{
    common::{count, filter, is_self, submit_prefix},
    maps::FILE_STASH,
};

const P: ProbeId = ProbeId::FileExit;

syscall_programs! {
    try_file_exit;
    symlink_exit => "sys_exit_symlink", SYMLINK;
    symlinkat_exit => "sys_exit_symlinkat", SYMLINKAT;
    link_exit => "sys_exit_link", LINK;
    linkat_exit => "sys_exit_linkat", LINKAT;
    unlink_exit => "sys_exit_unlink", UNLINK;
    unlinkat_exit => "sys_exit_unlinkat", UNLINKAT;
    rename_exit => "sys_exit_rename", RENAME;
    renameat_exit => "sys_exit_renameat", RENAMEAT;
    renameat2_exit => "sys_exit_renameat2", RENAMEAT2;
    mkdir_exit => "sys_exit_mkdir", MKDIR;
    mkdirat_exit => "sys_exit_mkdirat", MKDIRAT;
    rmdir_exit => "sys_exit_rmdir", RMDIR;
    chmod_exit => "sys_exit_chmod", CHMOD;
    fchmod_exit => "sys_exit_fchmod", FCHMOD;
    fchmodat_exit => "sys_exit_fchmodat", FCHMODAT;
    chown_exit => "sys_exit_chown", CHOWN;
    lchown_exit => "sys_exit_lchown", LCHOWN;
    fchown_exit => "sys_exit_fchown", FCHOWN;
    fchownat_exit => "sys_exit_fchownat", FCHOWNAT;
    creat_exit => "sys_exit_creat", CREAT;
    mount_exit => "sys_exit_mount", MOUNT;
    umount2_exit => "sys_exit_umount", UMOUNT2;
    chroot_exit => "sys_exit_chroot", CHROOT;
}

#[inline(always)]
fn try_file_exit(ctx: &TracePointContext, subtype: u16) -> Result<(), i64> {
    // Filtered at entry (nothing stashed): no lookup, no miss.
    if is_self(P) || filter().sys_off & (1u64 << (subtype as u64 & 63)) != 0 {
        return Ok(());
    }
    let ret: i64 = sys_ret(ctx);
    let tid = bpf_get_current_pid_tgid() as u32;
    let Some(ev) = FILE_STASH.get_ptr_mut(&tid) else {
        count(P, Counter::StashMiss);
        return Ok(());
    };
    submit_file(unsafe { &mut *ev }, ret);
    let _ = FILE_STASH.remove(&tid);
    Ok(())
}

/// Emit a path syscall's record with its result, cut after the used part of
/// its second path. Shared with the exit-only programs (`file_regs`).
#[inline(always)]
pub fn submit_file(ev: &mut FileEvent, ret: i64) {
    ev.ret = ret as i32;
    submit_prefix(P, &*ev, file_record_len(ev.path2_len as usize));
}
