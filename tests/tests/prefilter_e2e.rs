//! Privileged end-to-end test of the in-kernel pre-filter: the same workload
//! runs under an agent with the rule-derived filter on and one with
//! `--no-prefilter`; both must raise exactly the same alerts, and the filter
//! must really drop the opens and connects no rule can match.
//!
//! The workload covers each way an open rule names its paths (prefix, glob,
//! suffix, file name, writes, flags), the paths the kernel cannot judge by
//! their bytes (relative, `..`), and noise that only the filter removes. Rules
//! over the newer syscall types (dup2, mount, chown, creat, bpf, accept) are added
//! to the default pack, and syscalls no rule needs (prctl, capset, listen) are noise
//! the filter must drop, as are dup2s onto a descriptor no rule looks at and
//! sockets of a family no rule names and unshare calls that create no namespace
//! a rule looks for.
use std::{
    collections::BTreeMap,
    path::Path,
    process::{Command, Stdio},
};

use lanner_tests::{nonce, require_root, Agent, Keep, Stopped};

const NOISE: usize = 2_000;
/// prctl calls no rule needs.
const NOISE_SYS: u64 = 300;
/// dup2 calls of a socket onto a high fd: the redirect rules want 0, 1 or 2 only.
const NOISE_DUPS: u64 = 300;
/// AF_INET sockets: the socket rules name AF_PACKET only.
const NOISE_SOCKETS: u64 = 300;
/// unshare(0) and unshare(CLONE_FS): no new namespace, which is what the rules want;
/// many, so that other processes' dups and sockets filtered in the same window
/// cannot make up for them.
const NOISE_UNSHARES: u64 = 10_000;

/// Rules over the newer syscall types, beside the default pack; `NONCE` is the nonce.
const SYS_RULES: &str = r#"
- rule: prefilter redirect
  desc: a socket dup'ed onto stdin/stdout
  condition: evt.type in (dup, dup2, dup3) and evt.rawres in (0, 1, 2) and fd.type in ("ipv4", "ipv6") and proc.ppid = PID
  output: "NONCE redirect %evt.type %evt.rawres"
  priority: WARNING
- rule: prefilter mount
  desc: mounts below the test directory
  condition: evt.type in (mount, umount2) and (evt.arg.dir contains NONCE or evt.arg.name contains NONCE)
  output: "NONCE mount %evt.type"
  priority: WARNING
- rule: prefilter chown and creat
  desc: ownership changes and creat below the test directory
  condition: (evt.type in (chown, fchownat) and (evt.arg.path contains NONCE or evt.arg.pathname contains NONCE)) or (evt.type = creat and fd.name contains NONCE)
  output: "NONCE own %evt.type"
  priority: WARNING
- rule: prefilter bpf
  desc: program loads of the test process
  condition: evt.type = bpf and evt.arg.cmd = BPF_PROG_LOAD and proc.pid = PID
  output: "NONCE bpf %evt.rawres"
  priority: WARNING
- rule: prefilter accept
  desc: accepted connections of the test process
  condition: evt.type in (accept, accept4) and fd.typechar = 4 and proc.pid = PID
  output: "NONCE accept"
  priority: WARNING
- rule: prefilter unshare
  desc: a new UTS namespace of the test process
  condition: evt.type = unshare and evt.arg.flags contains CLONE_NEWUTS and proc.pid = PID
  output: "NONCE unshare %evt.arg.flags"
  priority: WARNING
- rule: prefilter packet socket
  desc: link-layer sockets of the test process
  condition: evt.type = socket and evt.arg.domain = AF_PACKET and proc.pid = PID
  output: "NONCE packet %evt.arg.type"
  priority: WARNING
"#;

