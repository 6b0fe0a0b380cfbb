//! Privileged end-to-end test of the probes for process_vm_readv/writev,
//! open_by_handle_at, io_uring_setup, kill and chroot: each real syscall,
//! successful and failing, is asserted on the kernel record (`--events`) and on
//! the rule engine's `evt.arg.*` values, through the exit-only programs as they
//! load here and through the enter+exit pairs (their fallback before 5.15). A run
//! with rules that need none of these types checks that their programs are not
//! even attached; one whose kill rule wants SIGKILL, that `kill(pid, 0)` is
//! dropped in the kernel.
use std::ffi::CString;

use lanner_tests::{
    nonce, require_root, sys,
    sysprobe::{alert, args, c, e, fired, i, record, run, run_env, Probes, Results, EXEC_ONLY},
    Stopped,
};

const RULES: &str = r#"
- rule: e2e process memory
  desc: process_vm_readv/writev of the test process
  condition: evt.type in (process_vm_readv, process_vm_writev) and proc.pid = PID
  output: "pvm %evt.type res=%evt.rawres pid=%evt.arg.pid rawpid=%evt.rawarg.pid cat=%evt.category"
  priority: WARNING
- rule: e2e open by handle
  desc: open_by_handle_at of the test process
  condition: evt.type = open_by_handle_at and proc.pid = PID
  output: "obh res=%evt.rawres fd=%evt.arg.fd mountfd=%evt.arg.mountfd flags=%evt.arg.flags path=%evt.arg.path"
  priority: WARNING
- rule: e2e kill and chroot
  desc: kill by the test process, chroot by its child
  condition: (evt.type = kill and proc.pid = PID) or (evt.type = chroot and proc.ppid = PID)
  output: "sig %evt.type res=%evt.rawres pid=%evt.arg.pid rawpid=%evt.rawarg.pid sig=%evt.arg.sig rawsig=%evt.rawarg.sig path=%evt.arg.path cat=%evt.category"
  priority: WARNING
- rule: e2e io_uring
  desc: io_uring_setup of the test process
  condition: evt.type = io_uring_setup and proc.pid = PID
  output: "uring res=%evt.rawres entries=%evt.arg.entries sq=%evt.arg.sq_entries cq=%evt.arg.cq_entries flags=%evt.arg.flags rawflags=%evt.rawarg.flags idle=%evt.arg.sq_thread_idle"
  priority: WARNING
"#;

/// A kill rule that wants SIGKILL only: the kernel keeps no other signal.
const SIGKILL_ONLY: &str = r#"
- rule: e2e sigkill
  desc: SIGKILL sent by the test process
  condition: evt.type = kill and evt.arg.sig = SIGKILL and proc.pid = PID
  output: "sigkill pid=%evt.rawarg.pid"
  priority: WARNING
"#;

const IORING_SETUP_SQPOLL: u32 = 1 << 1;
const IORING_SETUP_CQSIZE: u32 = 1 << 3;

#[repr(C)]
struct Iovec {
    base: *mut u8,
    len: usize,
}

/// `struct io_uring_params` (120 bytes).
#[repr(C)]
#[derive(Default)]
struct UringParams {
    sq_entries: u32,
    cq_entries: u32,
    flags: u32,
    sq_thread_cpu: u32,
    sq_thread_idle: u32,
    features: u32,
    rest: [u32; 24],
}

/// The start of the first mapping of process `pid` (readable: its executable's header).
fn first_mapping(pid: u32) -> usize {
    let maps = std::fs::read_to_string(format!("/proc/{pid}/maps")).unwrap();
    let start = maps.split('-').next().unwrap();
    usize::from_str_radix(start, 16).unwrap()
}

fn memory_workload(x: &mut Results) {
    let me = std::process::id();
    let mut buf = [0u8; 16];
    let mut src = *b"lanner-e2e-pvm!\0";
    let local = Iovec { base: buf.as_mut_ptr(), len: 16 };
    let own = Iovec { base: src.as_mut_ptr(), len: 16 };
    // Every integer argument as a full register (variadic: no implicit widening).
    let pvm = |nr: libc::c_long, pid: i64, l: &Iovec, r: &Iovec, flags: i64| {
        sys!(nr, pid, l as *const Iovec, 1i64, r as *const Iovec, 1i64, flags)
    };
    let me = i64::from(me);
    x.set("readv_self", pvm(libc::SYS_process_vm_readv, me, &local, &own, 0));
    x.set("writev_self", pvm(libc::SYS_process_vm_writev, me, &local, &own, 0));
    // Another process, named by its comm in evt.arg.pid.
    let mut child = std::process::Command::new("sleep").arg("30").spawn().unwrap();
    let cpid = child.id();
    std::thread::sleep(std::time::Duration::from_millis(50));
    let remote = Iovec { base: first_mapping(cpid) as *mut u8, len: 16 };
    x.set("child", cpid.into());
    x.set("readv_child", pvm(libc::SYS_process_vm_readv, cpid.into(), &local, &remote, 0));
    child.kill().unwrap();
    child.wait().unwrap();
    x.set("readv_gone", pvm(libc::SYS_process_vm_readv, 0x3fff_fff0, &local, &own, 0));
    x.set("writev_bad", pvm(libc::SYS_process_vm_writev, me, &local, &own, 1));
}

