//! `syscalls/sys_enter_setuid`, `sys_enter_setreuid`, `sys_enter_setresuid`:
//! the same hook for the setuid family (three thin entries). Stashes the
//! requested ids with the caller's credentials *before* the change.
use aya_ebpf::{macros::tracepoint, programs::TracePointContext};
use lanner_common::{
    counters::{Counter, ProbeId},
    EventHeader, EventKind, SetuidEvent, SETUID_SETRESUID, SETUID_SETREUID, SETUID_SETUID, UID_UNCHANGED,
};

use super::arg;
use crate::{
    common::{count, fill_header, filter, is_self, kind_enabled},
    maps::SETUID_STASH,
};

const P: ProbeId = ProbeId::SetuidEnter;

#[tracepoint(category = "syscalls", name = "sys_enter_setuid")]
pub fn setuid_enter(ctx: TracePointContext) -> u32 {
    let _ = try_setuid_enter(&ctx, SETUID_SETUID, 1);
    0
}

#[tracepoint(category = "syscalls", name = "sys_enter_setreuid")]
pub fn setreuid_enter(ctx: TracePointContext) -> u32 {
    let _ = try_setuid_enter(&ctx, SETUID_SETREUID, 2);
    0
}

#[tracepoint(category = "syscalls", name = "sys_enter_setresuid")]
pub fn setresuid_enter(ctx: TracePointContext) -> u32 {
    let _ = try_setuid_enter(&ctx, SETUID_SETRESUID, 3);
    0
}

#[inline(always)]
fn try_setuid_enter(ctx: &TracePointContext, subtype: u16, nargs: usize) -> Result<(), i64> {
    if is_self(P) || !kind_enabled(P, filter(), EventKind::Setuid) {
        return Ok(());
    }
    let mut ids = [UID_UNCHANGED; 3];
    let a0: u64 = arg(ctx, 0);
    ids[0] = a0 as u32;
    if nargs >= 2 {
        let a1: u64 = arg(ctx, 1);
        ids[1] = a1 as u32;
    }
    if nargs >= 3 {
        let a2: u64 = arg(ctx, 2);
        ids[2] = a2 as u32;
    }
    let mut ev =
        SetuidEvent { hdr: EventHeader::ZERO, ret: 0, ruid: ids[0], euid: ids[1], suid: ids[2], _pad1: [0; 2] };
    fill_header(&mut ev.hdr, EventKind::Setuid as u16);
    ev.hdr.subtype = subtype;
    if SETUID_STASH.insert(&ev.hdr.tid, &ev, 0).is_err() {
        count(P, Counter::StashFull);
    }
    Ok(())
}
