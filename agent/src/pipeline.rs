//! The userspace event path after the ring buffer: decode → process table and
//! container/pod enrichment (assemble) → rule match → alerts.
//!
//! Decode and assemble run on the reader task, and so does rule matching
//! while the reader keeps up; a drain of more than `matchstage::THREAD_MIN`
//! records (the reader is behind) hands the rest of it to the match thread
//! (`matchstage`), so both cores work at high rates. The active rule set is read through an `ArcSwap`
//! (no lock); matching allocates nothing, only a matching rule builds
//! an alert. An alert whose container is known but whose pod, or whose
//! container status (name, image), is not yet in the cache is held briefly on
//! a separate task and re-enriched, then emitted.
use std::{
    cell::RefCell,
    io::Write,
    rc::Rc,
    sync::{mpsc, Arc},
};

use lanner_common::decode::{decode, Event as KEvent};
use lanner_rules::{Alert, Event, RuleSetHandle};
use prometheus_client::metrics::counter::Counter;
use serde::Serialize;

use crate::{assemble::Assembler, k8s::enrich::CgroupIds, transport::RecordSink};

/// Userspace counters, reported in metrics and at shutdown.
#[derive(Debug, Default, Clone, Serialize)]
pub struct PipelineStats {
    pub records: u64,
    pub decode_errors: u64,
    pub exec: u64,
    pub open: u64,
    pub connect: u64,
    pub setuid: u64,
    pub fork: u64,
    pub exit: u64,
    /// Path syscalls (symlink, link, unlink, rename, mkdir, rmdir, chmod).
    pub file: u64,
    /// ptrace, socket and the module syscalls.
    pub sys: u64,
    pub alerts: u64,
    pub alerts_held: u64,
    /// Wake-ups the reader recovered on its housekeeping tick: it slept, yet
    /// records or a lowered idle flag were there (see `transport`).
    pub reader_rewakes: u64,
}

#[derive(Serialize)]
struct EventLine<'a> {
    /// Unix time of the event in nanoseconds.
    time_ns: i128,
    #[serde(flatten)]
    event: &'a KEvent,
}

/// Where alerts go once built (sinks); called on the reader task.
pub trait AlertSink {
    fn alert(&mut self, alert: Alert, event_time_ns: u64);
    fn flush(&mut self) {}
    /// Stop: deliver or spool what is queued.
    fn finish(&mut self) {}
}

/// Alerts as JSON lines on a writer shared with `--events` output, so lines
/// of the two never interleave.
pub struct JsonLines<W: Write>(pub Rc<RefCell<W>>);

impl<W: Write> AlertSink for JsonLines<W> {
    fn alert(&mut self, alert: Alert, _t: u64) {
        let mut w = self.0.borrow_mut();
        if serde_json::to_writer(&mut *w, &alert).is_ok() {
            let _ = w.write_all(b"\n");
        }
    }
    fn flush(&mut self) {
        let _ = self.0.borrow_mut().flush();
    }
}

pub struct Pipeline<W: Write> {
    pub stats: PipelineStats,
    boot_offset_ns: i128,
    /// Decoded events (`--events`) share the alert writer so lines never interleave.
    events_out: Option<Rc<RefCell<W>>>,
    events_pid: Option<u32>,
    pub assembler: Assembler,
    rules: Arc<RuleSetHandle>,
    hostname: String,
    sink: Box<dyn AlertSink>,
    held_tx: mpsc::Sender<(Alert, u64)>,
    held_rx: mpsc::Receiver<(Alert, u64)>,
    runtime: Option<tokio::runtime::Handle>,
    /// The rule-match thread for big drains; `None` = always match inline.
    stage: Option<crate::matchstage::MatchStage>,
    /// Records in the current drain so far.
    drained: usize,
    /// Events went to the match thread since its matches were last taken.
    threaded: bool,
    /// The rule set inline matching uses, with the reload count it was read
    /// at: re-read only after a reload (an `ArcSwap` load per event showed in
    /// profiles).
    active: Option<(u64, Arc<lanner_rules::RuleSet>)>,
    /// Rule ids matched inline (reused, so matching allocates nothing).
    hits: Vec<lanner_rules::RuleId>,
    /// `lanner_events_total{type}` handles (exec, open, connect, setuid, fork, exit) + decode errors.
    /// Events by type, decode errors, reader re-wakes.
    counters: Option<([Counter; 8], Counter, Counter)>,
    /// `lanner_enrichment_{holds_total,hold_seconds,misses_total}`.
    enrich_metrics: Option<EnrichMetrics>,
}

/// Handles of the enrichment metrics, moved into each hold's task.
#[derive(Clone)]
struct EnrichMetrics {
    holds: Counter,
    hold: prometheus_client::metrics::histogram::Histogram,
    misses: prometheus_client::metrics::family::Family<crate::metrics::ReasonLabels, Counter>,
}

