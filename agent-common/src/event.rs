//! Wire layouts of the events the probes write into the ring buffer.
//!
//! Each record starts with [`EventHeader`] whose `kind` selects the body type.
//! Variable-length strings live in fixed arrays with an explicit length, so the
//! verifier sees constant sizes; userspace reads only the used bytes.

/// Maximum bytes of a path (open, exec filename, unix socket path buffers).
pub const PATH_LEN: usize = 512;
/// Logical budget for argv bytes (NUL-separated) of one exec: 4 KiB, as Falco's
/// drivers read it (`MAX_PROC_ARG_ENV`). A command line padded past 1 KiB
/// (`sh -c "<long payload> | base64 -d | sh"`) keeps its tail.
pub const ARGS_LEN: usize = 4096;
/// Maximum bytes read for one argv element (also the slack after `ARGS_LEN`):
/// one argument may use the whole budget, so long `sh -c` payloads arrive whole
/// on the paths that read argv one string at a time (BPF LSM, failed execs).
pub const ARG_MAX_ONE: usize = ARGS_LEN;
/// Maximum number of argv elements read for a failed exec (a successful one
/// copies the new image's argument area, `ARGS_LEN` bytes, whatever the count).
pub const MAX_ARGS: usize = 32;
/// `TASK_COMM_LEN`.
pub const COMM_LEN: usize = 16;
/// `sizeof(sun_path)`.
pub const UNIX_PATH_LEN: usize = 108;

/// argv did not fit (too many elements, too many bytes, or one element too long).
pub const FLAG_ARGS_TRUNCATED: u16 = 1 << 0;
/// The path/filename did not fit its buffer.
pub const FLAG_PATH_TRUNCATED: u16 = 1 << 1;
/// A user-memory string read failed (page not resident, bad pointer).
pub const FLAG_READ_FAILED: u16 = 1 << 2;
/// The exec filename comes from user memory (failed execve) not the kernel.
pub const FLAG_USER_FILENAME: u16 = 1 << 3;
/// Exec (BPF LSM path): argv and the environment arrive as the raw block the
/// kernel copied to the new stack. The args section holds the block's first
/// bytes (argv, then as much of the environment as fits), `args_count` is
/// `argc` and `env_count` is `envc`; userspace splits the strings by those
/// counts ([`crate::decode`]).
pub const FLAG_EXEC_BLOCK: u16 = 1 << 4;
/// With [`FLAG_EXEC_BLOCK`]: the block was longer than both sections. The env
/// section is then the block's LAST bytes (ending where the environment ends),
/// preceded by one sentinel byte: the byte before them, NUL when the section's
/// first string is whole. The bytes between the two sections were not read.
pub const FLAG_EXEC_BLOCK_GAP: u16 = 1 << 5;
/// Setuid family: the header was taken at the syscall's exit (`setuid_regs`),
/// so after a successful call its credentials are the new ones; userspace takes
/// the caller's credentials before the change from its process table.
pub const FLAG_CREDS_AFTER: u16 = 1 << 6;

/// Event kinds (`EventHeader::kind`).
#[repr(u16)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventKind {
    Exec = 1,
    Open = 2,
    Connect = 3,
    Setuid = 4,
    Fork = 5,
    Exit = 6,
    /// A path syscall ([`FileEvent`]): symlink, link, unlink, rename, mkdir, rmdir, chmod.
    File = 7,
    /// A syscall with numeric arguments and at most one string ([`SysEvent`]).
    Sys = 8,
}

impl EventKind {
    pub const ALL: [EventKind; 8] = [
        EventKind::Exec,
        EventKind::Open,
        EventKind::Connect,
        EventKind::Setuid,
        EventKind::Fork,
        EventKind::Exit,
        EventKind::File,
        EventKind::Sys,
    ];

