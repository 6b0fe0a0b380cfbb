//! [`PodCache`]: this node's pods indexed by pod UID and by container id.
//!
//! Written only by the pod watch ([`super::watch`]), read per alert. Readers
//! take a read lock for one hash lookup and clone an `Arc`, so they never wait
//! on the network; writers hold the write lock for one pod's index update.
//! Deleted pods stay (marked `deleted`) for a configurable grace period so
//! alerts raised just before the deletion still enrich. Every write wakes
//! [`PodCache::wait_for_container`], the "hold" that lets the pipeline keep
//! an alert briefly when its container is known but its pod is not cached yet,
//! and bumps [`PodCache::generation`], which tells callers that cached an
//! incomplete answer (pod known, container status not yet) to look again.
use std::{
    collections::{HashMap, HashSet, VecDeque},
    sync::{
        atomic::{
            AtomicBool, AtomicU64,
            Ordering::{Acquire, Relaxed, Release},
        },
        Arc, RwLock,
    },
    time::{Duration, Instant},
};

use serde::Serialize;
use tokio::sync::Notify;

use super::pod::PodMeta;

/// Counters for metrics (`lanner_k8s_*`).
#[derive(Debug, Clone, Default, Serialize)]
pub struct PodCacheStats {
    pub enabled: bool,
    pub synced: bool,
    pub pods_cached: u64,
    pub containers_indexed: u64,
    pub applies: u64,
    pub deletes: u64,
    /// Full lists (the first one included).
    pub lists: u64,
    /// Lists after the first: the watch could not resume and started over.
    pub watch_restarts: u64,
    pub watch_errors: u64,
    pub lookup_hits: u64,
    pub lookup_misses: u64,
    /// Alerts held for a pod not cached yet, and how those holds ended.
    pub holds: u64,
    pub hold_hits: u64,
    pub hold_misses: u64,
}

#[derive(Default)]
struct Counters {
    applies: AtomicU64,
    deletes: AtomicU64,
    lists: AtomicU64,
    watch_errors: AtomicU64,
    lookup_hits: AtomicU64,
    lookup_misses: AtomicU64,
    holds: AtomicU64,
    hold_hits: AtomicU64,
    hold_misses: AtomicU64,
}

#[derive(Default)]
struct Maps {
    by_uid: HashMap<String, Arc<PodMeta>>,
    by_container: HashMap<String, Arc<PodMeta>>,
    /// (remove at, uid) of deleted pods, oldest first.
    doomed: VecDeque<(Instant, String)>,
    /// UIDs seen since the current list began.
    listing: Option<HashSet<String>>,
}

struct Inner {
    maps: RwLock<Maps>,
    notify: Notify,
    grace: Duration,
    enabled: AtomicBool,
    synced: AtomicBool,
    /// Bumped after every write (see [`PodCache::generation`]).
    generation: AtomicU64,
    n: Counters,
    /// `lanner_k8s_pods_cached`, once the agent exports it.
    size: std::sync::OnceLock<prometheus_client::metrics::gauge::Gauge>,
}

/// Cheap to clone; all clones share one cache.
#[derive(Clone)]
pub struct PodCache {
    inner: Arc<Inner>,
}

impl PodCache {
    /// An (enabled) cache keeping deleted pods for `grace`.
    pub fn new(grace: Duration) -> Self {
        PodCache {
            inner: Arc::new(Inner {
                maps: RwLock::new(Maps::default()),
                notify: Notify::new(),
                grace,
                enabled: AtomicBool::new(true),
                synced: AtomicBool::new(false),
                generation: AtomicU64::new(0),
                n: Counters::default(),
                size: std::sync::OnceLock::new(),
            }),
        }
    }

    /// A cache that stays empty: no Kubernetes. Lookups miss, holds return at once.
    pub fn disabled() -> Self {
        let c = Self::new(Duration::ZERO);
        c.disable();
        c
    }

