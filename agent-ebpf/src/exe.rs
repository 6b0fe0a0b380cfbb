//! Reads for `sched_process_exec` beyond argv: the executable (`mm->exe_file`:
//! a bounded dentry walk that crosses mounts up to the task's root, inode,
//! times, owner, overlayfs layer), the working directory (`fs->pwd`, walked the
//! same way), the credentials (capability sets, fsuid),
//! session and pid-namespace ids, the start time, and the environment
//! (`mm->env_start..env_end`, copied after argv like argv itself).
//!
//! Every offset comes from the agent (kernel BTF); an unknown one skips its read.
use aya_ebpf::{
    cty::c_void,
    helpers::{
        bpf_probe_read_kernel_str_bytes, bpf_probe_read_user_str_bytes,
        generated::{bpf_probe_read_kernel, bpf_probe_read_kernel_str, bpf_probe_read_user},
    },
};
use lanner_common::{
    config::{EXEC_SKIP_CWD, EXEC_SKIP_EXE_INODE, EXEC_SKIP_EXE_PATH, EXEC_SKIP_TASK},
    exe::{
        ExecInfo, CWD_PRESENT, CWD_TRUNCATED, ENV_HEAD, ENV_LEN, EXE_DELETED, EXE_ENV_ENDS, EXE_ENV_TRUNCATED,
        EXE_FDLIMIT, EXE_LOWER_LAYER, EXE_NAME_MAX, EXE_PATH_BUDGET, EXE_PATH_BUF, EXE_PRESENT, EXE_PSEUDO,
        EXE_TRUNCATED, EXE_UPPER_LAYER, OVERLAYFS_SUPER_MAGIC,
    },
    ExecEvent, ARGS_LEN, EXEC_CWD_AT_MAX, EXEC_EXE_AT_MAX, EXEC_FILENAME_AT_MAX, FLAG_PATH_TRUNCATED, PATH_LEN,
};

use crate::{
    common::{conf, ld, read_at},
    maps::EXE_WALK,
};

/// Name pointers (`d_name.name`) of the dentries met by the walk, leaf first
/// (per-CPU scratch, `maps::EXE_WALK`).
#[repr(C)]
pub struct ExeWalk {
    pub names: [u64; MAX_DEPTH as usize],
    /// Loop-carried state of the second and third loops.
    pub dentry: u64,
    pub vfsmnt: u64,
    pub count: u32,
    pub end: u32,
    pub off: u32,
    pub copied: u32,
}

/// Most path components walked (mount crossings included); a power of two.
const MAX_DEPTH: u32 = 32;
/// How the dentry walk ended (`ExeWalk::end`).
const WALK_CUT: u32 = 0;
const WALK_DONE: u32 = 1;
const WALK_PSEUDO: u32 = 2;
/// Nanoseconds fit 30 bits; higher bits of an inode's nsec member are flags.
const NSEC_MASK: u32 = 0x3fff_ffff;
const PIDTYPE_TGID: u32 = 1;
const PIDTYPE_PGID: u32 = 2;
const PIDTYPE_SID: u32 = 3;

/// `off + n` (an element or the second half of a member at `off`); an
/// unknown offset stays unknown, so [`ld`] skips the read instead of loading
/// at a bogus offset, which the verifier would reject in a plain load.
#[inline(always)]
fn at(off: u32, n: u32) -> u32 {
    if off == lanner_common::config::OFFSET_NONE {
        off
    } else {
        off + n
    }
}

/// The second pointer of a two-pointer member at `off` (`struct path`'s
/// dentry, `hlist_bl_node`'s pprev).
#[inline(always)]
fn second(off: u32) -> u32 {
    at(off, 8)
}

/// Zero what a failed exec (which shares the scratch record) must not carry over.
#[inline(always)]
pub fn clear(info: &mut ExecInfo) {
    info.cap_inheritable = 0;
    info.cap_permitted = 0;
    info.cap_effective = 0;
    info.exe_ino = 0;
    info.exe_ctime_ns = 0;
    info.exe_mtime_ns = 0;
    info.start_boot_ns = 0;
    info.root_ino = 0;
    info.root_dev = 0;
    info.sid = 0;
    info.vpid = 0;
    info.vtid = 0;
    info.vpgid = 0;
    info.pgid = 0;
    info.exe_uid = 0;
    info.exe_gid = 0;
    info.fsuid = 0;
    info.fsgid = 0;
    info.exe_mode = 0;
    info.exe_flags = 0;
    info.exe_path_len = 0;
    info.env_len = 0;
    info.cwd_len = 0;
    info.cwd_flags = 0;
    info.fdlimit = 0;
}