    pub fn from_u16(v: u16) -> Option<Self> {
        Some(match v {
            1 => EventKind::Exec,
            2 => EventKind::Open,
            3 => EventKind::Connect,
            4 => EventKind::Setuid,
            5 => EventKind::Fork,
            6 => EventKind::Exit,
            7 => EventKind::File,
            8 => EventKind::Sys,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            EventKind::Exec => "exec",
            EventKind::Open => "open",
            EventKind::Connect => "connect",
            EventKind::Setuid => "setuid",
            EventKind::Fork => "fork",
            EventKind::Exit => "exit",
            EventKind::File => "file",
            EventKind::Sys => "sys",
        }
    }
}

/// Common header of every record.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct EventHeader {
    /// [`EventKind`] as u16.
    pub kind: u16,
    /// `FLAG_*` bits.
    pub flags: u16,
    /// Syscall or probe-specific discriminator (e.g. which setuid variant).
    pub subtype: u16,
    pub _pad0: u16,
    /// `bpf_ktime_get_boot_ns()` at the event.
    pub ts_boot_ns: u64,
    /// Thread id (kernel `pid`).
    pub tid: u32,
    /// Process id (kernel `tgid`).
    pub tgid: u32,
    /// Real uid/gid of the caller (before the syscall for setuid).
    pub uid: u32,
    pub gid: u32,
    /// cgroup v2 id (inode of the task's cgroup directory).
    pub cgroup_id: u64,
    /// On hybrid-cgroup hosts, the id of the task's cgroup in the one v1
    /// hierarchy the agent chose (`ProbeConfig::cgroup`), where runtimes
    /// without cgroup v2 support place containers; 0 when not configured.
    pub cgroup_v1_id: u64,
    pub comm: [u8; COMM_LEN],
}

impl EventHeader {
    /// All zero, for records built on the stack before `fill_header`.
    pub const ZERO: EventHeader = EventHeader {
        kind: 0,
        flags: 0,
        subtype: 0,
        _pad0: 0,
        ts_boot_ns: 0,
        tid: 0,
        tgid: 0,
        uid: 0,
        gid: 0,
        cgroup_id: 0,
        cgroup_v1_id: 0,
        comm: [0; COMM_LEN],
    };
}

/// Bytes of [`EventHeader`].
pub const HDR_LEN: usize = 64;

/// Which syscall an [`ExecEvent`] reports (`EventHeader::subtype`): Falco has
/// `execve` and `execveat` as two event types.
pub const EXEC_EXECVE: u16 = 0;
pub const EXEC_EXECVEAT: u16 = 1;

/// `sched_process_exec` (success, ret 0) or `sys_exit_execve`/`sys_exit_execveat`
/// (failure).
#[repr(C)]
#[derive(Clone, Copy)]
pub struct ExecEvent {
    pub hdr: EventHeader,
    pub ppid: u32,
    /// execve return value: 0 or -errno.
    pub ret: i32,
    /// audit login uid (`u32::MAX` when unset/unknown).
    pub loginuid: u32,
    /// Controlling tty device number (`0` when none), as in /proc/PID/stat.
    pub tty: u32,
    pub filename_len: u16,
    pub args_len: u16,
    /// argv strings read (failed exec), or `argc` with [`FLAG_EXEC_BLOCK`].
    pub args_count: u16,
    /// `envc` with [`FLAG_EXEC_BLOCK`], else 0.
    pub env_count: u16,
    /// The new image and the task's credentials and ids (successful exec only).
    pub info: crate::exe::ExecInfo,
    /// The variable-length parts, packed back to back in this order, each
    /// only as long as its length field says ([`ExecEvent::sections`]):
    /// argv (`args_len`, NUL-separated), environment (`info.env_len`),
    /// filename (`filename_len`, no NUL), the executable's path
    /// (`info.exe_path_len`) and the working directory's (`info.cwd_len`),
    /// both leaf-first components. Only the used bytes travel
    /// ([`exec_record_len`]). The probes write each section at an offset
    /// bounded by [`EXEC_FILENAME_AT_MAX`], [`EXEC_EXE_AT_MAX`] and
    /// [`EXEC_CWD_AT_MAX`], which size the buffer for the verifier.
    pub tail: [u8; EXEC_TAIL_LEN],
}

/// Where the filename section may start at most: after argv alone (less than
/// `ARGS_LEN + ARG_MAX_ONE` bytes when read one argument at a time), or after
/// argv (at most `ARGS_LEN` bytes when the environment follows) and the
/// environment.
pub const EXEC_FILENAME_AT_MAX: usize = max(ARGS_LEN + ARG_MAX_ONE - 1, ARGS_LEN + crate::exe::ENV_LEN);

