//! `syscalls/sys_enter_connect`: copy the destination sockaddr (IPv4, IPv6 or
//! unix path) and the socket's type into `CONNECT_STASH[tid]`; other families are not traced, and
//! unix or loopback destinations are dropped when the pre-filter says no rule
//! can match them. `fill_connect` is shared with the exit-only `connect_regs`.
use aya_ebpf::{
    helpers::{bpf_probe_read_user, bpf_probe_read_user_str_bytes},
    macros::tracepoint,
    programs::TracePointContext,
};
use lanner_common::{
    config::is_loopback,
    counters::{Counter, ProbeId},
    ConnectEvent, EventKind, FilterConfig, AF_INET, AF_INET6, AF_UNIX, FLAG_READ_FAILED,
};

use super::arg;
use crate::{
    common::{conf, count, current_task, fill_header, filter, is_self, kind_enabled, read_at},
    maps::{CONNECT_SCRATCH, CONNECT_STASH},
};

const P: ProbeId = ProbeId::ConnectEnter;

#[tracepoint(category = "syscalls", name = "sys_enter_connect")]
pub fn connect_enter(ctx: TracePointContext) -> u32 {
    let _ = try_connect_enter(&ctx);
    0
}

/// First 24 bytes of sockaddr_in / sockaddr_in6: family, port, then either the
/// IPv4 address or flowinfo + IPv6 address.
#[repr(C)]
#[derive(Clone, Copy)]
struct SockHead {
    family: u16,
    port_be: u16,
    v4_or_flow: [u8; 4],
    v6: [u8; 16],
}

/// `task->files->fdt->fd[fd]->private_data`: the `struct socket` of a socket fd, null when unreadable.
#[inline(always)]
pub(super) fn socket_of(fd: i64) -> *const u8 {
    if !(0..(1 << 20)).contains(&fd) {
        return core::ptr::null();
    }
    let task = current_task();
    let files: *const u8 = read_at(task, conf!(sock.task_files)).unwrap_or(core::ptr::null());
    let fdt: *const u8 = read_at(files, conf!(sock.files_fdt)).unwrap_or(core::ptr::null());
    let fds: *const u8 = read_at(fdt, conf!(sock.fdtable_fd)).unwrap_or(core::ptr::null());
    let file: *const u8 = read_at(fds, (fd as u32) * 8).unwrap_or(core::ptr::null());
    read_at(file, conf!(sock.file_private_data)).unwrap_or(core::ptr::null())
}

/// The socket's type (`socket->type`), 0 when unreadable.
#[inline(always)]
fn sock_type(fd: i64) -> u16 {
    read_at::<u16>(socket_of(fd), conf!(sock.socket_type)).unwrap_or(0)
}

fn try_connect_enter(ctx: &TracePointContext) -> Result<(), i64> {
    let f = filter();
    if is_self(P) || !kind_enabled(P, f, EventKind::Connect) {
        return Ok(());
    }
    let fd: i64 = arg(ctx, 0);
    let addr: *const u8 = arg(ctx, 1);
    let Some(ev) = fill_connect(P, f, fd, addr)? else {
        return Ok(());
    };
    if CONNECT_STASH.insert(&ev.hdr.tid, &*ev, 0).is_err() {
        count(P, Counter::StashFull);
    }
    Ok(())
}

/// Copy the destination and the socket's type into per-CPU scratch and fill
/// the header (`ret` 0). `None`: a family not traced, or dropped by the
/// pre-filter (unix or loopback destinations). Shared by the pair's enter
/// (which stashes it) and the exit-only `connect_regs`.
#[inline(always)]
pub fn fill_connect(
    probe: ProbeId,
    f: &FilterConfig,
    fd: i64,
    addr: *const u8,
) -> Result<Option<&'static mut ConnectEvent>, i64> {
    let family: u16 = match unsafe { bpf_probe_read_user(addr as *const u16) } {
        Ok(f) => f,
        Err(_) => {
            count(probe, Counter::StrReadFail);
            return Ok(None);
        }
    };
    if family != AF_INET && family != AF_INET6 && family != AF_UNIX {
        return Ok(None);
    }
    if family == AF_UNIX && f.drop_unix_connects != 0 {
        count(probe, Counter::Filtered);
        return Ok(None);
    }
    let ev = unsafe { &mut *CONNECT_SCRATCH.get_ptr_mut(0).ok_or(0i64)? };
    ev.hdr.flags = 0;
    ev.ret = 0;
    ev.fd = fd as i32;
    ev.family = family;
    ev.sock_type = sock_type(fd);
    ev.port = 0;
    ev.path_len = 0;
    ev.addr = [0; 16];
    ev.lport = 0;
    ev.laddr = [0; 16];
    if family == AF_UNIX {
        let path = unsafe { addr.add(2) };
        let first: u8 = unsafe { bpf_probe_read_user(path) }.unwrap_or(0);
        // Abstract sockets start with NUL: report them as '@name'.
        let (src, at) = if first == 0 { (unsafe { path.add(1) }, 1usize) } else { (path, 0usize) };
        ev.unix_path[0] = b'@';
        match unsafe { bpf_probe_read_user_str_bytes(src, &mut ev.unix_path[at..]) } {
            Ok(s) => ev.path_len = (s.len() + at) as u16,
            Err(_) => {
                ev.hdr.flags |= FLAG_READ_FAILED;
                count(probe, Counter::StrReadFail);
            }
        }
    } else {
        let head: SockHead = match unsafe { bpf_probe_read_user(addr as *const SockHead) } {
            Ok(h) => h,
            Err(_) => {
                // A short sockaddr_in near the end of a page: read just 8 bytes.
                match unsafe { bpf_probe_read_user(addr as *const [u8; 8]) } {
                    Ok(b) => SockHead {
                        family,
                        port_be: u16::from_ne_bytes([b[2], b[3]]),
                        v4_or_flow: [b[4], b[5], b[6], b[7]],
                        v6: [0; 16],
                    },
                    Err(_) => {
                        count(probe, Counter::StrReadFail);
                        return Ok(None);
                    }
                }
            }
        };
        ev.port = u16::from_be(head.port_be);
        if family == AF_INET {
            ev.addr[..4].copy_from_slice(&head.v4_or_flow);
        } else {
            ev.addr = head.v6;
        }
        // Pre-filter: no rule looks at loopback destinations.
        if f.drop_loopback_connects != 0 && is_loopback(family, &ev.addr) {
            count(probe, Counter::Filtered);
            return Ok(None);
        }
    }
    // The header last: `fill_header` resets its flags, keep a read failure.
    let flags = ev.hdr.flags;
    fill_header(&mut ev.hdr, EventKind::Connect as u16);
    ev.hdr.flags = flags;
    Ok(Some(ev))
}
