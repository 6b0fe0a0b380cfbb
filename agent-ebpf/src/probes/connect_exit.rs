//! `syscalls/sys_exit_connect`: add the result and the socket's local address
//! (the client side the kernel bound for the connect) to the stashed connect and
//! emit (or drop a failed connect when the pre-filter says so).
use aya_ebpf::{helpers::bpf_get_current_pid_tgid, macros::tracepoint, programs::TracePointContext};
use lanner_common::counters::{Counter, ProbeId};

use super::sys_ret;
use lanner_common::{ConnectEvent, AF_INET, AF_INET6};

use super::connect_enter::socket_of;
use crate::{
    common::{conf, count, filter, is_self, read_at, submit},
    maps::CONNECT_STASH,
};

const P: ProbeId = ProbeId::ConnectExit;

#[tracepoint(category = "syscalls", name = "sys_exit_connect")]
pub fn connect_exit(ctx: TracePointContext) -> u32 {
    let _ = try_connect_exit(&ctx);
    0
}

fn try_connect_exit(ctx: &TracePointContext) -> Result<(), i64> {
    if is_self(P) {
        return Ok(());
    }
    let ret: i64 = sys_ret(ctx);
    let tid = bpf_get_current_pid_tgid() as u32;
    let Some(ev) = CONNECT_STASH.get_ptr_mut(&tid) else {
        // Not stashed: a family we do not trace (netlink, packet...).
        return Ok(());
    };
    let ev = unsafe { &mut *ev };
    // EINPROGRESS (-115): a non-blocking connect under way, kept like a success.
    if ret < 0 && ret != -115 && filter().drop_failed_connects != 0 {
        count(P, Counter::Filtered);
    } else {
        ev.ret = ret as i32;
        if ret == 0 || ret == -115 {
            local_addr(ev);
        }
        submit(P, &*ev);
    }
    let _ = CONNECT_STASH.remove(&tid);
    Ok(())
}

/// `socket->sk->__sk_common`: the bound local port (`skc_num`) and address
/// (`skc_rcv_saddr` or `skc_v6_rcv_saddr`); left zero when unreadable.
#[inline(always)]
pub(super) fn local_addr(ev: &mut ConnectEvent) {
    if ev.family != AF_INET && ev.family != AF_INET6 {
        return;
    }
    let sk: *const u8 = read_at(socket_of(ev.fd as i64), conf!(sock.socket_sk)).unwrap_or(core::ptr::null());
    let Some(port) = read_at::<u16>(sk, conf!(sock.skc_num)) else {
        return;
    };
    if ev.family == AF_INET {
        if let Some(a) = read_at::<[u8; 4]>(sk, conf!(sock.skc_rcv_saddr)) {
            ev.laddr[..4].copy_from_slice(&a);
            ev.lport = port;
        }
    } else if let Some(a) = read_at::<[u8; 16]>(sk, conf!(sock.skc_v6_rcv_saddr)) {
        ev.laddr = a;
        ev.lport = port;
    }
}
