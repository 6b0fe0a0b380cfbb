//! The cost of a syscall no rule needs: a loop of `prctl(PR_GET_DUMPABLE)`
//! without an agent, with `lanner run` on the default rules (no rule looks at
//! prctl, so its programs are not attached at all: agent/src/probes.rs), and
//! with `lanner run --attach-all` (programs attached, the event dropped by the
//! in-kernel pre-filter at entry). Rounds interleaved, loop pinned, median and
//! spread, as the other loop rows. The row's claim — "costs nothing extra" —
//! rests on the programs really not being attached (`lanner_probe_attached`),
//! and on the slowdown staying, above the floor (an empty program on another
//! syscall's tracepoint, which every tracepoint agent pays on every syscall),
//! within the baseline's own noise.
//!
//! Two more variants price what an enter program costs the syscalls it does
//! not trace: the floor plus one EMPTY program on `sys_enter_openat` (while any
//! `sys_enter_*` tracepoint has a program, every syscall of every task calls
//! into the sys_enter tracepoint, which then finds its syscall not enabled),
//! and Lanner forced onto its enter+exit pairs (`LANNER_SKIP_PROBES=*_regs`,
//! the fallback, and the setuid family's and execveat's shape until
//! 2026-12-06), against Lanner as it loads, with no enter program at all.
//! And one prices the other way to hook syscall exits: one EMPTY program on
//! the raw `sys_exit` tracepoint (`floor_raw`, a generic dispatcher's shape),
//! which runs at every syscall's exit, prctl's included.
use std::{path::Path, time::Instant};

use anyhow::{Context as _, Result};

use super::{
    agent::{Agent, Opts},
    floor::{pinned, Floor},
    median, spread, verdict, Report,
};

/// The floor of this row: one EMPTY program on another syscall's tracepoint.
/// While any syscall tracepoint has a program, the kernel sends every
/// syscall of every task through its tracing entry and exit work, prctl's
/// too; this variant measures that price with none of Lanner's programs.
const FLOOR_HOOK: &str = "syscalls/sys_exit_openat";
/// The floor plus an empty enter program on the same syscall: what an enter
/// program anywhere costs prctl, which it does not trace.
const FLOOR_ENTER_HOOK: &str = "syscalls/sys_enter_openat";

/// prctl's exit-only program (x86_64, 5.15+) and its enter+exit pair: the row
/// counts whichever attach (the loader takes one or the other).
const PROGS: [&str; 3] = ["prctl_regs", "prctl_enter", "prctl_exit"];

fn prctl_loop(n: u64) -> f64 {
    pinned(|| {
        let t = Instant::now();
        for _ in 0..n {
            unsafe { libc::prctl(libc::PR_GET_DUMPABLE, 0, 0, 0, 0) };
        }
        t.elapsed().as_secs_f64()
    })
}

/// `lanner_probe_attached` of the prctl programs (1 each when attached).
fn attached(a: &Agent) -> Result<u32> {
    let m = a.scrape()?;
    let mut n = 0;
    for p in PROGS {
        let hook = format!("tracepoint/syscalls/sys_{}_prctl", if p.ends_with("enter") { "enter" } else { "exit" });
        let series = format!("lanner_probe_attached{{probe=\"{p}\",hook=\"{hook}\"}}");
        // A missing series is an error, not "not attached": the claim must be able to fail.
        n += m.get(&series).with_context(|| format!("{series} not in /metrics"))? as u32;
    }
    Ok(n)
}