impl EnrichMetrics {
    /// Why an alert of a kubelet container left without its pod's metadata,
    /// or `None` when it is complete.
    fn miss_reason(c: Option<&lanner_rules::Container>) -> Option<&'static str> {
        let c = c?;
        if c.k8s.is_none() {
            Some("pod_not_found")
        } else if c.name.is_empty() {
            Some("container_status_missing")
        } else {
            None
        }
    }
}

impl<W: Write> Pipeline<W> {
    pub fn new(
        boot_offset_ns: i128,
        events_out: Option<Rc<RefCell<W>>>,
        events_pid: Option<u32>,
        assembler: Assembler,
        rules: Arc<RuleSetHandle>,
        hostname: String,
        sink: Box<dyn AlertSink>,
    ) -> Self {
        let (held_tx, held_rx) = mpsc::channel();
        Self {
            stats: PipelineStats::default(),
            boot_offset_ns,
            events_out,
            events_pid,
            assembler,
            rules,
            hostname,
            sink,
            held_tx,
            held_rx,
            runtime: tokio::runtime::Handle::try_current().ok(),
            stage: None,
            drained: 0,
            threaded: false,
            active: None,
            hits: Vec::new(),
            counters: None,
            enrich_metrics: None,
        }
    }

    /// Match rules on a thread of their own from now on.
    pub fn start_match_thread(&mut self) -> std::io::Result<()> {
        self.stage = Some(crate::matchstage::MatchStage::spawn(self.rules.clone())?);
        Ok(())
    }

    /// Woken when the match thread has results or a held alert is back.
    pub fn match_wake(&self) -> Option<Arc<tokio::sync::Notify>> {
        self.stage.as_ref().map(|s| s.wake.clone())
    }

    /// The end of a drain: what waits for the match thread goes now.
    fn dispatch(&mut self) {
        self.drained = 0;
        if let Some(stage) = self.stage.as_mut() {
            stage.send();
        }
    }

    /// Match on this thread and emit at once.
    fn match_now(&mut self, rules: &Arc<lanner_rules::RuleSet>, rev: &Event, pid: u32, cgroups: CgroupIds) {
        let mut hits = std::mem::take(&mut self.hits);
        rules.for_each_match(rev, |id, _| hits.push(id));
        for id in hits.drain(..) {
            self.emit(rules, id, rev, pid, cgroups);
        }
        self.hits = hits;
    }

    /// Emit the alerts of what the match thread found.
    fn take_matches(&mut self) {
        let Some(stage) = self.stage.as_ref() else {
            return;
        };
        let got: Vec<_> = stage.matches.try_iter().collect();
        for m in got {
            self.emit(&m.rules, m.id, &m.item.ev, m.item.pid, m.item.cgroups);
        }
    }

    pub fn set_metrics(&mut self, m: &crate::metrics::Metrics) {
        let c = ["exec", "open", "connect", "setuid", "fork", "exit", "file", "sys"].map(|t| m.event_counter(t));
        self.counters = Some((c, m.decode_errors.clone(), m.reader_rewakes.clone()));
        self.enrich_metrics = Some(EnrichMetrics {
            holds: m.enrichment_holds.clone(),
            hold: m.enrichment_hold.clone(),
            misses: m.enrichment_misses.clone(),
        });
    }

    pub fn finish(&mut self) {
        if let Some(stage) = self.stage.as_mut() {
            stage.close();
        }
        self.take_matches();
        self.flush();
        self.sink.finish();
    }

    fn print_event(&mut self, ev: &KEvent) {
        let Some(out) = self.events_out.as_ref() else {
            return;
        };
        let h = ev.header();
        if self.events_pid.is_none_or(|p| p == h.pid) {
            let line = EventLine { time_ns: h.ts_boot_ns as i128 + self.boot_offset_ns, event: ev };
            let mut out = out.borrow_mut();
            if serde_json::to_writer(&mut *out, &line).is_ok() {
                let _ = out.write_all(b"\n");
            }
        }
    }

    pub fn handle(&mut self, ev: &mut KEvent) {
        let s = &mut self.stats;
        let i = match ev {
            KEvent::Exec(_) => {
                s.exec += 1;
                0
            }
            KEvent::Open(_) => {
                s.open += 1;
                1
            }
            KEvent::Connect(_) => {
                s.connect += 1;
                2
            }
            KEvent::Setuid(_) => {
                s.setuid += 1;
                3
            }
            KEvent::Fork(_) => {
                s.fork += 1;
                4
            }
            KEvent::Exit(_) => {
                s.exit += 1;
                5
            }
            KEvent::File(_) => {
                s.file += 1;
                6
            }
            KEvent::Sys(_) => {
                s.sys += 1;
                7
            }
        };
        if let Some((c, ..)) = &self.counters {
            c[i].inc();
        }
        self.print_event(ev);
        let Some(rev) = self.assembler.assemble(ev) else {
            return;
        };
        tracing::trace!(evt = %rev.evt_type, res = rev.res, name = %rev.proc.name, args = %rev.proc.args(), container = ?rev.container.as_ref().map(|c| &c.id), "assembled");
        let h = ev.header();
        let (pid, cgroups) = (h.pid, CgroupIds { v2: h.cgroup_id, v1: h.cgroup_v1_id });
        // Inline while the reader keeps up: a thread hop costs more CPU than
        // matching (`lanner replay --match-thread`). Once the thread has work in
        // flight, everything goes there until it is done, so order is kept.
        match self.stage.as_mut() {
            Some(stage) if self.drained > crate::matchstage::THREAD_MIN || !stage.idle() => {
                self.threaded = true;
                stage.push(crate::matchstage::Item { ev: rev, pid, cgroups })
            }
            _ => {
                if self.threaded {
                    // The thread is idle, so its matches are all queued: emit
                    // them before this later event's.
                    self.threaded = false;
                    self.take_matches();
                }
                let gen = self.rules.reload_successes();
                let rules = match self.active.take() {
                    Some((g, r)) if g == gen => r,
                    _ => self.rules.current(),
                };
                self.match_now(&rules, &rev, pid, cgroups);
                self.active = Some((gen, rules));
            }
        }
    }

