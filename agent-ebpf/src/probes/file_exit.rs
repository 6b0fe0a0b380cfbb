//! `syscalls/sys_exit_*` of the path syscalls (also chown, creat, mount, umount2): add the result to the stashed
//! record and emit it, cut after the used part of its second path.
use aya_ebpf::{helpers::bpf_get_current_pid_tgid, macros::tracepoint, programs::TracePointContext};
use lanner_common::{
    counters::{Counter, ProbeId},
    file_record_len, sys,
};

use super::sys_ret;
use crate::{
    common::{count, filter, is_self, submit_prefix},
    maps::FILE_STASH,
};

const P: ProbeId = ProbeId::FileExit;

#[tracepoint(category = "syscalls", name = "sys_exit_symlink")]
pub fn symlink_exit(ctx: TracePointContext) -> u32 {
    let _ = try_file_exit(&ctx, sys::SYMLINK);
    0
}

#[tracepoint(category = "syscalls", name = "sys_exit_symlinkat")]
pub fn symlinkat_exit(ctx: TracePointContext) -> u32 {
    let _ = try_file_exit(&ctx, sys::SYMLINKAT);
    0
}

#[tracepoint(category = "syscalls", name = "sys_exit_link")]
pub fn link_exit(ctx: TracePointContext) -> u32 {
    let _ = try_file_exit(&ctx, sys::LINK);
    0
}

#[tracepoint(category = "syscalls", name = "sys_exit_linkat")]
pub fn linkat_exit(ctx: TracePointContext) -> u32 {
    let _ = try_file_exit(&ctx, sys::LINKAT);
    0
}

#[tracepoint(category = "syscalls", name = "sys_exit_unlink")]
pub fn unlink_exit(ctx: TracePointContext) -> u32 {
    let _ = try_file_exit(&ctx, sys::UNLINK);
    0
}

#[tracepoint(category = "syscalls", name = "sys_exit_unlinkat")]
pub fn unlinkat_exit(ctx: TracePointContext) -> u32 {
    let _ = try_file_exit(&ctx, sys::UNLINKAT);
    0
}

#[tracepoint(category = "syscalls", name = "sys_exit_rename")]
pub fn rename_exit(ctx: TracePointContext) -> u32 {
    let _ = try_file_exit(&ctx, sys::RENAME);
    0
}

#[tracepoint(category = "syscalls", name = "sys_exit_renameat")]
pub fn renameat_exit(ctx: TracePointContext) -> u32 {
    let _ = try_file_exit(&ctx, sys::RENAMEAT);
    0
}

#[tracepoint(category = "syscalls", name = "sys_exit_renameat2")]
pub fn renameat2_exit(ctx: TracePointContext) -> u32 {
    let _ = try_file_exit(&ctx, sys::RENAMEAT2);
    0
}

#[tracepoint(category = "syscalls", name = "sys_exit_mkdir")]
pub fn mkdir_exit(ctx: TracePointContext) -> u32 {
    let _ = try_file_exit(&ctx, sys::MKDIR);
    0
}

#[tracepoint(category = "syscalls", name = "sys_exit_mkdirat")]
pub fn mkdirat_exit(ctx: TracePointContext) -> u32 {
    let _ = try_file_exit(&ctx, sys::MKDIRAT);
    0
}

#[tracepoint(category = "syscalls", name = "sys_exit_rmdir")]
pub fn rmdir_exit(ctx: TracePointContext) -> u32 {
    let _ = try_file_exit(&ctx, sys::RMDIR);
    0
}

#[tracepoint(category = "syscalls", name = "sys_exit_chmod")]
pub fn chmod_exit(ctx: TracePointContext) -> u32 {
    let _ = try_file_exit(&ctx, sys::CHMOD);
    0
}

#[tracepoint(category = "syscalls", name = "sys_exit_fchmod")]
pub fn fchmod_exit(ctx: TracePointContext) -> u32 {
    let _ = try_file_exit(&ctx, sys::FCHMOD);
    0
}

#[tracepoint(category = "syscalls", name = "sys_exit_fchmodat")]
pub fn fchmodat_exit(ctx: TracePointContext) -> u32 {
    let _ = try_file_exit(&ctx, sys::FCHMODAT);
    0
}

/// One `sys_exit_*` program per syscall, all sharing [`try_file_exit`].
macro_rules! file_exit {
    ($($f:ident => $tp:literal, $id:ident;)*) => {$(
        #[tracepoint(category = "syscalls", name = $tp)]
        pub fn $f(ctx: TracePointContext) -> u32 {
            let _ = try_file_exit(&ctx, sys::$id);
            0
        }
    )*};
}

file_exit! {
    chown_exit => "sys_exit_chown", CHOWN;
    lchown_exit => "sys_exit_lchown", LCHOWN;
    fchown_exit => "sys_exit_fchown", FCHOWN;
    fchownat_exit => "sys_exit_fchownat", FCHOWNAT;
    creat_exit => "sys_exit_creat", CREAT;
    mount_exit => "sys_exit_mount", MOUNT;
    umount2_exit => "sys_exit_umount", UMOUNT2;
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
    let ev = unsafe { &mut *ev };
    ev.ret = ret as i32;
    submit_prefix(P, &*ev, file_record_len(ev.path2_len as usize));
    let _ = FILE_STASH.remove(&tid);
    Ok(())
}
