//! `lanner run` as the benchmarks drive it, and what they read from it.
//!
//! Every agent gets its own loopback `/metrics` port (another agent, e.g. an
//! end-to-end test running next to the bench, may hold the default 9376) and
//! runs without Kubernetes (`--no-k8s`, no inherited `LANNER_*`/kube
//! environment) unless the caller hands it a kube environment. The kernel
//! counters are read live from `/metrics` (so a measurement window can be cut
//! exactly around a load) and once more from the final counters JSON the agent
//! prints on stderr at SIGINT.
use std::{
    collections::BTreeMap,
    io::{BufRead, BufReader, Read, Write},
    net::{SocketAddr, TcpStream},
    path::Path,
    process::{Child, ChildStdout, Command, Stdio},
    sync::mpsc,
    thread::JoinHandle,
    time::{Duration, Instant},
};

use anyhow::{bail, Context as _, Result};

use super::Rss;

/// How to start the agent.
#[derive(Default)]
pub struct Opts<'a> {
    /// Extra `lanner run` arguments.
    pub args: &'a [&'a str],
    /// Environment for a Kubernetes run; `None`: `--no-k8s`.
    pub kube_env: Option<&'a [(&'a str, &'a Path)]>,
    /// Pipe stdout (the alerts) to the caller instead of discarding it.
    pub stdout: bool,
}

pub struct Agent {
    child: Child,
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
    stderr: Option<JoinHandle<()>>,
    stdout: Option<ChildStdout>,
    metrics: SocketAddr,
}

impl Agent {
    /// `lanner run ARGS --no-k8s`, stdout discarded.
    pub fn start(bin: &Path, args: &[&str]) -> Result<Agent> {
        Self::start_with(bin, Opts { args, ..Opts::default() })
    }

    pub fn start_with(bin: &Path, o: Opts) -> Result<Agent> {
        Self::start_env(bin, o, &[])
    }

    /// [`Agent::start_with`] with extra environment (e.g. `LANNER_SKIP_PROBES`),
    /// set after the inherited `LANNER_*` variables are removed.
    pub fn start_env(bin: &Path, o: Opts, env: &[(&str, &str)]) -> Result<Agent> {
        let metrics = free_loopback_addr()?;
        let mut cmd = Command::new(bin);
        cmd.arg("run").args(o.args).arg("--metrics-addr").arg(metrics.to_string());
        for (k, _) in std::env::vars_os() {
            let k = k.to_string_lossy();
            if k.starts_with("LANNER_") || k.starts_with("KUBERNETES_") || k == "KUBECONFIG" || k == "NODE_NAME" {
                cmd.env_remove(&*k);
            }
        }
        match o.kube_env {
            Some(env) => {
                for (k, v) in env {
                    cmd.env(k, v);
                }
            }
            None => {
                cmd.arg("--no-k8s");
            }
        }
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd.env("LANNER_LOG", "info")
            .stdin(Stdio::null())
            .stdout(if o.stdout { Stdio::piped() } else { Stdio::null() })
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().context("starting lanner")?;
        let err = child.stderr.take().expect("stderr");
        let stdout = child.stdout.take();
        let (tx, lines) = mpsc::channel();
        let stderr = std::thread::spawn(move || {
            for l in BufReader::new(err).lines().map_while(Result::ok) {
                if tx.send(l).is_err() {
                    break;
                }
            }
        });
        let mut a = Agent { child, lines, seen: Vec::new(), stderr: Some(stderr), stdout, metrics };
        // The verifier may take tens of seconds on a loaded 2-core machine.
        a.wait_for_log("lanner ready", Duration::from_secs(180))?;
        Ok(a)
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The agent's stdout (once), when started with `stdout: true`.
    pub fn take_stdout(&mut self) -> Option<ChildStdout> {
        self.stdout.take()
    }

    /// The first stderr line containing `needle`, already seen or within `timeout`.
    pub fn wait_for_log(&mut self, needle: &str, timeout: Duration) -> Result<String> {
        self.wait_for_line(|l| l.contains(needle), needle, timeout)
    }

    /// The first stderr line `pred` accepts, already seen or within `timeout`.
    pub fn wait_for_line(&mut self, pred: impl Fn(&str) -> bool, what: &str, timeout: Duration) -> Result<String> {
        if let Some(l) = self.seen.iter().find(|l| pred(l)) {
            return Ok(l.clone());
        }
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left.min(Duration::from_millis(200))) {
                Ok(l) => {
                    self.seen.push(l.clone());
                    if pred(&l) {
                        return Ok(l);
                    }
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    bail!("lanner exited before logging {what:?}:\n{}", self.tail())
                }
            }
            if Instant::now() >= deadline {
                bail!("no {what:?} on lanner's stderr after {timeout:?}:\n{}", self.tail());
            }
        }
    }

    fn tail(&self) -> String {
        let n = self.seen.len().saturating_sub(15);
        self.seen[n..].join("\n")
    }

    /// VmRSS and RssAnon now.
    pub fn rss(&self) -> Rss {
        Rss { rss: status_kib(self.pid(), "VmRSS:"), anon: status_kib(self.pid(), "RssAnon:") }
    }

    /// Peak resident set so far (VmHWM).
    pub fn hwm(&self) -> u64 {
        status_kib(self.pid(), "VmHWM:")
    }

    /// One scrape of the agent's `/metrics`.
    pub fn scrape(&self) -> Result<Metrics> {
        let mut s = TcpStream::connect_timeout(&self.metrics, Duration::from_secs(2))
            .with_context(|| format!("connecting to {}", self.metrics))?;
        s.set_read_timeout(Some(Duration::from_secs(5)))?;
        s.write_all(b"GET /metrics HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n")?;
        let mut body = String::new();
        s.read_to_string(&mut body).context("reading /metrics")?;
        if !body.starts_with("HTTP/1.1 200") {
            bail!("/metrics answered {:?}", body.lines().next().unwrap_or_default());
        }
        let mut m = BTreeMap::new();
        for l in body.lines().filter(|l| l.starts_with("lanner_")) {
            if let Some((k, v)) = l.rsplit_once(' ') {
                if let Ok(v) = v.parse::<f64>() {
                    m.insert(k.to_string(), v);
                }
            }
        }
        Ok(Metrics(m))
    }

    /// Stop with SIGINT; the `final_counters` object the agent prints.
    pub fn stop(mut self) -> Result<serde_json::Value> {
        // `lanner ready` can precede the SIGINT handler's registration.
        std::thread::sleep(Duration::from_millis(300));
        unsafe { libc::kill(self.child.id() as i32, libc::SIGINT) };
        let deadline = Instant::now() + Duration::from_secs(60);
        let status = loop {
            if let Some(st) = self.child.try_wait()? {
                break st;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                bail!("lanner did not stop within 60 s of SIGINT");
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        if let Some(h) = self.stderr.take() {
            let _ = h.join();
        }
        self.seen.extend(self.lines.try_iter());
        if !status.success() {
            bail!("lanner exited with {status}:\n{}", self.tail());
        }
        let line =
            self.seen.iter().find(|l| l.starts_with("{\"final_counters\"")).context("no final counters from lanner")?;
        let mut v: serde_json::Value = serde_json::from_str(line).context("final counters JSON")?;
        Ok(v["final_counters"].take())
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// A free 127.0.0.1 port (bound, then released for the agent).
fn free_loopback_addr() -> Result<SocketAddr> {
    let l = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(l.local_addr()?)
}

/// A `kB` figure of /proc/PID/status.
fn status_kib(pid: u32, key: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix(key))
                .map(|v| v.trim().trim_end_matches(" kB").trim().parse().unwrap_or(0))
        })
        .unwrap_or(0)
}

