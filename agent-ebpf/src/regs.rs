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
use aya_ebpf::helpers::generated::{bpf_get_current_task_btf, bpf_task_pt_regs};

/// Indices of the argument registers in x86_64 `struct pt_regs`, read as
/// `u64`s (r15 r14 r13 r12 bp bx r11 r10 r9 r8 ax cx dx si di ...).
const DI: usize = 14;
const SI: usize = 13;
const DX: usize = 12;
const R10: usize = 7;
const R8: usize = 9;
/// The syscall number the task entered with (`orig_ax`).
const ORIG_AX: usize = 15;
/// x86_64 `__NR_execveat`.
pub const NR_EXECVEAT: u64 = 322;

/// The current task, BTF-typed: what [`syscall_args`] needs, fetched once per
/// run so the own-pid check can use it too (`common::is_self_task`).
#[inline(always)]
pub fn current_task_btf() -> *const u8 {
    unsafe { bpf_get_current_task_btf() as *const u8 }
}

/// The first five syscall arguments of `task` (di, si, dx, r10, r8), which
/// must be [`current_task_btf`].
///
/// `bpf_task_pt_regs` returns a BTF-typed pointer, so the verifier lets the
/// program load the fields directly (the JIT guards each load like a probe
/// read): five loads instead of a `bpf_probe_read_kernel` call.
#[inline(always)]
pub fn syscall_args(task: *const u8) -> Result<[u64; 5], i64> {
    let regs = unsafe { bpf_task_pt_regs(task as *mut _) } as *const u64;
    if regs.is_null() {
        return Err(0);
    }
    // SAFETY: `regs` is the task's `pt_regs` (BTF-typed); the indices are fields.
    unsafe {
        Ok([
            core::ptr::read_volatile(regs.add(DI)),
            core::ptr::read_volatile(regs.add(SI)),
            core::ptr::read_volatile(regs.add(DX)),
            core::ptr::read_volatile(regs.add(R10)),
            core::ptr::read_volatile(regs.add(R8)),
        ])
    }
}

/// The number of the syscall `task` (which must be [`current_task_btf`]) is
/// in, from its saved `orig_ax`. During an exec it is the syscall the task
/// entered with only until the ELF loader's `SET_PERSONALITY` sets it to
/// execve's (x86_64 "pretends" every 64-bit exec came from execve): so before
/// `sched_process_exec`, not at it.
#[inline(always)]
pub fn syscall_nr(task: *const u8) -> Result<u64, i64> {
    let regs = unsafe { bpf_task_pt_regs(task as *mut _) } as *const u64;
    if regs.is_null() {
        return Err(0);
    }
    // SAFETY: as in `syscall_args`.
    Ok(unsafe { core::ptr::read_volatile(regs.add(ORIG_AX)) })
}
