//! Unit tests of the decoder: every kind round-trips, bad bytes are errors.
use super::*;

fn hdr(kind: EventKind) -> EventHeader {
    let mut comm = [0u8; COMM_LEN];
    comm[..4].copy_from_slice(b"bash");
    EventHeader {
        kind: kind as u16,
        flags: 0,
        subtype: 0,
        _pad0: 0,
        ts_boot_ns: 42,
        tid: 101,
        tgid: 100,
        uid: 1000,
        gid: 1000,
        cgroup_id: 7,
        cgroup_v1_id: 0,
        comm,
    }
}

fn exec_event(args: &[&str]) -> ExecEvent {
    let mut e = ExecEvent {
        hdr: hdr(EventKind::Exec),
        ppid: 1,
        ret: 0,
        loginuid: u32::MAX,
        tty: 0x8801,
        filename_len: 0,
        args_len: 0,
        args_count: 0,
        env_count: 0,
        info: crate::exe::ExecInfo::ZERO,
        tail: [0; EXEC_TAIL_LEN],
    };
    let argv: Vec<u8> = args.iter().flat_map(|a| a.bytes().chain([0])).collect();
    pack(&mut e, &argv, b"", b"/usr/bin/cat", b"", b"");
    e.args_count = args.len() as u16;
    e
}

/// Pack the tail's sections as the probes do (argv, environment, filename,
/// executable path, working directory) and set their lengths.
fn pack(e: &mut ExecEvent, args: &[u8], env: &[u8], filename: &[u8], exe: &[u8], cwd: &[u8]) {
    e.tail = [0; EXEC_TAIL_LEN];
    let mut off = 0;
    for part in [args, env, filename, exe, cwd] {
        e.tail[off..off + part.len()].copy_from_slice(part);
        off += part.len();
    }
    (e.args_len, e.info.env_len, e.filename_len) = (args.len() as u16, env.len() as u16, filename.len() as u16);
    (e.info.exe_path_len, e.info.cwd_len) = (exe.len() as u16, cwd.len() as u16);
}

#[test]
fn exec_sections_pack_back_to_back() {
    let mut e = exec_event(&[]);
    pack(&mut e, b"ls\0-l\0", b"A=1\0", b"/bin/ls", b"ls\0bin\0", b"tmp\0");
    let s = e.sections();
    assert_eq!(&e.tail[s.filename.clone()], b"/bin/ls");
    assert_eq!((s.args, s.env, s.filename, s.exe_path, s.cwd), (0..6, 6..10, 10..17, 17..24, 24..28));
}

#[test]
fn exec_round_trip() {
    let e = exec_event(&["cat", "/etc/shadow", ""]);
    let Event::Exec(x) = decode(&as_bytes(&e)).unwrap() else { panic!("not exec") };
    assert_eq!(x.filename, "/usr/bin/cat");
    assert_eq!(x.argv, vec!["cat", "/etc/shadow", ""]);
    assert_eq!(x.hdr.pid, 100);
    assert_eq!(x.hdr.tid, 101);
    assert_eq!(x.hdr.comm.as_str(), "bash");
    assert_eq!(x.loginuid, None);
    assert_eq!(x.tty, 0x8801);
    assert!(!x.args_truncated);
    // What the probes send: fixed fields + the used tail, rounded up to 8.
    let cut = exec_record_len(e.sections().cwd.end);
    assert!(cut < core::mem::size_of::<ExecEvent>() && cut.is_multiple_of(8));
    assert_eq!(cut, EXEC_FIXED_LEN + 32, "argv's 17 bytes and the filename's 12, packed");
    let Event::Exec(y) = decode(&as_bytes(&e)[..cut]).unwrap() else { panic!("not exec") };
    assert_eq!(y, x);
    assert!(matches!(decode(&as_bytes(&e)[..EXEC_FIXED_LEN + 2]), Err(DecodeError::BadLength { field: "args", .. })));
    // The filename's section cut short: named, not a panic.
    assert!(matches!(
        decode(&as_bytes(&e)[..EXEC_FIXED_LEN + 20]),
        Err(DecodeError::BadLength { field: "filename", len: 12, max: 3 })
    ));
}