/// The newer syscalls: each once, plus prctl noise no rule needs.
fn sys_workload(dir: &Path) {
    let c = |s: &str| std::ffi::CString::new(s).unwrap();
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let client = std::net::TcpStream::connect(l.local_addr().unwrap()).unwrap();
    drop(l.accept().unwrap());
    let sock = std::os::fd::AsRawFd::as_raw_fd(&client);
    let child = unsafe { libc::fork() };
    if child == 0 {
        unsafe { libc::_exit(if libc::dup2(sock, 0) == 0 { 0 } else { 1 }) };
    }
    let mut status = 0;
    unsafe { libc::waitpid(child, &mut status, 0) };
    assert_eq!(status, 0, "dup2 child");
    let mnt = dir.join("mnt");
    std::fs::create_dir_all(&mnt).unwrap();
    let m = c(mnt.to_str().unwrap());
    let (dev, fstype) = (c("none"), c("tmpfs"));
    let r = unsafe { libc::mount(dev.as_ptr(), m.as_ptr(), fstype.as_ptr(), 0, std::ptr::null()) };
    assert_eq!(r, 0, "mount tmpfs");
    assert_eq!(unsafe { libc::umount2(m.as_ptr(), libc::MNT_DETACH) }, 0);
    let owned = c(dir.join("owned").to_str().unwrap());
    let fd = unsafe { libc::creat(owned.as_ptr(), 0o600) };
    assert!(fd >= 0);
    unsafe { libc::close(fd) };
    assert_eq!(unsafe { libc::chown(owned.as_ptr(), 1000, 1000) }, 0);
    // BPF_PROG_LOAD with no instructions: E2BIG, still a program-load attempt.
    let attr = [0u8; 128];
    let r = unsafe { libc::syscall(libc::SYS_bpf, 5, attr.as_ptr(), attr.len()) };
    assert_eq!(r, -1);
    for _ in 0..NOISE_SYS {
        unsafe { libc::prctl(libc::PR_GET_DUMPABLE, 0, 0, 0, 0) };
    }
    for _ in 0..NOISE_DUPS {
        assert_eq!(unsafe { libc::dup2(sock, 150) }, 150);
    }
    unsafe { libc::close(150) };
    let packet = unsafe { libc::socket(libc::AF_PACKET, libc::SOCK_RAW, 0x0300) };
    assert!(packet >= 0, "AF_PACKET socket (root)");
    unsafe { libc::close(packet) };
    for _ in 0..NOISE_SOCKETS {
        let s = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM, 0) };
        assert!(s >= 0);
        unsafe { libc::close(s) };
    }
    for i in 0..NOISE_UNSHARES {
        let flags = if i % 2 == 0 { 0 } else { libc::CLONE_FS };
        assert_eq!(unsafe { libc::unshare(flags) }, 0);
    }
    // A new UTS namespace for this thread only (the test's own thread, gone
    // when the test ends): the one unshare a rule wants.
    assert_eq!(unsafe { libc::unshare(libc::CLONE_NEWUTS) }, 0, "unshare(CLONE_NEWUTS) as root");
}
const NOISE_CONNECTS: u64 = 200;

/// Every workload command carries the nonce in its command line (a trailing
/// operand that fails to open) or its path, so its alerts can be told apart
/// from whatever else the machine runs.
fn workload(n: &str, dir: &Path) {
    let miss = format!("/nonexistent/{n}");
    let run = |cmd: &mut Command| {
        let _ = cmd.stdout(Stdio::null()).stderr(Stdio::null()).status().expect("spawn");
    };
    // Prefixes: a sensitive file, read directly, through `..`, and relatively.
    run(Command::new("/bin/cat").args(["/etc/shadow", &miss]));
    run(Command::new("/bin/cat").args(["/tmp/../etc//shadow", &miss]));
    // (A relative path is resolved from /proc/PID/cwd in userspace, so the
    // reader must outlive that lookup: a short-lived `cat` could race it.)
    let script = "import sys, time; open('shadow').read(); time.sleep(0.5)";
    run(Command::new("python3").args(["-c", script, &miss]).current_dir("/etc"));
    // A glob: another process's environment.
    let mut child = Command::new("/bin/sleep").arg("30").spawn().expect("sleep");
    run(Command::new("/bin/cat").args([&format!("/proc/{}/environ", child.id()), &miss]));
    let _ = child.kill();
    let _ = child.wait();
    // Suffixes: an SSH key by file name, cloud credentials by path suffix.
    run(Command::new("/bin/cat").args([dir.join(".ssh/id_rsa").to_str().unwrap(), &miss]));
    run(Command::new("/bin/cat").args([dir.join(".aws/credentials").to_str().unwrap(), &miss]));
    // Writes: below /etc, and a log truncated by the shell's `>`.
    let etc = format!("/etc/lanner-prefilter-{n}");
    run(Command::new("/usr/bin/touch").arg(&etc));
    let _ = std::fs::remove_file(&etc);
    let log = format!("/var/log/lanner-prefilter-{n}.log");
    run(Command::new("/bin/sh").args(["-c", &format!(": > {log}")]));
    let _ = std::fs::remove_file(&log);
    // A failed open of a sensitive file: no rule alerts on it either way.
    run(Command::new("/bin/cat").args([&format!("/etc/shadow-{n}-missing"), &miss]));
    // Connect noise no rule covers: loopback, refused.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    for _ in 0..NOISE_CONNECTS {
        assert!(std::net::TcpStream::connect(("127.0.0.1", port)).is_err());
    }
    // Noise no rule covers: opens of a temporary file.
    let noise = dir.join("noise");
    std::fs::write(&noise, b"x").unwrap();
    let c = std::ffi::CString::new(noise.to_str().unwrap()).unwrap();
    for _ in 0..NOISE {
        let fd = unsafe { libc::open(c.as_ptr(), libc::O_RDONLY) };
        assert!(fd >= 0);
        unsafe { libc::close(fd) };
    }
}

