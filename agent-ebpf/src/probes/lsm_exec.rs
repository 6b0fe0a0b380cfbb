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
    helpers::{bpf_get_current_pid_tgid, bpf_probe_read_user_str_bytes},
    macros::lsm,
    programs::LsmContext,
};
use lanner_common::{
    config::{EXEC_SKIP_ARGS, EXEC_SKIP_ENV},
    counters::{Counter, ProbeId},
    EventKind, ExecEvent, ARGS_LEN, ARG_MAX_ONE, FLAG_ARGS_TRUNCATED, FLAG_READ_FAILED, MAX_ARGS,
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
    let syscall = super::sched_exec::exec_syscall(bpf_get_current_pid_tgid() as u32);
    fill_header(&mut ev.hdr, EventKind::Exec as u16);
    ev.hdr.subtype = syscall;
    let task = task_ptr();
    let skip = filter().exec_skip;
    exe::clear(&mut ev.info);
    exe::read_parts(task, &mut ev.info, skip);
    let p: u64 = read_at(bprm, conf!(hook.bprm_p)).unwrap_or(0);
    let argc: i32 = read_at(bprm, conf!(hook.bprm_argc)).unwrap_or(0);
    let end: u64 = read_at(bprm, conf!(hook.bprm_exec)).unwrap_or(0);
    // The environment follows argv on the stack: without argv its start is unknown.
    let (mut flags, env) = if skip & EXEC_SKIP_ARGS == 0 {
        (read_args(ev, p, argc), skip & EXEC_SKIP_ENV == 0)
    } else {
        (ev.args_len, ev.args_count) = (0, 0);
        (0, false)
    };
    if env && flags & (FLAG_ARGS_TRUNCATED | FLAG_READ_FAILED) == 0 {
        exe::read_env_range(ev, p + ev.args_len as u64, end);
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

/// argv: `argc` NUL-terminated strings from `p` (contiguous in user memory),
/// one string read each, into the start of `ev.tail`. Returns the header flags.
#[inline(always)]
fn read_args(ev: &mut ExecEvent, p: u64, argc: i32) -> u16 {
    let mut flags = 0u16;
    let mut off: usize = 0;
    let mut i: usize = 0;
    ev.args_count = 0;
    if p == 0 {
        ev.args_len = 0;
        count(P, Counter::StrReadFail);
        return FLAG_READ_FAILED;
    }
    while i < MAX_ARGS && (i as i32) < argc {
        if off >= ARGS_LEN {
            flags |= FLAG_ARGS_TRUNCATED;
            break;
        }
        let at = off & (ARGS_LEN - 1);
        let dst = &mut ev.tail[at..at + ARG_MAX_ONE];
        match unsafe { bpf_probe_read_user_str_bytes((p + at as u64) as *const u8, dst) } {
            Ok(s) => {
                let len = s.len();
                if len >= ARG_MAX_ONE - 1 {
                    // The rest of this string was cut: later offsets would be wrong.
                    flags |= FLAG_ARGS_TRUNCATED;
                    off = at + len + 1;
                    i += 1;
                    break;
                }
                off = at + len + 1;
            }
            Err(_) => {
                flags |= FLAG_READ_FAILED;
                count(P, Counter::StrReadFail);
                break;
            }
        }
        i += 1;
    }
    if i == MAX_ARGS && (i as i32) < argc {
        flags |= FLAG_ARGS_TRUNCATED;
    }
    ev.args_len = off as u16;
    ev.args_count = i as u16;
    flags
}