/// Returns the fds it opened: they stay open until the agent has stopped, so the
/// agent can name the opened file from /proc/PID/fd (as for any fd the kernel
/// record gives only the number and type of).
fn handle_workload(dir: &str, x: &mut Results) -> Vec<i32> {
    let file = format!("{dir}/target");
    std::fs::write(&file, "x").unwrap();
    // struct file_handle: handle_bytes, handle_type, then the handle.
    let mut fh = [0u8; 8 + 128];
    fh[..4].copy_from_slice(&128u32.to_ne_bytes());
    let mut mount_id = 0i32;
    let path = c(&file);
    let r =
        sys!(libc::SYS_name_to_handle_at, libc::AT_FDCWD as i64, path.as_ptr(), fh.as_mut_ptr(), &mut mount_id, 0i64);
    assert_eq!(r, 0, "name_to_handle_at {file}");
    let d = CString::new(dir).unwrap();
    let mfd = unsafe { libc::open(d.as_ptr(), libc::O_RDONLY | libc::O_DIRECTORY) };
    assert!(mfd >= 0);
    x.set("mountfd", mfd.into());
    let fd =
        sys!(libc::SYS_open_by_handle_at, i64::from(mfd), fh.as_mut_ptr(), i64::from(libc::O_RDONLY | libc::O_CLOEXEC));
    x.set("obh", fd);
    x.set("obh_bad", sys!(libc::SYS_open_by_handle_at, 9999i64, fh.as_mut_ptr(), i64::from(libc::O_RDWR)));
    [fd as i32, mfd].into_iter().filter(|f| *f >= 0).collect()
}

fn uring_workload(x: &mut Results) {
    let mut p = UringParams { flags: IORING_SETUP_CQSIZE, cq_entries: 64, ..Default::default() };
    let fd = sys!(libc::SYS_io_uring_setup, 8i64, &mut p as *mut UringParams);
    x.set("uring", fd);
    x.set("uring_sq", p.sq_entries.into());
    x.set("uring_cq", p.cq_entries.into());
    if fd >= 0 {
        unsafe { libc::close(fd as i32) };
    }
    // No entries: EINVAL, the flags as passed.
    let mut bad = UringParams { flags: IORING_SETUP_SQPOLL, sq_thread_idle: 250, ..Default::default() };
    x.set("uring_bad", sys!(libc::SYS_io_uring_setup, 0i64, &mut bad as *mut UringParams));
}

/// kill(2) of a `sleep` (stopped, then killed) and of no process; chroot(2) of a
/// child into `dir`, and into a missing directory.
fn signal_workload(dir: &str, x: &mut Results) {
    let mut child = std::process::Command::new("sleep").arg("30").spawn().unwrap();
    let cpid = i64::from(child.id());
    std::thread::sleep(std::time::Duration::from_millis(50));
    x.set("sleeper", cpid);
    x.set("kill_stop", sys!(libc::SYS_kill, cpid, i64::from(libc::SIGSTOP)));
    x.set("kill_gone", sys!(libc::SYS_kill, 0x3fff_fff0i64, i64::from(libc::SIGKILL)));
    child.kill().unwrap();
    child.wait().unwrap();
    let (root, missing) = (c(dir), c(&format!("{dir}/missing")));
    let pid = lanner_tests::sysprobe::in_child("chroot", || unsafe {
        libc::syscall(libc::SYS_chroot, missing.as_ptr()) == -1 && libc::syscall(libc::SYS_chroot, root.as_ptr()) == 0
    });
    x.set("chroot_pid", pid);
}

fn workload(dir: &str, x: &mut Results) -> Vec<i32> {
    x.set("pid", std::process::id().into());
    memory_workload(x);
    let fds = handle_workload(dir, x);
    uring_workload(x);
    signal_workload(dir, x);
    fds
}

fn close_all(fds: Vec<i32>) {
    for f in fds {
        unsafe { libc::close(f) };
    }
}

#[test]
fn process_memory_handle_and_io_uring_syscalls_report_exact_fields() {
    if !require_root("process_memory_handle_and_io_uring_syscalls_report_exact_fields") {
        return;
    }
    exact_fields(Probes::AsLoaded);
}

