//! `sched/sched_process_exec`: a successful exec. Takes the argv stashed at
//! sys_enter_execve (keyed by the old thread id) and the authoritative filename
//! from kernel memory (the tracepoint's `__data_loc filename`), adds parent,
//! login uid and tty from the task, and emits the exec event with ret 0.
use aya_ebpf::{
    helpers::{bpf_probe_read_kernel_str_bytes, generated::bpf_probe_read_kernel},
    macros::tracepoint,
    programs::TracePointContext,
    EbpfContext,
};
use lanner_common::{
    counters::{Counter, ProbeId},
    EventKind, ExecEvent, FLAG_PATH_TRUNCATED, FLAG_USER_FILENAME, PATH_LEN,
};

use crate::{
    common::{count, current_task, fill_header, is_self, submit_prefix, task_loginuid, task_ppid, task_tty},
    maps::{EXEC_SCRATCH, EXEC_STASH},
};

const P: ProbeId = ProbeId::SchedExec;
/// Stable layout since 3.x: `__data_loc filename` at 8, `pid` at 12, `old_pid` at 16.
const OFF_FILENAME_LOC: usize = 8;
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
    let old_pid: u32 = unsafe { ctx.read_at::<i32>(OFF_OLD_PID)? } as u32;
    let ev = unsafe { &mut *EXEC_SCRATCH.get_ptr_mut(0).ok_or(0i64)? };
    let mut flags = 0u16;
    match EXEC_STASH.get_ptr(&old_pid) {
        Some(stash) => {
            // Copy only the used part (fixed fields + argv bytes).
            let used = lanner_common::exec_record_len(unsafe { (*stash).args_len } as usize);
            unsafe { bpf_probe_read_kernel((ev as *mut ExecEvent).cast(), used as u32, stash.cast()) };
            flags = ev.hdr.flags & !FLAG_USER_FILENAME & !FLAG_PATH_TRUNCATED;
        }
        None => {
            // execveat, or an exec that started before the agent attached.
            count(P, Counter::StashMiss);
            ev.args_len = 0;
            ev.args_count = 0;
        }
    }
    fill_header(&mut ev.hdr, EventKind::Exec as u16);
    let loc: u32 = unsafe { ctx.read_at(OFF_FILENAME_LOC)? };
    let src = unsafe { (ctx.as_ptr() as *const u8).add((loc & 0xffff) as usize) };
    match unsafe { bpf_probe_read_kernel_str_bytes(src, &mut ev.filename) } {
        Ok(s) => {
            ev.filename_len = s.len() as u16;
            if s.len() >= PATH_LEN - 1 {
                flags |= FLAG_PATH_TRUNCATED;
            }
        }
        Err(_) => {
            ev.filename_len = 0;
            count(P, Counter::StrReadFail);
        }
    }
    ev.hdr.flags = flags;
    let task = current_task();
    ev.ppid = task_ppid(task);
    ev.loginuid = task_loginuid(task);
    ev.tty = task_tty(task);
    ev.ret = 0;
    submit_prefix(P, &*ev, lanner_common::exec_record_len(ev.args_len as usize));
    let _ = EXEC_STASH.remove(&old_pid);
    Ok(())
}
