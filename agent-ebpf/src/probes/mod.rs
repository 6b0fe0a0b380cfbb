//! One hook per file. Syscall tracepoints stash their arguments at entry and
//! emit at exit (so the event carries the return value); scheduler hooks emit
//! directly. `lanner::probes::TABLE` in userspace decides which load.
pub mod connect_enter;
pub mod connect_exit;
pub mod execve_enter;
pub mod execve_exit;
pub mod openat2_enter;
pub mod openat_enter;
pub mod openat_exit;
pub mod sched_exec;
pub mod sched_exit;
pub mod sched_fork;
pub mod setuid_enter;
pub mod setuid_exit;

/// Byte offset of syscall argument `n` in a `sys_enter_*` tracepoint record.
pub const fn sys_arg(n: usize) -> usize {
    16 + 8 * n
}
/// Byte offset of `ret` in a `sys_exit_*` tracepoint record.
pub const SYS_RET: usize = 16;
