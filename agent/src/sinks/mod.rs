//! Alert delivery. Each sink (stdout JSON lines, rotating file, HTTP webhook
//! in falcosidekick's format, triage worker) is a component: a serde config
//! (`deny_unknown_fields`), a `build()` that validates it into a runtime, and
//! a task fed by its own bounded queue. [`SinkSet::send`] never blocks the
//! event path: a full queue drops the alert for that sink only, counted in
//! `lanner_sink_dropped_total{sink,reason="queue_full"}`.
//!
//! Generic over [`AlertPayload`] so this module does not depend on the rule
//! engine's alert type.
// Until run.rs wires this module in (and for API kept for the triage worker).
#![allow(dead_code)]

pub mod backoff;
pub mod file;
pub mod spool;
pub mod stdout;
pub mod triage;
pub mod webhook;

#[cfg(test)]
mod test_support;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod triage_tests;

use std::{
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc,
    },
    time::{Duration, Instant},
};

use prometheus_client::metrics::{counter::Counter, gauge::Gauge};
use serde::{de::DeserializeOwned, Deserialize, Serialize};
use tokio::sync::mpsc;

use crate::metrics::{Metrics, SinkMetrics};

/// What the sinks need from an alert. Serialized as is: the JSON of the
/// payload is the JSON line / webhook body (Falco's alert format).
pub trait AlertPayload: Serialize + DeserializeOwned + Send + Sync + 'static {
    /// Unique id of the alert (dedup key of the triage protocol).
    fn uuid(&self) -> &str;
    /// 0 = Emergency … 7 = Debug (Falco's priority order).
    fn priority_rank(&self) -> u8;
    fn rule(&self) -> &str;
}

/// `reason` label values of `lanner_sink_dropped_total`.
pub mod reason {
    /// The sink's queue was full when the alert was sent.
    pub const QUEUE_FULL: &str = "queue_full";
    /// The sink had stopped.
    pub const CLOSED: &str = "closed";
    /// The alert could not be serialized.
    pub const SERIALIZE: &str = "serialize";
    /// Writing to stdout or the file failed.
    pub const IO: &str = "io";
    /// Webhook answered a non-retryable status, or retries ran out on a status.
    pub const HTTP_STATUS: &str = "http_status";
    /// Webhook unreachable or timing out after all retries.
    pub const HTTP_ERROR: &str = "http_error";
    /// Evicted from (or refused by) the full triage spool.
    pub const SPOOL_OVERFLOW: &str = "spool_overflow";
    /// The spool could not be written.
    pub const SPOOL_IO: &str = "spool_io";
    /// The alert's frame is larger than the protocol's maximum.
    pub const OVERSIZED: &str = "oversized";
    /// Still queued when the sink was stopped.
    pub const SHUTDOWN: &str = "shutdown";
}

/// One sink of the `sinks:` list, tagged by `kind`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum SinkConfig {
    Stdout(stdout::StdoutConfig),
    File(file::FileConfig),
    Webhook(webhook::WebhookConfig),
    Triage(triage::TriageConfig),
}

impl SinkConfig {
    /// The sink's metric label: its `name`, else its kind.
    pub fn name(&self) -> &str {
        let (name, kind) = match self {
            SinkConfig::Stdout(c) => (&c.name, "stdout"),
            SinkConfig::File(c) => (&c.name, "file"),
            SinkConfig::Webhook(c) => (&c.name, "webhook"),
            SinkConfig::Triage(c) => (&c.name, "triage"),
        };
        name.as_deref().unwrap_or(kind)
    }

    fn queue_capacity(&self) -> usize {
        match self {
            SinkConfig::Stdout(c) => c.queue_capacity,
            SinkConfig::File(c) => c.queue_capacity,
            SinkConfig::Webhook(c) => c.queue_capacity,
            SinkConfig::Triage(c) => c.queue_capacity,
        }
    }

