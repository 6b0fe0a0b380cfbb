//! `syscalls/sys_enter_openat`: stash dirfd, path, flags and mode by thread id;
//! `openat_exit` adds the result (fd or -errno) and emits.
use aya_ebpf::{macros::tracepoint, programs::TracePointContext};
use lanner_common::counters::ProbeId;

use super::sys_arg;
use crate::common::{is_self, kind_enabled};

const P: ProbeId = ProbeId::OpenatEnter;

#[tracepoint(category = "syscalls", name = "sys_enter_openat")]
pub fn openat_enter(ctx: TracePointContext) -> u32 {
    let _ = try_openat_enter(&ctx);
    0
}

fn try_openat_enter(ctx: &TracePointContext) -> Result<(), i64> {
    if is_self(P) || !kind_enabled(P, lanner_common::EventKind::Open) {
        return Ok(());
    }
    let dirfd: i64 = unsafe { ctx.read_at(sys_arg(0))? };
    let path: *const u8 = unsafe { ctx.read_at(sys_arg(1))? };
    let flags: u64 = unsafe { ctx.read_at(sys_arg(2))? };
    let mode: u64 = unsafe { ctx.read_at(sys_arg(3))? };
    stash_open(P, 1, dirfd as i32, path, flags as u32, mode as u32)
}

/// Shared by openat and openat2: build the record in per-CPU scratch, stash it.
#[inline(always)]
pub fn stash_open(probe: ProbeId, subtype: u16, dirfd: i32, path: *const u8, flags: u32, mode: u32) -> Result<(), i64> {
    use aya_ebpf::helpers::bpf_probe_read_user_str_bytes;
    use lanner_common::{counters::Counter, EventKind, FLAG_PATH_TRUNCATED, FLAG_READ_FAILED, PATH_LEN};

    use crate::{
        common::{count, fill_header, filter},
        maps::{OPEN_PREFIXES, OPEN_SCRATCH, OPEN_STASH, PREFIX_SCRATCH},
    };
    use aya_ebpf::helpers::generated::bpf_probe_read_kernel;
    use lanner_common::config::PREFIX_KEY_LEN;

    let ev = unsafe { &mut *OPEN_SCRATCH.get_ptr_mut(0).ok_or(0i64)? };
    fill_header(&mut ev.hdr, EventKind::Open as u16);
    ev.hdr.subtype = subtype;
    ev.ret = 0;
    ev.dirfd = dirfd;
    ev.flags = flags;
    ev.mode = mode;
    match unsafe { bpf_probe_read_user_str_bytes(path, &mut ev.path) } {
        Ok(s) => {
            ev.path_len = s.len() as u16;
            if s.len() >= PATH_LEN - 1 {
                ev.hdr.flags |= FLAG_PATH_TRUNCATED;
            }
        }
        Err(_) => {
            ev.path_len = 0;
            ev.hdr.flags |= FLAG_READ_FAILED;
            count(probe, Counter::StrReadFail);
        }
    }
    // Pre-filter: an absolute path that no rule's prefix covers is dropped
    // here, before the stash (unless it is a write and writes always pass).
    let f = filter();
    if f.open_prefix_filter != 0 && ev.path_len > 0 && ev.path[0] == b'/' {
        const WRITE_BITS: u32 = 0o1 | 0o2 | 0o100 | 0o1000; // O_WRONLY|O_RDWR|O_CREAT|O_TRUNC
        let write = flags & WRITE_BITS != 0;
        if !(write && f.open_writes_always != 0) {
            let key = unsafe { &mut *PREFIX_SCRATCH.get_ptr_mut(0).ok_or(0i64)? };
            key.prefix_len = (PREFIX_KEY_LEN * 8) as u32;
            unsafe {
                bpf_probe_read_kernel(key.data.as_mut_ptr().cast(), PREFIX_KEY_LEN as u32, ev.path.as_ptr().cast())
            };
            if OPEN_PREFIXES.get(&*key).is_none() {
                count(probe, Counter::Filtered);
                return Ok(());
            }
        }
    }
    if OPEN_STASH.insert(&ev.hdr.tid, &*ev, 0).is_err() {
        count(probe, Counter::StashFull);
    }
    Ok(())
}
