//! Privileged end-to-end test of every probe: real syscalls with known
//! arguments, asserted field by field on the events `lanner run --events` prints.
use std::{
    ffi::CString,
    io::Write,
    net::{TcpListener, TcpStream},
    os::unix::{
        net::{UnixListener, UnixStream},
        process::CommandExt,
    },
    process::Command,
};

use lanner_tests::{nonce, require_root, Agent, Keep};
use serde_json::Value;

fn openat(path: &str, flags: i32, mode: u32) -> i32 {
    let c = CString::new(path).unwrap();
    let fd = unsafe { libc::openat(libc::AT_FDCWD, c.as_ptr(), flags, mode) };
    if fd < 0 {
        -std::io::Error::last_os_error().raw_os_error().unwrap()
    } else {
        fd
    }
}

fn gettid() -> i64 {
    unsafe { libc::syscall(libc::SYS_gettid) }
}

struct Expect {
    me: u32,
    tid: i64,
    dir: String,
    echo_pid: u32,
    exit3_pid: u32,
    setuid_pid: u32,
    drop_priv_pid: u32,
    read_fd: i32,
    write_fd: i32,
    tcp_port: u16,
    closed_port: u16,
    v6_port: Option<u16>,
    sock: String,
}

fn workload(n: &str) -> Expect {
    let dir = format!("/tmp/{n}");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(format!("{dir}/read.txt"), b"hello").unwrap();

    // exec with known argv; fork and exit come with it.
    let echo = Command::new("/bin/echo").args([n, "two words"]).stdout(std::process::Stdio::null()).spawn().unwrap();
    let echo_pid = echo.id();
    assert!(echo.wait_with_output().unwrap().status.success());
    // One long argument (a `sh -c` payload) must arrive whole, not cut at 256 bytes.
    let long = format!("{}{n}", "x".repeat(700));
    assert!(Command::new("/bin/true").arg(&long).status().unwrap().success());
    // exit code 3
    let mut sh = Command::new("/bin/sh").args(["-c", "exit 3", n]).spawn().unwrap();
    let exit3_pid = sh.id();
    assert_eq!(sh.wait().unwrap().code(), Some(3));
    // failed exec: ENOENT
    let err = Command::new(format!("/nonexistent-{n}/prog")).spawn().unwrap_err();
    assert_eq!(err.raw_os_error(), Some(libc::ENOENT));

    // opens: read, write+create, failure
    let read_fd = openat(&format!("{dir}/read.txt"), libc::O_RDONLY, 0);
    assert!(read_fd >= 0);
    let write_fd = openat(&format!("{dir}/write.txt"), libc::O_WRONLY | libc::O_CREAT | libc::O_TRUNC, 0o640);
    assert!(write_fd >= 0);
    assert_eq!(openat(&format!("{dir}/missing.txt"), libc::O_RDONLY, 0), -libc::ENOENT);
    unsafe {
        libc::close(read_fd);
        libc::close(write_fd);
    }

    // connects: TCP to a listener, to a closed port, IPv6, unix.
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let tcp_port = l.local_addr().unwrap().port();
    let s = TcpStream::connect(("127.0.0.1", tcp_port)).unwrap();
    drop((s, l));
    let closed = TcpListener::bind("127.0.0.1:0").unwrap();
    let closed_port = closed.local_addr().unwrap().port();
    drop(closed);
    assert!(TcpStream::connect(("127.0.0.1", closed_port)).is_err());
    let v6_port = TcpListener::bind("[::1]:0").ok().map(|l6| {
        let p = l6.local_addr().unwrap().port();
        let _ = TcpStream::connect(("::1", p)).unwrap();
        p
    });
    let sock = format!("{dir}/agent.sock");
    let ul = UnixListener::bind(&sock).unwrap();
    let mut us = UnixStream::connect(&sock).unwrap();
    us.write_all(b"x").unwrap();
    drop((us, ul));

    // setuid in a child: root → nobody (succeeds).
    let mut c = Command::new("/bin/true");
    c.arg(n);
    unsafe {
        c.pre_exec(|| if libc::setuid(65534) == 0 { Ok(()) } else { Err(std::io::Error::last_os_error()) });
    }
    let mut child = c.spawn().unwrap();
    let setuid_pid = child.id();
    assert!(child.wait().unwrap().success());
    // setresuid to 1000, then setuid(0) fails with EPERM.
    let mut c = Command::new("/bin/true");
    c.arg(n);
    unsafe {
        c.pre_exec(|| {
            if libc::setresuid(1000, 1000, 1000) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            if libc::setuid(0) == 0 {
                return Err(std::io::Error::other("setuid(0) unexpectedly succeeded"));
            }
            Ok(())
        });
    }
    let mut child = c.spawn().unwrap();
    let drop_priv_pid = child.id();
    assert!(child.wait().unwrap().success());

    Expect {
        me: std::process::id(),
        tid: gettid(),
        dir,
        echo_pid,
        exit3_pid,
        setuid_pid,
        drop_priv_pid,
        read_fd,
        write_fd,
        tcp_port,
        closed_port,
        v6_port,
        sock,
    }
}

