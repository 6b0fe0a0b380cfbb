//! The arguments of the path syscalls (with chown, creat, mount, umount2), ptrace,
//! socket, the module and namespace syscalls as
//! Falco's `evt.arg.<name>` renders them: parameter names from Falco's event table,
//! flags as their names joined by `|` (the number when no name applies; the tables
//! are the rules crate's `fields::argflags`, which the rule compiler checks names
//! against), paths
//! resolved against the directory fd or the working directory, `evt.arg.pid` as the
//! target's process name. `evt.rawarg.<name>` keeps the number.
use lanner_common::decode;
pub use lanner_rules::fields::argflags::flag_names;
use lanner_rules::fields::argflags::{
    clone_to_falco, CLONE_FLAGS, DELETE_MODULE_FLAGS, FCHOWNAT_FLAGS, FINIT_MODULE_FLAGS, LINKAT_FLAGS, MEMFD_FLAGS,
    MOUNT_FLAGS, RENAMEAT2_FLAGS, UMOUNT_FLAGS, UNLINKAT_FLAGS,
};
use lanner_rules::{EvtArg, EvtType};

/// `(bit, name)` tables of the flag arguments, lowest bit first.
const MODE_FLAGS: &[(u64, &str)] = &[
    (0o1, "S_IXOTH"),
    (0o2, "S_IWOTH"),
    (0o4, "S_IROTH"),
    (0o10, "S_IXGRP"),
    (0o20, "S_IWGRP"),
    (0o40, "S_IRGRP"),
    (0o100, "S_IXUSR"),
    (0o200, "S_IWUSR"),
    (0o400, "S_IRUSR"),
    (0o1000, "S_ISVTX"),
    (0o2000, "S_ISGID"),
    (0o4000, "S_ISUID"),
];
/// `MS_MGC_VAL`: the magic old programs put in the high half of mount's flags.
const MS_MGC_VAL: u32 = 0xC0ED_0000;

/// `ptrace` request names (x86-64 values).
pub fn ptrace_request(req: u64) -> String {
    let n = match req {
        0 => "PTRACE_TRACEME",
        1 => "PTRACE_PEEKTEXT",
        2 => "PTRACE_PEEKDATA",
        3 => "PTRACE_PEEKUSR",
        4 => "PTRACE_POKETEXT",
        5 => "PTRACE_POKEDATA",
        6 => "PTRACE_POKEUSR",
        7 => "PTRACE_CONT",
        8 => "PTRACE_KILL",
        9 => "PTRACE_SINGLESTEP",
        12 => "PTRACE_GETREGS",
        13 => "PTRACE_SETREGS",
        14 => "PTRACE_GETFPREGS",
        15 => "PTRACE_SETFPREGS",
        16 => "PTRACE_ATTACH",
        17 => "PTRACE_DETACH",
        18 => "PTRACE_GETFPXREGS",
        19 => "PTRACE_SETFPXREGS",
        24 => "PTRACE_SYSCALL",
        25 => "PTRACE_GET_THREAD_AREA",
        26 => "PTRACE_SET_THREAD_AREA",
        30 => "PTRACE_ARCH_PRCTL",
        31 => "PTRACE_SYSEMU",
        32 => "PTRACE_SYSEMU_SINGLESTEP",
        33 => "PTRACE_SINGLEBLOCK",
        0x4200 => "PTRACE_SETOPTIONS",
        0x4201 => "PTRACE_GETEVENTMSG",
        0x4202 => "PTRACE_GETSIGINFO",
        0x4203 => "PTRACE_SETSIGINFO",
        0x4204 => "PTRACE_GETREGSET",
        0x4205 => "PTRACE_SETREGSET",
        0x4206 => "PTRACE_SEIZE",
        0x4207 => "PTRACE_INTERRUPT",
        0x4208 => "PTRACE_LISTEN",
        0x4209 => "PTRACE_PEEKSIGINFO",
        0x420a => "PTRACE_GETSIGMASK",
        0x420b => "PTRACE_SETSIGMASK",
        other => return other.to_string(),
    };
    n.to_string()
}

/// Socket address family names (`AF_UNIX` for 1, as Falco prints it).
pub fn socket_domain(d: u64) -> String {
    lanner_rules::kfilter::socket_domain_name(d).map_or_else(|| d.to_string(), str::to_string)
}

fn flags_arg(name: &'static str, v: u64, table: &[(u64, &str)]) -> EvtArg {
    EvtArg::named(name, v as i64, flag_names(v, table))
}

