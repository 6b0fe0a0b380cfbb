//! Entry halves shared by the path syscalls and the numeric-argument syscalls:
//! check the per-syscall pre-filter, copy the arguments (user strings into
//! per-CPU scratch) and stash the record by thread id for the exit probe. The
//! numeric record is built by `fill_sys`, which the exit-only `sys_regs`
//! programs share.
use lanner_common::{
    counters::{Counter, ProbeId},
    sys, EventKind, FdInfo, SysEvent,
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

impl FileArgs {
    /// One path relative to `dirfd`, with flags and mode.
    #[inline(always)]
    pub fn one(dirfd: i64, path: *const u8, flags: u64, mode: u64) -> FileArgs {
        FileArgs { dirfd, path, dirfd2: 0, path2: core::ptr::null(), flags, mode }
    }
}

/// Stash a path syscall's record (`subtype` = `lanner_common::sys::*`).
#[inline(always)]
pub fn stash_file(subtype: u16, a: FileArgs) -> Result<(), i64> {
    stash_file_aux(subtype, a, core::ptr::null())
}

/// [`stash_file`] with a short third user string copied into `aux` (mount's
/// filesystem type; null for none).
#[inline(always)]
pub fn stash_file_aux(subtype: u16, a: FileArgs, aux: *const u8) -> Result<(), i64> {
    const P: ProbeId = ProbeId::FileEnter;
    if is_self(P) || !sys_enabled(P, filter(), subtype) {
        return Ok(());
    }
    let ev = unsafe { &mut *FILE_SCRATCH.get_ptr_mut(0).ok_or(0i64)? };
    fill_header(&mut ev.hdr, EventKind::File as u16);
    ev.hdr.subtype = subtype;
    let mut flags = 0u16;
    ev.path_len = read_user_str(P, a.path, &mut ev.path, &mut flags);
    ev.path2_len = read_user_str(P, a.path2, &mut ev.path2, &mut flags);
    read_user_str(P, aux, &mut ev.aux, &mut flags);
    ev.hdr.flags = flags;
    ev.ret = 0;
    ev.dirfd = a.dirfd as i32;
    ev.dirfd2 = a.dirfd2 as i32;
    ev.flags = a.flags as u32;
    ev.mode = a.mode as u32;
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
        sys::SETNS | sys::DUP2 | sys::LISTEN => ([a0, a1, 0, 0, 0, 0], none),
        sys::ACCEPT4 => ([a0, 0, 0, a3, 0, 0], none),
        sys::PRCTL => ([a0, a1, 0, 0, 0, 0], if a0 == PR_SET_NAME { a1 as *const u8 } else { none }),
        sys::CAPSET => ([0; 6], none),
        // unshare, bpf, userfaultfd, dup, bind, accept, setgid: one number.
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
