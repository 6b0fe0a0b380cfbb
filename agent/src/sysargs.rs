//! The arguments of bpf, userfaultfd, dup, bind, listen, accept, capset, setgid,
//! setresgid, prctl, open_by_handle_at and io_uring_setup as Falco's `evt.arg.*` renders them (names from Falco's event
//! table; enum and flag arguments by name, `evt.rawarg.*` the number), and the fd those
//! syscalls act on or create, built from what the probe read in the kernel, so the
//! `fd.*` fields of a dup or an accept describe the socket, pipe or file as Falco's fd
//! table would (`fd.type`, `fd.typechar`, `fd.name`, the endpoints).
use lanner_common::{decode, ftype, AF_INET, AF_INET6, AF_UNIX};
use lanner_rules::{EvtArg, EvtType, Fd, L4Proto};

use crate::evtargs::flag_names;
use lanner_rules::fields::argflags::{io_uring_setup_to_falco, FD_FLAGS, IO_URING_FEATURES, IO_URING_SETUP_FLAGS};

/// Falco's `bpf_commands` names, by command number.
#[rustfmt::skip]
const BPF_COMMANDS: [&str; 37] = [
    "BPF_MAP_CREATE", "BPF_MAP_LOOKUP_ELEM", "BPF_MAP_UPDATE_ELEM", "BPF_MAP_DELETE_ELEM", "BPF_MAP_GET_NEXT_KEY",
    "BPF_PROG_LOAD", "BPF_OBJ_PIN", "BPF_OBJ_GET", "BPF_PROG_ATTACH", "BPF_PROG_DETACH", "BPF_PROG_TEST_RUN",
    "BPF_PROG_GET_NEXT_ID", "BPF_MAP_GET_NEXT_ID", "BPF_PROG_GET_FD_BY_ID", "BPF_MAP_GET_FD_BY_ID",
    "BPF_OBJ_GET_INFO_BY_FD", "BPF_PROG_QUERY", "BPF_RAW_TRACEPOINT_OPEN", "BPF_BTF_LOAD", "BPF_BTF_GET_FD_BY_ID",
    "BPF_TASK_FD_QUERY", "BPF_MAP_LOOKUP_AND_DELETE_ELEM", "BPF_MAP_FREEZE", "BPF_BTF_GET_NEXT_ID",
    "BPF_MAP_LOOKUP_BATCH", "BPF_MAP_LOOKUP_AND_DELETE_BATCH", "BPF_MAP_UPDATE_BATCH", "BPF_MAP_DELETE_BATCH",
    "BPF_LINK_CREATE", "BPF_LINK_UPDATE", "BPF_LINK_GET_FD_BY_ID", "BPF_LINK_GET_NEXT_ID", "BPF_ENABLE_STATS",
    "BPF_ITER_CREATE", "BPF_LINK_DETACH", "BPF_PROG_BIND_MAP", "BPF_TOKEN_CREATE",
];

/// prctl options by number (the ones Falco's `prctl_options` names).
fn prctl_option(v: u64) -> String {
    let n = match v {
        1 => "PR_SET_PDEATHSIG",
        2 => "PR_GET_PDEATHSIG",
        3 => "PR_GET_DUMPABLE",
        4 => "PR_SET_DUMPABLE",
        7 => "PR_GET_KEEPCAPS",
        8 => "PR_SET_KEEPCAPS",
        15 => "PR_SET_NAME",
        16 => "PR_GET_NAME",
        21 => "PR_GET_SECCOMP",
        22 => "PR_SET_SECCOMP",
        23 => "PR_CAPBSET_READ",
        24 => "PR_CAPBSET_DROP",
        35 => "PR_SET_MM",
        36 => "PR_SET_CHILD_SUBREAPER",
        37 => "PR_GET_CHILD_SUBREAPER",
        38 => "PR_SET_NO_NEW_PRIVS",
        39 => "PR_GET_NO_NEW_PRIVS",
        47 => "PR_CAP_AMBIENT",
        0x5961_6d61 => "PR_SET_PTRACER",
        other => return other.to_string(),
    };
    n.to_string()
}

