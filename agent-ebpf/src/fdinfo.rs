//! What an fd of the current task refers to, read in the kernel at a syscall's exit
//! (dup's new fd, accept's connection, the socket of bind and listen): the inode's file
//! type and, for an IPv4/IPv6 socket, both endpoints from `struct sock_common`. Userspace
//! turns it into `fd.type`/`fd.typechar`/`fd.name` and the `fd.*` address fields, the
//! way Falco's fd table would report that fd.
use lanner_common::{ftype, FdInfo, AF_INET, AF_INET6};

use crate::common::{conf, current_task, read_at};

/// Highest fd number followed (a bound for the verifier and for garbage input).
const MAX_FD: i64 = 1 << 20;

/// `task->files->fdt->fd[fd]`, null when unreadable.
#[inline(always)]
pub fn file_of(fd: i64) -> *const u8 {
    if !(0..MAX_FD).contains(&fd) {
        return core::ptr::null();
    }
    let task = current_task();
    let files: *const u8 = read_at(task, conf!(sock.task_files)).unwrap_or(core::ptr::null());
    let fdt: *const u8 = read_at(files, conf!(sock.files_fdt)).unwrap_or(core::ptr::null());
    let fds: *const u8 = read_at(fdt, conf!(sock.fdtable_fd)).unwrap_or(core::ptr::null());
    read_at(fds, (fd as u32) * 8).unwrap_or(core::ptr::null())
}

/// Fill `out` for `fd`; leaves it zeroed (with `fd` set) when the fd cannot be read.
#[inline(always)]
pub fn read_fd_info(fd: i64, out: &mut FdInfo) {
    *out = FdInfo { fd: fd as i32, ..FdInfo::default() };
    let file = file_of(fd);
    if file.is_null() {
        return;
    }
    let inode: *const u8 = read_at(file, conf!(exe.file_f_inode)).unwrap_or(core::ptr::null());
    let mode: u16 = read_at(inode, conf!(exe.inode_i_mode)).unwrap_or(0);
    out.ftype = mode >> 12;
    if out.ftype != ftype::SOCK {
        return;
    }
    let sock: *const u8 = read_at(file, conf!(sock.file_private_data)).unwrap_or(core::ptr::null());
    out.sock_type = read_at::<u16>(sock, conf!(sock.socket_type)).unwrap_or(0);
    let sk: *const u8 = read_at(sock, conf!(sock.socket_sk)).unwrap_or(core::ptr::null());
    out.family = read_at::<u16>(sk, conf!(sock.skc_family)).unwrap_or(0);
    out.lport = read_at::<u16>(sk, conf!(sock.skc_num)).unwrap_or(0);
    out.rport = u16::from_be(read_at::<u16>(sk, conf!(sock.skc_dport)).unwrap_or(0));
    if out.family == AF_INET {
        out.laddr[..4].copy_from_slice(&read_at::<[u8; 4]>(sk, conf!(sock.skc_rcv_saddr)).unwrap_or([0; 4]));
        out.raddr[..4].copy_from_slice(&read_at::<[u8; 4]>(sk, conf!(sock.skc_daddr)).unwrap_or([0; 4]));
    } else if out.family == AF_INET6 {
        out.laddr = read_at(sk, conf!(sock.skc_v6_rcv_saddr)).unwrap_or([0; 16]);
        out.raddr = read_at(sk, conf!(sock.skc_v6_daddr)).unwrap_or([0; 16]);
    }
}
