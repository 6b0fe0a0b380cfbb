//! Node metrics: one [`Metrics`] struct registers every `lanner_*` family in a
//! prometheus-client registry; `http.rs` serves it as OpenMetrics text on
//! `--metrics-addr` (default `0.0.0.0:9376`) with `/healthz` and `/readyz`.
//!
//! Hot-path counters are handed out as cheap atomic handles (`Counter` clones)
//! so callers cache them; kernel counters and process CPU/RSS are read at
//! scrape time by collectors (`collect.rs`). Every metric is listed in
//! docs/metrics.md with its Falco / Tetragon equivalent.
// Until run.rs wires this module in (and for API kept for the triage worker).
#![allow(dead_code, unused_imports)]

mod cgroups;
mod collect;
pub mod drop_alert;
mod http;

use std::{
    sync::{
        atomic::{AtomicBool, AtomicU64, Ordering},
        Arc,
    },
    time::{SystemTime, UNIX_EPOCH},
};

use prometheus_client::{
    encoding::EncodeLabelSet,
    metrics::{counter::Counter, family::Family, gauge::Gauge, histogram::Histogram},
    registry::{Registry, Unit},
};

pub use collect::KernelSnapshot;
pub use drop_alert::{DropAlertState, DropReport};
pub use http::{MetricsArgs, MetricsError, MetricsServer, DEFAULT_METRICS_ADDR};

/// Buckets of `lanner_alert_latency_seconds`: 100 µs … 1 s (1-2.5-5 series).
pub const LATENCY_BUCKETS: [f64; 13] =
    [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0];
