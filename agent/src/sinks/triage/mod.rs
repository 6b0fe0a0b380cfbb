//! Triage sink: delivers every alert to the triage worker over the protocol
//! of `crate::protocol`, with no loss while the worker is down. Each alert is
//! written to the on-disk spool (the exact frame that will be sent) before it
//! is sent; up to `inflight` alerts are sent ahead of their acks; an ack marks
//! the record done. On a lost session the unacked alerts are resent, in spool
//! order, after a reconnect with exponential backoff + jitter; on start the
//! spool left by a previous run is replayed first.
//!
//! Runs on a thread of its own with a current-thread runtime: spool writes
//! and fsyncs are blocking file I/O and must not stall the agent's runtime.
mod session;

use std::{
    collections::{BTreeMap, BTreeSet},
    marker::PhantomData,
    path::PathBuf,
    sync::Arc,
    time::Duration,
};

use futures::StreamExt as _;
use serde::{Deserialize, Serialize};
use tokio::{sync::mpsc, task::JoinHandle, time::Instant};

use super::{
    backoff::Backoff,
    invalid, reason, recv_batch,
    spool::{FsyncPolicy, LoadReport, RecordMeta, Spool, SpoolConfig, SpoolError},
    AlertPayload, SinkContext, SinkError, WarnLimiter,
};
use crate::{
    metrics::SinkMetrics,
    protocol::{codec, Address, Frame, Token, DEFAULT_MAX_FRAME_BYTES},
};
pub use session::{ConnectError, Dialer, Session, SIDE};

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TriageConfig {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default = "default_queue")]
    pub queue_capacity: usize,
    /// `unix:///run/lanner/triage.sock` or `tcp://host:port`.
    pub address: String,
    /// File holding the shared secret (e.g. a mounted Secret). Exactly one of
    /// `token_file` and `token`.
    #[serde(default)]
    pub token_file: Option<PathBuf>,
    #[serde(default)]
    pub token: Option<String>,
    #[serde(default = "default_spool_dir")]
    pub spool_dir: PathBuf,
    #[serde(default = "default_spool_max_bytes")]
    pub spool_max_bytes: u64,
    /// Segment file size (default: spool_max_bytes / 16, within 64 KiB … 16 MiB).
    #[serde(default)]
    pub spool_segment_bytes: Option<u64>,
    #[serde(default)]
    pub fsync: FsyncPolicy,
    #[serde(default = "default_fsync_interval_ms")]
    pub fsync_interval_ms: u64,
    /// Alerts sent and not yet acked, at most.
    #[serde(default = "default_inflight")]
    pub inflight: usize,
    #[serde(default = "default_max_frame")]
    pub max_frame_bytes: usize,
    #[serde(default = "default_connect_timeout_ms")]
    pub connect_timeout_ms: u64,
    /// A session whose oldest unacked alert waits longer than this is reset.
    #[serde(default = "default_ack_timeout_ms")]
    pub ack_timeout_ms: u64,
    #[serde(default = "default_reconnect_min_ms")]
    pub reconnect_min_ms: u64,
    #[serde(default = "default_reconnect_max_ms")]
    pub reconnect_max_ms: u64,
    /// On shutdown, time to keep delivering before leaving the rest in the spool.
    #[serde(default = "default_shutdown_grace_ms")]
    pub shutdown_grace_ms: u64,
}

fn default_queue() -> usize {
    4096
}
fn default_spool_dir() -> PathBuf {
    "/var/lib/lanner/spool".into()
}
fn default_spool_max_bytes() -> u64 {
    256 << 20
}
fn default_fsync_interval_ms() -> u64 {
    1000
}
fn default_inflight() -> usize {
    256
}
fn default_max_frame() -> usize {
    DEFAULT_MAX_FRAME_BYTES
}
fn default_connect_timeout_ms() -> u64 {
    5000
}
fn default_ack_timeout_ms() -> u64 {
    30_000
}
fn default_reconnect_min_ms() -> u64 {
    200
}
fn default_reconnect_max_ms() -> u64 {
    30_000
}
fn default_shutdown_grace_ms() -> u64 {
    2000
}