#[test]
fn exec_flags_are_reported() {
    let mut e = exec_event(&["a"]);
    e.hdr.flags = FLAG_ARGS_TRUNCATED | FLAG_READ_FAILED;
    e.ret = -2;
    let Event::Exec(x) = decode(&as_bytes(&e)).unwrap() else { panic!("not exec") };
    assert!(x.args_truncated && x.read_failed && !x.filename_truncated);
    assert_eq!(x.ret, -2);
}

/// The header's subtype says which syscall: Falco's two event types.
#[test]
fn exec_subtype_names_execve_or_execveat() {
    let mut e = exec_event(&["a"]);
    let Event::Exec(x) = decode(&as_bytes(&e)).unwrap() else { panic!("not exec") };
    assert_eq!(x.syscall, "execve");
    e.hdr.subtype = EXEC_EXECVEAT;
    let Event::Exec(x) = decode(&as_bytes(&e)).unwrap() else { panic!("not exec") };
    assert_eq!(x.syscall, "execveat");
}

#[test]
fn open_round_trip() {
    let mut e = OpenEvent {
        hdr: hdr(EventKind::Open),
        ret: 3,
        dirfd: -100,
        flags: 0o101,
        mode: 0o644,
        path_len: 11,
        facts: 0,
        dev: 0,
        ino: 0,
        path: [0; PATH_LEN],
    };
    e.path[..11].copy_from_slice(b"/etc/shadow");
    e.hdr.subtype = 2;
    let Event::Open(o) = decode(&as_bytes(&e)).unwrap() else { panic!("not open") };
    assert_eq!((o.path.as_str(), o.ret, o.flags, o.mode, o.syscall), ("/etc/shadow", 3, 0o101, 0o644, "openat2"));
    assert_eq!((o.dirfd, o.path_truncated, o.read_failed, o.file), (-100, false, false, None));
    // The file's facts, when the kernel read them.
    let mut f = e;
    (f.facts, f.dev, f.ino) = (OPEN_FACTS_READ | OPEN_FACT_CREATED | OPEN_FACT_LOWER, (8 << 20) | 1, 77);
    let Event::Open(of) = decode(&as_bytes(&f)).unwrap() else { panic!("not open") };
    let want = OpenFile { dev: (8 << 20) | 1, ino: 77, created: true, upper_layer: false, lower_layer: true };
    assert_eq!(of.file, Some(want));
    // Fields are read in place: bytes past the record (never sent) change nothing.
    let mut longer = as_bytes(&e).to_vec();
    longer.extend_from_slice(&[0xff; 8]);
    let Event::Open(o3) = decode(&longer).unwrap() else { panic!("not open") };
    assert_eq!(o3, o);
    // What the probe sends: the fixed part and the used path bytes, rounded up to 8.
    let cut = open_record_len(11);
    assert_eq!(cut, HDR_LEN + 32 + 16, "header, fixed fields, 12 path bytes rounded up to 16");
    let Event::Open(o2) = decode(&as_bytes(&e)[..cut]).unwrap() else { panic!("not open") };
    assert_eq!(o2, o);
    // The path must fit in what arrived.
    assert!(matches!(
        decode(&as_bytes(&e)[..OPEN_FIXED_LEN + 8]),
        Err(DecodeError::BadLength { field: "path", len: 11, max: 8 })
    ));
    assert!(matches!(decode(&as_bytes(&e)[..OPEN_FIXED_LEN - 1]), Err(DecodeError::TooShort { .. })));
    assert_eq!(open_record_len(PATH_LEN), core::mem::size_of::<OpenEvent>());
    // Each subtype names its syscall (the fexit program tells all three apart).
    for (sub, name) in [(OPEN_OPEN, "open"), (OPEN_OPENAT, "openat"), (OPEN_OPENAT2, "openat2"), (0, "openat")] {
        e.hdr.subtype = sub;
        let Event::Open(o) = decode(&as_bytes(&e)).unwrap() else { panic!("not open") };
        assert_eq!(o.syscall, name, "subtype {sub}");
    }
}

