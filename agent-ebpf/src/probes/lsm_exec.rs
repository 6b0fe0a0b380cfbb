//! `lsm/bprm_committed_creds`: a successful exec as one BPF LSM program, where
//! the kernel runs BPF LSM (`bpf` in /sys/kernel/security/lsm). The hook runs
//! once per exec, past the point of no return, in the exec'ing task with the new
//! mm, credentials, comm and exe file already installed, so it emits the same
//! exec record as `sched_exec` (ret 0). `mm->arg_start` is not set yet (the ELF
//! loader does that later), so argv and the environment are read from the new
//! stack where the kernel copied them: `bprm->p` holds argv's `bprm->argc`
//! strings, then the environment up to `bprm->exec` (the filename copy). The
//! filename is `bprm->filename` (kernel memory), the one `sched_process_exec`
//! reports. `lanner::probes::TABLE` prefers this over `sched_exec`, which is the
//! fallback (no BPF LSM, or this host's EPERM on LSM programs).
use aya_ebpf::{
    cty::c_void,
    helpers::{bpf_get_current_pid_tgid, generated::bpf_probe_read_user},
    macros::lsm,
    programs::LsmContext,
};
use lanner_common::{
    config::{EXEC_SKIP_ARGS, EXEC_SKIP_ENV},
    counters::{Counter, ProbeId},
    exe::ENV_LEN,
    EventKind, ExecEvent, ARGS_LEN, FLAG_EXEC_BLOCK, FLAG_EXEC_BLOCK_GAP, FLAG_READ_FAILED,
};

use crate::{
    common::{conf, count, fill_header, filter, is_self, ld, read_at, task_ptr},
    exe,
    maps::EXEC_SCRATCH,
};

/// Counted with the tracepoint exec program: the two never run together.
const P: ProbeId = ProbeId::SchedExec;

#[lsm(hook = "bprm_committed_creds")]
pub fn lsm_exec(ctx: LsmContext) -> i32 {
    let _ = try_lsm_exec(&ctx);
    // A void hook: the value is ignored, 0 never denies anything.
    0
}

fn try_lsm_exec(ctx: &LsmContext) -> Result<(), i64> {
    if is_self(P) {
        return Ok(());
    }
    let bprm: *const u8 = ctx.arg(0);
    let ev = unsafe { &mut *EXEC_SCRATCH.get_ptr_mut(0).ok_or(0i64)? };
    // The stash entry sys_enter_execve(at) left names the syscall (and must go:
    // sys_exit_execve with ret 0 does not remove it). After de_thread the
    // exec'ing thread has the leader's id.
    let tid = bpf_get_current_pid_tgid() as u32;
    let syscall = super::sched_exec::exec_syscall(tid, tid);
    fill_header(&mut ev.hdr, EventKind::Exec as u16);
    ev.hdr.subtype = syscall;
    let task = task_ptr();
    let skip = filter().exec_skip;
    exe::clear(&mut ev.info);
    exe::read_parts(task, &mut ev.info, skip);
    (ev.args_len, ev.args_count, ev.env_count) = (0, 0, 0);
    let mut flags = 0;
    if skip & EXEC_SKIP_ARGS == 0 {
        let p: u64 = read_at(bprm, conf!(hook.bprm_p)).unwrap_or(0);
        let end: u64 = read_at(bprm, conf!(hook.bprm_exec)).unwrap_or(0);
        let argc: i32 = read_at(bprm, conf!(hook.bprm_argc)).unwrap_or(0);
        let envc: i32 = read_at(bprm, conf!(hook.bprm_envc)).unwrap_or(0);
        (ev.args_count, ev.env_count) = (count16(argc), count16(envc));
        flags = read_block(ev, p, end, skip & EXEC_SKIP_ENV == 0);
    }
    let filename: Option<*const u8> = read_at(bprm, conf!(hook.bprm_filename));
    match filename.map(|f| exe::read_filename(ev, f, false)) {
        Some(Ok(f)) => flags |= f,
        _ => {
            ev.filename_len = 0;
            count(P, Counter::StrReadFail);
        }
    }
    let mm: Option<*const u8> = ld(task, conf!(offsets.task_mm));
    exe::read_paths(task, mm.filter(|m| !m.is_null()), ev, skip);
    super::sched_exec::submit_exec(ev, task, flags);
    Ok(())
}

/// A kernel `int` count as the record's u16, saturated.
#[inline(always)]
fn count16(n: i32) -> u16 {
    if n < 0 {
        0
    } else if n > u16::MAX as i32 {
        u16::MAX
    } else {
        n as u16
    }
}

/// argv and the environment, `p..end` of the new stack, as one block in at
/// most two bulk reads (no per-string reads: an argv padded with many or long
/// strings cannot push the environment out of the record). The block's first
/// `ARGS_LEN` bytes go to the args section; what is left, when `env`, to the
/// env section: all of it when it fits, else the block's last bytes after one
/// sentinel byte (`FLAG_EXEC_BLOCK_GAP`), so a short environment after a long
/// argv still arrives whole. Userspace splits the strings by `argc`/`envc`.
/// Returns the header flags.
#[inline(always)]
fn read_block(ev: &mut ExecEvent, p: u64, end: u64, env: bool) -> u16 {
    if p == 0 || end <= p {
        count(P, Counter::StrReadFail);
        return FLAG_READ_FAILED;
    }
    let total = end - p;
    let n = if total > ARGS_LEN as u64 { ARGS_LEN as u32 } else { total as u32 } & (2 * ARGS_LEN as u32 - 1);
    if unsafe { bpf_probe_read_user(ev.tail.as_mut_ptr().cast(), n, p as *const c_void) } != 0 {
        count(P, Counter::StrReadFail);
        return FLAG_READ_FAILED;
    }
    ev.args_len = n as u16;
    let mut flags = FLAG_EXEC_BLOCK;
    let rest = total - n as u64;
    if env && rest > 0 {
        if rest <= ENV_LEN as u64 {
            exe::read_env_range(ev, p + n as u64, end);
        } else {
            exe::read_env_range(ev, end - ENV_LEN as u64, end);
            flags |= FLAG_EXEC_BLOCK_GAP;
        }
    }
    flags
}
