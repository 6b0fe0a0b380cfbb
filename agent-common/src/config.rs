//! Configuration the agent writes into the probes' `.rodata` before load.
//!
//! Rust eBPF has no CO-RE field relocations, so the agent reads struct member
//! offsets from the running kernel's BTF (/sys/kernel/btf/vmlinux) and passes
//! them here; a missing member is `OFFSET_NONE` and the probe skips that read.

/// Offset not available on this kernel.
pub const OFFSET_NONE: u32 = u32::MAX;

/// Byte offsets of the kernel struct members the probes read.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KernelOffsets {
    pub task_pid: u32,
    pub task_tgid: u32,
    pub task_real_parent: u32,
    pub task_exit_code: u32,
    pub task_loginuid: u32,
    pub task_signal: u32,
    pub signal_tty: u32,
    pub tty_index: u32,
    pub tty_driver: u32,
    pub driver_major: u32,
    pub driver_minor_start: u32,
    pub task_mm: u32,
    pub mm_arg_start: u32,
    pub mm_arg_end: u32,
    /// `task_struct.comm`, `cred.uid`, `cred.gid`: the record header from
    /// plain loads ([`ProbeConfig::direct`]) instead of helper calls.
    pub task_comm: u32,
    pub cred_uid: u32,
    pub cred_gid: u32,
}

impl KernelOffsets {
    pub const NONE: KernelOffsets = KernelOffsets {
        task_pid: OFFSET_NONE,
        task_tgid: OFFSET_NONE,
        task_real_parent: OFFSET_NONE,
        task_exit_code: OFFSET_NONE,
        task_loginuid: OFFSET_NONE,
        task_signal: OFFSET_NONE,
        signal_tty: OFFSET_NONE,
        tty_index: OFFSET_NONE,
        tty_driver: OFFSET_NONE,
        driver_major: OFFSET_NONE,
        driver_minor_start: OFFSET_NONE,
        task_mm: OFFSET_NONE,
        mm_arg_start: OFFSET_NONE,
        mm_arg_end: OFFSET_NONE,
        task_comm: OFFSET_NONE,
        cred_uid: OFFSET_NONE,
        cred_gid: OFFSET_NONE,
    };
}

/// Offsets of the members `sched_process_exec` reads about the new image and
/// the task (exe file path, inode, credentials, session and pid-namespace ids,
/// environment). `inode_*time_nsec` is the nanoseconds member (or `sec + 8` on
/// kernels with a `timespec64`); `ovl_upperdentry` is relative to the overlay
/// inode's embedded `vfs_inode`.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ExeOffsets {
    pub task_cred: u32,
    pub cred_cap_inheritable: u32,
    pub cred_cap_permitted: u32,
    pub cred_cap_effective: u32,
    pub cred_fsuid: u32,
    pub cred_fsgid: u32,
    pub task_fs: u32,
    pub fs_root: u32,
    pub task_thread_pid: u32,
    pub task_group_leader: u32,
    pub task_start_boottime: u32,
    pub signal_pids: u32,
    pub pid_level: u32,
    pub pid_numbers: u32,
    pub mm_exe_file: u32,
    pub mm_env_start: u32,
    pub mm_env_end: u32,
    pub file_f_path: u32,
    pub file_f_inode: u32,
    pub dentry_d_parent: u32,
    pub dentry_d_name: u32,
    pub dentry_d_hash: u32,
    pub mount_mnt: u32,
    pub mount_mnt_parent: u32,
    pub mount_mnt_mountpoint: u32,
    pub vfsmount_mnt_root: u32,
    pub inode_i_ino: u32,
    pub inode_i_mode: u32,
    pub inode_i_uid: u32,
    pub inode_i_gid: u32,
    pub inode_i_sb: u32,
    pub inode_ctime_sec: u32,
    pub inode_ctime_nsec: u32,
    pub inode_mtime_sec: u32,
    pub inode_mtime_nsec: u32,
    pub sb_s_magic: u32,
    pub ovl_upperdentry: u32,
    /// `fs_struct.pwd` (a `struct path`): the working directory, for `proc.cwd`.
    pub fs_pwd: u32,
    /// `dentry.d_inode` and `super_block.s_dev`: the root directory's identity.
    pub dentry_d_inode: u32,
    pub sb_s_dev: u32,
    /// `signal_struct.rlim[RLIMIT_NOFILE].rlim_cur`: the open-files limit (`proc.fdlimit`).
    pub signal_rlim_nofile: u32,
}