#[test]
fn connect_families() {
    let mut e = ConnectEvent {
        hdr: hdr(EventKind::Connect),
        ret: -111,
        fd: 5,
        family: AF_INET,
        port: 4444,
        path_len: 0,
        sock_type: 1,
        addr: [0; 16],
        unix_path: [0; UNIX_PATH_LEN],
        lport: 0,
        _pad2: 0,
        laddr: [0; 16],
    };
    e.addr[..4].copy_from_slice(&[127, 0, 0, 1]);
    let Event::Connect(c) = decode(&as_bytes(&e)).unwrap() else { panic!() };
    assert_eq!(c.sock_type, 1, "SOCK_STREAM");
    assert_eq!(c.local, None, "no local port: no client side");
    e.lport = 40000;
    e.laddr[..4].copy_from_slice(&[127, 0, 0, 2]);
    let Event::Connect(c) = decode(&as_bytes(&e)).unwrap() else { panic!() };
    assert_eq!(c.local, Some(("127.0.0.2".parse().unwrap(), 40000)));
    e.lport = 0;
    assert_eq!(c.addr, Some("127.0.0.1".parse().unwrap()));
    assert_eq!((c.port, c.ret, c.family), (4444, -111, "inet"));

    e.family = AF_INET6;
    e.addr = std::net::Ipv6Addr::LOCALHOST.octets();
    let Event::Connect(c) = decode(&as_bytes(&e)).unwrap() else { panic!() };
    assert_eq!(c.addr, Some("::1".parse().unwrap()));

    e.family = AF_UNIX;
    e.unix_path[..9].copy_from_slice(b"/run/x.sk");
    e.path_len = 9;
    let Event::Connect(c) = decode(&as_bytes(&e)).unwrap() else { panic!() };
    assert_eq!(c.unix_path.as_deref(), Some("/run/x.sk"));
    assert_eq!(c.addr, None);

    e.family = 99;
    assert!(decode(&as_bytes(&e)).is_err());
}

#[test]
fn setuid_fork_exit() {
    let mut s = SetuidEvent {
        hdr: hdr(EventKind::Setuid),
        ret: -1,
        ruid: 0,
        euid: UID_UNCHANGED,
        suid: UID_UNCHANGED,
        _pad1: [0; 2],
    };
    s.hdr.subtype = SETUID_SETUID;
    let Event::Setuid(x) = decode(&as_bytes(&s)).unwrap() else { panic!() };
    assert_eq!((x.syscall, x.ruid, x.euid, x.ret), ("setuid", Some(0), None, -1));

    let f = ForkEvent { hdr: hdr(EventKind::Fork), child_tgid: 555, child_tid: 555 };
    assert!(matches!(decode(&as_bytes(&f)).unwrap(), Event::Fork(Fork { child_pid: 555, .. })));
    let x = ExitEvent { hdr: hdr(EventKind::Exit), exit_code: 256, _pad1: 0 };
    assert!(matches!(decode(&as_bytes(&x)).unwrap(), Event::Exit(Exit { exit_code: 256, .. })));
}

#[test]
fn bad_bytes_are_errors() {
    assert!(matches!(decode(&[]), Err(DecodeError::TooShort { what: "header", .. })));
    let mut h = as_bytes(&hdr(EventKind::Exec));
    assert!(matches!(decode(&h), Err(DecodeError::TooShort { what: "exec event", .. })));
    h[0] = 99;
    assert_eq!(decode(&h), Err(DecodeError::UnknownKind(99)));
    // A length field larger than its section may be (the record is long
    // enough: the section limit alone rejects it).
    let mut e = exec_event(&["x"]);
    e.filename_len = PATH_LEN as u16;
    assert!(matches!(decode(&as_bytes(&e)), Err(DecodeError::BadLength { field: "filename", .. })));
    let mut e = exec_event(&["x"]);
    e.args_len = u16::MAX;
    assert!(matches!(decode(&as_bytes(&e)), Err(DecodeError::BadLength { field: "args", .. })));
}