pub fn run(rep: &mut Report, bin: &Path, quick: bool) -> Result<()> {
    let n: u64 = if quick { 200_000 } else { 2_000_000 };
    let rounds = 5;
    let (mut base, mut def, mut all, mut floor) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let (mut floor_enter, mut pairs, mut base_ns) = (Vec::new(), Vec::new(), Vec::new());
    let mut floor_raw = Vec::new();
    let (mut att_def, mut att_all) = (0, 0);
    for r in 0..rounds {
        eprintln!("bench: prctl loop round {}/{rounds}", r + 1);
        let b = prctl_loop(n);
        let f = {
            let _held = Floor::start(bin, "floor_tp", &[FLOOR_HOOK])?;
            prctl_loop(n)
        };
        let fe = {
            let _held = Floor::start(bin, "floor_tp", &[FLOOR_HOOK, FLOOR_ENTER_HOOK])?;
            prctl_loop(n)
        };
        let fr = {
            let _held = Floor::start(bin, "floor_raw", &[super::overhead::RAW_EXIT])?;
            prctl_loop(n)
        };
        let a = Agent::start(bin, &[])?;
        att_def = att_def.max(attached(&a)?);
        let d = prctl_loop(n);
        a.stop()?;
        let a = Agent::start_env(bin, Opts::default(), &[("LANNER_SKIP_PROBES", "*_regs")])?;
        let p = prctl_loop(n);
        a.stop()?;
        let a = Agent::start(bin, &["--attach-all"])?;
        att_all = att_all.max(attached(&a)?);
        let x = prctl_loop(n);
        a.stop()?;
        let b2 = prctl_loop(n);
        let bm = (b + b2) / 2.0;
        base_ns.push(bm / n as f64 * 1e9);
        base.push((b2 / b - 1.0) * 100.0);
        def.push((d / bm - 1.0) * 100.0);
        all.push((x / bm - 1.0) * 100.0);
        floor.push((f / bm - 1.0) * 100.0);
        floor_enter.push((fe / bm - 1.0) * 100.0);
        floor_raw.push((fr / bm - 1.0) * 100.0);
        pairs.push((p / bm - 1.0) * 100.0);
    }
    // What one enter program costs prctl (per round, over that round's exit-only floor),
    // and Lanner on its pairs over Lanner as it loads, in ns per call.
    let per_call = |pts: f64| pts / 100.0 * median(base_ns.clone());
    let enter_pts = median(floor_enter.iter().zip(&floor).map(|(e, f)| e - f).collect());
    let pairs_pts = median(pairs.iter().zip(&def).map(|(p, d)| p - d).collect());
    let raw_pts = median(floor_raw.iter().zip(&floor).map(|(r, f)| r - f).collect());
    let (md, ma, mf) = (median(def.clone()), median(all.clone()), median(floor.clone()));
    // Lanner above the floor, per round (the same round's floor), then the median.
    let above = median(def.iter().zip(&floor).map(|(d, f)| d - f).collect());
    // The baseline's own round-to-round noise (second baseline vs first).
    let noise = base.iter().map(|v| v.abs()).fold(1.0, f64::max);
    rep.row(
        format!("syscall no rule needs ({n} prctl(PR_GET_DUMPABLE), default rules): not attached, costs nothing"),
        format!(
            "default rules: {att_def} prctl programs attached, **{md:+.1}%** {}; floor, 1 empty program on another \
             syscall's tracepoint ({FLOOR_HOOK}): {mf:+.1}% {}; Lanner above that floor: **{above:+.1} points**; with \
             --attach-all ({att_all} attached, dropped by the pre-filter at its first look): {ma:+.1}% {}; baseline \
             noise (second baseline vs first) up to ±{noise:.1}%; what an enter program costs the syscalls it does \
             not trace: the floor plus 1 empty program on {FLOOR_ENTER_HOOK} {:+.1}% {}, **{enter_pts:+.1} points** \
             (~{:.1} ns per prctl) over the exit-only floor; Lanner on its enter+exit pairs (LANNER_SKIP_PROBES=*_regs) \
             {:+.1}% {}, {pairs_pts:+.1} points (~{:.1} ns per prctl) over Lanner as it loads (no enter program); \
             a generic exit dispatcher instead of per-syscall tracepoints, 1 empty program on the raw sys_exit \
             tracepoint (runs at prctl's exit too): {:+.1}% {}, **{raw_pts:+.1} points** (~{:.1} ns per prctl) over \
             the floor; baseline {:.1} ns per prctl; median [min … max] of {rounds} interleaved rounds, loop pinned",
            spread(&def),
            spread(&floor),
            spread(&all),
            median(floor_enter.clone()),
            spread(&floor_enter),
            per_call(enter_pts),
            median(pairs.clone()),
            spread(&pairs),
            per_call(pairs_pts),
            median(floor_raw.clone()),
            spread(&floor_raw),
            per_call(raw_pts),
            median(base_ns.clone()),
        ),
        "not attached; above the floor within the baseline's noise",
        verdict(
            att_def == 0 && above.abs() <= noise,
            if att_def > 0 {
                format!("{att_def} prctl programs attached")
            } else {
                format!("{above:+.1} points above the floor, beyond ±{noise:.1}%")
            },
        ),
    );
    Ok(())
}
