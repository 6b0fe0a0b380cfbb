//! cgroup id → cgroup path → container, with a bounded cache.
//!
//! One resolver serves one hierarchy: the unified (v2) one, whose id every
//! event carries, or on hybrid hosts one v1 controller's (`Hierarchy::V1`, the
//! id `EventHeader::cgroup_v1_id` carries; see [`super::cgroup_v1`]).
//!
//! Every event carries `cgroup_id` (`bpf_get_current_cgroup_id`): the kernfs
//! id of the task's cgroup on the unified (v2) hierarchy, which on 64-bit
//! kernels is also the inode number of that cgroup's directory. Ids are never
//! reused, so a resolved id stays valid until evicted.
//!
//! On a miss [`CgroupResolver::resolve`] first opens the id as a file handle
//! ([`super::cgroup_fh`]): one exact answer, also for a process that already
//! exited or a cgroup newer than any walk; "no such cgroup" is cached as a
//! negative. Where file handles are unavailable it reads `/proc/<pid>/cgroup`
//! of the event's process (its `0::<path>` line), joins the path to the
//! cgroup2 mount and keeps it only if the directory's inode equals the id (the
//! process may have moved or exited, or may show a path relative to another
//! cgroup namespace). Otherwise it walks the whole cgroup2 hierarchy, indexing
//! every directory inode (at most once per `walk_interval`), and caches a
//! negative answer until the next walk may run. Because the id → path map
//! comes from the host's cgroup2 mount and not from any process's view, it
//! works for containers with private cgroup namespaces, provided the agent
//! sees the host's hierarchy (the DaemonSet mounts the host's /sys/fs/cgroup).
use std::{
    collections::{HashMap, VecDeque},
    io,
    os::unix::fs::{DirEntryExt as _, MetadataExt as _},
    path::{Path, PathBuf},
    sync::{
        atomic::{AtomicU64, Ordering::Relaxed},
        Arc, Mutex,
    },
    time::{Duration, Instant},
};

use serde::Serialize;

use super::cgroup_fh::FileHandles;
use crate::container::{parse_cgroup_path, ContainerRef};

#[derive(Debug, thiserror::Error)]
pub enum CgroupError {
    #[error("reading {path}: {source}")]
    Io { path: PathBuf, source: io::Error },
    #[error("no cgroup2 mount in {0} (the agent needs the host's /sys/fs/cgroup mounted)")]
    NoCgroup2(PathBuf),
    #[error("no cgroup v1 mount of the {controller} controller in {path}")]
    NoV1 { controller: String, path: PathBuf },
}

/// Which hierarchy a resolver's ids and paths belong to.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Hierarchy {
    /// cgroup v2: the `0::` line of `/proc/PID/cgroup`.
    #[default]
    Unified,
    /// The v1 hierarchy of this controller: the line whose controller list names it.
    V1(String),
}

/// Tunables; `Default` is what the agent uses.
#[derive(Debug, Clone)]
pub struct ResolverConfig {
    pub hierarchy: Hierarchy,
    /// The hierarchy's mount; `None`: found in `<proc_root>/self/mountinfo`.
    pub cgroup_root: Option<PathBuf>,
    pub proc_root: PathBuf,
    /// Resolved ids kept (FIFO eviction).
    pub capacity: usize,
    /// How long an unresolvable id answers `None` without looking again.
    pub negative_ttl: Duration,
    /// At most one full walk of the hierarchy per this interval.
    pub walk_interval: Duration,
    /// Stop a walk after this many directories (pathological hosts).
    pub max_walk_dirs: usize,
    /// Resolve ids by file handle when the mount supports it (the default).
    pub file_handles: bool,
}

impl Default for ResolverConfig {
    fn default() -> Self {
        Self {
            hierarchy: Hierarchy::Unified,
            cgroup_root: None,
            proc_root: PathBuf::from("/proc"),
            capacity: 16_384,
            negative_ttl: Duration::from_secs(2),
            walk_interval: Duration::from_secs(1),
            max_walk_dirs: 500_000,
            file_handles: true,
        }
    }
}