#[test]
fn arbitrary_prefixes_and_noise_never_panic() {
    let base = as_bytes(&exec_event(&["sh", "-c", "id"]));
    for cut in 0..base.len() {
        let _ = decode(&base[..cut]);
    }
    // Deterministic pseudo-random noise with each valid kind in front.
    let mut x: u64 = 0x9e3779b97f4a7c15;
    for kind in 0..8u16 {
        for _ in 0..200 {
            let mut buf = vec![0u8; 2200];
            for b in buf.iter_mut() {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                *b = x as u8;
            }
            buf[..2].copy_from_slice(&kind.to_ne_bytes());
            let _ = decode(&buf);
        }
    }
}

#[test]
fn serialises_as_tagged_json() {
    let e = decode(&as_bytes(&exec_event(&["id"]))).unwrap();
    let v = serde_json::to_value(&e).unwrap();
    assert_eq!(v["type"], "exec");
    assert_eq!(v["pid"], 100);
    assert_eq!(v["argv"][0], "id");
}

#[test]
fn exec_image_and_environment_decode() {
    use crate::exe::*;
    let mut e = exec_event(&["x"]);
    let env = b"A=1\0B=two\0";
    pack(&mut e, b"x\0", env, b"/usr/bin/cat", b"memfd:x\0", b"b\0a\0");
    e.info.cwd_flags = CWD_PRESENT;
    e.info.exe_flags = EXE_PRESENT | EXE_PSEUDO | EXE_ENV_TRUNCATED;
    e.info.cap_effective = 1 << 21;
    e.info.sid = 77;
    e.info.root_ino = 2;
    e.info.root_dev = 0x0080_0003;
    let cut = exec_record_len(e.sections().cwd.end);
    let Event::Exec(x) = decode(&as_bytes(&e)[..cut]).unwrap() else { panic!("not exec") };
    assert_eq!(x.filename, "/usr/bin/cat");
    let img = x.image.expect("image");
    assert_eq!(img.cwd.as_deref(), Some("/a/b/"));
    assert_eq!(img.root, Some((0x0080_0003, 2)), "the root directory's device and inode");
    assert_eq!(img.exe_path.as_deref(), Some("/memfd:x (deleted)"));
    assert!(img.exe_memfd && !img.exe_upper_layer && img.env_truncated);
    assert_eq!(img.env.items().collect::<Vec<_>>(), ["A=1", "B=two"]);
    assert_eq!((img.cap_effective, img.sid), (1 << 21, 77));
    assert_eq!(x.argv, vec!["x"]);
    // A root the probe could not read: none (userspace then stats /proc/PID/root).
    e.info.root_ino = 0;
    let Event::Exec(z) = decode(&as_bytes(&e)[..cut]).unwrap() else { panic!("not exec") };
    assert_eq!(z.image.expect("image").root, None);
    // An environment length past what arrived is an error, not a panic.
    e.info.env_len = 2000;
    assert!(matches!(decode(&as_bytes(&e)[..cut]), Err(DecodeError::BadLength { field: "env", .. })));
    // No exe and no start time (a failed exec): no image.
    e.info = ExecInfo::ZERO;
    let Event::Exec(y) = decode(&as_bytes(&e)[..cut]).unwrap() else { panic!("not exec") };
    assert!(y.image.is_none());
}

#[test]
fn exec_block_record_splits_argv_and_environment() {
    use crate::exe::*;
    // The LSM path's record: the block's first bytes as the args section, its last
    // (after a sentinel) as the env section, argc and envc from the kernel.
    let mut e = exec_event(&[]);
    let head = [b"sh\0-c\0".as_slice(), &[b'p'; 100]].concat();
    let tail = b"pp\0LD_PRELOAD=/tmp/x.so\0";
    pack(&mut e, &head, tail, b"/bin/sh", b"sh\0bin\0", b"");
    e.info.exe_flags = EXE_PRESENT;
    (e.args_count, e.env_count) = (3, 1);
    e.hdr.flags = FLAG_EXEC_BLOCK | FLAG_EXEC_BLOCK_GAP;
    let cut = exec_record_len(e.sections().cwd.end);
    let Event::Exec(x) = decode(&as_bytes(&e)[..cut]).unwrap() else { panic!("not exec") };
    assert_eq!(x.argv[..2], ["sh", "-c"]);
    assert_eq!(x.argv[2].len(), 100, "the padded argument, cut where the head ends");
    assert!(x.args_truncated);
    let img = x.image.expect("image");
    assert_eq!((img.env.items().collect::<Vec<_>>(), img.env_truncated), (vec!["LD_PRELOAD=/tmp/x.so"], false));
    // Without the block flag the same bytes are plain sections (what sched_exec sends).
    e.hdr.flags = 0;
    let Event::Exec(y) = decode(&as_bytes(&e)[..cut]).unwrap() else { panic!("not exec") };
    assert_eq!(y.image.expect("image").env.items().collect::<Vec<_>>(), ["pp", "LD_PRELOAD=/tmp/x.so"]);
    // A block's args section is at most ARGS_LEN: one byte more is an error.
    e.hdr.flags = FLAG_EXEC_BLOCK;
    e.args_len = (ARGS_LEN + 1) as u16;
    assert!(matches!(decode(&as_bytes(&e)), Err(DecodeError::BadLength { field: "args", .. })));
}