impl TriageConfig {
    /// A config with defaults (tests, programmatic use).
    pub fn new(address: &str, token: &str, spool_dir: PathBuf) -> Self {
        let json = serde_json::json!({ "address": address, "token": token, "spool_dir": spool_dir });
        serde_json::from_value(json).expect("defaults deserialize")
    }

    /// Validate, read the token and open (load) the spool.
    pub fn build<A: AlertPayload>(
        &self,
        name: &str,
        ctx: &SinkContext,
        m: &SinkMetrics,
    ) -> Result<TriageSink<A>, SinkError> {
        let address: Address = self.address.parse().map_err(|e| invalid(name, format!("{e}")))?;
        let token = match (&self.token_file, &self.token) {
            (Some(p), None) => {
                Token::from_file(p).map_err(|source| SinkError::Token { sink: name.to_owned(), source })?
            }
            (None, Some(t)) => Token::new(t.clone()),
            _ => return Err(invalid(name, "set exactly one of token_file and token")),
        };
        if token.is_empty() {
            return Err(invalid(name, "the token is empty"));
        }
        if self.inflight == 0 {
            return Err(invalid(name, "inflight must be at least 1"));
        }
        if self.max_frame_bytes < 1024 || self.max_frame_bytes > (64 << 20) {
            return Err(invalid(name, "max_frame_bytes must be within 1 KiB … 64 MiB"));
        }
        if self.spool_max_bytes < 4 * self.max_frame_bytes as u64 {
            return Err(invalid(name, "spool_max_bytes must be at least 4 × max_frame_bytes"));
        }
        if self.reconnect_min_ms == 0 || self.reconnect_max_ms < self.reconnect_min_ms {
            return Err(invalid(name, "need 0 < reconnect_min_ms <= reconnect_max_ms"));
        }
        let segment_bytes = self.spool_segment_bytes.unwrap_or((self.spool_max_bytes / 16).clamp(64 << 10, 16 << 20));
        if segment_bytes < self.max_frame_bytes as u64 + 12 || segment_bytes > self.spool_max_bytes {
            return Err(invalid(name, "spool_segment_bytes must hold one frame and fit in spool_max_bytes"));
        }
        let cfg = SpoolConfig {
            dir: self.spool_dir.clone(),
            max_bytes: self.spool_max_bytes,
            segment_bytes,
            max_record_bytes: self.max_frame_bytes,
            fsync: self.fsync,
            fsync_interval: Duration::from_millis(self.fsync_interval_ms),
        };
        let (spool, report) =
            Spool::open(cfg, record_meta::<A>).map_err(|source| SinkError::Spool { sink: name.to_owned(), source })?;
        if report.records > 0 || report.corrupt > 0 {
            tracing::info!(sink = name, records = report.records, corrupt = report.corrupt, dir = %self.spool_dir.display(),
                "spool loaded: unacked alerts will be replayed first");
        }
        let ms = Duration::from_millis;
        Ok(TriageSink {
            dialer: Dialer {
                address,
                token,
                agent_id: ctx.agent_id.clone(),
                node: ctx.node.clone(),
                max_frame_bytes: self.max_frame_bytes,
                timeout: ms(self.connect_timeout_ms),
                window: self.inflight,
                metrics: m.protocol.clone(),
            },
            spool,
            report,
            ack_timeout: ms(self.ack_timeout_ms),
            backoff: Backoff::new(ms(self.reconnect_min_ms), ms(self.reconnect_max_ms)),
            shutdown_grace: ms(self.shutdown_grace_ms),
            _alert: PhantomData,
        })
    }
}

/// Spool metadata of a record body (a `Frame::Alert`).
fn record_meta<A: AlertPayload>(body: &[u8]) -> Result<RecordMeta, String> {
    match codec::decode_body::<Frame<A>>(body) {
        Ok(Frame::Alert { seq, alert }) => {
            Ok(RecordMeta { seq, rank: alert.priority_rank(), rule: alert.rule().to_owned() })
        }
        Ok(f) => Err(format!("{} frame instead of alert", f.kind())),
        Err(e) => Err(e.to_string()),
    }
}