/// A gid argument: -1 ("unchanged") as Falco prints it, else the number.
fn gid_arg(name: &'static str, v: u64) -> EvtArg {
    let g = v as u32;
    EvtArg::num(name, if g == u32::MAX { -1 } else { i64::from(g) })
}

fn hex_arg(name: &'static str, v: u64) -> EvtArg {
    EvtArg::named(name, v as i64, format!("{v:#x}"))
}

/// The event type and arguments of the syscalls this module handles; `fd` is the fd
/// the event describes (see [`sys_fd`]), for the socket address arguments.
pub fn sys_args(s: &decode::Sys, fd: Option<&Fd>) -> Option<(EvtType, Vec<EvtArg>)> {
    let t = EvtType::from_falco_name(s.syscall)?;
    let a = s.args;
    let fdnum = |name, v: u64| EvtArg::num(name, i64::from(v as i32));
    let fd_name = || EvtArg::text("tuple", fd.map(|f| f.name().to_string()).unwrap_or_default());
    let args = match t {
        EvtType::Bpf => {
            let cmd = BPF_COMMANDS.get(a[0] as usize).map_or_else(|| a[0].to_string(), |n| n.to_string());
            vec![EvtArg::num("res_or_fd", s.ret), EvtArg::num("fd", s.ret), EvtArg::named("cmd", a[0] as i64, cmd)]
        }
        EvtType::Userfaultfd => vec![EvtArg::named("flags", a[0] as i64, flag_names(a[0], FD_FLAGS))],
        EvtType::Dup => vec![fdnum("oldfd", a[0]), fdnum("fd", a[0])],
        EvtType::Dup2 => vec![fdnum("oldfd", a[0]), fdnum("newfd", a[1]), fdnum("fd", a[0])],
        EvtType::Dup3 => vec![
            fdnum("oldfd", a[0]),
            fdnum("newfd", a[1]),
            EvtArg::named("flags", a[2] as i64, flag_names(a[2], FD_FLAGS)),
            fdnum("fd", a[0]),
        ],
        EvtType::Bind => {
            let addr = match fd.map(|f| f.kind()) {
                Some(lanner_rules::FdKind::Inet { sip, sport, .. }) => format!("{sip}:{sport}"),
                _ => String::new(),
            };
            vec![EvtArg::text("addr", addr), fdnum("fd", a[0])]
        }
        EvtType::Listen => vec![fdnum("fd", a[0]), EvtArg::num("backlog", i64::from(a[1] as i32))],
        EvtType::Accept | EvtType::Accept4 => {
            let mut v = vec![EvtArg::num("fd", s.ret), fd_name()];
            if t == EvtType::Accept4 {
                v.push(EvtArg::named("flags", a[3] as i64, flag_names(a[3], FD_FLAGS)));
            }
            v
        }
        EvtType::Capset => {
            vec![hex_arg("cap_inheritable", a[1]), hex_arg("cap_permitted", a[2]), hex_arg("cap_effective", a[3])]
        }
        EvtType::Setgid => vec![gid_arg("gid", a[0])],
        EvtType::Setresgid => vec![gid_arg("rgid", a[0]), gid_arg("egid", a[1]), gid_arg("sgid", a[2])],
        EvtType::Prctl => vec![
            EvtArg::named("option", a[0] as i64, prctl_option(a[0])),
            EvtArg::text("arg2_str", s.str.clone().unwrap_or_default()),
            EvtArg::num("arg2_int", a[1] as i64),
        ],
        EvtType::OpenByHandleAt => {
            let mut flags = String::new();
            lanner_rules::event::format_open_flags(a[2] as u32, &mut flags);
            vec![
                EvtArg::num("fd", s.ret),
                fdnum("mountfd", a[0]),
                EvtArg::named("flags", a[2] as i64, flags),
                EvtArg::text("path", fd.map(|f| f.name().to_string()).unwrap_or_default()),
            ]
        }
        EvtType::IoUringSetup => {
            // args 2..4: the params (u32 pairs) as the kernel filled them, or as passed
            // when the call failed (`sys_exit::complete_sys`).
            let ((sq, cq), (flags, cpu), (idle, feats)) = (lo_hi(a[2]), lo_hi(a[3]), lo_hi(a[4]));
            vec![
                EvtArg::num("entries", i64::from(a[0] as u32)),
                EvtArg::num("sq_entries", sq.into()),
                EvtArg::num("cq_entries", cq.into()),
                EvtArg::named(
                    "flags",
                    io_uring_setup_to_falco(flags.into()) as i64,
                    flag_names(flags.into(), IO_URING_SETUP_FLAGS),
                ),
                EvtArg::num("sq_thread_cpu", cpu.into()),
                EvtArg::num("sq_thread_idle", idle.into()),
                EvtArg::named("features", i64::from(feats), flag_names(feats.into(), IO_URING_FEATURES)),
            ]
        }
        _ => return None,
    };
    Some((t, args))
}

