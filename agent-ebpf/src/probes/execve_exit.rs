//! `syscalls/sys_exit_execve`: on failure (ret < 0) emit the stashed exec with
//! its errno; on success `sched_exec` already emitted. Always clears the stash.
use aya_ebpf::{macros::tracepoint, programs::TracePointContext};
use lanner_common::counters::{Counter, ProbeId};

use super::SYS_RET;
use crate::{
    common::{count, current_task, is_self, submit_prefix, task_loginuid, task_ppid, task_tty},
    maps::EXEC_STASH,
};

const P: ProbeId = ProbeId::ExecveExit;

#[tracepoint(category = "syscalls", name = "sys_exit_execve")]
pub fn execve_exit(ctx: TracePointContext) -> u32 {
    let _ = try_execve_exit(&ctx);
    0
}

fn try_execve_exit(ctx: &TracePointContext) -> Result<(), i64> {
    if is_self(P) {
        return Ok(());
    }
    let ret: i64 = unsafe { ctx.read_at(SYS_RET)? };
    if ret == 0 {
        return Ok(());
    }
    let tid = aya_ebpf::helpers::bpf_get_current_pid_tgid() as u32;
    let Some(ev) = EXEC_STASH.get_ptr_mut(&tid) else {
        count(P, Counter::StashMiss);
        return Ok(());
    };
    let ev = unsafe { &mut *ev };
    ev.ret = ret as i32;
    let task = current_task();
    ev.ppid = task_ppid(task);
    ev.loginuid = task_loginuid(task);
    ev.tty = task_tty(task);
    submit_prefix(P, &*ev, lanner_common::exec_record_len(ev.args_len as usize));
    let _ = EXEC_STASH.remove(&tid);
    Ok(())
}
