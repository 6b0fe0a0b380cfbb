//! Privileged end-to-end test of the probes for the path syscalls (symlink, link,
//! unlink, rename, mkdir, rmdir, chmod families), ptrace and socket: each real
//! syscall, successful and failing, is asserted field by field on the kernel
//! record (`--events`) and on the rule engine's `evt.arg.*` values (alerts of a
//! rule file written for this test, including Falco-style conditions such as
//! `evt.arg.target in (...)` and `evt.arg.request contains PTRACE_ATTACH`). A
//! second run with rules that need none of these types checks that the
//! pre-filter keeps them in the kernel.
use lanner_tests::{
    nonce, require_root, sys,
    sysprobe::{self, alert, args, c, i, Probes, Results, EXEC_ONLY},
    Stopped,
};
use serde_json::Value;

const AT_FDCWD: i64 = libc::AT_FDCWD as i64;

fn file_workload(dir: &str, x: &mut Results) {
    let p = |s: &str| c(&format!("{dir}/{s}"));
    x.set("tid", unsafe { libc::syscall(libc::SYS_gettid) });
    std::fs::write(format!("{dir}/file"), b"x").unwrap();
    let dfd = unsafe { libc::open(c(dir).as_ptr(), libc::O_RDONLY | libc::O_DIRECTORY) };
    assert!(dfd >= 0);
    x.set("dirfd", dfd.into());
    let (shadow, passwd) = (c("/etc/shadow"), c("/etc/passwd"));
    x.set("symlink", sys!(libc::SYS_symlink, shadow.as_ptr(), p("shadow-link").as_ptr()));
    x.set("symlink_fail", sys!(libc::SYS_symlink, shadow.as_ptr(), p("shadow-link").as_ptr()));
    x.set("symlinkat", sys!(libc::SYS_symlinkat, passwd.as_ptr(), dfd, c("rel-link").as_ptr()));
    x.set("link", sys!(libc::SYS_link, p("file").as_ptr(), p("hard").as_ptr()));
    x.set("link_fail", sys!(libc::SYS_link, p("missing").as_ptr(), p("hard-x").as_ptr()));
    let follow = libc::AT_SYMLINK_FOLLOW as i64;
    x.set("linkat", sys!(libc::SYS_linkat, AT_FDCWD, p("file").as_ptr(), dfd, c("hard2").as_ptr(), follow));
    x.set("unlink", sys!(libc::SYS_unlink, p("hard").as_ptr()));
    x.set("unlink_fail", sys!(libc::SYS_unlink, p("hard").as_ptr()));
    x.set("unlinkat", sys!(libc::SYS_unlinkat, dfd, c("hard2").as_ptr(), 0));
    x.set("rename", sys!(libc::SYS_rename, p("file").as_ptr(), p("file2").as_ptr()));
    x.set("rename_fail", sys!(libc::SYS_rename, p("file").as_ptr(), p("file2").as_ptr()));
    x.set("renameat", sys!(libc::SYS_renameat, dfd, c("file2").as_ptr(), dfd, c("file3").as_ptr()));
    let noreplace = libc::RENAME_NOREPLACE as i64;
    x.set("renameat2", sys!(libc::SYS_renameat2, dfd, c("file3").as_ptr(), dfd, c("file4").as_ptr(), noreplace));
    x.set("mkdir", sys!(libc::SYS_mkdir, p("d").as_ptr(), 0o750));
    x.set("mkdir_fail", sys!(libc::SYS_mkdir, p("d").as_ptr(), 0o750));
    x.set("mkdirat", sys!(libc::SYS_mkdirat, dfd, c("d2").as_ptr(), 0o700));
    x.set("rmdir", sys!(libc::SYS_rmdir, p("d").as_ptr()));
    x.set("rmdir_fail", sys!(libc::SYS_rmdir, p("d").as_ptr()));
    x.set("unlinkat_dir", sys!(libc::SYS_unlinkat, dfd, c("d2").as_ptr(), libc::AT_REMOVEDIR as i64));
    x.set("chmod", sys!(libc::SYS_chmod, p("file4").as_ptr(), 0o4755));
    x.set("chmod_fail", sys!(libc::SYS_chmod, p("missing").as_ptr(), 0o644));
    let fd = unsafe { libc::open(p("file4").as_ptr(), libc::O_RDONLY) };
    assert!(fd >= 0);
    x.set("fd", fd.into());
    x.set("fchmod", sys!(libc::SYS_fchmod, fd, 0o644));
    x.set("fchmodat", sys!(libc::SYS_fchmodat, dfd, c("file4").as_ptr(), 0o2750, 0));
    // `fd` and `dfd` stay open until the agent has stopped: it resolves paths
    // relative to `dfd` through /proc/PID/fd when the event arrives.
}

