//! The syscall's arguments at its `sys_exit_*` tracepoint, read from the
//! task's saved user registers (`bpf_task_pt_regs`: the `pt_regs` at the top
//! of the kernel stack, 5.15+), so one exit program sees arguments and result
//! together and needs no enter program or stash map.
//!
//! x86_64 only: the syscall ABI passes arguments in di, si, dx, r10, r8, r9,
//! and the kernel leaves those saved registers untouched until the syscall
//! returns (only ax takes the result). On arm64 x0 is overwritten by the
//! result (orig_x0 keeps it); this object is not built for arm64 hosts, and
//! userspace loads these programs on x86_64 only (`lanner::probes::TABLE`).
//! A kernel without the helper rejects the program at load, and the table
//! falls back to the enter+exit pair.
//!
//! Registers hold values, not memory: a user string or struct an argument
//! points to is read at exit, after the kernel used it, and another thread may
//! have rewritten it in between (see docs/probes.md, "exit-only programs").
use aya_ebpf::helpers::{
    bpf_probe_read_kernel,
    generated::{bpf_get_current_task_btf, bpf_task_pt_regs},
};

/// x86_64 `struct pt_regs` from r10 (byte 56) to di (byte 112), in memory order.
#[repr(C)]
#[derive(Clone, Copy)]
struct ArgRegs {
    r10: u64,
    _r9: u64,
    _r8: u64,
    _ax: u64,
    _cx: u64,
    dx: u64,
    si: u64,
    di: u64,
}

/// Byte offset of r10 in x86_64 `struct pt_regs` (r15 r14 r13 r12 bp bx r11 come first).
const R10_OFFSET: usize = 56;

/// The first four syscall arguments of the current task (di, si, dx, r10).
#[inline(always)]
pub fn syscall_args() -> Result<[u64; 4], i64> {
    let regs = unsafe { bpf_task_pt_regs(bpf_get_current_task_btf()) } as *const u8;
    if regs.is_null() {
        return Err(0);
    }
    let r: ArgRegs = unsafe { bpf_probe_read_kernel(regs.add(R10_OFFSET) as *const ArgRegs)? };
    Ok([r.di, r.si, r.dx, r.r10])
}
