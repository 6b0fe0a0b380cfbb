//! `lanner replay` (hidden): the agent's userspace path without the kernel.
//! Builds open records as the probes send them, then feeds them through the
//! same [`Pipeline`] the reader drives (decode → process table → match →
//! sink), on this thread, and prints ns per record. The opens come from this
//! process, which the table learns once from /proc as for any unknown pid.
//!
//! `cargo xtask bench` runs it beside the live agent, so the agent-CPU row can
//! say how much of the per-event cost is the pipeline and how much the
//! ring-buffer reads, wake-ups and thread hand-offs that only a live run has.
//! It is deterministic, so it also runs under cachegrind for instruction
//! counts per event (an A/B that the noisy timing here cannot give).
use std::{sync::Arc, time::Instant};

use lanner_common::{open_record_len, EventHeader, EventKind, OpenEvent, PATH_LEN};

use crate::{
    assemble::Assembler,
    pipeline::{AlertSink, Pipeline},
    proctable::ProcTable,
    transport::RecordSink as _,
};

#[derive(clap::Args)]
pub struct ReplayArgs {
    /// Records to replay.
    #[arg(long, default_value_t = 2_000_000)]
    records: u64,
    /// Start the match thread, as the agent does (it takes drains past
    /// `matchstage::THREAD_MIN` records; default: no thread).
    #[arg(long)]
    match_thread: bool,
    /// Records per drain (the agent drains about 1 ms of events at a time).
    #[arg(long, default_value_t = 256)]
    batch: u64,
    /// Open these paths in turn (default: a library, a config file, a
    /// scratch file and a /proc file).
    #[arg(long = "path")]
    paths: Vec<String>,
}

/// Paths cycled through: a library, a config file, a scratch file, /proc.
const PATHS: [&str; 4] =
    ["/usr/lib/x86_64-linux-gnu/libc.so.6", "/etc/ld.so.cache", "/tmp/lnr-replay", "/proc/self/stat"];

/// Alerts are dropped: the replay measures the path to them, not a sink.
struct Discard;
impl AlertSink for Discard {
    fn alert(&mut self, _a: lanner_rules::Alert, _t: u64) {}
}

/// One open record of `path` by this process, as `openat_regs` emits it.
pub(crate) fn record(path: &str, ts: u64) -> Vec<u8> {
    let pid = std::process::id();
    let mut comm = [0u8; 16];
    comm[..6].copy_from_slice(b"replay");
    let mut ev = OpenEvent {
        hdr: EventHeader {
            kind: EventKind::Open as u16,
            flags: 0,
            subtype: 1,
            _pad0: 0,
            ts_boot_ns: ts,
            tid: pid,
            tgid: pid,
            uid: 0,
            gid: 0,
            cgroup_id: 1,
            cgroup_v1_id: 0,
            comm,
        },
        ret: 3,
        dirfd: -100,
        flags: 0,
        mode: 0,
        path_len: path.len() as u16,
        facts: 0,
        dev: 0,
        ino: 0,
        path: [0; PATH_LEN],
    };
    ev.path[..path.len()].copy_from_slice(path.as_bytes());
    // SAFETY: `OpenEvent` is `#[repr(C)]` plain data; the probes send this prefix.
    let bytes =
        unsafe { std::slice::from_raw_parts(&ev as *const OpenEvent as *const u8, std::mem::size_of::<OpenEvent>()) };
    bytes[..open_record_len(path.len())].to_vec()
}

pub fn run(args: ReplayArgs) -> anyhow::Result<()> {
    let rules = Arc::new(lanner_rules::RuleSetHandle::new(lanner_rules::RuleSet::default_pack()?));
    // The enricher `lanner run --no-k8s` has (cgroup resolver, empty pod
    // cache): the container lookup runs for every event there too.
    let pods = crate::k8s::PodCache::new(std::time::Duration::ZERO);
    let enricher = Arc::new(crate::k8s::Enricher::with_defaults(pods, std::time::Duration::ZERO, None));
    let assembler = Assembler::new(ProcTable::new(65_536, std::time::Duration::from_secs(5)), Some(enricher), 0);
    let mut p: Pipeline<Vec<u8>> = Pipeline::new(0, None, None, assembler, rules, "replay".into(), Box::new(Discard));
    if args.match_thread {
        p.start_match_thread()?;
    }
    let paths: Vec<&str> =
        if args.paths.is_empty() { PATHS.to_vec() } else { args.paths.iter().map(String::as_str).collect() };
    let recs: Vec<Vec<u8>> = paths.iter().enumerate().map(|(i, path)| record(path, i as u64)).collect();
    // The first record teaches the table this process (one /proc read).
    p.record(&recs[0]);
    p.batch_done();
    let t = Instant::now();
    for i in 0..args.records {
        p.record(&recs[(i % recs.len() as u64) as usize]);
        if (i + 1) % args.batch.max(1) == 0 {
            p.batch_done();
        }
    }
    p.finish();
    let el = t.elapsed();
    println!(
        "replay: {} open records in {:.3} s: {:.0} ns/record (match {}, {} per drain)",
        args.records,
        el.as_secs_f64(),
        el.as_nanos() as f64 / args.records as f64,
        if args.match_thread { "thread" } else { "inline" },
        args.batch
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use lanner_common::decode::{decode, Event as KEvent};

    #[test]
    fn replayed_records_decode_as_the_probes_opens() {
        for path in super::PATHS {
            let rec = super::record(path, 7);
            assert_eq!(rec.len() % 8, 0, "records are sent rounded to 8 bytes");
            match decode(&rec).expect("decodes") {
                KEvent::Open(o) => {
                    assert_eq!(o.path, path);
                    assert_eq!(o.hdr.pid, std::process::id());
                    assert_eq!(o.hdr.ts_boot_ns, 7);
                }
                _ => panic!("{path}: not an open"),
            }
        }
    }
}
