//! The benchmark's floor programs, never in the agent's probe table.
//! `cargo xtask bench` attaches them (through the hidden `lanner floor`
//! subcommand) on the hooks Lanner uses, to measure what a syscall pays before
//! Lanner's own decisions:
//! - `floor_tp`: EMPTY, what one program run costs at all (open, connect, exec);
//! - `floor_path`: on `sys_exit_openat`, only what any agent reporting open
//!   paths must do: fetch the task, its saved registers and copy the path
//!   from user memory (the first three steps of `openat_regs`), nothing else;
//! - `floor_raw`: EMPTY on the raw `sys_exit` tracepoint, the other way to hook
//!   syscall exits: it runs at every syscall's exit, traced or not.
use aya_ebpf::{helpers::bpf_probe_read_user_str_bytes, macros::tracepoint, programs::TracePointContext};

use crate::{
    maps::OPEN_SCRATCH,
    regs::{current_task_btf, syscall_args},
};

#[tracepoint]
pub fn floor_tp(_ctx: TracePointContext) -> u32 {
    0
}

#[tracepoint]
pub fn floor_path(_ctx: TracePointContext) -> u32 {
    let _ = try_floor_path();
    0
}

fn try_floor_path() -> Result<(), i64> {
    let [_, path, ..] = syscall_args(current_task_btf())?;
    let ev = unsafe { &mut *OPEN_SCRATCH.get_ptr_mut(0).ok_or(0i64)? };
    let _ = unsafe { bpf_probe_read_user_str_bytes(path as *const u8, &mut ev.path) };
    Ok(())
}

/// EMPTY, on the raw `sys_exit` tracepoint (every syscall's exit, no record
/// built): what a generic exit dispatcher (one program for all syscalls, the
/// shape of Falco's modern probe) pays before looking at anything.
#[aya_ebpf::macros::raw_tracepoint(tracepoint = "sys_exit")]
pub fn floor_raw(_ctx: aya_ebpf::programs::RawTracePointContext) -> u32 {
    0
}
