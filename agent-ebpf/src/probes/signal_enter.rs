//! `syscalls/sys_enter_kill`: stash the target pid and the signal; `sys_exit`
//! emits (after the pre-filter's signal check). The fallback of `kill_regs`
//! before 5.15.
use aya_ebpf::{macros::tracepoint, programs::TracePointContext};
use lanner_common::sys;

use super::{arg, stash::stash_sys};

#[tracepoint(category = "syscalls", name = "sys_enter_kill")]
pub fn kill_enter(ctx: TracePointContext) -> u32 {
    let _ = try_kill(&ctx);
    0
}

#[inline(always)]
fn try_kill(ctx: &TracePointContext) -> Result<(), i64> {
    stash_sys(sys::KILL, [arg(ctx, 0), arg(ctx, 1), 0, 0])
}
