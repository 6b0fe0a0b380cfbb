//! `syscalls/sys_exit_connect`: add the result to the stashed connect and emit
//! (or drop a failed connect when the pre-filter says so).
use aya_ebpf::{helpers::bpf_get_current_pid_tgid, macros::tracepoint, programs::TracePointContext};
use lanner_common::counters::{Counter, ProbeId};

use super::SYS_RET;
use crate::{
    common::{count, filter, is_self, submit},
    maps::CONNECT_STASH,
};

const P: ProbeId = ProbeId::ConnectExit;

#[tracepoint(category = "syscalls", name = "sys_exit_connect")]
pub fn connect_exit(ctx: TracePointContext) -> u32 {
    let _ = try_connect_exit(&ctx);
    0
}

fn try_connect_exit(ctx: &TracePointContext) -> Result<(), i64> {
    if is_self(P) {
        return Ok(());
    }
    let ret: i64 = unsafe { ctx.read_at(SYS_RET)? };
    let tid = bpf_get_current_pid_tgid() as u32;
    let Some(ev) = CONNECT_STASH.get_ptr_mut(&tid) else {
        // Not stashed: a family we do not trace (netlink, packet...).
        return Ok(());
    };
    let ev = unsafe { &mut *ev };
    // EINPROGRESS (-115): a non-blocking connect under way, kept like a success.
    if ret < 0 && ret != -115 && filter().drop_failed_connects != 0 {
        count(P, Counter::Filtered);
    } else {
        ev.ret = ret as i32;
        submit(P, &*ev);
    }
    let _ = CONNECT_STASH.remove(&tid);
    Ok(())
}
