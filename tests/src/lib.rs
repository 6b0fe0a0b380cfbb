//! Harness for Lanner's privileged end-to-end tests: start the real `lanner`
//! binary with its real probes, run workloads, stop it with SIGINT and hand
//! back the events it printed and its final kernel/userspace counters.
//!
//! These tests need root (CI runs as root). Without root they print why and
//! skip; with root they never skip.
use std::{
    io::{BufRead, BufReader},
    path::PathBuf,
    process::{Child, Command, Stdio},
    sync::{mpsc, Mutex, MutexGuard},
    thread::JoinHandle,
    time::{Duration, Instant},
};

use serde_json::Value;

pub mod cgroup;

pub mod kube;
pub mod overlay;
pub mod sysprobe;
pub mod triage;

/// One agent at a time: tests in a binary run on parallel threads.
static AGENT_LOCK: Mutex<()> = Mutex::new(());

/// `true` when privileged tests can run; prints the reason otherwise.
pub fn require_root(test: &str) -> bool {
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("SKIP {test}: needs root to load eBPF programs (CI runs as root)");
        return false;
    }
    true
}

/// Path of the `lanner` binary: `$LANNER_BIN`, else target/{release,debug}.
pub fn lanner_bin() -> PathBuf {
    if let Ok(p) = std::env::var("LANNER_BIN") {
        return PathBuf::from(p);
    }
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let target = std::env::var("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|_| root.join("target"));
    for profile in ["release", "debug"] {
        let p = target.join(profile).join("lanner");
        if p.exists() {
            return p;
        }
    }
    panic!("lanner binary not found under {}: run `cargo build --release -p lanner` first", target.display());
}

/// A unique token to find this test's events among the node's.
pub fn nonce() -> String {
    let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
    format!("lnr{}x{}", std::process::id(), t % 1_000_000_000)
}

pub struct Agent {
    child: Child,
    stdout: Option<JoinHandle<Collected>>,
    stderr: Option<JoinHandle<Vec<String>>>,
    _guard: MutexGuard<'static, ()>,
}

/// A test that panics before `stop()` must not leave its agent running: a
/// leaked agent keeps its probes attached and its metrics port bound, and the
/// next test's agent then fails to start or sees doubled events.
impl Drop for Agent {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

#[derive(Default)]
pub struct Collected {
    /// Lines kept (parsed JSON).
    pub events: Vec<Value>,
    /// Lines that contained the count needle.
    pub needle_count: u64,
    pub total_lines: u64,
}

pub struct Stopped {
    pub events: Vec<Value>,
    pub needle_count: u64,
    pub total_lines: u64,
    pub final_counters: Value,
    pub stderr: Vec<String>,
}

/// What to keep from stdout: all lines, or only count lines containing a needle.
pub enum Keep {
    All,
    Count(String),
}

impl Agent {
    pub fn start(args: &[&str], keep: Keep) -> Agent {
        Agent::start_env(args, keep, &[])
    }

    /// [`Agent::start`] with extra environment variables (`LANNER_SKIP_PROBES`).
    pub fn start_env(args: &[&str], keep: Keep, env: &[(&str, &str)]) -> Agent {
        let guard = AGENT_LOCK.lock().unwrap_or_else(|e| e.into_inner());
        let mut child = Command::new(lanner_bin())
            .arg("run")
            .args(args)
            .envs(env.iter().copied())
            .env("LANNER_LOG", "info")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn lanner");
        let out = child.stdout.take().expect("stdout");
        let err = child.stderr.take().expect("stderr");
        let stdout = std::thread::spawn(move || {
            let mut c = Collected::default();
            for line in BufReader::with_capacity(1 << 20, out).lines() {
                let Ok(line) = line else { break };
                c.total_lines += 1;
                match &keep {
                    Keep::All => {
                        if let Ok(v) = serde_json::from_str::<Value>(&line) {
                            c.events.push(v);
                        }
                    }
                    Keep::Count(n) => {
                        if line.contains(n.as_str()) {
                            c.needle_count += 1;
                        }
                    }
                }
            }
            c
        });
        let (tx, rx) = mpsc::channel::<String>();
        let stderr = std::thread::spawn(move || {
            let mut lines = Vec::new();
            for line in BufReader::new(err).lines() {
                let Ok(line) = line else { break };
                let _ = tx.send(line.clone());
                lines.push(line);
            }
            lines
        });
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut seen = Vec::new();
        loop {
            match rx.recv_timeout(Duration::from_millis(200)) {
                Ok(l) => {
                    let ready = l.contains("lanner ready");
                    seen.push(l);
                    if ready {
                        break;
                    }
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    panic!("lanner exited before it was ready:\n{}", seen.join("\n"))
                }
            }
            if let Ok(Some(st)) = child.try_wait() {
                panic!("lanner exited ({st}) before it was ready:\n{}", seen.join("\n"));
            }
            assert!(Instant::now() < deadline, "lanner not ready after 60 s:\n{}", seen.join("\n"));
        }
        Agent { child, stdout: Some(stdout), stderr: Some(stderr), _guard: guard }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGINT, wait, collect.
    pub fn stop(mut self) -> Stopped {
        // Let the poll timer drain what the workload produced.
        std::thread::sleep(Duration::from_millis(300));
        unsafe { libc::kill(self.child.id() as i32, libc::SIGINT) };
        let status = self.child.wait().expect("wait lanner");
        let c = self.stdout.take().expect("stdout thread").join().expect("stdout thread");
        let stderr = self.stderr.take().expect("stderr thread").join().expect("stderr thread");
        assert!(status.success(), "lanner exited with {status}:\n{}", stderr.join("\n"));
        let final_counters = stderr
            .iter()
            .find_map(|l| serde_json::from_str::<Value>(l).ok().filter(|v| v.get("final_counters").is_some()))
            .map(|v| v["final_counters"].clone())
            .unwrap_or_else(|| panic!("no final_counters line on stderr:\n{}", stderr.join("\n")));
        Stopped { events: c.events, needle_count: c.needle_count, total_lines: c.total_lines, final_counters, stderr }
    }
}

impl Stopped {
    /// Events of one type satisfying a predicate.
    pub fn find<'a>(&'a self, ty: &str, pred: impl Fn(&Value) -> bool + 'a) -> Vec<&'a Value> {
        self.events.iter().filter(|e| e["type"] == ty && pred(e)).collect()
    }

    /// Exactly one matching event, or a panic that shows what was seen.
    pub fn one(&self, ty: &str, what: &str, pred: impl Fn(&Value) -> bool) -> &Value {
        let found: Vec<&Value> = self.events.iter().filter(|e| e["type"] == ty && pred(e)).collect();
        if found.len() != 1 {
            let same: Vec<String> =
                self.events.iter().filter(|e| e["type"] == ty).take(20).map(|e| e.to_string()).collect();
            panic!(
                "expected exactly one {ty} event for {what}, found {}; some {ty} events:\n{}",
                found.len(),
                same.join("\n")
            );
        }
        found[0]
    }

    pub fn kernel(&self, probe: &str, counter: &str) -> u64 {
        self.final_counters["kernel"]["by_probe"][probe][counter].as_u64().unwrap_or(0)
    }

    pub fn ringbuf_drops(&self) -> u64 {
        self.final_counters["ringbuf_drop_total"].as_u64().expect("ringbuf_drop_total")
    }

    /// Every record the kernel counted as emitted reached userspace.
    pub fn assert_accounting(&self) {
        let by_probe = self.final_counters["kernel"]["by_probe"].as_object().expect("by_probe");
        let emitted: u64 = by_probe.values().map(|m| m["emitted"].as_u64().unwrap_or(0)).sum();
        let records = self.final_counters["userspace"]["records"].as_u64().expect("records");
        let errors = self.final_counters["userspace"]["decode_errors"].as_u64().expect("decode_errors");
        assert_eq!(emitted, records, "kernel emitted {emitted} records but userspace read {records}");
        assert_eq!(errors, 0, "decode errors");
    }
}