fn ptrace_socket_workload(x: &mut Results) {
    // PTRACE_ATTACH to a child (root may), then detach; attach to no process: ESRCH.
    let mut child = std::process::Command::new("/bin/sleep").arg("30").spawn().unwrap();
    let pid = child.id() as i64;
    x.set("sleep_pid", pid);
    std::thread::sleep(std::time::Duration::from_millis(200));
    x.set("attach", sys!(libc::SYS_ptrace, libc::PTRACE_ATTACH as i64, pid, 0, 0));
    let mut status = 0;
    unsafe { libc::waitpid(pid as i32, &mut status, libc::__WALL) };
    x.set("detach", sys!(libc::SYS_ptrace, libc::PTRACE_DETACH as i64, pid, 0, 0));
    let _ = child.kill();
    let _ = child.wait();
    x.set("attach_fail", sys!(libc::SYS_ptrace, libc::PTRACE_ATTACH as i64, 0x3fff_fff0i64, 0, 0));
    // PTRACE_TRACEME in a forked child: the first succeeds, the second fails (EPERM).
    let traceme = unsafe { libc::fork() };
    if traceme == 0 {
        unsafe {
            let a = libc::syscall(libc::SYS_ptrace, libc::PTRACE_TRACEME as i64, 0, 0, 0);
            let b = libc::syscall(libc::SYS_ptrace, libc::PTRACE_TRACEME as i64, 0, 0, 0);
            libc::_exit(if a == 0 && b == -1 { 0 } else { 1 });
        }
    }
    assert!(traceme > 0);
    let mut status = 0;
    unsafe { libc::waitpid(traceme, &mut status, 0) };
    assert!(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0, "traceme child: {status:#x}");
    x.set("traceme_pid", traceme.into());
    // A packet socket (ETH_P_ALL in network order), and an invalid socket type.
    let s = sys!(libc::SYS_socket, libc::AF_PACKET as i64, libc::SOCK_RAW as i64, 0x0300);
    x.set("socket", s);
    if s >= 0 {
        unsafe { libc::close(s as i32) };
    }
    x.set("socket_fail", sys!(libc::SYS_socket, libc::AF_INET as i64, 99, 0));
}

/// memfd_create here; unshare and setns in a forked child (its namespaces only).
fn ns_workload(x: &mut Results) {
    let name = c("lanner-e2e");
    let fd = sys!(libc::SYS_memfd_create, name.as_ptr(), libc::MFD_CLOEXEC as i64);
    assert!(fd >= 0);
    x.set("memfd", fd);
    unsafe { libc::close(fd as i32) };
    x.set("memfd_fail", sys!(libc::SYS_memfd_create, name.as_ptr(), 0x100i64));
    let uts = c("/proc/self/ns/uts");
    let child = unsafe { libc::fork() };
    if child == 0 {
        unsafe {
            let a = libc::syscall(libc::SYS_unshare, libc::CLONE_NEWUTS as i64);
            let b = libc::syscall(libc::SYS_unshare, 1i64);
            let f = libc::syscall(libc::SYS_open, uts.as_ptr(), libc::O_RDONLY as i64);
            let d = libc::syscall(libc::SYS_dup2, f, 100i64);
            let s = libc::syscall(libc::SYS_setns, 100i64, libc::CLONE_NEWUTS as i64);
            let t = libc::syscall(libc::SYS_setns, -1i64, 0i64);
            libc::_exit(if a == 0 && b == -1 && f >= 0 && d == 100 && s == 0 && t == -1 { 0 } else { 1 });
        }
    }
    assert!(child > 0);
    let mut status = 0;
    unsafe { libc::waitpid(child, &mut status, 0) };
    assert!(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0, "unshare/setns child: {status:#x}");
    x.set("ns_pid", child.into());
}

