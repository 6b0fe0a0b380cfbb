//! Privileged end-to-end test of the probes for dup/dup2/dup3, bind, listen,
//! accept/accept4, creat and the chown family: each real syscall, successful and
//! failing, is asserted on the kernel record (`--events`) and on the rule engine's
//! `evt.arg.*` and `fd.*` values, including what the dup'ed or accepted fd refers to
//! (socket endpoints, pipe, file) as read in the kernel, and a Falco-style "redirect
//! stdin/stdout to a network connection" condition on a real `dup2(sock, 0)`.
use std::{io::Read, net::TcpStream, os::fd::AsRawFd};

use lanner_tests::{
    nonce, require_root, sys,
    sysprobe::{alert, args, c, e, fired, i, in_child, record, run_env, Probes, Results},
    Stopped,
};
use serde_json::Value;

const RULES: &str = r#"
- rule: e2e dup
  desc: dup family of the test process and its children
  condition: evt.type in (dup, dup2, dup3) and (proc.pid = PID or proc.ppid = PID)
  output: "fdop %evt.type res=%evt.rawres oldfd=%evt.arg.oldfd newfd=%evt.arg.newfd flags=%evt.arg.flags fd=%evt.arg.fd type=%fd.type typechar=%fd.typechar name=%fd.name num=%fd.num tid=%thread.tid uid=%fd.uid cname=%fd.containername cdir=%fd.containerdirectory cat=%evt.category err=%evt.count.error errnet=%evt.count.error.net errfile=%evt.count.error.file errother=%evt.count.error.other"
  priority: WARNING
- rule: e2e net
  desc: bind, listen, accept of the test process
  condition: evt.type in (bind, listen, accept, accept4) and proc.pid = PID
  output: "net %evt.type res=%evt.rawres fd=%evt.arg.fd addr=%evt.arg.addr backlog=%evt.arg.backlog tuple=%evt.arg.tuple flags=%evt.arg.flags rawflags=%evt.rawarg.flags name=%fd.name sip=%fd.sip sport=%fd.sport cip=%fd.cip cport=%fd.cport proto=%fd.l4proto type=%fd.type"
  priority: WARNING
- rule: e2e redirect stdio to network
  desc: Falco's "Redirect STDOUT/STDIN to Network Connection in Container" condition, on the host
  condition: evt.type in (dup, dup2, dup3) and evt.rawres in (0, 1, 2) and fd.type in ("ipv4", "ipv6") and proc.ppid = PID
  output: "redirect %evt.type res=%evt.rawres connection=%fd.name fd_type=%fd.type fd_proto=%fd.l4proto"
  priority: WARNING
- rule: e2e inbound
  desc: Falco's inbound_outbound macro on accept/listen
  condition: evt.type in (accept, accept4, listen, connect) and (fd.typechar = 4 or fd.typechar = 6) and (evt.rawres >= 0 or evt.res = EINPROGRESS) and proc.pid = PID
  output: "inbound %evt.type %fd.name"
  priority: WARNING
- rule: e2e chown
  desc: chown family of the test process
  condition: evt.type in (chown, lchown, fchown, fchownat) and proc.pid = PID
  output: "own %evt.type res=%evt.rawres path=%evt.arg.path pathname=%evt.arg.pathname dirfd=%evt.arg.dirfd fd=%evt.arg.fd uid=%evt.arg.uid rawuid=%evt.rawarg.uid gid=%evt.arg.gid flags=%evt.arg.flags fsname=%fs.path.name"
  priority: WARNING
- rule: e2e creat
  desc: creat of the test process
  condition: evt.type = creat and proc.pid = PID
  output: "creat res=%evt.rawres name=%evt.arg.name mode=%evt.arg.mode rawmode=%evt.rawarg.mode fd=%evt.arg.fd fdname=%fd.name fdnum=%fd.num cat=%evt.category errfile=%evt.count.error.file cname=%fd.containername openexec=%evt.is_open_exec"
  priority: WARNING
"#;

