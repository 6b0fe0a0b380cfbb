//! `syscalls/sys_exit_openat` and `sys_exit_openat2`: add the result to the
//! stashed open and emit its used part (or drop failed opens when the
//! pre-filter says so).
use aya_ebpf::{helpers::bpf_get_current_pid_tgid, macros::tracepoint, programs::TracePointContext};
use lanner_common::counters::{Counter, ProbeId};

use super::sys_ret;
use crate::{
    common::{count, filter, is_self, submit_prefix},
    maps::OPEN_STASH,
};

const P: ProbeId = ProbeId::OpenatExit;

#[tracepoint(category = "syscalls", name = "sys_exit_openat")]
pub fn openat_exit(ctx: TracePointContext) -> u32 {
    let _ = try_open_exit(&ctx);
    0
}

#[tracepoint(category = "syscalls", name = "sys_exit_openat2")]
pub fn openat2_exit(ctx: TracePointContext) -> u32 {
    let _ = try_open_exit(&ctx);
    0
}

fn try_open_exit(ctx: &TracePointContext) -> Result<(), i64> {
    if is_self(P) {
        return Ok(());
    }
    let ret: i64 = sys_ret(ctx);
    let tid = bpf_get_current_pid_tgid() as u32;
    let Some(ev) = OPEN_STASH.get_ptr_mut(&tid) else {
        // With the path filter on, most misses are opens it dropped at entry.
        if filter().open_prefix_filter == 0 {
            count(P, Counter::StashMiss);
        }
        return Ok(());
    };
    let ev = unsafe { &mut *ev };
    if ret < 0 && filter().drop_failed_opens != 0 {
        count(P, Counter::Filtered);
    } else {
        ev.ret = ret as i32;
        crate::openfacts::read_open_facts(&raw mut *ev, ret, filter().open_file_facts != 0);
        // Only the used part of the path travels (a 30-byte path: 120 bytes, not 592).
        submit_prefix(P, &*ev, lanner_common::open_record_len(ev.path_len as usize));
    }
    let _ = OPEN_STASH.remove(&tid);
    Ok(())
}