/// `struct pid` → its number at namespace `level` (`pid_nr_ns`): 0 when the
/// pid is not visible there (`pid->level < level`). Level 0 is the host's.
#[inline(always)]
fn pid_nr(pid: *const u8, level: u32) -> u32 {
    if pid.is_null() {
        return 0;
    }
    let own: u32 = ld(pid, conf!(exe.pid_level)).unwrap_or(0);
    if own < level {
        return 0;
    }
    // sizeof(struct upid) == 16, `nr` first. Level 0 is a constant offset (a
    // plain load); a deeper level is a variable index, a helper read.
    if level == 0 {
        return ld::<u32>(pid, conf!(exe.pid_numbers)).unwrap_or(0);
    }
    read_at::<u32>(pid, conf!(exe.pid_numbers).wrapping_add((level & 63) * 16)).unwrap_or(0)
}

/// `signal->pids[t]`.
#[inline(always)]
fn signal_pid(signal: *const u8, t: u32) -> *const u8 {
    ld(signal, at(conf!(exe.signal_pids), t * 8)).unwrap_or(core::ptr::null())
}

/// The inheritable, permitted and effective capability sets of `task` (zero when unreadable).
#[inline(always)]
pub fn task_caps(task: *const u8) -> (u64, u64, u64) {
    match ld::<*const u8>(task, conf!(exe.task_cred)).filter(|c| !c.is_null()) {
        Some(cred) => (
            ld(cred, conf!(exe.cred_cap_inheritable)).unwrap_or(0),
            ld(cred, conf!(exe.cred_cap_permitted)).unwrap_or(0),
            ld(cred, conf!(exe.cred_cap_effective)).unwrap_or(0),
        ),
        None => (0, 0, 0),
    }
}

/// Credentials, ids and start time of `task`.
#[inline(always)]
pub fn read_task(task: *const u8, info: &mut ExecInfo) {
    if let Some(cred) = ld::<*const u8>(task, conf!(exe.task_cred)).filter(|c| !c.is_null()) {
        info.cap_inheritable = ld(cred, conf!(exe.cred_cap_inheritable)).unwrap_or(0);
        info.cap_permitted = ld(cred, conf!(exe.cred_cap_permitted)).unwrap_or(0);
        info.cap_effective = ld(cred, conf!(exe.cred_cap_effective)).unwrap_or(0);
        info.fsuid = ld(cred, conf!(exe.cred_fsuid)).unwrap_or(0);
        info.fsgid = ld(cred, conf!(exe.cred_fsgid)).unwrap_or(0);
    }
    let leader: *const u8 = ld(task, conf!(exe.task_group_leader)).unwrap_or(task);
    info.start_boot_ns = ld(leader, conf!(exe.task_start_boottime)).unwrap_or(0);
    // The task's pid namespace is its thread pid's deepest level.
    let tpid: *const u8 = ld(task, conf!(exe.task_thread_pid)).unwrap_or(core::ptr::null());
    let level: u32 = if tpid.is_null() { 0 } else { ld(tpid, conf!(exe.pid_level)).unwrap_or(0) };
    info.vtid = pid_nr(tpid, level);
    if let Some(signal) = ld::<*const u8>(task, conf!(offsets.task_signal)).filter(|s| !s.is_null()) {
        info.sid = pid_nr(signal_pid(signal, PIDTYPE_SID), 0);
        info.vpid = pid_nr(signal_pid(signal, PIDTYPE_TGID), level);
        let pgrp = signal_pid(signal, PIDTYPE_PGID);
        info.vpgid = pid_nr(pgrp, level);
        info.pgid = pid_nr(pgrp, 0);
        if let Some(n) = ld::<u64>(signal, conf!(exe.signal_rlim_nofile)) {
            info.fdlimit = if n > u32::MAX as u64 { u32::MAX } else { n as u32 };
            info.exe_flags |= EXE_FDLIMIT;
        }
    }
}

/// The task's credentials and ids ([`read_task`]) unless `skip`
/// (`EXEC_SKIP_*`) leaves them out.
#[inline(always)]
pub fn read_parts(task: *const u8, info: &mut ExecInfo, skip: u32) {
    if skip & EXEC_SKIP_TASK == 0 {
        read_task(task, info);
    }
}

