//! The internal "kernel event drop" alert: fed the kernel's cumulative drop
//! totals periodically, [`DropAlertState`] reports new drops at most once per
//! interval (Falco's "Falco internal: syscall event drop" equivalent), so lost
//! events are visible in the alert stream, not only in metrics. The caller
//! turns a [`DropReport`] into an alert and sends it through the sinks.
use std::{
    collections::BTreeMap,
    time::{Duration, Instant},
};

use super::KernelSnapshot;

/// Rule name of the internal alert.
pub const DROP_RULE: &str = "Lanner internal: kernel event drop";
/// Priority of the internal alert (Falco uses Critical for its drop alert).
pub const DROP_PRIORITY: &str = "Critical";
/// Rank of [`DROP_PRIORITY`] (0 = Emergency … 7 = Debug).
pub const DROP_PRIORITY_RANK: u8 = 2;
/// Kernel counter whose increase is a drop.
pub const DROP_COUNTER: &str = "ringbuf_drop";
/// Tags of the internal alert.
pub const DROP_TAGS: [&str; 2] = ["lanner_internal", "event_drop"];

/// Drops of one probe in a report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeDrops {
    pub probe: String,
    /// Drops since the previous report.
    pub new: u64,
    /// Cumulative drops since the agent started.
    pub total: u64,
}

/// What to put in the internal alert.
#[derive(Debug, Clone, PartialEq)]
pub struct DropReport {
    pub rule: &'static str,
    pub priority: &'static str,
    pub priority_rank: u8,
    pub tags: [&'static str; 2],
    /// Drops since the previous report, all probes.
    pub new_drops: u64,
    /// Cumulative drops, all probes.
    pub total_drops: u64,
    /// Time since the previous report (or since the first observation).
    pub window: Duration,
    /// Probes with new drops, by name.
    pub per_probe: Vec<ProbeDrops>,
    /// Human-readable alert text.
    pub output: String,
}

impl DropReport {
    /// `output_fields` of the alert (values are numbers or strings).
    pub fn output_fields(&self) -> BTreeMap<String, serde_json::Value> {
        let mut m = BTreeMap::new();
        m.insert("lanner.drops.new".to_owned(), self.new_drops.into());
        m.insert("lanner.drops.total".to_owned(), self.total_drops.into());
        m.insert("lanner.drops.window_s".to_owned(), self.window.as_secs().into());
        for p in &self.per_probe {
            m.insert(format!("lanner.drops.probe.{}", p.probe), p.new.into());
        }
        m
    }
}

/// Rate limiter and delta tracker of the internal drop alert.
#[derive(Debug)]
pub struct DropAlertState {
    min_interval: Duration,
    /// Totals at the last report (the kernel counters start at zero).
    reported: BTreeMap<String, u64>,
    last_report: Option<Instant>,
    first_seen: Option<Instant>,
}

impl DropAlertState {
    /// At most one report per `min_interval` (Falco's default is 60 s).
    pub fn new(min_interval: Duration) -> Self {
        Self { min_interval, reported: BTreeMap::new(), last_report: None, first_seen: None }
    }

    /// Feed a kernel counter snapshot; uses its `ringbuf_drop` counters.
    pub fn observe_snapshot(&mut self, now: Instant, snap: &KernelSnapshot) -> Option<DropReport> {
        let totals: BTreeMap<&str, u64> =
            snap.iter().map(|(p, c)| (*p, c.get(DROP_COUNTER).copied().unwrap_or(0))).collect();
        self.observe(now, &totals)
    }

