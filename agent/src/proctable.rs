//! Process table: who is running, with which command line, under which parent.
//!
//! Fed by exec/fork/exit events and seeded from /proc at start-up so processes
//! older than the agent have ancestry too. Entries are `Arc`s: an event takes a
//! cheap snapshot of its process and ancestors. Memory is bounded: exited
//! processes linger for a grace period (late events and orphans' ancestry
//! still resolve), at most `max_exited` of them (the oldest go first, so under
//! an exec storm the grace shrinks instead of the table growing with the exit
//! rate), and past `max_entries` the oldest exited entries go first, then an
//! arbitrary live one.
use lanner_rules::Ancestors;
use std::{
    collections::{HashMap, VecDeque},
    sync::Arc,
    time::{Duration, Instant},
};

/// Maps keyed by kernel-assigned ids (pids, cgroup ids): foldhash, not the
/// default SipHash, which showed in profiles of the event path.
pub type FastMap<K, V> = HashMap<K, V, foldhash::fast::FixedState>;

/// The rule engine's process type is stored directly, so an event takes an
/// `Arc` clone, not a copy (its cmdline is computed once per process).
pub use lanner_rules::Process as ProcInfo;

/// Build a process from exec data. `argv[0]` becomes `proc.exe`.
#[allow(clippy::too_many_arguments)]
pub fn new_proc(pid: u32, ppid: u32, uid: u32, gid: u32, comm: &str, exepath: &str, argv: &[String]) -> ProcInfo {
    let mut p = ProcInfo::new(comm, exepath, &[]);
    p.pid = pid;
    p.tid = pid;
    p.ppid = ppid;
    p.uid = uid;
    p.gid = gid;
    if let Some((first, rest)) = argv.split_first() {
        p.exe = first.clone();
        p.args = rest.to_vec();
    }
    p
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct TableStats {
    pub live: usize,
    pub exited: usize,
    pub evicted: u64,
    pub seeded: usize,
}

pub struct ProcTable {
    procs: FastMap<u32, Arc<ProcInfo>>,
    /// pid → when it exited, and which entry exited (its address: a pid the
    /// kernel reuses meanwhile names a new entry, which must not go with it);
    /// also an eviction queue in exit order.
    exited: VecDeque<(u32, Instant, usize)>,
    grace: Duration,
    max_entries: usize,
    /// Exited entries kept at most (their grace cut short past it).
    max_exited: usize,
    evicted: u64,
    seeded: usize,
    /// Ancestor chains already built (pid → (max, chain)), valid for table
    /// state `chains_gen`: the events of one process share one chain until the
    /// table changes, and then the cache is emptied (it never keeps an evicted
    /// process alive).
    chains: FastMap<u32, (usize, Ancestors)>,
    chains_gen: u64,
    /// Bumped on every insert and removal.
    gen: u64,
}

impl ProcTable {
    pub fn new(max_entries: usize, grace: Duration) -> Self {
        Self {
            procs: FastMap::default(),
            exited: VecDeque::new(),
            grace,
            max_entries: max_entries.max(16),
            max_exited: usize::MAX,
            evicted: 0,
            seeded: 0,
            chains: FastMap::default(),
            chains_gen: 0,
            gen: 0,
        }
    }

    /// Keep at most `n` exited processes in their grace period: the agent's
    /// table would otherwise hold every process that exited in the last
    /// `grace`, ~0.7 KiB each, as many as the node's exit rate makes.
    pub fn with_max_exited(mut self, n: usize) -> Self {
        self.max_exited = n.max(1);
        self
    }

    pub fn get(&self, pid: u32) -> Option<&Arc<ProcInfo>> {
        self.procs.get(&pid)
    }

    #[cfg_attr(not(test), allow(dead_code))] // used by tests and the eval/diagnostic paths
    pub fn len(&self) -> usize {
        self.procs.len()
    }

    pub fn stats(&self) -> TableStats {
        TableStats {
            live: self.procs.len() - self.exited.len().min(self.procs.len()),
            exited: self.exited.len(),
            evicted: self.evicted,
            seeded: self.seeded,
        }
    }

    /// Insert or replace a process (exec, or seeding).
    pub fn upsert(&mut self, info: ProcInfo) -> Arc<ProcInfo> {
        info.precompute();
        let a = Arc::new(info);
        self.insert(a.clone());
        self.enforce_cap();
        a
    }

    /// Every change of `procs` goes through `insert` and `evict`, which bump `gen`
    /// (the ancestor-chain cache is valid for one `gen`).
    fn insert(&mut self, a: Arc<ProcInfo>) {
        self.procs.insert(a.pid, a);
        self.gen += 1;
    }

    fn evict(&mut self, pid: u32) {
        if self.procs.remove(&pid).is_some() {
            self.evicted += 1;
            self.gen += 1;
        }
    }

    /// A new process: it starts as a copy of its parent (same image, argv,
    /// credentials, session); its own ids and start time are unknown until it
    /// execs, so they are cleared, and `start_ns` is the fork's time.
    pub fn on_fork(
        &mut self,
        parent: u32,
        child: u32,
        start_ns: Option<u64>,
        fallback: impl FnOnce() -> ProcInfo,
    ) -> Arc<ProcInfo> {
        let mut info = match self.procs.get(&parent) {
            Some(p) => (**p).clone(),
            None => fallback(),
        };
        info.pid = child;
        info.tid = child;
        info.ppid = parent;
        info.vpid = None;
        info.vtid = None;
        info.start_ns = start_ns;
        self.upsert(info)
    }

    /// A process exited: keep it for `grace` (while fewer than `max_exited`
    /// exited ones are kept), then evict.
    pub fn on_exit(&mut self, pid: u32, now: Instant) {
        if let Some(p) = self.procs.get(&pid) {
            self.exited.push_back((pid, now, Arc::as_ptr(p) as usize));
        }
        self.expire(now);
        while self.exited.len() > self.max_exited {
            let Some((pid, _, entry)) = self.exited.pop_front() else { break };
            self.evict_exited(pid, entry);
        }
    }

    /// Evict `pid` if its entry is still the one that exited.
    fn evict_exited(&mut self, pid: u32, entry: usize) {
        if self.procs.get(&pid).is_some_and(|p| Arc::as_ptr(p) as usize == entry) {
            self.evict(pid);
        }
    }

    /// Evict processes whose grace period is over.
    pub fn expire(&mut self, now: Instant) {
        while let Some(&(pid, at, entry)) = self.exited.front() {
            if now.duration_since(at) < self.grace {
                break;
            }
            self.exited.pop_front();
            self.evict_exited(pid, entry);
        }
    }

    fn enforce_cap(&mut self) {
        while self.procs.len() > self.max_entries {
            if let Some((pid, _, entry)) = self.exited.pop_front() {
                self.evict_exited(pid, entry);
                continue;
            }
            // No exited entries: drop an arbitrary live one (a missed exit).
            let Some(&pid) = self.procs.keys().next() else {
                break;
            };
            self.evict(pid);
        }
    }

    /// Ancestors of `pid`, parent first, at most `max`, stopping at pid 0/1
    /// loops and unknown parents. Built once per process and table state: the
    /// next event of the same process gets the same chain (one `Arc` clone).
    pub fn ancestors(&mut self, pid: u32, max: usize) -> Ancestors {
        if self.chains_gen != self.gen {
            self.chains.clear();
            self.chains_gen = self.gen;
        }
        if let Some((m, chain)) = self.chains.get(&pid) {
            if *m == max {
                return chain.clone();
            }
        }
        let chain = self.build_chain(pid, max);
        self.chains.insert(pid, (max, chain.clone()));
        chain
    }

    fn build_chain(&self, pid: u32, max: usize) -> Ancestors {
        let mut out: Vec<Arc<ProcInfo>> = Vec::with_capacity(max.min(16));
        let mut cur = match self.procs.get(&pid) {
            Some(p) => p.ppid,
            None => return out.into(),
        };
        while out.len() < max && cur != 0 {
            let Some(p) = self.procs.get(&cur) else { break };
            if out.iter().any(|a| a.pid == p.pid) || p.pid == pid {
                break;
            }
            out.push(p.clone());
            cur = p.ppid;
        }
        out.into()
    }

    /// Seed from a procfs mount (normally "/proc"); returns how many were added.
    pub fn seed_from_proc(&mut self, proc_root: &str) -> usize {
        let Ok(dir) = std::fs::read_dir(proc_root) else {
            return 0;
        };
        let mut n = 0;
        for ent in dir.flatten() {
            let Some(pid) = ent.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
                continue;
            };
            if self.procs.contains_key(&pid) {
                continue;
            }
            if let Some(info) = read_proc(proc_root, pid) {
                info.precompute();
                self.insert(Arc::new(info));
                n += 1;
            }
        }
        self.seeded += n;
        self.enforce_cap();
        n
    }
}

