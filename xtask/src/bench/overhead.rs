//! (a) and (b): the same syscall loops, pinned to one CPU, without the agent
//! (baseline), with EMPTY programs on the hooks Lanner uses (the floor: one
//! program, then an enter+exit pair; [`super::floor`]), with Lanner forced
//! onto its enter+exit pairs (`LANNER_SKIP_PROBES`, the fallback path) and with
//! Lanner as it loads here (default rules, pre-filter on). Rounds are
//! interleaved (baseline, floors, pairs, Lanner, baseline, ...) so machine
//! noise hits every variant alike; each figure is the median of the per-round
//! ratios to that round's baseline, with their spread (min–max). The kernel
//! cost per syscall comes from `bpf_stats` over the same loops. Also records
//! the agent's idle RSS and its peak under these loads.
use std::{
    collections::{BTreeMap, HashSet},
    ffi::CString,
    path::Path,
    time::Duration,
};

use anyhow::Result;

use super::{
    agent::{Agent, Opts},
    floor::{pinned, pinned_cpu, Floor},
    kstats::{bpf_stats, prog_ids, stats_delta, Stats, StatsOn},
    load, median, min_max, verdict, Report, Rss,
};

/// Memory seen by the loops: idle RSS (largest over rounds) and peak VmHWM.
pub struct Mem {
    pub idle: Rss,
    pub peak: u64,
}

/// (loop, variant).
type Key = (&'static str, &'static str);

/// One syscall loop and what it is compared with.
struct Loop {
    name: &'static str,
    what: &'static str,
    /// Tracepoints of the one-program floor and of the empty pair.
    one: &'static [&'static str],
    pair: &'static [&'static str],
    /// Lanner's programs on this path (whichever attached).
    progs: &'static [&'static str],
    /// The target: slowdown points above the one-program floor, or (exec)
    /// total slowdown.
    target: f64,
    above_floor: bool,
    /// Also a floor that copies the path (`floor_path` on `one`): what any
    /// agent reporting open paths pays before deciding anything.
    path_floor: bool,
    /// Also a floor of one empty program on EVERY hook Lanner runs a program
    /// on in this loop, where that is more than `one` (the connect loop's
    /// socket() runs `socket_regs`): what the hooks alone cost, Lanner's
    /// work aside. Shown beside the verdict, which stays on `one`.
    hooks_floor: &'static [&'static str],
    /// Also a floor of ONE empty program on the raw `sys_exit` tracepoint
    /// instead (`floor_raw`): the generic-dispatcher way of hooking syscall
    /// exits, which runs at every syscall's exit (the loop's close too).
    raw_floor: bool,
}

const LOOPS: [Loop; 3] = [
    Loop {
        name: "open",
        what: "open+close",
        one: &["syscalls/sys_exit_openat"],
        pair: &["syscalls/sys_enter_openat", "syscalls/sys_exit_openat"],
        progs: &["openat_regs", "openat2_regs", "openat_enter", "openat_exit", "openat2_enter", "openat2_exit"],
        target: 5.0,
        above_floor: true,
        path_floor: true,
        hooks_floor: &[],
        raw_floor: true,
    },
    Loop {
        name: "exec",
        what: "fork+exec of /bin/true",
        one: &["syscalls/sys_exit_execve"],
        pair: &["syscalls/sys_enter_execve", "syscalls/sys_exit_execve"],
        progs: &["execve_regs", "execve_enter", "execve_exit", "sched_exec", "exec_rename_regs"],
        target: 5.0,
        above_floor: false,
        path_floor: false,
        hooks_floor: &[],
        raw_floor: false,
    },
    Loop {
        name: "connect",
        what: "refused loopback connect",
        one: &["syscalls/sys_exit_connect"],
        pair: &["syscalls/sys_enter_connect", "syscalls/sys_exit_connect"],
        // The loop's socket() runs the socket family's program too.
        progs: &["connect_regs", "connect_enter", "connect_exit", "socket_regs", "socket_enter", "socket_exit"],
        target: 3.0,
        above_floor: true,
        path_floor: false,
        hooks_floor: &["syscalls/sys_exit_socket", "syscalls/sys_exit_connect"],
        raw_floor: false,
    },
];

/// The raw tracepoint of every syscall's exit, for `floor_raw`.
pub const RAW_EXIT: &str = "raw/sys_exit";

/// Every exit-only program (all are named `*_regs`); skipping them makes the
/// agent load its enter+exit pairs, as it did before issue 18.
const EXIT_ONLY: &str = "*_regs";

fn run_loop(l: &Loop, n: u64, path: &CString, port: u16) -> f64 {
    pinned(|| match l.name {
        "open" => load::open_close(n, path),
        "exec" => load::exec_true(n),
        _ => load::connect_closed(n, port),
    })
    .as_secs_f64()
}