fn fixture_dir(n: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("lanner-prefilter-{n}"));
    for sub in [".ssh", ".aws"] {
        std::fs::create_dir_all(dir.join(sub)).unwrap();
    }
    std::fs::write(dir.join(".ssh/id_rsa"), b"key").unwrap();
    std::fs::write(dir.join(".aws/credentials"), b"[default]").unwrap();
    dir
}

/// (rule, file) → count of the alerts this run's workload raised.
fn our_alerts(out: &Stopped, n: &str) -> BTreeMap<(String, String), usize> {
    let mut m = BTreeMap::new();
    for k in out
        .events
        .iter()
        .filter(|e| e.get("rule").is_some() && e["output"].as_str().is_some_and(|o| o.contains(n)))
        .map(|e| {
            let mut file = e["output_fields"]["fd.name"].as_str().unwrap_or("").replace(n, "N");
            if let Some(rest) = file.strip_prefix("/proc/") {
                file = format!("/proc/P/{}", rest.split_once('/').map_or("", |(_, r)| r));
            }
            (e["rule"].as_str().unwrap().to_string(), file)
        })
    {
        *m.entry(k).or_insert(0) += 1;
    }
    m
}

fn run_once(flags: &[&str]) -> (BTreeMap<(String, String), usize>, Stopped) {
    let n = nonce();
    let dir = fixture_dir(&n);
    let rules = dir.join("rules");
    std::fs::create_dir_all(&rules).unwrap();
    let sys_rules = SYS_RULES.replace("PID", &std::process::id().to_string()).replace("NONCE", &n);
    std::fs::write(rules.join("sys.yaml"), sys_rules).unwrap();
    let default = concat!(env!("CARGO_MANIFEST_DIR"), "/../rules/default");
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let metrics = format!("127.0.0.1:{port}");
    let mut args = vec!["--no-k8s", "--metrics-addr", &metrics, "--rules", default, "--rules", rules.to_str().unwrap()];
    args.extend_from_slice(flags);
    let agent = Agent::start(&args, Keep::All);
    workload(&n, &dir);
    sys_workload(&dir);
    let out = agent.stop();
    let _ = std::fs::remove_dir_all(&dir);
    out.assert_accounting();
    (our_alerts(&out, &n), out)
}