/// Buckets of `lanner_enrichment_hold_seconds`: 1 ms … 5 s.
pub const HOLD_BUCKETS: [f64; 12] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0];

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TypeLabels {
    pub r#type: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RuleLabels {
    pub rule: String,
    pub priority: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TagLabels {
    pub tag: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReasonLabels {
    pub reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StateLabels {
    pub state: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ResultLabels {
    pub result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ProbeLabels {
    pub probe: String,
    /// `tracepoint/…`, `raw_tracepoint/…` or `fexit/…`: the path the probe uses.
    pub hook: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct SinkLabels {
    pub sink: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct SinkDropLabels {
    pub sink: String,
    pub reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct BadFrameLabels {
    pub side: &'static str,
    pub reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct VersionLabels {
    version: &'static str,
}

/// Counters of the triage protocol, shared by the agent-side client and the
/// worker-side server; register them in any registry (the worker has its own).
#[derive(Clone, Debug, Default)]
pub struct ProtocolMetrics {
    /// `lanner_protocol_bad_frames_total{side,reason}`.
    pub bad_frames: Family<BadFrameLabels, Counter>,
    /// `lanner_protocol_server_alerts_total{result}`: handled | duplicate | handler_error.
    pub server_alerts: Family<ResultLabels, Counter>,
}

impl ProtocolMetrics {
    pub fn register(registry: &mut Registry) -> Self {
        let m = Self::default();
        registry.register(
            "protocol_bad_frames",
            "Triage-protocol frames rejected (side that rejected it, reason); the connection is reset",
            m.bad_frames.clone(),
        );
        registry.register(
            "protocol_server_alerts",
            "Alert frames received by a triage server, by result",
            m.server_alerts.clone(),
        );
        m
    }

    pub fn bad_frame(&self, side: &'static str, reason: &'static str) {
        self.bad_frames.get_or_create(&BadFrameLabels { side, reason }).inc();
    }
}

/// Every `lanner_*` metric family of the agent.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    pub probe_attached: Family<ProbeLabels, Gauge>,
    pub events: Family<TypeLabels, Counter>,
    pub decode_errors: Counter,
    pub reader_rewakes: Counter,
    pub rule_matches: Family<RuleLabels, Counter>,
    pub rule_matches_by_tag: Family<TagLabels, Counter>,
    pub alert_latency: Histogram,
    pub enrichment_holds: Counter,
    pub enrichment_misses: Family<ReasonLabels, Counter>,
    pub enrichment_hold: Histogram,
    pub sink_queue_depth: Family<SinkLabels, Gauge>,
    pub sink_dropped: Family<SinkDropLabels, Counter>,
    pub sink_sent: Family<SinkLabels, Counter>,
    pub spool_bytes: Family<SinkLabels, Gauge>,
    pub spool_records: Family<SinkLabels, Gauge>,
    pub spool_corrupt_records: Family<SinkLabels, Counter>,
    pub triage_connected: Family<SinkLabels, Gauge>,
    pub triage_inflight: Family<SinkLabels, Gauge>,
    pub triage_reconnects: Family<SinkLabels, Counter>,
    pub rules_reload: Family<ResultLabels, Counter>,
    pub rules_last_reload_timestamp: Gauge<f64, AtomicU64>,
    pub rules_loaded: Gauge,
    /// Pods in the pod cache (`PodCache::export_size` keeps it current).
    pub k8s_pods_cached: Gauge,
    /// `lanner_dns_resolutions_total{result}`: resolutions of the names `fd.*ip.name` compares with.
    pub dns_resolutions: Family<ResultLabels, Counter>,
    /// `lanner_dns_names`: names the active rules compare `fd.*ip.name` with.
    pub dns_names: Gauge,
    pub rules_state: Family<StateLabels, Gauge>,
    pub drop_alerts: Counter,
    pub protocol: ProtocolMetrics,
    kernel: Arc<collect::KernelCollector>,
    cgroups: Arc<cgroups::CgroupCollector>,
    ready: AtomicBool,
    /// Unix seconds of the last pipeline heartbeat (0: never).
    heartbeat: AtomicU64,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut r = Registry::with_prefix("lanner");
        let probe_attached = Family::<ProbeLabels, Gauge>::default();
        r.register(
            "probe_attached",
            "1 per eBPF program attached, 0 for one not loaded (failed, replaced by a preferred probe, fallback, or no rule needs its event type), by hook",
            probe_attached.clone(),
        );
        let events = Family::<TypeLabels, Counter>::default();
        r.register("events", "Events decoded from the kernel ring buffer, by event type", events.clone());
        let decode_errors = Counter::default();
        r.register("decode_errors", "Ring-buffer records that could not be decoded", decode_errors.clone());
        let reader_rewakes = Counter::default();
        r.register(
            "reader_rewakes",
            "Lost ring-buffer wake-ups the reader recovered on its housekeeping tick (it slept, yet records or a lowered idle flag were there)",
            reader_rewakes.clone(),
        );
        let rule_matches = Family::<RuleLabels, Counter>::default();
        r.register("rule_matches", "Alerts raised, by rule and priority", rule_matches.clone());
        let rule_matches_by_tag = Family::<TagLabels, Counter>::default();
        r.register("rule_matches_by_tag", "Alerts raised, by rule tag (MITRE ids…)", rule_matches_by_tag.clone());
        let alert_latency = Histogram::new(LATENCY_BUCKETS);
        r.register_with_unit(
            "alert_latency",
            "Kernel event timestamp to alert handed to the sinks",
            Unit::Seconds,
            alert_latency.clone(),
        );
        let enrichment_holds = Counter::default();
        r.register("enrichment_holds", "Alerts held back waiting for pod metadata", enrichment_holds.clone());
        let enrichment_misses = Family::<ReasonLabels, Counter>::default();
        r.register("enrichment_misses", "Alerts emitted without pod metadata, by reason", enrichment_misses.clone());
        let enrichment_hold = Histogram::new(HOLD_BUCKETS);
        r.register_with_unit(
            "enrichment_hold",
            "Time an alert was held for metadata",
            Unit::Seconds,
            enrichment_hold.clone(),
        );
        let sink_queue_depth = Family::<SinkLabels, Gauge>::default();
        r.register("sink_queue_depth", "Alerts waiting in a sink's queue", sink_queue_depth.clone());
        let sink_dropped = Family::<SinkDropLabels, Counter>::default();
        r.register("sink_dropped", "Alerts a sink dropped, by reason", sink_dropped.clone());
        let sink_sent = Family::<SinkLabels, Counter>::default();
        r.register("sink_sent", "Alerts a sink delivered (triage: acked by the worker)", sink_sent.clone());
        let spool_bytes = Family::<SinkLabels, Gauge>::default();
        r.register_with_unit("spool", "On-disk size of a triage sink's spool", Unit::Bytes, spool_bytes.clone());
        let spool_records = Family::<SinkLabels, Gauge>::default();
        r.register("spool_records", "Unacked alerts in a triage sink's spool", spool_records.clone());
        let spool_corrupt_records = Family::<SinkLabels, Counter>::default();
        r.register(
            "spool_corrupt_records",
            "Corrupt spool records skipped while loading the spool",
            spool_corrupt_records.clone(),
        );
        let triage_connected = Family::<SinkLabels, Gauge>::default();
        r.register(
            "triage_connected",
            "1 while the triage sink holds a session with the worker",
            triage_connected.clone(),
        );
        let triage_inflight = Family::<SinkLabels, Gauge>::default();
        r.register("triage_inflight", "Alerts sent to the worker and not yet acked", triage_inflight.clone());
        let triage_reconnects = Family::<SinkLabels, Counter>::default();
        r.register("triage_reconnects", "Failed or lost triage-worker sessions", triage_reconnects.clone());
        let rules_reload = Family::<ResultLabels, Counter>::default();
        r.register("rules_reload", "Rule (re)loads, by result (success | failure)", rules_reload.clone());
        let rules_last_reload_timestamp = Gauge::<f64, AtomicU64>::default();
        r.register_with_unit(
            "rules_last_reload_timestamp",
            "Unix time of the last successful rule load",
            Unit::Seconds,
            rules_last_reload_timestamp.clone(),
        );
        let k8s_pods_cached = Gauge::default();
        r.register(
            "k8s_pods_cached",
            "Pods of this node in the pod cache (deleted pods in their grace period included)",
            k8s_pods_cached.clone(),
        );
        let dns_resolutions = Family::<ResultLabels, Counter>::default();
        r.register(
            "dns_resolutions",
            "Resolutions of the DNS names rules compare fd.*ip.name with, by result (success | failure); a failure keeps the name's last addresses",
            dns_resolutions.clone(),
        );
        let dns_names = Gauge::default();
        r.register("dns_names", "DNS names the loaded rules compare fd.*ip.name with", dns_names.clone());
        let rules_loaded = Gauge::default();
        r.register("rules_loaded", "Rules currently loaded and enabled", rules_loaded.clone());
        let rules_state = Family::<StateLabels, Gauge>::default();
        r.register(
            "rules",
            "Defined rules by state: active, or inactive (disabled, an event type not captured, a field not supplied)",
            rules_state.clone(),
        );
        let drop_alerts = Counter::default();
        r.register("drop_alerts", "Internal 'kernel event drop' alerts emitted", drop_alerts.clone());
        let protocol = ProtocolMetrics::register(&mut r);
        let build = Family::<VersionLabels, Gauge>::default();
        build.get_or_create(&VersionLabels { version: env!("CARGO_PKG_VERSION") }).set(1);
        r.register("build_info", "Agent version", build);
        let kernel = Arc::new(collect::KernelCollector::default());
        r.register_collector(Box::new(kernel.clone()));
        let cgroups = Arc::new(cgroups::CgroupCollector::default());
        r.register_collector(Box::new(cgroups.clone()));
        r.register_collector(Box::new(collect::ProcessCollector::new()));
        Self {
            registry: r,
            probe_attached,
            events,
            decode_errors,
            reader_rewakes,
            rule_matches,
            rule_matches_by_tag,
            alert_latency,
            enrichment_holds,
            enrichment_misses,
            enrichment_hold,
            sink_queue_depth,
            sink_dropped,
            sink_sent,
            spool_bytes,
            spool_records,
            spool_corrupt_records,
            triage_connected,
            triage_inflight,
            triage_reconnects,
            rules_reload,
            rules_last_reload_timestamp,
            rules_loaded,
            k8s_pods_cached,
            dns_resolutions,
            dns_names,
            rules_state,
            drop_alerts,
            protocol,
            kernel,
            cgroups,
            ready: AtomicBool::new(false),
            heartbeat: AtomicU64::new(0),
        }
    }

    /// `lanner_probe_attached{probe,hook}` from the probe table's outcome.
    pub fn set_probes(&self, statuses: &[crate::probes::ProbeStatus]) {
        for st in statuses {
            let labels = ProbeLabels { probe: st.program.to_string(), hook: st.hook.to_string() };
            self.probe_attached.get_or_create(&labels).set(i64::from(st.attached));
        }
    }

    /// Counter handle for `lanner_events_total{type}`: cache it on the hot path.
    pub fn event_counter(&self, r#type: &'static str) -> Counter {
        self.events.get_or_create(&TypeLabels { r#type }).clone()
    }

    /// Count one alert: `lanner_rule_matches_total{rule,priority}` and one
    /// `lanner_rule_matches_by_tag_total{tag}` per tag.
    pub fn rule_matched<T: AsRef<str>>(&self, rule: &str, priority: &str, tags: &[T]) {
        let l = RuleLabels { rule: rule.to_owned(), priority: priority.to_owned() };
        self.rule_matches.get_or_create(&l).inc();
        for t in tags {
            self.rule_matches_by_tag.get_or_create(&TagLabels { tag: t.as_ref().to_owned() }).inc();
        }
    }

    /// Record a rule load: `success` also sets the timestamp and the rule counts.
    pub fn rules_reloaded(&self, success: bool, active: usize, inactive: usize) {
        let result = if success { "success" } else { "failure" };
        self.rules_reload.get_or_create(&ResultLabels { result }).inc();
        if success {
            self.rules_loaded.set(active as i64);
            self.rules_state.get_or_create(&StateLabels { state: "active" }).set(active as i64);
            self.rules_state.get_or_create(&StateLabels { state: "inactive" }).set(inactive as i64);
            self.rules_last_reload_timestamp.set(unix_now_f64());
        }
    }

    /// Install the scrape-time source of the kernel's cumulative counters
    /// (probe → counter name → total, e.g. `counters::read(&map).by_probe`).
    pub fn set_kernel_source<F>(&self, source: F)
    where
        F: Fn() -> KernelSnapshot + Send + Sync + 'static,
    {
        self.kernel.set_source(Box::new(source));
    }

    /// Install the scrape-time source of container resolution counters
    /// (`Enricher::stats`): `lanner_cgroup_*`, `lanner_proc_cgroup_reads_total`.
    pub fn set_enrich_source<F>(&self, source: F)
    where
        F: Fn() -> crate::k8s::enrich::EnrichStats + Send + Sync + 'static,
    {
        self.cgroups.set_source(Box::new(source));
    }

    /// Per-sink handles (`sink` label fixed): the series every sink has
    /// (queue depth, sent, dropped). The triage-only handles are detached,
    /// not exported: see [`Self::triage_sink`].
    pub fn sink(&self, name: &str) -> SinkMetrics {
        let l = SinkLabels { sink: name.to_owned() };
        SinkMetrics {
            name: name.into(),
            queue_depth: self.sink_queue_depth.get_or_create(&l).clone(),
            sent: self.sink_sent.get_or_create(&l).clone(),
            dropped: self.sink_dropped.clone(),
            spool_bytes: Gauge::default(),
            spool_records: Gauge::default(),
            spool_corrupt: Counter::default(),
            connected: Gauge::default(),
            inflight: Gauge::default(),
            reconnects: Counter::default(),
            protocol: self.protocol.clone(),
        }
    }

    /// [`Self::sink`] plus the series of a triage sink: spool size and
    /// records, corrupt records, session, in-flight window, reconnects.
    pub fn triage_sink(&self, name: &str) -> SinkMetrics {
        let l = SinkLabels { sink: name.to_owned() };
        SinkMetrics {
            spool_bytes: self.spool_bytes.get_or_create(&l).clone(),
            spool_records: self.spool_records.get_or_create(&l).clone(),
            spool_corrupt: self.spool_corrupt_records.get_or_create(&l).clone(),
            connected: self.triage_connected.get_or_create(&l).clone(),
            inflight: self.triage_inflight.get_or_create(&l).clone(),
            reconnects: self.triage_reconnects.get_or_create(&l).clone(),
            ..self.sink(name)
        }
    }

    /// Mark the agent ready (`/readyz` → 200) once probes are attached.
    pub fn set_ready(&self, ready: bool) {
        self.ready.store(ready, Ordering::Relaxed);
    }

    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Relaxed)
    }

    /// Called periodically by the event loop; `/healthz` fails when the last
    /// heartbeat is older than [`http::STALE_HEARTBEAT_SECS`].
    pub fn heartbeat(&self) {
        self.heartbeat.store(unix_now_f64() as u64, Ordering::Relaxed);
    }

    fn heartbeat_age_secs(&self) -> Option<u64> {
        match self.heartbeat.load(Ordering::Relaxed) {
            0 => None,
            t => Some((unix_now_f64() as u64).saturating_sub(t)),
        }
    }

    /// OpenMetrics text of every family (what `GET /metrics` returns).
    pub fn encode(&self) -> String {
        let mut s = String::with_capacity(16 * 1024);
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut s, &self.registry);
        s
    }
}

/// A sink's metric handles, created once at build time.
#[derive(Clone, Debug)]
pub struct SinkMetrics {
    pub name: Arc<str>,
    pub queue_depth: Gauge,
    pub sent: Counter,
    dropped: Family<SinkDropLabels, Counter>,
    pub spool_bytes: Gauge,
    pub spool_records: Gauge,
    pub spool_corrupt: Counter,
    pub connected: Gauge,
    pub inflight: Gauge,
    pub reconnects: Counter,
    pub protocol: ProtocolMetrics,
}

impl SinkMetrics {
    /// Handle of `lanner_sink_dropped_total{sink, reason}`.
    pub fn dropped(&self, reason: &'static str) -> Counter {
        self.dropped.get_or_create(&SinkDropLabels { sink: self.name.to_string(), reason }).clone()
    }
}

fn unix_now_f64() -> f64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or(0.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[test]
    fn exposition_has_expected_names_units_and_labels() {
        let m = Metrics::new();
        m.event_counter("exec").inc_by(3);
        m.decode_errors.inc();
        m.reader_rewakes.inc();
        m.rule_matched("Terminal shell in container", "Notice", &["T1059", "container"]);
        m.alert_latency.observe(0.0003);
        m.enrichment_holds.inc();
        m.enrichment_misses.get_or_create(&ReasonLabels { reason: "pod_not_found" }).inc();
        m.enrichment_hold.observe(0.02);
        let s = m.sink("stdout");
        s.queue_depth.set(2);
        s.sent.inc();
        s.dropped("queue_full").inc();
        s.spool_bytes.set(99);
        s.connected.set(1);
        let t = m.triage_sink("triage");
        t.spool_bytes.set(1234);
        t.connected.set(1);
        t.reconnects.inc();
        m.rules_reloaded(true, 61, 7);
        m.drop_alerts.inc();
        m.dns_resolutions.get_or_create(&ResultLabels { result: "failure" }).inc();
        m.dns_names.set(2);
        m.protocol.bad_frame("agent", "oversized");
        let st = |program, hook, attached| crate::probes::ProbeStatus {
            program,
            hook,
            attached,
            replaced_by: None,
            error: None,
            unneeded: false,
        };
        m.set_probes(&[
            st("openat_fexit", crate::probes::Hook::FExit { function: "do_sys_openat2" }, true),
            st(
                "openat_enter",
                crate::probes::Hook::TracePoint { category: "syscalls", name: "sys_enter_openat" },
                false,
            ),
        ]);
        m.set_kernel_source(|| {
            let mut snap = KernelSnapshot::new();
            snap.insert("openat_exit", BTreeMap::from([("ringbuf_drop", 5), ("str_read_fail", 2), ("emitted", 9)]));
            snap.insert("sched_process_exec", BTreeMap::from([("stash_miss", 1), ("new_counter", 4)]));
            snap
        });
        let text = m.encode();
        for want in [
            "lanner_events_total{type=\"exec\"} 3",
            "lanner_probe_attached{probe=\"openat_fexit\",hook=\"fexit/do_sys_openat2\"} 1",
            "lanner_probe_attached{probe=\"openat_enter\",hook=\"tracepoint/syscalls/sys_enter_openat\"} 0",
            "lanner_decode_errors_total 1",
            "lanner_reader_rewakes_total 1",
            "lanner_rule_matches_total{rule=\"Terminal shell in container\",priority=\"Notice\"} 1",
            "lanner_rule_matches_by_tag_total{tag=\"T1059\"} 1",
            "lanner_alert_latency_seconds_bucket{le=\"0.0005\"} 1",
            "lanner_alert_latency_seconds_bucket{le=\"0.00025\"} 0",
            "lanner_enrichment_holds_total 1",
            "lanner_enrichment_misses_total{reason=\"pod_not_found\"} 1",
            "lanner_enrichment_hold_seconds_count 1",
            "lanner_sink_queue_depth{sink=\"stdout\"} 2",
            "lanner_sink_sent_total{sink=\"stdout\"} 1",
            "lanner_sink_dropped_total{sink=\"stdout\",reason=\"queue_full\"} 1",
            "lanner_spool_bytes{sink=\"triage\"} 1234",
            "lanner_triage_connected{sink=\"triage\"} 1",
            "lanner_triage_reconnects_total{sink=\"triage\"} 1",
            "lanner_triage_inflight{sink=\"triage\"} 0",
            "lanner_sink_sent_total{sink=\"triage\"} 0",
            "lanner_rules_reload_total{result=\"success\"} 1",
            "lanner_rules_last_reload_timestamp_seconds ",
            "lanner_rules_loaded 61",
            "lanner_rules{state=\"active\"} 61",
            "lanner_rules{state=\"inactive\"} 7",
            "lanner_drop_alerts_total 1",
            "lanner_dns_resolutions_total{result=\"failure\"} 1",
            "lanner_dns_names 2",
            "lanner_protocol_bad_frames_total{side=\"agent\",reason=\"oversized\"} 1",
            "lanner_kernel_ringbuf_drops_total{probe=\"openat_exit\"} 5",
            "lanner_kernel_str_read_failures_total{probe=\"openat_exit\"} 2",
            "lanner_kernel_events_total{probe=\"openat_exit\"} 9",
            "lanner_kernel_stash_misses_total{probe=\"sched_process_exec\"} 1",
            "lanner_kernel_new_counter_total{probe=\"sched_process_exec\"} 4",
            "lanner_process_resident_memory_bytes ",
            "lanner_process_cpu_seconds_total ",
            "lanner_build_info{version=",
            "# EOF",
        ] {
            assert!(text.contains(want), "missing {want:?} in:\n{text}");
        }
        // Triage-only series exist for triage sinks only.
        for l in text.lines().filter(|l| l.starts_with("lanner_triage_") || l.starts_with("lanner_spool_")) {
            assert!(!l.contains("sink=\"stdout\""), "triage-only series for the stdout sink: {l}\n{text}");
        }
        // Each family is described once.
        assert_eq!(text.matches("# TYPE lanner_kernel_ringbuf_drops counter").count(), 1, "{text}");
    }

    #[test]
    fn readiness_and_heartbeat() {
        let m = Metrics::new();
        assert!(!m.is_ready());
        m.set_ready(true);
        assert!(m.is_ready());
        assert_eq!(m.heartbeat_age_secs(), None);
        m.heartbeat();
        assert!(m.heartbeat_age_secs().unwrap() <= 1);
    }
}