const RULES: &str = r#"
- list: e2e_sensitive_file_names
  items: [/etc/shadow, /etc/sudoers]
- rule: e2e links
  desc: every link syscall of the test process
  condition: evt.type in (symlink, symlinkat, link, linkat) and proc.pid = PID
  output: "link %evt.type res=%evt.rawres target=%evt.arg.target linkdirfd=%evt.arg.linkdirfd linkpath=%evt.arg.linkpath oldpath=%evt.arg.oldpath olddir=%evt.arg.olddir newpath=%evt.arg.newpath newdir=%evt.arg.newdir flags=%evt.arg.flags"
  priority: WARNING
- rule: e2e file ops
  desc: every other path syscall of the test process
  condition: evt.type in (unlink, unlinkat, rename, renameat, renameat2, mkdir, mkdirat, rmdir, chmod, fchmod, fchmodat) and proc.pid = PID
  output: "fsop %evt.type res=%evt.rawres path=%evt.arg.path name=%evt.arg.name filename=%evt.arg.filename dirfd=%evt.arg.dirfd fd=%evt.arg.fd oldpath=%evt.arg.oldpath olddirfd=%evt.arg.olddirfd newpath=%evt.arg.newpath newdirfd=%evt.arg.newdirfd mode=%evt.arg.mode rawmode=%evt.rawarg.mode flags=%evt.arg.flags abs=%evt.abspath abssrc=%evt.abspath.src absdst=%evt.abspath.dst"
  priority: WARNING
- rule: e2e ptrace
  desc: ptrace by the test process or its children
  condition: evt.type = ptrace and (proc.pid = PID or proc.ppid = PID)
  output: "ptrace request=%evt.arg.request rawrequest=%evt.rawarg.request pid=%evt.arg.pid rawpid=%evt.rawarg.pid res=%evt.rawres"
  priority: WARNING
- rule: e2e socket
  desc: sockets of the test process
  condition: evt.type = socket and proc.pid = PID and evt.arg.domain in (AF_PACKET, AF_INET)
  output: "socket domain=%evt.arg.domain rawdomain=%evt.rawarg.domain type=%evt.arg.type proto=%evt.arg.proto fd=%evt.arg.fd res=%evt.rawres all=%evt.args"
  priority: WARNING
- rule: e2e namespaces and memfd
  desc: memfd_create, unshare and setns by the test process or its children
  condition: evt.type in (memfd_create, unshare, setns) and (proc.pid = PID or proc.ppid = PID)
  output: "ns %evt.type res=%evt.rawres flags=%evt.arg.flags rawflags=%evt.rawarg.flags nstype=%evt.arg.nstype fd=%evt.arg.fd name=%evt.arg.name"
  priority: WARNING
- rule: e2e symlink over sensitive file
  desc: Falco-style condition on the symlink target
  condition: evt.type in (symlink, symlinkat) and evt.arg.target in (e2e_sensitive_file_names) and proc.pid = PID
  output: "symlink over %evt.arg.target at %evt.arg.linkpath"
  priority: WARNING
- rule: e2e hardlink over sensitive file
  desc: Falco-style condition on the link source
  condition: evt.type in (link, linkat) and evt.arg.oldpath in (e2e_sensitive_file_names) and proc.pid = PID
  output: "hardlink over %evt.arg.oldpath"
  priority: WARNING
- rule: e2e ptrace attach
  desc: Falco-style ptrace attach condition
  condition: evt.type = ptrace and (evt.arg.request contains PTRACE_ATTACH or evt.arg.request contains PTRACE_SEIZE) and proc.pid = PID
  output: "attach to %evt.arg.pid"
  priority: WARNING
- rule: e2e ptrace anti-debug
  desc: Falco-style PTRACE_TRACEME condition
  condition: evt.type = ptrace and evt.arg.request contains PTRACE_TRACEME and proc.ppid = PID
  output: "traceme"
  priority: WARNING