/// Parse `/proc/PID/stat` after the comm: (comm, ppid, tty_nr).
pub fn parse_stat(stat: &str) -> Option<(String, u32, u32)> {
    let open = stat.find('(')?;
    let close = stat.rfind(')')?;
    let comm = stat.get(open + 1..close)?.to_string();
    let mut rest = stat.get(close + 1..)?.split_whitespace();
    let _state = rest.next()?;
    let ppid = rest.next()?.parse().ok()?;
    let _pgrp = rest.next()?;
    let _session = rest.next()?;
    let tty = rest.next()?.parse::<i64>().ok()? as u32;
    Some((comm, ppid, tty))
}

fn status_ids(status: &str, key: &str) -> Option<u32> {
    status
        .lines()
        .find_map(|l| l.strip_prefix(key))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
}

/// Everything the table keeps about one /proc entry; `None` if it vanished.
pub fn read_proc(root: &str, pid: u32) -> Option<ProcInfo> {
    let base = format!("{root}/{pid}");
    let stat = std::fs::read_to_string(format!("{base}/stat")).ok()?;
    let (comm, ppid, tty) = parse_stat(&stat)?;
    let status = std::fs::read_to_string(format!("{base}/status")).unwrap_or_default();
    let cmdline = std::fs::read(format!("{base}/cmdline")).unwrap_or_default();
    let mut argv: Vec<String> = cmdline.split(|&b| b == 0).map(|a| String::from_utf8_lossy(a).into_owned()).collect();
    if argv.last().is_some_and(|a| a.is_empty()) {
        argv.pop();
    }
    let exepath = std::fs::read_link(format!("{base}/exe"))
        .map(|p| p.to_string_lossy().trim_end_matches(" (deleted)").to_string())
        .unwrap_or_default();
    let loginuid = std::fs::read_to_string(format!("{base}/loginuid"))
        .ok()
        .and_then(|s| s.trim().parse::<u32>().ok())
        .filter(|&u| u != u32::MAX);
    let mut p = new_proc(
        pid,
        ppid,
        status_ids(&status, "Uid:").unwrap_or(0),
        status_ids(&status, "Gid:").unwrap_or(0),
        &comm,
        &exepath,
        &argv,
    );
    p.loginuid = loginuid;
    p.tty = tty;
    p.fdlimit = std::fs::read_to_string(format!("{base}/limits")).ok().as_deref().and_then(parse_nofile);
    Some(p)
}