/// `sockaddr_in` for 127.0.0.1:`port`.
fn loopback(port: u16) -> libc::sockaddr_in {
    libc::sockaddr_in {
        sin_family: libc::AF_INET as u16,
        sin_port: port.to_be(),
        sin_addr: libc::in_addr { s_addr: u32::from_ne_bytes([127, 0, 0, 1]) },
        sin_zero: [0; 8],
    }
}

const SA_LEN: i64 = std::mem::size_of::<libc::sockaddr_in>() as i64;

fn net_workload(x: &mut Results) -> Vec<TcpStream> {
    let l = sys!(libc::SYS_socket, libc::AF_INET as i64, libc::SOCK_STREAM as i64, 0);
    assert!(l >= 0);
    x.set("listener", l);
    let sa = loopback(0);
    x.set("bind", sys!(libc::SYS_bind, l, &sa as *const _, SA_LEN));
    x.set("bind_fail", sys!(libc::SYS_bind, -1i64, &sa as *const _, SA_LEN));
    let mut got = loopback(0);
    let mut len = SA_LEN as libc::socklen_t;
    assert_eq!(unsafe { libc::getsockname(l as i32, &mut got as *mut _ as *mut libc::sockaddr, &mut len) }, 0);
    x.set("port", u16::from_be(got.sin_port).into());
    x.set("listen", sys!(libc::SYS_listen, l, 7));
    x.set("listen_fail", sys!(libc::SYS_listen, -1i64, 7));
    let port = x.get("port") as u16;
    let c1 = TcpStream::connect(("127.0.0.1", port)).unwrap();
    x.set("cport1", c1.local_addr().unwrap().port().into());
    x.set("accept", sys!(libc::SYS_accept, l, 0, 0));
    let c2 = TcpStream::connect(("127.0.0.1", port)).unwrap();
    x.set("cport2", c2.local_addr().unwrap().port().into());
    x.set("accept4", sys!(libc::SYS_accept4, l, 0, 0, libc::SOCK_CLOEXEC as i64));
    x.set("accept_fail", sys!(libc::SYS_accept, -1i64, 0, 0));
    vec![c1, c2]
}

fn dup_workload(dir: &str, sock: i32, x: &mut Results) {
    x.set("sock", sock.into());
    x.set("dup", sys!(libc::SYS_dup, sock));
    let mut p = [0i32; 2];
    assert_eq!(unsafe { libc::pipe(p.as_mut_ptr()) }, 0);
    x.set("pipe", p[0].into());
    x.set("dup2", sys!(libc::SYS_dup2, p[0], 200));
    let f = unsafe { libc::open(c(&format!("{dir}/file")).as_ptr(), libc::O_RDWR | libc::O_CREAT, 0o600) };
    assert!(f >= 0);
    x.set("file", f.into());
    x.set("dup3", sys!(libc::SYS_dup3, f, 201, libc::O_CLOEXEC as i64));
    x.set("dup_fail", sys!(libc::SYS_dup, -1i64));
    x.set("dup3_fail", sys!(libc::SYS_dup3, f, f, 0));
    // A reverse-shell style redirect of stdin and stdout to the connected socket.
    let pid = in_child("redirect", || unsafe { libc::dup2(sock, 0) == 0 && libc::dup2(sock, 1) == 1 });
    x.set("redirect_pid", pid);
    // The fds stay open until the agent has stopped: it names files through /proc.
}

fn own_workload(dir: &str, x: &mut Results) {
    let p = |s: &str| c(&format!("{dir}/{s}"));
    std::fs::write(format!("{dir}/owned"), b"x").unwrap();
    std::os::unix::fs::symlink(format!("{dir}/owned"), format!("{dir}/owned-link")).unwrap();
    let dfd = unsafe { libc::open(c(dir).as_ptr(), libc::O_RDONLY | libc::O_DIRECTORY) };
    assert!(dfd >= 0);
    x.set("dirfd", dfd.into());
    x.set("chown", sys!(libc::SYS_chown, p("owned").as_ptr(), 1000, 1001));
    x.set("chown_fail", sys!(libc::SYS_chown, p("missing").as_ptr(), 0, 0));
    x.set("lchown", sys!(libc::SYS_lchown, p("owned-link").as_ptr(), 1002, -1i64));
    x.set("fchown", sys!(libc::SYS_fchown, x.get("file"), 0, 0));
    let nofollow = libc::AT_SYMLINK_NOFOLLOW as i64;
    x.set("fchownat", sys!(libc::SYS_fchownat, dfd, c("owned").as_ptr(), 2000, 2001, nofollow));
    x.set("creat", sys!(libc::SYS_creat, p("created").as_ptr(), 0o640));
    x.set("creat_fail", sys!(libc::SYS_creat, p("missing/x").as_ptr(), 0o600));
    x.set("creat_exec", sys!(libc::SYS_creat, p("created-exec").as_ptr(), 0o750));
}