#[test]
fn long_environment_keeps_both_ends() {
    use crate::exe::*;
    // sched_exec's record of an environment longer than ENV_LEN: its first ENV_HEAD
    // bytes (cut inside a padding variable), a sentinel, and its last bytes.
    let mut e = exec_event(&["x"]);
    let head = [b"A=1\0P=".as_slice(), &[b'p'; ENV_HEAD - 6]].concat();
    let env = [head.as_slice(), b"pppp\0LD_PRELOAD=/tmp/x.so\0"].concat();
    pack(&mut e, b"x\0", &env, b"/bin/x", b"x\0bin\0", b"");
    e.info.exe_flags = EXE_PRESENT | EXE_ENV_TRUNCATED | EXE_ENV_ENDS;
    let cut = exec_record_len(e.sections().cwd.end);
    let Event::Exec(x) = decode(&as_bytes(&e)[..cut]).unwrap() else { panic!("not exec") };
    let img = x.image.expect("image");
    assert_eq!(
        img.env.items().collect::<Vec<_>>(),
        ["A=1", "LD_PRELOAD=/tmp/x.so"],
        "the whole variables of both ends"
    );
    assert!(img.env_truncated);
}

fn file_event(subtype: u16, path: &str, path2: &str) -> FileEvent {
    let mut e = FileEvent {
        hdr: hdr(EventKind::File),
        ret: -2,
        dirfd: AT_FDCWD,
        dirfd2: 5,
        flags: 0x400,
        mode: 0o4755,
        path_len: path.len() as u16,
        path2_len: path2.len() as u16,
        aux: [0; AUX_LEN],
        path: [0; PATH_LEN],
        path2: [0; PATH_LEN],
    };
    e.hdr.subtype = subtype;
    e.path[..path.len()].copy_from_slice(path.as_bytes());
    e.path2[..path2.len()].copy_from_slice(path2.as_bytes());
    e
}

#[test]
fn file_round_trip_and_cut_record() {
    let e = file_event(sys::SYMLINKAT, "/etc/shadow", "link");
    let want = File {
        hdr: header(&e.hdr),
        syscall: "symlinkat",
        ret: -2,
        dirfd: AT_FDCWD,
        dirfd2: 5,
        flags: 0x400,
        mode: 0o4755,
        path: "/etc/shadow".into(),
        path2: "link".into(),
        aux: String::new(),
        path_truncated: false,
        read_failed: false,
    };
    assert_eq!(decode(&as_bytes(&e)).unwrap(), Event::File(want.clone()));
    // The probe sends only the used part of path2.
    let cut = &as_bytes(&e)[..file_record_len(4)];
    assert_eq!(cut.len() % 8, 0);
    assert_eq!(decode(cut).unwrap(), Event::File(want));
    // path2_len beyond what arrived, and an unknown syscall id, are errors.
    assert!(matches!(decode(&as_bytes(&e)[..FILE_FIXED_LEN + 2]), Err(DecodeError::BadLength { .. })));
    let mut m = file_event(sys::MOUNT, "/mnt", "none");
    m.aux[..5].copy_from_slice(b"tmpfs");
    let Event::File(f) = decode(&as_bytes(&m)).unwrap() else { panic!("not file") };
    assert_eq!((f.syscall, f.path.as_str(), f.path2.as_str(), f.aux.as_str()), ("mount", "/mnt", "none", "tmpfs"));
    let bad = file_event(63, "/a", "");
    assert_eq!(decode(&as_bytes(&bad)), Err(DecodeError::UnknownSyscall(63)));
}