/// A resolved cgroup.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CgroupInfo {
    pub id: u64,
    /// Path below the cgroup2 mount, starting with `/`.
    pub path: String,
    pub container: Option<ContainerRef>,
}

/// Counters for metrics.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ResolverStats {
    pub cached: u64,
    pub hits: u64,
    pub negative_hits: u64,
    pub handle_resolved: u64,
    pub proc_resolved: u64,
    pub walk_resolved: u64,
    pub unresolved: u64,
    pub walks: u64,
    pub evictions: u64,
}

#[derive(Default)]
struct Counters {
    hits: AtomicU64,
    negative_hits: AtomicU64,
    handle_resolved: AtomicU64,
    proc_resolved: AtomicU64,
    walk_resolved: AtomicU64,
    unresolved: AtomicU64,
    walks: AtomicU64,
    evictions: AtomicU64,
}

#[derive(Default)]
struct State {
    known: HashMap<u64, Arc<CgroupInfo>>,
    order: VecDeque<u64>,
    negative: HashMap<u64, Instant>,
    /// id → path from the last full walk.
    walked: HashMap<u64, String>,
    last_walk: Option<Instant>,
}

pub struct CgroupResolver {
    root: PathBuf,
    /// `Err`: why ids do not resolve by file handle here.
    handles: Result<FileHandles, String>,
    cfg: ResolverConfig,
    state: Mutex<State>,
    n: Counters,
}

impl CgroupResolver {
    /// Finds the cgroup2 mount (unless configured) and checks it is readable.
    pub fn new(cfg: ResolverConfig) -> Result<Self, CgroupError> {
        let root = match &cfg.cgroup_root {
            Some(r) => r.clone(),
            None => {
                let mi = cfg.proc_root.join("self/mountinfo");
                let text =
                    std::fs::read_to_string(&mi).map_err(|source| CgroupError::Io { path: mi.clone(), source })?;
                match &cfg.hierarchy {
                    Hierarchy::Unified => find_cgroup2_mount(&text).ok_or(CgroupError::NoCgroup2(mi))?,
                    Hierarchy::V1(c) => super::cgroup_v1::find_v1_mount(&text, c)
                        .ok_or_else(|| CgroupError::NoV1 { controller: c.clone(), path: mi })?,
                }
            }
        };
        std::fs::metadata(&root).map_err(|source| CgroupError::Io { path: root.clone(), source })?;
        let handles =
            if cfg.file_handles { FileHandles::probe(&root) } else { Err("turned off by configuration".into()) };
        Ok(Self { root, handles, cfg, state: Mutex::new(State::default()), n: Counters::default() })
    }

    /// `Ok`: ids resolve by file handle; `Err`: why not (then `/proc` and walks).
    pub fn file_handles(&self) -> Result<(), &str> {
        self.handles.as_ref().map(|_| ()).map_err(String::as_str)
    }

