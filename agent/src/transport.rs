//! Ring-buffer reader: drains `EVENTS` into the pipeline.
//!
//! The probes wake the reader past a fill threshold, and when an event finds
//! the ring empty (the reader is idle) at most once per `linger` (a wake-up
//! is an IPI, a VM exit on a virtual machine). After each wake-up the reader
//! drains, waits `linger` and drains again, so an event whose wake-up was
//! skipped waits at most about `linger`. No timer-driven polling at idle: a
//! slow timer remains as a safety net and for housekeeping.
use std::time::Duration;

use aya::maps::{MapData, RingBuf};
use tokio::{io::unix::AsyncFd, sync::watch};

/// Anything that consumes raw records.
pub trait RecordSink {
    fn record(&mut self, bytes: &[u8]);
    /// Called after each drained batch (flush buffered output).
    fn batch_done(&mut self) {}
    /// Called on every poll tick, even when nothing arrived.
    fn tick(&mut self) {}
    /// Called when the `wake` notifier passed to [`run_reader`] fires.
    fn woken(&mut self) {}
}

fn drain(ring: &mut RingBuf<MapData>, sink: &mut impl RecordSink) -> usize {
    let mut n = 0;
    while let Some(item) = ring.next() {
        sink.record(&item);
        n += 1;
    }
    if n > 0 {
        sink.batch_done();
    }
    n
}

/// Read until `shutdown` flips to true; return the ring so the caller can
/// detach the probes first and then [`drain_all`] what is left (so every
/// record the kernel counted as emitted is delivered).
/// The reader's clocks.
#[derive(Debug, Clone, Copy)]
pub struct Timing {
    /// Housekeeping tick (and safety-net drain).
    pub poll: Duration,
    /// Drain again this long after each wake-up (the probes' wake gap).
    pub linger: Duration,
}

pub async fn run_reader(
    ring: RingBuf<MapData>,
    sink: &mut impl RecordSink,
    timing: Timing,
    wake: Option<std::sync::Arc<tokio::sync::Notify>>,
    mut shutdown: watch::Receiver<bool>,
) -> std::io::Result<RingBuf<MapData>> {
    let wake = wake.unwrap_or_default();
    // SAFETY: the ring buffer owns its map fd and moves into the AsyncFd, so
    // the fd stays open and unique for as long as it is registered.
    let mut afd = unsafe { AsyncFd::register_with_interest(ring, tokio::io::Interest::READABLE) }
        .map_err(|e| std::io::Error::other(format!("registering the ring buffer fd: {e}")))?;
    let mut tick = tokio::time::interval(timing.poll);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            biased;
            r = shutdown.changed() => {
                if r.is_err() || *shutdown.borrow() { break; }
            }
            guard = afd.readable_mut() => {
                let mut guard = guard?;
                drain(guard.get_inner_mut(), sink);
                guard.clear_ready();
                drop(guard);
                drain(afd.get_mut(), sink);
                if !timing.linger.is_zero() {
                    tokio::time::sleep(timing.linger).await;
                    drain(afd.get_mut(), sink);
                }
            }
            _ = wake.notified() => sink.woken(),
            _ = tick.tick() => {
                drain(afd.get_mut(), sink);
                sink.tick();
            }
        }
    }
    Ok(afd.into_inner())
}

/// Drain everything pending (after the probes are detached).
pub fn drain_all(ring: &mut RingBuf<MapData>, sink: &mut impl RecordSink) -> usize {
    drain(ring, sink)
}
