//! `syscalls/sys_exit_connect` as ONE program per connect: the result from the
//! tracepoint record, the socket fd and the destination pointer from the
//! task's saved user registers (`crate::regs`). No enter program, no
//! `CONNECT_STASH`.
//!
//! The pre-filter decides at the first look, here: a failed connect (other
//! than EINPROGRESS) is dropped on its result alone, before the destination
//! is read; a unix or loopback destination no rule needs right after it is
//! read (the same `fill_connect` the pair's enter uses). The record is the
//! pair's `ConnectEvent`, header taken at exit. The destination sockaddr is
//! read from user memory after the kernel copied it (at the start of the
//! syscall): a thread rewriting it during the connect makes the event show
//! the new bytes. The socket's type and local address are kernel state, read
//! as the pair's exit reads them.
//!
//! `lanner::probes::TABLE` prefers this over the `connect_enter`/`connect_exit`
//! pair (its fallback where `bpf_task_pt_regs` is missing or off x86_64).
use aya_ebpf::{macros::tracepoint, programs::TracePointContext};
use lanner_common::{
    counters::{Counter, ProbeId},
    EventKind,
};

use super::{connect_enter::fill_connect, connect_exit::local_addr, sys_ret};
use crate::{
    common::{count, filter, is_self_task, kind_enabled, submit},
    regs::{current_task_btf, syscall_args},
};

const P: ProbeId = ProbeId::ConnectExit;

/// -EINPROGRESS: a non-blocking connect under way, kept like a success.
const EINPROGRESS: i64 = -115;

#[tracepoint(category = "syscalls", name = "sys_exit_connect")]
pub fn connect_regs(ctx: TracePointContext) -> u32 {
    let _ = try_connect_regs(&ctx);
    0
}

fn try_connect_regs(ctx: &TracePointContext) -> Result<(), i64> {
    let f = filter();
    let task = current_task_btf();
    if is_self_task(P, task) || !kind_enabled(P, f, EventKind::Connect) {
        return Ok(());
    }
    let ret: i64 = sys_ret(ctx);
    if ret < 0 && ret != EINPROGRESS && f.drop_failed_connects != 0 {
        count(P, Counter::Filtered);
        return Ok(());
    }
    let [fd, addr, ..] = syscall_args(task)?;
    let Some(ev) = fill_connect(P, f, fd as i64, addr as *const u8)? else {
        return Ok(());
    };
    ev.ret = ret as i32;
    if ret == 0 || ret == EINPROGRESS {
        local_addr(ev);
    }
    submit(P, &*ev);
    Ok(())
}
