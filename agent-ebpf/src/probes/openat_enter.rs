//! `syscalls/sys_enter_openat`: stash dirfd, path, flags and mode by thread id;
//! `openat_exit` adds the result (fd or -errno) and emits.
use aya_ebpf::{macros::tracepoint, programs::TracePointContext};
use lanner_common::counters::ProbeId;

use super::arg;
use lanner_common::FilterConfig;

use crate::common::{filter, is_self, kind_enabled};

const P: ProbeId = ProbeId::OpenatEnter;

#[tracepoint(category = "syscalls", name = "sys_enter_openat")]
pub fn openat_enter(ctx: TracePointContext) -> u32 {
    let _ = try_openat_enter(&ctx);
    0
}

fn try_openat_enter(ctx: &TracePointContext) -> Result<(), i64> {
    let f = filter();
    if is_self(P) || !kind_enabled(P, f, lanner_common::EventKind::Open) {
        return Ok(());
    }
    let dirfd: i64 = arg(ctx, 0);
    let path: *const u8 = arg(ctx, 1);
    let flags: u64 = arg(ctx, 2);
    let mode: u64 = arg(ctx, 3);
    stash_open(P, f, 1, dirfd as i32, path, flags as u32, mode as u32)
}

/// Shared by openat and openat2: build the record, then stash it by thread id.
#[inline(always)]
pub fn stash_open(
    probe: ProbeId,
    f: &FilterConfig,
    subtype: u16,
    dirfd: i32,
    path: *const u8,
    flags: u32,
    mode: u32,
) -> Result<(), i64> {
    use lanner_common::counters::Counter;

    use crate::{common::count, maps::OPEN_STASH};

    let Some(ev) = fill_open(probe, f, subtype, dirfd, path, flags, mode)? else {
        return Ok(());
    };
    if OPEN_STASH.insert(&ev.hdr.tid, &*ev, 0).is_err() {
        count(probe, Counter::StashFull);
    }
    Ok(())
}

/// Read the path into per-CPU scratch, apply the path pre-filter, then fill
/// the header and the arguments (`ret` 0). `None`: the pre-filter dropped it.
/// Shared by the tracepoint pair (which stashes it) and `openat_fexit`.
#[inline(always)]
pub fn fill_open(
    probe: ProbeId,
    f: &FilterConfig,
    subtype: u16,
    dirfd: i32,
    path: *const u8,
    flags: u32,
    mode: u32,
) -> Result<Option<&'static mut lanner_common::OpenEvent>, i64> {
    use aya_ebpf::helpers::bpf_probe_read_user_str_bytes;
    use lanner_common::{counters::Counter, EventKind, FLAG_PATH_TRUNCATED, FLAG_READ_FAILED, PATH_LEN};

    use crate::{
        common::{count, fill_header},
        maps::OPEN_SCRATCH,
        pathfilter::path_wanted,
    };

    let ev = unsafe { &mut *OPEN_SCRATCH.get_ptr_mut(0).ok_or(0i64)? };
    let mut hdr_flags = 0;
    let len = match unsafe { bpf_probe_read_user_str_bytes(path, &mut ev.path) } {
        Ok(s) => {
            if s.len() >= PATH_LEN - 1 {
                hdr_flags |= FLAG_PATH_TRUNCATED;
            }
            s.len()
        }
        Err(_) => {
            hdr_flags |= FLAG_READ_FAILED;
            count(probe, Counter::StrReadFail);
            0
        }
    };
    // Pre-filter first: a path no rule can match costs no header, stash or record.
    if f.open_prefix_filter != 0 && !path_wanted(&ev.path, len, hdr_flags & FLAG_PATH_TRUNCATED != 0, flags, f) {
        count(probe, Counter::Filtered);
        return Ok(None);
    }
    fill_header(&mut ev.hdr, EventKind::Open as u16);
    ev.hdr.flags = hdr_flags;
    ev.hdr.subtype = subtype;
    ev.path_len = len as u16;
    ev.ret = 0;
    ev.dirfd = dirfd;
    ev.flags = flags;
    ev.mode = mode;
    Ok(Some(ev))
}