/// Clone flags as Falco gives them: names in its table's order, the raw value its
/// `PPM_CL_*` translation (kernel bits it has no name for are dropped, so
/// `unshare(1)` renders `0`).
fn clone_arg(name: &'static str, v: u64) -> EvtArg {
    let falco = clone_to_falco(v);
    let kernel = lanner_rules::fields::argflags::clone_from_falco(falco);
    EvtArg::named(name, falco as i64, flag_names(kernel, CLONE_FLAGS))
}

/// The event type and arguments of a path syscall; `resolve(dirfd, path)` makes a
/// path absolute as the caller saw it.
pub fn file_args(f: &decode::File, resolve: impl Fn(i32, &str) -> String) -> Option<(EvtType, Vec<EvtArg>)> {
    let t = EvtType::from_falco_name(f.syscall)?;
    let fd = |name, v: i32| EvtArg::num(name, i64::from(v));
    let p1 = |name| EvtArg::path(name, resolve(f.dirfd, &f.path), &f.path);
    let p2 = |name| EvtArg::path(name, resolve(f.dirfd2, &f.path2), &f.path2);
    let mode = || flags_arg("mode", u64::from(f.mode), MODE_FLAGS);
    // chown's -1 means "unchanged", as Falco prints it.
    let owner = |name, v: u32| EvtArg::num(name, if v == u32::MAX { -1 } else { i64::from(v) });
    let args = match t {
        EvtType::Symlink => vec![EvtArg::text("target", f.path.clone()), p2("linkpath")],
        EvtType::Symlinkat => vec![EvtArg::text("target", f.path.clone()), fd("linkdirfd", f.dirfd2), p2("linkpath")],
        EvtType::Link | EvtType::Rename => vec![p1("oldpath"), p2("newpath")],
        EvtType::Linkat => vec![
            fd("olddir", f.dirfd),
            p1("oldpath"),
            fd("newdir", f.dirfd2),
            p2("newpath"),
            flags_arg("flags", u64::from(f.flags), LINKAT_FLAGS),
        ],
        EvtType::Renameat | EvtType::Renameat2 => {
            let mut v = vec![fd("olddirfd", f.dirfd), p1("oldpath"), fd("newdirfd", f.dirfd2), p2("newpath")];
            if t == EvtType::Renameat2 {
                v.push(flags_arg("flags", u64::from(f.flags), RENAMEAT2_FLAGS));
            }
            v
        }
        EvtType::Unlink | EvtType::Rmdir | EvtType::Chroot => vec![p1("path")],
        EvtType::Unlinkat => {
            vec![fd("dirfd", f.dirfd), p1("name"), flags_arg("flags", u64::from(f.flags), UNLINKAT_FLAGS)]
        }
        // mkdir's mode is a plain number in Falco's table (PT_UINT32, hex).
        EvtType::Mkdir | EvtType::Mkdirat => {
            let m = EvtArg::named("mode", i64::from(f.mode), format!("{:#x}", f.mode));
            if t == EvtType::Mkdirat {
                vec![fd("dirfd", f.dirfd), p1("path"), m]
            } else {
                vec![p1("path"), m]
            }
        }
        EvtType::Chmod => vec![p1("filename"), mode()],
        EvtType::Fchmod => vec![fd("fd", f.dirfd), mode()],
        EvtType::Fchmodat => vec![fd("dirfd", f.dirfd), p1("filename"), mode()],
        // uid in `mode`, gid in `dirfd2` (see `FileEvent`).
        EvtType::Chown | EvtType::Lchown => vec![p1("path"), owner("uid", f.mode), owner("gid", f.dirfd2 as u32)],
        EvtType::Fchown => vec![fd("fd", f.dirfd), owner("uid", f.mode), owner("gid", f.dirfd2 as u32)],
        EvtType::Fchownat => vec![
            fd("dirfd", f.dirfd),
            p1("pathname"),
            owner("uid", f.mode),
            owner("gid", f.dirfd2 as u32),
            flags_arg("flags", u64::from(f.flags), FCHOWNAT_FLAGS),
        ],
        // creat's mode is PF_OCT in Falco's table.
        EvtType::Creat => {
            let mut v = vec![p1("name"), EvtArg::named("mode", i64::from(f.mode), format!("0{:o}", f.mode))];
            if f.ret >= 0 {
                v.insert(0, EvtArg::num("fd", i64::from(f.ret)));
            }
            v
        }
        EvtType::Mount => {
            let fl = if f.flags & 0xffff_0000 == MS_MGC_VAL { f.flags & 0xffff } else { f.flags };
            vec![
                EvtArg::text("dev", f.path2.clone()),
                p1("dir"),
                EvtArg::text("type", f.aux.clone()),
                flags_arg("flags", u64::from(fl), MOUNT_FLAGS),
            ]
        }
        EvtType::Umount2 => vec![p1("name"), flags_arg("flags", u64::from(f.flags), UMOUNT_FLAGS)],
        _ => return None,
    };
    Some((t, args))
}

