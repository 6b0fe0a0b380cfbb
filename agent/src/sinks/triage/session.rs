//! One agent-side session with the triage worker: connect (unix or TCP),
//! `Hello` → `HelloOk` handshake, then a writer task that sends pre-encoded
//! frames while the sink's loop reads acks from [`Session::rd`].
use std::time::Duration;

use bytes::Bytes;
use futures::{SinkExt as _, StreamExt as _};
use serde::de::IgnoredAny;
use tokio::{sync::mpsc, task::JoinHandle};
use tokio_util::codec::{FramedRead, FramedWrite};

use crate::{
    metrics::ProtocolMetrics,
    protocol::{
        Address, BadFrameReason, CodecError, ErrorCode, Frame, FrameCodec, RawFrame, Stream, Token, PROTOCOL_VERSION,
    },
};

/// `side` label of bad frames detected by the agent.
pub const SIDE: &str = "agent";

/// Frames the agent reads: it never needs an alert payload from the worker.
pub type InFrame = Frame<IgnoredAny>;
type ReadHalf = tokio::io::ReadHalf<std::pin::Pin<Box<dyn Stream>>>;
type WriteHalf = tokio::io::WriteHalf<std::pin::Pin<Box<dyn Stream>>>;

#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("connecting to {addr}: {source}")]
    Connect { addr: String, source: std::io::Error },
    #[error("no answer from {peer} within {timeout:?}")]
    Timeout { peer: String, timeout: Duration },
    #[error("{peer} refused the session ({code:?}): {message}")]
    Refused { peer: String, code: ErrorCode, message: String },
    #[error("{peer} sent a bad frame ({}): {detail}", reason.as_str())]
    BadFrame { peer: String, reason: BadFrameReason, detail: String },
    #[error("{peer} closed the connection during the handshake")]
    Closed { peer: String },
    #[error("{peer}: {source}")]
    Io { peer: String, source: CodecError },
}

/// What the sink needs to open sessions.
#[derive(Debug, Clone)]
pub struct Dialer {
    pub address: Address,
    pub token: Token,
    pub agent_id: String,
    pub node: String,
    pub max_frame_bytes: usize,
    pub timeout: Duration,
    pub window: usize,
    pub metrics: ProtocolMetrics,
}

pub struct Session {
    pub peer: String,
    pub rd: FramedRead<ReadHalf, FrameCodec<InFrame>>,
    /// Pre-encoded alert frames for the writer task.
    pub tx: mpsc::Sender<RawFrame>,
    writer: JoinHandle<()>,
}

impl Drop for Session {
    fn drop(&mut self) {
        self.writer.abort();
    }
}

impl Dialer {
    /// Connect and handshake, within `timeout`.
    pub async fn connect(self) -> Result<Session, ConnectError> {
        let peer = self.address.to_string();
        let timeout = self.timeout;
        match tokio::time::timeout(timeout, self.handshake()).await {
            Ok(r) => r,
            Err(_) => Err(ConnectError::Timeout { peer, timeout }),
        }
    }

    async fn handshake(self) -> Result<Session, ConnectError> {
        let conn = self
            .address
            .connect()
            .await
            .map_err(|source| ConnectError::Connect { addr: self.address.to_string(), source })?;
        let peer = conn.peer;
        let (r, w) = tokio::io::split(conn.stream);
        let mut rd = FramedRead::new(r, FrameCodec::<InFrame>::new(self.max_frame_bytes));
        let mut wr = FramedWrite::new(w, FrameCodec::<InFrame>::new(self.max_frame_bytes));
        let hello = Frame::<()>::Hello {
            version: PROTOCOL_VERSION,
            token: self.token.expose().to_owned(),
            agent_id: self.agent_id.clone(),
            node: self.node.clone(),
        };
        wr.send(&hello).await.map_err(|source| ConnectError::Io { peer: peer.clone(), source })?;
        let bad = |reason: BadFrameReason, detail: String| {
            self.metrics.bad_frame(SIDE, reason.as_str());
            ConnectError::BadFrame { peer: peer.clone(), reason, detail }
        };
        match rd.next().await {
            None => return Err(ConnectError::Closed { peer }),
            Some(Ok(Frame::HelloOk { version })) if version == PROTOCOL_VERSION => {}
            Some(Ok(Frame::HelloOk { version })) => {
                return Err(bad(BadFrameReason::UnknownVersion, format!("worker speaks v{version}")));
            }
            Some(Ok(Frame::Error { code, message })) => return Err(ConnectError::Refused { peer, code, message }),
            Some(Ok(other)) => {
                return Err(bad(BadFrameReason::Unexpected, format!("{} instead of hello_ok", other.kind())))
            }
            Some(Err(e)) => {
                return Err(match e.bad_frame_reason() {
                    Some(r) => bad(r, e.to_string()),
                    None => ConnectError::Io { peer, source: e },
                })
            }
        }
        let (tx, rx) = mpsc::channel(self.window + 1);
        let writer = tokio::spawn(write_frames(wr, rx, peer.clone()));
        Ok(Session { peer, rd, tx, writer })
    }
}

async fn write_frames(
    mut wr: FramedWrite<WriteHalf, FrameCodec<InFrame>>,
    mut rx: mpsc::Receiver<RawFrame>,
    peer: String,
) {
    while let Some(f) = rx.recv().await {
        let mut res = wr.feed(f).await;
        while res.is_ok() {
            match rx.try_recv() {
                Ok(f) => res = wr.feed(f).await,
                Err(_) => break,
            }
        }
        if let Err(e) = res.and(futures::SinkExt::<RawFrame>::flush(&mut wr).await) {
            tracing::debug!(%peer, "writing to the triage worker failed: {e}");
            return;
        }
    }
}

/// Wrap a spool record body for the writer.
pub fn raw(body: Bytes) -> RawFrame {
    RawFrame(body)
}