const fn max(a: usize, b: usize) -> usize {
    if a > b {
        a
    } else {
        b
    }
}
/// Where the executable's path may start: after a filename of < `PATH_LEN` bytes.
pub const EXEC_EXE_AT_MAX: usize = EXEC_FILENAME_AT_MAX + PATH_LEN;
/// Where the working directory's path may start.
pub const EXEC_CWD_AT_MAX: usize = EXEC_EXE_AT_MAX + crate::exe::EXE_PATH_BUF;
/// Bytes of [`ExecEvent::tail`]: room for the last section written at its
/// furthest start.
pub const EXEC_TAIL_LEN: usize = EXEC_CWD_AT_MAX + crate::exe::EXE_PATH_BUF + 1;

/// The byte ranges of an [`ExecEvent`]'s packed tail sections.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExecSections {
    pub args: core::ops::Range<usize>,
    pub env: core::ops::Range<usize>,
    pub filename: core::ops::Range<usize>,
    pub exe_path: core::ops::Range<usize>,
    pub cwd: core::ops::Range<usize>,
}

impl ExecSections {
    /// The sections from their lengths, in the tail's order; the caller
    /// checks `cwd.end` against the bytes that arrived.
    pub fn new(args: u16, env: u16, filename: u16, exe_path: u16, cwd: u16) -> ExecSections {
        let args = 0..args as usize;
        let env = args.end..args.end + env as usize;
        let filename = env.end..env.end + filename as usize;
        let exe_path = filename.end..filename.end + exe_path as usize;
        let cwd = exe_path.end..exe_path.end + cwd as usize;
        ExecSections { args, env, filename, exe_path, cwd }
    }
}

impl ExecEvent {
    /// The tail's sections from the record's length fields.
    pub fn sections(&self) -> ExecSections {
        let i = &self.info;
        ExecSections::new(self.args_len, i.env_len, self.filename_len, i.exe_path_len, i.cwd_len)
    }
}

/// `sys_exit_openat`/`sys_exit_openat2` with the arguments stashed at entry.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct OpenEvent {
    pub hdr: EventHeader,
    /// fd on success, -errno on failure.
    pub ret: i32,
    pub dirfd: i32,
    /// `O_*` flags as passed.
    pub flags: u32,
    pub mode: u32,
    pub path_len: u16,
    /// `OPEN_FACT_*` bits: what the kernel read about the opened file, only
    /// for successful opens while a rule needs it (`FilterConfig::open_file_facts`).
    pub facts: u16,
    /// With `OPEN_FACTS_READ`: the file's device (`i_sb->s_dev`, the kernel's
    /// `MKDEV` encoding) and inode number.
    pub dev: u32,
    pub ino: u64,
    pub path: [u8; PATH_LEN],
}

/// `OpenEvent::facts`: the facts below were read (a successful open, while a rule needs them).
pub const OPEN_FACTS_READ: u16 = 1;
/// The open created the file (`FMODE_CREATED`).
pub const OPEN_FACT_CREATED: u16 = 2;
/// The file is on an overlayfs, in its upper layer (written in the container).
pub const OPEN_FACT_UPPER: u16 = 4;
/// The file is on an overlayfs, in a lower layer only (from the image).
pub const OPEN_FACT_LOWER: u16 = 8;

/// Bytes of an [`OpenEvent`] before its path: the probe sends these plus the
/// used part of the path (NUL included), rounded up to 8 bytes.
pub const OPEN_FIXED_LEN: usize = core::mem::offset_of!(OpenEvent, path);

/// Bytes of the open record sent for a path of `path_len` bytes.
#[inline(always)]
pub const fn open_record_len(path_len: usize) -> usize {
    cut_len(OPEN_FIXED_LEN + path_len + 1, core::mem::size_of::<OpenEvent>())
}

/// `used` rounded up to 8 bytes, at most the whole record (`full`).
#[inline(always)]
const fn cut_len(used: usize, full: usize) -> usize {
    let n = (used + 7) & !7;
    if n > full {
        full
    } else {
        n
    }
}

/// Bytes of an [`ExecEvent`] before its packed tail: the probes send these
/// plus the tail's used bytes, rounded up to 8.
pub const EXEC_FIXED_LEN: usize = core::mem::offset_of!(ExecEvent, tail);

