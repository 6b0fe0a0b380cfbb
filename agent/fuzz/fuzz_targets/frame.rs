//! Fuzz the triage-protocol frame decoder (agent/src/protocol/codec.rs, shared
//! by the agent and the worker): any byte stream must decode to frames or a
//! classified error, never panic or allocate past the frame limit, and every
//! decoded frame must re-encode to a body that decodes to the same frame.
//! Run: `cd agent/fuzz && cargo +nightly fuzz run frame corpus/frame seeds/frame`
//! (seeds: one valid frame of each kind; the first byte is the read split).
#![no_main]

#[allow(dead_code)]
#[path = "../../src/protocol/codec.rs"]
mod codec;

use std::collections::BTreeMap;

use bytes::BytesMut;
use codec::{decode_body, encode_body, Frame, FrameCodec};
use libfuzzer_sys::fuzz_target;
use serde::{Deserialize, Serialize};
use tokio_util::codec::Decoder;

/// Shaped like Falco's JSON alert (the agent's payload type).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Alert {
    output: String,
    priority: String,
    rule: String,
    time: String,
    output_fields: BTreeMap<String, serde_json::Value>,
    source: String,
    tags: Vec<String>,
    hostname: String,
    uuid: String,
}

const MAX: usize = 64 * 1024;

fuzz_target!(|data: &[u8]| {
    // The first byte splits the input in two reads, as a socket would.
    let split = data.first().map_or(0, |b| *b as usize).min(data.len());
    let mut c = FrameCodec::<Frame<Alert>>::new(MAX);
    let mut buf = BytesMut::from(&data[..split]);
    let mut frames = Vec::new();
    let mut failed = false;
    for chunk in [&data[split..], &[][..]] {
        buf.extend_from_slice(chunk);
        loop {
            match c.decode(&mut buf) {
                Ok(Some(f)) => frames.push(f),
                Ok(None) => break,
                Err(e) => {
                    // Every decode error is a classified bad frame.
                    assert!(e.bad_frame_reason().is_some(), "{e}");
                    failed = true;
                    break;
                }
            }
        }
        if failed {
            break;
        }
        assert!(buf.capacity() <= 2 * (MAX + 4 + data.len()), "buffer grew past the frame limit");
    }
    for f in frames {
        let body = encode_body(&f).expect("a decoded frame encodes");
        let back: Frame<Alert> = decode_body(&body).expect("re-encoded frame decodes");
        // serde_json::Value floats may not round-trip bit-exactly (NaN): compare bodies.
        assert_eq!(encode_body(&back).unwrap(), body);
    }
});
