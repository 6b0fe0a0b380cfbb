//! The rule-match stage on its own thread, so the pipeline uses both cores:
//! the reader task decodes and enriches (it owns the process table and the
//! container cache), this thread evaluates the rules.
//!
//! Assembled events travel in batches (one per ring-buffer drain, at most
//! [`BATCH`] events) over a bounded channel; std's bounded channel is a
//! lock-free array queue on the hot path and blocks only when full, which
//! back-pressures into the ring buffer, where the kernel counts any drop. The
//! rule set is read through the lock-free `ArcSwap` once per batch. The rare
//! matches come back over a second channel and a `Notify` wakes the reader,
//! which builds the alerts (holding them for a late pod when needed) and
//! hands them to the sinks, as before.
use std::{
    sync::{mpsc, Arc},
    thread::JoinHandle,
};

use lanner_rules::{Event, RuleId, RuleSet, RuleSetHandle};
use tokio::sync::Notify;

/// Events per batch sent to the match thread.
pub const BATCH: usize = 256;
/// Batches that may wait for the match thread before the reader blocks.
const QUEUE: usize = 64;

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
}

impl MatchStage {
    pub fn spawn(rules: Arc<RuleSetHandle>) -> std::io::Result<Self> {
        let (tx, rx) = mpsc::sync_channel::<Vec<Item>>(QUEUE);
        let (mtx, matches) = mpsc::channel();
        let wake = Arc::new(Notify::new());
        let w = wake.clone();
        let thread = std::thread::Builder::new().name("lanner-match".into()).spawn(move || run(rules, rx, mtx, w))?;
        Ok(Self { batch: Vec::with_capacity(BATCH), tx: Some(tx), matches, wake, thread: Some(thread) })
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

fn run(rules: Arc<RuleSetHandle>, rx: mpsc::Receiver<Vec<Item>>, out: mpsc::Sender<Matched>, wake: Arc<Notify>) -> u64 {
    let mut seen = 0u64;
    while let Ok(batch) = rx.recv() {
        let set = rules.current();
        let mut any = false;
        for item in batch {
            seen += 1;
            let mut hits: smallvec_like::Hits = Default::default();
            set.for_each_match(&item.ev, |id, _| hits.push(id));
            if hits.is_empty() {
                continue;
            }
            let item = Arc::new(item);
            for id in hits.iter() {
                any = true;
                let _ = out.send(Matched { rules: set.clone(), id, item: item.clone() });
            }
        }
        if any {
            wake.notify_one();
        }
    }
    seen
}

/// Matched rule ids of one event without allocating in the common case.
mod smallvec_like {
    use lanner_rules::RuleId;

    #[derive(Default)]
    pub struct Hits {
        inline: [Option<RuleId>; 4],
        n: usize,
        more: Vec<RuleId>,
    }

    impl Hits {
        pub fn push(&mut self, id: RuleId) {
            if self.n < self.inline.len() {
                self.inline[self.n] = Some(id);
            } else {
                self.more.push(id);
            }
            self.n += 1;
        }
        pub fn is_empty(&self) -> bool {
            self.n == 0
        }
        pub fn iter(&self) -> impl Iterator<Item = RuleId> + '_ {
            self.inline.iter().flatten().copied().chain(self.more.iter().copied())
        }
    }
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
}
