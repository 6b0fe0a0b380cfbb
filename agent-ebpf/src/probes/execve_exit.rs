//! `syscalls/sys_exit_execve` and `sys_exit_execveat`: on failure (ret < 0) read
//! filename and argv through the pointers stashed at entry (the old image is
//! still mapped) and emit the exec with its errno and the syscall as subtype; on
//! success `sched_exec` already emitted.
use aya_ebpf::{macros::tracepoint, programs::TracePointContext};
use lanner_common::{
    counters::{Counter, ProbeId},
    EventKind,
};

use super::execve_enter::read_user_exec;
use super::sys_ret;
use crate::{
    common::{count, fill_header, is_self, submit_prefix, task_loginuid, task_ppid, task_ptr, task_tty},
    maps::EXEC_SCRATCH,
};

const P: ProbeId = ProbeId::ExecveExit;

#[tracepoint(category = "syscalls", name = "sys_exit_execve")]
pub fn execve_exit(ctx: TracePointContext) -> u32 {
    let _ = try_exec_exit(&ctx);
    0
}

/// The same program body: the stash says which syscall it was.
#[tracepoint(category = "syscalls", name = "sys_exit_execveat")]
pub fn execveat_exit(ctx: TracePointContext) -> u32 {
    let _ = try_exec_exit(&ctx);
    0
}

#[inline(always)]
fn try_exec_exit(ctx: &TracePointContext) -> Result<(), i64> {
    if is_self(P) {
        return Ok(());
    }
    let ret: i64 = sys_ret(ctx);
    let tid = aya_ebpf::helpers::bpf_get_current_pid_tgid() as u32;
    if ret == 0 {
        // Emitted by sched_exec (which also dropped the stash entry).
        return Ok(());
    }
    let Some(ptrs) = super::execve_enter::unstash_exec(tid) else {
        count(P, Counter::StashMiss);
        return Ok(());
    };
    emit_failed_exec(P, ret, ptrs[2] as u16, ptrs[0] as *const u8, ptrs[1] as *const *const u8)
}

/// A failed exec (the old image still mapped): `filename` and `argv` read from
/// user memory, the syscall's errno, parent, login uid and tty. Shared by this
/// pair and `execve_regs`, which takes the pointers from the saved registers.
#[inline(always)]
pub(super) fn emit_failed_exec(
    p: ProbeId,
    ret: i64,
    subtype: u16,
    filename: *const u8,
    argv: *const *const u8,
) -> Result<(), i64> {
    let ev = unsafe { &mut *EXEC_SCRATCH.get_ptr_mut(0).ok_or(0i64)? };
    fill_header(&mut ev.hdr, EventKind::Exec as u16);
    ev.hdr.subtype = subtype;
    crate::exe::clear(&mut ev.info);
    read_user_exec(p, ev, filename, argv);
    ev.ret = ret as i32;
    let task = task_ptr();
    ev.ppid = task_ppid(task);
    ev.loginuid = task_loginuid(task);
    ev.tty = task_tty(task);
    submit_prefix(p, &*ev, lanner_common::exec_record_len(ev.args_len as usize + ev.filename_len as usize));
    Ok(())
}