- rule: e2e packet socket
  desc: Falco-style packet socket condition
  condition: evt.type = socket and evt.arg.domain contains AF_PACKET and proc.pid = PID
  output: "packet socket"
  priority: WARNING
"#;

/// Run the three workloads under an agent with `rules`; `events` adds `--events`
/// (which also opens the pre-filter: every record is printed).
fn run(rules: &str, dir: &str, events: bool, probes: Probes) -> (Stopped, Results) {
    let (out, x) = sysprobe::run_env(rules, dir, events, probes.env(), |x| {
        file_workload(dir, x);
        ptrace_socket_workload(x);
        ns_workload(x);
    });
    unsafe {
        libc::close(x.get("fd") as i32);
        libc::close(x.get("dirfd") as i32);
    }
    let _ = std::fs::remove_dir_all(dir);
    (out, x)
}

/// The one kernel record of `syscall` by this process with result `ret`.
fn record<'a>(out: &'a Stopped, ty: &str, syscall: &str, ret: i64) -> &'a Value {
    sysprobe::record(out, ty, syscall, i64::from(std::process::id()), ret)
}

#[test]
fn path_ptrace_and_socket_syscalls_report_exact_fields() {
    if !require_root("path_ptrace_and_socket_syscalls_report_exact_fields") {
        return;
    }
    exact_fields(Probes::AsLoaded);
}

/// The same through the enter+exit pairs, the fallback of the exit-only
/// register-reading programs (before 5.15, off x86_64): the same records.
#[test]
fn path_ptrace_and_socket_syscalls_report_exact_fields_through_the_pairs() {
    if !require_root("path_ptrace_and_socket_syscalls_report_exact_fields_through_the_pairs") {
        return;
    }
    exact_fields(Probes::Pairs);
}

