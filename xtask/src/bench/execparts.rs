//! Where a successful exec's kernel cost goes, and which side of the agent the
//! fork+exec slowdown comes from.
//!
//! - `sched_exec` (or `lsm_exec`) ns per run, by part of the exec record: the
//!   same fork+exec loop against agents started with the diagnostic
//!   `LANNER_EXEC_SKIP` (agent/src/prefilter.rs), which leaves one part out
//!   (environment, working-directory walk, executable walk, executable inode,
//!   credentials and ids, argv) or all of them (the record's floor: header,
//!   filename, parent, login uid, tty, ring-buffer output); and the full
//!   record read but not sent (`output`): what reserving, copying and
//!   committing it in the ring buffer costs. Rounds interleaved.
//! - The fork+exec loop without an agent, with it, and with its userspace
//!   stopped (SIGSTOP: every program still runs and writes the ring buffer,
//!   nobody reads it; that agent's wake-up threshold is its whole ring, so no
//!   record forces a wake-up): the last separates the kernel side of the
//!   slowdown from the agent's own CPU use on this 2-core machine.
use std::{collections::BTreeMap, path::Path};

use anyhow::Result;

use super::{
    agent::{Agent, Opts},
    floor::pinned,
    kstats::{bpf_stats, prog_ids, stats_delta, StatsOn},
    load, median, spread, verdict, Report,
};

const ALL: &str = "env,cwd,exe_path,exe_inode,task,args";
const SKIP: &str = "LANNER_EXEC_SKIP";
/// (label, the agent's diagnostic environment variable and its value).
const VARIANTS: [(&str, &str, &str); 10] = [
    ("full record", "", ""),
    ("env", SKIP, "env"),
    ("cwd", SKIP, "cwd"),
    ("exe_path", SKIP, "exe_path"),
    ("exe_inode", SKIP, "exe_inode"),
    ("task", SKIP, "task"),
    ("args", SKIP, "args"),
    ("none of them", SKIP, ALL),
    // Every part read, the record not sent: what its ring-buffer output costs.
    ("ring output", SKIP, "output"),
    // The full record with every kernel read a helper call (no plain BTF loads).
    ("helper reads", "LANNER_KERNEL_READS", "helpers"),
];
const EXEC_PROGS: [&str; 2] = ["sched_exec", "lsm_exec"];

/// ns per exec-program run over one loop of `n` fork+execs.
fn exec_ns(bin: &Path, (var, value): (&str, &str), n: u64) -> Result<f64> {
    let env: Vec<(&str, &str)> = if var.is_empty() { vec![] } else { vec![(var, value)] };
    let a = Agent::start_env(bin, Opts::default(), &env)?;
    let ids = prog_ids(a.pid());
    let on = StatsOn::new();
    let s0 = bpf_stats(&ids);
    pinned(|| load::exec_true(n));
    let d = stats_delta(&s0, &bpf_stats(&ids), &EXEC_PROGS);
    drop(on);
    a.stop()?;
    let (t, c) = d.values().fold((0, 0), |a, v| (a.0 + v.0, a.1 + v.1));
    anyhow::ensure!(c > 0, "no exec program ran ({var}={value:?})");
    Ok(t as f64 / c as f64)
}

