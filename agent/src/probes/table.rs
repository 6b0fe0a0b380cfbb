//! The probe table: every program the agent may load, its hook, the lowest
//! kernel it needs and what it replaces, in the order the loader decides them
//! (a preferred probe before the programs it replaces). See `super` for how
//! the table is used.
use super::{Hook, ProbeSpec};

const fn tp(
    program: &'static str,
    category: &'static str,
    name: &'static str,
    min: (u8, u8),
    essential: bool,
) -> ProbeSpec {
    ProbeSpec { program, hook: Hook::TracePoint { category, name }, min_kernel: min, essential, replaces: &[] }
}

/// An exit-only program on `syscalls/<name>` that reads the arguments from the
/// saved user registers (`bpf_task_pt_regs`, 5.15+) in place of the pair it `replaces`.
const fn regs(program: &'static str, name: &'static str, replaces: &'static [&'static str]) -> ProbeSpec {
    ProbeSpec {
        program,
        hook: Hook::TracePoint { category: "syscalls", name },
        min_kernel: (5, 15),
        essential: false,
        replaces,
    }
}

pub const TABLE: &[ProbeSpec] = &[
    // issue 17 (lsm): a successful exec from one BPF LSM program where the kernel
    // runs BPF LSM; sched_exec (below) is its fallback. Failed execs stay on the
    // execve tracepoint pair: the hook runs only past exec's point of no return.
    ProbeSpec {
        program: "lsm_exec",
        hook: Hook::Lsm { hook: "bprm_committed_creds" },
        min_kernel: (5, 8),
        essential: false,
        replaces: &["sched_exec"],
    },
    // Issue 18: exec without an enter program (failed execs read filename and
    // argv through the saved registers); execve_enter + execve_exit are its fallback.
    regs("execve_regs", "sys_exit_execve", &["execve_enter", "execve_exit"]),
    tp("execve_enter", "syscalls", "sys_enter_execve", (5, 8), true),
    tp("sched_exec", "sched", "sched_process_exec", (5, 8), true),
    tp("execve_exit", "syscalls", "sys_exit_execve", (5, 8), false),
    // One program for open/openat/openat2 where trampolines work (5.5+ with
    // BTF); the four tracepoints below are its fallback.
    ProbeSpec {
        program: "openat_fexit",
        hook: Hook::FExit { function: "do_sys_openat2" },
        min_kernel: (5, 8),
        essential: false,
        replaces: &["openat_regs", "openat2_regs", "openat_enter", "openat_exit", "openat2_enter", "openat2_exit"],
    },
    // Issue 18 (one program per syscall on tracepoint hosts): exit-only programs
    // that read the arguments from the saved user registers (x86_64, 5.15+ for
    // bpf_task_pt_regs); the enter+exit pairs below are their fallback.
    regs("openat_regs", "sys_exit_openat", &["openat_enter", "openat_exit"]),
    regs("openat2_regs", "sys_exit_openat2", &["openat2_enter", "openat2_exit"]),
    regs("connect_regs", "sys_exit_connect", &["connect_enter", "connect_exit"]),
    // The numeric-argument syscalls (agent-ebpf `sys_regs`), likewise.
    regs("ptrace_regs", "sys_exit_ptrace", &["ptrace_enter", "ptrace_exit"]),
    regs("socket_regs", "sys_exit_socket", &["socket_enter", "socket_exit"]),
    regs("init_module_regs", "sys_exit_init_module", &["init_module_enter", "init_module_exit"]),
    regs("finit_module_regs", "sys_exit_finit_module", &["finit_module_enter", "finit_module_exit"]),
    regs("delete_module_regs", "sys_exit_delete_module", &["delete_module_enter", "delete_module_exit"]),
    regs("memfd_create_regs", "sys_exit_memfd_create", &["memfd_create_enter", "memfd_create_exit"]),
    regs("unshare_regs", "sys_exit_unshare", &["unshare_enter", "unshare_exit"]),
    regs("setns_regs", "sys_exit_setns", &["setns_enter", "setns_exit"]),
    regs("bpf_regs", "sys_exit_bpf", &["bpf_enter", "bpf_exit"]),
    regs("userfaultfd_regs", "sys_exit_userfaultfd", &["userfaultfd_enter", "userfaultfd_exit"]),
    regs("dup_regs", "sys_exit_dup", &["dup_enter", "dup_exit"]),
    regs("dup2_regs", "sys_exit_dup2", &["dup2_enter", "dup2_exit"]),
    regs("dup3_regs", "sys_exit_dup3", &["dup3_enter", "dup3_exit"]),
    regs("bind_regs", "sys_exit_bind", &["bind_enter", "bind_exit"]),
    regs("listen_regs", "sys_exit_listen", &["listen_enter", "listen_exit"]),
    regs("accept_regs", "sys_exit_accept", &["accept_enter", "accept_exit"]),
    regs("accept4_regs", "sys_exit_accept4", &["accept4_enter", "accept4_exit"]),
    regs("capset_regs", "sys_exit_capset", &["capset_enter", "capset_exit"]),
    regs("setgid_regs", "sys_exit_setgid", &["setgid_enter", "setgid_exit"]),
    regs("setresgid_regs", "sys_exit_setresgid", &["setresgid_enter", "setresgid_exit"]),
    regs("prctl_regs", "sys_exit_prctl", &["prctl_enter", "prctl_exit"]),
    regs("process_vm_readv_regs", "sys_exit_process_vm_readv", &["process_vm_readv_enter", "process_vm_readv_exit"]),
    regs(
        "process_vm_writev_regs",
        "sys_exit_process_vm_writev",
        &["process_vm_writev_enter", "process_vm_writev_exit"],
    ),
    regs(
        "open_by_handle_at_regs",
        "sys_exit_open_by_handle_at",
        &["open_by_handle_at_enter", "open_by_handle_at_exit"],
    ),
    regs("io_uring_setup_regs", "sys_exit_io_uring_setup", &["io_uring_setup_enter", "io_uring_setup_exit"]),
    regs("kill_regs", "sys_exit_kill", &["kill_enter", "kill_exit"]),
    // The path syscalls (agent-ebpf `file_regs`), likewise.
    regs("symlink_regs", "sys_exit_symlink", &["symlink_enter", "symlink_exit"]),
    regs("symlinkat_regs", "sys_exit_symlinkat", &["symlinkat_enter", "symlinkat_exit"]),
    regs("link_regs", "sys_exit_link", &["link_enter", "link_exit"]),
    regs("linkat_regs", "sys_exit_linkat", &["linkat_enter", "linkat_exit"]),
    regs("unlink_regs", "sys_exit_unlink", &["unlink_enter", "unlink_exit"]),
    regs("unlinkat_regs", "sys_exit_unlinkat", &["unlinkat_enter", "unlinkat_exit"]),
    regs("rename_regs", "sys_exit_rename", &["rename_enter", "rename_exit"]),
    regs("renameat_regs", "sys_exit_renameat", &["renameat_enter", "renameat_exit"]),
    regs("renameat2_regs", "sys_exit_renameat2", &["renameat2_enter", "renameat2_exit"]),
    regs("mkdir_regs", "sys_exit_mkdir", &["mkdir_enter", "mkdir_exit"]),
    regs("mkdirat_regs", "sys_exit_mkdirat", &["mkdirat_enter", "mkdirat_exit"]),
    regs("rmdir_regs", "sys_exit_rmdir", &["rmdir_enter", "rmdir_exit"]),
    regs("chroot_regs", "sys_exit_chroot", &["chroot_enter", "chroot_exit"]),
    regs("chmod_regs", "sys_exit_chmod", &["chmod_enter", "chmod_exit"]),
    regs("fchmod_regs", "sys_exit_fchmod", &["fchmod_enter", "fchmod_exit"]),
    regs("fchmodat_regs", "sys_exit_fchmodat", &["fchmodat_enter", "fchmodat_exit"]),
    regs("chown_regs", "sys_exit_chown", &["chown_enter", "chown_exit"]),
    regs("lchown_regs", "sys_exit_lchown", &["lchown_enter", "lchown_exit"]),
    regs("fchown_regs", "sys_exit_fchown", &["fchown_enter", "fchown_exit"]),
    regs("fchownat_regs", "sys_exit_fchownat", &["fchownat_enter", "fchownat_exit"]),
    regs("creat_regs", "sys_exit_creat", &["creat_enter", "creat_exit"]),
    regs("mount_regs", "sys_exit_mount", &["mount_enter", "mount_exit"]),
    regs("umount2_regs", "sys_exit_umount", &["umount2_enter", "umount2_exit"]),
    tp("openat_enter", "syscalls", "sys_enter_openat", (5, 8), false),
    tp("openat_exit", "syscalls", "sys_exit_openat", (5, 8), false),
    tp("openat2_enter", "syscalls", "sys_enter_openat2", (5, 8), false),
    tp("openat2_exit", "syscalls", "sys_exit_openat2", (5, 8), false),
    tp("connect_enter", "syscalls", "sys_enter_connect", (5, 8), false),
    tp("connect_exit", "syscalls", "sys_exit_connect", (5, 8), false),
    // Issue 18: the setuid family without its enter program (the caller's
    // credentials before the change come from the process table in userspace).
    regs("setuid_regs", "sys_exit_setuid", &["setuid_enter", "setuid_exit"]),
    regs("setreuid_regs", "sys_exit_setreuid", &["setreuid_enter", "setreuid_exit"]),
    regs("setresuid_regs", "sys_exit_setresuid", &["setresuid_enter", "setresuid_exit"]),
    tp("setuid_enter", "syscalls", "sys_enter_setuid", (5, 8), false),
    tp("setuid_exit", "syscalls", "sys_exit_setuid", (5, 8), false),
    tp("setreuid_enter", "syscalls", "sys_enter_setreuid", (5, 8), false),
    tp("setreuid_exit", "syscalls", "sys_exit_setreuid", (5, 8), false),
    tp("setresuid_enter", "syscalls", "sys_enter_setresuid", (5, 8), false),
    tp("setresuid_exit", "syscalls", "sys_exit_setresuid", (5, 8), false),
    ProbeSpec {
        program: "sched_fork",
        hook: Hook::RawTracePoint { name: "sched_process_fork" },
        min_kernel: (5, 8),
        essential: false,
        replaces: &[],
    },
    tp("sched_exit", "sched", "sched_process_exit", (5, 8), false),
    // Path syscalls (one record, `file_exit`), then ptrace, socket and the module
    // syscalls (`sys_exit`). The module tracepoints are missing on kernels built
    // without module support: those two probes are skipped with a message.
    tp("symlink_enter", "syscalls", "sys_enter_symlink", (5, 8), false),
    tp("symlink_exit", "syscalls", "sys_exit_symlink", (5, 8), false),
    tp("symlinkat_enter", "syscalls", "sys_enter_symlinkat", (5, 8), false),
    tp("symlinkat_exit", "syscalls", "sys_exit_symlinkat", (5, 8), false),
    tp("link_enter", "syscalls", "sys_enter_link", (5, 8), false),
    tp("link_exit", "syscalls", "sys_exit_link", (5, 8), false),
    tp("linkat_enter", "syscalls", "sys_enter_linkat", (5, 8), false),
    tp("linkat_exit", "syscalls", "sys_exit_linkat", (5, 8), false),
    tp("unlink_enter", "syscalls", "sys_enter_unlink", (5, 8), false),
    tp("unlink_exit", "syscalls", "sys_exit_unlink", (5, 8), false),
    tp("unlinkat_enter", "syscalls", "sys_enter_unlinkat", (5, 8), false),
    tp("unlinkat_exit", "syscalls", "sys_exit_unlinkat", (5, 8), false),
    tp("rename_enter", "syscalls", "sys_enter_rename", (5, 8), false),
    tp("rename_exit", "syscalls", "sys_exit_rename", (5, 8), false),
    tp("renameat_enter", "syscalls", "sys_enter_renameat", (5, 8), false),
    tp("renameat_exit", "syscalls", "sys_exit_renameat", (5, 8), false),
    tp("renameat2_enter", "syscalls", "sys_enter_renameat2", (5, 8), false),
    tp("renameat2_exit", "syscalls", "sys_exit_renameat2", (5, 8), false),
    tp("mkdir_enter", "syscalls", "sys_enter_mkdir", (5, 8), false),
    tp("mkdir_exit", "syscalls", "sys_exit_mkdir", (5, 8), false),
    tp("mkdirat_enter", "syscalls", "sys_enter_mkdirat", (5, 8), false),
    tp("mkdirat_exit", "syscalls", "sys_exit_mkdirat", (5, 8), false),
    tp("rmdir_enter", "syscalls", "sys_enter_rmdir", (5, 8), false),
    tp("rmdir_exit", "syscalls", "sys_exit_rmdir", (5, 8), false),
    tp("chroot_enter", "syscalls", "sys_enter_chroot", (5, 8), false),
    tp("chroot_exit", "syscalls", "sys_exit_chroot", (5, 8), false),
    tp("chmod_enter", "syscalls", "sys_enter_chmod", (5, 8), false),
    tp("chmod_exit", "syscalls", "sys_exit_chmod", (5, 8), false),
    tp("fchmod_enter", "syscalls", "sys_enter_fchmod", (5, 8), false),
    tp("fchmod_exit", "syscalls", "sys_exit_fchmod", (5, 8), false),
    tp("fchmodat_enter", "syscalls", "sys_enter_fchmodat", (5, 8), false),
    tp("fchmodat_exit", "syscalls", "sys_exit_fchmodat", (5, 8), false),
    tp("ptrace_enter", "syscalls", "sys_enter_ptrace", (5, 8), false),
    tp("ptrace_exit", "syscalls", "sys_exit_ptrace", (5, 8), false),
    tp("socket_enter", "syscalls", "sys_enter_socket", (5, 8), false),
    tp("socket_exit", "syscalls", "sys_exit_socket", (5, 8), false),
    tp("init_module_enter", "syscalls", "sys_enter_init_module", (5, 8), false),
    tp("init_module_exit", "syscalls", "sys_exit_init_module", (5, 8), false),
    tp("finit_module_enter", "syscalls", "sys_enter_finit_module", (5, 8), false),
    tp("finit_module_exit", "syscalls", "sys_exit_finit_module", (5, 8), false),
    tp("delete_module_enter", "syscalls", "sys_enter_delete_module", (5, 8), false),
    tp("delete_module_exit", "syscalls", "sys_exit_delete_module", (5, 8), false),
    tp("memfd_create_enter", "syscalls", "sys_enter_memfd_create", (5, 8), false),
    tp("memfd_create_exit", "syscalls", "sys_exit_memfd_create", (5, 8), false),
    tp("unshare_enter", "syscalls", "sys_enter_unshare", (5, 8), false),
    tp("unshare_exit", "syscalls", "sys_exit_unshare", (5, 8), false),
    tp("setns_enter", "syscalls", "sys_enter_setns", (5, 8), false),
    tp("setns_exit", "syscalls", "sys_exit_setns", (5, 8), false),
    // chown family, creat, mount and umount2 (the umount2 syscall's tracepoint is
    // `umount`) use the path record; the rest the numeric one, dup, bind, listen and
    // accept with the fd's type and endpoints.
    tp("chown_enter", "syscalls", "sys_enter_chown", (5, 8), false),
    tp("chown_exit", "syscalls", "sys_exit_chown", (5, 8), false),
    tp("lchown_enter", "syscalls", "sys_enter_lchown", (5, 8), false),
    tp("lchown_exit", "syscalls", "sys_exit_lchown", (5, 8), false),
    tp("fchown_enter", "syscalls", "sys_enter_fchown", (5, 8), false),
    tp("fchown_exit", "syscalls", "sys_exit_fchown", (5, 8), false),
    tp("fchownat_enter", "syscalls", "sys_enter_fchownat", (5, 8), false),
    tp("fchownat_exit", "syscalls", "sys_exit_fchownat", (5, 8), false),
    tp("creat_enter", "syscalls", "sys_enter_creat", (5, 8), false),
    tp("creat_exit", "syscalls", "sys_exit_creat", (5, 8), false),
    tp("mount_enter", "syscalls", "sys_enter_mount", (5, 8), false),
    tp("mount_exit", "syscalls", "sys_exit_mount", (5, 8), false),
    tp("umount2_enter", "syscalls", "sys_enter_umount", (5, 8), false),
    tp("umount2_exit", "syscalls", "sys_exit_umount", (5, 8), false),
    tp("bpf_enter", "syscalls", "sys_enter_bpf", (5, 8), false),
    tp("bpf_exit", "syscalls", "sys_exit_bpf", (5, 8), false),
    tp("userfaultfd_enter", "syscalls", "sys_enter_userfaultfd", (5, 8), false),
    tp("userfaultfd_exit", "syscalls", "sys_exit_userfaultfd", (5, 8), false),
    tp("dup_enter", "syscalls", "sys_enter_dup", (5, 8), false),
    tp("dup_exit", "syscalls", "sys_exit_dup", (5, 8), false),
    tp("dup2_enter", "syscalls", "sys_enter_dup2", (5, 8), false),
    tp("dup2_exit", "syscalls", "sys_exit_dup2", (5, 8), false),
    tp("dup3_enter", "syscalls", "sys_enter_dup3", (5, 8), false),
    tp("dup3_exit", "syscalls", "sys_exit_dup3", (5, 8), false),
    tp("bind_enter", "syscalls", "sys_enter_bind", (5, 8), false),
    tp("bind_exit", "syscalls", "sys_exit_bind", (5, 8), false),
    tp("listen_enter", "syscalls", "sys_enter_listen", (5, 8), false),
    tp("listen_exit", "syscalls", "sys_exit_listen", (5, 8), false),
    tp("accept_enter", "syscalls", "sys_enter_accept", (5, 8), false),
    tp("accept_exit", "syscalls", "sys_exit_accept", (5, 8), false),
    tp("accept4_enter", "syscalls", "sys_enter_accept4", (5, 8), false),
    tp("accept4_exit", "syscalls", "sys_exit_accept4", (5, 8), false),
    tp("capset_enter", "syscalls", "sys_enter_capset", (5, 8), false),
    tp("capset_exit", "syscalls", "sys_exit_capset", (5, 8), false),
    tp("setgid_enter", "syscalls", "sys_enter_setgid", (5, 8), false),
    tp("setgid_exit", "syscalls", "sys_exit_setgid", (5, 8), false),
    tp("setresgid_enter", "syscalls", "sys_enter_setresgid", (5, 8), false),
    tp("setresgid_exit", "syscalls", "sys_exit_setresgid", (5, 8), false),
    tp("prctl_enter", "syscalls", "sys_enter_prctl", (5, 8), false),
    tp("prctl_exit", "syscalls", "sys_exit_prctl", (5, 8), false),
    // Process memory of another process, files by handle (the "Shocker" escape),
    // io_uring rings (whose operations bypass the syscall probes).
    tp("process_vm_readv_enter", "syscalls", "sys_enter_process_vm_readv", (5, 8), false),
    tp("process_vm_readv_exit", "syscalls", "sys_exit_process_vm_readv", (5, 8), false),
    tp("process_vm_writev_enter", "syscalls", "sys_enter_process_vm_writev", (5, 8), false),
    tp("process_vm_writev_exit", "syscalls", "sys_exit_process_vm_writev", (5, 8), false),
    tp("open_by_handle_at_enter", "syscalls", "sys_enter_open_by_handle_at", (5, 8), false),
    tp("open_by_handle_at_exit", "syscalls", "sys_exit_open_by_handle_at", (5, 8), false),
    tp("io_uring_setup_enter", "syscalls", "sys_enter_io_uring_setup", (5, 8), false),
    tp("io_uring_setup_exit", "syscalls", "sys_exit_io_uring_setup", (5, 8), false),
    // Signals sent with kill(2) (`kill`, `pkill`): tkill/tgkill are not captured
    // (runtimes send them constantly: Go's preemption signal).
    tp("kill_enter", "syscalls", "sys_enter_kill", (5, 8), false),
    tp("kill_exit", "syscalls", "sys_exit_kill", (5, 8), false),
    // Issue 18: execveat without an enter program. `exec_rename_regs` marks a
    // successful one from the saved orig_ax while exec renames the task (the
    // syscall's exit reports it as execve); `execveat_regs` emits a failed one
    // from the saved registers. Both need bpf_task_pt_regs (5.15+, x86_64).
    ProbeSpec {
        program: "exec_rename_regs",
        hook: Hook::TracePoint { category: "task", name: "task_rename" },
        min_kernel: (5, 15),
        essential: false,
        replaces: &["execveat_enter"],
    },
    regs("execveat_regs", "sys_exit_execveat", &["execveat_exit"]),
    // sysc (issue 14 leftovers): execveat as its own event type (the exec family:
    // always attached, like execve).
    tp("execveat_enter", "syscalls", "sys_enter_execveat", (5, 8), false),
    tp("execveat_exit", "syscalls", "sys_exit_execveat", (5, 8), false),
];

/// Does this program read syscall arguments from x86_64 saved registers
/// (agent-ebpf `regs`; every such program is named `*_regs`)? On another
/// architecture they are not loaded, their fallbacks are.
pub(super) fn reads_x86_regs(program: &str) -> bool {
    program.ends_with("_regs")
}