/// Per loop and variant: the times of every round, and the kernel cost of
/// the agent variants' programs per round (ns per loop op, by program).
#[derive(Default)]
struct Times {
    secs: BTreeMap<Key, Vec<f64>>,
    /// Per round: (run_time_ns, run_cnt) by program.
    kernel: BTreeMap<Key, Vec<Stats>>,
    /// ns per program run over an idle window, per round.
    idle: Vec<f64>,
}

/// What every loop run needs.
struct Setup<'a> {
    bin: &'a Path,
    path: CString,
    port: u16,
    scale: u64,
}

impl Setup<'_> {
    fn ops(&self, l: &Loop) -> u64 {
        match l.name {
            "open" => 400_000 / self.scale,
            "exec" => 4_000 / self.scale,
            _ => 100_000 / self.scale,
        }
    }

    fn run(&self, l: &Loop) -> f64 {
        run_loop(l, self.ops(l), &self.path, self.port)
    }
}

/// One agent variant: start it, run the three loops timed (`bpf_stats` off),
/// then once more with `bpf_stats` on for the kernel cost per operation.
fn agent_round(t: &mut Times, mem: &mut Mem, s: &Setup, variant: &'static str) -> Result<()> {
    let bin = s.bin;
    let env: &[(&str, &str)] = if variant == "pairs" { &[("LANNER_SKIP_PROBES", EXIT_ONLY)] } else { &[] };
    let agent = Agent::start_env(bin, Opts::default(), env)?;
    std::thread::sleep(Duration::from_secs(1));
    let ids = prog_ids(agent.pid());
    if variant == "lanner" {
        let on = StatsOn::new();
        let idle0 = bpf_stats(&ids);
        std::thread::sleep(Duration::from_secs(2));
        let idle1 = bpf_stats(&ids);
        drop(on);
        let r = agent.rss();
        mem.idle.rss = mem.idle.rss.max(r.rss);
        mem.idle.anon = mem.idle.anon.max(r.anon);
        let all: Vec<&str> = idle1.keys().map(|s| s.as_str()).collect();
        let (tt, c) = stats_delta(&idle0, &idle1, &all).values().fold((0, 0), |a, v| (a.0 + v.0, a.1 + v.1));
        if c > 0 {
            t.idle.push(tt as f64 / c as f64);
        }
    }
    for l in &LOOPS {
        t.secs.entry((l.name, variant)).or_default().push(s.run(l));
    }
    let on = StatsOn::new();
    for l in &LOOPS {
        let s0 = bpf_stats(&ids);
        s.run(l);
        let s1 = bpf_stats(&ids);
        t.kernel.entry((l.name, variant)).or_default().push(stats_delta(&s0, &s1, l.progs));
    }
    drop(on);
    mem.peak = mem.peak.max(agent.hwm());
    agent.stop()?;
    Ok(())
}

pub fn run(rep: &mut Report, bin: &Path, tmp: &Path, quick: bool) -> Result<Mem> {
    let closed = std::net::TcpListener::bind("127.0.0.1:0")?;
    let port = closed.local_addr()?.port();
    drop(closed);
    let s =
        Setup { bin, path: CString::new(tmp.to_string_lossy().as_bytes())?, port, scale: if quick { 10 } else { 1 } };

    // Nine rounds: the open and exec loops swing by ±20 % between rounds on
    // this VM, and five left the median at the mercy of one or two of them.
    let rounds = if quick { 3 } else { 9 };
    let mut t = Times::default();
    let mut mem = Mem { idle: Rss::default(), peak: 0 };
    for round in 0..rounds {
        eprintln!("bench: round {}/{rounds}: baseline and floors", round + 1);
        for l in &LOOPS {
            t.secs.entry((l.name, "base")).or_default().push(s.run(l));
            for (v, hooks) in [("floor1", l.one), ("floor2", l.pair)] {
                let f = Floor::start(bin, "floor_tp", hooks)?;
                t.secs.entry((l.name, v)).or_default().push(s.run(l));
                drop(f);
            }
            if !l.hooks_floor.is_empty() {
                let f = Floor::start(bin, "floor_tp", l.hooks_floor)?;
                t.secs.entry((l.name, "floor_hooks")).or_default().push(s.run(l));
                drop(f);
            }
            if l.raw_floor {
                let f = Floor::start(bin, "floor_raw", &[RAW_EXIT])?;
                t.secs.entry((l.name, "floor_raw")).or_default().push(s.run(l));
                drop(f);
            }
            if l.path_floor {
                let f = Floor::start(bin, "floor_path", l.one)?;
                t.secs.entry((l.name, "floor_path")).or_default().push(s.run(l));
                let on = StatsOn::new();
                let s0 = bpf_stats(&HashSet::new());
                s.run(l);
                let s1 = bpf_stats(&HashSet::new());
                drop(on);
                t.kernel.entry((l.name, "floor_path")).or_default().push(stats_delta(&s0, &s1, &["floor_path"]));
                drop(f);
            }
        }
        for v in ["pairs", "lanner"] {
            eprintln!("bench: round {}/{rounds}: {v}", round + 1);
            agent_round(&mut t, &mut mem, &s, v)?;
        }
        // The round's closing baseline: every variant is compared with the
        // mean of the two, so a drift across the round (the agents run last)
        // does not count against them.
        for l in &LOOPS {
            t.secs.entry((l.name, "base_end")).or_default().push(s.run(l));
        }
    }
    for l in &LOOPS {
        loop_rows(rep, &t, l, s.ops(l), rounds);
    }
    for l in &LOOPS {
        kernel_row(rep, &t, l, s.ops(l));
    }
    let m = median(t.idle.clone());
    if m.is_finite() {
        rep.row(
            "kernel ns per program run: idle (all programs)",
            format!("{m:.0} ns"),
            "≤ 1000 ns",
            verdict(m <= 1000.0, format!("by {:.0} ns", m - 1000.0)),
        );
    }
    Ok(mem)
}

