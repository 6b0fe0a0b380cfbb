//! Wire format of the agent ↔ triage-worker protocol: the [`Frame`] enum and
//! a length-prefixed MessagePack codec for it (docs/protocol.md).
//!
//! A frame is `u32` big-endian body length, then the body: the MessagePack of a
//! [`Frame`] as `rmp_serde::to_vec_named` writes it (maps with field names, so
//! the format is self-describing) in serde's human-readable mode, so types
//! such as `Uuid` or `IpAddr` travel as the same strings as in the JSON alert.
//! The decoder never allocates more than the configured maximum frame size and
//! classifies every failure into a [`BadFrameReason`] for logs and counters.
//!
//! This file is deliberately self-contained (external crates only, no `crate::`
//! paths): the fuzz crate in `agent/fuzz/` includes it with `#[path]`, since the
//! agent is a binary crate.
use std::marker::PhantomData;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use serde::{de::DeserializeOwned, Deserialize, Serialize};
use tokio_util::codec::{Decoder, Encoder};

/// Protocol version spoken by this build (sent in `Hello` / `HelloOk`).
pub const PROTOCOL_VERSION: u32 = 1;
/// Default maximum frame body size (1 MiB).
pub const DEFAULT_MAX_FRAME_BYTES: usize = 1 << 20;
/// Bytes of the length prefix.
pub const LEN_PREFIX: usize = 4;

/// One protocol message. `A` is the alert payload (Falco-compatible alert).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub enum Frame<A> {
    /// Agent → worker, first frame on a connection.
    Hello { version: u32, token: String, agent_id: String, node: String },
    /// Worker → agent: handshake accepted.
    HelloOk { version: u32 },
    /// Agent → worker: one alert; `seq` is the agent's spool sequence number.
    Alert { seq: u64, alert: A },
    /// Worker → agent: the alert with this `seq` is durably handled.
    Ack { seq: u64 },
    /// Either side: fatal error; the sender closes the connection after it.
    Error { code: ErrorCode, message: String },
}

impl<A> Frame<A> {
    /// Short name of the variant, for logs.
    pub fn kind(&self) -> &'static str {
        match self {
            Frame::Hello { .. } => "hello",
            Frame::HelloOk { .. } => "hello_ok",
            Frame::Alert { .. } => "alert",
            Frame::Ack { .. } => "ack",
            Frame::Error { .. } => "error",
        }
    }
}

/// Error codes carried by [`Frame::Error`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// The `Hello` token did not match.
    BadToken,
    /// The peer's protocol version is not supported.
    UnsupportedVersion,
    /// A frame could not be decoded or was not expected at this point.
    BadFrame,
    /// The worker's handler failed; the alert was not acked and will be resent.
    HandlerFailed,
    /// The worker is shutting down.
    ShuttingDown,
}

/// Why a frame was rejected (the `reason` label of
/// `lanner_protocol_bad_frames_total`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BadFrameReason {
    /// Length prefix above the configured maximum.
    Oversized,
    /// Zero-length body, invalid MessagePack or trailing bytes.
    BadMsgpack,
    /// Valid MessagePack that is not a `Frame` (unknown variant, missing field…).
    WrongType,
    /// `Hello`/`HelloOk` with a protocol version we do not speak.
    UnknownVersion,
    /// `Hello` with a wrong token.
    BadToken,
    /// A valid frame that is not allowed at this point of the conversation.
    Unexpected,
}

impl BadFrameReason {
    pub const ALL: [BadFrameReason; 6] = [
        BadFrameReason::Oversized,
        BadFrameReason::BadMsgpack,
        BadFrameReason::WrongType,
        BadFrameReason::UnknownVersion,
        BadFrameReason::BadToken,
        BadFrameReason::Unexpected,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            BadFrameReason::Oversized => "oversized",
            BadFrameReason::BadMsgpack => "bad_msgpack",
            BadFrameReason::WrongType => "wrong_type",
            BadFrameReason::UnknownVersion => "unknown_version",
            BadFrameReason::BadToken => "bad_token",
            BadFrameReason::Unexpected => "unexpected",
        }
    }
}

