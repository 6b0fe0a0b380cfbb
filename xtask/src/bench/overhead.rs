//! (a) and (b): the same syscall loops without and with `lanner run` (default
//! rules, pre-filter on), rounds interleaved so machine noise hits both sides
//! alike, and the kernel cost per program run from `bpf_stats` over those loops
//! and over an idle window. Also records the agent's idle RSS and its peak
//! under these loads.
use std::{
    collections::{BTreeMap, HashSet},
    ffi::CString,
    path::Path,
    time::Duration,
};

use anyhow::Result;

use super::{agent::Agent, load, median, verdict, Report, Rss};

/// Memory seen by the loops: idle RSS (largest over rounds) and peak VmHWM.
pub struct Mem {
    pub idle: Rss,
    pub peak: u64,
}

type Stats = BTreeMap<String, (u64, u64)>;

/// The ids of the BPF programs process `pid` holds (its fds' `prog_id:`), so
/// another agent running on the machine does not blur the figures.
fn prog_ids(pid: u32) -> HashSet<u32> {
    let mut ids = HashSet::new();
    let Ok(dir) = std::fs::read_dir(format!("/proc/{pid}/fdinfo")) else {
        return ids;
    };
    for e in dir.flatten() {
        if let Ok(s) = std::fs::read_to_string(e.path()) {
            ids.extend(
                s.lines().filter_map(|l| l.strip_prefix("prog_id:")).filter_map(|v| v.trim().parse::<u32>().ok()),
            );
        }
    }
    ids
}

/// Sum of (run_time_ns, run_cnt) per program name, over the programs in `ids` (all if empty).
fn bpf_stats(ids: &HashSet<u32>) -> Stats {
    let mut m = BTreeMap::new();
    for p in aya::programs::loaded_programs().flatten() {
        let Some(name) = p.name_as_str() else {
            continue;
        };
        if !ids.is_empty() && !ids.contains(&p.id()) {
            continue;
        }
        let e = m.entry(name.to_string()).or_insert((0, 0));
        e.0 += p.run_time().as_nanos() as u64;
        e.1 += p.run_count();
    }
    m
}

fn stats_delta(a: &Stats, b: &Stats, names: &[&str]) -> (u64, u64) {
    let mut t = (0, 0);
    for n in names {
        let x = a.get(*n).copied().unwrap_or_default();
        let y = b.get(*n).copied().unwrap_or_default();
        t.0 += y.0.saturating_sub(x.0);
        t.1 += y.1.saturating_sub(x.1);
    }
    t
}

pub fn run(rep: &mut Report, bin: &Path, tmp: &Path, quick: bool) -> Result<Mem> {
    let scale = if quick { 10 } else { 1 };
    let n_open = 400_000 / scale;
    let n_exec = 4_000 / scale;
    let n_conn = 100_000 / scale;
    let path = CString::new(tmp.to_string_lossy().as_bytes())?;
    let closed = std::net::TcpListener::bind("127.0.0.1:0")?;
    let port = closed.local_addr()?.port();
    drop(closed);

    let rounds = 3;
    let (mut base, mut with) = (BTreeMap::<&str, Vec<f64>>::new(), BTreeMap::<&str, Vec<f64>>::new());
    let mut ns_per_run: BTreeMap<&str, Vec<f64>> = BTreeMap::new();
    let mut mem = Mem { idle: Rss::default(), peak: 0 };
    for round in 0..rounds {
        eprintln!("bench: round {}/{rounds}: baseline", round + 1);
        base.entry("open").or_default().push(load::open_close(n_open, &path).as_secs_f64());
        base.entry("exec").or_default().push(load::exec_true(n_exec).as_secs_f64());
        base.entry("connect").or_default().push(load::connect_closed(n_conn, port).as_secs_f64());
        eprintln!("bench: round {}/{rounds}: with the agent", round + 1);
        let agent = Agent::start(bin, &[])?;
        std::thread::sleep(Duration::from_secs(1));
        let ids = prog_ids(agent.pid());
        let idle0 = bpf_stats(&ids);
        std::thread::sleep(Duration::from_secs(2));
        let idle1 = bpf_stats(&ids);
        let r = agent.rss();
        mem.idle.rss = mem.idle.rss.max(r.rss);
        mem.idle.anon = mem.idle.anon.max(r.anon);
        let all: Vec<&str> = idle1.keys().map(|s| s.as_str()).collect();
        let (t, c) = stats_delta(&idle0, &idle1, &all);
        if c > 0 {
            ns_per_run.entry("idle (all programs)").or_default().push(t as f64 / c as f64);
        }
        let s0 = bpf_stats(&ids);
        with.entry("open").or_default().push(load::open_close(n_open, &path).as_secs_f64());
        let s1 = bpf_stats(&ids);
        with.entry("exec").or_default().push(load::exec_true(n_exec).as_secs_f64());
        let s2 = bpf_stats(&ids);
        with.entry("connect").or_default().push(load::connect_closed(n_conn, port).as_secs_f64());
        let s3 = bpf_stats(&ids);
        mem.peak = mem.peak.max(agent.hwm());
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
            format!("{pct:+.1}% ({b:.2} s → {a:.2} s, median of {rounds})"),
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
    Ok(mem)
}
