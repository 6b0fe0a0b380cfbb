//! The userspace event path after the ring buffer: decode → (process table,
//! rule match) → outputs. Runs on the reader task; nothing here blocks on I/O
//! other than the buffered stdout writer.
use std::io::Write;

use lanner_common::decode::{decode, Event};
use serde::Serialize;

use crate::transport::RecordSink;

/// Userspace counters, reported in metrics and at shutdown.
#[derive(Debug, Default, Clone, Serialize)]
pub struct PipelineStats {
    pub records: u64,
    pub decode_errors: u64,
    pub exec: u64,
    pub open: u64,
    pub connect: u64,
    pub setuid: u64,
    pub fork: u64,
    pub exit: u64,
}

#[derive(Serialize)]
struct EventLine<'a> {
    /// Unix time of the event in nanoseconds.
    time_ns: i128,
    #[serde(flatten)]
    event: &'a Event,
}

pub struct Pipeline<W: Write> {
    pub stats: PipelineStats,
    boot_offset_ns: i128,
    events_out: Option<W>,
    /// Only print events of this process id (debugging, tests).
    events_pid: Option<u32>,
}

impl<W: Write> Pipeline<W> {
    pub fn new(boot_offset_ns: i128, events_out: Option<W>, events_pid: Option<u32>) -> Self {
        Self { stats: PipelineStats::default(), boot_offset_ns, events_out, events_pid }
    }

    pub fn handle(&mut self, ev: &Event) {
        let s = &mut self.stats;
        match ev {
            Event::Exec(_) => s.exec += 1,
            Event::Open(_) => s.open += 1,
            Event::Connect(_) => s.connect += 1,
            Event::Setuid(_) => s.setuid += 1,
            Event::Fork(_) => s.fork += 1,
            Event::Exit(_) => s.exit += 1,
        }
        if let Some(out) = self.events_out.as_mut() {
            let h = ev.header();
            if self.events_pid.is_none_or(|p| p == h.pid) {
                let line = EventLine { time_ns: h.ts_boot_ns as i128 + self.boot_offset_ns, event: ev };
                if serde_json::to_writer(&mut *out, &line).is_ok() {
                    let _ = out.write_all(b"\n");
                }
            }
        }
    }
}

impl<W: Write> RecordSink for Pipeline<W> {
    fn record(&mut self, bytes: &[u8]) {
        self.stats.records += 1;
        match decode(bytes) {
            Ok(ev) => self.handle(&ev),
            Err(e) => {
                self.stats.decode_errors += 1;
                tracing::debug!("decode error: {e}");
            }
        }
    }

    fn batch_done(&mut self) {
        if let Some(out) = self.events_out.as_mut() {
            let _ = out.flush();
        }
    }
}
