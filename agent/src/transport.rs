//! Ring-buffer reader: drains `EVENTS` into the pipeline (the ring's own
//! mapping and consumer position are `ring`'s).
//!
//! The probes wake the reader past a fill threshold, and once when the reader
//! has declared itself idle (`READER_IDLE`); while events flow the reader
//! polls on a short period instead, so producers pay no wake-up (an IPI, a VM
//! exit on a virtual machine) per event, and an idle agent does no polling.
//! A slow timer remains for housekeeping.
//!
//! A wake-up can be lost: the ring buffer's fd is edge-triggered, and the
//! kernel re-checks for data when it reports the edge, so a record that the
//! reader drains between a probe's wake-up and that report (its last drain
//! before going idle, or a housekeeping drain while idle) swallows the wake-up
//! while the probe has already lowered `READER_IDLE`. The reader would then
//! sleep with the flag down, no probe would wake it again, and every record
//! would wait for the housekeeping tick. [`Pace`] closes both windows: a last
//! drain that finds records keeps the reader active, and a tick that finds
//! records or a lowered flag while idle makes it active again.
use std::time::Duration;

use aya::maps::MapData;
use tokio::{io::unix::AsyncFd, sync::watch};

mod ring;
pub use ring::Ring;

/// Anything that consumes raw records.
pub trait RecordSink {
    fn record(&mut self, bytes: &[u8]);
    /// Called after each drained batch (flush buffered output).
    fn batch_done(&mut self) {}
    /// Called on every poll tick, even when nothing arrived.
    fn tick(&mut self) {}
    /// Called when the `wake` notifier passed to [`run_reader`] fires.
    fn woken(&mut self) {}
    /// Called when an idle reader found records or a lowered idle flag on its
    /// housekeeping tick: a wake-up was lost and the reader recovered.
    fn rewoken(&mut self) {}
}

fn drain(ring: &mut Ring, sink: &mut impl RecordSink) -> usize {
    let n = ring.drain(|r| sink.record(r));
    if n > 0 {
        sink.batch_done();
    }
    n
}

/// The reader's clocks.
#[derive(Debug, Clone, Copy)]
pub struct Timing {
    /// Housekeeping tick (held alerts, sink flush).
    pub poll: Duration,
    /// Poll period while events flow (the probes do not wake the reader then).
    pub active: Duration,
    /// Empty polls in a row before the reader goes idle.
    pub idle_after: u32,
}

/// Whether the reader polls (active) or sleeps until a probe wakes it, and
/// how many empty polls in a row it has made: the pure part of [`run_reader`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Pace {
    active: bool,
    empty: u32,
}

impl Pace {
    const ACTIVE: Pace = Pace { active: true, empty: 0 };

    /// A poll while active drained `n` records: whether to raise the idle flag.
    fn polled(&mut self, n: usize, idle_after: u32) -> bool {
        self.empty = if n > 0 { 0 } else { self.empty + 1 };
        self.empty >= idle_after
    }

    /// The idle flag is up and the drain after it took `n` records. With
    /// records, a probe may have lowered the flag and had its wake-up
    /// swallowed by that drain: stay active (a flag still up costs at most
    /// one spare wake-up).
    fn raised(&mut self, n: usize) {
        *self = if n == 0 { Pace { active: false, empty: 0 } } else { Pace::ACTIVE };
    }

    /// A housekeeping tick drained `n` records; `flag_down`: `READER_IDLE`
    /// reads 0. Returns whether an idle reader recovered a lost wake-up
    /// (records arrived or a probe lowered the flag, yet no wake-up came).
    fn ticked(&mut self, n: usize, flag_down: bool) -> bool {
        let lost = !self.active && (n > 0 || flag_down);
        if lost {
            *self = Pace::ACTIVE;
        }
        lost
    }
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
    ring: Ring,
    sink: &mut impl RecordSink,
    timing: Timing,
    mut idle: Option<IdleFlag>,
    wake: Option<std::sync::Arc<tokio::sync::Notify>>,
    mut shutdown: watch::Receiver<bool>,
) -> std::io::Result<Ring> {
    let wake = wake.unwrap_or_default();
    // SAFETY: the ring buffer owns its map fd and moves into the AsyncFd, so
    // the fd stays open and unique for as long as it is registered.
    let mut afd = unsafe { AsyncFd::register_with_interest(ring, tokio::io::Interest::READABLE) }
        .map_err(|e| std::io::Error::other(format!("registering the ring buffer fd: {e}")))?;
    let mut tick = tokio::time::interval(timing.poll);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut pace = Pace::ACTIVE;
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
                pace = Pace::ACTIVE;
            }
            _ = wake.notified() => sink.woken(),
            _ = poll, if pace.active => {
                let n = drain(afd.get_mut(), sink);
                if pace.polled(n, timing.idle_after) {
                    match idle.as_mut().map(|f| f.set(0, 1, 0)) {
                        Some(Ok(())) => pace.raised(drain(afd.get_mut(), sink)),
                        // No flag (or it cannot be written): keep polling.
                        Some(Err(_)) | None => pace = Pace::ACTIVE,
                    }
                }
            }
            _ = tick.tick() => {
                let n = drain(afd.get_mut(), sink);
                let flag_down = !pace.active && idle.as_ref().and_then(|f| f.get(&0, 0).ok()) == Some(0);
                if pace.ticked(n, flag_down) {
                    sink.rewoken();
                }
                sink.tick();
            }
        }
    }
    Ok(afd.into_inner())
}

#[cfg(test)]
mod tests;

/// Drain everything pending (after the probes are detached).
pub fn drain_all(ring: &mut Ring, sink: &mut impl RecordSink) -> usize {
    drain(ring, sink)
}
