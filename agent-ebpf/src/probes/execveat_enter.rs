//! `syscalls/sys_enter_execveat` (`dirfd, filename, argv, envp, flags`): Falco
//! reports it as its own event type, `execveat`. Stashes the `filename` and `argv`
//! pointers with `EXEC_EXECVEAT` as `execve_enter` does; `sched_exec` emits a
//! successful one with that subtype, `execveat_exit` a failed one.
use aya_ebpf::{macros::tracepoint, programs::TracePointContext};
use lanner_common::{counters::ProbeId, EXEC_EXECVEAT};

use super::{arg, execve_enter::stash_exec};
use crate::common::is_self;

/// Shares the execve probes' counters (same stash, same failure modes).
const P: ProbeId = ProbeId::ExecveEnter;

#[tracepoint(category = "syscalls", name = "sys_enter_execveat")]
pub fn execveat_enter(ctx: TracePointContext) -> u32 {
    let _ = try_execveat_enter(&ctx);
    0
}

fn try_execveat_enter(ctx: &TracePointContext) -> Result<(), i64> {
    if is_self(P) {
        return Ok(());
    }
    stash_exec(P, arg(ctx, 1), arg(ctx, 2), EXEC_EXECVEAT);
    Ok(())
}