/// The event type and arguments of ptrace, socket, the module syscalls,
/// memfd_create, unshare, setns, process_vm_readv/writev and kill;
/// `comm(pid)` names a process for `evt.arg.pid`.
pub fn sys_args(s: &decode::Sys, comm: impl Fn(u32) -> Option<String>) -> Option<(EvtType, Vec<EvtArg>)> {
    let t = EvtType::from_falco_name(s.syscall)?;
    let a = s.args;
    let str_arg = |name| EvtArg::text(name, s.str.clone().unwrap_or_default());
    // A target process: its name when the table knows it, else the number.
    let pid_arg = |v: u64| {
        let pid = v as i32;
        EvtArg::named("pid", pid.into(), u32::try_from(pid).ok().and_then(&comm).unwrap_or_else(|| pid.to_string()))
    };
    let args = match t {
        EvtType::Ptrace => vec![EvtArg::named("request", a[0] as i64, ptrace_request(a[0])), pid_arg(a[1])],
        EvtType::Socket => {
            let mut v = vec![
                EvtArg::named("domain", a[0] as i64, socket_domain(a[0])),
                EvtArg::num("type", (a[1] as u32).into()),
                EvtArg::num("proto", (a[2] as u32).into()),
            ];
            if s.ret >= 0 {
                v.insert(0, EvtArg::num("fd", s.ret));
            }
            v
        }
        EvtType::InitModule => vec![EvtArg::num("length", a[1] as i64), str_arg("uargs")],
        EvtType::FinitModule => vec![
            EvtArg::num("fd", i64::from(a[0] as i32)),
            str_arg("uargs"),
            flags_arg("flags", a[2], FINIT_MODULE_FLAGS),
        ],
        EvtType::DeleteModule => vec![str_arg("name"), flags_arg("flags", a[1], DELETE_MODULE_FLAGS)],
        EvtType::MemfdCreate => {
            let mut v = vec![str_arg("name"), flags_arg("flags", a[1], MEMFD_FLAGS)];
            if s.ret >= 0 {
                v.insert(0, EvtArg::num("fd", s.ret));
            }
            v
        }
        EvtType::Unshare => vec![clone_arg("flags", a[0])],
        EvtType::Setns => vec![EvtArg::num("fd", i64::from(a[0] as i32)), clone_arg("nstype", a[1])],
        // Falco's third parameter, the bytes moved, is not captured.
        EvtType::ProcessVmReadv | EvtType::ProcessVmWritev => vec![pid_arg(a[0])],
        EvtType::Kill => {
            let sig = a[1] as i32;
            let text = lanner_rules::kfilter::signal_name(sig.into()).map_or_else(|| sig.to_string(), str::to_string);
            vec![pid_arg(a[0]), EvtArg::named("sig", sig.into(), text)]
        }
        _ => return None,
    };
    Some((t, args))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_render_as_falco_names() {
        assert_eq!(flag_names(0o4755, MODE_FLAGS), "S_IXOTH|S_IROTH|S_IXGRP|S_IRGRP|S_IXUSR|S_IWUSR|S_IRUSR|S_ISUID");
        assert_eq!(flag_names(0, MODE_FLAGS), "0");
        assert_eq!(flag_names(0x200, UNLINKAT_FLAGS), "AT_REMOVEDIR");
        assert_eq!(ptrace_request(16), "PTRACE_ATTACH");
        assert_eq!(ptrace_request(0), "PTRACE_TRACEME");
        assert_eq!(ptrace_request(0x4206), "PTRACE_SEIZE");
        assert_eq!(ptrace_request(999), "999");
        assert_eq!(socket_domain(17), "AF_PACKET");
        assert_eq!(socket_domain(1), "AF_UNIX");
        assert_eq!(socket_domain(99), "99");
        // Falco's table order (NEWNET before NEWNS), its raw value (PPM_CL_* bits).
        assert_eq!(flag_names(0x4002_0000, CLONE_FLAGS), "CLONE_NEWNET|CLONE_NEWNS");
        assert_eq!(
            clone_arg("flags", 0x1002_0000),
            EvtArg::named("flags", (1 << 5) | (1 << 20), "CLONE_NEWNS|CLONE_NEWUSER")
        );
        assert_eq!(clone_arg("flags", 1), EvtArg::named("flags", 0, "0"));
        assert_eq!(flag_names(3, MEMFD_FLAGS), "MFD_CLOEXEC|MFD_ALLOW_SEALING");
    }

    fn hdr() -> decode::Header {
        decode::Header {
            ts_boot_ns: 1,
            pid: 7,
            tid: 7,
            uid: 0,
            gid: 0,
            cgroup_id: 1,
            cgroup_v1_id: 0,
            comm: "ln".into(),
        }
    }

    #[test]
    fn symlinkat_resolves_the_link_path_only() {
        let f = decode::File {
            hdr: hdr(),
            syscall: "symlinkat",
            ret: 0,
            dirfd: -100,
            dirfd2: 5,
            flags: 0,
            mode: 0,
            path: "../etc/shadow".into(),
            path2: "link".into(),
            aux: String::new(),
            path_truncated: false,
            read_failed: false,
        };
        let (t, args) = file_args(&f, |fd, p| format!("<{fd}>/{p}")).unwrap();
        assert_eq!(t, EvtType::Symlinkat);
        assert_eq!(args[2].as_passed(), "link", "fs.path.sourceraw: as passed");
        assert_eq!(
            args,
            vec![
                EvtArg::text("target", "../etc/shadow"),
                EvtArg::num("linkdirfd", 5),
                EvtArg::path("linkpath", "<5>/link", "link")
            ]
        );
    }

    #[test]
    fn mount_and_chown_arguments() {
        let f = decode::File {
            hdr: hdr(),
            syscall: "mount",
            ret: 0,
            dirfd: -100,
            dirfd2: -100,
            flags: 0xC0ED_0000 | 0x1001,
            mode: 0,
            path: "mnt".into(),
            path2: "/dev/sda1".into(),
            aux: "ext4".into(),
            path_truncated: false,
            read_failed: false,
        };
        let (t, args) = file_args(&f, |_, p| format!("/cwd/{p}")).unwrap();
        assert_eq!(t, EvtType::Mount);
        assert_eq!(
            args,
            vec![
                EvtArg::text("dev", "/dev/sda1"),
                EvtArg::path("dir", "/cwd/mnt", "mnt"),
                EvtArg::text("type", "ext4"),
                EvtArg::named("flags", 0x1001, "RDONLY|BIND"),
            ]
        );
        let f = decode::File { syscall: "fchownat", dirfd: 4, dirfd2: -1, mode: 1000, flags: 0x100, ..f };
        let (t, args) = file_args(&f, |fd, p| format!("<{fd}>/{p}")).unwrap();
        assert_eq!(t, EvtType::Fchownat);
        assert_eq!(
            args,
            vec![
                EvtArg::num("dirfd", 4),
                EvtArg::path("pathname", "<4>/mnt", "mnt"),
                EvtArg::num("uid", 1000),
                EvtArg::num("gid", -1),
                EvtArg::named("flags", 0x100, "AT_SYMLINK_NOFOLLOW"),
            ]
        );
    }

    #[test]
    fn ptrace_and_socket_arguments() {
        let s = decode::Sys {
            hdr: hdr(),
            syscall: "ptrace",
            ret: -1,
            args: [16, 42, 0, 0, 0, 0],
            str: None,
            fd: None,
            read_failed: false,
        };
        let (t, args) = sys_args(&s, |p| (p == 42).then(|| "sleep".to_string())).unwrap();
        assert_eq!(t, EvtType::Ptrace);
        assert_eq!(args, vec![EvtArg::named("request", 16, "PTRACE_ATTACH"), EvtArg::named("pid", 42, "sleep")]);
        let s = decode::Sys { syscall: "socket", ret: 3, args: [17, 3, 768, 0, 0, 0], ..s };
        let (t, args) = sys_args(&s, |_| None).unwrap();
        assert_eq!(t, EvtType::Socket);
        assert_eq!(
            args,
            vec![
                EvtArg::num("fd", 3),
                EvtArg::named("domain", 17, "AF_PACKET"),
                EvtArg::num("type", 3),
                EvtArg::num("proto", 768)
            ]
        );
    }
}