fn exact_fields(probes: Probes) {
    let n = nonce();
    let dir = format!("/tmp/{n}");
    let (out, x) = run(RULES, &dir, true, probes);
    probes.assert_used(&out, "socket_enter", "socket_regs");
    probes.assert_used(&out, "unshare_enter", "unshare_regs");
    probes.assert_used(&out, "renameat2_enter", "renameat2_regs");
    probes.assert_used(&out, "symlinkat_enter", "symlinkat_regs");
    let dfd = x.get("dirfd");
    let dfd_s = dfd.to_string();
    let d = |s: &str| format!("{dir}/{s}");
    let e = |s| -i64::from(s);

    // Kernel records: every field of the path syscalls.
    for (syscall, key, ret, dirfd, path, dirfd2, path2, flags, mode) in [
        ("symlink", "symlink", 0, -100, "/etc/shadow".to_string(), -100, d("shadow-link"), 0, 0),
        ("symlink", "symlink_fail", e(libc::EEXIST), -100, "/etc/shadow".into(), -100, d("shadow-link"), 0, 0),
        ("symlinkat", "symlinkat", 0, -100, "/etc/passwd".into(), dfd, "rel-link".into(), 0, 0),
        ("link", "link", 0, -100, d("file"), -100, d("hard"), 0, 0),
        ("link", "link_fail", e(libc::ENOENT), -100, d("missing"), -100, d("hard-x"), 0, 0),
        ("linkat", "linkat", 0, -100, d("file"), dfd, "hard2".into(), 0x400, 0),
        ("unlink", "unlink", 0, -100, d("hard"), 0, String::new(), 0, 0),
        ("unlink", "unlink_fail", e(libc::ENOENT), -100, d("hard"), 0, String::new(), 0, 0),
        ("rename", "rename", 0, -100, d("file"), -100, d("file2"), 0, 0),
        ("rename", "rename_fail", e(libc::ENOENT), -100, d("file"), -100, d("file2"), 0, 0),
        ("renameat", "renameat", 0, dfd, "file2".into(), dfd, "file3".into(), 0, 0),
        ("renameat2", "renameat2", 0, dfd, "file3".into(), dfd, "file4".into(), 1, 0),
        ("mkdir", "mkdir", 0, -100, d("d"), 0, String::new(), 0, 0o750),
        ("mkdir", "mkdir_fail", e(libc::EEXIST), -100, d("d"), 0, String::new(), 0, 0o750),
        ("mkdirat", "mkdirat", 0, dfd, "d2".into(), 0, String::new(), 0, 0o700),
        ("rmdir", "rmdir", 0, -100, d("d"), 0, String::new(), 0, 0),
        ("rmdir", "rmdir_fail", e(libc::ENOENT), -100, d("d"), 0, String::new(), 0, 0),
        ("chmod", "chmod", 0, -100, d("file4"), 0, String::new(), 0, 0o4755),
        ("chmod", "chmod_fail", e(libc::ENOENT), -100, d("missing"), 0, String::new(), 0, 0o644),
        ("fchmod", "fchmod", 0, x.get("fd"), String::new(), 0, String::new(), 0, 0o644),
        ("fchmodat", "fchmodat", 0, dfd, "file4".into(), 0, String::new(), 0, 0o2750),
    ] {
        assert_eq!(x.get(key), ret, "{key}: the syscall itself");
        let r = record(&out, "file", syscall, ret);
        let got = (i(&r["dirfd"]), r["path"].as_str().unwrap(), i(&r["dirfd2"]), r["path2"].as_str().unwrap());
        assert_eq!(got, (dirfd, path.as_str(), dirfd2, path2.as_str()), "{key}: {r}");
        assert_eq!((i(&r["flags"]), i(&r["mode"])), (flags, mode), "{key}: {r}");
        assert_eq!((&r["path_truncated"], &r["read_failed"]), (&Value::Bool(false), &Value::Bool(false)), "{key}");
        assert_eq!((i(&r["tid"]), i(&r["uid"])), (x.get("tid"), 0), "{key}: the calling thread, as root");
    }
    let unlinkat = out.find("file", |r| r["syscall"] == "unlinkat" && i(&r["pid"]) == std::process::id() as i64);
    assert_eq!(unlinkat.len(), 2, "unlinkat of a file and of a directory");
    let udir = unlinkat.iter().find(|r| r["path"] == "d2").unwrap();
    assert_eq!((i(&udir["flags"]), i(&udir["dirfd"]), i(&udir["ret"])), (0x200, dfd, 0));

    // evt.arg.* as Falco renders them: resolved link paths, the raw symlink target.
    let f = alert(&out, "e2e links", "link symlink res=0 ");
    args(
        &f,
        &[
            ("target", Some("/etc/shadow")),
            ("linkpath", Some(&d("shadow-link"))),
            ("oldpath", None),
            ("linkdirfd", None),
            ("evt.rawres", Some("0")),
        ],
    );
    let f = alert(&out, "e2e links", "link symlink res=-17 ");
    args(&f, &[("target", Some("/etc/shadow")), ("linkpath", Some(&d("shadow-link")))]);
    let f = alert(&out, "e2e links", "link symlinkat ");
    args(&f, &[("target", Some("/etc/passwd")), ("linkdirfd", Some(&dfd_s)), ("linkpath", Some(&d("rel-link")))]);
    let f = alert(&out, "e2e links", "link link res=0 ");
    args(&f, &[("oldpath", Some(&d("file"))), ("newpath", Some(&d("hard"))), ("target", None)]);
    let f = alert(&out, "e2e links", "link link res=-2 ");
    args(&f, &[("oldpath", Some(&d("missing"))), ("newpath", Some(&d("hard-x")))]);
    let f = alert(&out, "e2e links", "link linkat ");
    args(
        &f,
        &[
            ("olddir", Some("-100")),
            ("oldpath", Some(&d("file"))),
            ("newdir", Some(&dfd_s)),
            ("newpath", Some(&d("hard2"))),
            ("flags", Some("AT_SYMLINK_FOLLOW")),
        ],
    );
    let fs = |prefix: &str| alert(&out, "e2e file ops", prefix);
    args(&fs("fsop unlink res=0 "), &[("path", Some(&d("hard"))), ("name", None)]);
    args(&fs("fsop unlink res=-2 "), &[("path", Some(&d("hard")))]);
    args(
        &fs(&format!("fsop unlinkat res=0 path=<NA> name={}", d("hard2"))),
        &[("dirfd", Some(&dfd_s)), ("flags", Some("0"))],
    );
    args(
        &fs(&format!("fsop unlinkat res=0 path=<NA> name={}", d("d2"))),
        &[("dirfd", Some(&dfd_s)), ("flags", Some("AT_REMOVEDIR"))],
    );
    args(&fs("fsop rename res=0 "), &[("oldpath", Some(&d("file"))), ("newpath", Some(&d("file2")))]);
    args(&fs("fsop rename res=-2 "), &[("oldpath", Some(&d("file"))), ("newpath", Some(&d("file2")))]);
    args(
        &fs("fsop renameat res=0 "),
        &[
            ("olddirfd", Some(&dfd_s)),
            ("oldpath", Some(&d("file2"))),
            ("newdirfd", Some(&dfd_s)),
            ("newpath", Some(&d("file3"))),
            ("flags", None),
        ],
    );
    // evt.abspath: the dirfd-relative arguments made absolute (src: old, dst: new).
    let abs = [
        ("evt.abspath", Some(d("file2"))),
        ("evt.abspath.src", Some(d("file2"))),
        ("evt.abspath.dst", Some(d("file3"))),
    ];
    args(&fs("fsop renameat res=0 "), &abs.iter().map(|(k, v)| (*k, v.as_deref())).collect::<Vec<_>>());
    args(&fs("fsop rename res=0 "), &[("evt.abspath", None), ("evt.abspath.dst", None)]);
    args(
        &fs("fsop renameat2 res=0 "),
        &[("oldpath", Some(&d("file3"))), ("newpath", Some(&d("file4"))), ("flags", Some("RENAME_NOREPLACE"))],
    );
    args(
        &fs("fsop mkdir res=0 "),
        &[("path", Some(&d("d"))), ("mode", Some("0x1e8")), ("evt.rawarg.mode", Some("488"))],
    );
    args(&fs("fsop mkdir res=-17 "), &[("path", Some(&d("d")))]);
    args(&fs("fsop mkdirat res=0 "), &[("dirfd", Some(&dfd_s)), ("path", Some(&d("d2"))), ("mode", Some("0x1c0"))]);
    args(&fs("fsop mkdirat res=0 "), &[("evt.abspath", Some(&d("d2"))), ("evt.abspath.dst", Some(&d("d2")))]);
    args(&fs("fsop rmdir res=0 "), &[("path", Some(&d("d")))]);
    args(&fs("fsop rmdir res=-2 "), &[("path", Some(&d("d")))]);
    args(
        &fs("fsop chmod res=0 "),
        &[
            ("filename", Some(&d("file4"))),
            ("mode", Some("S_IXOTH|S_IROTH|S_IXGRP|S_IRGRP|S_IXUSR|S_IWUSR|S_IRUSR|S_ISUID")),
            ("evt.rawarg.mode", Some("2541")),
        ],
    );
    args(&fs("fsop chmod res=-2 "), &[("filename", Some(&d("missing")))]);
    args(
        &fs("fsop fchmod res=0 "),
        &[("fd", Some(&x.get("fd").to_string())), ("mode", Some("S_IROTH|S_IRGRP|S_IWUSR|S_IRUSR"))],
    );
    args(
        &fs("fsop fchmodat res=0 "),
        &[
            ("dirfd", Some(&dfd_s)),
            ("filename", Some(&d("file4"))),
            ("mode", Some("S_IXGRP|S_IRGRP|S_IXUSR|S_IWUSR|S_IRUSR|S_ISGID")),
        ],
    );

    // ptrace: kernel records and evt.arg.request / evt.arg.pid (the target's name).
    let sleep = x.get("sleep_pid");
    assert_eq!((x.get("attach"), x.get("detach")), (0, 0));
    assert_eq!(x.get("attach_fail"), e(libc::ESRCH));
    for (req, pid, res) in [(16, sleep, 0), (17, sleep, 0), (16, 0x3fff_fff0, e(libc::ESRCH))] {
        let all = out.find("sys", |r| {
            r["syscall"] == "ptrace" && i(&r["args"][0]) == req && i(&r["args"][1]) == pid && i(&r["ret"]) == res
        });
        assert_eq!(all.len(), 1, "ptrace({req}, {pid}) = {res}");
        assert_eq!(all[0]["str"], Value::Null);
    }
    let f = alert(&out, "e2e ptrace", "ptrace request=PTRACE_ATTACH rawrequest=16 pid=sleep ");
    args(&f, &[("evt.rawarg.pid", Some(&sleep.to_string())), ("evt.rawres", Some("0"))]);
    let f = alert(&out, "e2e ptrace", "ptrace request=PTRACE_DETACH ");
    args(&f, &[("pid", Some("sleep"))]);
    let f = alert(&out, "e2e ptrace", "ptrace request=PTRACE_ATTACH rawrequest=16 pid=1073741808 ");
    args(&f, &[("evt.rawres", Some(&e(libc::ESRCH).to_string()))]);
    let tm = x.get("traceme_pid");
    let traceme = out.find("sys", |r| r["syscall"] == "ptrace" && i(&r["pid"]) == tm);
    let rets: Vec<i64> = traceme.iter().map(|r| i(&r["ret"])).collect();
    assert_eq!(rets, vec![0, e(libc::EPERM)], "two PTRACE_TRACEME calls");
    assert!(traceme.iter().all(|r| i(&r["args"][0]) == 0));
    let f = alert(&out, "e2e ptrace", "ptrace request=PTRACE_TRACEME rawrequest=0 pid=0 rawpid=0 res=0");
    args(&f, &[("request", Some("PTRACE_TRACEME"))]);
    alert(&out, "e2e ptrace", "ptrace request=PTRACE_TRACEME rawrequest=0 pid=0 rawpid=0 res=-1");

    // socket: the packet socket (or the error the kernel gave), and EINVAL.
    let s = x.get("socket");
    let r = record(&out, "sys", "socket", s);
    assert_eq!((i(&r["args"][0]), i(&r["args"][1]), i(&r["args"][2])), (17, 3, 0x300));
    let fd = if s >= 0 { s.to_string() } else { "<NA>".into() };
    let f = alert(&out, "e2e socket", "socket domain=AF_PACKET ");
    args(
        &f,
        &[
            ("evt.rawarg.domain", Some("17")),
            ("type", Some("3")),
            ("proto", Some("768")),
            ("fd", Some(&fd)),
            ("evt.rawres", Some(&s.to_string())),
            // Falco's socket parameters in its order, named numbers as Falco prints them.
            (
                "evt.args",
                Some(&format!(
                    "{}domain=17(AF_PACKET) type=3 proto=768",
                    if s >= 0 { format!("fd={s} ") } else { String::new() }
                )),
            ),
        ],
    );
    assert_eq!(x.get("socket_fail"), e(libc::EINVAL));
    let r = record(&out, "sys", "socket", e(libc::EINVAL));
    assert_eq!((i(&r["args"][0]), i(&r["args"][1])), (2, 99));
    let f = alert(&out, "e2e socket", "socket domain=AF_INET ");
    args(
        &f,
        &[
            ("type", Some("99")),
            ("fd", None),
            ("evt.rawres", Some("-22")),
            ("evt.args", Some("domain=2(AF_INET) type=99 proto=0")),
        ],
    );

    // memfd_create (name and flags), unshare (namespace flags), setns (fd, nstype).
    let (memfd, me, ns) = (x.get("memfd"), std::process::id() as i64, x.get("ns_pid"));
    let r = out
        .one("sys", "memfd_create", |r| r["syscall"] == "memfd_create" && i(&r["ret"]) == memfd && i(&r["pid"]) == me);
    assert_eq!((r["str"].as_str(), i(&r["args"][1])), (Some("lanner-e2e"), 1));
    let f = alert(&out, "e2e namespaces and memfd", &format!("ns memfd_create res={memfd} "));
    args(&f, &[("name", Some("lanner-e2e")), ("flags", Some("MFD_CLOEXEC")), ("fd", Some(&memfd.to_string()))]);
    assert_eq!(x.get("memfd_fail"), e(libc::EINVAL));
    let f = alert(&out, "e2e namespaces and memfd", "ns memfd_create res=-22 ");
    args(&f, &[("name", Some("lanner-e2e")), ("evt.rawarg.flags", Some("256")), ("flags", Some("256")), ("fd", None)]);
    for (syscall, a0, a1, res) in [
        ("unshare", 0x0400_0000, 0, 0),
        ("unshare", 1, 0, e(libc::EINVAL)),
        ("setns", 100, 0x0400_0000, 0),
        ("setns", -1, 0, e(libc::EBADF)),
    ] {
        let r = out.one("sys", syscall, |r| r["syscall"] == syscall && i(&r["pid"]) == ns && i(&r["ret"]) == res);
        assert_eq!(
            (r["args"][0].as_u64().unwrap() as i32 as i64, i(&r["args"][1])),
            (a0, a1),
            "{syscall} = {res}: {r}"
        );
    }
    let f = alert(&out, "e2e namespaces and memfd", "ns unshare res=0 ");
    // Falco's raw clone flags are its PPM_CL_* bits (CLONE_NEWUTS = 1 << 7); a kernel bit
    // it has no name for (1) is dropped, so the invalid call renders 0.
    args(&f, &[("flags", Some("CLONE_NEWUTS")), ("evt.rawarg.flags", Some("128"))]);
    let f = alert(&out, "e2e namespaces and memfd", "ns unshare res=-22 ");
    args(&f, &[("flags", Some("0")), ("evt.rawarg.flags", Some("0"))]);
    let f = alert(&out, "e2e namespaces and memfd", "ns setns res=0 ");
    args(&f, &[("fd", Some("100")), ("nstype", Some("CLONE_NEWUTS")), ("flags", None)]);
    let f = alert(&out, "e2e namespaces and memfd", "ns setns res=-9 ");
    args(&f, &[("fd", Some("-1")), ("nstype", Some("0"))]);

    // Falco-style conditions fire on the real actions, and only on them.
    let fired = |rule: &str| out.events.iter().filter(|e| e["rule"] == rule).count();
    assert_eq!(fired("e2e symlink over sensitive file"), 2, "symlink to /etc/shadow, and its EEXIST retry");
    assert_eq!(fired("e2e hardlink over sensitive file"), 0, "no hardlink to a sensitive file was made");
    assert_eq!(fired("e2e ptrace attach"), 2, "attach to sleep, attach to no process");
    assert_eq!(fired("e2e ptrace anti-debug"), 2, "two PTRACE_TRACEME calls");
    assert_eq!(fired("e2e packet socket"), 1);
}

