//! The triage sink's on-disk spool: every alert is written here before it is
//! sent and stays until the worker acks it, so nothing is lost while the
//! worker is down or across an agent restart (docs/protocol.md, "Spool").
//!
//! Layout of the spool directory:
//! - `seg-<first seq, 20 digits>.log`: append-only segments of records
//!   `magic "LNRS" | u32 BE body length | u32 BE crc32(body) | body`, where the
//!   body is the exact protocol frame body (`Frame::Alert`) that is sent.
//! - `acks.log`: append-only u64 BE sequence numbers of records that are done
//!   (acked or evicted). Losing its tail only causes resends, which the worker
//!   deduplicates; so it is never fsynced on the hot path.
//! - `lock`: flock'd while a spool is open (one agent per directory).
//!
//! Size: the sum of segment sizes stays under `max_bytes`. When full, dead
//! records are compacted away first, then the oldest records of a lower
//! priority than the incoming one are evicted; if that is not enough the
//! incoming alert is refused. Corrupt records found at load are skipped (the
//! scan resynchronises on the next magic) and reported with file and offset.
use std::{
    collections::{BTreeMap, BTreeSet, HashSet},
    fs::{File, OpenOptions},
    io::Write as _,
    ops::Bound,
    os::unix::fs::FileExt as _,
    path::{Path, PathBuf},
    sync::Arc,
    time::{Duration, Instant},
};

use bytes::Bytes;
use serde::{Deserialize, Serialize};

mod format;
#[cfg(test)]
mod tests;

use format::header;
pub use format::{scan, HEADER};

const ACKS: &str = "acks.log";

/// When appended records are fsynced (acks are never fsynced on the hot path).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FsyncPolicy {
    /// After every batch of appended alerts, before they are sent.
    #[default]
    Always,
    /// At most once per `fsync_interval`.
    Interval,
    /// Left to the kernel (survives an agent crash, not a node crash).
    Never,
}

#[derive(Debug, Clone)]
pub struct SpoolConfig {
    pub dir: PathBuf,
    pub max_bytes: u64,
    pub segment_bytes: u64,
    pub max_record_bytes: usize,
    pub fsync: FsyncPolicy,
    pub fsync_interval: Duration,
}

/// What the spool needs to know about a record body.
#[derive(Debug, Clone)]
pub struct RecordMeta {
    pub seq: u64,
    /// 0 = Emergency … 7 = Debug.
    pub rank: u8,
    pub rule: String,
}

#[derive(Debug, thiserror::Error)]
pub enum SpoolError {
    #[error("spool {path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("spool directory {0} is in use by another process")]
    Locked(PathBuf),
    #[error("record of {len} bytes exceeds the {max}-byte limit")]
    TooLarge { len: usize, max: usize },
    #[error("spool full ({used} of {max} bytes) with nothing of lower priority to evict")]
    Full { used: u64, max: u64 },
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> SpoolError + '_ {
    move |source| SpoolError::Io { path: path.to_owned(), source }
}

/// A record dropped to make room.
#[derive(Debug, Clone, PartialEq)]
pub struct Evicted {
    pub seq: u64,
    pub rank: u8,
    pub rule: Arc<str>,
}

/// Outcome of [`Spool::open`].
#[derive(Debug, Default)]
pub struct LoadReport {
    pub records: usize,
    pub corrupt: usize,
    pub segments: usize,
}

#[derive(Debug)]
struct Segment {
    path: PathBuf,
    file: File,
    /// Bytes on disk (flushed).
    len: u64,
    live: usize,
    dead: Vec<u64>,
    dead_bytes: u64,
}

#[derive(Debug)]
struct Entry {
    seg: u64,
    off: u64,
    body_len: u32,
    rank: u8,
    rule: Arc<str>,
}

impl Entry {
    fn size(&self) -> u64 {
        HEADER as u64 + self.body_len as u64
    }
}

#[derive(Debug)]
pub struct Spool {
    cfg: SpoolConfig,
    _lock: File,
    segments: BTreeMap<u64, Segment>,
    /// Id of the segment appends go to.
    active: Option<u64>,
    /// Appended records not yet written to the active segment.
    pending: Vec<u8>,
    live: BTreeMap<u64, Entry>,
    by_rank: [BTreeSet<u64>; 8],
    live_bytes: u64,
    dead_bytes: u64,
    acks: File,
    acks_entries: u64,
    pending_acks: Vec<u8>,
    next_seq: u64,
    unsynced: bool,
    last_sync: Instant,
    rules: HashSet<Arc<str>>,
}