/// A u64 holding two u32 as the kernel laid them out in memory: (low, high).
fn lo_hi(v: u64) -> (u32, u32) {
    (v as u32, (v >> 32) as u32)
}

/// The fd a dup, accept, bind or listen event describes: for sockets the endpoints
/// read in the kernel (accept, bind, listen: the local end is the server; dup of a
/// connected socket: the remote end is, as for the connect that made it), for other
/// fds the name `/proc/PID/fd/N` gives (`link(fd)`). `None` when the kernel could
/// not read the fd.
pub fn sys_fd(s: &decode::Sys, link: impl Fn(i32) -> Option<String>) -> Option<Fd> {
    let info = s.fd.as_ref()?;
    let name = || link(info.fd).unwrap_or_default();
    let fd = match info.ftype {
        0 => return None,
        ftype::SOCK => match (info.family, info.local, info.remote) {
            (AF_INET | AF_INET6, Some(local), remote) => {
                let proto = match info.sock_type {
                    1 => L4Proto::Tcp,
                    2 => L4Proto::Udp,
                    _ => L4Proto::Unknown,
                };
                let remote = remote.filter(|r| r.1 != 0 || !r.0.is_unspecified());
                let local_is_server = matches!(s.syscall, "accept" | "accept4" | "bind" | "listen");
                match remote {
                    Some(r) if !local_is_server => Fd::inet(r.0, r.1, Some(local), proto),
                    r => Fd::inet(local.0, local.1, r, proto),
                }
            }
            (AF_UNIX, _, _) => Fd::unix(String::new()),
            // Netlink, packet... sockets: no fd kind for them yet.
            _ => return None,
        },
        ftype::FIFO => Fd::pipe(name()),
        _ => Fd::file(name(), 0, 0),
    };
    Some(fd.with_num(i64::from(info.fd)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use lanner_common::decode::SysFd;

    fn sys(syscall: &'static str, ret: i64, args: [u64; 6], fd: Option<SysFd>) -> decode::Sys {
        let hdr = decode::Header {
            ts_boot_ns: 1,
            pid: 7,
            tid: 7,
            uid: 0,
            gid: 0,
            cgroup_id: 1,
            cgroup_v1_id: 0,
            comm: "nc".into(),
        };
        decode::Sys { hdr, syscall, ret, args, str: None, fd, read_failed: false }
    }

    fn sock(fd: i32, local: (&str, u16), remote: (&str, u16)) -> SysFd {
        SysFd {
            fd,
            ftype: ftype::SOCK,
            sock_type: 1,
            local: Some((local.0.parse().unwrap(), local.1)),
            remote: Some((remote.0.parse().unwrap(), remote.1)),
            family: AF_INET,
        }
    }

    #[test]
    fn dup_of_a_connected_socket_names_the_remote_end_as_server() {
        let s = sys("dup2", 0, [3, 0, 0, 0, 0, 0], Some(sock(0, ("10.0.0.2", 40000), ("10.0.0.9", 4444))));
        let fd = sys_fd(&s, |_| None).unwrap();
        assert_eq!((fd.name(), fd.type_name(), fd.num()), ("10.0.0.2:40000->10.0.0.9:4444", "ipv4", Some(0)));
        let (t, args) = sys_args(&s, Some(&fd)).unwrap();
        assert_eq!(t, EvtType::Dup2);
        assert_eq!(args, vec![EvtArg::num("oldfd", 3), EvtArg::num("newfd", 0), EvtArg::num("fd", 3)]);
    }

    #[test]
    fn accept_names_the_local_end_as_server_and_listen_has_no_peer() {
        let s = sys("accept4", 5, [3, 0, 0, 0o2000000, 0, 0], Some(sock(5, ("10.0.0.9", 80), ("10.0.0.2", 40000))));
        let fd = sys_fd(&s, |_| None).unwrap();
        assert_eq!(fd.name(), "10.0.0.2:40000->10.0.0.9:80");
        let (_, args) = sys_args(&s, Some(&fd)).unwrap();
        assert_eq!(args[1], EvtArg::text("tuple", "10.0.0.2:40000->10.0.0.9:80"));
        assert_eq!(args[2], EvtArg::named("flags", 0o2000000, "O_CLOEXEC"));
        let s = sys("listen", 0, [3, 9, 0, 0, 0, 0], Some(sock(3, ("0.0.0.0", 80), ("0.0.0.0", 0))));
        assert_eq!(sys_fd(&s, |_| None).unwrap().name(), "0.0.0.0:80");
    }

    #[test]
    fn pipes_and_files_are_named_through_proc_and_unread_fds_give_none() {
        let pipe = SysFd { fd: 4, ftype: ftype::FIFO, sock_type: 0, local: None, remote: None, family: 0 };
        let s = sys("dup", 4, [1, 0, 0, 0, 0, 0], Some(pipe.clone()));
        let fd = sys_fd(&s, |n| Some(format!("pipe:[{n}]"))).unwrap();
        assert_eq!((fd.name(), fd.typechar()), ("pipe:[4]", "p"));
        let file = SysFd { ftype: ftype::REG, ..pipe.clone() };
        let s = sys("dup", 4, [1, 0, 0, 0, 0, 0], Some(file));
        assert_eq!(sys_fd(&s, |_| Some("/etc/passwd".into())).unwrap().type_name(), "file");
        let unread = SysFd { ftype: 0, ..pipe };
        assert!(sys_fd(&sys("dup", 4, [1, 0, 0, 0, 0, 0], Some(unread)), |_| None).is_none());
        assert!(sys_fd(&sys("dup", -9, [99, 0, 0, 0, 0, 0], None), |_| None).is_none());
    }

    #[test]
    fn enum_arguments_render_by_name() {
        let (_, args) = sys_args(&sys("bpf", 3, [5, 0, 0, 0, 0, 0], None), None).unwrap();
        assert_eq!(args[2], EvtArg::named("cmd", 5, "BPF_PROG_LOAD"));
        let (_, args) = sys_args(&sys("prctl", 0, [38, 1, 0, 0, 0, 0], None), None).unwrap();
        assert_eq!(args[0], EvtArg::named("option", 38, "PR_SET_NO_NEW_PRIVS"));
        let (_, args) = sys_args(&sys("setresgid", 0, [u64::from(u32::MAX), 5, 6, 0, 0, 0], None), None).unwrap();
        assert_eq!(args, vec![EvtArg::num("rgid", -1), EvtArg::num("egid", 5), EvtArg::num("sgid", 6)]);
        let (_, args) = sys_args(&sys("capset", 0, [0, 0, 0x1ff, 0x3, 0, 0], None), None).unwrap();
        assert_eq!(args[1], EvtArg::named("cap_permitted", 0x1ff, "0x1ff"));
    }
}
