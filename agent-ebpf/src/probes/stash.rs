//! Entry halves shared by the path syscalls and the numeric-argument syscalls:
//! check the per-syscall pre-filter, copy the arguments (user strings into
//! per-CPU scratch) and stash the record by thread id for the exit probe. The
//! numeric record is built by `fill_sys`, which the exit-only `sys_regs`
//! programs share.
use lanner_common::{
    counters::{Counter, ProbeId},
    sys, EventKind, FdInfo, FileEvent, SysEvent, AT_FDCWD,
};

use crate::{
    common::{count, fill_header, filter, is_self, read_user_str, sys_enabled},
    maps::{FILE_SCRATCH, FILE_STASH, SYS_SCRATCH, SYS_STASH},
};

/// The arguments of one path syscall, as passed (see `lanner_common::FileEvent`).
pub struct FileArgs {
    pub dirfd: i64,
    pub path: *const u8,
    pub dirfd2: i64,
    pub path2: *const u8,
    pub flags: u64,
    pub mode: u64,
}

/// A path syscall's record arguments from its raw arguments `r` (ABI order,
/// unread ones zero), and the short third user string some carry (mount's
/// filesystem type; null for none). Shared by the entry halves (`file_enter`)
/// and the exit-only programs (`file_regs`), so both emit the same record;
/// `subtype` is a constant at every call, so this folds to one arm.
#[inline(always)]
pub fn file_args(subtype: u16, r: [u64; 5]) -> (FileArgs, *const u8) {
    let none = core::ptr::null();
    let at = AT_FDCWD as i64;
    let [a0, a1, a2, a3, a4] = r;
    let (d0, p0, p1) = (a0 as i64, a0 as *const u8, a1 as *const u8);
    let two = |dirfd: i64, path: *const u8, dirfd2: i64, path2: *const u8, flags: u64| FileArgs {
        dirfd,
        path,
        dirfd2,
        path2,
        flags,
        mode: 0,
    };
    let one = |dirfd: i64, path: *const u8, flags: u64, mode: u64| FileArgs {
        dirfd,
        path,
        dirfd2: 0,
        path2: none,
        flags,
        mode,
    };
    // chown family: owner uid in `mode`, gid in `dirfd2`.
    let owner = |dirfd: i64, path: *const u8, uid: u64, gid: u64, flags: u64| FileArgs {
        dirfd,
        path,
        dirfd2: gid as u32 as i64,
        path2: none,
        flags,
        mode: uid,
    };
    let a = match subtype {
        // symlink(target, linkpath), link(old, new), rename(old, new)
        sys::SYMLINK | sys::LINK | sys::RENAME => two(at, p0, at, p1, 0),
        // symlinkat(target, newdirfd, linkpath)
        sys::SYMLINKAT => two(at, p0, a1 as i64, a2 as *const u8, 0),
        // linkat / renameat2(olddfd, old, newdfd, new, flags), renameat without flags
        sys::LINKAT | sys::RENAMEAT2 => two(d0, p1, a2 as i64, a3 as *const u8, a4),
        sys::RENAMEAT => two(d0, p1, a2 as i64, a3 as *const u8, 0),
        // mkdir / chmod / creat(path, mode)
        sys::MKDIR | sys::CHMOD | sys::CREAT => one(at, p0, 0, a1),
        // mkdirat / fchmodat(dfd, path, mode)
        sys::MKDIRAT | sys::FCHMODAT => one(d0, p1, 0, a2),
        sys::UNLINK | sys::RMDIR | sys::CHROOT => one(at, p0, 0, 0),
        // unlinkat(dfd, path, flags)
        sys::UNLINKAT => one(d0, p1, a2, 0),
        // fchmod(fd, mode): the fd in `dirfd`
        sys::FCHMOD => one(d0, none, 0, a1),
        sys::CHOWN | sys::LCHOWN => owner(at, p0, a1, a2, 0),
        sys::FCHOWN => owner(d0, none, a1, a2, 0),
        // fchownat(dfd, path, uid, gid, flags)
        sys::FCHOWNAT => owner(d0, p1, a2, a3, a4),
        // mount(dev, dir, type, flags, data): the target first, the type as aux
        sys::MOUNT => return (two(at, p1, at, p0, a3), a2 as *const u8),
        // umount2(name, flags)
        _ => one(at, p0, a1, 0),
    };
    (a, none)
}

/// Build a path syscall's record in the per-CPU scratch from its raw arguments
/// ([`file_args`]): header, paths and aux string; result left empty.
#[inline(always)]
pub fn fill_file(probe: ProbeId, subtype: u16, r: [u64; 5]) -> Result<&'static mut FileEvent, i64> {
    let (a, aux) = file_args(subtype, r);
    let ev = unsafe { &mut *FILE_SCRATCH.get_ptr_mut(0).ok_or(0i64)? };
    fill_header(&mut ev.hdr, EventKind::File as u16);
    ev.hdr.subtype = subtype;
    let mut flags = 0u16;
    ev.path_len = read_user_str(probe, a.path, &mut ev.path, &mut flags);
    ev.path2_len = read_user_str(probe, a.path2, &mut ev.path2, &mut flags);
    read_user_str(probe, aux, &mut ev.aux, &mut flags);
    ev.hdr.flags = flags;
    ev.ret = 0;
    ev.dirfd = a.dirfd as i32;
    ev.dirfd2 = a.dirfd2 as i32;
    ev.flags = a.flags as u32;
    ev.mode = a.mode as u32;
    Ok(ev)
}