pub struct TriageSink<A> {
    dialer: Dialer,
    spool: Spool,
    report: LoadReport,
    ack_timeout: Duration,
    backoff: Backoff,
    shutdown_grace: Duration,
    _alert: PhantomData<fn(A)>,
}

/// Aggregates overflow drops by rule; logs a summary at most every 10 s.
struct OverflowLog {
    rules: BTreeMap<Arc<str>, u64>,
    last: Option<Instant>,
}

impl OverflowLog {
    fn add(&mut self, sink: &str, rule: &str, what: &str) {
        tracing::debug!(sink, rule, "spool overflow: {what}");
        *self.rules.entry(rule.into()).or_default() += 1;
    }

    fn flush(&mut self, sink: &str, force: bool) {
        let due = self.last.is_none_or(|t| t.elapsed() >= Duration::from_secs(10));
        if self.rules.is_empty() || !(due || force) {
            return;
        }
        let total: u64 = self.rules.values().sum();
        let detail: Vec<String> = self.rules.iter().map(|(r, n)| format!("{r} ×{n}")).collect();
        tracing::warn!(sink, dropped = total, rules = %detail.join(", "),
            "spool full: alerts dropped (lowest priority, oldest first); is the triage worker down?");
        self.rules.clear();
        self.last = Some(Instant::now());
    }
}

impl<A: AlertPayload> TriageSink<A> {
    /// Run on a dedicated thread; the receiver fires when the sink has stopped.
    pub fn spawn(
        self,
        rx: mpsc::Receiver<Arc<A>>,
        m: SinkMetrics,
        name: &str,
    ) -> Result<tokio::sync::oneshot::Receiver<()>, SinkError> {
        let (done_tx, done_rx) = tokio::sync::oneshot::channel();
        std::thread::Builder::new()
            .name(format!("lanner-{name}").chars().take(15).collect())
            .spawn(move || {
                match tokio::runtime::Builder::new_current_thread().enable_all().build() {
                    Ok(rt) => rt.block_on(self.run(rx, m)),
                    Err(e) => tracing::error!("triage sink: no runtime: {e}"),
                }
                let _ = done_tx.send(());
            })
            .map_err(|source| SinkError::Spawn { sink: name.to_owned(), source })?;
        Ok(done_rx)
    }

