//! One hook per file. Syscall tracepoints stash their arguments at entry and
//! emit at exit (so the event carries the return value); scheduler hooks emit
//! directly. `lanner::probes::TABLE` in userspace decides which load. The path
//! syscalls (symlink, link, unlink, rename, mkdir, rmdir, chmod) share one record
//! and one exit path (`file_enter`, `file_exit`); ptrace, socket, the
//! module syscalls, memfd_create, unshare and setns another (`stash::stash_sys`,
//! `sys_exit`); chown, creat, mount, umount2 and chroot use the
//! path record, bpf, userfaultfd, dup, bind/listen/accept, setgid, capset, prctl,
//! process_vm_readv/writev, open_by_handle_at, io_uring_setup and kill the
//! numeric one (the fd syscalls with `fdinfo`'s reading of what the fd refers to).
//! Where the kernel has BPF trampolines, `openat_fexit` is one program per open
//! (arguments and result together, no stash) and the probe table prefers it over
//! the openat tracepoint pairs. Where BPF LSM runs, `lsm_exec` (on
//! `bprm_committed_creds`) emits successful execs in place of `sched_exec`.
//! On tracepoint-only x86_64 hosts (5.15+), `openat_regs`, `connect_regs`,
//! `execve_regs`, the `sys_regs` and the `file_regs` programs are one exit
//! program per open / connect / exec / numeric-argument / path syscall that
//! reads the arguments from the saved user registers (`crate::regs`); the
//! enter+exit pairs are their fallback. `floor` is an empty program for the benchmark's
//! floor rows, never attached by the agent.
/// One `syscalls/<tracepoint>` program per entry, each a thin call of the
/// family's shared `try_` function with its `lanner_common::sys` id:
/// `syscall_programs! { try_fn; program => "tracepoint", ID; ... }`.
macro_rules! syscall_programs {
    ($try:ident; $($f:ident => $tp:literal, $id:ident;)*) => {$(
        #[aya_ebpf::macros::tracepoint(category = "syscalls", name = $tp)]
        pub fn $f(ctx: aya_ebpf::programs::TracePointContext) -> u32 {
            let _ = $try(&ctx, lanner_common::sys::$id);
            0
        }
    )*};
}

pub mod bpf_enter;
pub mod connect_enter;
pub mod connect_exit;
pub mod connect_regs;
pub mod cred_enter;
pub mod exec_rename;
pub mod execve_enter;
pub mod execve_exit;
pub mod execve_regs;
pub mod execveat_enter;
pub mod fd_enter;
pub mod file_enter;
pub mod file_exit;
pub mod file_regs;
pub mod floor;
pub mod inject_enter;
pub mod lsm_exec;
pub mod module_enter;
pub mod net_enter;
pub mod ns_enter;
pub mod openat2_enter;
pub mod openat_enter;
pub mod openat_exit;
pub mod openat_fexit;
pub mod openat_regs;
pub mod ptrace_enter;
pub mod sched_exec;
pub mod sched_exit;
pub mod sched_fork;
pub mod setuid_enter;
pub mod setuid_exit;
pub mod setuid_regs;
pub mod signal_enter;
pub mod socket_enter;
pub mod stash;
pub mod sys_exit;
pub mod sys_regs;

/// Byte offset of syscall argument `n` in a `sys_enter_*` tracepoint record.
pub const fn sys_arg(n: usize) -> usize {
    16 + 8 * n
}
/// Byte offset of `ret` in a `sys_exit_*` tracepoint record.
pub const SYS_RET: usize = 16;

/// A field of the tracepoint record, loaded straight from the context. The
/// verifier accepts aligned reads of a tracepoint program's context at a
/// constant offset, so this is one load; aya's `TracePointContext::read_at` is
/// a `bpf_probe_read_kernel` call, which measured ~25 ns per field here.
#[inline(always)]
pub fn tp_field<T: Copy>(ctx: &aya_ebpf::programs::TracePointContext, off: usize) -> T {
    use aya_ebpf::EbpfContext;
    // SAFETY: `off` is a constant within the record, aligned for `T`.
    unsafe { core::ptr::read_volatile((ctx.as_ptr() as *const u8).add(off).cast::<T>()) }
}

/// Syscall argument `n` of a `sys_enter_*` tracepoint record.
#[inline(always)]
pub fn arg<T: Copy>(ctx: &aya_ebpf::programs::TracePointContext, n: usize) -> T {
    tp_field(ctx, sys_arg(n))
}

/// The result of a `sys_exit_*` tracepoint record.
#[inline(always)]
pub fn sys_ret(ctx: &aya_ebpf::programs::TracePointContext) -> i64 {
    tp_field(ctx, SYS_RET)
}