    /// No pod source (no config, `--no-k8s`): end every hold now.
    pub fn disable(&self) {
        self.inner.enabled.store(false, Relaxed);
        self.changed();
    }

    /// Changes with every write to the cache (pod added, updated, deleted,
    /// list done). Read it before a lookup and cache the pair: when it has
    /// moved, the lookup may answer differently now.
    pub fn generation(&self) -> u64 {
        self.inner.generation.load(Acquire)
    }

    /// After a write: a new generation, and every hold looks again.
    fn changed(&self) {
        self.inner.generation.fetch_add(1, Release);
        self.inner.notify.notify_waiters();
        self.update_size();
    }

    /// Keep `gauge` equal to the number of pods cached (deleted pods in their grace
    /// period included), from now on: the `/metrics` view of the cache's size.
    pub fn export_size(&self, gauge: prometheus_client::metrics::gauge::Gauge) {
        let _ = self.inner.size.set(gauge);
        self.update_size();
    }

    fn update_size(&self) {
        if let Some(g) = self.inner.size.get() {
            g.set(self.read().by_uid.len() as i64);
        }
    }

    /// A pod watch is (or will be) feeding this cache.
    pub fn is_enabled(&self) -> bool {
        self.inner.enabled.load(Relaxed)
    }

    /// The first full list has been applied.
    pub fn is_synced(&self) -> bool {
        self.inner.synced.load(Relaxed)
    }

    pub fn len(&self) -> usize {
        self.read().by_uid.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The pod with this `metadata.uid`.
    pub fn by_uid(&self, uid: &str) -> Option<Arc<PodMeta>> {
        let found = self.read().by_uid.get(uid).cloned();
        self.count_lookup(found.is_some());
        found
    }

    /// The pod running this container id (64 hex, no scheme).
    pub fn by_container(&self, id: &str) -> Option<Arc<PodMeta>> {
        let found = self.read().by_container.get(id).cloned();
        self.count_lookup(found.is_some());
        found
    }

    /// The pod of container `id`, waiting up to `timeout` for the watch to
    /// bring it (an alert raised right after the container started can beat
    /// the kubelet's status update to the API server). Counted as a hold only
    /// if it had to wait; returns at once when the cache is disabled.
    pub async fn wait_for_container(&self, id: &str, timeout: Duration) -> Option<Arc<PodMeta>> {
        if let Some(p) = self.by_container(id) {
            return Some(p);
        }
        if !self.is_enabled() || timeout.is_zero() {
            return None;
        }
        let n = &self.inner.n;
        n.holds.fetch_add(1, Relaxed);
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let notified = self.inner.notify.notified();
            tokio::pin!(notified);
            // Register before looking, so a write between the look and the wait still wakes us.
            notified.as_mut().enable();
            if let Some(p) = self.read().by_container.get(id).cloned() {
                n.hold_hits.fetch_add(1, Relaxed);
                return Some(p);
            }
            if !self.is_enabled() || tokio::time::timeout_at(deadline, notified).await.is_err() {
                n.hold_misses.fetch_add(1, Relaxed);
                return None;
            }
        }
    }

