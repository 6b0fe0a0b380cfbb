//! What `sched_process_exec` reads about the new image and the task beyond
//! argv: the executable file (`mm->exe_file`: its path from a bounded dentry
//! walk, inode, times, owner, file system), the credentials' capability sets,
//! session and pid-namespace ids, the start time and the environment length.
//!
//! The path is written leaf first: each component NUL-terminated, in the order
//! the walk met them (`true\0bin\0usr\0` for `/usr/bin/true`); userspace
//! reverses it ([`exe_path`]). Crossing into a parent mount adds no component.

/// Bytes of the component buffer: a walk stops writing once past
/// [`EXE_PATH_BUDGET`], and one component is at most `NAME_MAX + 1` bytes.
pub const EXE_PATH_BUF: usize = 768;
/// Offset past which no more components are written (a power of two minus one
/// masks the write offset for the verifier).
pub const EXE_PATH_BUDGET: usize = 512;
/// `NAME_MAX + 1`: the most one component read may write.
pub const EXE_NAME_MAX: usize = 256;
/// Bytes of the environment (`mm->env_start..env_end`) copied after argv: 4 KiB
/// less one, as Falco's drivers read it (`MAX_PROC_ARG_ENV`). A pod's environment
/// passes 1 KiB easily (the kubelet adds seven variables per Service of the
/// namespace), and a variable set last, say `LD_PRELOAD=/tmp/x`, comes last.
pub const ENV_LEN: usize = 4095;

/// The walk reached its depth or byte budget: the path lacks its top.
pub const EXE_TRUNCATED: u16 = 1 << 0;
/// `mm->exe_file` was read (the other `EXE_*`/`exe_*` fields are meaningful).
pub const EXE_PRESENT: u16 = 1 << 1;
/// The file is a pseudo file (its dentry is a root that is not its mount's
/// root: memfd, anonymous shmem); the kernel shows it as `/NAME (deleted)`.
pub const EXE_PSEUDO: u16 = 1 << 2;
/// The file was unlinked after it was opened (`d_unlinked`).
pub const EXE_DELETED: u16 = 1 << 3;
/// On overlayfs with an upper dentry (written or copied up in the upper layer).
pub const EXE_UPPER_LAYER: u16 = 1 << 4;
/// On overlayfs, lower layer only.
pub const EXE_LOWER_LAYER: u16 = 1 << 5;
/// The environment did not fit [`ENV_LEN`].
pub const EXE_ENV_TRUNCATED: u16 = 1 << 6;

/// `ExecInfo::fdlimit` was read.
pub const EXE_FDLIMIT: u16 = 1 << 7;
/// With [`EXE_ENV_TRUNCATED`] (`sched_exec`): the environment section holds both ends
/// of a longer environment, its first [`ENV_HEAD`] bytes, then one sentinel byte (NUL
/// when the next string is whole) and its last bytes; the middle was not read. A
/// variable set last (`LD_PRELOAD=...`) survives any padding before it.
pub const EXE_ENV_ENDS: u16 = 1 << 8;
/// The first window of an [`EXE_ENV_ENDS`] environment.
pub const ENV_HEAD: usize = 2048;

/// `ExecInfo::cwd_flags`: the working directory was read (`fs->pwd`).
pub const CWD_PRESENT: u16 = 1 << 0;
/// The working directory's walk reached its depth or byte budget.
pub const CWD_TRUNCATED: u16 = 1 << 1;

/// `OVERLAYFS_SUPER_MAGIC`.
pub const OVERLAYFS_SUPER_MAGIC: u64 = 0x794c_7630;

/// Image and task facts of a successful exec (zero for a failed one).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct ExecInfo {
    /// `cred->cap_inheritable`, `cap_permitted`, `cap_effective` (bit N = capability N).
    pub cap_inheritable: u64,
    pub cap_permitted: u64,
    pub cap_effective: u64,
    /// `exe_file->f_inode->i_ino`.
    pub exe_ino: u64,
    /// Inode change and modification times, ns since the epoch.
    pub exe_ctime_ns: u64,
    pub exe_mtime_ns: u64,
    /// `group_leader->start_boottime`: process start, boot-clock ns.
    pub start_boot_ns: u64,
    /// The task's root directory (`fs->root.dentry->d_inode`): inode number and
    /// its super block's `s_dev` (kernel encoding), 0 when unread (read with
    /// the executable's path, so not with `LANNER_EXEC_SKIP=exe_path`). Userspace
    /// keys its `/etc/passwd` cache by it instead of a `stat` of /proc/PID/root.
    pub root_ino: u64,
    /// Session id (`signal->pids[PIDTYPE_SID]`), in the initial pid namespace.
    pub sid: u32,
    /// Process, thread and process-group ids in the task's own pid namespace.
    pub vpid: u32,
    pub vtid: u32,
    pub vpgid: u32,
    /// Process-group id in the initial pid namespace.
    pub pgid: u32,
    pub root_dev: u32,
    /// Owner and mode of the executable's inode.
    pub exe_uid: u32,
    pub exe_gid: u32,
    /// `cred->fsuid`/`fsgid` (the ids file permission checks use).
    pub fsuid: u32,
    pub fsgid: u32,
    pub exe_mode: u16,
    /// `EXE_*` bits.
    pub exe_flags: u16,
    /// Used bytes of the executable's path section of `ExecEvent::tail`
    /// (components leaf first, each NUL-terminated).
    pub exe_path_len: u16,
    /// Environment bytes following argv in `ExecEvent::tail`.
    pub env_len: u16,
    /// Used bytes of the working directory's section of `ExecEvent::tail`
    /// (`task->fs->pwd`, components leaf first like the executable's), and
    /// `CWD_*` bits.
    pub cwd_len: u16,
    pub cwd_flags: u16,
    /// The open-files soft limit (`RLIMIT_NOFILE`'s `rlim_cur`, which the
    /// kernel caps at `fs.nr_open` < 2^31), with `EXE_FDLIMIT`.
    pub fdlimit: u32,
}

