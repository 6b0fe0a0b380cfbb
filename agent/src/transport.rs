//! Ring-buffer reader: drains `EVENTS` into the pipeline.
//!
//! The probes wake the reader when the ring was empty (the reader is idle, so
//! one event reaches it at once) or past a fill threshold, and not otherwise
//! (the reader is draining and will see the record in the same pass): one
//! wake-up per drain under load, no timer-driven polling at idle. A slow timer
//! remains as a safety net and for housekeeping. After a drain the readiness
//! is cleared and the ring drained once more, so a record that arrived in
//! between is not left waiting for the timer.
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
pub async fn run_reader(
    ring: RingBuf<MapData>,
    sink: &mut impl RecordSink,
    poll: Duration,
    wake: Option<std::sync::Arc<tokio::sync::Notify>>,
    mut shutdown: watch::Receiver<bool>,
) -> std::io::Result<RingBuf<MapData>> {
    let wake = wake.unwrap_or_default();
    // SAFETY: the ring buffer owns its map fd and moves into the AsyncFd, so
    // the fd stays open and unique for as long as it is registered.
    let mut afd = unsafe { AsyncFd::register_with_interest(ring, tokio::io::Interest::READABLE) }
        .map_err(|e| std::io::Error::other(format!("registering the ring buffer fd: {e}")))?;
    let mut tick = tokio::time::interval(poll);
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
