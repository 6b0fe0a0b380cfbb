//! `lanner triage` stops promptly on SIGTERM as PID 1 of its own PID namespace
//! (how it runs in its container: the kernel drops signals PID 1 has no handler
//! for, and Kubernetes waits out the grace period before SIGKILL).
//!
//! The worker runs under `unshare --fork --pid --mount-proc` and, when the
//! signal arrives, holds the connections a real pod sees: an agent connected
//! with its Hello done, a peer that connected and never said Hello, and an HTTP
//! client that sent half a request to `/metrics` (axum's graceful shutdown would
//! wait for it forever). It must exit with status 0 within a few seconds and tell
//! the connected agent it is shutting down.
use std::{
    io::Write,
    os::unix::net::UnixStream,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use lanner_tests::{lanner_bin, nonce, require_root, triage};

/// Well inside Kubernetes' default 30 s grace; the worker's own bound is 10 s.
const PROMPT: Duration = Duration::from_secs(5);

struct Init {
    unshare: Child,
    /// Host pid of `lanner triage` (PID 1 inside its namespace).
    pid: i32,
}

impl Drop for Init {
    fn drop(&mut self) {
        let _ = self.unshare.kill();
        let _ = self.unshare.wait();
    }
}

fn children(pid: u32) -> Vec<i32> {
    std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children"))
        .unwrap_or_default()
        .split_whitespace()
        .filter_map(|p| p.parse().ok())
        .collect()
}

/// `lanner triage` as PID 1 of a new PID namespace, serving on `dir/triage.sock`.
fn start_as_init(dir: &Path, metrics_port: u16) -> Init {
    std::fs::write(dir.join("token"), "tok-shutdown\n").unwrap();
    let unshare = Command::new("unshare")
        .args(["--fork", "--pid", "--mount-proc", "--kill-child"])
        .arg(lanner_bin())
        .arg("triage")
        .arg(format!("--listen=unix://{}", dir.join("triage.sock").display()))
        .arg(format!("--token-file={}", dir.join("token").display()))
        .arg(format!("--metrics-addr=127.0.0.1:{metrics_port}"))
        .arg(format!("--audit-file={}", dir.join("audit.jsonl").display()))
        .arg("--no-kube")
        .env_remove("LANNER_LLM_URL")
        .env("LANNER_LOG", "info")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(dir.join("worker.log")).unwrap())
        .spawn()
        .expect("spawn unshare (util-linux)");
    let mut init = Init { unshare, pid: 0 };
    let t = Instant::now();
    while init.pid == 0 || !dir.join("triage.sock").exists() {
        if let Ok(Some(st)) = init.unshare.try_wait() {
            panic!("worker exited ({st}) before listening: {}", log(dir));
        }
        assert!(t.elapsed() < Duration::from_secs(30), "worker not listening after 30 s: {}", log(dir));
        if init.pid == 0 {
            init.pid = children(init.unshare.id()).first().copied().unwrap_or(0);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    // It really is the namespace's init: its pid there (last NSpid field) is 1.
    let status = std::fs::read_to_string(format!("/proc/{}/status", init.pid)).unwrap();
    let nspid = status.lines().find(|l| l.starts_with("NSpid:")).expect("NSpid line");
    assert_eq!(nspid.split_whitespace().last(), Some("1"), "not PID 1 in its namespace: {nspid}");
    let exe = std::fs::read_link(format!("/proc/{}/exe", init.pid)).unwrap();
    assert_eq!(exe, lanner_bin().canonicalize().unwrap(), "PID 1 is not lanner");
    init
}

fn log(dir: &Path) -> String {
    std::fs::read_to_string(dir.join("worker.log")).unwrap_or_default()
}

fn tmpdir() -> PathBuf {
    let d = std::env::temp_dir().join(format!("lanner-triage-shutdown-{}", nonce()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn sigterm_as_pid1_with_open_connections_exits_promptly() {
    if !require_root("sigterm_as_pid1_with_open_connections_exits_promptly") {
        return;
    }
    let dir = tmpdir();
    let port = triage::free_port();
    let mut init = start_as_init(&dir, port);

    // An agent with its Hello done (and one alert acked: the connection is live).
    let mut agent = triage::Client::connect(&dir.join("triage.sock"), "tok-shutdown").expect("handshake");
    let n = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64;
    let uuid = format!("5d0c7e2a-0000-4000-8000-{:012x}", n & 0xffff_ffff_ffff);
    let a = triage::alert("Terminal shell in container", "Notice", "shop", "web-1", "3f2a9c1b7e44", &uuid);
    agent.alert(1, &a);
    // A peer that connected and never says Hello.
    let _silent = UnixStream::connect(dir.join("triage.sock")).unwrap();
    // Half an HTTP request on /metrics, never finished.
    let mut half = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    half.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n").unwrap();
    // A full scrape still answers meanwhile.
    assert!(triage::scrape(&format!("127.0.0.1:{port}")).contains("lanner_triage_"), "no /metrics");
    std::thread::sleep(Duration::from_millis(200));

    let t = Instant::now();
    assert_eq!(unsafe { libc::kill(init.pid, libc::SIGTERM) }, 0, "kill -TERM {}", init.pid);
    let status = loop {
        if let Some(st) = init.unshare.try_wait().unwrap() {
            break st;
        }
        if t.elapsed() > PROMPT * 3 {
            panic!("worker (PID 1) still running {:?} after SIGTERM: {}", t.elapsed(), log(&dir));
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let took = t.elapsed();
    eprintln!("worker (PID 1) exited {status} {took:?} after SIGTERM");
    assert!(took < PROMPT, "worker took {took:?} to exit after SIGTERM (bound {PROMPT:?}): {}", log(&dir));
    assert!(status.success(), "worker exit status {status}: {}", log(&dir));
    // The connected agent was told, so it reconnects elsewhere instead of waiting for acks.
    let bye = agent.recv();
    assert_eq!(bye["Error"]["code"], "shutting_down", "expected a ShuttingDown error frame, got {bye}");
    let l = log(&dir);
    assert!(l.contains("triage worker stopping (SIGTERM)"), "no stop line in the log: {l}");
    let _ = std::fs::remove_dir_all(&dir);
}