/// The same through the enter+exit pairs: the same records.
#[test]
fn process_memory_handle_and_io_uring_syscalls_report_exact_fields_through_the_pairs() {
    if !require_root("process_memory_handle_and_io_uring_syscalls_report_exact_fields_through_the_pairs") {
        return;
    }
    exact_fields(Probes::Pairs);
}

fn exact_fields(probes: Probes) {
    let dir = format!("/tmp/{}", nonce());
    let mut fds = Vec::new();
    let (out, x) = run_env(RULES, &dir, true, probes.env(), |x| fds = workload(&dir, x));
    close_all(fds);
    let _ = std::fs::remove_dir_all(&dir);
    for s in ["process_vm_readv", "process_vm_writev", "open_by_handle_at", "io_uring_setup", "kill", "chroot"] {
        probes.assert_used(&out, &format!("{s}_enter"), &format!("{s}_regs"));
    }
    check_memory(&out, &x);
    check_handle(&out, &x, &dir);
    check_uring(&out, &x);
    check_signal(&out, &x, &dir);
}

fn check_signal(out: &Stopped, x: &Results, dir: &str) {
    let me = x.get("pid");
    let sleeper = x.get("sleeper");
    assert_eq!((x.get("kill_stop"), x.get("kill_gone")), (0, e(libc::ESRCH)));
    // The SIGSTOP (std's Child::kill sends this process's other kills: SIGKILL).
    let stops = out
        .find("sys", |r| r["syscall"] == "kill" && i(&r["pid"]) == me && i(&r["ret"]) == 0 && i(&r["args"][1]) == 19);
    assert_eq!(stops.len(), 1, "one kill(SIGSTOP) record: {stops:?}");
    assert_eq!(i(&stops[0]["args"][0]), sleeper);
    let f =
        alert(out, "e2e kill and chroot", &format!("sig kill res=0 pid=sleep rawpid={sleeper} sig=SIGSTOP rawsig=19 "));
    args(&f, &[("evt.category", Some("signal")), ("path", None)]);
    alert(out, "e2e kill and chroot", "sig kill res=-3 pid=1073741808 rawpid=1073741808 sig=SIGKILL rawsig=9 ");
    let child = x.get("chroot_pid");
    let r = record(out, "file", "chroot", child, 0);
    assert_eq!((r["path"].as_str(), i(&r["dirfd"])), (Some(dir), -100), "{r}");
    record(out, "file", "chroot", child, e(libc::ENOENT));
    let f = alert(out, "e2e kill and chroot", "sig chroot res=0 ");
    args(&f, &[("path", Some(dir)), ("evt.category", Some("process")), ("sig", None)]);
    let missing = format!("{dir}/missing");
    args(&alert(out, "e2e kill and chroot", "sig chroot res=-2 "), &[("path", Some(&missing))]);
}

#[test]
fn kill_signals_no_rule_wants_are_dropped_in_the_kernel() {
    if !require_root("kill_signals_no_rule_wants_are_dropped_in_the_kernel") {
        return;
    }
    let dir = format!("/tmp/{}", nonce());
    let (out, x) = run(SIGKILL_ONLY, &dir, false, |x| {
        let mut child = std::process::Command::new("sleep").arg("30").spawn().unwrap();
        let cpid = i64::from(child.id());
        x.set("sleeper", cpid);
        // Liveness probes, as supervisors and pid files make them.
        x.set("probes", (0..500).map(|_| sys!(libc::SYS_kill, cpid, 0i64)).filter(|r| *r == 0).count() as i64);
        x.set("sigkill", sys!(libc::SYS_kill, cpid, i64::from(libc::SIGKILL)));
        child.wait().unwrap();
    });
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!((x.get("probes"), x.get("sigkill")), (500, 0));
    alert(&out, "e2e sigkill", &format!("sigkill pid={}", x.get("sleeper")));
    assert_eq!(fired(&out, "e2e sigkill"), 1);
    let filtered = out.kernel("sys_exit", "filtered");
    assert!(filtered >= 500, "kill(pid, 0) kept in the kernel: {filtered} filtered");
    assert!(out.stderr.iter().any(|l| l.contains("kill_signals=[\"SIGKILL\"]")), "the filter as logged");
}