    /// The default when no sink is configured: JSON lines on stdout.
    pub fn default_set() -> Vec<SinkConfig> {
        vec![SinkConfig::Stdout(stdout::StdoutConfig::default())]
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    #[error("sink {sink:?}: {detail}")]
    Invalid { sink: String, detail: String },
    #[error("two sinks are named {0:?}: give each a distinct `name`")]
    DuplicateName(String),
    #[error("sink {sink:?}: spool: {source}")]
    Spool { sink: String, source: spool::SpoolError },
    #[error("sink {sink:?}: reading token file: {source}")]
    Token { sink: String, source: std::io::Error },
    #[error("sink {sink:?}: {source}")]
    Http { sink: String, source: reqwest::Error },
    #[error("sink {sink:?}: starting its thread: {source}")]
    Spawn { sink: String, source: std::io::Error },
}

pub(crate) fn invalid(sink: &str, detail: impl Into<String>) -> SinkError {
    SinkError::Invalid { sink: sink.to_owned(), detail: detail.into() }
}

/// Identity of this agent, sent to the triage worker.
#[derive(Debug, Clone)]
pub struct SinkContext {
    pub metrics: Arc<Metrics>,
    pub agent_id: String,
    pub node: String,
}

/// A validated sink, not yet started.
enum Runtime<A: AlertPayload> {
    Stdout(stdout::StdoutSink),
    File(file::FileSink),
    Webhook(webhook::WebhookSink),
    Triage(Box<triage::TriageSink<A>>),
}

enum Join {
    Task(tokio::task::JoinHandle<()>),
    Thread(tokio::sync::oneshot::Receiver<()>),
}

struct SinkHandle<A> {
    name: Arc<str>,
    tx: mpsc::Sender<Arc<A>>,
    depth: Gauge,
    dropped_full: Counter,
    dropped_closed: Counter,
    dropped_shutdown: Counter,
    warn: WarnLimiter,
    join: Join,
}

/// The running sinks.
pub struct SinkSet<A: AlertPayload> {
    sinks: Vec<SinkHandle<A>>,
}

impl<A: AlertPayload> SinkSet<A> {
    /// Validate every config, then start every sink. Must run inside a tokio
    /// runtime; the triage sink gets a thread of its own (disk I/O).
    pub fn build(configs: &[SinkConfig], ctx: &SinkContext) -> Result<Self, SinkError> {
        let mut names = std::collections::HashSet::new();
        let mut built = Vec::new();
        for c in configs {
            let name = c.name().to_owned();
            if !names.insert(name.clone()) {
                return Err(SinkError::DuplicateName(name));
            }
            if c.queue_capacity() == 0 {
                return Err(invalid(&name, "queue_capacity must be at least 1"));
            }
            // Spool and session series only where there is a spool and a session.
            let m = match c {
                SinkConfig::Triage(_) => ctx.metrics.triage_sink(&name),
                _ => ctx.metrics.sink(&name),
            };
            let rt = match c {
                SinkConfig::Stdout(c) => Runtime::Stdout(c.build(&name)?),
                SinkConfig::File(c) => Runtime::File(c.build(&name)?),
                SinkConfig::Webhook(c) => Runtime::Webhook(c.build(&name)?),
                SinkConfig::Triage(c) => Runtime::Triage(Box::new(c.build(&name, ctx, &m)?)),
            };
            built.push((name, c.queue_capacity(), m, rt));
        }
        let mut sinks = Vec::new();
        for (name, cap, m, rt) in built {
            let (tx, rx) = mpsc::channel(cap);
            let join = match rt {
                Runtime::Stdout(s) => Join::Task(tokio::spawn(s.run(rx, m.clone()))),
                Runtime::File(s) => Join::Task(tokio::spawn(s.run(rx, m.clone()))),
                Runtime::Webhook(s) => Join::Task(tokio::spawn(s.run(rx, m.clone()))),
                Runtime::Triage(s) => Join::Thread((*s).spawn(rx, m.clone(), &name)?),
            };
            tracing::info!(sink = %name, queue = cap, "sink started");
            sinks.push(SinkHandle {
                name: name.into(),
                tx,
                depth: m.queue_depth.clone(),
                dropped_full: m.dropped(reason::QUEUE_FULL),
                dropped_closed: m.dropped(reason::CLOSED),
                dropped_shutdown: m.dropped(reason::SHUTDOWN),
                warn: WarnLimiter::new(Duration::from_secs(10)),
                join,
            });
        }
        Ok(Self { sinks })
    }