/// The last two sections of the record's tail, after argv, the environment
/// and the filename: the executable ([`read_exe`], with `mm`) and the
/// working directory ([`read_cwd`]), each unless `skip` leaves it out.
#[inline(always)]
pub fn read_paths(task: *const u8, mm: Option<*const u8>, ev: &mut ExecEvent, skip: u32) {
    if let Some(mm) = mm {
        read_exe(task, mm, ev, skip);
    }
    if skip & EXEC_SKIP_CWD == 0 {
        read_cwd(task, ev);
    }
}

/// `ev.tail` at `off`, when `off <= max`: the bound the verifier checks the
/// section's writes against (`EXEC_*_AT_MAX`); past it (never, for lengths
/// the probes wrote) the section is left out.
#[inline(always)]
fn tail_at(ev: &mut ExecEvent, off: usize, max: usize) -> Option<*mut u8> {
    if off > max {
        return None;
    }
    Some(unsafe { ev.tail.as_mut_ptr().add(off) })
}

/// The filename into its section, after argv and the environment: a kernel
/// string at `src`, or a user one with `user` (a failed exec's argument).
/// Returns `FLAG_PATH_TRUNCATED` when it did not fit, `Err` when unread
/// (`filename_len` 0).
#[inline(always)]
pub fn read_filename(ev: &mut ExecEvent, src: *const u8, user: bool) -> Result<u16, ()> {
    ev.filename_len = 0;
    let at = ev.args_len as usize + ev.info.env_len as usize;
    let dst = tail_at(ev, at, EXEC_FILENAME_AT_MAX).ok_or(())?;
    // SAFETY: `at <= EXEC_FILENAME_AT_MAX`, and the tail has PATH_LEN bytes past it.
    let buf = unsafe { core::slice::from_raw_parts_mut(dst, PATH_LEN) };
    let r = if user {
        unsafe { bpf_probe_read_user_str_bytes(src, buf) }
    } else {
        unsafe { bpf_probe_read_kernel_str_bytes(src, buf) }
    };
    let n = r.map_err(|_| ())?.len();
    ev.filename_len = n as u16;
    Ok(if n >= PATH_LEN - 1 { FLAG_PATH_TRUNCATED } else { 0 })
}

/// The environment after the `args_len` argv bytes already in `ev.tail`. One
/// longer than `ENV_LEN` keeps both ends (`EXE_ENV_ENDS`): its first `ENV_HEAD`
/// bytes and, after a sentinel byte, its last ones, so padding the environment
/// cannot push a variable set last out of the record.
#[inline(always)]
pub fn read_env(mm: *const u8, ev: &mut ExecEvent) {
    let start: u64 = ld(mm, conf!(exe.mm_env_start)).unwrap_or(0);
    let end: u64 = ld(mm, conf!(exe.mm_env_end)).unwrap_or(0);
    if start == 0 {
        return;
    }
    if end <= start || end - start <= ENV_LEN as u64 {
        read_env_range(ev, start, end);
        return;
    }
    let off = ev.args_len as usize;
    if off > ARGS_LEN {
        return;
    }
    const TAIL: u32 = (ENV_LEN - ENV_HEAD) as u32;
    let head = unsafe { ev.tail.as_mut_ptr().add(off) };
    let tail = unsafe { ev.tail.as_mut_ptr().add(off + ENV_HEAD) };
    let ok = unsafe {
        bpf_probe_read_user(head.cast(), ENV_HEAD as u32, start as *const c_void) == 0
            && bpf_probe_read_user(tail.cast(), TAIL, (end - TAIL as u64) as *const c_void) == 0
    };
    if ok {
        ev.info.env_len = ENV_LEN as u16;
        ev.info.exe_flags |= EXE_ENV_TRUNCATED | EXE_ENV_ENDS;
    }
}

/// The environment block `start..end` of user memory, appended after argv in
/// `ev.tail` (at most `ENV_LEN` bytes; `EXE_ENV_TRUNCATED` when cut). Shared by
/// `sched_exec` (from `mm->env_*`) and `lsm_exec` (from the new stack).
#[inline(always)]
pub fn read_env_range(ev: &mut ExecEvent, start: u64, end: u64) {
    let off = ev.args_len as usize;
    if end <= start || off > ARGS_LEN {
        return;
    }
    let total = end - start;
    let n = if total > ENV_LEN as u64 { ENV_LEN as u32 } else { total as u32 } & ENV_LEN as u32;
    let dst = unsafe { ev.tail.as_mut_ptr().add(off) };
    if unsafe { bpf_probe_read_user(dst.cast(), n, start as *const c_void) } == 0 {
        ev.info.env_len = n as u16;
        if total > ENV_LEN as u64 {
            ev.info.exe_flags |= EXE_ENV_TRUNCATED;
        }
    }
}