    /// The hierarchy's mount in use.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The cgroup of `cgroup_id`; `pid` (0: unknown) is the process the id
    /// came from, tried first on a miss. `None` if the cgroup is gone or unknown.
    pub fn resolve(&self, cgroup_id: u64, pid: u32) -> Option<Arc<CgroupInfo>> {
        let now = Instant::now();
        {
            let mut st = self.lock();
            if let Some(info) = st.known.get(&cgroup_id) {
                self.n.hits.fetch_add(1, Relaxed);
                return Some(info.clone());
            }
            // A walk since the negative answer (any id's) may know it now.
            if let Some(path) = st.walked.get(&cgroup_id).cloned() {
                self.n.walk_resolved.fetch_add(1, Relaxed);
                return Some(self.insert(&mut st, cgroup_id, path));
            }
            match st.negative.get(&cgroup_id) {
                Some(until) if *until > now => {
                    self.n.negative_hits.fetch_add(1, Relaxed);
                    return None;
                }
                Some(_) => {
                    st.negative.remove(&cgroup_id);
                }
                None => {}
            }
        }
        if let Ok(fh) = &self.handles {
            match fh.path(cgroup_id) {
                Ok(Some(path)) => {
                    self.n.handle_resolved.fetch_add(1, Relaxed);
                    return Some(self.insert(&mut self.lock(), cgroup_id, path));
                }
                // No such cgroup (any more): a walk would not find it either.
                Ok(None) => return self.negative(cgroup_id, now, now + self.cfg.negative_ttl),
                Err(e) => tracing::debug!(cgroup_id, error = %e, "cgroup id by file handle failed: /proc and walks"),
            }
        }
        if pid != 0 {
            if let Some(path) = self.path_from_proc(pid, cgroup_id) {
                self.n.proc_resolved.fetch_add(1, Relaxed);
                return Some(self.insert(&mut self.lock(), cgroup_id, path));
            }
        }
        if self.claim_walk(now) {
            let walked = walk(&self.root, self.cfg.max_walk_dirs);
            self.n.walks.fetch_add(1, Relaxed);
            let mut st = self.lock();
            st.walked = walked;
            if let Some(path) = st.walked.get(&cgroup_id).cloned() {
                self.n.walk_resolved.fetch_add(1, Relaxed);
                return Some(self.insert(&mut st, cgroup_id, path));
            }
        }
        // Unknown until the next walk may run: a cgroup made after the last
        // walk (a container starting) is looked for again then, not later.
        let next_walk = self.lock().last_walk.map_or(now, |t| t + self.cfg.walk_interval);
        self.negative(cgroup_id, now, next_walk.min(now + self.cfg.negative_ttl))
    }

    /// Counts an unresolved id and caches the negative answer until `until`.
    fn negative(&self, cgroup_id: u64, now: Instant, until: Instant) -> Option<Arc<CgroupInfo>> {
        self.n.unresolved.fetch_add(1, Relaxed);
        let mut st = self.lock();
        if st.negative.len() >= self.cfg.capacity {
            st.negative.retain(|_, until| *until > now);
        }
        if st.negative.len() < self.cfg.capacity {
            st.negative.insert(cgroup_id, until);
        }
        None
    }

    /// Is `cgroup_id` resolved to a path (cached), as opposed to unknown so far?
    pub fn is_known(&self, cgroup_id: u64) -> bool {
        self.lock().known.contains_key(&cgroup_id)
    }

    /// Shorthand: the container of `cgroup_id`, if it is one.
    pub fn container(&self, cgroup_id: u64, pid: u32) -> Option<ContainerRef> {
        self.resolve(cgroup_id, pid).and_then(|i| i.container.clone())
    }

