//! `syscalls/sys_enter_process_vm_readv`, `process_vm_writev` (the target pid),
//! `open_by_handle_at` (mount fd and flags) and `io_uring_setup` (entries and
//! the params pointer, read at exit): stash them; `sys_exit` emits. The
//! fallback of their `sys_regs` programs before 5.15.
use aya_ebpf::{macros::tracepoint, programs::TracePointContext};
use lanner_common::sys;

use super::{arg, stash::stash_sys};

#[tracepoint(category = "syscalls", name = "sys_enter_process_vm_readv")]
pub fn process_vm_readv_enter(ctx: TracePointContext) -> u32 {
    let _ = stash_sys(sys::PROCESS_VM_READV, [arg(&ctx, 0), 0, 0, 0]);
    0
}

#[tracepoint(category = "syscalls", name = "sys_enter_process_vm_writev")]
pub fn process_vm_writev_enter(ctx: TracePointContext) -> u32 {
    let _ = stash_sys(sys::PROCESS_VM_WRITEV, [arg(&ctx, 0), 0, 0, 0]);
    0
}

#[tracepoint(category = "syscalls", name = "sys_enter_open_by_handle_at")]
pub fn open_by_handle_at_enter(ctx: TracePointContext) -> u32 {
    let _ = stash_sys(sys::OPEN_BY_HANDLE_AT, [arg(&ctx, 0), 0, arg(&ctx, 2), 0]);
    0
}

#[tracepoint(category = "syscalls", name = "sys_enter_io_uring_setup")]
pub fn io_uring_setup_enter(ctx: TracePointContext) -> u32 {
    let _ = stash_sys(sys::IO_URING_SETUP, [arg(&ctx, 0), arg(&ctx, 1), 0, 0]);
    0
}