/// `*(base + off)` with no branch: a failed read leaves zero (the helper
/// clears the destination), which keeps the walk's verifier states few.
#[inline(always)]
fn raw<T: Copy + Default>(base: *const u8, off: u32) -> T {
    let mut v = T::default();
    unsafe {
        bpf_probe_read_kernel(
            (&mut v as *mut T).cast(),
            core::mem::size_of::<T>() as u32,
            base.wrapping_add(off as usize).cast(),
        )
    };
    v
}

/// An inode time (`sec` and `nsec` members) in nanoseconds; bit 31 of the
/// nsec member is I_CTIME_QUERIED (multigrain timestamps, 6.13+).
#[inline(always)]
fn inode_time(inode: *const u8, sec: u32, nsec: u32) -> u64 {
    let sec: i64 = ld(inode, sec).unwrap_or(0);
    let nsec: u32 = ld::<u32>(inode, nsec).unwrap_or(0) & NSEC_MASK;
    (sec as u64).wrapping_mul(1_000_000_000).wrapping_add(nsec as u64)
}

/// Path (see [`walk`]), inode facts and overlayfs layer of `mm->exe_file`;
/// `skip` (`EXEC_SKIP_*`) leaves out the walk or the inode facts.
#[inline(always)]
fn read_exe(task: *const u8, mm: *const u8, ev: &mut ExecEvent, skip: u32) {
    let exe_at = ev.args_len as usize + ev.info.env_len as usize + ev.filename_len as usize;
    let Some(out) = tail_at(ev, exe_at, EXEC_EXE_AT_MAX) else { return };
    let info = &mut ev.info;
    let Some(file) = ld::<*const u8>(mm, conf!(exe.mm_exe_file)).filter(|f| !f.is_null()) else {
        return;
    };
    let Some(w) = EXE_WALK.get_ptr_mut(0) else { return };
    let fpath = conf!(exe.file_f_path);
    let vfsmnt: u64 = ld(file, fpath).unwrap_or(0);
    let dentry: u64 = ld(file, second(fpath)).unwrap_or(0);
    info.exe_flags |= EXE_PRESENT;
    let inode: Option<*const u8> =
        if skip & EXEC_SKIP_EXE_INODE == 0 { ld(file, conf!(exe.file_f_inode)) } else { None };
    if let Some(inode) = inode.filter(|i| !i.is_null()) {
        info.exe_ino = ld(inode, conf!(exe.inode_i_ino)).unwrap_or(0);
        info.exe_mode = ld(inode, conf!(exe.inode_i_mode)).unwrap_or(0);
        info.exe_uid = ld(inode, conf!(exe.inode_i_uid)).unwrap_or(0);
        info.exe_gid = ld(inode, conf!(exe.inode_i_gid)).unwrap_or(0);
        info.exe_ctime_ns = inode_time(inode, conf!(exe.inode_ctime_sec), conf!(exe.inode_ctime_nsec));
        info.exe_mtime_ns = inode_time(inode, conf!(exe.inode_mtime_sec), conf!(exe.inode_mtime_nsec));
        let sb: Option<*const u8> = ld(inode, conf!(exe.inode_i_sb));
        let magic: u64 = sb.and_then(|sb| ld(sb, conf!(exe.sb_s_magic))).unwrap_or(0);
        if magic == OVERLAYFS_SUPER_MAGIC {
            // `container_of(inode, struct ovl_inode, vfs_inode)->__upperdentry`:
            // outside `struct inode`, so a helper read.
            let upper: u64 = raw(inode, conf!(exe.ovl_upperdentry));
            info.exe_flags |= if upper == 0 { EXE_LOWER_LAYER } else { EXE_UPPER_LAYER };
        }
    }
    if skip & EXEC_SKIP_EXE_PATH != 0 {
        return;
    }
    // d_unlinked(): unhashed (d_hash.pprev == NULL) and not a root.
    let pprev: u64 = ld(dentry as *const u8, second(conf!(exe.dentry_d_hash))).unwrap_or(0);
    let parent0: u64 = ld(dentry as *const u8, conf!(exe.dentry_d_parent)).unwrap_or(0);
    if pprev == 0 && parent0 != dentry {
        info.exe_flags |= EXE_DELETED;
    }
    let fs: Option<*const u8> = ld(task, conf!(exe.task_fs));
    let root_mnt: u64 = fs.and_then(|fs| ld(fs, conf!(exe.fs_root))).unwrap_or(0);
    let root_dentry: u64 = fs.and_then(|fs| ld(fs, second(conf!(exe.fs_root)))).unwrap_or(0);
    root_identity(root_dentry as *const u8, info);
    let (len, end, short) = walk(w, vfsmnt, dentry, (root_mnt, root_dentry), out);
    if short || end == WALK_CUT {
        info.exe_flags |= EXE_TRUNCATED;
    }
    if end == WALK_PSEUDO {
        info.exe_flags |= EXE_PSEUDO;
    }
    info.exe_path_len = len;
}

