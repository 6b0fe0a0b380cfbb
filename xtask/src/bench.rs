//! `cargo xtask bench`: measures Lanner side by side with a no-agent baseline
//! in one run and prints one Markdown table (also written to
//! docs/benchmarks.md). Every figure is a ratio or a rate measured here:
//!
//! - syscall loops (open+close, fork+exec of /bin/true, connect to a closed
//!   port) without vs with the agent and its default rules, rounds interleaved;
//! - kernel cost per program run from `bpf_stats` (ns), under load and idle;
//! - the highest paced open rate delivered with zero ring-buffer drops, and the
//!   drops counted exactly above it;
//! - agent RSS idle and under load;
//! - rule matching and alert latency, from their own harnesses.
use std::{
    collections::BTreeMap,
    ffi::CString,
    io::{BufRead, BufReader},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use anyhow::{bail, Context as _, Result};

pub struct Agent {
    child: Child,
    stderr: std::thread::JoinHandle<Vec<String>>,
}

impl Agent {
    pub fn start(bin: &Path, args: &[&str]) -> Result<Agent> {
        let mut child = Command::new(bin)
            .arg("run")
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .context("starting lanner")?;
        let err = child.stderr.take().expect("stderr");
        let (tx, rx) = std::sync::mpsc::channel();
        let stderr = std::thread::spawn(move || {
            let mut lines = Vec::new();
            for l in BufReader::new(err).lines().map_while(Result::ok) {
                let _ = tx.send(l.clone());
                lines.push(l);
            }
            lines
        });
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            match rx.recv_timeout(Duration::from_millis(100)) {
                Ok(l) if l.contains("lanner ready") => break,
                Ok(_) | Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
                Err(_) => bail!("lanner exited before it was ready"),
            }
            if Instant::now() > deadline {
                bail!("lanner not ready after 60 s");
            }
        }
        Ok(Agent { child, stderr })
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Stop with SIGINT; return the final counters JSON line.
    pub fn stop(mut self) -> Result<String> {
        unsafe { libc::kill(self.child.id() as i32, libc::SIGINT) };
        self.child.wait()?;
        let lines = self.stderr.join().expect("stderr thread");
        lines.into_iter().find(|l| l.starts_with("{\"final_counters\"")).context("no final counters from lanner")
    }
}

fn rss_kib(pid: u32, key: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix(key))
                .map(|v| v.trim().trim_end_matches(" kB").trim().parse().unwrap_or(0))
        })
        .unwrap_or(0)
}

/// A json number at a dotted path, from a final-counters line.
fn json_u64(json: &str, path: &[&str]) -> u64 {
    // Tiny ad-hoc extraction to keep xtask free of serde_json.
    let mut s = json;
    for k in path {
        let needle = format!("\"{k}\":");
        match s.find(&needle) {
            Some(i) => s = &s[i + needle.len()..],
            None => return 0,
        }
    }
    s.chars().take_while(|c| c.is_ascii_digit()).collect::<String>().parse().unwrap_or(0)
}

pub mod load {
    //! The syscall-heavy loops.
    use super::*;

    pub fn open_close(n: u64, path: &CString) -> Duration {
        let t = Instant::now();
        for _ in 0..n {
            let fd = unsafe { libc::openat(libc::AT_FDCWD, path.as_ptr(), libc::O_RDONLY) };
            unsafe { libc::close(fd) };
        }
        t.elapsed()
    }

    pub fn exec_true(n: u64) -> Duration {
        let t = Instant::now();
        for _ in 0..n {
            let _ = Command::new("/bin/true").status();
        }
        t.elapsed()
    }

    pub fn connect_closed(n: u64, port: u16) -> Duration {
        let addr = libc::sockaddr_in {
            sin_family: libc::AF_INET as u16,
            sin_port: port.to_be(),
            sin_addr: libc::in_addr { s_addr: u32::from_ne_bytes([127, 0, 0, 1]) },
            sin_zero: [0; 8],
        };
        let t = Instant::now();
        for _ in 0..n {
            unsafe {
                let s = libc::socket(libc::AF_INET, libc::SOCK_STREAM, 0);
                libc::connect(s, &addr as *const _ as *const libc::sockaddr, std::mem::size_of_val(&addr) as u32);
                libc::close(s);
            }
        }
        t.elapsed()
    }

    /// Open+close paced at `rate`/s for `secs`; returns how many were done.
    pub fn paced_opens(rate: u64, secs: f64, path: &CString) -> u64 {
        let start = Instant::now();
        let total = (rate as f64 * secs) as u64;
        let batch = (rate / 1000).max(1);
        let mut done = 0;
        while done < total {
            for _ in 0..batch.min(total - done) {
                let fd = unsafe { libc::openat(libc::AT_FDCWD, path.as_ptr(), libc::O_RDONLY) };
                unsafe { libc::close(fd) };
            }
            done += batch.min(total - done);
            let due = Duration::from_secs_f64(done as f64 / rate as f64);
            let el = start.elapsed();
            if due > el {
                std::thread::sleep(due - el);
            }
        }
        done
    }
}