/// Bytes of the exec record sent for `tail_used` bytes of its tail (the end of
/// its last section, [`ExecEvent::sections`]).
#[inline(always)]
pub const fn exec_record_len(tail_used: usize) -> usize {
    cut_len(EXEC_FIXED_LEN + tail_used, core::mem::size_of::<ExecEvent>())
}

/// Address families reported in [`ConnectEvent::family`].
pub const AF_UNIX: u16 = 1;
pub const AF_INET: u16 = 2;
pub const AF_INET6: u16 = 10;

/// `sys_exit_connect` with the sockaddr copied at entry.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct ConnectEvent {
    pub hdr: EventHeader,
    /// 0 or -errno (`-EINPROGRESS` for non-blocking connects).
    pub ret: i32,
    pub fd: i32,
    pub family: u16,
    /// Port in host byte order (0 for unix sockets).
    pub port: u16,
    pub path_len: u16,
    /// The socket's type (`SOCK_STREAM` 1, `SOCK_DGRAM` 2; 0 unknown), read from the fd.
    pub sock_type: u16,
    /// IPv4 in the first 4 bytes, or IPv6, network order.
    pub addr: [u8; 16],
    /// Unix socket path (abstract sockets start with NUL, reported as '@').
    pub unix_path: [u8; UNIX_PATH_LEN],
    /// The socket's local port after the connect (host order), 0 when unknown.
    pub lport: u16,
    pub _pad2: u16,
    /// The socket's local address after the connect, like `addr`.
    pub laddr: [u8; 16],
}

/// Which syscall an [`OpenEvent`] reports (`EventHeader::subtype`); the tracepoint
/// pairs see openat and openat2, `fexit/do_sys_openat2` all three.
pub const OPEN_OPENAT: u16 = 1;
pub const OPEN_OPENAT2: u16 = 2;
pub const OPEN_OPEN: u16 = 3;

/// Which syscall a [`SetuidEvent`] reports (`EventHeader::subtype`).
pub const SETUID_SETUID: u16 = 1;
pub const SETUID_SETREUID: u16 = 2;
pub const SETUID_SETRESUID: u16 = 3;
/// "Leave unchanged" (-1 as passed to setreuid/setresuid).
pub const UID_UNCHANGED: u32 = u32::MAX;

/// `sys_exit_setuid`/`setreuid`/`setresuid`.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct SetuidEvent {
    pub hdr: EventHeader,
    pub ret: i32,
    /// Requested real, effective, saved uid (`UID_UNCHANGED` when not given).
    pub ruid: u32,
    pub euid: u32,
    pub suid: u32,
    pub _pad1: [u32; 2],
}

/// A new process (not a thread) from fork/vfork/clone.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct ForkEvent {
    pub hdr: EventHeader,
    /// Process id of the child.
    pub child_tgid: u32,
    /// Thread id of the child (equal to `child_tgid` for a process).
    pub child_tid: u32,
}

/// A thread-group leader exited (the process is gone).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct ExitEvent {
    pub hdr: EventHeader,
    /// `task->exit_code` (status as wait(2) reports it).
    pub exit_code: i32,
    pub _pad1: u32,
}

