//! Hot reload: the active rule set behind an `ArcSwap`, and a polling file watcher.
//!
//! Readers (the event loop) get the current set with one atomic load and never lock.
//! `reload` compiles a new set off to the side; on error the old set stays active, the
//! failure is counted and the errors are returned. The watcher polls the rule files'
//! contents (not inotify, not mtimes alone) every interval, which is robust to
//! Kubernetes ConfigMap updates that swap a `..data` symlink, to editors that replace
//! files, and to clock skew. The agent also calls [`RuleSetHandle::reload`] on SIGHUP.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use arc_swap::ArcSwap;

use crate::error::{LoadErrors, LoadWarning};
use crate::runtime::ruleset::RuleSet;

/// A successful reload.
#[derive(Debug, Clone)]
pub struct ReloadOk {
    /// Enabled rules in the new set.
    pub rules: usize,
    /// Rules defined but inactive (disabled, or needing what Lanner does not capture).
    pub inactive: usize,
    pub files: Vec<String>,
    pub warnings: Vec<LoadWarning>,
}

/// The active rule set, swappable without blocking readers.
pub struct RuleSetHandle {
    current: ArcSwap<RuleSet>,
    successes: AtomicU64,
    failures: AtomicU64,
    last_success_unix: AtomicU64,
    /// Serializes reloads (readers are never blocked).
    reload_lock: Mutex<()>,
}

fn now_unix() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

impl RuleSetHandle {
    /// Wrap an already loaded set (the load time counts as the last success).
    pub fn new(initial: RuleSet) -> RuleSetHandle {
        RuleSetHandle {
            current: ArcSwap::from_pointee(initial),
            successes: AtomicU64::new(0),
            failures: AtomicU64::new(0),
            last_success_unix: AtomicU64::new(now_unix()),
            reload_lock: Mutex::new(()),
        }
    }

    /// Load `paths` and wrap the result.
    pub fn load(paths: &[PathBuf]) -> Result<RuleSetHandle, LoadErrors> {
        RuleSet::load_files(paths).map(RuleSetHandle::new)
    }

    /// Load the embedded default pack.
    pub fn with_default_pack() -> Result<RuleSetHandle, LoadErrors> {
        RuleSet::default_pack().map(RuleSetHandle::new)
    }

    /// The active set (one atomic load plus a reference count increment).
    pub fn current(&self) -> Arc<RuleSet> {
        self.current.load_full()
    }

    /// The active set without touching the reference count: the cheapest access for
    /// per-event use. Do not hold the guard across long waits.
    pub fn guard(&self) -> arc_swap::Guard<Arc<RuleSet>> {
        self.current.load()
    }

    /// Compile `paths` and make the result active. On error the old set stays active.
    pub fn reload(&self, paths: &[PathBuf]) -> Result<ReloadOk, LoadErrors> {
        self.install(RuleSet::load_files(paths))
    }

    /// Make the embedded default pack active again.
    pub fn reload_default(&self) -> Result<ReloadOk, LoadErrors> {
        self.install(RuleSet::default_pack())
    }

    fn install(&self, loaded: Result<RuleSet, LoadErrors>) -> Result<ReloadOk, LoadErrors> {
        let _g = self.reload_lock.lock().unwrap_or_else(|p| p.into_inner());
        match loaded {
            Ok(rs) => {
                let ok = ReloadOk {
                    rules: rs.len(),
                    inactive: rs.inactive_rules().count(),
                    files: rs.files().to_vec(),
                    warnings: rs.warnings().to_vec(),
                };
                self.current.store(Arc::new(rs));
                // Release: whoever sees the new count sees the new set.
                self.successes.fetch_add(1, Ordering::Release);
                self.last_success_unix.store(now_unix(), Ordering::Relaxed);
                Ok(ok)
            }
            Err(e) => {
                self.failures.fetch_add(1, Ordering::Relaxed);
                Err(e)
            }
        }
    }

    /// Successful reloads since creation.
    pub fn reload_successes(&self) -> u64 {
        self.successes.load(Ordering::Acquire)
    }

    /// Failed reloads since creation (the previous set stayed active each time).
    pub fn reload_failures(&self) -> u64 {
        self.failures.load(Ordering::Relaxed)
    }

    /// Unix time (seconds) of the last successful load or reload.
    pub fn last_success_unix(&self) -> u64 {
        self.last_success_unix.load(Ordering::Relaxed)
    }
}

/// Fingerprint of the rule files' list and contents (read through symlinks).
fn fingerprint(paths: &[PathBuf]) -> u64 {
    let mut h = DefaultHasher::new();
    let (files, errors) = crate::expand_paths(paths);
    errors.len().hash(&mut h);
    for f in files {
        f.hash(&mut h);
        match std::fs::read(&f) {
            Ok(bytes) => bytes.hash(&mut h),
            Err(e) => e.kind().to_string().hash(&mut h),
        }
    }
    h.finish()
}

/// Callback invoked after each reload the watcher triggers.
pub type ReloadCallback = Box<dyn Fn(&Result<ReloadOk, LoadErrors>) + Send + 'static>;

/// A background thread that reloads when the rule files change. Stops when dropped.
pub struct Watcher {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Watcher {
    /// Poll `paths` every `interval` (1-2 s is a good value) and reload `handle` when
    /// their contents change. `on_reload` sees each result (log it, bump metrics).
    pub fn spawn(
        handle: Arc<RuleSetHandle>,
        paths: Vec<PathBuf>,
        interval: Duration,
        on_reload: ReloadCallback,
    ) -> std::io::Result<Watcher> {
        let stop = Arc::new(AtomicBool::new(false));
        let stop2 = stop.clone();
        // Taken before the thread starts, so a change right after spawn is not missed.
        let mut last = fingerprint(&paths);
        let thread = std::thread::Builder::new().name("lanner-rules-watch".into()).spawn(move || {
            let step = Duration::from_millis(50).min(interval);
            loop {
                let mut waited = Duration::ZERO;
                while waited < interval {
                    if stop2.load(Ordering::Relaxed) {
                        return;
                    }
                    std::thread::sleep(step);
                    waited += step;
                }
                let fp = fingerprint(&paths);
                if fp != last {
                    last = fp;
                    let r = handle.reload(&paths);
                    on_reload(&r);
                }
            }
        })?;
        Ok(Watcher { stop, thread: Some(thread) })
    }

    /// Stop the thread and wait for it.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Watcher {
    fn drop(&mut self) {
        self.shutdown();
    }
}