fn workload(dir: &str, x: &mut Results) -> Vec<TcpStream> {
    x.set("pid", std::process::id().into());
    let socks = net_workload(x);
    dup_workload(dir, socks[0].as_raw_fd(), x);
    own_workload(dir, x);
    socks
}

fn close_all(x: &Results, socks: Vec<TcpStream>) {
    for k in ["listener", "accept", "accept4", "dup", "pipe", "dup2", "file", "dup3", "dirfd", "creat", "creat_exec"] {
        unsafe { libc::close(x.get(k) as i32) };
    }
    for mut s in socks {
        let _ = s.read(&mut [0u8; 0]);
    }
}

fn fd_rec(r: &Value) -> (i64, i64, i64) {
    let f = &r["fd"];
    (i(&f["fd"]), i(&f["ftype"]), i(&f["family"]))
}

#[test]
fn fd_net_and_owner_syscalls_report_exact_fields() {
    if !require_root("fd_net_and_owner_syscalls_report_exact_fields") {
        return;
    }
    exact_fields(Probes::AsLoaded);
}

/// The same through the enter+exit pairs, the fallback of the exit-only
/// register-reading programs (before 5.15, off x86_64): the same records.
#[test]
fn fd_net_and_owner_syscalls_report_exact_fields_through_the_pairs() {
    if !require_root("fd_net_and_owner_syscalls_report_exact_fields_through_the_pairs") {
        return;
    }
    exact_fields(Probes::Pairs);
}

fn exact_fields(probes: Probes) {
    let dir = format!("/tmp/{}", nonce());
    let mut socks = Vec::new();
    let (out, x) = run_env(RULES, &dir, true, probes.env(), |x| socks = workload(&dir, x));
    close_all(&x, socks);
    let _ = std::fs::remove_dir_all(&dir);
    for (pair, regs) in [("dup2_enter", "dup2_regs"), ("accept4_enter", "accept4_regs"), ("bind_enter", "bind_regs")] {
        probes.assert_used(&out, pair, regs);
    }
    check_net(&out, &x);
    check_dup(&out, &x, &dir);
    check_owner(&out, &x, &dir);
}

