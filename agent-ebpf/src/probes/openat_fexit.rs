//! `fexit/do_sys_openat2`: open, openat and openat2 in one program where the
//! kernel has BPF trampolines (BTF + fentry/fexit). The arguments and the
//! result arrive together, so there is no stash: the record is built in
//! per-CPU scratch and emitted here, the same `OpenEvent` the tracepoint pair
//! emits. `lanner::probes::TABLE` prefers this program and falls back to the
//! `sys_enter/exit_openat{,2}` pairs when it cannot load.
//!
//! do_sys_openat2 does not know which syscall called it, so the subtype comes
//! from the syscall's saved registers at the top of the task's kernel stack
//! (x86_64 `pt_regs`: `orig_ax` is the syscall number): open, openat or openat2,
//! and creat is left to its own tracepoint pair (which reports it as creat). The
//! registers are trusted only when the syscall's path argument there is the
//! pointer this function got; otherwise (another architecture, an unexpected
//! stack layout) the event is reported as openat, as before.
use aya_ebpf::{helpers::bpf_probe_read_kernel, macros::fexit, programs::FExitContext};
use lanner_common::{
    counters::{Counter, ProbeId},
    EventKind, OPEN_OPEN, OPEN_OPENAT, OPEN_OPENAT2,
};

use super::openat_enter::fill_open;
use crate::common::{conf, count, current_task, filter, is_self, kind_enabled, read_at, submit_prefix};

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
    let subtype = match caller(path as u64) {
        Caller::Open => OPEN_OPEN,
        Caller::Openat2 => OPEN_OPENAT2,
        Caller::Creat => return Ok(()),
        Caller::Openat | Caller::Unknown => OPEN_OPENAT,
    };
    let how = unsafe { bpf_probe_read_kernel(how)? };
    // The file's facts first, into the scratch record (see `crate::openfacts`).
    crate::openfacts::scratch_with_facts(ret, f.open_file_facts != 0)?;
    let Some(ev) = fill_open(P, f, subtype, dirfd, path, how.flags as u32, how.mode as u32)? else {
        return Ok(());
    };
    crate::openfacts::clear_unwanted_facts(ev, f.open_file_facts);
    ev.ret = ret as i32;
    submit_prefix(P, &*ev, lanner_common::open_record_len(ev.path_len as usize));
    Ok(())
}

/// x86_64 `THREAD_SIZE` (16 KiB; 32 KiB only with KASAN, which distribution kernels lack).
const THREAD_SIZE: u64 = 16 * 1024;
/// `sizeof(struct pt_regs)` on x86_64, and the members read: `si`, `di`, `orig_ax`.
const PT_REGS_SIZE: u64 = 21 * 8;
const REG_SI: u64 = 13 * 8;
const REG_DI: u64 = 14 * 8;
const REG_ORIG_AX: u64 = 15 * 8;
/// x86_64 syscall numbers.
const NR_OPEN: u64 = 2;
const NR_CREAT: u64 = 85;
const NR_OPENAT: u64 = 257;
const NR_OPENAT2: u64 = 437;

enum Caller {
    Open,
    Openat,
    Openat2,
    Creat,
    Unknown,
}

/// The syscall that called do_sys_openat2 with `path`, from the user registers
/// the entry code saved at the top of the kernel stack (`task_pt_regs`). FRED
/// kernels keep 16 bytes of padding above them, so both places are tried; a
/// candidate counts only if its path register (di for open/creat, si for
/// openat/openat2) holds `path`.
#[inline(always)]
fn caller(path: u64) -> Caller {
    let task = current_task();
    let Some(stack) = read_at::<u64>(task, conf!(hook.task_stack)).filter(|s| *s != 0) else {
        return Caller::Unknown;
    };
    for pad in [0u64, 16] {
        let regs = (stack + THREAD_SIZE - pad - PT_REGS_SIZE) as *const u8;
        let Ok(nr) = (unsafe { bpf_probe_read_kernel(regs.wrapping_add(REG_ORIG_AX as usize) as *const u64) }) else {
            continue;
        };
        let (reg, c) = match nr {
            NR_OPEN => (REG_DI, Caller::Open),
            NR_CREAT => (REG_DI, Caller::Creat),
            NR_OPENAT => (REG_SI, Caller::Openat),
            NR_OPENAT2 => (REG_SI, Caller::Openat2),
            _ => continue,
        };
        if unsafe { bpf_probe_read_kernel(regs.wrapping_add(reg as usize) as *const u64) } == Ok(path) {
            return c;
        }
    }
    Caller::Unknown
}