/// Sum of (run_time_ns, run_cnt) per Lanner program name.
fn bpf_stats() -> BTreeMap<String, (u64, u64)> {
    let mut m = BTreeMap::new();
    for p in aya::programs::loaded_programs().flatten() {
        let Some(name) = p.name_as_str() else {
            continue;
        };
        let e = m.entry(name.to_string()).or_insert((0, 0));
        e.0 += p.run_time().as_nanos() as u64;
        e.1 += p.run_count();
    }
    m
}

fn stats_delta(a: &BTreeMap<String, (u64, u64)>, b: &BTreeMap<String, (u64, u64)>, names: &[&str]) -> (u64, u64) {
    let mut t = (0, 0);
    for n in names {
        let x = a.get(*n).copied().unwrap_or_default();
        let y = b.get(*n).copied().unwrap_or_default();
        t.0 += y.0.saturating_sub(x.0);
        t.1 += y.1.saturating_sub(x.1);
    }
    t
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

pub struct Report {
    pub rows: Vec<[String; 4]>,
}

impl Report {
    fn row(
        &mut self,
        what: impl Into<String>,
        value: impl Into<String>,
        target: impl Into<String>,
        verdict: impl Into<String>,
    ) {
        self.rows.push([what.into(), value.into(), target.into(), verdict.into()]);
    }

    pub fn markdown(&self) -> String {
        let mut s = String::from("| measurement | result | target | verdict |\n|---|---|---|---|\n");
        for r in &self.rows {
            s.push_str(&format!("| {} | {} | {} | {} |\n", r[0], r[1], r[2], r[3]));
        }
        s
    }
}

fn verdict(ok: bool, miss: String) -> String {
    if ok {
        "met".into()
    } else {
        format!("missed: {miss}")
    }
}

pub fn run(bin: &Path, root: &Path, quick: bool) -> Result<Report> {
    let mut rep = Report { rows: Vec::new() };
    let scale = if quick { 10 } else { 1 };
    let n_open = 400_000 / scale;
    let n_exec = 4_000 / scale;
    let n_conn = 100_000 / scale;
    let tmp = std::env::temp_dir().join(format!("lanner-bench-{}", std::process::id()));
    std::fs::write(&tmp, b"x")?;
    let path = CString::new(tmp.to_string_lossy().as_bytes())?;
    let closed = std::net::TcpListener::bind("127.0.0.1:0")?;
    let port = closed.local_addr()?.port();
    drop(closed);

    let _ = std::fs::write("/proc/sys/kernel/bpf_stats_enabled", "1");
    let rounds = 3;
    let (mut base, mut with) = (BTreeMap::<&str, Vec<f64>>::new(), BTreeMap::<&str, Vec<f64>>::new());
    let mut ns_per_run: BTreeMap<&str, Vec<f64>> = BTreeMap::new();
    let mut rss_idle = 0;
    let mut anon_idle = 0;
    let mut rss_load = 0;
    for round in 0..rounds {
        eprintln!("bench: round {}/{rounds}: baseline", round + 1);
        base.entry("open").or_default().push(load::open_close(n_open, &path).as_secs_f64());
        base.entry("exec").or_default().push(load::exec_true(n_exec).as_secs_f64());
        base.entry("connect").or_default().push(load::connect_closed(n_conn, port).as_secs_f64());
        eprintln!("bench: round {}/{rounds}: with the agent", round + 1);
        let agent = Agent::start(bin, &[])?;
        std::thread::sleep(Duration::from_secs(1));
        let idle0 = bpf_stats();
        std::thread::sleep(Duration::from_secs(2));
        let idle1 = bpf_stats();
        rss_idle = rss_idle.max(rss_kib(agent.pid(), "VmRSS:"));
        anon_idle = anon_idle.max(rss_kib(agent.pid(), "RssAnon:"));
        let all: Vec<String> = idle1.keys().cloned().collect();
        let all_ref: Vec<&str> = all.iter().map(|s| s.as_str()).collect();
        let (t, c) = stats_delta(&idle0, &idle1, &all_ref);
        if c > 0 {
            ns_per_run.entry("idle (all programs)").or_default().push(t as f64 / c as f64);
        }
        let s0 = bpf_stats();
        with.entry("open").or_default().push(load::open_close(n_open, &path).as_secs_f64());
        let s1 = bpf_stats();
        rss_load = rss_load.max(rss_kib(agent.pid(), "VmHWM:"));
        with.entry("exec").or_default().push(load::exec_true(n_exec).as_secs_f64());
        let s2 = bpf_stats();
        with.entry("connect").or_default().push(load::connect_closed(n_conn, port).as_secs_f64());
        let s3 = bpf_stats();
        for (label, a, b, names) in [
            ("openat enter+exit", &s0, &s1, &["openat_enter", "openat_exit"][..]),
            ("execve enter+exit + sched_exec", &s1, &s2, &["execve_enter", "execve_exit", "sched_exec"][..]),
            ("connect enter+exit", &s2, &s3, &["connect_enter", "connect_exit"][..]),
        ] {
            let (t, c) = stats_delta(a, b, names);
            if c > 0 {
                ns_per_run.entry(label).or_default().push(t as f64 / c as f64);
            }
        }
        agent.stop()?;
    }
    for (w, target) in [("open", 5.0), ("exec", 3.0), ("connect", 5.0)] {
        let b = median(base[w].clone());
        let a = median(with[w].clone());
        let pct = (a / b - 1.0) * 100.0;
        let n = match w {
            "open" => n_open,
            "exec" => n_exec,
            _ => n_conn,
        };
        rep.row(
            format!("{w} loop ({n} ops): slowdown with agent + default rules"),
            format!("{pct:+.1}% ({:.2} s → {:.2} s, median of {rounds})", b, a),
            format!("≤ {target}%"),
            verdict(pct <= target, format!("by {:.1} points", pct - target)),
        );
    }
    for (label, v) in &ns_per_run {
        let m = median(v.clone());
        rep.row(
            format!("kernel ns per program run: {label}"),
            format!("{m:.0} ns"),
            "≤ 1000 ns",
            verdict(m <= 1000.0, format!("by {:.0} ns", m - 1000.0)),
        );
    }

    // Highest paced open rate with zero drops (agent restarted per step).
    let mut best = 0u64;
    let mut over: Option<(u64, u64, u64, u64)> = None;
    for rate in [100_000u64, 200_000, 300_000, 400_000, 600_000] {
        let agent = Agent::start(bin, &[])?;
        let t = Instant::now();
        let done = load::paced_opens(rate, if quick { 0.5 } else { 2.0 }, &path);
        let achieved = done as f64 / t.elapsed().as_secs_f64();
        rss_load = rss_load.max(rss_kib(agent.pid(), "VmHWM:"));
        let fc = agent.stop()?;
        let drops = json_u64(&fc, &["ringbuf_drop_total"]);
        let emitted = json_u64(&fc, &["openat_exit", "emitted"]);
        eprintln!("bench: paced {rate}/s: achieved {achieved:.0}/s, emitted {emitted}, drops {drops}");
        if drops == 0 {
            best = best.max(achieved as u64);
        } else if over.is_none() {
            over = Some((rate, achieved as u64, emitted, drops));
        }
        if achieved < rate as f64 * 0.8 {
            break; // the generator itself is saturated
        }
    }
    rep.row(
        "max sustained open rate with 0 drops (2 cores, generator included)",
        format!("{} K events/s", best / 1000),
        "≥ 300 K/s",
        verdict(best >= 300_000, format!("by {} K/s", (300_000u64.saturating_sub(best)) / 1000)),
    );
    if let Some((rate, ach, em, dr)) = over {
        rep.row(
            format!("above it: paced {} K/s", rate / 1000),
            format!("achieved {} K/s, {em} delivered, {dr} drops counted", ach / 1000),
            "drops counted exactly",
            "see e2e burst test",
        );
    }
    rep.row(
        "agent RSS idle (of which heap/anon; the rest is mostly the 16 MiB ring buffer, mapped twice)",
        format!("{:.1} MiB ({:.1} MiB anon)", rss_idle as f64 / 1024.0, anon_idle as f64 / 1024.0),
        "≤ 64 MiB",
        verdict(rss_idle <= 64 * 1024, format!("by {:.1} MiB", (rss_idle as f64 - 65536.0) / 1024.0)),
    );
    rep.row(
        "agent peak RSS under load",
        format!("{:.1} MiB", rss_load as f64 / 1024.0),
        "≤ 64 MiB",
        verdict(rss_load <= 64 * 1024, format!("by {:.1} MiB", (rss_load as f64 - 65536.0) / 1024.0)),
    );
    let _ = std::fs::remove_file(&tmp);
    let _ = root;
    Ok(rep)
}

pub fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("model name"))
                .map(|v| v.trim_start_matches([' ', '\t', ':']).to_string())
        })
        .unwrap_or_default();
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0);
    let mem = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|s| s.lines().next().map(|l| l.to_string()))
        .unwrap_or_default();
    format!(
        "{cores} cores ({cpu}), {}, kernel {}",
        mem.split_whitespace().skip(1).take(2).collect::<Vec<_>>().join(" "),
        kernel.trim()
    )
}

pub fn docs_path(root: &Path) -> PathBuf {
    root.join("docs/benchmarks.md")
}