impl ExeOffsets {
    pub const NONE: ExeOffsets = ExeOffsets {
        task_cred: OFFSET_NONE,
        cred_cap_inheritable: OFFSET_NONE,
        cred_cap_permitted: OFFSET_NONE,
        cred_cap_effective: OFFSET_NONE,
        cred_fsuid: OFFSET_NONE,
        cred_fsgid: OFFSET_NONE,
        task_fs: OFFSET_NONE,
        fs_root: OFFSET_NONE,
        task_thread_pid: OFFSET_NONE,
        task_group_leader: OFFSET_NONE,
        task_start_boottime: OFFSET_NONE,
        signal_pids: OFFSET_NONE,
        pid_level: OFFSET_NONE,
        pid_numbers: OFFSET_NONE,
        mm_exe_file: OFFSET_NONE,
        mm_env_start: OFFSET_NONE,
        mm_env_end: OFFSET_NONE,
        file_f_path: OFFSET_NONE,
        file_f_inode: OFFSET_NONE,
        dentry_d_parent: OFFSET_NONE,
        dentry_d_name: OFFSET_NONE,
        dentry_d_hash: OFFSET_NONE,
        mount_mnt: OFFSET_NONE,
        mount_mnt_parent: OFFSET_NONE,
        mount_mnt_mountpoint: OFFSET_NONE,
        vfsmount_mnt_root: OFFSET_NONE,
        inode_i_ino: OFFSET_NONE,
        inode_i_mode: OFFSET_NONE,
        inode_i_uid: OFFSET_NONE,
        inode_i_gid: OFFSET_NONE,
        inode_i_sb: OFFSET_NONE,
        inode_ctime_sec: OFFSET_NONE,
        inode_ctime_nsec: OFFSET_NONE,
        inode_mtime_sec: OFFSET_NONE,
        inode_mtime_nsec: OFFSET_NONE,
        sb_s_magic: OFFSET_NONE,
        ovl_upperdentry: OFFSET_NONE,
        fs_pwd: OFFSET_NONE,
        dentry_d_inode: OFFSET_NONE,
        sb_s_dev: OFFSET_NONE,
        signal_rlim_nofile: OFFSET_NONE,
    };
}

/// Offsets `sys_enter_connect` follows from the fd to its socket's type
/// (`task->files->fdt->fd[fd]->private_data` is the `struct socket`), and the
/// `struct sock_common` members the fd-info reader (dup, accept, bind, listen) reads
/// for the endpoints (`sock_common` is the first member of `struct sock`).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SockOffsets {
    pub task_files: u32,
    pub files_fdt: u32,
    pub fdtable_fd: u32,
    pub file_private_data: u32,
    pub socket_type: u32,
    pub socket_sk: u32,
    pub skc_family: u32,
    pub skc_daddr: u32,
    pub skc_rcv_saddr: u32,
    pub skc_dport: u32,
    pub skc_num: u32,
    pub skc_v6_daddr: u32,
    pub skc_v6_rcv_saddr: u32,
    /// `file.f_mode` (`FMODE_CREATED` of an open's new file).
    pub file_f_mode: u32,
}

impl SockOffsets {
    pub const NONE: SockOffsets = SockOffsets {
        task_files: OFFSET_NONE,
        files_fdt: OFFSET_NONE,
        fdtable_fd: OFFSET_NONE,
        file_private_data: OFFSET_NONE,
        socket_type: OFFSET_NONE,
        socket_sk: OFFSET_NONE,
        skc_family: OFFSET_NONE,
        skc_daddr: OFFSET_NONE,
        skc_rcv_saddr: OFFSET_NONE,
        skc_dport: OFFSET_NONE,
        skc_num: OFFSET_NONE,
        skc_v6_daddr: OFFSET_NONE,
        skc_v6_rcv_saddr: OFFSET_NONE,
        file_f_mode: OFFSET_NONE,
    };
}

