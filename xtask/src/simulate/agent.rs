//! The agent under test (`lanner run`, its alerts read from stdout with their read
//! time) and small helpers on alerts and the host, shared by the simulation and
//! `cargo xtask evtgen`.
use super::*;

/// One alert line of `lanner run`, with the wall-clock time it was read.
pub(crate) struct Seen {
    pub(crate) read_ns: i128,
    pub(crate) alert: Value,
}

pub(crate) struct Agent {
    child: Child,
    pub(crate) alerts: Arc<Mutex<Vec<Seen>>>,
    logs: mpsc::Receiver<String>,
    seen_logs: Vec<String>,
}

impl Agent {
    pub(crate) fn start(kube: &Kube, node: &str, extra: &[String]) -> Result<Agent> {
        let mut cmd = Command::new(crate::lanner_bin());
        // No metrics endpoint: the default port may be another test's.
        cmd.args(["run", "--node-name", node, "--metrics-addr", "off"])
            .args(extra)
            .env("KUBECONFIG", &kube.agent)
            .env("LANNER_LOG", "info")
            .env_remove("LANNER_LOG_JSON")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        eprintln!("xtask: {cmd:?}");
        let mut child = cmd.spawn().context("spawn lanner (build it: cargo build --release -p lanner)")?;
        let alerts = Arc::new(Mutex::new(Vec::new()));
        let out = child.stdout.take().expect("stdout");
        let a2 = alerts.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines() {
                let Ok(line) = line else { break };
                let read_ns = now_ns();
                if let Ok(v) = serde_json::from_str::<Value>(&line) {
                    if v.get("rule").is_some() {
                        a2.lock().expect("alerts").push(Seen { read_ns, alert: v });
                    }
                }
            }
        });
        let err = child.stderr.take().expect("stderr");
        let (tx, logs) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(err).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Ok(Agent { child, alerts, logs, seen_logs: Vec::new() })
    }

    pub(crate) fn wait_log(&mut self, needle: &str, timeout: Duration) -> Result<String> {
        if let Some(l) = self.seen_logs.iter().find(|l| l.contains(needle)) {
            return Ok(l.clone());
        }
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            match self.logs.recv_timeout(Duration::from_millis(200)) {
                Ok(l) => {
                    self.seen_logs.push(l.clone());
                    if l.contains(needle) {
                        return Ok(l);
                    }
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    bail!("lanner exited before logging {needle:?}:\n{}", self.seen_logs.join("\n"))
                }
            }
        }
        bail!("no {needle:?} on lanner's stderr within {timeout:?}:\n{}", self.seen_logs.join("\n"))
    }

    pub(crate) fn mark(&self) -> usize {
        self.alerts.lock().expect("alerts").len()
    }

    pub(crate) fn stop(mut self) {
        std::thread::sleep(Duration::from_millis(300));
        interrupt(&mut self.child);
    }
}

/// SIGINT, up to 10 s for a clean exit, then SIGKILL.
pub(crate) fn interrupt(child: &mut Child) {
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = child.kill();
    let _ = child.wait();
}

pub(crate) fn field<'a>(a: &'a Value, k: &str) -> &'a str {
    a.get("output_fields").and_then(|o| o.get(k)).and_then(Value::as_str).unwrap_or("")
}

pub(crate) fn is_pod_alert(a: &Value, pod: &Pod) -> bool {
    field(a, "k8s.pod.name") == pod.name || field(a, "container.id") == &pod.container_id[..12]
}

pub(crate) fn has_tag(a: &Value, tag: &str) -> bool {
    a.get("tags").and_then(Value::as_array).map(|t| t.iter().any(|x| x.as_str() == Some(tag))).unwrap_or(false)
}

pub(crate) fn priority_rank(p: &str) -> u8 {
    match p.to_ascii_lowercase().as_str() {
        "emergency" => 7,
        "alert" => 6,
        "critical" => 5,
        "error" => 4,
        "warning" => 3,
        "notice" => 2,
        "informational" | "info" => 1,
        _ => 0,
    }
}

/// FNV-derived 64-hex id (as the e2e tests' `hex_id`).
pub(crate) fn hex_id(seed: &str) -> String {
    let mut h: u64 = 0xcbf29ce484222325;
    let mut out = String::new();
    for round in 0..4u64 {
        for b in seed.bytes().chain(round.to_le_bytes()) {
            h ^= b as u64;
            h = h.wrapping_mul(0x100000001b3);
        }
        out.push_str(&format!("{h:016x}"));
    }
    out
}

pub(crate) fn cgroup2_root() -> Result<PathBuf> {
    let mi = std::fs::read_to_string("/proc/self/mountinfo")?;
    for l in mi.lines() {
        if let Some((pre, post)) = l.split_once(" - ") {
            if post.starts_with("cgroup2 ") {
                return Ok(PathBuf::from(pre.split_whitespace().nth(4).context("mount point")?));
            }
        }
    }
    bail!("no cgroup2 mount in /proc/self/mountinfo")
}

pub(crate) fn run_quiet(prog: &str, args: &[&str]) -> Result<String> {
    let out = Command::new(prog).args(args).stdin(Stdio::null()).output().with_context(|| format!("spawn {prog}"))?;
    if !out.status.success() {
        bail!("{prog} {}: {}", args.join(" "), String::from_utf8_lossy(&out.stderr).trim());
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}
