//! (e) Alert latency: from the event's kernel time to the alert's JSON line
//! being read from the agent's stdout.
//!
//! `lanner run` (default rules, pre-filter on, stdout piped to us) and N opens
//! of /etc/shadow from this process, paced one per millisecond. The default
//! rule "Read sensitive file untrusted" fires on each (our process name is not
//! a trusted reader, and the agent only drops its *own* pid's events). A reader
//! thread stamps each line with the wall clock the moment it is read; the
//! alert's `time` (RFC 3339, ns: the kernel's event time mapped to the wall
//! clock by the agent) is subtracted. Alerts of other processes are ignored.
use std::{
    ffi::CString,
    io::{BufRead, BufReader},
    path::Path,
    sync::mpsc,
    time::{Duration, Instant},
};

use anyhow::{bail, Context as _, Result};

use super::{
    agent::{Agent, Opts},
    verdict, Report,
};

const RULE: &str = "Read sensitive file untrusted";
const FILE: &str = "/etc/shadow";

/// Latencies in ms (sorted) of our alerts among `lines` (read time, line).
fn latencies(lines: &[(i128, String)], comm: &str) -> (Vec<f64>, usize) {
    let mut lat = Vec::new();
    let mut bad_time = 0;
    for (read_ns, line) in lines {
        let Ok(v) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        if v["rule"] != RULE || v["output_fields"]["fd.name"] != FILE {
            continue;
        }
        if v["output_fields"]["proc.name"].as_str().is_some_and(|n| n != comm) {
            continue;
        }
        match v["time"].as_str().and_then(crate::simulate::parse_rfc3339) {
            Some(t) => lat.push((read_ns - t) as f64 / 1e6),
            None => bad_time += 1,
        }
    }
    lat.sort_by(|a, b| a.total_cmp(b));
    (lat, bad_time)
}

fn pct(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i]
}

pub fn run(rep: &mut Report, bin: &Path, quick: bool) -> Result<()> {
    let n: usize = if quick { 500 } else { 2_000 };
    let comm = std::fs::read_to_string("/proc/self/comm")?.trim().to_string();
    let mut agent = Agent::start_with(bin, Opts { stdout: true, ..Opts::default() })?;
    let out = agent.take_stdout().context("agent stdout")?;
    let (tx, rx) = mpsc::channel::<(i128, String)>();
    let reader = std::thread::spawn(move || {
        for l in BufReader::new(out).lines().map_while(Result::ok) {
            // Stamp first: parsing happens later, off the measured path.
            if tx.send((crate::simulate::now_ns(), l)).is_err() {
                break;
            }
        }
    });
    std::thread::sleep(Duration::from_millis(500));
    let path = CString::new(FILE)?;
    let start = Instant::now();
    let mut opened = 0;
    for i in 0..n {
        let fd = unsafe { libc::openat(libc::AT_FDCWD, path.as_ptr(), libc::O_RDONLY) };
        if fd >= 0 {
            opened += 1;
            unsafe { libc::close(fd) };
        }
        let due = Duration::from_millis(i as u64 + 1);
        let el = start.elapsed();
        if due > el {
            std::thread::sleep(due - el);
        }
    }
    // Collect until every alert is in, or 5 s of silence after the last open.
    let mut lines = Vec::new();
    let mut ours = 0;
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        match rx.recv_timeout(Duration::from_millis(100)) {
            Ok(l) => {
                // Cheap pre-check; exact filtering in `latencies`.
                ours += usize::from(l.1.contains(RULE));
                lines.push(l);
                if ours >= opened {
                    break;
                }
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        }
    }
    let fc = agent.stop();
    lines.extend(rx.try_iter());
    let _ = reader.join();
    let fc = fc?;
    if opened == 0 {
        bail!("could not open {FILE}");
    }
    let (lat, bad_time) = latencies(&lines, &comm);
    let (p50, p99, max) = (pct(&lat, 0.50), pct(&lat, 0.99), lat.last().copied().unwrap_or(f64::NAN));
    let drops = fc["ringbuf_drop_total"].as_u64().unwrap_or(0);
    eprintln!(
        "bench: alert latency: {} alerts for {opened} opens, p50 {p50:.2} ms, p99 {p99:.2} ms, max {max:.2} ms",
        lat.len()
    );
    let complete = lat.len() == opened && bad_time == 0;
    let mut result = format!(
        "p50 {p50:.2} ms, p99 {p99:.2} ms, max {max:.2} ms ({} alerts for {opened} opens of {FILE}, paced 1/ms; \
         {drops} ring-buffer drops)",
        lat.len()
    );
    if bad_time > 0 {
        result.push_str(&format!("; {bad_time} alerts without a parsable time"));
    }
    let miss =
        if !complete { format!("{} of {opened} alerts arrived", lat.len()) } else { format!("by {:.2} ms", p99 - 5.0) };
    rep.row(
        "alert latency p50 / p99 / max (event time → JSON line read from stdout, default rules)",
        result,
        "p99 ≤ 5 ms",
        verdict(complete && p99 <= 5.0, miss),
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(pct(&v, 0.5), 50.0);
        assert_eq!(pct(&v, 0.99), 99.0);
        assert_eq!(pct(&v[..1], 0.99), 1.0);
    }
}