/// Which syscall a [`FileEvent`] or [`SysEvent`] reports (`EventHeader::subtype`),
/// also its bit in `FilterConfig::sys_off`. Names are Falco's event type names.
pub mod sys {
    pub const SYMLINK: u16 = 1;
    pub const SYMLINKAT: u16 = 2;
    pub const LINK: u16 = 3;
    pub const LINKAT: u16 = 4;
    pub const UNLINK: u16 = 5;
    pub const UNLINKAT: u16 = 6;
    pub const RENAME: u16 = 7;
    pub const RENAMEAT: u16 = 8;
    pub const RENAMEAT2: u16 = 9;
    pub const MKDIR: u16 = 10;
    pub const MKDIRAT: u16 = 11;
    pub const RMDIR: u16 = 12;
    pub const CHMOD: u16 = 13;
    pub const FCHMOD: u16 = 14;
    pub const FCHMODAT: u16 = 15;
    pub const PTRACE: u16 = 16;
    pub const SOCKET: u16 = 17;
    pub const INIT_MODULE: u16 = 18;
    pub const FINIT_MODULE: u16 = 19;
    pub const DELETE_MODULE: u16 = 20;
    pub const MEMFD_CREATE: u16 = 21;
    pub const UNSHARE: u16 = 22;
    pub const SETNS: u16 = 23;
    pub const MOUNT: u16 = 24;
    pub const UMOUNT2: u16 = 25;
    pub const BPF: u16 = 26;
    pub const DUP: u16 = 27;
    pub const DUP2: u16 = 28;
    pub const DUP3: u16 = 29;
    pub const CHOWN: u16 = 30;
    pub const LCHOWN: u16 = 31;
    pub const FCHOWN: u16 = 32;
    pub const FCHOWNAT: u16 = 33;
    pub const CREAT: u16 = 34;
    pub const USERFAULTFD: u16 = 35;
    pub const BIND: u16 = 36;
    pub const LISTEN: u16 = 37;
    pub const ACCEPT: u16 = 38;
    pub const ACCEPT4: u16 = 39;
    pub const CAPSET: u16 = 40;
    pub const SETGID: u16 = 41;
    pub const SETRESGID: u16 = 42;
    pub const PRCTL: u16 = 43;
    pub const PROCESS_VM_READV: u16 = 44;
    pub const PROCESS_VM_WRITEV: u16 = 45;
    pub const OPEN_BY_HANDLE_AT: u16 = 46;
    pub const IO_URING_SETUP: u16 = 47;
    pub const KILL: u16 = 48;
    pub const CHROOT: u16 = 49;
    /// Highest id (ids fit the 64-bit `sys_off` mask).
    pub const MAX: u16 = 49;

    /// Syscalls whose [`super::SysEvent`] carries [`super::FdInfo`] (the fd they act on
    /// or create: the new fd of dup, accept and open_by_handle_at, the socket of bind
    /// and listen).
    pub const fn has_fd_info(id: u16) -> bool {
        matches!(id, DUP | DUP2 | DUP3 | BIND | LISTEN | ACCEPT | ACCEPT4 | OPEN_BY_HANDLE_AT)
    }

    /// Falco's event type name of a syscall id.
    pub fn name(id: u16) -> Option<&'static str> {
        Some(match id {
            SYMLINK => "symlink",
            SYMLINKAT => "symlinkat",
            LINK => "link",
            LINKAT => "linkat",
            UNLINK => "unlink",
            UNLINKAT => "unlinkat",
            RENAME => "rename",
            RENAMEAT => "renameat",
            RENAMEAT2 => "renameat2",
            MKDIR => "mkdir",
            MKDIRAT => "mkdirat",
            RMDIR => "rmdir",
            CHMOD => "chmod",
            FCHMOD => "fchmod",
            FCHMODAT => "fchmodat",
            PTRACE => "ptrace",
            SOCKET => "socket",
            INIT_MODULE => "init_module",
            FINIT_MODULE => "finit_module",
            DELETE_MODULE => "delete_module",
            MEMFD_CREATE => "memfd_create",
            UNSHARE => "unshare",
            SETNS => "setns",
            MOUNT => "mount",
            UMOUNT2 => "umount2",
            BPF => "bpf",
            DUP => "dup",
            DUP2 => "dup2",
            DUP3 => "dup3",
            CHOWN => "chown",
            LCHOWN => "lchown",
            FCHOWN => "fchown",
            FCHOWNAT => "fchownat",
            CREAT => "creat",
            USERFAULTFD => "userfaultfd",
            BIND => "bind",
            LISTEN => "listen",
            ACCEPT => "accept",
            ACCEPT4 => "accept4",
            CAPSET => "capset",
            SETGID => "setgid",
            SETRESGID => "setresgid",
            PRCTL => "prctl",
            PROCESS_VM_READV => "process_vm_readv",
            PROCESS_VM_WRITEV => "process_vm_writev",
            OPEN_BY_HANDLE_AT => "open_by_handle_at",
            IO_URING_SETUP => "io_uring_setup",
            KILL => "kill",
            CHROOT => "chroot",
            _ => return None,
        })
    }
}

/// `AT_FDCWD`: a path relative to the caller's working directory.
pub const AT_FDCWD: i32 = -100;

