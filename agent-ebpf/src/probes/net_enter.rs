//! `syscalls/sys_enter_bind`, `listen`, `accept`, `accept4`: stash the socket fd (and
//! listen's backlog, accept4's flags); `sys_exit` adds the socket's endpoints (for
//! accept: the new connection's, so the peer address is `fd.cip`/`fd.cport`).
use aya_ebpf::{macros::tracepoint, programs::TracePointContext};
use lanner_common::sys;

use super::{arg, stash::stash_sys};

#[tracepoint(category = "syscalls", name = "sys_enter_bind")]
pub fn bind_enter(ctx: TracePointContext) -> u32 {
    let _ = try_bind(&ctx);
    0
}

#[inline(always)]
fn try_bind(ctx: &TracePointContext) -> Result<(), i64> {
    stash_sys(sys::BIND, [arg(ctx, 0), 0, 0, 0])
}

#[tracepoint(category = "syscalls", name = "sys_enter_listen")]
pub fn listen_enter(ctx: TracePointContext) -> u32 {
    let _ = try_listen(&ctx);
    0
}

#[inline(always)]
fn try_listen(ctx: &TracePointContext) -> Result<(), i64> {
    stash_sys(sys::LISTEN, [arg(ctx, 0), arg(ctx, 1), 0, 0])
}

#[tracepoint(category = "syscalls", name = "sys_enter_accept")]
pub fn accept_enter(ctx: TracePointContext) -> u32 {
    let _ = try_accept(&ctx);
    0
}

#[inline(always)]
fn try_accept(ctx: &TracePointContext) -> Result<(), i64> {
    stash_sys(sys::ACCEPT, [arg(ctx, 0), 0, 0, 0])
}

#[tracepoint(category = "syscalls", name = "sys_enter_accept4")]
pub fn accept4_enter(ctx: TracePointContext) -> u32 {
    let _ = try_accept4(&ctx);
    0
}

#[inline(always)]
fn try_accept4(ctx: &TracePointContext) -> Result<(), i64> {
    stash_sys(sys::ACCEPT4, [arg(ctx, 0), 0, 0, arg(ctx, 3)])
}