/// `name{labels}` → value, from one scrape.
pub struct Metrics(BTreeMap<String, f64>);

impl Metrics {
    /// One series by its full name (`lanner_…{labels}` as scraped).
    pub fn get(&self, series: &str) -> Option<f64> {
        self.0.get(series).copied()
    }

    /// A kernel counter (agent-common `Counter::name()`) of one probe.
    pub fn kernel(&self, counter: &str, probe: &str) -> u64 {
        let family = match counter {
            "emitted" => "events",
            "ringbuf_drop" => "ringbuf_drops",
            "stash_miss" => "stash_misses",
            "str_read_fail" => "str_read_failures",
            other => other,
        };
        self.0.get(&format!("lanner_kernel_{family}_total{{probe=\"{probe}\"}}")).copied().unwrap_or(0.0) as u64
    }
}

/// A kernel counter of one probe from a `final_counters` object.
pub fn final_kernel(fc: &serde_json::Value, probe: &str, counter: &str) -> u64 {
    fc["kernel"]["by_probe"][probe][counter].as_u64().unwrap_or(0)
}

/// The open probes' counters, summed over openat enter and exit.
#[derive(Default, Clone, Copy, Debug)]
pub struct OpenCounts {
    /// Records written to the ring buffer.
    pub emitted: u64,
    /// Ring-buffer reservations that failed.
    pub drops: u64,
    /// Enter probes that could not stash the open (lost, but counted).
    pub stash_full: u64,
    /// Discarded in the kernel by the pre-filter (or a disabled kind).
    pub filtered: u64,
}

impl OpenCounts {
    fn from(get: impl Fn(&str, &str) -> u64) -> Self {
        let both = |c: &str| get(c, "openat_enter") + get(c, "openat_exit");
        OpenCounts {
            emitted: both("emitted"),
            drops: both("ringbuf_drop"),
            stash_full: both("stash_full"),
            filtered: both("filtered"),
        }
    }

    pub fn from_metrics(m: &Metrics) -> Self {
        Self::from(|c, p| m.kernel(c, p))
    }

    /// `self - earlier`, counter by counter.
    pub fn since(&self, earlier: &OpenCounts) -> OpenCounts {
        OpenCounts {
            emitted: self.emitted.saturating_sub(earlier.emitted),
            drops: self.drops.saturating_sub(earlier.drops),
            stash_full: self.stash_full.saturating_sub(earlier.stash_full),
            filtered: self.filtered.saturating_sub(earlier.filtered),
        }
    }

    /// Every open the probes accounted for: emitted, or lost and counted.
    pub fn accounted(&self) -> u64 {
        self.emitted + self.drops + self.stash_full
    }
}
