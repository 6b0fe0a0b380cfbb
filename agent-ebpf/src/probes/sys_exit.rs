//! `syscalls/sys_exit_*` of ptrace, socket, the module syscalls, memfd_create,
//! unshare, setns, bpf, userfaultfd, dup, bind, listen, accept, capset, setgid,
//! setresgid, prctl, process_vm_readv/writev, open_by_handle_at, io_uring_setup and kill:
//! add the result to the stashed record (for the fd syscalls, what the fd refers
//! to; for capset, the task's capability sets; for io_uring_setup, the params the
//! kernel filled) and emit it.
//! A dup-family result no rule can match is dropped first
//! (`FilterConfig::dup_res_keep`, derived by `lanner_rules::DupNeeds`), a
//! socket of a family no rule names next (`socket_domain_keep`,
//! `lanner_rules::SocketNeeds`). These are the fallback of the exit-only
//! `sys_regs` programs, which share `complete_sys`.
use aya_ebpf::{
    cty::c_void,
    helpers::{bpf_get_current_pid_tgid, generated::bpf_probe_read_user},
    programs::TracePointContext,
};
use lanner_common::{
    counters::{Counter, ProbeId},
    sys, SysEvent,
};

use super::sys_ret;
use crate::{
    common::{count, filter, is_self, submit, task_ptr},
    exe,
    fdinfo::read_fd_info,
    maps::SYS_STASH,
};

const P: ProbeId = ProbeId::SysExit;

syscall_programs! {
    try_sys_exit;
    ptrace_exit => "sys_exit_ptrace", PTRACE;
    socket_exit => "sys_exit_socket", SOCKET;
    init_module_exit => "sys_exit_init_module", INIT_MODULE;
    finit_module_exit => "sys_exit_finit_module", FINIT_MODULE;
    delete_module_exit => "sys_exit_delete_module", DELETE_MODULE;
    memfd_create_exit => "sys_exit_memfd_create", MEMFD_CREATE;
    unshare_exit => "sys_exit_unshare", UNSHARE;
    setns_exit => "sys_exit_setns", SETNS;
    bpf_exit => "sys_exit_bpf", BPF;
    userfaultfd_exit => "sys_exit_userfaultfd", USERFAULTFD;
    dup_exit => "sys_exit_dup", DUP;
    dup2_exit => "sys_exit_dup2", DUP2;
    dup3_exit => "sys_exit_dup3", DUP3;
    bind_exit => "sys_exit_bind", BIND;
    listen_exit => "sys_exit_listen", LISTEN;
    accept_exit => "sys_exit_accept", ACCEPT;
    accept4_exit => "sys_exit_accept4", ACCEPT4;
    capset_exit => "sys_exit_capset", CAPSET;
    setgid_exit => "sys_exit_setgid", SETGID;
    setresgid_exit => "sys_exit_setresgid", SETRESGID;
    prctl_exit => "sys_exit_prctl", PRCTL;
    process_vm_readv_exit => "sys_exit_process_vm_readv", PROCESS_VM_READV;
    process_vm_writev_exit => "sys_exit_process_vm_writev", PROCESS_VM_WRITEV;
    open_by_handle_at_exit => "sys_exit_open_by_handle_at", OPEN_BY_HANDLE_AT;
    io_uring_setup_exit => "sys_exit_io_uring_setup", IO_URING_SETUP;
    kill_exit => "sys_exit_kill", KILL;
}

#[inline(always)]
fn try_sys_exit(ctx: &TracePointContext, subtype: u16) -> Result<(), i64> {
    let f = filter();
    if is_self(P) || f.sys_off & (1u64 << (subtype as u64 & 63)) != 0 {
        return Ok(());
    }
    let ret: i64 = sys_ret(ctx);
    let tid = bpf_get_current_pid_tgid() as u32;
    // A dup whose result no rule can match (the rules want sockets duplicated
    // onto 0, 1 or 2): dropped before the new descriptor is read.
    if is_dup(subtype) && !f.dup_kept(ret) {
        count(P, Counter::Filtered);
        let _ = SYS_STASH.remove(&tid);
        return Ok(());
    }
    let Some(ev) = SYS_STASH.get_ptr_mut(&tid) else {
        count(P, Counter::StashMiss);
        return Ok(());
    };
    let ev = unsafe { &mut *ev };
    // A socket or unshare no rule can match (the exit-only program drops it
    // before building a record; this pair already paid for its entry half).
    if !kept(f, subtype, &ev.args) {
        count(P, Counter::Filtered);
        let _ = SYS_STASH.remove(&tid);
        return Ok(());
    }
    complete_sys(ev, subtype, ret);
    submit(P, &*ev);
    let _ = SYS_STASH.remove(&tid);
    Ok(())
}

/// The pre-filter's argument checks: a socket of a family no rule names, an
/// unshare whose flags have none of the bits the rules need (`unshare(0)`,
/// `CLONE_FS`: no new namespace), a kill sending a signal no rule looks for
/// (`kill(pid, 0)`) are dropped.
#[inline(always)]
pub fn kept(f: &lanner_common::FilterConfig, subtype: u16, args: &[u64]) -> bool {
    match subtype {
        sys::SOCKET => f.socket_kept(args[0]),
        sys::UNSHARE => f.unshare_kept(args[0]),
        sys::KILL => f.kill_kept(args[1]),
        _ => true,
    }
}

/// Is `subtype` one of the dup family (`FilterConfig::dup_kept` applies)?
#[inline(always)]
pub fn is_dup(subtype: u16) -> bool {
    matches!(subtype, sys::DUP | sys::DUP2 | sys::DUP3)
}

/// Complete a numeric-argument syscall's record at exit: the result, and for
/// the fd syscalls what the fd refers to, for capset the capability sets in
/// force after the call. Shared with the exit-only programs (`sys_regs`).
#[inline(always)]
pub fn complete_sys(ev: &mut SysEvent, subtype: u16, ret: i64) {
    ev.ret = ret;
    if subtype == sys::OPEN_BY_HANDLE_AT && ret < 0 {
        // No fd was opened; the mount fd is not what the event describes.
    } else if sys::has_fd_info(subtype) {
        // The fd the call created (dup, accept, open_by_handle_at) or acted on
        // (bind, listen, a failed dup).
        let creates = !matches!(subtype, sys::BIND | sys::LISTEN);
        let fd = if creates && ret >= 0 { ret } else { ev.args[0] as i32 as i64 };
        read_fd_info(fd, &mut ev.fd);
    } else if subtype == sys::CAPSET && ret == 0 {
        // Falco reports the capability sets in force after the call.
        let (inh, perm, eff) = exe::task_caps(task_ptr());
        ev.args[1] = inh;
        ev.args[2] = perm;
        ev.args[3] = eff;
    } else if subtype == sys::IO_URING_SETUP && ev.args[1] != 0 {
        // The params (sq_entries, cq_entries, flags, sq_thread_cpu,
        // sq_thread_idle, features): as the kernel filled them, or as the
        // caller passed them when the call failed (a refused SQPOLL ring keeps
        // its flags).
        let dst = ev.args[2..].as_mut_ptr() as *mut c_void;
        if unsafe { bpf_probe_read_user(dst, 24, ev.args[1] as *const c_void) } != 0 {
            count(P, Counter::StrReadFail);
        }
    }
}