fn seg_name(id: u64) -> String {
    format!("seg-{id:020}.log")
}

fn open_rw(path: &Path, create_new: bool) -> Result<File, SpoolError> {
    let mut o = OpenOptions::new();
    o.read(true).append(true);
    if create_new {
        o.create(true).truncate(false);
    }
    o.open(path).map_err(io_err(path))
}

fn sync_dir(dir: &Path) {
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
}

impl Spool {
    /// Open (creating) the spool directory and load what a previous run left.
    /// `meta` decodes a record body; a body it rejects counts as corrupt.
    pub fn open<F>(cfg: SpoolConfig, meta: F) -> Result<(Spool, LoadReport), SpoolError>
    where
        F: Fn(&[u8]) -> Result<RecordMeta, String>,
    {
        let dir = cfg.dir.clone();
        std::fs::create_dir_all(&dir).map_err(io_err(&dir))?;
        let lock_path = dir.join("lock");
        let lock =
            OpenOptions::new().create(true).truncate(false).write(true).open(&lock_path).map_err(io_err(&lock_path))?;
        use std::os::fd::AsRawFd as _;
        // SAFETY: flock on a descriptor we own.
        if unsafe { libc::flock(lock.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
            return Err(SpoolError::Locked(dir));
        }
        let acks_path = dir.join(ACKS);
        let done: HashSet<u64> = match std::fs::read(&acks_path) {
            Ok(b) => b.chunks_exact(8).map(|c| u64::from_be_bytes(c.try_into().unwrap_or([0; 8]))).collect(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => HashSet::new(),
            Err(e) => return Err(SpoolError::Io { path: acks_path, source: e }),
        };
        let mut ids = Vec::new();
        for ent in std::fs::read_dir(&dir).map_err(io_err(&dir))? {
            let name = ent.map_err(io_err(&dir))?.file_name();
            let name = name.to_string_lossy();
            if name.ends_with(".tmp") {
                let _ = std::fs::remove_file(dir.join(&*name));
            } else if let Some(id) = name.strip_prefix("seg-").and_then(|s| s.strip_suffix(".log")) {
                if let Ok(id) = id.parse::<u64>() {
                    ids.push(id);
                }
            }
        }
        ids.sort_unstable();
        let acks = open_rw(&acks_path, true)?;
        let mut sp = Spool {
            cfg,
            _lock: lock,
            segments: BTreeMap::new(),
            active: None,
            pending: Vec::new(),
            live: BTreeMap::new(),
            by_rank: Default::default(),
            live_bytes: 0,
            dead_bytes: 0,
            acks,
            acks_entries: 0,
            pending_acks: Vec::new(),
            next_seq: done.iter().copied().max().unwrap_or(0) + 1,
            unsynced: false,
            last_sync: Instant::now(),
            rules: HashSet::new(),
        };
        let mut report = LoadReport::default();
        for id in ids {
            let path = dir.join(seg_name(id));
            let buf = std::fs::read(&path).map_err(io_err(&path))?;
            let (ok, bad) = scan(&buf, sp.cfg.max_record_bytes);
            let mut corrupt = bad.len();
            for (off, why) in &bad {
                tracing::warn!(file = %path.display(), offset = off, "corrupt spool record skipped: {why}");
            }
            let file = open_rw(&path, false)?;
            let mut seg =
                Segment { path: path.clone(), file, len: buf.len() as u64, live: 0, dead: vec![], dead_bytes: 0 };
            let mut good_bytes = 0u64;
            for (off, body) in ok {
                let m = match meta(body) {
                    Ok(m) => m,
                    Err(why) => {
                        tracing::warn!(file = %path.display(), offset = off, "undecodable spool record skipped: {why}");
                        corrupt += 1;
                        continue;
                    }
                };
                let size = (HEADER + body.len()) as u64;
                sp.next_seq = sp.next_seq.max(m.seq + 1);
                if sp.live.contains_key(&m.seq) {
                    tracing::warn!(file = %path.display(), offset = off, seq = m.seq, "duplicate spool record skipped");
                    corrupt += 1;
                    continue;
                }
                good_bytes += size;
                if done.contains(&m.seq) {
                    seg.dead.push(m.seq);
                    seg.dead_bytes += size;
                    continue;
                }
                let rule = sp.intern(&m.rule);
                let rank = m.rank.min(7);
                sp.by_rank[rank as usize].insert(m.seq);
                sp.live.insert(m.seq, Entry { seg: id, off: off as u64, body_len: body.len() as u32, rank, rule });
                sp.live_bytes += size;
                seg.live += 1;
                report.records += 1;
            }
            report.corrupt += corrupt;
            // Bytes of corrupt regions are dead too: compaction drops them.
            seg.dead_bytes += seg.len - good_bytes;
            sp.dead_bytes += seg.dead_bytes;
            sp.segments.insert(id, seg);
            if corrupt > 0 || sp.segments[&id].live == 0 {
                sp.compact(id)?;
            }
        }
        report.segments = sp.segments.len();
        sp.rewrite_acks()?;
        Ok((sp, report))
    }

    fn intern(&mut self, rule: &str) -> Arc<str> {
        if let Some(r) = self.rules.get(rule) {
            return r.clone();
        }
        let r: Arc<str> = rule.into();
        self.rules.insert(r.clone());
        r
    }

    /// Sequence number for the next record (records must be appended in order).
    pub fn alloc_seq(&mut self) -> u64 {
        let s = self.next_seq;
        self.next_seq += 1;
        s
    }

    pub fn live_records(&self) -> usize {
        self.live.len()
    }

    /// Bytes of segments on disk (and pending).
    pub fn disk_bytes(&self) -> u64 {
        self.segments.values().map(|s| s.len).sum::<u64>() + self.pending.len() as u64
    }

    pub fn contains(&self, seq: u64) -> bool {
        self.live.contains_key(&seq)
    }

    /// The first live record after `after` (or the first at all).
    pub fn next_after(&self, after: Option<u64>) -> Option<u64> {
        let lo = after.map_or(Bound::Unbounded, Bound::Excluded);
        self.live.range((lo, Bound::Unbounded)).next().map(|(s, _)| *s)
    }

    /// Append a record (body = frame body). May evict older records of lower
    /// priority (returned); refuses the record when that cannot make room.
    pub fn append(&mut self, body: &[u8], meta: &RecordMeta) -> Result<Vec<Evicted>, SpoolError> {
        if body.len() > self.cfg.max_record_bytes {
            return Err(SpoolError::TooLarge { len: body.len(), max: self.cfg.max_record_bytes });
        }
        let size = (HEADER + body.len()) as u64;
        let evicted = self.make_room(size, meta.rank.min(7))?;
        let need_roll = match self.active {
            None => true,
            Some(id) => self.segments[&id].len + self.pending.len() as u64 + size > self.cfg.segment_bytes,
        };
        if need_roll {
            self.flush_pending()?;
            let path = self.cfg.dir.join(seg_name(meta.seq));
            let file = open_rw(&path, true)?;
            let seg = Segment { path, file, len: 0, live: 0, dead: vec![], dead_bytes: 0 };
            self.segments.insert(meta.seq, seg);
            self.active = Some(meta.seq);
            sync_dir(&self.cfg.dir);
        }
        let id = self.active.unwrap_or(meta.seq);
        let seg = self.segments.get_mut(&id).expect("active segment exists");
        let off = seg.len + self.pending.len() as u64;
        self.pending.extend_from_slice(&header(body));
        self.pending.extend_from_slice(body);
        seg.live += 1;
        let rule = self.intern(&meta.rule);
        let rank = meta.rank.min(7);
        self.by_rank[rank as usize].insert(meta.seq);
        self.live.insert(meta.seq, Entry { seg: id, off, body_len: body.len() as u32, rank, rule });
        self.live_bytes += size;
        self.next_seq = self.next_seq.max(meta.seq + 1);
        self.unsynced = true;
        Ok(evicted)
    }

    fn make_room(&mut self, size: u64, rank: u8) -> Result<Vec<Evicted>, SpoolError> {
        let max = self.cfg.max_bytes;
        if self.disk_bytes() + size <= max {
            return Ok(vec![]);
        }
        let mut evicted = Vec::new();
        if self.live_bytes + size > max {
            let candidates: Vec<u64> =
                (rank as usize + 1..8).rev().flat_map(|r| self.by_rank[r].iter().copied()).collect();
            let evictable: u64 = candidates.iter().map(|s| self.live[s].size()).sum();
            if self.live_bytes - evictable + size > max {
                return Err(SpoolError::Full { used: self.disk_bytes(), max });
            }
            // Free a little more than needed so a sustained overflow does not
            // compact on every append.
            let target = max.saturating_sub(max / 32).max(size);
            for seq in candidates {
                if self.live_bytes + size <= target {
                    break;
                }
                let e = &self.live[&seq];
                evicted.push(Evicted { seq, rank: e.rank, rule: e.rule.clone() });
                self.remove(seq)?;
            }
        }
        // Reclaim dead bytes, the deadest segments first.
        let mut by_dead: Vec<(u64, u64)> =
            self.segments.iter().filter(|(_, s)| s.dead_bytes > 0).map(|(id, s)| (s.dead_bytes, *id)).collect();
        by_dead.sort_unstable_by(|a, b| b.cmp(a));
        for (_, id) in by_dead {
            if self.disk_bytes() + size <= max {
                break;
            }
            self.compact(id)?;
        }
        Ok(evicted)
    }

    /// Mark a record done (acked or evicted). Returns false if it was not live.
    pub fn remove(&mut self, seq: u64) -> Result<bool, SpoolError> {
        let Some(e) = self.live.remove(&seq) else {
            return Ok(false);
        };
        self.by_rank[e.rank as usize].remove(&seq);
        self.live_bytes -= e.size();
        self.dead_bytes += e.size();
        self.pending_acks.extend_from_slice(&seq.to_be_bytes());
        let seg = self.segments.get_mut(&e.seg).expect("entry's segment exists");
        seg.live -= 1;
        seg.dead.push(seq);
        seg.dead_bytes += e.size();
        let reclaim = seg.live == 0
            && (self.active != Some(e.seg) || seg.len + self.pending.len() as u64 >= self.cfg.segment_bytes / 4);
        if reclaim {
            if self.active == Some(e.seg) {
                self.pending.clear();
                self.active = None;
            }
            self.drop_segment(e.seg)?;
        }
        Ok(true)
    }

    fn drop_segment(&mut self, id: u64) -> Result<(), SpoolError> {
        if let Some(seg) = self.segments.remove(&id) {
            self.dead_bytes -= seg.dead_bytes;
            std::fs::remove_file(&seg.path).map_err(io_err(&seg.path))?;
        }
        Ok(())
    }

    /// Rewrite segment `id` with its live records only (or delete it).
    fn compact(&mut self, id: u64) -> Result<(), SpoolError> {
        if self.active == Some(id) {
            self.flush_pending()?;
        }
        let Some(seg) = self.segments.get(&id) else {
            return Ok(());
        };
        if seg.live == 0 {
            if self.active == Some(id) {
                self.active = None;
            }
            return self.drop_segment(id);
        }
        let path = seg.path.clone();
        let old = std::fs::read(&path).map_err(io_err(&path))?;
        let next_id = self.segments.range(id + 1..).next().map_or(u64::MAX, |(k, _)| *k);
        let mut out = Vec::with_capacity(old.len());
        for (_, e) in self.live.range_mut(id..next_id) {
            if e.seg != id {
                continue;
            }
            let (a, b) = (e.off as usize, e.off as usize + e.size() as usize);
            e.off = out.len() as u64;
            out.extend_from_slice(&old[a..b]);
        }
        let tmp = path.with_extension("tmp");
        let mut f = File::create(&tmp).map_err(io_err(&tmp))?;
        f.write_all(&out).and_then(|_| f.sync_all()).map_err(io_err(&tmp))?;
        std::fs::rename(&tmp, &path).map_err(io_err(&path))?;
        sync_dir(&self.cfg.dir);
        let file = open_rw(&path, false)?;
        let seg = self.segments.get_mut(&id).expect("segment exists");
        self.dead_bytes -= seg.dead_bytes;
        seg.file = file;
        seg.len = out.len() as u64;
        seg.dead.clear();
        seg.dead_bytes = 0;
        Ok(())
    }

    fn flush_pending(&mut self) -> Result<(), SpoolError> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let Some(id) = self.active else {
            self.pending.clear();
            return Ok(());
        };
        let seg = self.segments.get_mut(&id).expect("active segment exists");
        (&seg.file).write_all(&self.pending).map_err(io_err(&seg.path))?;
        seg.len += self.pending.len() as u64;
        self.pending.clear();
        Ok(())
    }

    /// Write appended records and acks; fsync appended records per policy.
    pub fn commit(&mut self) -> Result<(), SpoolError> {
        let active = self.active;
        self.flush_pending()?;
        if !self.pending_acks.is_empty() {
            let path = self.cfg.dir.join(ACKS);
            self.acks.write_all(&self.pending_acks).map_err(io_err(&path))?;
            self.acks_entries += (self.pending_acks.len() / 8) as u64;
            self.pending_acks.clear();
        }
        if self.unsynced {
            let due = match self.cfg.fsync {
                FsyncPolicy::Always => true,
                FsyncPolicy::Interval => self.last_sync.elapsed() >= self.cfg.fsync_interval,
                FsyncPolicy::Never => false,
            };
            if due {
                self.sync_active(active)?;
            }
        }
        let dead_present: u64 = self.segments.values().map(|s| s.dead.len() as u64).sum();
        if self.acks_entries > 2 * dead_present + 4096 {
            self.rewrite_acks()?;
        }
        Ok(())
    }

    fn sync_active(&mut self, active: Option<u64>) -> Result<(), SpoolError> {
        if let Some(seg) = active.and_then(|id| self.segments.get(&id)) {
            seg.file.sync_data().map_err(io_err(&seg.path))?;
        }
        self.unsynced = false;
        self.last_sync = Instant::now();
        Ok(())
    }

    /// Flush and fsync everything (shutdown).
    pub fn close(&mut self) -> Result<(), SpoolError> {
        self.commit()?;
        let active = self.active;
        self.sync_active(active)?;
        let path = self.cfg.dir.join(ACKS);
        self.acks.sync_data().map_err(io_err(&path))
    }

    /// Replace acks.log with the seqs still present in a segment.
    fn rewrite_acks(&mut self) -> Result<(), SpoolError> {
        let mut buf = Vec::new();
        for s in self.segments.values() {
            for seq in &s.dead {
                buf.extend_from_slice(&seq.to_be_bytes());
            }
        }
        buf.extend_from_slice(&self.pending_acks);
        self.pending_acks.clear();
        let path = self.cfg.dir.join(ACKS);
        let tmp = self.cfg.dir.join("acks.tmp");
        let mut f = File::create(&tmp).map_err(io_err(&tmp))?;
        f.write_all(&buf).and_then(|_| f.sync_all()).map_err(io_err(&tmp))?;
        std::fs::rename(&tmp, &path).map_err(io_err(&path))?;
        sync_dir(&self.cfg.dir);
        self.acks = open_rw(&path, false)?;
        self.acks_entries = (buf.len() / 8) as u64;
        Ok(())
    }

    /// The body of a live record.
    pub fn read(&self, seq: u64) -> Result<Bytes, SpoolError> {
        let e = self.live.get(&seq).ok_or_else(|| SpoolError::Io {
            path: self.cfg.dir.clone(),
            source: std::io::Error::new(std::io::ErrorKind::NotFound, format!("seq {seq} not in spool")),
        })?;
        let seg = &self.segments[&e.seg];
        let start = e.off + HEADER as u64;
        let mut body = vec![0u8; e.body_len as usize];
        if start >= seg.len {
            // Still in the pending buffer of the active segment.
            let p = (start - seg.len) as usize;
            let n = body.len();
            body.copy_from_slice(&self.pending[p..p + n]);
        } else {
            seg.file.read_exact_at(&mut body, start).map_err(io_err(&seg.path))?;
        }
        Ok(Bytes::from(body))
    }

    /// Live record counts by rank.
    #[cfg(test)]
    pub fn counts_by_rank(&self) -> std::collections::HashMap<u8, usize> {
        (0..8u8)
            .filter(|r| !self.by_rank[*r as usize].is_empty())
            .map(|r| (r, self.by_rank[r as usize].len()))
            .collect()
    }
}