    /// Waits until the first list is applied (or the cache is disabled).
    pub async fn wait_synced(&self, timeout: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let notified = self.inner.notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.is_synced() {
                return true;
            }
            if !self.is_enabled() || tokio::time::timeout_at(deadline, notified).await.is_err() {
                return false;
            }
        }
    }

    /// Adds or replaces a pod (watch `Apply`/`InitApply`).
    pub fn apply(&self, meta: PodMeta) {
        let now = Instant::now();
        {
            let mut m = self.write();
            if let Some(seen) = m.listing.as_mut() {
                seen.insert(meta.uid.clone());
            }
            let meta = Arc::new(meta);
            if let Some(old) = m.by_uid.insert(meta.uid.clone(), meta.clone()) {
                unindex(&mut m, &old);
            }
            for id in meta.container_ids() {
                m.by_container.insert(id.to_string(), meta.clone());
            }
            purge(&mut m, now);
        }
        self.inner.n.applies.fetch_add(1, Relaxed);
        self.changed();
    }

    /// Marks a pod deleted; it goes after the grace period (at once if zero).
    pub fn delete(&self, uid: &str) {
        let now = Instant::now();
        {
            let mut m = self.write();
            mark_deleted(&mut m, uid, now, self.inner.grace);
            purge(&mut m, now);
        }
        self.inner.n.deletes.fetch_add(1, Relaxed);
        self.changed();
    }

    /// A full list begins (watch `Init`).
    pub fn begin_list(&self) {
        self.write().listing = Some(HashSet::new());
        self.inner.n.lists.fetch_add(1, Relaxed);
    }

    /// The list is complete (watch `InitDone`): pods cached but not listed
    /// were deleted while the watch was down. Returns the pods cached.
    pub fn end_list(&self) -> usize {
        let now = Instant::now();
        let len = {
            let mut m = self.write();
            if let Some(seen) = m.listing.take() {
                let gone: Vec<String> = m
                    .by_uid
                    .iter()
                    .filter(|(uid, p)| !p.deleted && !seen.contains(*uid))
                    .map(|(uid, _)| uid.clone())
                    .collect();
                for uid in gone {
                    mark_deleted(&mut m, &uid, now, self.inner.grace);
                    self.inner.n.deletes.fetch_add(1, Relaxed);
                }
            }
            purge(&mut m, now);
            m.by_uid.values().filter(|p| !p.deleted).count()
        };
        self.inner.synced.store(true, Relaxed);
        self.changed();
        len
    }

    /// Drops deleted pods whose grace has passed (the watch calls this every second).
    pub fn purge_expired(&self) {
        let due = self.read().doomed.front().is_some_and(|(t, _)| *t <= Instant::now());
        if due {
            purge(&mut self.write(), Instant::now());
            self.update_size();
        }
    }

    pub fn count_watch_error(&self) {
        self.inner.n.watch_errors.fetch_add(1, Relaxed);
    }

    pub fn stats(&self) -> PodCacheStats {
        let (pods, containers) = {
            let m = self.read();
            (m.by_uid.len() as u64, m.by_container.len() as u64)
        };
        let n = &self.inner.n;
        let lists = n.lists.load(Relaxed);
        PodCacheStats {
            enabled: self.is_enabled(),
            synced: self.is_synced(),
            pods_cached: pods,
            containers_indexed: containers,
            applies: n.applies.load(Relaxed),
            deletes: n.deletes.load(Relaxed),
            lists,
            watch_restarts: lists.saturating_sub(1),
            watch_errors: n.watch_errors.load(Relaxed),
            lookup_hits: n.lookup_hits.load(Relaxed),
            lookup_misses: n.lookup_misses.load(Relaxed),
            holds: n.holds.load(Relaxed),
            hold_hits: n.hold_hits.load(Relaxed),
            hold_misses: n.hold_misses.load(Relaxed),
        }
    }

    fn count_lookup(&self, hit: bool) {
        let n = &self.inner.n;
        if hit { &n.lookup_hits } else { &n.lookup_misses }.fetch_add(1, Relaxed);
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Maps> {
        self.inner.maps.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Maps> {
        self.inner.maps.write().unwrap_or_else(|e| e.into_inner())
    }
}

/// Removes `pod`'s container ids from the index where they still point to it.
fn unindex(m: &mut Maps, pod: &PodMeta) {
    for id in pod.container_ids() {
        if m.by_container.get(id).is_some_and(|p| p.uid == pod.uid) {
            m.by_container.remove(id);
        }
    }
}

fn mark_deleted(m: &mut Maps, uid: &str, now: Instant, grace: Duration) {
    let Some(old) = m.by_uid.get(uid).cloned() else {
        return;
    };
    if old.deleted {
        return;
    }
    let dead = Arc::new(PodMeta { deleted: true, ..(*old).clone() });
    m.by_uid.insert(uid.to_string(), dead.clone());
    for id in dead.container_ids() {
        if m.by_container.get(id).is_some_and(|p| p.uid == uid) {
            m.by_container.insert(id.to_string(), dead.clone());
        }
    }
    m.doomed.push_back((now + grace, uid.to_string()));
}

fn purge(m: &mut Maps, now: Instant) {
    while m.doomed.front().is_some_and(|(t, _)| *t <= now) {
        let (_, uid) = m.doomed.pop_front().expect("front checked");
        // A pod re-added under the same UID since is live again: keep it.
        if m.by_uid.get(&uid).is_some_and(|p| p.deleted) {
            if let Some(old) = m.by_uid.remove(&uid) {
                unindex(m, &old);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::k8s::pod::{ContainerKind, ContainerMeta};

    pub(crate) fn pod(uid: &str, name: &str, ids: &[&str]) -> PodMeta {
        PodMeta {
            ns: "ns".into(),
            name: name.into(),
            uid: uid.into(),
            labels: BTreeMap::from([("app".to_string(), name.to_string())]),
            owner_kind: None,
            owner_name: None,
            owner_uid: None,
            node: Some("n1".into()),
            containers: ids
                .iter()
                .enumerate()
                .map(|(i, id)| ContainerMeta {
                    id: Some(id.to_string()),
                    previous_id: None,
                    name: format!("c{i}"),
                    kind: ContainerKind::Regular,
                    image: "img:1".into(),
                    image_repository: "img".into(),
                    runtime: None,
                    facts: Default::default(),
                })
                .collect(),
            host_network: false,
            host_pid: false,
            host_ipc: false,
            ip: None,
            deleted: false,
        }
    }

    #[test]
    fn apply_replace_and_index() {
        let c = PodCache::new(Duration::ZERO);
        c.apply(pod("u1", "a", &["c1", "c2"]));
        assert_eq!(c.by_container("c1").unwrap().name, "a");
        assert_eq!(c.by_uid("u1").unwrap().containers.len(), 2);
        // A container restarted: c2 replaced by c3.
        c.apply(pod("u1", "a", &["c1", "c3"]));
        assert!(c.by_container("c2").is_none());
        assert_eq!(c.by_container("c3").unwrap().uid, "u1");
        let s = c.stats();
        assert_eq!((s.pods_cached, s.containers_indexed, s.applies), (1, 2, 2));
        assert_eq!((s.lookup_hits, s.lookup_misses), (3, 1));
    }

    #[test]
    fn every_write_moves_the_generation() {
        let c = PodCache::new(Duration::ZERO);
        let g0 = c.generation();
        c.begin_list();
        assert_eq!(c.generation(), g0, "starting a list changes nothing yet");
        c.apply(pod("u1", "a", &["c1"]));
        let g1 = c.generation();
        assert!(g1 > g0);
        c.end_list();
        let g2 = c.generation();
        assert!(g2 > g1);
        assert!(c.by_uid("u1").is_some());
        assert_eq!(c.generation(), g2, "reads do not move it");
        c.delete("u1");
        assert!(c.generation() > g2);
    }

    #[test]
    fn size_gauge_follows_the_cache() {
        let c = PodCache::new(Duration::from_millis(30));
        c.apply(pod("u0", "z", &["c0"]));
        let g = prometheus_client::metrics::gauge::Gauge::<i64>::default();
        c.export_size(g.clone());
        assert_eq!(g.get(), 1, "set when exported");
        c.apply(pod("u1", "a", &["c1"]));
        c.apply(pod("u2", "b", &["c2"]));
        c.apply(pod("u2", "b", &["c2", "c3"]));
        assert_eq!(g.get(), 3);
        c.delete("u1");
        assert_eq!(g.get(), 3, "a deleted pod counts during its grace period");
        std::thread::sleep(Duration::from_millis(40));
        c.purge_expired();
        assert_eq!(g.get(), 2);
    }

    #[test]
    fn delete_with_and_without_grace() {
        let c = PodCache::new(Duration::ZERO);
        c.apply(pod("u1", "a", &["c1"]));
        c.delete("u1");
        assert!(c.by_uid("u1").is_none() && c.by_container("c1").is_none());
        assert_eq!(c.stats().containers_indexed, 0);

        let c = PodCache::new(Duration::from_millis(30));
        c.apply(pod("u1", "a", &["c1"]));
        c.delete("u1");
        assert!(c.by_container("c1").unwrap().deleted, "kept during the grace");
        std::thread::sleep(Duration::from_millis(40));
        c.purge_expired();
        assert!(c.by_uid("u1").is_none() && c.by_container("c1").is_none());

        // Deleted then re-added (e.g. relisted) before the grace ends: stays.
        c.apply(pod("u2", "b", &["c2"]));
        c.delete("u2");
        c.apply(pod("u2", "b", &["c2"]));
        std::thread::sleep(Duration::from_millis(40));
        c.purge_expired();
        assert!(!c.by_container("c2").unwrap().deleted);
    }

    #[test]
    fn relist_forgets_pods_deleted_while_the_watch_was_down() {
        let c = PodCache::new(Duration::ZERO);
        c.begin_list();
        c.apply(pod("u1", "a", &["c1"]));
        c.apply(pod("u2", "b", &["c2"]));
        assert!(!c.is_synced());
        assert_eq!(c.end_list(), 2);
        assert!(c.is_synced());
        c.begin_list();
        c.apply(pod("u2", "b", &["c2"]));
        assert_eq!(c.end_list(), 1);
        assert!(c.by_uid("u1").is_none());
        let s = c.stats();
        assert_eq!((s.lists, s.watch_restarts, s.deletes), (2, 1, 1));
    }

    #[tokio::test(flavor = "current_thread")]
    async fn hold_is_woken_by_an_update_or_times_out() {
        let c = PodCache::new(Duration::ZERO);
        let c2 = c.clone();
        let t0 = std::time::Instant::now();
        let waiter = tokio::spawn(async move { c2.wait_for_container("c9", Duration::from_secs(20)).await });
        tokio::time::sleep(Duration::from_millis(30)).await;
        c.apply(pod("u0", "other", &["c0"]));
        tokio::time::sleep(Duration::from_millis(30)).await;
        c.apply(pod("u9", "late", &["c9"]));
        assert_eq!(waiter.await.unwrap().unwrap().name, "late");
        assert!(t0.elapsed() < Duration::from_secs(10), "woken by the update, not the timeout");
        // Immediate hit: not a hold.
        assert!(c.wait_for_container("c9", Duration::from_secs(2)).await.is_some());
        // Nothing comes: a miss after the timeout.
        let t0 = std::time::Instant::now();
        assert!(c.wait_for_container("nope", Duration::from_millis(100)).await.is_none());
        assert!(t0.elapsed() >= Duration::from_millis(100));
        let s = c.stats();
        assert_eq!((s.holds, s.hold_hits, s.hold_misses), (2, 1, 1));
    }

    #[tokio::test(flavor = "current_thread")]
    async fn disabled_cache_never_holds() {
        let c = PodCache::disabled();
        let t0 = std::time::Instant::now();
        assert!(c.wait_for_container("x", Duration::from_secs(20)).await.is_none());
        assert!(!c.wait_synced(Duration::from_secs(20)).await);
        assert!(t0.elapsed() < Duration::from_secs(5));
        assert_eq!(c.stats().holds, 0);
        // Disabling wakes a hold in progress.
        let c = PodCache::new(Duration::ZERO);
        let c2 = c.clone();
        let w = tokio::spawn(async move { c2.wait_for_container("x", Duration::from_secs(60)).await });
        tokio::time::sleep(Duration::from_millis(10)).await;
        c.disable();
        assert!(w.await.unwrap().is_none());
        assert!(t0.elapsed() < Duration::from_secs(10));
    }
}