/// The root directory's identity (`root->d_inode`: inode number and its super
/// block's device), read beside the executable's walk, which loads the root
/// anyway. Userspace keys its user-name cache by it (`users::Scope::of_exec`).
#[inline(always)]
fn root_identity(root: *const u8, info: &mut ExecInfo) {
    if let Some(inode) = ld::<*const u8>(root, conf!(exe.dentry_d_inode)) {
        info.root_ino = ld(inode, conf!(exe.inode_i_ino)).unwrap_or(0);
        let sb: Option<*const u8> = ld(inode, conf!(exe.inode_i_sb));
        info.root_dev = sb.and_then(|sb| ld(sb, conf!(exe.sb_s_dev))).unwrap_or(0);
    }
}

/// The working directory (`task->fs->pwd`), walked like the executable up to
/// the task's root (`proc.cwd` of short-lived processes, read at exec).
#[inline(always)]
fn read_cwd(task: *const u8, ev: &mut ExecEvent) {
    let pwd = conf!(exe.fs_pwd);
    if pwd == lanner_common::config::OFFSET_NONE {
        return;
    }
    let Some(w) = EXE_WALK.get_ptr_mut(0) else { return };
    let Some(fs) = ld::<*const u8>(task, conf!(exe.task_fs)).filter(|f| !f.is_null()) else {
        return;
    };
    let vfsmnt: u64 = ld(fs, pwd).unwrap_or(0);
    let dentry: u64 = ld(fs, second(pwd)).unwrap_or(0);
    let root_mnt: u64 = ld(fs, conf!(exe.fs_root)).unwrap_or(0);
    let root_dentry: u64 = ld(fs, second(conf!(exe.fs_root))).unwrap_or(0);
    if dentry == 0 {
        return;
    }
    let i = &ev.info;
    let cwd_at = ev.args_len as usize + i.env_len as usize + ev.filename_len as usize + i.exe_path_len as usize;
    let Some(out) = tail_at(ev, cwd_at, EXEC_CWD_AT_MAX) else { return };
    let info = &mut ev.info;
    let (len, end, short) = walk(w, vfsmnt, dentry, (root_mnt, root_dentry), out);
    info.cwd_flags = CWD_PRESENT;
    if short || end != WALK_DONE {
        info.cwd_flags |= CWD_TRUNCATED;
    }
    info.cwd_len = len;
}

