//! Entry halves shared by the path syscalls and the numeric-argument syscalls:
//! check the per-syscall pre-filter, copy the arguments (user strings into
//! per-CPU scratch) and stash the record by thread id for the exit probe.
use lanner_common::{
    counters::{Counter, ProbeId},
    EventKind, FdInfo,
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

/// Stash a numeric-argument syscall's record, with the user string at `str`
/// (null when the syscall has none).
#[inline(always)]
pub fn stash_sys(subtype: u16, args: [u64; 6], str: *const u8) -> Result<(), i64> {
    const P: ProbeId = ProbeId::SysEnter;
    if is_self(P) || !sys_enabled(P, filter(), subtype) {
        return Ok(());
    }
    let ev = unsafe { &mut *SYS_SCRATCH.get_ptr_mut(0).ok_or(0i64)? };
    fill_header(&mut ev.hdr, EventKind::Sys as u16);
    ev.hdr.subtype = subtype;
    let mut flags = 0u16;
    ev.str_len = read_user_str(P, str, &mut ev.str, &mut flags);
    ev.hdr.flags = flags;
    ev.ret = 0;
    ev.args = args;
    ev._pad1 = [0; 3];
    ev.fd = FdInfo { fd: -1, ..FdInfo::default() };
    if SYS_STASH.insert(&ev.hdr.tid, &*ev, 0).is_err() {
        count(P, Counter::StashFull);
    }
    Ok(())
}
