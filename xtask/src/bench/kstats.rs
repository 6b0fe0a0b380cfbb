//! `bpf_stats` for the benchmarks: which programs an agent holds, their
//! (run_time_ns, run_cnt) by name, deltas over a loop, and [`StatsOn`], the
//! guard that turns the kernel's accounting on only around those reads.
//!
//! The timed loops run with `kernel.bpf_stats_enabled` off. With it on, every
//! run of every program reads the clock twice (`sched_clock`, a pvclock read
//! on this VM): measured 2026-12-06 with Lanner loaded, an open+close loop
//! took 760 ns per iteration with it off and 809 with it on, in four
//! alternating runs, about 50 ns per program run that no node running Lanner
//! pays (nothing in the agent turns it on). It made syscalls with two
//! programs (socket+connect) look costlier than the one-program floor by twice
//! that, and tiny syscalls (unshare, dup2) look far slower than they are.
use std::collections::{BTreeMap, HashSet};

pub(super) type Stats = BTreeMap<String, (u64, u64)>;

const KNOB: &str = "/proc/sys/kernel/bpf_stats_enabled";

/// Set `kernel.bpf_stats_enabled`.
pub fn set(on: bool) {
    let _ = std::fs::write(KNOB, if on { "1" } else { "0" });
}

/// `bpf_stats` on while alive, off again when dropped.
pub struct StatsOn;

impl StatsOn {
    pub fn new() -> Self {
        set(true);
        StatsOn
    }
}

impl Drop for StatsOn {
    fn drop(&mut self) {
        set(false);
    }
}

/// The ids of the BPF programs process `pid` holds (its fds' `prog_id:`), so
/// another agent running on the machine does not blur the figures.
pub(super) fn prog_ids(pid: u32) -> HashSet<u32> {
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
pub(super) fn bpf_stats(ids: &HashSet<u32>) -> Stats {
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

/// Per program of `names`: (run_time_ns, run_cnt) between `a` and `b`. The
/// kernel keeps a program's name to 15 bytes (`BPF_OBJ_NAME_LEN`), so a longer
/// name (`exec_rename_regs`) is looked up by its first 15.
pub(super) fn stats_delta(a: &Stats, b: &Stats, names: &[&str]) -> Stats {
    let mut out = BTreeMap::new();
    for n in names {
        let k = &n[..n.len().min(15)];
        let x = a.get(k).copied().unwrap_or_default();
        let y = b.get(k).copied().unwrap_or_default();
        let d = (y.0.saturating_sub(x.0), y.1.saturating_sub(x.1));
        if d.1 > 0 {
            out.insert(n.to_string(), d);
        }
    }
    out
}

/// The tracing programs (tracepoint, raw tracepoint, kprobe, fentry/fexit,
/// LSM, perf event) already loaded on the machine, each with the processes
/// holding it: any of them on a syscall path is in every baseline, so a
/// leftover agent or another tool (Falco, Tetragon) would skew every row.
pub(super) fn foreign_tracing() -> Vec<String> {
    // include/uapi/linux/bpf.h: KPROBE 2, TRACEPOINT 5, PERF_EVENT 7,
    // RAW_TRACEPOINT 17, RAW_TRACEPOINT_WRITABLE 24, TRACING 26, LSM 29.
    const TRACING_TYPES: [u32; 7] = [2, 5, 7, 17, 24, 26, 29];
    let progs: Vec<_> = aya::programs::loaded_programs()
        .flatten()
        .filter(|p| TRACING_TYPES.contains(&(p.program_type() as u32)))
        .collect();
    if progs.is_empty() {
        return Vec::new();
    }
    // Who holds what, from one pass over /proc.
    let held: Vec<(String, HashSet<u32>)> = std::fs::read_dir("/proc")
        .map(|dir| {
            dir.flatten()
                .filter_map(|e| e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()))
                .map(|pid| {
                    let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
                    (format!("pid {pid} ({})", comm.trim()), prog_ids(pid))
                })
                .filter(|(_, ids)| !ids.is_empty())
                .collect()
        })
        .unwrap_or_default();
    let holders = |id: u32| -> Vec<String> {
        held.iter().filter(|(_, ids)| ids.contains(&id)).map(|(who, _)| who.clone()).collect()
    };
    let mut out: Vec<String> = progs
        .iter()
        .take(8)
        .map(|p| {
            let h = holders(p.id());
            let by = if h.is_empty() { "no process (pinned?)".to_string() } else { h.join(", ") };
            format!("program {} {:?} held by {by}", p.id(), p.name_as_str().unwrap_or("?"))
        })
        .collect();
    if progs.len() > out.len() {
        out.push(format!("… and {} more", progs.len() - out.len()));
    }
    out
}
