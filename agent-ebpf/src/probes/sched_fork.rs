//! `raw_tp/sched_process_fork` (args: parent, child task_struct pointers): emit
//! a fork event when the child is a new process, not a thread. The raw
//! tracepoint is used because the classic one's record layout changed (comm
//! became `__data_loc` in 6.x); task offsets come from BTF.
use aya_ebpf::{macros::raw_tracepoint, programs::RawTracePointContext};
use lanner_common::{counters::ProbeId, EventHeader, EventKind, ForkEvent};

use crate::common::{conf, fill_header, is_self, read_at, submit};

const P: ProbeId = ProbeId::Fork;

#[raw_tracepoint(tracepoint = "sched_process_fork")]
pub fn sched_fork(ctx: RawTracePointContext) -> u32 {
    let _ = try_sched_fork(&ctx);
    0
}

fn try_sched_fork(ctx: &RawTracePointContext) -> Result<(), i64> {
    if is_self(P) {
        return Ok(());
    }
    let child: *const u8 = ctx.arg(1);
    let child_tid: u32 = read_at(child, conf!(offsets.task_pid)).ok_or(0i64)?;
    let child_tgid: u32 = read_at(child, conf!(offsets.task_tgid)).ok_or(0i64)?;
    if child_tid != child_tgid {
        return Ok(()); // a new thread
    }
    let mut ev = ForkEvent { hdr: EventHeader::ZERO, child_tgid, child_tid };
    fill_header(&mut ev.hdr, EventKind::Fork as u16);
    submit(P, &ev);
    Ok(())
}