/// Each round's baseline: the mean of its opening and closing runs.
fn bases(t: &Times, l: &str) -> Vec<f64> {
    let (a, b) = (&t.secs[&(l, "base")], &t.secs[&(l, "base_end")]);
    a.iter().zip(b).map(|(a, b)| (a + b) / 2.0).collect()
}

/// The closing baseline against the opening one, per round, in percent:
/// median and (min, max).
fn drift(t: &Times, l: &str) -> (f64, f64, f64) {
    let (a, b) = (&t.secs[&(l, "base")], &t.secs[&(l, "base_end")]);
    spread3(a.iter().zip(b).map(|(a, b)| (b / a - 1.0) * 100.0).collect())
}

fn spread3(v: Vec<f64>) -> (f64, f64, f64) {
    let (lo, hi) = min_max(&v);
    (median(v), lo, hi)
}

/// Slowdown of one variant: median and (min, max) of the per-round ratios to
/// the same round's baseline, in percent.
fn slowdown(t: &Times, l: &str, v: &str) -> (f64, f64, f64) {
    let x = &t.secs[&(l, v)];
    spread3(bases(t, l).iter().zip(x).map(|(b, x)| (x / b - 1.0) * 100.0).collect())
}

/// Points of `v` above the one-program floor, per round (both against that
/// round's baseline), then median and (min, max): a slow or fast round moves
/// the floor and Lanner together instead of one median against another.
fn above_floor(t: &Times, l: &str, v: &str) -> (f64, f64, f64) {
    points_above(t, l, "floor1", v)
}

/// Points of `v` above the floor variant `floor`, per round, then median and (min, max).
fn points_above(t: &Times, l: &str, floor: &str, v: &str) -> (f64, f64, f64) {
    let (f, x) = (&t.secs[&(l, floor)], &t.secs[&(l, v)]);
    spread3(bases(t, l).iter().zip(f).zip(x).map(|((b, f), x)| (x - f) / b * 100.0).collect())
}

