//! `syscalls/sys_enter_openat2`: like openat, with flags and mode read from the
//! user's `struct open_how`. Shares the stash and the exit path with openat.
use aya_ebpf::{helpers::bpf_probe_read_user, macros::tracepoint, programs::TracePointContext};
use lanner_common::counters::ProbeId;

use super::{arg, openat_enter::stash_open};
use crate::common::{filter, is_self, kind_enabled};

const P: ProbeId = ProbeId::OpenatEnter;

#[tracepoint(category = "syscalls", name = "sys_enter_openat2")]
pub fn openat2_enter(ctx: TracePointContext) -> u32 {
    let _ = try_openat2_enter(&ctx);
    0
}

/// `struct open_how { u64 flags; u64 mode; u64 resolve; }`
#[repr(C)]
struct OpenHow {
    flags: u64,
    mode: u64,
}

fn try_openat2_enter(ctx: &TracePointContext) -> Result<(), i64> {
    let f = filter();
    if is_self(P) || !kind_enabled(P, f, lanner_common::EventKind::Open) {
        return Ok(());
    }
    let dirfd: i64 = arg(ctx, 0);
    let path: *const u8 = arg(ctx, 1);
    let how: *const OpenHow = arg(ctx, 2);
    let how = unsafe { bpf_probe_read_user(how)? };
    stash_open(P, f, 2, dirfd as i32, path, how.flags as u32, how.mode as u32)
}