/// Offsets the preferred (BPF LSM, fexit) programs read. `bprm_*`: the `struct
/// linux_binprm` members of `lsm/bprm_committed_creds`, where the new image's argument
/// strings are in place from `p` (argc argv strings, then envc envp strings, then the
/// filename at `exec`) but `mm->arg_start` is not set yet. `task_stack`: `task_struct.stack`, whose top holds
/// the syscall's `pt_regs` (`fexit/do_sys_openat2` reads which syscall called it).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HookOffsets {
    pub bprm_p: u32,
    pub bprm_argc: u32,
    pub bprm_envc: u32,
    pub bprm_exec: u32,
    pub bprm_filename: u32,
    pub task_stack: u32,
}

impl HookOffsets {
    pub const NONE: HookOffsets = HookOffsets {
        bprm_p: OFFSET_NONE,
        bprm_argc: OFFSET_NONE,
        bprm_envc: OFFSET_NONE,
        bprm_exec: OFFSET_NONE,
        bprm_filename: OFFSET_NONE,
        task_stack: OFFSET_NONE,
    };
}

/// The chain from a task to its cgroup's id in ONE cgroup v1 hierarchy:
/// `task->cgroups` (`struct css_set`) `->subsys[v1_subsys]` (that controller's
/// `cgroup_subsys_state`) `->cgroup->kn->id`. On hybrid-cgroup hosts a runtime
/// may place a container in the v1 hierarchies only, where the v2 id every
/// event carries cannot name it; with this the header carries both and userspace
/// never reads `/proc/PID/cgroup` per process. `v1_subsys` is the controller's
/// `enum cgroup_subsys_id` value; `OFFSET_NONE` (pure v2 hosts) skips the reads.
/// With [`ProbeConfig::direct`] the chain is five plain loads through the
/// BTF-typed task pointer instead of five `bpf_probe_read_kernel` calls.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CgroupOffsets {
    pub task_cgroups: u32,
    pub css_set_subsys: u32,
    pub css_cgroup: u32,
    pub cgroup_kn: u32,
    pub kn_id: u32,
    pub v1_subsys: u32,
    /// `css_set.dfl_cgrp`: the v2 cgroup id as plain loads
    /// (`task->cgroups->dfl_cgrp->kn->id`, what `bpf_get_current_cgroup_id` reads).
    pub css_set_dfl_cgrp: u32,
    pub _pad: u32,
}

impl CgroupOffsets {
    pub const NONE: CgroupOffsets = CgroupOffsets {
        task_cgroups: OFFSET_NONE,
        css_set_subsys: OFFSET_NONE,
        css_cgroup: OFFSET_NONE,
        cgroup_kn: OFFSET_NONE,
        kn_id: OFFSET_NONE,
        v1_subsys: OFFSET_NONE,
        css_set_dfl_cgrp: OFFSET_NONE,
        _pad: 0,
    };
}

/// Global probe configuration (the `LANNER_CONFIG` global in the object).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProbeConfig {
    /// The agent's own process id: its events are dropped in the kernel.
    pub agent_tgid: u32,
    /// Wake the reader only once this many bytes are pending (0 = every event).
    pub wakeup_bytes: u32,
    /// Non-zero (6.1+): task, credential, inode and cgroup reads are plain
    /// loads through BTF-typed pointers (`bpf_get_current_task_btf`) instead of
    /// `bpf_probe_read_kernel` calls. The verifier checks each load against the
    /// kernel's BTF, the offsets being constants of the frozen `.rodata` it
    /// folds; on older kernels that branch is dead code it never visits.
    pub direct: u32,
    pub _pad: u32,
    pub offsets: KernelOffsets,
    pub exe: ExeOffsets,
    pub sock: SockOffsets,
    pub hook: HookOffsets,
    pub cgroup: CgroupOffsets,
}

impl ProbeConfig {
    pub const DEFAULT: ProbeConfig = ProbeConfig {
        agent_tgid: 0,
        wakeup_bytes: 0,
        direct: 0,
        _pad: 0,
        offsets: KernelOffsets::NONE,
        exe: ExeOffsets::NONE,
        sock: SockOffsets::NONE,
        hook: HookOffsets::NONE,
        cgroup: CgroupOffsets::NONE,
    };
}

const _: () = assert!(core::mem::size_of::<KernelOffsets>() == 68);
const _: () = assert!(core::mem::size_of::<ExeOffsets>() == 41 * 4);
const _: () = assert!(core::mem::size_of::<SockOffsets>() == 14 * 4);
const _: () = assert!(core::mem::size_of::<HookOffsets>() == 6 * 4);
const _: () = assert!(core::mem::size_of::<CgroupOffsets>() == 8 * 4);
const _: () = assert!(core::mem::size_of::<ProbeConfig>() == 84 + 41 * 4 + 14 * 4 + 6 * 4 + 8 * 4);

