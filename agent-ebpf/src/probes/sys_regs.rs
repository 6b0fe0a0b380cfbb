//! The numeric-argument syscalls (ptrace, socket, the module syscalls,
//! memfd_create, unshare, setns, bpf, userfaultfd, dup, bind, listen, accept,
//! capset, setgid, setresgid, prctl, process_vm_readv/writev, open_by_handle_at,
//! io_uring_setup, kill) as ONE `sys_exit_*` program each: the
//! result from the tracepoint record, the arguments from the task's saved user
//! registers (`crate::regs`). No enter program, no `SYS_STASH` insert, lookup
//! or delete.
//!
//! The pre-filter decides at the first look: a dup-family result no rule can
//! match is dropped on the result alone, a socket of a family no rule names
//! an unshare whose flags create no namespace a rule looks for and a kill
//! sending a signal no rule looks for right after
//! the registers are read, all before a record is built. The
//! record is the pair's `SysEvent` (`stash::fill_sys`, `sys_exit::complete_sys`),
//! with the header taken at exit and the one user string some of them carry
//! (a module's parameters or name, memfd_create's name, PR_SET_NAME's name)
//! read after the kernel copied it, as `openat_regs` reads its path: the
//! numeric arguments are registers and cannot change.
//!
//! `lanner::probes::TABLE` prefers each over its `<syscall>_enter` /
//! `<syscall>_exit` pair (their fallback where `bpf_task_pt_regs` is missing,
//! before 5.15, or off x86_64).
use aya_ebpf::programs::TracePointContext;
use lanner_common::{
    counters::{Counter, ProbeId},
    sys,
};

use super::{
    stash::fill_sys,
    sys_exit::{complete_sys, is_dup},
    sys_ret,
};
use crate::{
    common::{count, filter, is_self_task, submit, sys_enabled},
    regs::{current_task_btf, syscall_args},
};

const P: ProbeId = ProbeId::SysExit;

syscall_programs! {
    try_sys_regs;
    ptrace_regs => "sys_exit_ptrace", PTRACE;
    socket_regs => "sys_exit_socket", SOCKET;
    init_module_regs => "sys_exit_init_module", INIT_MODULE;
    finit_module_regs => "sys_exit_finit_module", FINIT_MODULE;
    delete_module_regs => "sys_exit_delete_module", DELETE_MODULE;
    memfd_create_regs => "sys_exit_memfd_create", MEMFD_CREATE;
    unshare_regs => "sys_exit_unshare", UNSHARE;
    setns_regs => "sys_exit_setns", SETNS;
    bpf_regs => "sys_exit_bpf", BPF;
    userfaultfd_regs => "sys_exit_userfaultfd", USERFAULTFD;
    dup_regs => "sys_exit_dup", DUP;
    dup2_regs => "sys_exit_dup2", DUP2;
    dup3_regs => "sys_exit_dup3", DUP3;
    bind_regs => "sys_exit_bind", BIND;
    listen_regs => "sys_exit_listen", LISTEN;
    accept_regs => "sys_exit_accept", ACCEPT;
    accept4_regs => "sys_exit_accept4", ACCEPT4;
    capset_regs => "sys_exit_capset", CAPSET;
    setgid_regs => "sys_exit_setgid", SETGID;
    setresgid_regs => "sys_exit_setresgid", SETRESGID;
    prctl_regs => "sys_exit_prctl", PRCTL;
    process_vm_readv_regs => "sys_exit_process_vm_readv", PROCESS_VM_READV;
    process_vm_writev_regs => "sys_exit_process_vm_writev", PROCESS_VM_WRITEV;
    open_by_handle_at_regs => "sys_exit_open_by_handle_at", OPEN_BY_HANDLE_AT;
    io_uring_setup_regs => "sys_exit_io_uring_setup", IO_URING_SETUP;
    kill_regs => "sys_exit_kill", KILL;
}

#[inline(always)]
fn try_sys_regs(ctx: &TracePointContext, subtype: u16) -> Result<(), i64> {
    let f = filter();
    let task = current_task_btf();
    if is_self_task(P, task) || !sys_enabled(P, f, subtype) {
        return Ok(());
    }
    let ret = sys_ret(ctx);
    if is_dup(subtype) && !f.dup_kept(ret) {
        count(P, Counter::Filtered);
        return Ok(());
    }
    let [a0, a1, a2, a3, _] = syscall_args(task)?;
    let r = [a0, a1, a2, a3];
    if !super::sys_exit::kept(f, subtype, &r) {
        count(P, Counter::Filtered);
        return Ok(());
    }
    let ev = fill_sys(P, subtype, r)?;
    complete_sys(ev, subtype, ret);
    submit(P, &*ev);
    Ok(())
}