/// A path syscall: up to two paths with their directory fds, flags and mode, stashed
/// at entry, emitted at exit with the result. Which argument goes where:
///
/// | syscall | `path` (`dirfd`) | `path2` (`dirfd2`) | `flags` | `mode` |
/// |---|---|---|---|---|
/// | symlink(at) | target (unresolved) | linkpath (linkdirfd) | | |
/// | link(at), rename(at/at2) | oldpath (olddir) | newpath (newdir) | flags | |
/// | unlink(at), rmdir | path (dirfd) | | flags | |
/// | chroot | path (`AT_FDCWD`) | | | |
/// | mkdir(at), chmod, fchmodat | path (dirfd) | | | mode |
/// | fchmod | (fd in `dirfd`) | | | mode |
/// | chown, lchown, fchownat | path (dirfd) | (gid in `dirfd2`) | flags | uid |
/// | fchown | (fd in `dirfd`) | (gid in `dirfd2`) | | uid |
/// | creat | path (`AT_FDCWD`) | | | mode |
/// | mount | dir (`AT_FDCWD`) | dev (unresolved) | flags | |
/// | umount2 | name (`AT_FDCWD`) | | flags | |
///
/// mount's filesystem type goes in `aux`.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct FileEvent {
    pub hdr: EventHeader,
    /// 0 or -errno.
    pub ret: i32,
    pub dirfd: i32,
    pub dirfd2: i32,
    pub flags: u32,
    pub mode: u32,
    pub path_len: u16,
    pub path2_len: u16,
    /// A short third string (mount's filesystem type), NUL-terminated.
    pub aux: [u8; AUX_LEN],
    pub path: [u8; PATH_LEN],
    pub path2: [u8; PATH_LEN],
}

/// Bytes of [`FileEvent::aux`].
pub const AUX_LEN: usize = 32;

/// Bytes of a [`FileEvent`] before its second path: the probe sends these plus the
/// used part of `path2`.
pub const FILE_FIXED_LEN: usize = core::mem::offset_of!(FileEvent, path2);

/// Bytes of the file record sent for a second path of `path2_len` bytes.
#[inline(always)]
pub const fn file_record_len(path2_len: usize) -> usize {
    cut_len(FILE_FIXED_LEN + path2_len + 1, core::mem::size_of::<FileEvent>())
}

/// `FdInfo::ftype`: the file type bits of the fd's inode (`i_mode >> 12`).
pub mod ftype {
    pub const FIFO: u16 = 0o01;
    pub const CHR: u16 = 0o02;
    pub const DIR: u16 = 0o04;
    pub const BLK: u16 = 0o06;
    pub const REG: u16 = 0o10;
    pub const LNK: u16 = 0o12;
    pub const SOCK: u16 = 0o14;
}

/// What an fd refers to, read in the kernel from `task->files` at the syscall's exit:
/// the inode's file type and, for a socket, its family, type and both endpoints
/// (from `struct sock_common`). Zero when the fd could not be read.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FdInfo {
    /// The fd number this describes (-1: none read).
    pub fd: i32,
    /// [`ftype`] value, 0 unknown.
    pub ftype: u16,
    /// Socket address family (`AF_INET`...), 0 when not a socket.
    pub family: u16,
    /// Socket type (`SOCK_STREAM` 1, `SOCK_DGRAM` 2).
    pub sock_type: u16,
    /// Local and remote port, host order.
    pub lport: u16,
    pub rport: u16,
    pub _pad: u16,
    /// Local and remote address (IPv4 in the first 4 bytes), network order.
    pub laddr: [u8; 16],
    pub raddr: [u8; 16],
}

/// Bytes of the string argument of a [`SysEvent`].
pub const SYS_STR_LEN: usize = 256;