fn check_net(out: &Stopped, x: &Results) {
    let me = x.get("pid");
    let (l, port) = (x.get("listener"), x.get("port"));
    let (cp1, cp2) = (x.get("cport1"), x.get("cport2"));
    let lo = |p: i64| format!("127.0.0.1:{p}");
    let conn = |cp: i64| format!("127.0.0.1:{cp}->127.0.0.1:{port}");
    for (k, want) in [("bind", 0), ("listen", 0), ("bind_fail", e(libc::EBADF)), ("listen_fail", e(libc::EBADF))] {
        assert_eq!(x.get(k), want, "{k}");
    }
    assert_eq!(x.get("accept_fail"), e(libc::EBADF));
    assert!(x.get("accept") >= 0 && x.get("accept4") >= 0);
    // Kernel records: the arguments and the fd read in the kernel (6 = IPv4... family 2).
    let r = record(out, "sys", "bind", me, 0);
    assert_eq!((i(&r["args"][0]), fd_rec(r)), (l, (l, 0o14, 2)));
    assert_eq!(r["fd"]["local"], serde_json::json!(["127.0.0.1", port]), "{r}");
    let r = record(out, "sys", "listen", me, 0);
    assert_eq!((i(&r["args"][0]), i(&r["args"][1]), i(&r["fd"]["sock_type"])), (l, 7, 1));
    let r = record(out, "sys", "accept", me, x.get("accept"));
    assert_eq!(fd_rec(r), (x.get("accept"), 0o14, 2));
    assert_eq!(r["fd"]["remote"], serde_json::json!(["127.0.0.1", cp1]), "{r}");
    let r = record(out, "sys", "accept4", me, x.get("accept4"));
    assert_eq!((i(&r["args"][0]), i(&r["args"][3])), (l, libc::SOCK_CLOEXEC as i64));
    for s in ["bind", "listen", "accept"] {
        let r = record(out, "sys", s, me, e(libc::EBADF));
        assert_eq!(r["fd"], Value::Null, "{s} on a bad fd describes no fd: {r}");
    }
    // evt.arg.* and fd.*: the local end is the server for bind, listen and accept.
    let n = |needle: &str| alert(out, "e2e net", needle);
    let f = n("net bind res=0 ");
    args(&f, &[("fd", Some(&l.to_string())), ("addr", Some(&lo(port))), ("fd.name", Some(&lo(port)))]);
    args(&f, &[("fd.sip", Some("127.0.0.1")), ("fd.sport", Some(&port.to_string())), ("fd.cip", None)]);
    args(&f, &[("fd.l4proto", Some("tcp")), ("fd.type", Some("ipv4")), ("backlog", None), ("tuple", None)]);
    let f = n("net bind res=-9 ");
    args(&f, &[("fd", Some("-1")), ("addr", Some("")), ("fd.name", None), ("fd.type", None)]);
    let f = n("net listen res=0 ");
    args(&f, &[("fd", Some(&l.to_string())), ("backlog", Some("7")), ("fd.name", Some(&lo(port)))]);
    args(&n("net listen res=-9 "), &[("fd", Some("-1")), ("backlog", Some("7"))]);
    let f = n(&format!("net accept res={} ", x.get("accept")));
    args(&f, &[("fd", Some(&x.get("accept").to_string())), ("tuple", Some(&conn(cp1))), ("flags", None)]);
    args(&f, &[("fd.name", Some(&conn(cp1))), ("fd.cip", Some("127.0.0.1")), ("fd.cport", Some(&cp1.to_string()))]);
    args(&f, &[("fd.sport", Some(&port.to_string())), ("fd.l4proto", Some("tcp"))]);
    let f = n(&format!("net accept4 res={} ", x.get("accept4")));
    args(&f, &[("tuple", Some(&conn(cp2))), ("flags", Some("O_CLOEXEC")), ("evt.rawarg.flags", Some("524288"))]);
    let f = n("net accept res=-9 ");
    args(&f, &[("fd", Some("-9")), ("tuple", Some("")), ("fd.name", None)]);
    // Falco's inbound_outbound shape: listen, both accepts and the two client connects
    // (not bind, not the failures).
    assert_eq!(fired(out, "e2e inbound"), 5, "listen, accept, accept4, 2 connects");
    for t in ["listen", "accept", "accept4"] {
        assert_eq!(
            out.events.iter().filter(|e| e["rule"] == "e2e inbound" && e["output_fields"]["evt.type"] == t).count(),
            1
        );
    }
}