#[test]
fn sys_round_trip() {
    let mut e = SysEvent {
        hdr: hdr(EventKind::Sys),
        ret: 3,
        args: [17, 3, 768, 0, 0, 0],
        str_len: 0,
        _pad1: [0; 3],
        fd: FdInfo { fd: -1, ..FdInfo::default() },
        str: [0; SYS_STR_LEN],
    };
    e.hdr.subtype = sys::SOCKET;
    let Event::Sys(s) = decode(&as_bytes(&e)).unwrap() else { panic!("not sys") };
    assert_eq!((s.syscall, s.ret, s.args, s.str.as_deref()), ("socket", 3, [17, 3, 768, 0, 0, 0], None));
    e.hdr.subtype = sys::DELETE_MODULE;
    e.str[..5].copy_from_slice(b"dummy");
    e.str_len = 5;
    let Event::Sys(s) = decode(&as_bytes(&e)).unwrap() else { panic!("not sys") };
    assert_eq!((s.syscall, s.str.as_deref()), ("delete_module", Some("dummy")));
    e.str_len = SYS_STR_LEN as u16 + 1;
    assert!(matches!(decode(&as_bytes(&e)), Err(DecodeError::BadLength { field: "str", .. })));
    assert!(decode(&as_bytes(&e)[..100]).is_err());
}

#[test]
fn sys_fd_info_decodes_socket_endpoints() {
    let mut e = SysEvent {
        hdr: hdr(EventKind::Sys),
        ret: 1,
        args: [5, 1, 0, 0, 0, 0],
        str_len: 0,
        _pad1: [0; 3],
        fd: FdInfo {
            fd: 1,
            ftype: ftype::SOCK,
            family: AF_INET,
            sock_type: 1,
            lport: 40000,
            rport: 4444,
            _pad: 0,
            laddr: [127, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
            raddr: [10, 1, 2, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
        },
        str: [0; SYS_STR_LEN],
    };
    e.hdr.subtype = sys::DUP2;
    let Event::Sys(s) = decode(&as_bytes(&e)).unwrap() else { panic!("not sys") };
    let fd = s.fd.expect("dup2 carries fd info");
    assert_eq!((fd.fd, fd.ftype, fd.family, fd.sock_type), (1, ftype::SOCK, AF_INET, 1));
    assert_eq!(fd.local, Some(("127.0.0.1".parse().unwrap(), 40000)));
    assert_eq!(fd.remote, Some(("10.1.2.3".parse().unwrap(), 4444)));
    // Syscalls without fd info ignore the field; an unread fd (-1) gives none.
    e.hdr.subtype = sys::BPF;
    let Event::Sys(s) = decode(&as_bytes(&e)).unwrap() else { panic!("not sys") };
    assert!(s.fd.is_none());
    e.hdr.subtype = sys::DUP;
    e.fd.fd = -1;
    let Event::Sys(s) = decode(&as_bytes(&e)).unwrap() else { panic!("not sys") };
    assert!(s.fd.is_none());
}

#[test]
fn the_environment_block_splits_as_argv_does() {
    // `EnvItems::from_block` (one buffer) against `split_args` (a String per
    // item), which decoded the environment until 2026-12-06.
    let blocks: [&[u8]; 9] = [
        b"",
        b"\0",
        b"\0\0",
        b"A=1",
        b"A=1\0B=2\0",
        b"A=1\0\0B=x y\0\0",
        b"A=\xff\0B=\xe2\x82\0C=\xc3\xa9\0",
        b"\xf0\x9f\x98\0\x80",
        b"PATH=/usr/bin\0HOME=/root\0_=/usr/bin/env",
    ];
    for b in blocks {
        let old = super::split_args(b, b.len()).expect("split");
        let new = super::EnvItems::from_block(b);
        assert_eq!(new.items().collect::<Vec<_>>(), old, "{b:?}");
        assert_eq!(new, old.iter().collect::<super::EnvItems>(), "{b:?}: same value either way");
    }
}