#[cfg(feature = "user")]
// SAFETY: repr(C), Copy, only u32 fields.
unsafe impl aya::Pod for ProbeConfig {}

/// Runtime pre-filter, in the `FILTER` array map (one entry), rewritten by the
/// agent whenever the rule set changes. Derived from the rules: event types no
/// rule needs are not emitted, and opens can be limited to path prefixes.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FilterConfig {
    /// Bit `EventKind as u16` set = do NOT emit that kind (a zeroed map entry
    /// passes everything). Exec, fork and exit are always emitted: the process
    /// table needs them.
    pub kinds_off: u32,
    /// Non-zero: drop opens that failed (ret < 0).
    pub drop_failed_opens: u32,
    /// Non-zero: emit an absolute-path open only if its path has a prefix in
    /// `OPEN_PREFIXES` (relative paths always pass).
    pub open_prefix_filter: u32,
    /// With `open_prefix_filter`: still emit every open for writing.
    pub open_writes_always: u32,
    /// Non-zero: drop connects that failed with an error other than EINPROGRESS.
    pub drop_failed_connects: u32,
    /// Non-zero: drop connects to loopback (127.0.0.0/8, ::1, ::ffff:127.0.0.0/104).
    pub drop_loopback_connects: u32,
    /// Non-zero: drop unix-socket connects.
    pub drop_unix_connects: u32,
    /// Bits `EXEC_SKIP_*` set = the exec programs skip that part of the record
    /// (no rule reads it; the diagnostic `LANNER_EXEC_SKIP` sets any of them).
    pub exec_skip: u32,
    /// Bit `event::sys::*` set = do NOT emit that syscall (file and sys records).
    pub sys_off: u64,
    /// With `dup_res_filter`: bit `r` set = emit a dup, dup2 or dup3 whose
    /// result is `r` (0..63); any other result is dropped at exit, before the
    /// new descriptor is read.
    pub dup_res_keep: u64,
    /// Non-zero: apply `dup_res_keep`.
    pub dup_res_filter: u32,
    /// Non-zero: apply `socket_domain_keep`.
    pub socket_filter: u32,
    /// With `socket_filter`: bit `d` set = emit a `socket` call on address
    /// family `d` (0..63; a family from 64 on is always emitted); any other
    /// is dropped at exit, right after its arguments are read.
    pub socket_domain_keep: u64,
    /// Non-zero: apply `unshare_flags_any`.
    pub unshare_filter: u32,
    /// Non-zero: a successful open's record carries its file's facts
    /// (`OpenEvent::facts`, `dev`, `ino`: a rule reads `fd.ino`, `fd.dev*`,
    /// `evt.is_open_create` or `fd.is_*_layer`).
    pub open_file_facts: u32,
    /// With `unshare_filter`: emit an `unshare` call only if its flags have
    /// one of these bits (the new-namespace bits the rules name); any other
    /// is dropped at exit, right after its arguments are read.
    pub unshare_flags_any: u64,
    /// With `kill_filter`: bit `s` set = emit a `kill` sending signal `s`
    /// (0..63; from 64 on always emitted); any other is dropped at exit, right
    /// after its arguments are read (`kill(pid, 0)`, the liveness probe
    /// supervisors and pid files make all day, when no rule looks at it).
    pub kill_sig_keep: u64,
    /// Non-zero: apply `kill_sig_keep`.
    pub kill_filter: u32,
    pub _pad1: u32,
}