    /// One rule matched `rev`: build its alert now, or hold it for the pod.
    fn emit(
        &mut self,
        rules: &Arc<lanner_rules::RuleSet>,
        id: lanner_rules::RuleId,
        rev: &Event,
        pid: u32,
        cgroups: CgroupIds,
    ) {
        self.stats.alerts += 1;
        // Pod or container metadata missing: the enricher holds it only for
        // kubelet containers, whose pod or container status is still to come.
        let needs_hold = rev.container.as_ref().is_some_and(|c| c.k8s.is_none() || c.name.is_empty())
            && self.assembler.enricher().is_some_and(|e| e.pods().is_enabled());
        if needs_hold && self.runtime.is_some() {
            self.stats.alerts_held += 1;
            if let Some(m) = &self.enrich_metrics {
                m.holds.inc();
            }
            self.hold(Arc::clone(rules), id, rev.clone(), pid, cgroups);
            return;
        }
        let alert = rules.rule(id).alert(rev, &self.hostname);
        self.sink.alert(alert, rev.time_ns);
    }

    /// Wait (bounded) for the pod of the alert's container, re-enrich, emit.
    fn hold(
        &mut self,
        rules: Arc<lanner_rules::RuleSet>,
        id: lanner_rules::RuleId,
        mut ev: Event,
        pid: u32,
        cgroups: CgroupIds,
    ) {
        let (Some(rt), Some(enricher)) = (self.runtime.clone(), self.assembler.enricher().cloned()) else {
            return;
        };
        let tx = self.held_tx.clone();
        let host = self.hostname.clone();
        let metrics = self.enrich_metrics.clone();
        // The reader emits the alert as soon as it is back (`woken` drains the
        // held queue), not at the next drained batch or housekeeping tick.
        let wake = self.match_wake();
        self.assembler.refresh_container(pid, cgroups);
        rt.spawn(async move {
            let started = std::time::Instant::now();
            if let Some(info) = enricher.lookup_with_hold(pid, cgroups).await {
                ev.container = Some(Arc::new(crate::assemble::to_container(&info)));
            }
            if let Some(m) = metrics {
                m.hold.observe(started.elapsed().as_secs_f64());
                if let Some(reason) = EnrichMetrics::miss_reason(ev.container.as_deref()) {
                    m.misses.get_or_create(&crate::metrics::ReasonLabels { reason }).inc();
                }
            }
            let alert = rules.rule(id).alert(&ev, &host);
            let _ = tx.send((alert, ev.time_ns));
            if let Some(w) = wake {
                w.notify_one();
            }
        });
    }

    /// Emit alerts that came back from a hold.
    pub fn drain_held(&mut self) {
        while let Ok((a, t)) = self.held_rx.try_recv() {
            self.sink.alert(a, t);
        }
    }

    pub fn flush(&mut self) {
        self.drain_held();
        if let Some(out) = self.events_out.as_ref() {
            let _ = out.borrow_mut().flush();
        }
        self.sink.flush();
    }
}

#[cfg(test)]
mod tests;

impl<W: Write> RecordSink for Pipeline<W> {
    fn record(&mut self, bytes: &[u8]) {
        self.stats.records += 1;
        self.drained += 1;
        match decode(bytes) {
            Ok(mut ev) => self.handle(&mut ev),
            Err(e) => {
                self.stats.decode_errors += 1;
                if let Some((_, d, _)) = &self.counters {
                    d.inc();
                }
                tracing::debug!("decode error: {e}");
            }
        }
    }

    fn batch_done(&mut self) {
        self.dispatch();
        self.take_matches();
        self.flush();
    }

    fn tick(&mut self) {
        self.take_matches();
        self.drain_held();
        self.sink.flush();
    }

    fn woken(&mut self) {
        self.take_matches();
        // Includes the held alerts that came back (`drain_held`).
        self.flush();
    }

    fn rewoken(&mut self) {
        self.stats.reader_rewakes += 1;
        if let Some((.., r)) = &self.counters {
            r.inc();
        }
    }
}