    /// Hand an alert to every sink. Never blocks: a full queue drops the
    /// alert for that sink (counted, warned at most every 10 s).
    pub fn send(&self, alert: Arc<A>) {
        for s in &self.sinks {
            match s.tx.try_send(alert.clone()) {
                Ok(()) => {}
                Err(mpsc::error::TrySendError::Full(a)) => {
                    s.dropped_full.inc();
                    if let Some(n) = s.warn.hit() {
                        tracing::warn!(sink = %s.name, rule = a.rule(), suppressed = n, "sink queue full: alert dropped for this sink");
                    }
                }
                Err(mpsc::error::TrySendError::Closed(_)) => {
                    s.dropped_closed.inc();
                    if let Some(n) = s.warn.hit() {
                        tracing::warn!(sink = %s.name, suppressed = n, "sink stopped: alert dropped for this sink");
                    }
                }
            }
            s.depth.set((s.tx.max_capacity() - s.tx.capacity()) as i64);
        }
    }

    pub fn names(&self) -> Vec<&str> {
        self.sinks.iter().map(|s| &*s.name).collect()
    }

    /// Close every queue and wait up to `grace` for the sinks to drain (the
    /// triage sink keeps undelivered alerts in its spool for the next start).
    pub async fn shutdown(self, grace: Duration) {
        let deadline = tokio::time::Instant::now() + grace;
        let mut joins = Vec::new();
        for s in self.sinks {
            let queued = s.tx.max_capacity() - s.tx.capacity();
            drop(s.tx);
            joins.push((s.name, s.join, s.dropped_shutdown, queued));
        }
        for (name, join, dropped, queued) in joins {
            let done = match join {
                Join::Task(mut h) => match tokio::time::timeout_at(deadline, &mut h).await {
                    Ok(_) => true,
                    Err(_) => {
                        h.abort();
                        false
                    }
                },
                Join::Thread(rx) => tokio::time::timeout_at(deadline, rx).await.is_ok(),
            };
            if !done {
                dropped.inc_by(queued as u64);
                tracing::warn!(sink = %name, queued, "sink did not finish within the shutdown grace period");
            }
        }
    }
}

/// Receive one alert (waiting), then whatever else is queued, up to `max`.
/// Returns false once the queue is closed and empty.
pub(crate) async fn recv_batch<A>(rx: &mut mpsc::Receiver<Arc<A>>, buf: &mut Vec<Arc<A>>, max: usize) -> bool {
    buf.clear();
    if rx.recv_many(buf, max.max(1)).await == 0 {
        return false;
    }
    true
}

/// Lets one warning through per period and counts the suppressed ones.
#[derive(Debug)]
pub(crate) struct WarnLimiter {
    start: Instant,
    period_ms: u64,
    /// Milliseconds since `start` of the last warning + 1 (0: never).
    last: AtomicU64,
    suppressed: AtomicU64,
}

impl WarnLimiter {
    pub(crate) fn new(period: Duration) -> Self {
        Self {
            start: Instant::now(),
            period_ms: period.as_millis() as u64,
            last: AtomicU64::new(0),
            suppressed: AtomicU64::new(0),
        }
    }

    /// `Some(suppressed since the last one)` when a warning may be logged now.
    pub(crate) fn hit(&self) -> Option<u64> {
        let now = self.start.elapsed().as_millis() as u64 + 1;
        let last = self.last.load(Ordering::Relaxed);
        if (last == 0 || now.saturating_sub(last) >= self.period_ms)
            && self.last.compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed).is_ok()
        {
            return Some(self.suppressed.swap(0, Ordering::Relaxed));
        }
        self.suppressed.fetch_add(1, Ordering::Relaxed);
        None
    }
}

/// Serialize one alert as a JSON line into `out`; counts a failure.
pub(crate) fn json_line<A: AlertPayload>(a: &A, out: &mut Vec<u8>, m: &SinkMetrics) -> bool {
    let start = out.len();
    match serde_json::to_writer(&mut *out, a) {
        Ok(()) => {
            out.push(b'\n');
            true
        }
        Err(e) => {
            out.truncate(start);
            m.dropped(reason::SERIALIZE).inc();
            tracing::warn!(sink = %m.name, rule = a.rule(), "alert not serializable: {e}");
            false
        }
    }
}

fn default_queue() -> usize {
    1024
}
