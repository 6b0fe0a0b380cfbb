//! `syscalls/sys_exit_execve` without an enter program: a failed exec (the old
//! image still mapped) reads `filename` and `argv` through the pointers in the
//! task's saved user registers (`crate::regs`, di and si) and emits the exec
//! with its errno, as `execve_exit` does through the pointers
//! `execve_enter` stashed. A successful exec was emitted by `sched_exec`, so
//! this program returns on `ret == 0` after one tracepoint read: an exec costs
//! `sched_exec` plus this early return, no enter program and no `EXEC_STASH`
//! insert/delete.
//!
//! The filename and argv of a FAILED exec are read at exit from user memory
//! another thread may have rewritten meanwhile (the pair reads them at exit
//! too, through the same pointers, so nothing changes there). A successful
//! exec's filename comes from the kernel (`sched_process_exec`), its argv from
//! the new image.
//!
//! `execveat_regs` is the same on `sys_exit_execveat`, which fires for failed
//! execveats only (a successful one exits as execve, see `exec_rename`):
//! dirfd, filename and argv in di, si and dx.
//!
//! `lanner::probes::TABLE` prefers these over `execve_enter` + `execve_exit`
//! and `execveat_enter` + `execveat_exit` (the fallback where
//! `bpf_task_pt_regs` is missing or off x86_64).
use aya_ebpf::{macros::tracepoint, programs::TracePointContext};
use lanner_common::{counters::ProbeId, EXEC_EXECVE, EXEC_EXECVEAT};

use super::{execve_exit::emit_failed_exec, sys_ret};
use crate::{
    common::is_self_task,
    regs::{current_task_btf, syscall_args},
};

const P: ProbeId = ProbeId::ExecveExit;

#[tracepoint(category = "syscalls", name = "sys_exit_execve")]
pub fn execve_regs(ctx: TracePointContext) -> u32 {
    let _ = try_exec_regs(&ctx, EXEC_EXECVE);
    0
}

#[tracepoint(category = "syscalls", name = "sys_exit_execveat")]
pub fn execveat_regs(ctx: TracePointContext) -> u32 {
    let _ = try_exec_regs(&ctx, EXEC_EXECVEAT);
    0
}

#[inline(always)]
fn try_exec_regs(ctx: &TracePointContext, syscall: u16) -> Result<(), i64> {
    let ret: i64 = sys_ret(ctx);
    if ret == 0 {
        // Emitted by sched_exec.
        return Ok(());
    }
    let task = current_task_btf();
    if is_self_task(P, task) {
        return Ok(());
    }
    let a = syscall_args(task)?;
    // execveat(dirfd, filename, argv, ...): its dirfd comes first.
    let (filename, argv) = if syscall == EXEC_EXECVEAT { (a[1], a[2]) } else { (a[0], a[1]) };
    emit_failed_exec(P, ret, syscall, filename as *const u8, argv as *const *const u8)
}