/// Stash a path syscall's record (raw arguments `r`, see [`file_args`]) for its
/// exit half (`subtype` = `lanner_common::sys::*`).
#[inline(always)]
pub fn stash_file(subtype: u16, r: [u64; 5]) -> Result<(), i64> {
    const P: ProbeId = ProbeId::FileEnter;
    if is_self(P) || !sys_enabled(P, filter(), subtype) {
        return Ok(());
    }
    let ev = fill_file(P, subtype, r)?;
    if FILE_STASH.insert(&ev.hdr.tid, &*ev, 0).is_err() {
        count(P, Counter::StashFull);
    }
    Ok(())
}

/// `PR_SET_NAME`: prctl's second argument is a string.
const PR_SET_NAME: u64 = 15;

/// A numeric-argument syscall's record arguments and user string from its raw
/// arguments `r` (the first four, in ABI order; unread ones zero): which go into
/// `SysEvent::args` and which one points to the string copied into `str` (see
/// `lanner_common::SysEvent`). Shared by the entry halves and the exit-only
/// programs (`sys_regs`), so both emit the same record; `subtype` is a constant
/// at every call, so this folds to one arm.
#[inline(always)]
pub fn sys_record(subtype: u16, r: [u64; 4]) -> ([u64; 6], *const u8) {
    let none = core::ptr::null();
    let [a0, a1, a2, a3] = r;
    match subtype {
        sys::PTRACE => ([a0, a1, a2, a3, 0, 0], none),
        sys::SOCKET | sys::DUP3 | sys::SETRESGID => ([a0, a1, a2, 0, 0, 0], none),
        sys::INIT_MODULE => ([a0, a1, 0, 0, 0, 0], a2 as *const u8),
        sys::FINIT_MODULE => ([a0, 0, a2, 0, 0, 0], a1 as *const u8),
        sys::DELETE_MODULE | sys::MEMFD_CREATE => ([0, a1, 0, 0, 0, 0], a0 as *const u8),
        sys::SETNS | sys::DUP2 | sys::LISTEN | sys::KILL => ([a0, a1, 0, 0, 0, 0], none),
        sys::ACCEPT4 => ([a0, 0, 0, a3, 0, 0], none),
        sys::PRCTL => ([a0, a1, 0, 0, 0, 0], if a0 == PR_SET_NAME { a1 as *const u8 } else { none }),
        sys::CAPSET => ([0; 6], none),
        sys::OPEN_BY_HANDLE_AT => ([a0, 0, a2, 0, 0, 0], none),
        sys::IO_URING_SETUP => ([a0, a1, 0, 0, 0, 0], none),
        // unshare, bpf, userfaultfd, dup, bind, accept, setgid, process_vm_readv/writev: one number.
        _ => ([a0, 0, 0, 0, 0, 0], none),
    }
}

/// Build a numeric-argument syscall's record in the per-CPU scratch: header,
/// the arguments of [`sys_record`] and its user string; result and fd left empty.
#[inline(always)]
pub fn fill_sys(probe: ProbeId, subtype: u16, r: [u64; 4]) -> Result<&'static mut SysEvent, i64> {
    let (args, str) = sys_record(subtype, r);
    let ev = unsafe { &mut *SYS_SCRATCH.get_ptr_mut(0).ok_or(0i64)? };
    fill_header(&mut ev.hdr, EventKind::Sys as u16);
    ev.hdr.subtype = subtype;
    let mut flags = 0u16;
    ev.str_len = read_user_str(probe, str, &mut ev.str, &mut flags);
    ev.hdr.flags = flags;
    ev.ret = 0;
    ev.args = args;
    ev._pad1 = [0; 3];
    ev.fd = FdInfo { fd: -1, ..FdInfo::default() };
    Ok(ev)
}

/// Stash a numeric-argument syscall's record (raw arguments `r`, see
/// [`sys_record`]) for its exit half.
#[inline(always)]
pub fn stash_sys(subtype: u16, r: [u64; 4]) -> Result<(), i64> {
    const P: ProbeId = ProbeId::SysEnter;
    if is_self(P) || !sys_enabled(P, filter(), subtype) {
        return Ok(());
    }
    let ev = fill_sys(P, subtype, r)?;
    if SYS_STASH.insert(&ev.hdr.tid, &*ev, 0).is_err() {
        count(P, Counter::StashFull);
    }
    Ok(())
}