    pub fn stats(&self) -> ResolverStats {
        let cached = self.lock().known.len() as u64;
        let n = &self.n;
        ResolverStats {
            cached,
            hits: n.hits.load(Relaxed),
            negative_hits: n.negative_hits.load(Relaxed),
            handle_resolved: n.handle_resolved.load(Relaxed),
            proc_resolved: n.proc_resolved.load(Relaxed),
            walk_resolved: n.walk_resolved.load(Relaxed),
            unresolved: n.unresolved.load(Relaxed),
            walks: n.walks.load(Relaxed),
            evictions: n.evictions.load(Relaxed),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn insert(&self, st: &mut State, id: u64, path: String) -> Arc<CgroupInfo> {
        let info = Arc::new(CgroupInfo { id, container: parse_cgroup_path(&path), path });
        if st.known.insert(id, info.clone()).is_none() {
            st.order.push_back(id);
        }
        while st.known.len() > self.cfg.capacity.max(1) {
            let Some(old) = st.order.pop_front() else {
                break;
            };
            if st.known.remove(&old).is_some() {
                self.n.evictions.fetch_add(1, Relaxed);
            }
        }
        st.negative.remove(&id);
        info
    }

    /// Claims the next walk if the last one is old enough.
    fn claim_walk(&self, now: Instant) -> bool {
        let mut st = self.lock();
        if st.last_walk.is_some_and(|t| now.duration_since(t) < self.cfg.walk_interval) {
            return false;
        }
        st.last_walk = Some(now);
        true
    }

    /// `pid`'s path in our hierarchy, if the directory it names under our mount has inode `id`.
    fn path_from_proc(&self, pid: u32, id: u64) -> Option<String> {
        let text = std::fs::read_to_string(self.cfg.proc_root.join(format!("{pid}/cgroup"))).ok()?;
        let path = match &self.cfg.hierarchy {
            Hierarchy::Unified => unified_path(&text)?,
            Hierarchy::V1(c) => super::cgroup_v1::v1_path(&text, c)?,
        };
        if !path.starts_with('/') || path.split('/').any(|s| s == "..") || path.ends_with(" (deleted)") {
            return None;
        }
        let dir = self.root.join(path.trim_start_matches('/'));
        let ino = std::fs::metadata(dir).ok()?.ino();
        (ino == id).then(|| path.to_string())
    }
}

/// The path of the `0::` (unified hierarchy) line of a `/proc/<pid>/cgroup` file.
pub fn unified_path(proc_cgroup: &str) -> Option<&str> {
    proc_cgroup.lines().find_map(|l| l.strip_prefix("0::"))
}

/// A container named in any cgroup v1 line of a `/proc/<pid>/cgroup` file.
/// Fallback for hosts whose runtime only places containers in v1 hierarchies.
pub fn container_from_v1_lines(proc_cgroup: &str) -> Option<ContainerRef> {
    proc_cgroup
        .lines()
        .filter(|l| !l.starts_with("0::"))
        .filter_map(|l| l.splitn(3, ':').nth(2))
        .find_map(parse_cgroup_path)
}

/// The cgroup2 mount point from a mountinfo text, preferring a mount of the
/// hierarchy's root (`/`), i.e. the host's view.
pub fn find_cgroup2_mount(mountinfo: &str) -> Option<PathBuf> {
    find_mount(mountinfo, |fs, _| fs == "cgroup2")
}

/// The mount point of the first mount whose file system type and super
/// options satisfy `want`, preferring a mount of its hierarchy's root (`/`).
pub(super) fn find_mount(mountinfo: &str, want: impl Fn(&str, &str) -> bool) -> Option<PathBuf> {
    let mut fallback = None;
    for line in mountinfo.lines() {
        let Some((left, right)) = line.split_once(" - ") else {
            continue;
        };
        let mut r = right.split_whitespace();
        let (fs, opts) = (r.next().unwrap_or(""), r.nth(1).unwrap_or(""));
        if !want(fs, opts) {
            continue;
        }
        let f: Vec<&str> = left.split_whitespace().collect();
        let (Some(root), Some(mnt)) = (f.get(3), f.get(4)) else {
            continue;
        };
        let mnt = PathBuf::from(unescape_octal(mnt));
        if *root == "/" {
            return Some(mnt);
        }
        fallback.get_or_insert(mnt);
    }
    fallback
}

/// mountinfo escapes space, tab, newline and backslash as `\ooo`.
fn unescape_octal(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let octal = (b[i] == b'\\' && i + 3 < b.len() && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c)))
            .then(|| b[i + 1..i + 4].iter().fold(0u16, |v, c| v * 8 + u16::from(c - b'0')))
            .and_then(|v| u8::try_from(v).ok());
        if let Some(v) = octal {
            out.push(v);
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Every directory below `root` (included, as `/`): inode → path.
fn walk(root: &Path, max_dirs: usize) -> HashMap<u64, String> {
    let mut out = HashMap::new();
    if let Ok(m) = std::fs::metadata(root) {
        out.insert(m.ino(), "/".to_string());
    }
    let mut stack = vec![(root.to_path_buf(), String::new())];
    while let Some((dir, rel)) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in rd.flatten() {
            if !e.file_type().is_ok_and(|t| t.is_dir()) {
                continue;
            }
            let Some(name) = e.file_name().to_str().map(str::to_string) else {
                continue;
            };
            let path = format!("{rel}/{name}");
            out.insert(e.ino(), path.clone());
            if out.len() >= max_dirs {
                return out;
            }
            stack.push((e.path(), path));
        }
    }
    out
}

#[cfg(test)]
#[path = "cgroup_tests.rs"]
mod tests;