/// The soft open-files limit from `/proc/PID/limits` (`Max open files  1024  4096  files`).
fn parse_nofile(limits: &str) -> Option<u32> {
    let soft = limits.lines().find_map(|l| l.strip_prefix("Max open files"))?.split_whitespace().next()?;
    match soft {
        "unlimited" => Some(u32::MAX),
        n => n.parse::<u64>().ok().map(|n| n.min(u64::from(u32::MAX)) as u32),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(pid: u32, ppid: u32, comm: &str) -> ProcInfo {
        new_proc(pid, ppid, 0, 0, comm, "", &[comm.to_string(), "-x".to_string()])
    }

    #[test]
    fn a_chain_is_shared_until_the_table_changes() {
        let mut t = ProcTable::new(100, Duration::from_secs(0));
        t.upsert(p(1, 0, "systemd"));
        t.upsert(p(20, 1, "bash"));
        t.upsert(p(30, 20, "cat"));
        let a = t.ancestors(30, 8);
        assert!(Arc::ptr_eq(&a, &t.ancestors(30, 8)), "the second event of pid 30 reuses the chain");
        assert_eq!(t.ancestors(30, 1).len(), 1, "another depth is another chain");
        // bash execs (a new image): the chain must show it.
        t.upsert(p(20, 1, "zsh"));
        assert_eq!(t.ancestors(30, 8)[0].name, "zsh");
        // bash's parent goes away: the chain stops at zsh.
        t.on_exit(1, Instant::now());
        t.expire(Instant::now() + Duration::from_secs(1));
        let names: Vec<_> = t.ancestors(30, 8).iter().map(|x| x.name.clone()).collect();
        assert_eq!(names, ["zsh"]);
        assert_eq!(Arc::strong_count(&a[1]), 1, "no cached chain keeps the evicted process alive");
    }

    #[test]
    fn ancestry_walks_parents_and_stops_at_loops() {
        let mut t = ProcTable::new(100, Duration::from_secs(5));
        t.upsert(p(1, 0, "systemd"));
        t.upsert(p(10, 1, "containerd-shim"));
        t.upsert(p(20, 10, "bash"));
        t.upsert(p(30, 20, "cat"));
        let a: Vec<_> = t.ancestors(30, 10).iter().map(|x| x.name.clone()).collect();
        assert_eq!(a, ["bash", "containerd-shim", "systemd"]);
        assert_eq!(t.ancestors(30, 2).len(), 2);
        // A loop (corrupt ppids) terminates.
        t.upsert(p(40, 41, "a"));
        t.upsert(p(41, 40, "b"));
        assert_eq!(t.ancestors(40, 10).len(), 1);
        assert!(t.ancestors(999, 10).is_empty());
    }

    #[test]
    fn fork_copies_parent_and_exec_replaces() {
        let mut t = ProcTable::new(100, Duration::from_secs(5));
        t.upsert(p(20, 1, "bash"));
        let c = t.on_fork(20, 21, None, ProcInfo::default);
        assert_eq!((c.pid, c.ppid, c.name.as_str()), (21, 20, "bash"));
        assert_eq!(c.cmdline(), "bash -x");
        t.upsert(new_proc(21, 20, 0, 0, "cat", "/usr/bin/cat", &["cat".into(), "/etc/shadow".into()]));
        assert_eq!(t.get(21).unwrap().cmdline(), "cat /etc/shadow");
        assert_eq!(t.ancestors(21, 5)[0].name, "bash");
        // Unknown parent: the fallback is used.
        let c = t.on_fork(77, 78, Some(5), || ProcInfo::new("x", "", &[]));
        assert_eq!((c.ppid, c.name.as_str()), (77, "x"));
    }

    #[test]
    fn exited_processes_linger_then_go() {
        let mut t = ProcTable::new(100, Duration::from_secs(5));
        let t0 = Instant::now();
        t.upsert(p(5, 1, "x"));
        t.on_exit(5, t0);
        assert!(t.get(5).is_some(), "still resolvable during the grace period");
        t.expire(t0 + Duration::from_secs(6));
        assert!(t.get(5).is_none());
        assert_eq!(t.stats().evicted, 1);
    }

    #[test]
    fn memory_is_bounded() {
        let mut t = ProcTable::new(50, Duration::from_secs(3600));
        let now = Instant::now();
        for pid in 1..=40 {
            t.upsert(p(pid, 1, "x"));
            t.on_exit(pid, now);
        }
        for pid in 100..200 {
            t.upsert(p(pid, 1, "y"));
        }
        assert!(t.len() <= 50);
        // Exited entries were evicted before live ones.
        assert!((100..200).filter(|pid| t.get(*pid).is_some()).count() >= 50 - 40);
    }

    #[test]
    fn exited_entries_are_capped_oldest_first() {
        let mut t = ProcTable::new(1000, Duration::from_secs(3600)).with_max_exited(3);
        let now = Instant::now();
        t.upsert(p(2, 1, "live"));
        for pid in 10..20 {
            t.upsert(p(pid, 2, "x"));
            t.on_exit(pid, now);
        }
        let kept: Vec<u32> = (10..20).filter(|pid| t.get(*pid).is_some()).collect();
        assert_eq!(kept, vec![17, 18, 19], "the three latest exits stay, in their grace");
        assert!(t.get(2).is_some(), "a live process is not touched");
        assert_eq!(t.stats().exited, 3);
        assert_eq!(t.stats().evicted, 7);
    }

    #[test]
    fn a_reused_pid_is_not_evicted_with_the_exited_process() {
        let mut t = ProcTable::new(1000, Duration::from_secs(5));
        let t0 = Instant::now();
        t.upsert(p(7, 1, "old"));
        t.on_exit(7, t0);
        // The kernel hands pid 7 to a new process within the grace period.
        t.upsert(p(7, 1, "new"));
        t.expire(t0 + Duration::from_secs(6));
        assert_eq!(t.get(7).map(|p| p.name.as_str()), Some("new"));
        assert_eq!(t.stats().evicted, 0);
    }

    #[test]
    fn parses_stat_with_spaces_and_parens_in_comm() {
        let s = "1234 (my (weird) proc) S 1 1234 1234 34816 1234 4194560 0 0";
        assert_eq!(parse_stat(s), Some(("my (weird) proc".into(), 1, 34816)));
        assert_eq!(parse_stat("garbage"), None);
    }

    #[test]
    fn seeds_from_the_real_proc() {
        let mut t = ProcTable::new(100_000, Duration::from_secs(5));
        let n = t.seed_from_proc("/proc");
        assert!(n > 1);
        let me = t.get(std::process::id()).expect("own process seeded");
        assert!(me.exepath.ends_with(std::env::current_exe().unwrap().file_name().unwrap().to_str().unwrap()));
        assert_eq!(me.ppid, std::os::unix::process::parent_id());
        assert!(t.get(1).is_some(), "pid 1 seeded");
        let mut lim = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
        assert_eq!(unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) }, 0);
        assert_eq!(me.fdlimit, Some(lim.rlim_cur as u32), "proc.fdlimit from /proc/PID/limits");
    }

    #[test]
    fn parses_the_open_files_limit() {
        let l = "Limit                     Soft Limit           Hard Limit           Units\n\
                 Max processes             94615                94615                processes\n\
                 Max open files            1024                 524288               files\n";
        assert_eq!(parse_nofile(l), Some(1024));
        assert_eq!(
            parse_nofile("Max open files            unlimited            unlimited            files"),
            Some(u32::MAX)
        );
        assert_eq!(parse_nofile("Max processes 5 5"), None);
    }
}
