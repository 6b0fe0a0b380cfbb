//! `sched/sched_process_exit`: emit when a thread-group leader exits, so the
//! process table can evict the process. Thread exits are ignored. Also drops
//! the process's `EXEC_STASH` entry, if any: an execveat killed past its point
//! of no return never reaches `sched_process_exec`, and the mark
//! `exec_rename_regs` left must not pass to the next process with that id (no
//! lookup while the stash is empty, the usual case).
use aya_ebpf::{helpers::bpf_get_current_pid_tgid, macros::tracepoint, programs::TracePointContext};
use lanner_common::{counters::ProbeId, EventHeader, EventKind, ExitEvent};

use crate::common::{conf, current_task, fill_header, is_self, read_at, submit};

const P: ProbeId = ProbeId::Exit;

#[tracepoint(category = "sched", name = "sched_process_exit")]
pub fn sched_exit(ctx: TracePointContext) -> u32 {
    let _ = try_sched_exit(&ctx);
    0
}

fn try_sched_exit(_ctx: &TracePointContext) -> Result<(), i64> {
    let pid_tgid = bpf_get_current_pid_tgid();
    if pid_tgid as u32 != (pid_tgid >> 32) as u32 {
        return Ok(());
    }
    let _ = super::execve_enter::unstash_exec(pid_tgid as u32);
    if is_self(P) {
        return Ok(());
    }
    let exit_code: i32 = read_at(current_task(), conf!(offsets.task_exit_code)).unwrap_or(0);
    let mut ev = ExitEvent { hdr: EventHeader::ZERO, exit_code, _pad1: 0 };
    fill_header(&mut ev.hdr, EventKind::Exit as u16);
    submit(P, &ev);
    Ok(())
}