/// A syscall with up to six numeric arguments (as passed) and one string argument:
/// ptrace(request, pid, addr, data), socket(domain, type, proto),
/// init_module(img, length, uargs*), finit_module(fd, uargs*, flags),
/// delete_module(name*, flags), memfd_create(name*, flags), unshare(flags),
/// setns(fd, nstype), bpf(cmd), dup(oldfd), dup2(oldfd, newfd), dup3(oldfd, newfd, flags),
/// userfaultfd(flags), bind(fd), listen(fd, backlog), accept(fd), accept4(fd, _, _, flags),
/// capset(hdr, data: the three effective/permitted/inheritable low words read from `data`
/// in args 1..3), setgid(gid), setresgid(rgid, egid, sgid), prctl(option, arg2, ...;
/// PR_SET_NAME's name*), process_vm_readv/writev(pid),
/// open_by_handle_at(mount_fd, handle, flags: args 0 and 2),
/// io_uring_setup(entries, params: args 0 and 1, and at exit the first 24 bytes of the
/// params the kernel filled in args 2..4: sq/cq entries, flags, sq_thread_cpu/idle,
/// features), kill(pid, sig); `*` marks the argument copied into `str`.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct SysEvent {
    pub hdr: EventHeader,
    /// The syscall's return value (fd, 0 or -errno).
    pub ret: i64,
    pub args: [u64; 6],
    pub str_len: u16,
    pub _pad1: [u16; 3],
    /// The fd's type and endpoints for [`sys::has_fd_info`] syscalls, zero otherwise.
    pub fd: FdInfo,
    pub str: [u8; SYS_STR_LEN],
}

macro_rules! const_size {
    ($t:ty, $n:expr) => {
        const _: () = assert!(core::mem::size_of::<$t>() == $n);
        const _: () = assert!(core::mem::size_of::<$t>() % 8 == 0);
    };
}
const_size!(EventHeader, HDR_LEN);
const_size!(ExecEvent, HDR_LEN + 24 + core::mem::size_of::<crate::exe::ExecInfo>() + EXEC_TAIL_LEN);
// argv (< ARGS_LEN + ARG_MAX_ONE bytes; at most ARGS_LEN when the environment follows) and the environment fit before the filename's last start.
const _: () = assert!(ARGS_LEN + crate::exe::ENV_LEN <= EXEC_FILENAME_AT_MAX);
const _: () = assert!(EXEC_TAIL_LEN == 10240);
const_size!(OpenEvent, HDR_LEN + 32 + PATH_LEN);
const_size!(ConnectEvent, HDR_LEN + 32 + UNIX_PATH_LEN + 4 + 16);
const_size!(SetuidEvent, HDR_LEN + 24);
const_size!(ForkEvent, HDR_LEN + 8);
const_size!(ExitEvent, HDR_LEN + 8);
const_size!(FileEvent, HDR_LEN + 24 + AUX_LEN + 2 * PATH_LEN);
const_size!(FdInfo, 48);
const_size!(SysEvent, HDR_LEN + 64 + 48 + SYS_STR_LEN);
const _: () = assert!(sys::MAX < 64);
const _: () = assert!(core::mem::offset_of!(ExecEvent, hdr) == 0);
const _: () = assert!(core::mem::offset_of!(OpenEvent, hdr) == 0);
// `pathscan::word_at` loads the path eight bytes at a time, aligned.
const _: () = assert!(OPEN_FIXED_LEN.is_multiple_of(8) && core::mem::align_of::<OpenEvent>() >= 8);
const _: () = assert!(core::mem::offset_of!(ConnectEvent, hdr) == 0);
const _: () = assert!(core::mem::offset_of!(SetuidEvent, hdr) == 0);
const _: () = assert!(core::mem::offset_of!(ForkEvent, hdr) == 0);
const _: () = assert!(core::mem::offset_of!(ExitEvent, hdr) == 0);
const _: () = assert!(ARGS_LEN.is_power_of_two() && PATH_LEN.is_power_of_two());

#[cfg(feature = "user")]
mod pod {
    use super::*;
    // SAFETY: all of these are repr(C), Copy, made only of integers and byte
    // arrays, with explicit padding fields, so any bit pattern is valid.
    unsafe impl aya::Pod for EventHeader {}
    unsafe impl aya::Pod for ExecEvent {}
    unsafe impl aya::Pod for OpenEvent {}
    unsafe impl aya::Pod for ConnectEvent {}
    unsafe impl aya::Pod for SetuidEvent {}
    unsafe impl aya::Pod for ForkEvent {}
    unsafe impl aya::Pod for ExitEvent {}
    unsafe impl aya::Pod for FileEvent {}
    unsafe impl aya::Pod for SysEvent {}
    unsafe impl aya::Pod for FdInfo {}
}
