//! `syscalls/sys_enter_bpf` (the command) and `sys_enter_userfaultfd` (the flags);
//! `sys_exit` emits them with the result (a new fd or -errno).
use aya_ebpf::{macros::tracepoint, programs::TracePointContext};
use lanner_common::sys;

use super::{arg, stash::stash_sys};

#[tracepoint(category = "syscalls", name = "sys_enter_bpf")]
pub fn bpf_enter(ctx: TracePointContext) -> u32 {
    let _ = try_bpf(&ctx);
    0
}

#[inline(always)]
fn try_bpf(ctx: &TracePointContext) -> Result<(), i64> {
    stash_sys(sys::BPF, [arg(ctx, 0), 0, 0, 0])
}

#[tracepoint(category = "syscalls", name = "sys_enter_userfaultfd")]
pub fn userfaultfd_enter(ctx: TracePointContext) -> u32 {
    let _ = try_userfaultfd(&ctx);
    0
}

#[inline(always)]
fn try_userfaultfd(ctx: &TracePointContext) -> Result<(), i64> {
    stash_sys(sys::USERFAULTFD, [arg(ctx, 0), 0, 0, 0])
}