    async fn run(mut self, mut rx: mpsc::Receiver<Arc<A>>, m: SinkMetrics) {
        let name = m.name.clone();
        m.spool_corrupt.inc_by(self.report.corrupt as u64);
        let mut session: Option<Session> = None;
        let mut connecting: Option<JoinHandle<Result<Session, ConnectError>>> = None;
        let mut retry_at = Instant::now();
        let mut inflight: BTreeSet<u64> = BTreeSet::new();
        let mut cursor: Option<u64> = None;
        let mut last_ack = Instant::now();
        let mut closing: Option<Instant> = None;
        let mut batch = Vec::new();
        let mut overflow = OverflowLog { rules: BTreeMap::new(), last: None };
        let conn_warn = WarnLimiter::new(Duration::from_secs(60));
        let io_warn = WarnLimiter::new(Duration::from_secs(10));
        loop {
            let now = Instant::now();
            if session.is_none() && connecting.is_none() && now >= retry_at && closing.is_none_or(|d| now < d) {
                connecting = Some(tokio::spawn(self.dialer.clone().connect()));
            }
            if let Some(s) = session.as_mut() {
                if let Err(why) = self.pump(s, &mut inflight, &mut cursor) {
                    self.lost(&mut session, &mut retry_at, &m, &conn_warn, &why);
                }
            }
            m.inflight.set(inflight.len() as i64);
            m.spool_bytes.set(self.spool.disk_bytes() as i64);
            m.spool_records.set(self.spool.live_records() as i64);
            overflow.flush(&name, false);
            if let Some(deadline) = closing {
                if self.spool.live_records() == 0 || now >= deadline {
                    break;
                }
            }
            // Wake for: reconnect, ack timeout, fsync interval, shutdown deadline.
            let mut wake = now + Duration::from_secs(1);
            if session.is_none() && connecting.is_none() {
                wake = wake.min(retry_at);
            }
            if !inflight.is_empty() {
                wake = wake.min(last_ack + self.ack_timeout);
            }
            if let Some(d) = closing {
                wake = wake.min(d);
            }
            tokio::select! {
                more = recv_batch(&mut rx, &mut batch, 512), if closing.is_none() => {
                    if !more {
                        closing = Some(Instant::now() + self.shutdown_grace);
                        continue;
                    }
                    m.queue_depth.set(rx.len() as i64);
                    for a in batch.drain(..) {
                        self.spool_alert(&a, &m, &mut overflow, &io_warn);
                    }
                }
                res = async { connecting.as_mut().expect("guarded").await }, if connecting.is_some() => {
                    connecting = None;
                    match res {
                        Ok(Ok(s)) => {
                            tracing::info!(sink = %name, peer = %s.peer, backlog = self.spool.live_records(), "triage worker session up");
                            session = Some(s);
                            inflight.clear();
                            cursor = None;
                            last_ack = Instant::now();
                            self.backoff.reset();
                            m.connected.set(1);
                        }
                        Ok(Err(e)) => self.lost(&mut session, &mut retry_at, &m, &conn_warn, &e.to_string()),
                        Err(e) => self.lost(&mut session, &mut retry_at, &m, &conn_warn, &format!("connect task: {e}")),
                    }
                }
                f = async { session.as_mut().expect("guarded").rd.next().await }, if session.is_some() => {
                    let peer = session.as_ref().map(|s| s.peer.clone()).unwrap_or_default();
                    match f {
                        Some(Ok(Frame::Ack { seq })) => {
                            if inflight.remove(&seq) {
                                last_ack = Instant::now();
                                match self.spool.remove(seq) {
                                    Ok(true) => {
                                        m.sent.inc();
                                    }
                                    Ok(false) => {}
                                    Err(e) => warn_io(&io_warn, &name, &e),
                                }
                            } else {
                                tracing::debug!(sink = %name, %peer, seq, "ack for an alert not in flight (ignored)");
                            }
                        }
                        Some(Ok(Frame::Error { code, message })) => {
                            let why = format!("worker error {code:?}: {message}");
                            self.lost(&mut session, &mut retry_at, &m, &conn_warn, &why);
                        }
                        Some(Ok(other)) => {
                            m.protocol.bad_frame(SIDE, crate::protocol::BadFrameReason::Unexpected.as_str());
                            tracing::warn!(sink = %name, %peer, reason = "unexpected", "bad frame from worker ({}); resetting", other.kind());
                            self.lost(&mut session, &mut retry_at, &m, &conn_warn, "unexpected frame");
                        }
                        Some(Err(e)) => {
                            if let Some(r) = e.bad_frame_reason() {
                                m.protocol.bad_frame(SIDE, r.as_str());
                                tracing::warn!(sink = %name, %peer, reason = r.as_str(), "bad frame from worker; resetting: {e}");
                            }
                            self.lost(&mut session, &mut retry_at, &m, &conn_warn, &e.to_string());
                        }
                        None => self.lost(&mut session, &mut retry_at, &m, &conn_warn, "connection closed by the worker"),
                    }
                }
                _ = tokio::time::sleep_until(wake) => {
                    if session.is_some() && !inflight.is_empty() && last_ack.elapsed() >= self.ack_timeout {
                        let why = format!("no ack within {:?}", self.ack_timeout);
                        self.lost(&mut session, &mut retry_at, &m, &conn_warn, &why);
                    }
                }
            }
            if let Err(e) = self.spool.commit() {
                warn_io(&io_warn, &name, &e);
            }
        }
        if let Some(c) = connecting {
            c.abort();
        }
        drop(session);
        m.connected.set(0);
        overflow.flush(&name, true);
        if let Err(e) = self.spool.close() {
            tracing::error!(sink = %name, "closing the spool: {e}");
        }
        let left = self.spool.live_records();
        if left > 0 {
            tracing::info!(sink = %name, unacked = left, "triage sink stopped; unacked alerts stay in the spool");
        }
        m.spool_records.set(left as i64);
        m.spool_bytes.set(self.spool.disk_bytes() as i64);
    }