fn check_dup(out: &Stopped, x: &Results, dir: &str) {
    let me = x.get("pid");
    let (sock, port, cp1) = (x.get("sock"), x.get("port"), x.get("cport1"));
    let conn = format!("127.0.0.1:{cp1}->127.0.0.1:{port}");
    let (dup, pipe, file) = (x.get("dup"), x.get("pipe"), x.get("file"));
    assert!(dup >= 0);
    assert_eq!((x.get("dup2"), x.get("dup3")), (200, 201));
    assert_eq!((x.get("dup_fail"), x.get("dup3_fail")), (e(libc::EBADF), e(libc::EINVAL)));
    let r = record(out, "sys", "dup", me, dup);
    assert_eq!((i(&r["args"][0]), fd_rec(r)), (sock, (dup, 0o14, 2)));
    let r = record(out, "sys", "dup2", me, 200);
    assert_eq!((i(&r["args"][0]), i(&r["args"][1]), fd_rec(r)), (pipe, 200, (200, 0o1, 0)));
    let r = record(out, "sys", "dup3", me, 201);
    assert_eq!((i(&r["args"][0]), i(&r["args"][1]), i(&r["args"][2])), (file, 201, libc::O_CLOEXEC as i64));
    assert_eq!(fd_rec(r), (201, 0o10, 0));
    let d = |needle: &str| alert(out, "e2e dup", needle);
    // A dup of a connected socket: the remote end is the server, as for its connect.
    let f = d(&format!("fdop dup res={dup} "));
    args(&f, &[("oldfd", Some(&sock.to_string())), ("fd", Some(&sock.to_string())), ("newfd", None)]);
    args(&f, &[("fd.type", Some("ipv4")), ("fd.typechar", Some("4")), ("fd.name", Some(&conn))]);
    args(&f, &[("fd.num", Some(&dup.to_string()))]);
    // The chained identities and the event's category and counts, from the fd the kernel read.
    let uid = format!("{}{dup}", f["thread.tid"]);
    args(
        &f,
        &[("fd.uid", Some(&uid)), ("fd.containername", Some(&format!("host:{conn}"))), ("fd.containerdirectory", None)],
    );
    args(&f, &[("evt.category", Some("net")), ("evt.count.error", Some("0")), ("evt.count.error.net", Some("0"))]);
    args(&f, &[("evt.count.error.file", None), ("evt.count.error.other", None)]);
    let f = d("fdop dup2 res=200 ");
    args(&f, &[("oldfd", Some(&pipe.to_string())), ("newfd", Some("200")), ("fd.type", Some("pipe"))]);
    args(&f, &[("fd.typechar", Some("p")), ("evt.category", Some("ipc"))]);
    let name = f["fd.name"].as_str().unwrap().to_string();
    assert!(name.starts_with("pipe:["), "pipe name {name}");
    let f = d("fdop dup3 res=201 ");
    args(&f, &[("oldfd", Some(&file.to_string())), ("newfd", Some("201")), ("flags", Some("O_CLOEXEC"))]);
    args(&f, &[("fd.type", Some("file")), ("fd.typechar", Some("f")), ("fd.name", Some(&format!("{dir}/file")))]);
    args(&f, &[("evt.category", Some("file")), ("fd.containerdirectory", Some(&format!("host:{dir}")))]);
    args(&f, &[("fd.containername", Some(&format!("host:{dir}/file"))), ("evt.count.error.file", Some("0"))]);
    let f = d("fdop dup res=-9 ");
    args(&f, &[("oldfd", Some("-1")), ("fd.type", None), ("fd.name", None)]);
    args(
        &f,
        &[("evt.category", Some("unknown")), ("evt.count.error", Some("1")), ("evt.count.error.other", Some("1"))],
    );
    args(&f, &[("evt.count.error.net", None), ("fd.uid", None), ("fd.containername", None)]);
    let f = d("fdop dup3 res=-22 ");
    args(&f, &[("oldfd", Some(&file.to_string())), ("newfd", Some(&file.to_string())), ("flags", Some("0"))]);
    args(&f, &[("fd.type", Some("file")), ("fd.num", Some(&file.to_string()))]);
    // The child's dup2(sock, 0) and dup2(sock, 1).
    let child = x.get("redirect_pid");
    for res in [0, 1] {
        let r = record(out, "sys", "dup2", child, res);
        assert_eq!(fd_rec(r), (res, 0o14, 2));
        let f = alert(out, "e2e redirect stdio to network", &format!("redirect dup2 res={res} "));
        args(&f, &[("fd.name", Some(&conn)), ("fd.type", Some("ipv4")), ("fd.l4proto", Some("tcp"))]);
    }
    assert_eq!(fired(out, "e2e redirect stdio to network"), 2, "only the child's redirects of 0 and 1");
}

