//! `syscalls/sys_enter_ptrace`: stash request, pid, addr and data; `sys_exit` emits.
use aya_ebpf::{macros::tracepoint, programs::TracePointContext};
use lanner_common::sys;

use super::{arg, stash::stash_sys};

#[tracepoint(category = "syscalls", name = "sys_enter_ptrace")]
pub fn ptrace_enter(ctx: TracePointContext) -> u32 {
    let _ = try_ptrace(&ctx);
    0
}

#[inline(always)]
fn try_ptrace(ctx: &TracePointContext) -> Result<(), i64> {
    stash_sys(sys::PTRACE, [arg(ctx, 0), arg(ctx, 1), arg(ctx, 2), arg(ctx, 3)])
}
