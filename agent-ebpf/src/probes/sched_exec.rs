//! `sched/sched_process_exec`: a successful exec. Reads argv from the new
//! image (`mm->arg_start..arg_end`, one user read, as Tetragon does) and the
//! authoritative filename from kernel memory (the tracepoint's `__data_loc
//! filename`), adds parent, login uid and tty from the task, and emits the
//! exec event with ret 0. The executable, credentials, ids and environment
//! come from `crate::exe`. Drops the pointers sys_enter_execve(at) stashed,
//! keeping the syscall they name as the event's subtype (execve or execveat).
//! With `execve_regs` an execve stashes nothing (and while the stash is empty
//! no lookup is made: execve); `exec_rename_regs` (or `execveat_enter`) stashes, so an execveat
//! keeps its subtype ([`exec_syscall`]). The record's variable parts are
//! packed into its tail in order (argv, environment, filename, executable
//! path, working directory) and only their used bytes are sent.
use aya_ebpf::{
    cty::c_void, helpers::generated::bpf_probe_read_user, macros::tracepoint, programs::TracePointContext, EbpfContext,
};
use lanner_common::{
    config::{EXEC_SKIP_ARGS, EXEC_SKIP_ENV, EXEC_SKIP_OUTPUT},
    counters::{Counter, ProbeId},
    EventKind, ExecEvent, ARGS_LEN, EXEC_EXECVE, FLAG_ARGS_TRUNCATED, FLAG_READ_FAILED,
};

use crate::{
    common::{
        conf, count, fill_header, filter, is_self, ld, submit_prefix, task_loginuid, task_ppid, task_ptr, task_tty,
    },
    exe,
    maps::EXEC_SCRATCH,
};

const P: ProbeId = ProbeId::SchedExec;
/// Stable layout since 3.x: `__data_loc filename` at 8, `pid` at 12, `old_pid` at 16.
const OFF_FILENAME_LOC: usize = 8;
const OFF_PID: usize = 12;
const OFF_OLD_PID: usize = 16;

#[tracepoint(category = "sched", name = "sched_process_exec")]
pub fn sched_exec(ctx: TracePointContext) -> u32 {
    let _ = try_sched_exec(&ctx);
    0
}

fn try_sched_exec(ctx: &TracePointContext) -> Result<(), i64> {
    if is_self(P) {
        return Ok(());
    }
    let old_pid: u32 = super::tp_field::<i32>(ctx, OFF_OLD_PID) as u32;
    let ev = unsafe { &mut *EXEC_SCRATCH.get_ptr_mut(0).ok_or(0i64)? };
    let pid: u32 = super::tp_field::<i32>(ctx, OFF_PID) as u32;
    let syscall = exec_syscall(old_pid, pid);
    // argv from the new image: `mm->arg_start..arg_end` holds the strings the
    // kernel just copied, NUL-separated, in one user read of up to ARGS_LEN.
    let mut flags = 0u16;
    ev.args_len = 0;
    (ev.args_count, ev.env_count) = (0, 0);
    let task = task_ptr();
    let skip = filter().exec_skip;
    exe::clear(&mut ev.info);
    exe::read_parts(task, &mut ev.info, skip);
    let mm: Option<*const u8> = ld(task, conf!(offsets.task_mm));
    let mm = mm.filter(|m| !m.is_null());
    // The tail's sections in order: argv, environment, filename, executable, cwd.
    if let Some(mm) = mm {
        let start: u64 = if skip & EXEC_SKIP_ARGS == 0 { ld(mm, conf!(offsets.mm_arg_start)).unwrap_or(0) } else { 0 };
        let end: u64 = ld(mm, conf!(offsets.mm_arg_end)).unwrap_or(0);
        if start != 0 && end > start {
            let total = end - start;
            let n = if total > ARGS_LEN as u64 { ARGS_LEN as u64 } else { total };
            let n = (n as u32) & (2 * ARGS_LEN as u32 - 1);
            if unsafe { bpf_probe_read_user(ev.tail.as_mut_ptr().cast(), n, start as *const c_void) } == 0 {
                ev.args_len = n as u16;
                if total > ARGS_LEN as u64 {
                    flags |= FLAG_ARGS_TRUNCATED;
                }
            } else {
                flags |= FLAG_READ_FAILED;
                count(P, Counter::StrReadFail);
            }
        }
        if skip & EXEC_SKIP_ENV == 0 {
            exe::read_env(mm, ev);
        }
    }
    fill_header(&mut ev.hdr, EventKind::Exec as u16);
    ev.hdr.subtype = syscall;
    let loc: u32 = super::tp_field(ctx, OFF_FILENAME_LOC);
    let src = unsafe { (ctx.as_ptr() as *const u8).add((loc & 0xffff) as usize) };
    match exe::read_filename(ev, src, false) {
        Ok(f) => flags |= f,
        Err(()) => count(P, Counter::StrReadFail),
    }
    exe::read_paths(task, mm, ev, skip);
    submit_exec(ev, task, flags);
    Ok(())
}

/// The syscall of a successful exec, `EXEC_EXECVE` or `EXEC_EXECVEAT`, for the
/// record's subtype; shared with `lsm_exec`. The stash entry the enter program
/// left under `key` (the exec'ing thread's id) names it and is dropped here; a
/// miss is an execve (`execve_regs` stashes nothing; while the stash is empty,
/// `unstash_exec` answers without a lookup). execveat keeps its enter
/// program for this: the kernel itself reports a successful execveat under
/// execve's number (the saved `orig_ax` reads 59 here, and `sys_exit_execve`
/// fires, not `sys_exit_execveat`), so no exit-side read can tell the two apart.
///
/// `exec_rename` leaves its entry under the task's id after `de_thread` (the
/// leader's, `now`), the enter program under the id the thread entered with
/// (`key`): they differ only when a thread other than the leader execs, and
/// then both are tried.
#[inline(always)]
pub(super) fn exec_syscall(key: u32, now: u32) -> u16 {
    match super::execve_enter::unstash_exec(key) {
        Some(s) => s[2] as u16,
        None if now != key => super::execve_enter::unstash_exec(now).map_or(EXEC_EXECVE, |s| s[2] as u16),
        None => EXEC_EXECVE,
    }
}

/// The end of a successful exec's record, shared with `lsm_exec`: header flags,
/// parent, login uid and tty from the task, ret 0, submitted with just the
/// tail's used bytes (or, with the diagnostic `EXEC_SKIP_OUTPUT`, not at all).
#[inline(always)]
pub(super) fn submit_exec(ev: &mut ExecEvent, task: *const u8, flags: u16) {
    ev.hdr.flags = flags;
    ev.ppid = task_ppid(task);
    ev.loginuid = task_loginuid(task);
    ev.tty = task_tty(task);
    ev.ret = 0;
    let i = &ev.info;
    let used = ev.args_len as usize + i.env_len as usize + ev.filename_len as usize + i.exe_path_len as usize;
    if filter().exec_skip & EXEC_SKIP_OUTPUT != 0 {
        return;
    }
    submit_prefix(P, &*ev, lanner_common::exec_record_len(used + i.cwd_len as usize));
}