    /// Encode an alert as its frame and append it to the spool.
    fn spool_alert(&mut self, a: &A, m: &SinkMetrics, overflow: &mut OverflowLog, io_warn: &WarnLimiter) {
        let seq = self.spool.alloc_seq();
        let body = match codec::encode_body(&Frame::Alert { seq, alert: a }) {
            Ok(b) => b,
            Err(e) => {
                m.dropped(reason::SERIALIZE).inc();
                tracing::warn!(sink = %m.name, rule = a.rule(), "alert not serializable: {e}");
                return;
            }
        };
        let meta = RecordMeta { seq, rank: a.priority_rank(), rule: a.rule().to_owned() };
        match self.spool.append(&body, &meta) {
            Ok(evicted) => {
                for e in evicted {
                    m.dropped(reason::SPOOL_OVERFLOW).inc();
                    overflow.add(&m.name, &e.rule, "older lower-priority alert evicted");
                }
            }
            Err(SpoolError::Full { .. }) => {
                m.dropped(reason::SPOOL_OVERFLOW).inc();
                overflow.add(&m.name, a.rule(), "incoming alert refused");
            }
            Err(SpoolError::TooLarge { len, max }) => {
                m.dropped(reason::OVERSIZED).inc();
                tracing::warn!(sink = %m.name, rule = a.rule(), len, max, "alert frame over max_frame_bytes: dropped");
            }
            Err(e) => {
                m.dropped(reason::SPOOL_IO).inc();
                warn_io(io_warn, &m.name, &e);
            }
        }
    }

    /// Send spooled alerts after `cursor` while the in-flight window has room.
    fn pump(&mut self, s: &mut Session, inflight: &mut BTreeSet<u64>, cursor: &mut Option<u64>) -> Result<(), String> {
        // Acks may have been for records before the cursor; evicted in-flight
        // records are forgotten so they do not hold the window.
        inflight.retain(|seq| self.spool.contains(*seq));
        while inflight.len() < self.dialer.window {
            let Some(seq) = self.spool.next_after(*cursor) else {
                break;
            };
            let body = self.spool.read(seq).map_err(|e| format!("reading the spool: {e}"))?;
            match s.tx.try_send(session::raw(body)) {
                Ok(()) => {
                    inflight.insert(seq);
                    *cursor = Some(seq);
                }
                Err(mpsc::error::TrySendError::Full(_)) => break,
                Err(mpsc::error::TrySendError::Closed(_)) => return Err("writer stopped".into()),
            }
        }
        Ok(())
    }

    fn lost(
        &mut self,
        session: &mut Option<Session>,
        retry_at: &mut Instant,
        m: &SinkMetrics,
        warn: &WarnLimiter,
        why: &str,
    ) {
        let was_up = session.take().is_some();
        m.connected.set(0);
        m.reconnects.inc();
        let delay = self.backoff.next_delay();
        *retry_at = Instant::now() + delay;
        let backlog = self.spool.live_records();
        if was_up {
            tracing::warn!(sink = %m.name, backlog, ?delay, "triage worker session lost: {why}");
        } else if let Some(n) = warn.hit() {
            tracing::warn!(sink = %m.name, backlog, ?delay, failed_since_last_log = n, "triage worker unreachable: {why}");
        } else {
            tracing::debug!(sink = %m.name, ?delay, "triage worker unreachable: {why}");
        }
    }
}

fn warn_io(w: &WarnLimiter, sink: &str, e: &SpoolError) {
    if let Some(n) = w.hit() {
        tracing::warn!(sink, suppressed = n, "spool: {e}");
    }
}
