//! The rule-match stage on its own thread, for drains the reader cannot
//! match alone: the reader task decodes and enriches (it owns the process
//! table and the container cache) and matches inline while it keeps up; past
//! [`THREAD_MIN`] records in one drain the rest comes here, so the second core
//! works. Inline is the default because the hop costs more CPU than the
//! matching itself: `lanner replay` measured ~290 ns per open record inline
//! and ~450 ns with the thread, both on one core.
//!
//! Assembled events travel in batches (at most [`BATCH`] events) over a
//! bounded channel; std's bounded channel is a lock-free array queue on the
//! hot path and blocks only when full, which back-pressures into the ring
//! buffer, where the kernel counts any drop. The rule set is read through the
//! lock-free `ArcSwap` once per batch. The rare matches come back over a
//! second channel and a `Notify` wakes the reader, which builds the alerts
//! (holding them for a late pod when needed) and hands them to the sinks.
//! While a batch is in flight the reader sends everything here
//! ([`MatchStage::idle`]), so alerts keep the events' order.
use std::{
    sync::{
        atomic::{AtomicU64, Ordering},
        mpsc, Arc,
    },
    thread::JoinHandle,
};

use lanner_rules::{Event, RuleId, RuleSet, RuleSetHandle};
use tokio::sync::Notify;

/// Events per batch sent to the match thread.
pub const BATCH: usize = 256;
/// Batches that may wait for the match thread before the reader blocks.
const QUEUE: usize = 64;
/// Records in one drain past which the reader hands the rest to the thread
/// (about 1 M events/s at the reader's 1 ms active poll).
pub const THREAD_MIN: usize = 1024;

/// An event with what the reader needs to emit its alerts.
pub struct Item {
    pub ev: Event,
    pub pid: u32,
    pub cgroups: crate::k8s::enrich::CgroupIds,
}

/// One rule that matched one event.
pub struct Matched {
    pub rules: Arc<RuleSet>,
    pub id: RuleId,
    pub item: Arc<Item>,
}

/// The reader's end: batches out, matches back.
pub struct MatchStage {
    batch: Vec<Item>,
    tx: Option<mpsc::SyncSender<Vec<Item>>>,
    pub matches: mpsc::Receiver<Matched>,
    pub wake: Arc<Notify>,
    thread: Option<JoinHandle<u64>>,
    /// Batches sent, and batches the thread has finished (matches queued).
    sent: u64,
    done: Arc<AtomicU64>,
}

impl MatchStage {
    pub fn spawn(rules: Arc<RuleSetHandle>) -> std::io::Result<Self> {
        let (tx, rx) = mpsc::sync_channel::<Vec<Item>>(QUEUE);
        let (mtx, matches) = mpsc::channel();
        let wake = Arc::new(Notify::new());
        let done = Arc::new(AtomicU64::new(0));
        let (w, d) = (wake.clone(), done.clone());
        let thread =
            std::thread::Builder::new().name("lanner-match".into()).spawn(move || run(rules, rx, mtx, w, d))?;
        Ok(Self { batch: Vec::with_capacity(BATCH), tx: Some(tx), matches, wake, thread: Some(thread), sent: 0, done })
    }

    /// Nothing queued and every batch sent is finished (its matches are all
    /// in `matches`): the reader may match inline without reordering alerts.
    pub fn idle(&self) -> bool {
        self.batch.is_empty() && self.done.load(Ordering::Acquire) == self.sent
    }

    /// Queue an event; a full batch is sent at once.
    pub fn push(&mut self, item: Item) {
        self.batch.push(item);
        if self.batch.len() >= BATCH {
            self.send();
        }
    }

    /// Send what is queued (end of a ring-buffer drain).
    pub fn send(&mut self) {
        if self.batch.is_empty() {
            return;
        }
        let b = std::mem::replace(&mut self.batch, Vec::with_capacity(BATCH));
        if let Some(tx) = &self.tx {
            self.sent += 1;
            if tx.send(b).is_err() {
                tracing::error!("the rule-match thread is gone; events are not matched");
            }
        }
    }

    /// Send the rest, stop the thread and wait for it: every match is then in
    /// `matches`. Returns the number of events the thread matched.
    pub fn close(&mut self) -> u64 {
        self.send();
        self.tx = None;
        self.thread.take().map(|t| t.join().unwrap_or(0)).unwrap_or(0)
    }
}

impl Drop for MatchStage {
    fn drop(&mut self) {
        self.close();
    }
}

fn run(
    rules: Arc<RuleSetHandle>,
    rx: mpsc::Receiver<Vec<Item>>,
    out: mpsc::Sender<Matched>,
    wake: Arc<Notify>,
    done: Arc<AtomicU64>,
) -> u64 {
    let mut seen = 0u64;
    // Reused for every event: matching allocates nothing once it has grown.
    let mut hits: Vec<RuleId> = Vec::new();
    while let Ok(batch) = rx.recv() {
        let set = rules.current();
        let mut any = false;
        for item in batch {
            seen += 1;
            set.for_each_match(&item.ev, |id, _| hits.push(id));
            if hits.is_empty() {
                continue;
            }
            any = true;
            let item = Arc::new(item);
            for id in hits.drain(..) {
                let _ = out.send(Matched { rules: set.clone(), id, item: item.clone() });
            }
        }
        done.fetch_add(1, Ordering::Release);
        if any {
            wake.notify_one();
        }
    }
    seen
}

#[cfg(test)]
mod tests {
    use super::*;
    use lanner_rules::{EvtType, Process};

    fn item(name: &str, path: &str) -> Item {
        let mut p = Process::default();
        p.name = name.into();
        let mut ev = Event::new(EvtType::Openat, 1, Arc::new(p));
        ev.fd = Some(lanner_rules::Fd::file(path, 0, 0));
        Item { ev, pid: 1, cgroups: Default::default() }
    }

    #[test]
    fn matches_come_back_in_order_and_close_waits_for_all() {
        let set = RuleSet::from_sources(&[(
            "t.yaml",
            "- rule: r\n  desc: d\n  condition: evt.type = openat and fd.name startswith /etc/\n  output: o\n  priority: WARNING\n",
        )])
        .expect("rules");
        let rules = Arc::new(RuleSetHandle::new(set));
        let mut st = MatchStage::spawn(rules).expect("spawn");
        for i in 0..1000 {
            st.push(item("cat", if i % 10 == 0 { "/etc/shadow" } else { "/tmp/x" }));
        }
        assert_eq!(st.close(), 1000, "every event reached the match thread");
        let got: Vec<Matched> = st.matches.try_iter().collect();
        assert_eq!(got.len(), 100);
        assert!(got.iter().all(|m| m.rules.rule(m.id).name == "r"));
        assert!(got.iter().all(|m| m.item.ev.fd.as_ref().is_some_and(|f| f.name() == "/etc/shadow")));
    }

    #[test]
    fn idle_only_when_nothing_is_queued_or_in_flight() {
        let rules = Arc::new(RuleSetHandle::new(RuleSet::default_pack().expect("rules")));
        let mut st = MatchStage::spawn(rules).expect("spawn");
        assert!(st.idle(), "a fresh stage");
        st.push(item("cat", "/tmp/a"));
        assert!(!st.idle(), "an event queued");
        st.send();
        // Either the thread is still on the batch (not idle) or done with it.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while !st.idle() {
            assert!(std::time::Instant::now() < deadline, "the match thread never finished its batch");
            std::thread::yield_now();
        }
        assert_eq!(st.close(), 1);
    }
}