#[test]
fn syscalls_no_rule_needs_are_not_emitted() {
    if !require_root("syscalls_no_rule_needs_are_not_emitted") {
        return;
    }
    let n = nonce();
    let (out, x) = run(EXEC_ONLY, &format!("/tmp/{n}"), false, Probes::AsLoaded);
    assert_eq!(x.get("symlink"), 0, "the workload ran");
    let emitted = out.kernel("file_exit", "emitted") + out.kernel("sys_exit", "emitted");
    assert_eq!(emitted, 0, "file/sys records emitted although no rule needs them");
    let seen = &out.final_counters["userspace"];
    assert_eq!((seen["file"].as_u64(), seen["sys"].as_u64()), (Some(0), Some(0)), "{seen}");
    // Their programs are not even attached (so nothing runs to be filtered).
    for p in
        ["symlink_enter", "linkat_exit", "rename_enter", "chmod_enter", "ptrace_enter", "socket_enter", "unshare_enter"]
    {
        assert!(out.stderr.iter().any(|l| l.contains("probe not attached: no rule needs it") && l.contains(p)), "{p}");
    }
    let filtered: u64 =
        ["file_enter", "sys_enter", "file_exit", "sys_exit"].iter().map(|p| out.kernel(p, "filtered")).sum();
    assert_eq!(filtered, 0, "a probe no rule needs ran");
    assert_eq!(out.kernel("file_exit", "stash_miss") + out.kernel("sys_exit", "stash_miss"), 0);
}
