//! The rule-match stage on its own thread, so the pipeline uses both cores:
//! the reader task decodes and enriches (it owns the process table and the
//! container cache), this thread evaluates the rules.
//!
//! Assembled events travel in batches (one per ring-buffer drain, at most
//! [`BATCH`] events) over a bounded channel. A small batch while the thread
//! has nothing in flight is matched inline instead (`take_small`): at low
//! rates a thread hop costs more than the matching, and order is kept; std's bounded channel is a
//! lock-free array queue on the hot path and blocks only when full, which
//! back-pressures into the ring buffer, where the kernel counts any drop. The
//! rule set is read through the lock-free `ArcSwap` once per batch. The rare
//! matches come back over a second channel and a `Notify` wakes the reader,
//! which builds the alerts (holding them for a late pod when needed) and
//! hands them to the sinks, as before.
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
/// Batches up to this size are matched inline when the thread is idle.
pub const INLINE_MAX: usize = 32;

/// An event with what the reader needs to emit its alerts.
pub struct Item {
    pub ev: Event,
    pub pid: u32,
    pub cgroup_id: u64,
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

    /// The queued events, to match inline, if there are at most `max` and the
    /// thread has finished every batch sent (so its matches are all in
    /// `matches` already and order is kept).
    pub fn take_small(&mut self, max: usize) -> Option<Vec<Item>> {
        if self.batch.is_empty() || self.batch.len() > max || self.done.load(Ordering::Acquire) != self.sent {
            return None;
        }
        Some(std::mem::take(&mut self.batch))
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
        Item { ev, pid: 1, cgroup_id: 0 }
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
    fn small_batches_are_matched_inline_only_when_nothing_is_in_flight() {
        let rules = Arc::new(RuleSetHandle::new(RuleSet::default_pack().expect("rules")));
        let mut st = MatchStage::spawn(rules).expect("spawn");
        st.push(item("cat", "/tmp/a"));
        let small = st.take_small(INLINE_MAX).expect("idle thread, small batch: inline");
        assert_eq!(small.len(), 1);
        assert!(st.take_small(INLINE_MAX).is_none(), "nothing queued");
        for _ in 0..INLINE_MAX + 1 {
            st.push(item("cat", "/tmp/a"));
        }
        assert!(st.take_small(INLINE_MAX).is_none(), "too many for inline");
        st.send();
        st.push(item("cat", "/tmp/b"));
        // Either the thread is still on the batch (no inline) or done with it.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while st.take_small(INLINE_MAX).is_none() {
            assert!(std::time::Instant::now() < deadline, "the match thread never finished its batch");
            std::thread::yield_now();
        }
        assert_eq!(st.close(), (INLINE_MAX + 1) as u64);
    }
}
