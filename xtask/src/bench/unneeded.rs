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
use std::{path::Path, time::Instant};

use anyhow::{Context as _, Result};

use super::{
    agent::Agent,
    floor::{pinned, Floor},
    median, verdict, Report,
};

/// The floor of this row: one EMPTY program on another syscall's tracepoint.
/// While any syscall tracepoint has a program, the kernel sends every
/// syscall of every task through its tracing entry and exit work, prctl's
/// too; this variant measures that price with none of Lanner's programs.
const FLOOR_HOOK: &str = "syscalls/sys_exit_openat";

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

fn spread(v: &[f64]) -> String {
    let lo = v.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    format!("[{lo:+.1} … {hi:+.1}]")
}

pub fn run(rep: &mut Report, bin: &Path, quick: bool) -> Result<()> {
    let n: u64 = if quick { 200_000 } else { 2_000_000 };
    let rounds = 5;
    let (mut base, mut def, mut all, mut floor) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let (mut att_def, mut att_all) = (0, 0);
    for r in 0..rounds {
        eprintln!("bench: prctl loop round {}/{rounds}", r + 1);
        let b = prctl_loop(n);
        let f = {
            let _held = Floor::start(bin, "floor_tp", &[FLOOR_HOOK])?;
            prctl_loop(n)
        };
        let a = Agent::start(bin, &[])?;
        att_def = att_def.max(attached(&a)?);
        let d = prctl_loop(n);
        a.stop()?;
        let a = Agent::start(bin, &["--attach-all"])?;
        att_all = att_all.max(attached(&a)?);
        let x = prctl_loop(n);
        a.stop()?;
        let b2 = prctl_loop(n);
        let bm = (b + b2) / 2.0;
        base.push((b2 / b - 1.0) * 100.0);
        def.push((d / bm - 1.0) * 100.0);
        all.push((x / bm - 1.0) * 100.0);
        floor.push((f / bm - 1.0) * 100.0);
    }
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
             noise (second baseline vs first) up to ±{noise:.1}%; median [min … max] of {rounds} interleaved rounds, \
             loop pinned",
            spread(&def),
            spread(&floor),
            spread(&all)
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
