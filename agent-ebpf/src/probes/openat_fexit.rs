//! `fexit/do_sys_openat2`: open, openat and openat2 in one program where the
//! kernel has BPF trampolines (BTF + fentry/fexit). The arguments and the
//! result arrive together, so there is no stash: the record is built in
//! per-CPU scratch and emitted here, the same `OpenEvent` the tracepoint pair
//! emits (subtype openat). `lanner::probes::TABLE` prefers this program and
//! falls back to the `sys_enter/exit_openat{,2}` pairs when it cannot load.
use aya_ebpf::{helpers::bpf_probe_read_kernel, macros::fexit, programs::FExitContext};
use lanner_common::{
    counters::{Counter, ProbeId},
    EventKind,
};

use super::openat_enter::fill_open;
use crate::common::{count, filter, is_self, kind_enabled, submit_prefix};

const P: ProbeId = ProbeId::OpenatExit;

#[fexit(function = "do_sys_openat2")]
pub fn openat_fexit(ctx: FExitContext) -> i32 {
    let _ = try_openat_fexit(&ctx);
    0
}

/// `struct open_how { u64 flags; u64 mode; u64 resolve; }` (kernel memory here).
#[repr(C)]
struct OpenHow {
    flags: u64,
    mode: u64,
}

fn try_openat_fexit(ctx: &FExitContext) -> Result<(), i64> {
    let f = filter();
    if is_self(P) || !kind_enabled(P, f, EventKind::Open) {
        return Ok(());
    }
    // long do_sys_openat2(int dfd, const char __user *filename, struct open_how *how)
    let dirfd: i32 = ctx.arg(0);
    let path: *const u8 = ctx.arg(1);
    let how: *const OpenHow = ctx.arg(2);
    // The result is the slot after the arguments (`FExitContext::ret` uses
    // bpf_get_func_ret, which needs 5.17: the verifier on 5.10 rejects it).
    let ret: i64 = ctx.arg(3);
    if ret < 0 && f.drop_failed_opens != 0 {
        count(P, Counter::Filtered);
        return Ok(());
    }
    let how = unsafe { bpf_probe_read_kernel(how)? };
    let Some(ev) = fill_open(P, f, 1, dirfd, path, how.flags as u32, how.mode as u32)? else {
        return Ok(());
    };
    ev.ret = ret as i32;
    submit_prefix(P, &*ev, lanner_common::open_record_len(ev.path_len as usize));
    Ok(())
}
