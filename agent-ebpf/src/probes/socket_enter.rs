//! `syscalls/sys_enter_socket`: stash domain, type and protocol; `sys_exit` emits
//! them with the new socket's fd.
use aya_ebpf::{macros::tracepoint, programs::TracePointContext};
use lanner_common::sys;

use super::{arg, stash::stash_sys};

#[tracepoint(category = "syscalls", name = "sys_enter_socket")]
pub fn socket_enter(ctx: TracePointContext) -> u32 {
    let _ = try_socket(&ctx);
    0
}

#[inline(always)]
fn try_socket(ctx: &TracePointContext) -> Result<(), i64> {
    stash_sys(sys::SOCKET, [arg(ctx, 0), arg(ctx, 1), arg(ctx, 2), 0])
}
