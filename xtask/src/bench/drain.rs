//! The reader's capacity with the generator out of the way: how fast the agent
//! drains a ring buffer full of real open records, end to end (read, decode,
//! process table, match, sink), with 0 drops.
//!
//! On this 2-core machine a live generator shares the cores with the agent and
//! saturates near 0.5 M opens/s (the sweep's row), so it cannot show whether
//! the agent would keep up with 1 M events/s on a node where the load comes
//! from elsewhere. Here the agent runs with a 256 MiB ring and is held with
//! SIGSTOP while the generator fills it (every open is emitted:
//! `--no-prefilter`; the kernel counts each record emitted or dropped), then
//! released: the backlog is drained with both cores free. The rate is records
//! emitted ÷ the time from SIGCONT until `lanner_events_total{type="open"}` has
//! counted them all (scraped every 20 ms, so ±20 ms on the window).
use std::{
    ffi::CString,
    path::Path,
    time::{Duration, Instant},
};

use anyhow::{ensure, Result};

use super::{
    agent::{Agent, OpenCounts},
    load,
    rate::cpu_secs,
    verdict, Report,
};

const OPEN_SERIES: &str = "lanner_events_total{type=\"open\"}";
const RING_MIB: &str = "256";

/// One fill-then-drain round: (records drained, seconds, agent cores used while draining).
fn round(bin: &Path, paths: &[CString], fill_secs: f64) -> Result<(u64, f64, f64)> {
    let agent = Agent::start(bin, &["--no-prefilter", "--ringbuf-mib", RING_MIB])?;
    std::thread::sleep(Duration::from_millis(500));
    let m0 = agent.scrape()?;
    let (k0, got0) = (OpenCounts::from_metrics(&m0), m0.get(OPEN_SERIES).unwrap_or(0.0) as u64);
    let pid = agent.pid() as i32;
    unsafe { libc::kill(pid, libc::SIGSTOP) };
    // Paced above what the generator reaches: as fast as it goes for `fill_secs`.
    load::paced_opens_threads(2_000_000, fill_secs, paths);
    let cpu0 = cpu_secs(agent.pid());
    let t = Instant::now();
    unsafe { libc::kill(pid, libc::SIGCONT) };
    let k = loop {
        std::thread::sleep(Duration::from_millis(20));
        let m = agent.scrape()?;
        let k = OpenCounts::from_metrics(&m).since(&k0);
        let got = (m.get(OPEN_SERIES).unwrap_or(0.0) as u64).saturating_sub(got0);
        if got >= k.emitted {
            break k;
        }
        ensure!(t.elapsed() < Duration::from_secs(60), "the agent drained {got} of {} records in 60 s", k.emitted);
    };
    let secs = t.elapsed().as_secs_f64();
    let cores = (cpu_secs(agent.pid()) - cpu0) / secs;
    agent.stop()?;
    ensure!(k.drops + k.stash_full == 0, "the {RING_MIB} MiB ring overflowed ({k:?}): fill for less time");
    Ok((k.emitted, secs, cores))
}

pub fn run(rep: &mut Report, bin: &Path, paths: &[CString], quick: bool) -> Result<()> {
    // About 1.5 M records at the generator's ~2 M/s with nobody reading: 256 MiB holds ~2 M.
    let (fill_secs, rounds) = if quick { (0.75, 1) } else { (0.75, 3) };
    let mut r = Vec::new();
    for i in 0..rounds {
        eprintln!("bench: drain round {}/{rounds}", i + 1);
        let (n, secs, cores) = round(bin, paths, fill_secs)?;
        eprintln!("bench: drained {n} records in {secs:.3} s ({:.2} M/s, {cores:.2} cores)", n as f64 / secs / 1e6);
        r.push((n as f64 / secs, n, secs, cores));
    }
    r.sort_by(|a, b| a.0.total_cmp(&b.0));
    let (rate, n, secs, cores) = r[r.len() / 2];
    rep.row(
        format!(
            "reader capacity: a full ring of open records drained with 0 drops (--no-prefilter, {RING_MIB} MiB ring \
             filled while the agent is held with SIGSTOP, then released; the generator is done, both cores free)"
        ),
        format!(
            "**{:.2} M records/s** [{:.2} … {:.2}]: {n} records in {secs:.2} s, the agent using {cores:.2} cores \
             (median [min … max] of {rounds} rounds)",
            rate / 1e6,
            r[0].0 / 1e6,
            r[r.len() - 1].0 / 1e6
        ),
        "≥ 1 M events/s",
        verdict(rate >= 1e6, format!("{:.2} M/s", rate / 1e6)),
    );
    Ok(())
}
