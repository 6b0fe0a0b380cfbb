//! `task/task_rename` as `exec_rename_regs`: marks a successful execveat
//! without an enter program. Nothing at the exec's end can tell an execveat
//! from an execve (x86_64's ELF loader sets the saved `orig_ax` to execve's
//! number, so `sched_process_exec` and the syscall's exit both see execve),
//! but exec renames the task (`__set_task_comm` in `begin_new_exec`) after
//! the point of no return and before the loader runs, and there `orig_ax`
//! still holds the number the task entered with. When it is execveat's, this
//! leaves the `EXEC_STASH` entry `execveat_enter` would have left, under the
//! exec'ing task's id (the thread-group leader's: `de_thread` ran already),
//! and `sched_exec`/`lsm_exec` take the subtype from it as before.
//!
//! The hook fires on every exec and on the rare `prctl(PR_SET_NAME)` or
//! `/proc/PID/comm` write: one `orig_ax` load and a compare, where an enter
//! program on sys_enter_execveat made EVERY syscall on the host call into the
//! sys_enter tracepoint (docs/probes.md). `lanner::probes::TABLE` loads it in
//! place of `execveat_enter`, on x86_64 from 5.15 (`bpf_task_pt_regs`).
use aya_ebpf::{macros::tracepoint, programs::TracePointContext};
use lanner_common::{counters::ProbeId, EXEC_EXECVEAT};

use super::execve_enter::stash_exec;
use crate::{
    common::is_self_task,
    regs::{current_task_btf, syscall_nr, NR_EXECVEAT},
};

/// Shares the execve probes' counters (same stash, same failure modes).
const P: ProbeId = ProbeId::ExecveEnter;

#[tracepoint(category = "task", name = "task_rename")]
pub fn exec_rename_regs(ctx: TracePointContext) -> u32 {
    let _ = try_exec_rename(&ctx);
    0
}

fn try_exec_rename(_ctx: &TracePointContext) -> Result<(), i64> {
    let task = current_task_btf();
    if syscall_nr(task)? != NR_EXECVEAT || is_self_task(P, task) {
        return Ok(());
    }
    // The pointers are not needed: a successful exec's filename and argv come
    // from the kernel and the new image.
    stash_exec(P, 0, 0, EXEC_EXECVEAT);
    Ok(())
}