/// `FilterConfig::exec_skip`: the environment block (`proc.env`).
pub const EXEC_SKIP_ENV: u32 = 1;
/// The working directory's dentry walk (`proc.cwd`).
pub const EXEC_SKIP_CWD: u32 = 2;
/// The executable's dentry walk (`proc.exepath` and the fields derived from it).
pub const EXEC_SKIP_EXE_PATH: u32 = 4;
/// The executable's inode facts (inode number, times, owner, overlayfs layer).
pub const EXEC_SKIP_EXE_INODE: u32 = 8;
/// Credentials, session and namespace ids, start time, open-files limit (diagnostic only).
pub const EXEC_SKIP_TASK: u32 = 16;
/// argv (diagnostic only: every rule pack reads the command line).
pub const EXEC_SKIP_ARGS: u32 = 32;
/// The record's ring-buffer output: everything is read, nothing is sent
/// (diagnostic only: what reserving, copying and committing the record costs).
pub const EXEC_SKIP_OUTPUT: u32 = 64;
/// The names `LANNER_EXEC_SKIP` accepts, with their bits.
pub const EXEC_SKIP_NAMES: [(&str, u32); 7] = [
    ("env", EXEC_SKIP_ENV),
    ("cwd", EXEC_SKIP_CWD),
    ("exe_path", EXEC_SKIP_EXE_PATH),
    ("exe_inode", EXEC_SKIP_EXE_INODE),
    ("task", EXEC_SKIP_TASK),
    ("args", EXEC_SKIP_ARGS),
    ("output", EXEC_SKIP_OUTPUT),
];

impl FilterConfig {
    /// Emit everything (no pre-filter).
    pub const PASS_ALL: FilterConfig = FilterConfig {
        kinds_off: 0,
        drop_failed_opens: 0,
        open_prefix_filter: 0,
        open_writes_always: 0,
        drop_failed_connects: 0,
        drop_loopback_connects: 0,
        drop_unix_connects: 0,
        exec_skip: 0,
        sys_off: 0,
        dup_res_keep: 0,
        dup_res_filter: 0,
        socket_filter: 0,
        socket_domain_keep: 0,
        unshare_filter: 0,
        open_file_facts: 1,
        unshare_flags_any: 0,
        kill_sig_keep: 0,
        kill_filter: 0,
        _pad1: 0,
    };

    /// Keep a dup, dup2 or dup3 whose result is `ret`? The sys exit probe's
    /// check (`lanner_rules::DupNeeds::passes` is its model; the agent's tests
    /// hold the two together).
    #[inline(always)]
    pub fn dup_kept(&self, ret: i64) -> bool {
        self.dup_res_filter == 0 || ((0..64).contains(&ret) && self.dup_res_keep & (1u64 << (ret as u64 & 63)) != 0)
    }

    /// Keep a `socket` call on address family `domain`? The sys exit probes'
    /// check (`lanner_rules::SocketNeeds::passes` is its model; the agent's
    /// tests hold the two together).
    #[inline(always)]
    pub fn socket_kept(&self, domain: u64) -> bool {
        self.socket_filter == 0 || domain >= 64 || self.socket_domain_keep & (1u64 << (domain & 63)) != 0
    }

    /// Keep an `unshare` call with these flags? The sys exit probes' check
    /// (`lanner_rules::UnshareNeeds::passes` is its model; the agent's tests
    /// hold the two together).
    #[inline(always)]
    pub fn unshare_kept(&self, flags: u64) -> bool {
        self.unshare_filter == 0 || flags & self.unshare_flags_any != 0
    }

    /// Keep a `kill` sending signal `sig`? The sys exit probes' check
    /// (`lanner_rules::KillNeeds::passes` is its model; the agent's tests hold
    /// the two together).
    #[inline(always)]
    pub fn kill_kept(&self, sig: u64) -> bool {
        self.kill_filter == 0 || sig >= 64 || self.kill_sig_keep & (1u64 << (sig & 63)) != 0
    }
}

/// Is this connect destination loopback? `addr` holds 4 (IPv4) or 16 (IPv6)
/// address bytes. IPv4-mapped `::ffff:127.0.0.0/104` counts as loopback.
#[inline(always)]
pub fn is_loopback(family: u16, addr: &[u8; 16]) -> bool {
    if family == crate::AF_INET {
        return addr[0] == 127;
    }
    let zero10 = addr[..10].iter().all(|b| *b == 0);
    (zero10 && addr[10] == 0 && addr[11] == 0 && addr[12..15].iter().all(|b| *b == 0) && addr[15] == 1)
        || (zero10 && addr[10] == 0xff && addr[11] == 0xff && addr[12] == 127)
}

/// Bytes of a path compared against `OPEN_PREFIXES` (longer prefixes are cut).
pub const PREFIX_KEY_LEN: usize = 64;

const _: () = assert!(core::mem::size_of::<FilterConfig>() == 96);

#[cfg(feature = "user")]
// SAFETY: repr(C), Copy, only integer fields, no implicit padding.
unsafe impl aya::Pod for FilterConfig {}