    /// Feed the cumulative drop totals per probe. Returns a report when there
    /// are drops not yet reported and the last report is at least
    /// `min_interval` old; otherwise the drops accumulate into the next one.
    pub fn observe<S: AsRef<str>>(&mut self, now: Instant, totals: &BTreeMap<S, u64>) -> Option<DropReport> {
        let first = *self.first_seen.get_or_insert(now);
        if let Some(last) = self.last_report {
            if now.saturating_duration_since(last) < self.min_interval {
                return None;
            }
        }
        let mut per_probe = Vec::new();
        let mut new_drops = 0u64;
        let mut total_drops = 0u64;
        for (probe, &total) in totals {
            let before = self.reported.get(probe.as_ref()).copied().unwrap_or(0);
            // A total below the last one means the counters were reset (new maps).
            let new = if total >= before { total - before } else { total };
            total_drops += total;
            if new > 0 {
                new_drops += new;
                per_probe.push(ProbeDrops { probe: probe.as_ref().to_owned(), new, total });
            }
        }
        if new_drops == 0 {
            return None;
        }
        let window = now.saturating_duration_since(self.last_report.unwrap_or(first));
        for (probe, &total) in totals {
            self.reported.insert(probe.as_ref().to_owned(), total);
        }
        self.last_report = Some(now);
        let detail: Vec<String> = per_probe.iter().map(|p| format!("{}={}", p.probe, p.new)).collect();
        let output = format!(
            "{DROP_RULE}. {new_drops} events dropped by the kernel in the last {}s ({}); {total_drops} since start. \
             Detections may have been missed: raise --ringbuf-mib or reduce load.",
            window.as_secs(),
            detail.join(" ")
        );
        Some(DropReport {
            rule: DROP_RULE,
            priority: DROP_PRIORITY,
            priority_rank: DROP_PRIORITY_RANK,
            tags: DROP_TAGS,
            new_drops,
            total_drops,
            window,
            per_probe,
            output,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn totals(v: &[(&'static str, u64)]) -> BTreeMap<&'static str, u64> {
        v.iter().copied().collect()
    }

    #[test]
    fn rate_limited_and_accumulating() {
        let t0 = Instant::now();
        let mut st = DropAlertState::new(Duration::from_secs(60));
        // No drops: nothing.
        assert_eq!(st.observe(t0, &totals(&[("openat_exit", 0)])), None);
        // First drops: reported at once.
        let r = st.observe(t0 + Duration::from_secs(1), &totals(&[("openat_exit", 10), ("execve_exit", 0)])).unwrap();
        assert_eq!((r.new_drops, r.total_drops), (10, 10));
        assert_eq!(r.per_probe, vec![ProbeDrops { probe: "openat_exit".into(), new: 10, total: 10 }]);
        assert_eq!(r.rule, DROP_RULE);
        assert!(r.output.contains("openat_exit=10"), "{}", r.output);
        // More drops within the interval: suppressed…
        for s in [2, 30, 60] {
            let t = t0 + Duration::from_secs(s);
            assert_eq!(st.observe(t, &totals(&[("openat_exit", 15), ("execve_exit", 3)])), None, "at {s}s");
        }
        // …and reported together once the interval has passed.
        let r = st.observe(t0 + Duration::from_secs(61), &totals(&[("openat_exit", 17), ("execve_exit", 3)])).unwrap();
        assert_eq!((r.new_drops, r.total_drops), (10, 20));
        assert_eq!(r.window, Duration::from_secs(60));
        let f = r.output_fields();
        assert_eq!(f["lanner.drops.probe.openat_exit"], 7);
        assert_eq!(f["lanner.drops.probe.execve_exit"], 3);
        assert_eq!(f["lanner.drops.new"], 10);
        // Interval passed but nothing new: nothing.
        assert_eq!(st.observe(t0 + Duration::from_secs(200), &totals(&[("openat_exit", 17)])), None);
        // New drops after a quiet period are reported at once.
        let r = st.observe(t0 + Duration::from_secs(201), &totals(&[("openat_exit", 18)])).unwrap();
        assert_eq!(r.new_drops, 1);
    }

    #[test]
    fn counter_reset_and_snapshot_input() {
        let t0 = Instant::now();
        let mut st = DropAlertState::new(Duration::from_secs(1));
        assert_eq!(st.observe(t0, &totals(&[("p", 100)])).unwrap().new_drops, 100);
        // Counters restarted (maps recreated): the new total is all new.
        assert_eq!(st.observe(t0 + Duration::from_secs(2), &totals(&[("p", 5)])).unwrap().new_drops, 5);
        let mut snap = KernelSnapshot::new();
        snap.insert("p", BTreeMap::from([("ringbuf_drop", 9), ("emitted", 1000)]));
        let r = st.observe_snapshot(t0 + Duration::from_secs(4), &snap).unwrap();
        assert_eq!(r.new_drops, 4);
    }
}