#[test]
fn same_alerts_with_and_without_the_prefilter() {
    if !require_root("same_alerts_with_and_without_the_prefilter") {
        return;
    }
    let (on, out_on) = run_once(&[]);
    let (off, out_off) = run_once(&["--no-prefilter"]);
    // /etc/shadow three times: direct, through `..` and `//`, and relative.
    for (rule, file, count) in [
        ("Read sensitive file untrusted", "/etc/shadow", 3),
        ("Read process environment or memory", "/proc/P/environ", 1),
        ("Write below etc", "/etc/lanner-prefilter-N", 1),
        ("Clear log files", "/var/log/lanner-prefilter-N.log", 1),
    ] {
        let got = off.get(&(rule.to_string(), file.to_string())).copied().unwrap_or(0);
        assert_eq!(got, count, "without the pre-filter, {rule} on {file}; got {off:#?}");
    }
    for rule in ["Read SSH private key", "Read cloud or cluster credentials with file utility"] {
        let hits = off.iter().filter(|((r, f), _)| r == rule && f.contains("lanner-prefilter-N")).count();
        assert_eq!(hits, 1, "{rule}: {off:#?}");
    }
    // The newer syscall types: each rule fires on the real action.
    for (rule, count) in [
        ("prefilter redirect", 1),
        ("prefilter mount", 2),
        ("prefilter chown and creat", 2),
        ("prefilter bpf", 1),
        ("prefilter accept", 1),
        ("prefilter packet socket", 1),
        ("prefilter unshare", 1),
    ] {
        let got: usize = off.iter().filter(|((r, _), _)| r == rule).map(|(_, c)| c).sum();
        assert_eq!(got, count, "without the pre-filter, {rule}; got {off:#?}");
    }
    assert_eq!(on, off, "the pre-filter changed the alerts (left: on, right: off)");
    // prctl (no rule needs it) stays in the kernel with the filter: its programs are not
    // even attached (so no sys program runs that a rule does not need: nothing is
    // filtered at entry); without the filter every call is delivered.
    let skipped = |o: &Stopped| {
        o.stderr.iter().any(|l| l.contains("probe not attached: no rule needs it") && l.contains("prctl_enter"))
    };
    assert!(skipped(&out_on) && !skipped(&out_off), "prctl attached with the filter, or skipped without it");
    assert_eq!(out_on.kernel("sys_enter", "filtered"), 0, "a sys program no rule needs ran");
    // Without the filter the prctl calls were delivered. (Comparing the two runs' sys
    // totals is not a test: other processes' syscalls in either window move them.)
    let sys = |o: &Stopped| o.final_counters["userspace"]["sys"].as_u64().unwrap();
    assert!(sys(&out_off) >= NOISE_SYS, "sys records without the filter: {} < {NOISE_SYS} prctl calls", sys(&out_off));
    assert_eq!(out_off.kernel("sys_enter", "filtered") + out_off.kernel("file_enter", "filtered"), 0);

    // The filter really worked: the noise and the failed open were dropped in
    // the kernel with it, and delivered without it.
    // The agent's own opens (its /proc reads) are skipped first, by pid: on
    // 6.1+ the exit-only programs compare a plain load of the task's tgid.
    let own = |o: &Stopped| o.kernel("openat_enter", "own") + o.kernel("openat_exit", "own");
    assert!(own(&out_on) > 0 && own(&out_off) > 0, "own opens skipped: {} and {}", own(&out_on), own(&out_off));
    let filtered_on = out_on.kernel("openat_enter", "filtered") + out_on.kernel("openat_exit", "filtered");
    let filtered_off = out_off.kernel("openat_enter", "filtered") + out_off.kernel("openat_exit", "filtered");
    assert!(filtered_on >= NOISE as u64, "only {filtered_on} opens filtered with the pre-filter on");
    assert_eq!(filtered_off, 0, "opens filtered with --no-prefilter");
    let conn_on = out_on.kernel("connect_enter", "filtered") + out_on.kernel("connect_exit", "filtered");
    let conn_off = out_off.kernel("connect_enter", "filtered") + out_off.kernel("connect_exit", "filtered");
    assert!(conn_on >= NOISE_CONNECTS, "only {conn_on} loopback connects filtered with the pre-filter on");
    assert_eq!(conn_off, 0, "connects filtered with --no-prefilter");
    // The dup2s onto fd 150 were dropped at exit, before the fd was read, and
    // the AF_INET sockets and namespace-less unshares right after their
    // arguments; without the filter none were.
    let sys_on = out_on.kernel("sys_exit", "filtered");
    let want = NOISE_DUPS + NOISE_SOCKETS + NOISE_UNSHARES;
    assert!(
        sys_on >= want,
        "only {sys_on} dup results, sockets and unshares filtered with the pre-filter on (< {want})"
    );
    assert_eq!(out_off.kernel("sys_exit", "filtered"), 0, "sys calls filtered with --no-prefilter");
    let opens = |o: &Stopped| o.final_counters["userspace"]["open"].as_u64().unwrap();
    assert!(
        opens(&out_on) + NOISE as u64 <= opens(&out_off) + 200,
        "with the pre-filter {} opens reached userspace, without {}",
        opens(&out_on),
        opens(&out_off)
    );
}