impl ExecInfo {
    pub const ZERO: ExecInfo = ExecInfo {
        cap_inheritable: 0,
        cap_permitted: 0,
        cap_effective: 0,
        exe_ino: 0,
        exe_ctime_ns: 0,
        exe_mtime_ns: 0,
        start_boot_ns: 0,
        root_ino: 0,
        sid: 0,
        vpid: 0,
        vtid: 0,
        vpgid: 0,
        pgid: 0,
        root_dev: 0,
        exe_uid: 0,
        exe_gid: 0,
        fsuid: 0,
        fsgid: 0,
        exe_mode: 0,
        exe_flags: 0,
        exe_path_len: 0,
        env_len: 0,
        cwd_len: 0,
        cwd_flags: 0,
        fdlimit: 0,
    };
}

const _: () = assert!(core::mem::size_of::<ExecInfo>() == 120);
const _: () = assert!(core::mem::size_of::<ExecInfo>().is_multiple_of(8));
const _: () = assert!(EXE_PATH_BUDGET.is_power_of_two() && EXE_PATH_BUDGET + EXE_NAME_MAX <= EXE_PATH_BUF);
const _: () = assert!((ENV_LEN + 1).is_power_of_two());

#[cfg(feature = "user")]
/// The path as the kernel's `d_path` shows it, from leaf-first components
/// (`None` when there are none). A pseudo file or an unlinked one gets
/// `" (deleted)"`; a truncated walk is returned without its top.
pub fn exe_path(buf: &[u8], len: usize, flags: u16) -> Option<String> {
    let used = buf.get(..len.min(buf.len()))?;
    let mut parts: Vec<&[u8]> = used.split(|&b| b == 0).filter(|c| !c.is_empty()).collect();
    if parts.is_empty() {
        return None;
    }
    parts.reverse();
    let mut s = String::with_capacity(len + 12);
    for p in parts {
        s.push('/');
        s.push_str(&String::from_utf8_lossy(p));
    }
    if flags & (EXE_PSEUDO | EXE_DELETED) != 0 {
        s.push_str(" (deleted)");
    }
    Some(s)
}

#[cfg(feature = "user")]
/// The working directory as Falco's `proc.cwd` shows it: the path with a
/// trailing `/` (`/` for the root); `None` when unread or truncated.
pub fn cwd_path(buf: &[u8], len: usize, flags: u16) -> Option<String> {
    if flags & CWD_PRESENT == 0 || flags & CWD_TRUNCATED != 0 {
        return None;
    }
    let mut s = exe_path(buf, len, 0).unwrap_or_default();
    s.push('/');
    Some(s)
}

#[cfg(all(test, feature = "user"))]
mod tests {
    use super::*;

    #[test]
    fn components_are_reversed_and_pseudo_files_marked() {
        assert_eq!(exe_path(b"true\0bin\0usr\0", 13, 0).as_deref(), Some("/usr/bin/true"));
        assert_eq!(exe_path(b"memfd:x\0", 8, EXE_PSEUDO).as_deref(), Some("/memfd:x (deleted)"));
        assert_eq!(exe_path(b"a.out\0tmp\0", 10, EXE_DELETED).as_deref(), Some("/tmp/a.out (deleted)"));
        assert_eq!(exe_path(b"", 0, 0), None);
        assert_eq!(exe_path(b"x\0", 99, 0).as_deref(), Some("/x"), "a length past the buffer is clamped");
        assert_eq!(cwd_path(b"b\0a\0tmp\0", 9, CWD_PRESENT).as_deref(), Some("/tmp/a/b/"));
        assert_eq!(cwd_path(b"", 0, CWD_PRESENT).as_deref(), Some("/"), "the root");
        assert_eq!(cwd_path(b"b\0", 2, CWD_PRESENT | CWD_TRUNCATED), None);
        assert_eq!(cwd_path(b"", 0, 0), None);
    }
}