/// Codec failures. Every variant but `Io` is a bad frame: the connection must
/// be reset since the byte stream can no longer be trusted.
#[derive(Debug, thiserror::Error)]
pub enum CodecError {
    #[error("frame of {len} bytes exceeds the {max}-byte limit")]
    Oversized { len: usize, max: usize },
    #[error("undecodable frame body ({len} bytes): {detail}")]
    BadMsgpack { len: usize, detail: String },
    #[error("frame body ({len} bytes) is not a valid frame: {detail}")]
    WrongType { len: usize, detail: String },
    #[error("could not encode frame: {0}")]
    Encode(#[from] rmp_serde::encode::Error),
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
}

impl CodecError {
    /// The bad-frame reason, or `None` for local I/O and encoding errors.
    pub fn bad_frame_reason(&self) -> Option<BadFrameReason> {
        match self {
            CodecError::Oversized { .. } => Some(BadFrameReason::Oversized),
            CodecError::BadMsgpack { .. } => Some(BadFrameReason::BadMsgpack),
            CodecError::WrongType { .. } => Some(BadFrameReason::WrongType),
            CodecError::Encode(_) | CodecError::Io(_) => None,
        }
    }
}

/// Decode one frame body (without its length prefix).
pub fn decode_body<T: DeserializeOwned>(body: &[u8]) -> Result<T, CodecError> {
    let len = body.len();
    if len == 0 {
        return Err(CodecError::BadMsgpack { len, detail: "empty body".into() });
    }
    let mut de = rmp_serde::Deserializer::new(body).with_human_readable();
    let value = T::deserialize(&mut de).map_err(|e| classify(len, e))?;
    let rest = de.into_inner();
    if !rest.is_empty() {
        return Err(CodecError::BadMsgpack { len, detail: format!("{} trailing bytes", rest.len()) });
    }
    Ok(value)
}

fn classify(len: usize, e: rmp_serde::decode::Error) -> CodecError {
    use rmp_serde::decode::Error as E;
    let detail = e.to_string();
    match e {
        // 0xc1 is never valid MessagePack.
        E::TypeMismatch(rmp::Marker::Reserved) => CodecError::BadMsgpack { len, detail },
        E::TypeMismatch(_) | E::OutOfRange | E::LengthMismatch(_) | E::Syntax(_) | E::Uncategorized(_) => {
            CodecError::WrongType { len, detail }
        }
        E::InvalidMarkerRead(_) | E::InvalidDataRead(_) | E::Utf8Error(_) | E::DepthLimitExceeded => {
            CodecError::BadMsgpack { len, detail }
        }
    }
}

/// Encode a frame body (no length prefix).
pub fn encode_body<T: Serialize + ?Sized>(frame: &T) -> Result<Vec<u8>, CodecError> {
    let mut buf = Vec::with_capacity(512);
    frame.serialize(&mut rmp_serde::Serializer::new(&mut buf).with_struct_map().with_human_readable())?;
    Ok(buf)
}

/// A pre-encoded frame body (e.g. read back from the spool), sent as is.
#[derive(Debug, Clone)]
pub struct RawFrame(pub Bytes);

/// Length-prefixed MessagePack codec decoding `T` (normally `Frame<A>`).
#[derive(Debug)]
pub struct FrameCodec<T> {
    max_frame_bytes: usize,
    _item: PhantomData<fn() -> T>,
}

impl<T> FrameCodec<T> {
    pub fn new(max_frame_bytes: usize) -> Self {
        Self { max_frame_bytes, _item: PhantomData }
    }

    pub fn max_frame_bytes(&self) -> usize {
        self.max_frame_bytes
    }

    fn put(&self, body: &[u8], dst: &mut BytesMut) -> Result<(), CodecError> {
        if body.len() > self.max_frame_bytes {
            return Err(CodecError::Oversized { len: body.len(), max: self.max_frame_bytes });
        }
        dst.reserve(LEN_PREFIX + body.len());
        dst.put_u32(body.len() as u32);
        dst.put_slice(body);
        Ok(())
    }
}

impl<T> Clone for FrameCodec<T> {
    fn clone(&self) -> Self {
        Self::new(self.max_frame_bytes)
    }
}

impl<T: DeserializeOwned> Decoder for FrameCodec<T> {
    type Item = T;
    type Error = CodecError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<T>, CodecError> {
        if src.len() < LEN_PREFIX {
            return Ok(None);
        }
        let len = u32::from_be_bytes([src[0], src[1], src[2], src[3]]) as usize;
        if len > self.max_frame_bytes {
            // Reject before buffering: the caller resets the connection.
            return Err(CodecError::Oversized { len, max: self.max_frame_bytes });
        }
        if src.len() < LEN_PREFIX + len {
            src.reserve(LEN_PREFIX + len - src.len());
            return Ok(None);
        }
        src.advance(LEN_PREFIX);
        let body = src.split_to(len);
        decode_body(&body).map(Some)
    }
}

impl<T, U: Serialize> Encoder<&Frame<U>> for FrameCodec<T> {
    type Error = CodecError;

    fn encode(&mut self, frame: &Frame<U>, dst: &mut BytesMut) -> Result<(), CodecError> {
        let body = encode_body(frame)?;
        self.put(&body, dst)
    }
}

impl<T> Encoder<RawFrame> for FrameCodec<T> {
    type Error = CodecError;

