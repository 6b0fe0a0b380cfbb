//! Ring-buffer reader: drains `EVENTS` into the pipeline.
//!
//! The probes wake the reader past a fill threshold, and once when the reader
//! has declared itself idle (`READER_IDLE`); while events flow the reader
//! polls on a short period instead, so producers pay no wake-up (an IPI, a VM
//! exit on a virtual machine) per event, and an idle agent does no polling.
//! A slow timer remains for housekeeping.
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

/// The reader's clocks.
#[derive(Debug, Clone, Copy)]
pub struct Timing {
    /// Housekeeping tick (pre-filter sync, held alerts, sink flush).
    pub poll: Duration,
    /// Poll period while events flow (the probes do not wake the reader then).
    pub active: Duration,
    /// Empty polls in a row before the reader goes idle.
    pub idle_after: u32,
}

/// The `READER_IDLE` map: 1 = the reader waits for a wake-up, and the next
/// event sends one (the probe clears it).
pub type IdleFlag = aya::maps::Array<MapData, u32>;

/// Read until `shutdown` flips to true; return the ring so the caller can
/// detach the probes first and then [`drain_all`] what is left (so every
/// record the kernel counted as emitted is delivered).
///
/// While events flow, the reader polls every `timing.active` and the probes
/// send no wake-ups (an IPI each, a VM exit on a virtual machine) below the
/// fill threshold. After `idle_after` empty polls it raises `idle`, drains
/// once more (a record emitted before the probes saw the flag is caught
/// there) and sleeps until the first event's wake-up: no polling at idle.
pub async fn run_reader(
    ring: RingBuf<MapData>,
    sink: &mut impl RecordSink,
    timing: Timing,
    mut idle: Option<IdleFlag>,
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
    let mut active = true;
    let mut empty = 0u32;
    loop {
        let poll = tokio::time::sleep(timing.active);
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
                (active, empty) = (true, 0);
            }
            _ = wake.notified() => sink.woken(),
            _ = poll, if active => {
                if drain(afd.get_mut(), sink) > 0 {
                    empty = 0;
                } else {
                    empty += 1;
                }
                if empty >= timing.idle_after {
                    match idle.as_mut().map(|f| f.set(0, 1, 0)) {
                        Some(Ok(())) => {
                            drain(afd.get_mut(), sink);
                            active = false;
                        }
                        // No flag (or it cannot be written): keep polling.
                        Some(Err(_)) | None => empty = 0,
                    }
                }
            }
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