fn parts_row(rep: &mut Report, bin: &Path, quick: bool) -> Result<()> {
    let (n, rounds) = if quick { (300, 2) } else { (1_500, 3) };
    let mut ns: BTreeMap<&str, Vec<f64>> = BTreeMap::new();
    for r in 0..rounds {
        eprintln!("bench: exec parts round {}/{rounds}", r + 1);
        for (label, var, value) in VARIANTS {
            ns.entry(label).or_default().push(exec_ns(bin, (var, value), n)?);
        }
    }
    let med: BTreeMap<&str, f64> = ns.iter().map(|(k, v)| (*k, median(v.clone()))).collect();
    let full = med["full record"];
    let floor = med["none of them"];
    let helpers = med["helper reads"];
    let output = full - med["ring output"];
    let parts: Vec<String> =
        VARIANTS[1..7].iter().map(|(label, ..)| format!("{label} {:.0}", full - med[label])).collect();
    rep.row(
        format!(
            "exec record cost by part (`sched_exec` ns per run, {n} fork+exec of /bin/true per variant, agent with \
             `LANNER_EXEC_SKIP=PART`, or with `LANNER_KERNEL_READS=helpers`, median of {rounds} interleaved rounds)"
        ),
        format!(
            "full record **{full:.0} ns**; saved by leaving out one part (ns): {}; with none of them (header, \
             filename, parent, login uid, tty, ring output) **{floor:.0} ns**; the full record read but not sent \
             (`LANNER_EXEC_SKIP=output`): {output:.0} ns less, what reserving, copying and committing it in the \
             ring buffer costs; the full record with helper calls instead of plain BTF loads {helpers:.0} ns",
            parts.join(", ")
        ),
        "≤ 1000 ns per exec",
        verdict(
            full <= 1000.0,
            format!(
                "the full record by {:.0} ns; the record without its optional parts {}",
                full - 1000.0,
                if floor <= 1000.0 {
                    format!("is {:.0} ns within", 1000.0 - floor)
                } else {
                    format!("misses too, by {:.0} ns", floor - 1000.0)
                }
            ),
        ),
    );
    Ok(())
}

fn side_row(rep: &mut Report, bin: &Path, quick: bool) -> Result<()> {
    let (n, rounds) = if quick { (500, 3) } else { (3_000, 5) };
    let run = || pinned(|| load::exec_true(n)).as_secs_f64();
    let (mut live, mut stopped, mut noise) = (Vec::new(), Vec::new(), Vec::new());
    for r in 0..rounds {
        eprintln!("bench: exec sides round {}/{rounds}", r + 1);
        let b = run();
        let a = Agent::start(bin, &[])?;
        let l = run();
        a.stop()?;
        // Stopped, an agent with the default 64 KiB threshold would make every
        // record past it force a wake-up (an irq_work interrupt per record, ~3
        // per fork+exec, which a reading agent never pays); this one's
        // threshold is the whole ring, so its programs run as they do for a
        // reader that keeps up.
        let a = Agent::start(bin, &["--ringbuf-mib", "32", "--wakeup-kib", "32768"])?;
        unsafe { libc::kill(a.pid() as i32, libc::SIGSTOP) };
        let s = run();
        unsafe { libc::kill(a.pid() as i32, libc::SIGCONT) };
        let fc = a.stop()?;
        let drops: u64 = fc["kernel"]["by_probe"]
            .as_object()
            .map_or(0, |m| m.values().map(|c| c["ringbuf_drop"].as_u64().unwrap_or(0)).sum());
        anyhow::ensure!(
            drops == 0,
            "the stopped agent's ring overflowed ({drops} drops): the variant would be cheaper"
        );
        let b2 = run();
        let bm = (b + b2) / 2.0;
        noise.push((b2 / b - 1.0) * 100.0);
        live.push((l / bm - 1.0) * 100.0);
        stopped.push((s / bm - 1.0) * 100.0);
    }
    let (ml, ms) = (median(live.clone()), median(stopped.clone()));
    rep.row(
        format!("fork+exec slowdown, kernel side vs the agent's userspace ({n} fork+exec of /bin/true, loop pinned)"),
        format!(
            "agent running **{ml:+.1}%** {}; agent's userspace stopped (SIGSTOP: programs run, nobody reads; \
             that agent's wake-up threshold is its whole 32 MiB ring, so no record forces a wake-up, and it \
             dropped none) \
             **{ms:+.1}%** {}; baseline noise {}; median [min … max] of {rounds} interleaved rounds",
            spread(&live),
            spread(&stopped),
            spread(&noise)
        ),
        "≤ 5%",
        verdict(ml <= 5.0, format!("by {:.1} points", ml - 5.0)),
    );
    Ok(())
}

pub fn run(rep: &mut Report, bin: &Path, quick: bool) -> Result<()> {
    parts_row(rep, bin, quick)?;
    side_row(rep, bin, quick)
}