fn u(v: &Value) -> u64 {
    v.as_u64().unwrap_or(u64::MAX)
}

#[test]
fn every_probe_reports_exact_fields() {
    if !require_root("every_probe_reports_exact_fields") {
        return;
    }
    let agent = Agent::start(&["--events"], Keep::All);
    let agent_pid = agent.pid();
    let n = nonce();
    let x = workload(&n);
    let out = agent.stop();
    out.assert_accounting();
    assert!(
        out.events.iter().all(|e| u(&e["pid"]) != agent_pid as u64),
        "the agent's own events must be filtered in the kernel"
    );

    // exec
    let e = out.one("exec", "echo", |e| u(&e["pid"]) == x.echo_pid as u64 && e["ret"] == 0);
    assert_eq!(e["filename"], "/bin/echo");
    assert_eq!(e["argv"], serde_json::json!(["/bin/echo", n, "two words"]));
    assert_eq!(u(&e["ppid"]), x.me as u64);
    assert_eq!(u(&e["uid"]), 0);
    assert_eq!(e["comm"], "echo");
    assert_eq!(e["args_truncated"], false);
    assert!(u(&e["time_ns"]) > 1_700_000_000_000_000_000, "wall-clock time: {e}");
    // the image read in the kernel: the resolved executable, its inode, the caller's session
    let echo = std::fs::canonicalize("/bin/echo").unwrap();
    let meta = std::fs::metadata(&echo).unwrap();
    let img = &e["image"];
    assert_eq!(img["exe_path"], echo.display().to_string().as_str(), "{e}");
    assert_eq!(u(&img["exe_ino"]), std::os::unix::fs::MetadataExt::ino(&meta));
    assert_eq!(img["exe_memfd"], false);
    assert_eq!(u(&img["vpid"]), x.echo_pid as u64, "host pid namespace");
    assert_eq!(u(&img["sid"]), unsafe { libc::getsid(0) } as u64, "the test's session");
    // fork + exit of the same child
    out.one("fork", "echo fork", |e| u(&e["child_pid"]) == x.echo_pid as u64 && u(&e["pid"]) == x.me as u64);
    let ex = out.one("exit", "echo exit", |e| u(&e["pid"]) == x.echo_pid as u64);
    assert_eq!(ex["exit_code"], 0);
    let ex = out.one("exit", "sh exit 3", |e| u(&e["pid"]) == x.exit3_pid as u64);
    assert_eq!(ex["exit_code"], 3 << 8, "wait status of exit(3)");
    // a 700-byte argument, whole
    let long = format!("{}{n}", "x".repeat(700));
    let e = out
        .one("exec", "long argv", |e| e["argv"][1].as_str().is_some_and(|a| a.ends_with(n.as_str()) && a.len() > 700));
    assert_eq!(e["argv"][1], long.as_str());
    assert_eq!(e["args_truncated"], false);
    // failed exec
    let e = out.one("exec", "ENOENT exec", |e| e["filename"] == format!("/nonexistent-{n}/prog"));
    assert_eq!(e["ret"], -libc::ENOENT);
    assert!(e["image"].is_null(), "a failed exec has no new image: {e}");

    // opens
    let me = x.me as u64;
    let o = out.one("open", "read open", |e| {
        e["path"] == format!("{}/read.txt", x.dir) && u(&e["pid"]) == me && e["flags"] == 0
    });
    assert_eq!((o["ret"].as_i64().unwrap(), o["flags"].as_i64().unwrap()), (x.read_fd as i64, libc::O_RDONLY as i64));
    assert_eq!(o["tid"].as_i64().unwrap(), x.tid);
    assert_eq!(o["syscall"], "openat");
    let o = out.one("open", "write open", |e| e["path"] == format!("{}/write.txt", x.dir));
    assert_eq!(o["ret"].as_i64().unwrap(), x.write_fd as i64);
    assert_eq!(o["flags"].as_i64().unwrap(), (libc::O_WRONLY | libc::O_CREAT | libc::O_TRUNC) as i64);
    assert_eq!(o["mode"], 0o640);
    let o = out.one("open", "failed open", |e| e["path"] == format!("{}/missing.txt", x.dir));
    assert_eq!(o["ret"], -libc::ENOENT);

    // connects
    let c = out.one("connect", "tcp", |e| e["port"] == x.tcp_port && u(&e["pid"]) == me);
    assert_eq!(
        (c["family"].as_str(), c["addr"].as_str(), c["ret"].as_i64()),
        (Some("inet"), Some("127.0.0.1"), Some(0))
    );
    let c = out.one("connect", "closed port", |e| e["port"] == x.closed_port && u(&e["pid"]) == me);
    assert_eq!(c["ret"], -libc::ECONNREFUSED);
    if let Some(p) = x.v6_port {
        let c = out.one("connect", "tcp6", |e| e["port"] == p && u(&e["pid"]) == me);
        assert_eq!(
            (c["family"].as_str(), c["addr"].as_str(), c["ret"].as_i64()),
            (Some("inet6"), Some("::1"), Some(0))
        );
    }
    let c = out.one("connect", "unix", |e| e["unix_path"] == x.sock.as_str());
    assert_eq!((c["family"].as_str(), c["ret"].as_i64()), (Some("unix"), Some(0)));

    // setuid family
    // The header's uid: after the call from the exit-only program (x86_64, 5.15+), before
    // it from the pair; the rules see the one before either way (alerts_e2e).
    let s = out.one("setuid", "setuid(65534)", |e| u(&e["pid"]) == x.setuid_pid as u64);
    let header_uid = if s["creds_after"] == true { 65534 } else { 0 };
    assert_eq!(
        (s["syscall"].as_str(), u(&s["ruid"]), s["ret"].as_i64(), u(&s["uid"])),
        (Some("setuid"), 65534, Some(0), header_uid)
    );
    assert_eq!(s["creds_after"], cfg!(target_arch = "x86_64"), "exit-only on x86_64 (5.15+)");
    let s =
        out.one("setuid", "setresuid(1000)", |e| u(&e["pid"]) == x.drop_priv_pid as u64 && e["syscall"] == "setresuid");
    assert_eq!((u(&s["ruid"]), u(&s["euid"]), u(&s["suid"]), s["ret"].as_i64()), (1000, 1000, 1000, Some(0)));
    let s =
        out.one("setuid", "setuid(0) EPERM", |e| u(&e["pid"]) == x.drop_priv_pid as u64 && e["syscall"] == "setuid");
    assert_eq!((u(&s["ruid"]), s["ret"].as_i64(), u(&s["uid"])), (0, Some(-(libc::EPERM as i64)), 1000));

    let _ = std::fs::remove_dir_all(&x.dir);
}
