//! The worker side of the triage protocol, reusable by the triage worker:
//! [`serve`] accepts connections, checks each agent's `Hello` (version and
//! token), calls the handler once per alert and acks only after it returned
//! `Ok`. Replays are idempotent: a bounded [`Dedup`] window of handled uuids
//! turns a resent alert into a bare ack. Alerts of one agent are handled one
//! at a time, in order, even across a reconnect.
use std::{
    collections::{HashMap, HashSet, VecDeque},
    fmt::Display,
    future::Future,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use futures::{SinkExt as _, StreamExt as _};
use tokio::{sync::watch, task::JoinSet};
use tokio_util::codec::{FramedRead, FramedWrite};

use super::{
    codec::{BadFrameReason, ErrorCode, Frame, FrameCodec, DEFAULT_MAX_FRAME_BYTES, PROTOCOL_VERSION},
    Conn, Listener, Token,
};
use crate::{metrics::ProtocolMetrics, metrics::ResultLabels, sinks::AlertPayload};

/// `side` label of bad frames detected here.
const SIDE: &str = "server";

/// Settings of [`serve`].
#[derive(Debug, Clone)]
pub struct ServerConfig {
    pub token: Token,
    pub max_frame_bytes: usize,
    /// Time an agent has to send `Hello` after connecting.
    pub handshake_timeout: Duration,
    /// Connections beyond this are closed at once.
    pub max_connections: usize,
    /// On shutdown, time given to running handlers before they are cancelled.
    pub shutdown_grace: Duration,
}

impl ServerConfig {
    pub fn new(token: Token) -> Self {
        Self {
            token,
            max_frame_bytes: DEFAULT_MAX_FRAME_BYTES,
            handshake_timeout: Duration::from_secs(10),
            max_connections: 256,
            shutdown_grace: Duration::from_secs(5),
        }
    }
}

/// One alert handed to the handler.
#[derive(Debug)]
pub struct Delivery<A> {
    pub seq: u64,
    pub alert: A,
    pub agent_id: Arc<str>,
    pub node: Arc<str>,
    pub peer: Arc<str>,
}

/// Bounded window of handled alert uuids (count and age). In memory: a worker
/// that restarts seeds it from its durable store ([`Dedup::seed`]).
#[derive(Debug)]
pub struct Dedup {
    inner: Mutex<DedupInner>,
    capacity: usize,
    ttl: Duration,
}

#[derive(Debug, Default)]
struct DedupInner {
    set: HashSet<Arc<str>>,
    order: VecDeque<(Arc<str>, Instant)>,
}

impl Default for Dedup {
    fn default() -> Self {
        Self::new(65_536, Duration::from_secs(3600))
    }
}

impl Dedup {
    pub fn new(capacity: usize, ttl: Duration) -> Self {
        Self { inner: Mutex::default(), capacity: capacity.max(1), ttl }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, DedupInner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn expire(&self, g: &mut DedupInner, now: Instant) {
        while let Some((u, t)) = g.order.front() {
            if g.order.len() > self.capacity || now.saturating_duration_since(*t) > self.ttl {
                g.set.remove(u);
                g.order.pop_front();
            } else {
                break;
            }
        }
    }

    pub fn contains(&self, uuid: &str) -> bool {
        let mut g = self.lock();
        self.expire(&mut g, Instant::now());
        g.set.contains(uuid)
    }

    pub fn insert(&self, uuid: &str) {
        let now = Instant::now();
        let mut g = self.lock();
        if g.set.contains(uuid) {
            return;
        }
        let u: Arc<str> = uuid.into();
        g.set.insert(u.clone());
        g.order.push_back((u, now));
        self.expire(&mut g, now);
    }

    /// Mark uuids as handled (e.g. the last decisions of the worker's store).
    pub fn seed<I: IntoIterator<Item = S>, S: AsRef<str>>(&self, uuids: I) {
        for u in uuids {
            self.insert(u.as_ref());
        }
    }

    pub fn len(&self) -> usize {
        self.lock().set.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

struct Shared<H> {
    cfg: ServerConfig,
    dedup: Arc<Dedup>,
    metrics: ProtocolMetrics,
    handler: H,
    /// Per-agent lock: one alert of an agent in the handler at a time.
    agents: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

impl<H> Shared<H> {
    fn agent_lock(&self, agent_id: &str) -> Arc<tokio::sync::Mutex<()>> {
        let mut g = self.agents.lock().unwrap_or_else(|p| p.into_inner());
        g.entry(agent_id.to_owned()).or_default().clone()
    }
}

/// Accept connections on `listener` until `shutdown` resolves, calling
/// `handler` once per (deduplicated) alert. The handler must return `Ok` only
/// once the alert is durably handled: the ack is sent after it. An `Err`
/// closes the connection without ack; the agent resends after reconnecting.
pub async fn serve<A, H, Fut, E, S>(
    listener: Listener,
    config: ServerConfig,
    dedup: Arc<Dedup>,
    metrics: ProtocolMetrics,
    handler: H,
    shutdown: S,
) where
    A: AlertPayload,
    H: Fn(Delivery<A>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), E>> + Send,
    E: Display,
    S: Future<Output = ()> + Send,
{
    let shared = Arc::new(Shared { cfg: config, dedup, metrics, handler, agents: Mutex::default() });
    let slots = Arc::new(tokio::sync::Semaphore::new(shared.cfg.max_connections));
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut conns = JoinSet::new();
    let addr = listener.local_addr();
    tracing::info!(%addr, "triage server listening");
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            _ = &mut shutdown => break,
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
            res = listener.accept() => match res {
                Ok(conn) => {
                    let Ok(permit) = slots.clone().try_acquire_owned() else {
                        tracing::warn!(peer = %conn.peer, max = shared.cfg.max_connections, "too many connections; closing");
                        continue;
                    };
                    let (shared, stop) = (shared.clone(), stop_rx.clone());
                    conns.spawn(async move {
                        connection::<A, H, Fut, E>(conn, shared, stop).await;
                        drop(permit);
                    });
                }
                Err(e) => {
                    tracing::warn!(%addr, "accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            },
        }
    }
    let _ = stop_tx.send(true);
    let grace = shared.cfg.shutdown_grace;
    if tokio::time::timeout(grace, async { while conns.join_next().await.is_some() {} }).await.is_err() {
        tracing::warn!(?grace, "triage connections still busy after the grace period; cancelling");
        conns.shutdown().await;
    }
    tracing::info!(%addr, "triage server stopped");
}

type Reader<A> = FramedRead<tokio::io::ReadHalf<std::pin::Pin<Box<dyn super::Stream>>>, FrameCodec<Frame<A>>>;
type Writer<A> = FramedWrite<tokio::io::WriteHalf<std::pin::Pin<Box<dyn super::Stream>>>, FrameCodec<Frame<A>>>;

async fn connection<A, H, Fut, E>(conn: Conn, shared: Arc<Shared<H>>, mut stop: watch::Receiver<bool>)
where
    A: AlertPayload,
    H: Fn(Delivery<A>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), E>> + Send,
    E: Display,
{
    let peer: Arc<str> = conn.peer.into();
    let max = shared.cfg.max_frame_bytes;
    let (rd, wr) = tokio::io::split(conn.stream);
    let mut rd: Reader<A> = FramedRead::new(rd, FrameCodec::new(max));
    let mut wr: Writer<A> = FramedWrite::new(wr, FrameCodec::new(max));
    let m = &shared.metrics;

    let hello = tokio::select! {
        // A peer that connected but has not said Hello does not hold up a shutdown.
        _ = stop.wait_for(|s| *s) => return,
        r = tokio::time::timeout(shared.cfg.handshake_timeout, rd.next()) => r,
    };
    let first = match hello {
        Err(_) => {
            tracing::warn!(%peer, "no Hello within {:?}; closing", shared.cfg.handshake_timeout);
            return;
        }
        Ok(None) => return,
        Ok(Some(f)) => f,
    };
    let (agent_id, node): (Arc<str>, Arc<str>) = match first {
        Ok(Frame::Hello { version, token, agent_id, node }) => {
            if version != PROTOCOL_VERSION {
                let why = format!("agent speaks protocol v{version}, this worker v{PROTOCOL_VERSION}");
                reject(&mut wr, m, &peer, BadFrameReason::UnknownVersion, ErrorCode::UnsupportedVersion, &why).await;
                return;
            }
            if !shared.cfg.token.matches(&token) {
                reject(&mut wr, m, &peer, BadFrameReason::BadToken, ErrorCode::BadToken, "wrong token").await;
                return;
            }
            if agent_id.is_empty() {
                reject(&mut wr, m, &peer, BadFrameReason::WrongType, ErrorCode::BadFrame, "empty agent_id").await;
                return;
            }
            (agent_id.into(), node.into())
        }
        Ok(other) => {
            let why = format!("expected hello, got {}", other.kind());
            reject(&mut wr, m, &peer, BadFrameReason::Unexpected, ErrorCode::BadFrame, &why).await;
            return;
        }
        Err(e) => {
            reject_codec(&mut wr, m, &peer, e).await;
            return;
        }
    };
    if wr.send(&Frame::<A>::HelloOk { version: PROTOCOL_VERSION }).await.is_err() {
        return;
    }
    tracing::info!(%peer, %agent_id, %node, "agent connected");
    let lock = shared.agent_lock(&agent_id);

    loop {
        let next = tokio::select! {
            biased;
            _ = stop.changed() => {
                let f = Frame::<A>::Error { code: ErrorCode::ShuttingDown, message: "worker shutting down".into() };
                let _ = tokio::time::timeout(Duration::from_secs(1), wr.send(&f)).await;
                break;
            }
            f = rd.next() => f,
        };
        let (seq, alert) = match next {
            None => break,
            Some(Ok(Frame::Alert { seq, alert })) => (seq, alert),
            Some(Ok(other)) => {
                let why = format!("unexpected {} frame", other.kind());
                reject(&mut wr, m, &peer, BadFrameReason::Unexpected, ErrorCode::BadFrame, &why).await;
                break;
            }
            Some(Err(e)) => {
                reject_codec(&mut wr, m, &peer, e).await;
                break;
            }
        };
        let uuid = alert.uuid().to_owned();
        let guard = lock.lock().await;
        // An empty uuid cannot be deduplicated: always handle it.
        if !uuid.is_empty() && shared.dedup.contains(&uuid) {
            m.server_alerts.get_or_create(&ResultLabels { result: "duplicate" }).inc();
            tracing::debug!(%peer, seq, %uuid, "duplicate alert: acking again");
        } else {
            let d = Delivery { seq, alert, agent_id: agent_id.clone(), node: node.clone(), peer: peer.clone() };
            let outcome = (shared.handler)(d).await.map_err(|e| e.to_string());
            match outcome {
                Ok(()) => {
                    if !uuid.is_empty() {
                        shared.dedup.insert(&uuid);
                    }
                    m.server_alerts.get_or_create(&ResultLabels { result: "handled" }).inc();
                    tracing::debug!(%peer, seq, %uuid, "alert handled");
                }
                Err(message) => {
                    m.server_alerts.get_or_create(&ResultLabels { result: "handler_error" }).inc();
                    tracing::warn!(%peer, seq, %uuid, "handler failed, alert not acked (the agent resends): {message}");
                    let f = Frame::<A>::Error { code: ErrorCode::HandlerFailed, message };
                    let _ = tokio::time::timeout(Duration::from_secs(1), wr.send(&f)).await;
                    break;
                }
            }
        }
        drop(guard);
        if wr.send(&Frame::<A>::Ack { seq }).await.is_err() {
            tracing::debug!(%peer, seq, "ack not delivered (agent gone); it will resend");
            break;
        }
    }
    tracing::info!(%peer, %agent_id, "agent disconnected");
}

async fn reject<A: AlertPayload>(
    wr: &mut Writer<A>,
    m: &ProtocolMetrics,
    peer: &str,
    reason: BadFrameReason,
    code: ErrorCode,
    detail: &str,
) {
    m.bad_frame(SIDE, reason.as_str());
    tracing::warn!(%peer, reason = reason.as_str(), "rejecting frame from agent, closing connection: {detail}");
    let f = Frame::<A>::Error { code, message: format!("{}: {detail}", reason.as_str()) };
    let _ = tokio::time::timeout(Duration::from_secs(1), wr.send(&f)).await;
}

async fn reject_codec<A: AlertPayload>(wr: &mut Writer<A>, m: &ProtocolMetrics, peer: &str, e: super::CodecError) {
    match e.bad_frame_reason() {
        Some(r) => reject(wr, m, peer, r, ErrorCode::BadFrame, &e.to_string()).await,
        None => tracing::debug!(%peer, "connection error: {e}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dedup_is_bounded_by_count_and_age() {
        let d = Dedup::new(3, Duration::from_secs(3600));
        d.seed(["a", "b", "c"]);
        assert!(d.contains("a"));
        d.insert("d");
        assert!(!d.contains("a"), "oldest evicted past capacity");
        assert!(d.contains("b") && d.contains("d"));
        assert_eq!(d.len(), 3);
        let d = Dedup::new(10, Duration::from_millis(1));
        d.insert("x");
        std::thread::sleep(Duration::from_millis(5));
        assert!(!d.contains("x"), "expired by age");
        assert!(d.is_empty());
    }
}
