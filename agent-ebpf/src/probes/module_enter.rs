//! `syscalls/sys_enter_init_module`, `finit_module`, `delete_module`: stash the
//! numeric arguments and the module parameters (or the name to unload); `sys_exit`
//! emits. Kernels built without module support have none of these tracepoints:
//! the probe table then skips them.
use aya_ebpf::{macros::tracepoint, programs::TracePointContext};
use lanner_common::sys;

use super::{arg, stash::stash_sys};

#[tracepoint(category = "syscalls", name = "sys_enter_init_module")]
pub fn init_module_enter(ctx: TracePointContext) -> u32 {
    let _ = try_init_module(&ctx);
    0
}

#[inline(always)]
fn try_init_module(ctx: &TracePointContext) -> Result<(), i64> {
    stash_sys(sys::INIT_MODULE, [arg(ctx, 0), arg(ctx, 1), arg(ctx, 2), 0])
}

#[tracepoint(category = "syscalls", name = "sys_enter_finit_module")]
pub fn finit_module_enter(ctx: TracePointContext) -> u32 {
    let _ = try_finit_module(&ctx);
    0
}

#[inline(always)]
fn try_finit_module(ctx: &TracePointContext) -> Result<(), i64> {
    stash_sys(sys::FINIT_MODULE, [arg(ctx, 0), arg(ctx, 1), arg(ctx, 2), 0])
}

#[tracepoint(category = "syscalls", name = "sys_enter_delete_module")]
pub fn delete_module_enter(ctx: TracePointContext) -> u32 {
    let _ = try_delete_module(&ctx);
    0
}

#[inline(always)]
fn try_delete_module(ctx: &TracePointContext) -> Result<(), i64> {
    stash_sys(sys::DELETE_MODULE, [arg(ctx, 0), arg(ctx, 1), 0, 0])
}