fn loop_rows(rep: &mut Report, t: &Times, l: &Loop, n: u64, rounds: usize) {
    let base = median(bases(t, l.name));
    let (d, d_lo, d_hi) = drift(t, l.name);
    let fmt = |v: &str| {
        let (m, lo, hi) = slowdown(t, l.name, v);
        format!("{m:+.1}% [{lo:+.1} … {hi:+.1}]")
    };
    let (lanner, _, _) = slowdown(t, l.name, "lanner");
    let (above, above_lo, above_hi) = above_floor(t, l.name, "lanner");
    let (pairs_above, _, _) = above_floor(t, l.name, "pairs");
    let result = format!(
        "baseline {base:.2} s → floor, 1 empty program ({}) {} → floor, empty enter+exit pair {} → Lanner with \
         its enter+exit pairs {} → **Lanner {}**; Lanner above the 1-program floor: **{above:+.1} points** \
         [{above_lo:+.1} … {above_hi:+.1}] (pairs: {pairs_above:+.1}), each round against its own floor, then \
         the median; median [min … max] of {rounds} interleaved rounds, loop pinned to CPU {}, each against \
         the mean of the round's opening and closing baselines (closing vs opening: {d:+.1}% [{d_lo:+.1} … \
         {d_hi:+.1}]), timed with bpf_stats off",
        l.one.join(", ").trim_start_matches("syscalls/"),
        fmt("floor1"),
        fmt("floor2"),
        fmt("pairs"),
        fmt("lanner"),
        pinned_cpu(),
    );
    // What only the path copy costs, and Lanner's decisions above it.
    let path = if l.path_floor {
        let ns: Vec<f64> = t.kernel[&(l.name, "floor_path")]
            .iter()
            .filter_map(|r| r.get("floor_path"))
            .map(|(tt, c)| *tt as f64 / *c as f64)
            .collect();
        let (p, p_lo, p_hi) = points_above(t, l.name, "floor1", "floor_path");
        let (x, x_lo, x_hi) = points_above(t, l.name, "floor_path", "lanner");
        format!(
            "; floor, 1 program that only copies the path (floor_path: saved registers + \
             bpf_probe_read_user_str, {:.0} ns per run) {}, {p:+.1} points [{p_lo:+.1} … {p_hi:+.1}] above the \
             empty one; Lanner above the path-copy floor: **{x:+.1} points** [{x_lo:+.1} … {x_hi:+.1}]",
            median(ns),
            fmt("floor_path"),
        )
    } else {
        String::new()
    };
    // What the loop's other hooks cost empty, and Lanner's work above all of them.
    let hooks = if l.hooks_floor.is_empty() {
        String::new()
    } else {
        let (p, p_lo, p_hi) = points_above(t, l.name, "floor1", "floor_hooks");
        let (x, x_lo, x_hi) = points_above(t, l.name, "floor_hooks", "lanner");
        format!(
            "; floor, 1 empty program on each hook Lanner runs a program on in this loop ({}) {}, {p:+.1} points \
             [{p_lo:+.1} … {p_hi:+.1}] above the 1-program floor; Lanner above that floor: **{x:+.1} points** \
             [{x_lo:+.1} … {x_hi:+.1}]",
            l.hooks_floor.iter().map(|h| h.trim_start_matches("syscalls/")).collect::<Vec<_>>().join(", "),
            fmt("floor_hooks"),
        )
    };
    // The other way to hook syscall exits, empty.
    let raw = if l.raw_floor {
        let (p, p_lo, p_hi) = points_above(t, l.name, "floor1", "floor_raw");
        format!(
            "; a generic exit dispatcher instead, 1 empty program on the raw sys_exit tracepoint (runs at every \
             syscall's exit, here open's and close's) {}, {p:+.1} points [{p_lo:+.1} … {p_hi:+.1}] against the \
             1-program floor",
            fmt("floor_raw"),
        )
    } else {
        String::new()
    };
    let result = result + &path + &hooks + &raw;
    let (target, ok, miss) = if l.above_floor {
        (
            format!("≤ {} points above the 1-program floor", l.target),
            above <= l.target,
            format!("by {:.1} points", above - l.target),
        )
    } else {
        (format!("≤ {}% slowdown", l.target), lanner <= l.target, format!("by {:.1} points", lanner - l.target))
    };
    rep.row(
        format!("{} loop ({n} {}): slowdown, floor and Lanner (default rules)", l.name, l.what),
        result,
        target,
        verdict(ok, miss),
    );
}

/// Kernel ns per loop op of Lanner's programs on this path, exit-only vs
/// pairs, by program (runs per op × ns per run), median over rounds.
fn kernel_row(rep: &mut Report, t: &Times, l: &Loop, n: u64) {
    let per_op = |v: &str| -> (f64, String) {
        let rounds = &t.kernel[&(l.name, v)];
        let totals: Vec<f64> = rounds.iter().map(|r| r.values().map(|x| x.0).sum::<u64>() as f64 / n as f64).collect();
        let mut names: Vec<&String> = rounds.iter().flat_map(|r| r.keys()).collect();
        names.sort();
        names.dedup();
        let parts: Vec<String> = names
            .iter()
            .map(|p| {
                let ns: Vec<f64> =
                    rounds.iter().filter_map(|r| r.get(*p)).map(|(tt, c)| *tt as f64 / *c as f64).collect();
                let runs: Vec<f64> =
                    rounds.iter().filter_map(|r| r.get(*p)).map(|(_, c)| *c as f64 / n as f64).collect();
                format!("{p} {:.2} runs × {:.0} ns", median(runs), median(ns))
            })
            .collect();
        (median(totals), parts.join(", "))
    };
    let (now, now_parts) = per_op("lanner");
    let (before, before_parts) = per_op("pairs");
    let unit = match l.name {
        "open" => "open",
        "exec" => "exec",
        _ => "connect",
    };
    // No program run counted (bpf_stats off, or no program found): not a pass.
    let measured = !now_parts.is_empty();
    rep.row(
        format!("kernel ns per {unit} (Lanner's {} programs, bpf_stats over the loop ÷ loop ops)", l.name),
        format!("{now:.0} ns ({now_parts}); with the enter+exit pairs: {before:.0} ns ({before_parts})"),
        "≤ 1000 ns",
        if measured {
            verdict(now <= 1000.0, format!("by {:.0} ns", now - 1000.0))
        } else {
            "missed: no program run counted".into()
        },
    );
}