    fn encode(&mut self, frame: RawFrame, dst: &mut BytesMut) -> Result<(), CodecError> {
        self.put(&frame.0, dst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    struct A {
        rule: String,
        output_fields: BTreeMap<String, Option<String>>,
    }

    type C = FrameCodec<Frame<A>>;

    fn alert() -> Frame<A> {
        let mut f = BTreeMap::new();
        f.insert("proc.name".into(), Some("sh".into()));
        f.insert("k8s.pod.name".into(), None);
        Frame::Alert { seq: 7, alert: A { rule: "Terminal shell".into(), output_fields: f } }
    }

    fn frame_bytes(body: &[u8]) -> BytesMut {
        let mut b = BytesMut::new();
        b.put_u32(body.len() as u32);
        b.put_slice(body);
        b
    }

    #[test]
    fn roundtrip_every_variant_and_partial_input() {
        let frames = vec![
            Frame::Hello { version: 1, token: "t".into(), agent_id: "a".into(), node: "n".into() },
            Frame::HelloOk { version: 1 },
            alert(),
            Frame::Ack { seq: u64::MAX },
            Frame::Error { code: ErrorCode::BadToken, message: "no".into() },
        ];
        let mut c = C::new(DEFAULT_MAX_FRAME_BYTES);
        let mut buf = BytesMut::new();
        for f in &frames {
            c.encode(f, &mut buf).unwrap();
        }
        // Feed one byte at a time: decoding must wait for complete frames.
        let mut got = Vec::new();
        let mut src = BytesMut::new();
        for b in buf.iter() {
            src.put_u8(*b);
            while let Some(f) = c.decode(&mut src).unwrap() {
                got.push(f);
            }
        }
        assert_eq!(got, frames);
        assert!(src.is_empty());
    }

    /// Serializes as a string only in human-readable mode (like `Uuid`).
    #[derive(Debug, PartialEq)]
    struct Hr;

    impl Serialize for Hr {
        fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            if s.is_human_readable() {
                s.serialize_str("text")
            } else {
                s.serialize_bytes(b"bin")
            }
        }
    }

    #[test]
    fn body_is_self_describing_named_map() {
        let body = encode_body(&alert()).unwrap();
        let v: serde_json::Value = rmp_serde::from_slice(&body).unwrap();
        assert_eq!(v["Alert"]["seq"], 7);
        assert_eq!(v["Alert"]["alert"]["rule"], "Terminal shell");
        let body = encode_body(&Frame::Alert { seq: 1, alert: Hr }).unwrap();
        let v: serde_json::Value = rmp_serde::from_slice(&body).unwrap();
        assert_eq!(v["Alert"]["alert"], "text", "human-readable mode");
    }

    #[test]
    fn oversized_rejected_from_prefix_alone() {
        let mut c = C::new(16);
        let mut src = BytesMut::new();
        src.put_u32(17);
        let e = c.decode(&mut src).unwrap_err();
        assert_eq!(e.bad_frame_reason(), Some(BadFrameReason::Oversized));
        let e = c.encode(&alert(), &mut BytesMut::new()).unwrap_err();
        assert_eq!(e.bad_frame_reason(), Some(BadFrameReason::Oversized));
    }

    #[test]
    fn garbage_and_wrong_type_are_classified() {
        let mut c = C::new(1024);
        let cases: Vec<(Vec<u8>, BadFrameReason)> = vec![
            (vec![], BadFrameReason::BadMsgpack),
            (vec![0xc1], BadFrameReason::BadMsgpack), // never-used marker
            (vec![0xdb, 0, 0, 0, 9, b'a'], BadFrameReason::BadMsgpack), // truncated str
            (rmp_serde::to_vec_named(&42u32).unwrap(), BadFrameReason::WrongType),
        ];
        for (body, want) in cases {
            let mut src = frame_bytes(&body);
            let e = c.decode(&mut src).unwrap_err();
            assert_eq!(e.bad_frame_reason(), Some(want), "body {body:02x?}: {e}");
        }
        // Unknown variant and unknown field are wrong types, not crashes.
        let mut m = BTreeMap::new();
        m.insert("Bogus", BTreeMap::from([("seq", 1u64)]));
        let mut src = frame_bytes(&rmp_serde::to_vec_named(&m).unwrap());
        assert_eq!(c.decode(&mut src).unwrap_err().bad_frame_reason(), Some(BadFrameReason::WrongType));
        let mut m = BTreeMap::new();
        m.insert("Ack", BTreeMap::from([("seq", 1u64), ("extra", 2u64)]));
        let mut src = frame_bytes(&rmp_serde::to_vec_named(&m).unwrap());
        assert_eq!(c.decode(&mut src).unwrap_err().bad_frame_reason(), Some(BadFrameReason::WrongType));
        // Trailing bytes after a valid body.
        let mut body = encode_body(&Frame::<A>::Ack { seq: 1 }).unwrap();
        body.push(0xc0);
        let mut src = frame_bytes(&body);
        assert_eq!(c.decode(&mut src).unwrap_err().bad_frame_reason(), Some(BadFrameReason::BadMsgpack));
    }

    #[test]
    fn raw_frame_encodes_verbatim() {
        let body = encode_body(&alert()).unwrap();
        let mut c = C::new(1024);
        let mut dst = BytesMut::new();
        c.encode(RawFrame(Bytes::from(body.clone())), &mut dst).unwrap();
        assert_eq!(&dst[4..], &body[..]);
        assert_eq!(c.decode(&mut dst).unwrap(), Some(alert()));
    }
}
