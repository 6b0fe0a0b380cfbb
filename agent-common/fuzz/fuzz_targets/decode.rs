//! Fuzz the ring-buffer record decoder: any bytes must give Ok or Err, never a
//! panic. Run: `cd agent-common/fuzz && cargo +nightly fuzz run decode`.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = lanner_common::decode::decode(data);
});