fn check_memory(out: &Stopped, x: &Results) {
    let me = x.get("pid");
    assert_eq!((x.get("readv_self"), x.get("writev_self"), x.get("readv_child")), (16, 16, 16));
    assert_eq!((x.get("readv_gone"), x.get("writev_bad")), (e(libc::ESRCH), e(libc::EINVAL)));
    let child = x.get("child");
    for (syscall, ret, pid) in [
        ("process_vm_readv", 16, me),
        ("process_vm_writev", 16, me),
        ("process_vm_readv", 16, child),
        ("process_vm_readv", e(libc::ESRCH), 0x3fff_fff0),
        ("process_vm_writev", e(libc::EINVAL), me),
    ] {
        let all = out.find("sys", |r| {
            r["syscall"] == syscall && i(&r["pid"]) == me && i(&r["ret"]) == ret && i(&r["args"][0]) == pid
        });
        assert_eq!(all.len(), 1, "{syscall}({pid}) = {ret}");
    }
    let f = alert(out, "e2e process memory", &format!("pvm process_vm_readv res=16 pid=sleep rawpid={child} "));
    args(&f, &[("evt.category", Some("ipc"))]);
    alert(out, "e2e process memory", &format!("pvm process_vm_writev res=16 pid=syscalls_inject rawpid={me} "));
    alert(out, "e2e process memory", "pvm process_vm_readv res=-3 pid=1073741808 rawpid=1073741808 ");
    alert(out, "e2e process memory", "pvm process_vm_writev res=-22 ");
    assert_eq!(fired(out, "e2e process memory"), 5);
}

fn check_handle(out: &Stopped, x: &Results, dir: &str) {
    let me = x.get("pid");
    let (fd, mfd) = (x.get("obh"), x.get("mountfd"));
    assert!(fd >= 0, "open_by_handle_at as root: {fd}");
    assert_eq!(x.get("obh_bad"), e(libc::EBADF));
    let r = record(out, "sys", "open_by_handle_at", me, fd);
    assert_eq!((i(&r["args"][0]), i(&r["args"][2])), (mfd, (libc::O_RDONLY | libc::O_CLOEXEC) as i64));
    // The new fd as the kernel saw it: a regular file.
    assert_eq!((i(&r["fd"]["fd"]), i(&r["fd"]["ftype"])), (fd, 0o10), "{r}");
    let r = record(out, "sys", "open_by_handle_at", me, e(libc::EBADF));
    assert_eq!((i(&r["args"][0]), &r["fd"]), (9999, &serde_json::Value::Null), "a failed call describes no fd");
    let f = alert(out, "e2e open by handle", &format!("obh res={fd} "));
    let target = format!("{dir}/target");
    args(&f, &[("fd", Some(&fd.to_string())), ("mountfd", Some(&mfd.to_string()))]);
    args(&f, &[("flags", Some("O_RDONLY|O_CLOEXEC")), ("path", Some(&target))]);
    let f = alert(out, "e2e open by handle", "obh res=-9 ");
    args(&f, &[("mountfd", Some("9999")), ("flags", Some("O_RDWR")), ("path", Some(""))]);
}

fn check_uring(out: &Stopped, x: &Results) {
    let me = x.get("pid");
    let fd = x.get("uring");
    assert!(fd >= 0, "io_uring_setup as root: {fd} (kernel.io_uring_disabled?)");
    assert_eq!((x.get("uring_sq"), x.get("uring_cq")), (8, 64));
    assert_eq!(x.get("uring_bad"), e(libc::EINVAL));
    let r = record(out, "sys", "io_uring_setup", me, fd);
    assert_eq!(i(&r["args"][0]), 8);
    let f = alert(out, "e2e io_uring", &format!("uring res={fd} entries=8 sq=8 cq=64 "));
    args(&f, &[("flags", Some("IORING_SETUP_CQSIZE")), ("evt.rawarg.flags", Some("16"))]);
    // The failed call: the params as passed (Falco's PPM bit for SQPOLL is the kernel's).
    let f = alert(out, "e2e io_uring", "uring res=-22 entries=0 ");
    args(&f, &[("flags", Some("IORING_SETUP_SQPOLL")), ("evt.rawarg.flags", Some("2"))]);
    args(&f, &[("sq_thread_idle", Some("250")), ("sq_entries", Some("0"))]);
}

#[test]
fn injection_syscalls_no_rule_needs_are_not_attached() {
    if !require_root("injection_syscalls_no_rule_needs_are_not_attached") {
        return;
    }
    let dir = format!("/tmp/{}", nonce());
    let mut fds = Vec::new();
    let (out, x) = run(EXEC_ONLY, &dir, false, |x| fds = workload(&dir, x));
    close_all(fds);
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(x.get("readv_self"), 16, "the workload ran");
    assert_eq!(out.kernel("sys_exit", "emitted"), 0, "sys records emitted although no rule needs them");
    for p in [
        "process_vm_readv_enter",
        "process_vm_writev_exit",
        "open_by_handle_at_enter",
        "io_uring_setup_exit",
        "kill_enter",
        "chroot_exit",
    ] {
        assert!(out.stderr.iter().any(|l| l.contains("probe not attached: no rule needs it") && l.contains(p)), "{p}");
    }
}
