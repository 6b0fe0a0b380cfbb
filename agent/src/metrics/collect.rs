//! Scrape-time collectors: the kernel's cumulative per-probe counters (read
//! from the BPF counters map through a callback the agent installs) and the
//! process's CPU time and resident memory (from /proc/self/stat and statm).
//! Reading at scrape time keeps these off the event path entirely.
use std::{collections::BTreeMap, sync::RwLock};

use prometheus_client::{
    collector::Collector,
    encoding::{DescriptorEncoder, EncodeMetric},
    metrics::{counter::ConstCounter, gauge::ConstGauge},
    registry::Unit,
};

/// probe name → kernel counter name → cumulative total (over CPUs). The shape
/// of `counters::KernelCounters::by_probe`.
pub type KernelSnapshot = BTreeMap<&'static str, BTreeMap<&'static str, u64>>;

type Source = Box<dyn Fn() -> KernelSnapshot + Send + Sync>;

/// Kernel counter name (agent-common `Counter::name()`) → metric name (without
/// prefix and `_total`) and help.
const KERNEL_NAMES: &[(&str, &str, &str)] = &[
    ("emitted", "kernel_events", "Events the probes wrote to the ring buffer"),
    ("ringbuf_drop", "kernel_ringbuf_drops", "Events lost because the ring buffer was full"),
    ("str_read_fail", "kernel_str_read_failures", "Failed reads of user/kernel strings (path, argv…)"),
    ("stash_miss", "kernel_stash_misses", "Exit probes that found no matching enter-time stash entry"),
    ("stash_full", "kernel_stash_full", "Enter probes that could not stash arguments (map full)"),
    ("filtered", "kernel_filtered", "Events discarded in the kernel by the rule-derived pre-filter"),
    ("own", "kernel_own", "Events of the agent's own process, skipped in the kernel"),
];

#[derive(Default)]
pub(super) struct KernelCollector {
    source: RwLock<Option<Source>>,
}

impl std::fmt::Debug for KernelCollector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("KernelCollector")
    }
}

impl KernelCollector {
    pub(super) fn set_source(&self, source: Source) {
        *self.source.write().unwrap_or_else(|p| p.into_inner()) = Some(source);
    }
}

impl Collector for KernelCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let guard = self.source.read().unwrap_or_else(|p| p.into_inner());
        let Some(source) = guard.as_ref() else {
            return Ok(());
        };
        let snap = source();
        // Regroup as counter → probe → value: one family per kernel counter.
        let mut by_counter: BTreeMap<&str, Vec<(&str, u64)>> = BTreeMap::new();
        for (probe, counters) in &snap {
            for (counter, v) in counters {
                by_counter.entry(counter).or_default().push((probe, *v));
            }
        }
        for (counter, probes) in by_counter {
            let (name, help) = match KERNEL_NAMES.iter().find(|(c, _, _)| *c == counter) {
                Some((_, n, h)) => ((*n).to_owned(), (*h).to_owned()),
                None => (format!("kernel_{counter}"), format!("Kernel counter '{counter}'")),
            };
            let proto = ConstCounter::new(0u64);
            let mut fam = encoder.encode_descriptor(&name, &help, None, proto.metric_type())?;
            for (probe, v) in probes {
                let labels = [("probe", probe)];
                let enc = fam.encode_family(&labels)?;
                ConstCounter::new(v).encode(enc)?;
            }
        }
        Ok(())
    }
}

/// CPU seconds (user + system) and resident bytes of this process.
#[derive(Debug)]
pub(super) struct ProcessCollector {
    clk_tck: f64,
    page_size: u64,
}

impl ProcessCollector {
    pub(super) fn new() -> Self {
        // SAFETY: sysconf has no memory-safety preconditions.
        let (tck, page) = unsafe { (libc::sysconf(libc::_SC_CLK_TCK), libc::sysconf(libc::_SC_PAGESIZE)) };
        Self { clk_tck: if tck > 0 { tck as f64 } else { 100.0 }, page_size: if page > 0 { page as u64 } else { 4096 } }
    }
}

/// utime + stime in clock ticks from the text of /proc/self/stat.
pub(super) fn parse_stat_cpu_ticks(stat: &str) -> Option<u64> {
    // The command name (field 2) may contain spaces and parentheses: fields
    // after it are counted from the last ')'. utime/stime are fields 14/15.
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut it = rest.split_ascii_whitespace().skip(11);
    let utime: u64 = it.next()?.parse().ok()?;
    let stime: u64 = it.next()?.parse().ok()?;
    Some(utime + stime)
}

/// Resident pages from the text of /proc/self/statm (second field).
pub(super) fn parse_statm_resident_pages(statm: &str) -> Option<u64> {
    statm.split_ascii_whitespace().nth(1)?.parse().ok()
}

impl Collector for ProcessCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        if let Some(ticks) = std::fs::read_to_string("/proc/self/stat").ok().as_deref().and_then(parse_stat_cpu_ticks) {
            let c = ConstCounter::new(ticks as f64 / self.clk_tck);
            let enc = encoder.encode_descriptor(
                "process_cpu",
                "User and system CPU time of the agent process",
                Some(&Unit::Seconds),
                c.metric_type(),
            )?;
            c.encode(enc)?;
        }
        if let Some(pages) =
            std::fs::read_to_string("/proc/self/statm").ok().as_deref().and_then(parse_statm_resident_pages)
        {
            let g = ConstGauge::new((pages * self.page_size) as i64);
            let enc = encoder.encode_descriptor(
                "process_resident_memory",
                "Resident memory of the agent process",
                Some(&Unit::Bytes),
                g.metric_type(),
            )?;
            g.encode(enc)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_proc_stat_with_tricky_comm() {
        let stat = "1234 (my (odd) proc) S 1 1234 1234 0 -1 4194560 100 0 0 0 250 75 0 0 20 0 3 0 100 1000 50";
        assert_eq!(parse_stat_cpu_ticks(stat), Some(325));
        assert_eq!(parse_stat_cpu_ticks("garbage"), None);
        assert_eq!(parse_statm_resident_pages("5000 1200 300 10 0 900 0\n"), Some(1200));
        assert_eq!(parse_statm_resident_pages(""), None);
    }

    #[test]
    fn reads_own_process() {
        let stat = std::fs::read_to_string("/proc/self/stat").unwrap();
        assert!(parse_stat_cpu_ticks(&stat).is_some(), "{stat}");
        let statm = std::fs::read_to_string("/proc/self/statm").unwrap();
        assert!(parse_statm_resident_pages(&statm).unwrap() > 0);
    }
}