fn check_owner(out: &Stopped, x: &Results, dir: &str) {
    let me = x.get("pid");
    let d = |s: &str| format!("{dir}/{s}");
    let dfd = x.get("dirfd");
    let (file, created) = (x.get("file"), x.get("creat"));
    assert!(created >= 0);
    for k in ["chown", "lchown", "fchown", "fchownat"] {
        assert_eq!(x.get(k), 0, "{k}");
    }
    assert_eq!((x.get("chown_fail"), x.get("creat_fail")), (e(libc::ENOENT), e(libc::ENOENT)));
    // Kernel records: uid in `mode`, gid in `dirfd2`.
    for (syscall, ret, dirfd, path, uid, gid, flags) in [
        ("chown", 0, -100, d("owned"), 1000, 1001, 0),
        ("chown", e(libc::ENOENT), -100, d("missing"), 0, 0, 0),
        ("lchown", 0, -100, d("owned-link"), 1002, -1, 0),
        ("fchown", 0, file, String::new(), 0, 0, 0),
        ("fchownat", 0, dfd, "owned".into(), 2000, 2001, 0x100),
        ("creat", created, -100, d("created"), 0o640, 0, 0),
        ("creat", e(libc::ENOENT), -100, d("missing/x"), 0o600, 0, 0),
    ] {
        let r = record(out, "file", syscall, me, ret);
        let got = (i(&r["dirfd"]), r["path"].as_str().unwrap(), i(&r["mode"]), i(&r["dirfd2"]), i(&r["flags"]));
        assert_eq!(got, (dirfd, path.as_str(), uid, gid, flags), "{syscall} = {ret}: {r}");
    }
    let o = |needle: &str| alert(out, "e2e chown", needle);
    let f = o("own chown res=0 ");
    args(&f, &[("path", Some(&d("owned"))), ("uid", Some("1000")), ("evt.rawarg.uid", Some("1000"))]);
    args(&f, &[("gid", Some("1001")), ("pathname", None), ("flags", None)]);
    args(&f, &[("fs.path.name", Some(&d("owned")))]);
    args(&o("own chown res=-2 "), &[("path", Some(&d("missing"))), ("uid", Some("0")), ("fs.path.name", None)]);
    args(&o("own lchown res=0 "), &[("path", Some(&d("owned-link"))), ("uid", Some("1002")), ("gid", Some("-1"))]);
    args(&o("own fchown res=0 "), &[("fd", Some(&file.to_string())), ("uid", Some("0")), ("path", None)]);
    let f = o("own fchownat res=0 ");
    args(&f, &[("dirfd", Some(&dfd.to_string())), ("pathname", Some(&d("owned"))), ("uid", Some("2000"))]);
    args(&f, &[("gid", Some("2001")), ("flags", Some("AT_SYMLINK_NOFOLLOW")), ("fs.path.name", Some(&d("owned")))]);
    // creat: Falco's parameters, and the new file as the event's fd.
    let f = alert(out, "e2e creat", &format!("creat res={created} "));
    args(&f, &[("name", Some(&d("created"))), ("mode", Some("0640")), ("evt.rawarg.mode", Some("416"))]);
    args(&f, &[("fd", Some(&created.to_string())), ("fd.name", Some(&d("created")))]);
    args(&f, &[("fd.num", Some(&created.to_string())), ("evt.category", Some("file"))]);
    args(&f, &[("evt.count.error.file", Some("0")), ("fd.containername", Some(&format!("host:{}", d("created"))))]);
    args(&f, &[("evt.is_open_exec", Some("false"))]);
    // A creat whose mode has execute bits: Falco's evt.is_open_exec.
    let exec_fd = x.get("creat_exec");
    assert!(exec_fd >= 0);
    let f = alert(out, "e2e creat", &format!("creat res={exec_fd} "));
    args(&f, &[("name", Some(&d("created-exec"))), ("mode", Some("0750")), ("evt.is_open_exec", Some("true"))]);
    let f = alert(out, "e2e creat", "creat res=-2 ");
    args(&f, &[("name", Some(&d("missing/x"))), ("fd", None), ("fd.name", Some(&d("missing/x"))), ("fd.num", None)]);
    args(&f, &[("evt.count.error.file", Some("1"))]);
}