/// Walk from (`vfsmnt`, `dentry`) up to `root` (its mount and dentry), crossing
/// mounts, and write the components leaf first into `out` (its section of
/// the record's tail, `EXE_PATH_BUF` bytes of room). Returns the bytes used, how the walk ended and
/// whether some recorded component was not copied (byte budget).
///
/// Three bounded loops keep verification cheap. The first walks up the
/// dentry chain inside the starting mount with plain loads ([`ld`]: the
/// pointers stay BTF-typed in registers, and the mount's root is loaded once),
/// recording each component's name pointer; most paths (an executable or a
/// working directory on the root file system, or inside a container's root)
/// end there. Crossing a mount needs `container_of` (`struct mount` around the
/// `vfsmount`), which the verifier cannot type, so the second loop goes on
/// from the first crossing with helper reads, its loop-carried values in map
/// memory. The third copies the recorded names. The count between them goes
/// through map memory, so the verifier does not carry it as a constant into
/// the copy loop.
#[inline(always)]
fn walk(w: *mut ExeWalk, vfsmnt: u64, dentry: u64, root: (u64, u64), out: *mut u8) -> (u16, u32, bool) {
    let (root_mnt, root_dentry) = root;
    let mnt_off = conf!(exe.mount_mnt) as u64;
    let name_off = at(conf!(exe.dentry_d_name), 8);
    // Loop-carried values live in map memory (volatile): the verifier sees
    // them as unknown at every iteration, so one state per iteration suffices.
    macro_rules! get {
        ($f:ident) => {
            unsafe { core::ptr::read_volatile(&raw const (*w).$f) }
        };
    }
    macro_rules! set {
        ($f:ident, $v:expr) => {
            unsafe { core::ptr::write_volatile(&raw mut (*w).$f, $v) }
        };
    }
    // Record a component's name pointer; false when the array is full.
    macro_rules! record {
        ($name:expr) => {{
            let c = get!(count);
            if c >= MAX_DEPTH {
                false
            } else {
                unsafe { (*w).names[c as usize & (MAX_DEPTH as usize - 1)] = $name };
                set!(count, c + 1);
                true
            }
        }};
    }
    set!(count, 0);
    set!(end, WALK_CUT);
    // Loop 1: inside the starting mount, typed loads.
    let mnt_root: u64 = ld(vfsmnt as *const u8, conf!(exe.vfsmount_mnt_root)).unwrap_or(0);
    let mut d = dentry;
    let mut cross = false;
    for _ in 0..MAX_DEPTH {
        if d == root_dentry && vfsmnt == root_mnt {
            set!(end, WALK_DONE);
            break;
        }
        if d == mnt_root {
            cross = true;
            break;
        }
        let parent: u64 = ld(d as *const u8, conf!(exe.dentry_d_parent)).unwrap_or(0);
        let name: u64 = ld(d as *const u8, name_off).unwrap_or(0);
        if d == parent {
            // A root dentry that is not its mount's root: a pseudo file (memfd).
            if record!(name) {
                set!(end, WALK_PSEUDO);
            }
            break;
        }
        if parent == 0 || !record!(name) {
            break;
        }
        d = parent;
    }
    // Loop 2: from the first mount crossing on, helper reads.
    if cross {
        set!(dentry, d);
        set!(vfsmnt, vfsmnt);
        for _ in 0..MAX_DEPTH {
            let (dentry, vfsmnt) = (get!(dentry), get!(vfsmnt));
            if dentry == root_dentry && vfsmnt == root_mnt {
                set!(end, WALK_DONE);
                break;
            }
            let mnt_root: u64 = raw(vfsmnt as *const u8, conf!(exe.vfsmount_mnt_root));
            let parent: u64 = raw(dentry as *const u8, conf!(exe.dentry_d_parent));
            if dentry == mnt_root || dentry == parent {
                if dentry != mnt_root {
                    if record!(raw::<u64>(dentry as *const u8, name_off)) {
                        set!(end, WALK_PSEUDO);
                    }
                    break;
                }
                let mount = vfsmnt.wrapping_sub(mnt_off);
                let mparent: u64 = raw(mount as *const u8, conf!(exe.mount_mnt_parent));
                if mparent == mount {
                    set!(end, WALK_DONE);
                    break;
                }
                let mountpoint: u64 = raw(mount as *const u8, conf!(exe.mount_mnt_mountpoint));
                set!(dentry, mountpoint);
                set!(vfsmnt, mparent.wrapping_add(mnt_off));
                continue;
            }
            if !record!(raw::<u64>(dentry as *const u8, name_off)) {
                break;
            }
            set!(dentry, parent);
        }
    }
    // Loop 3: copy the names, leaf first.
    set!(off, 0);
    set!(copied, 0);
    for j in 0..MAX_DEPTH {
        let off = get!(off) as usize;
        if j >= get!(count) || off >= EXE_PATH_BUDGET {
            break;
        }
        let name = unsafe { (*w).names[j as usize & (MAX_DEPTH as usize - 1)] };
        let at = off & (EXE_PATH_BUDGET - 1);
        let dst = unsafe { out.add(at) };
        let r = unsafe { bpf_probe_read_kernel_str(dst.cast(), EXE_NAME_MAX as u32, name as *const c_void) };
        if r <= 0 {
            break;
        }
        set!(off, (at + (r as usize & (EXE_NAME_MAX * 2 - 1))) as u32);
        set!(copied, j + 1);
    }
    let off = get!(off) as usize;
    let len = if off > EXE_PATH_BUF { EXE_PATH_BUF } else { off } as u16;
    (len, get!(end), get!(copied) < get!(count))
}
