//! Stdout sink: one JSON line per alert, exactly the payload's JSON (Falco's
//! `json_output: true` format, what log shippers such as Promtail/Fluent Bit
//! pick up). Lines are buffered and written + flushed once per batch on the
//! blocking pool (a stalled stdout pipe never blocks the runtime). The batch
//! loop [`run_lines`] is shared with the file sink.
use std::{io::Write, sync::Arc, time::Duration};

use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

use super::{default_queue, json_line, reason, recv_batch, AlertPayload, SinkError, WarnLimiter};
use crate::metrics::SinkMetrics;

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct StdoutConfig {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default = "default_queue")]
    pub queue_capacity: usize,
    /// Alerts written per flush at most.
    #[serde(default = "default_batch")]
    pub batch: usize,
}

fn default_batch() -> usize {
    256
}

impl Default for StdoutConfig {
    fn default() -> Self {
        Self { name: None, queue_capacity: default_queue(), batch: default_batch() }
    }
}

impl StdoutConfig {
    pub fn build(&self, name: &str) -> Result<StdoutSink, SinkError> {
        if self.batch == 0 {
            return Err(super::invalid(name, "batch must be at least 1"));
        }
        Ok(StdoutSink { batch: self.batch })
    }
}

#[derive(Debug)]
pub struct StdoutSink {
    batch: usize,
}

impl StdoutSink {
    pub async fn run<A: AlertPayload>(self, rx: mpsc::Receiver<Arc<A>>, m: SinkMetrics) {
        run_lines(rx, StdoutLines, self.batch, m).await;
    }
}

/// A blocking destination of JSON-line batches.
pub trait LineWriter: Send + 'static {
    /// Write (and flush) whole lines.
    fn write_lines(&mut self, buf: &[u8]) -> std::io::Result<()>;
}

struct StdoutLines;

impl LineWriter for StdoutLines {
    fn write_lines(&mut self, buf: &[u8]) -> std::io::Result<()> {
        let mut out = std::io::stdout().lock();
        out.write_all(buf)?;
        out.flush()
    }
}

/// Any `Write` (tests: a shared buffer).
pub struct WriteLines<W>(pub W);

impl<W: Write + Send + 'static> LineWriter for WriteLines<W> {
    fn write_lines(&mut self, buf: &[u8]) -> std::io::Result<()> {
        self.0.write_all(buf)?;
        self.0.flush()
    }
}

/// The batch loop: receive, serialize to JSON lines, write on the blocking
/// pool, count sent or dropped (`io`, `serialize`).
pub async fn run_lines<A, W>(mut rx: mpsc::Receiver<Arc<A>>, writer: W, batch: usize, m: SinkMetrics)
where
    A: AlertPayload,
    W: LineWriter,
{
    let mut writer = Some(writer);
    let mut alerts = Vec::with_capacity(batch);
    let io_drop = m.dropped(reason::IO);
    let warn = WarnLimiter::new(Duration::from_secs(10));
    while recv_batch(&mut rx, &mut alerts, batch).await {
        m.queue_depth.set(rx.len() as i64);
        let mut buf = Vec::with_capacity(alerts.len() * 1024);
        let n = alerts.iter().filter(|a| json_line(&***a, &mut buf, &m)).count() as u64;
        let Some(mut w) = writer.take() else { break };
        let res = tokio::task::spawn_blocking(move || {
            let r = w.write_lines(&buf);
            (w, r)
        })
        .await;
        let res = match res {
            Ok((w, r)) => {
                writer = Some(w);
                r
            }
            Err(e) => Err(std::io::Error::other(format!("writer task failed: {e}"))),
        };
        match res {
            Ok(()) => {
                m.sent.inc_by(n);
                tracing::debug!(sink = %m.name, alerts = n, "batch written");
            }
            Err(e) => {
                io_drop.inc_by(n);
                if let Some(s) = warn.hit() {
                    tracing::warn!(sink = %m.name, suppressed = s, "writing alerts failed, {n} dropped: {e}");
                }
            }
        }
        if writer.is_none() {
            // The writer panicked: count what is still queued and stop.
            alerts.clear();
            while let Ok(_a) = rx.try_recv() {
                io_drop.inc();
            }
            tracing::error!(sink = %m.name, "sink writer lost; sink stopped");
            break;
        }
    }
}
