//! Turns a decoded kernel event into the rule engine's [`Event`]: updates the
//! process table (exec/fork/exit), attaches the process, its ancestors and
//! its container/pod, and resolves what the kernel could not (relative open
//! paths, user names).
//!
//! Per event this is a few hash lookups and `Arc` clones; strings are built
//! once per process (exec) or per container, not per event.
use std::{net::IpAddr, sync::Arc, time::Instant};

use lanner_common::decode::{self, Event as KEvent};
use lanner_rules::{Container, Event, EvtType, Fd, HealthProbe, L4Proto, Leader, Pod, ProbeKind};

use crate::{
    image,
    k8s::{enrich::CgroupIds, ContainerInfo, Enricher},
    proctable::{new_proc, FastMap, ProcInfo, ProcTable},
    users::{Scope, Users},
};

struct CachedContainer {
    /// The cgroups the entry was computed for (a process can move).
    cgroups: CgroupIds,
    container: Option<Arc<Container>>,
    /// Not a container, or one with its name (its pod's container status was
    /// cached): nothing more to wait for.
    complete: bool,
    /// The pod cache's generation when the entry was computed.
    generation: u64,
}

impl CachedContainer {
    /// Still the answer? A container without its name and image (pod not
    /// cached, or its container status not published yet) is looked up
    /// again once the pod cache has changed: the pod's next update fills it.
    fn fresh(&self, generation: u64) -> bool {
        self.complete || self.generation == generation
    }
}

pub struct Assembler {
    pub procs: ProcTable,
    enricher: Option<Arc<Enricher>>,
    /// Containers found from the cgroup v2 id: shared by every process in it.
    containers: FastMap<u64, CachedContainer>,
    /// Answers from the v1 id (hybrid hosts: the v2 cgroup named no
    /// container), host processes included: shared by every process in the
    /// same pair of cgroups. Keyed by both ids: a v2 container in a host v1
    /// cgroup must never be answered from a host process's entry.
    by_v1: FastMap<CgroupIds, CachedContainer>,
    /// Processes whose v2 cgroup names no container and that carry no v1 id
    /// (host processes, or containers visible only in cgroup v1 where the
    /// probes read no v1 id): per process.
    by_pid: FastMap<u32, CachedContainer>,
    users: Users,
    /// Capability strings, one shared copy per distinct set.
    caps: lanner_rules::fields::caps::CapNames,
    boot_offset_ns: i128,
    max_ancestors: usize,
}

/// `k8s::ContainerInfo` → the rule engine's container.
pub fn to_container(info: &ContainerInfo) -> Container {
    let (repo, tag) = split_image(info.image.as_deref().unwrap_or_default());
    let facts = info.pod.as_ref().and_then(|p| p.container(&info.container_id)).map(|c| &c.facts);
    Container {
        id: info.container_id.clone(),
        name: info.container_name.clone().unwrap_or_default(),
        image_repository: info.image_repository.clone().unwrap_or(repo),
        image_tag: tag,
        image_digest: facts.map(|f| f.image_digest.clone()).unwrap_or_default(),
        privileged: facts.and_then(|f| f.privileged),
        start_ns: facts.and_then(|f| f.start_ns),
        mounts: facts.map(|f| f.mounts.clone()).unwrap_or_default(),
        probes: facts.map(|f| f.probes.iter().filter_map(health_probe).collect()).unwrap_or_default(),
        host_network: info.pod.as_ref().map(|p| p.host_network),
        host_pid: info.pod.as_ref().map(|p| p.host_pid),
        host_ipc: info.pod.as_ref().map(|p| p.host_ipc),
        ip: info.pod.as_ref().and_then(|p| p.ip.clone()).unwrap_or_default(),
        runtime: match info.runtime {
            crate::container::Runtime::Unknown => String::new(),
            r => r.as_str().to_string(),
        },
        k8s: info.pod.as_ref().map(|p| Pod {
            ns: p.ns.clone(),
            name: p.name.clone(),
            uid: p.uid.clone(),
            labels: p.labels.clone(),
            owner_kind: p.owner_kind.clone(),
            owner_name: p.owner_name.clone(),
            owner_uid: p.owner_uid.clone(),
        }),
        labels_cache: Default::default(),
    }
}

/// A pod spec exec probe as the rule engine matches it (`command[0]` against `proc.exe`).
fn health_probe(p: &crate::k8s::facts::ExecProbe) -> Option<HealthProbe> {
    let kind = match p.kind {
        "liveness" => ProbeKind::Liveness,
        "readiness" => ProbeKind::Readiness,
        _ => return None,
    };
    let (exe, args) = p.command.split_first()?;
    Some(HealthProbe { kind, exe: exe.clone(), args: args.to_vec() })
}

/// `registry/repo:tag@digest` → (`registry/repo`, `tag`).
fn split_image(image: &str) -> (String, String) {
    let no_digest = image.split('@').next().unwrap_or_default();
    let slash = no_digest.rfind('/').map(|i| i + 1).unwrap_or(0);
    match no_digest[slash..].rfind(':') {
        Some(i) => (no_digest[..slash + i].to_string(), no_digest[slash + i + 1..].to_string()),
        None => (no_digest.to_string(), String::new()),
    }
}

impl Assembler {
    pub fn new(procs: ProcTable, enricher: Option<Arc<Enricher>>, boot_offset_ns: i128) -> Self {
        Self {
            procs,
            enricher,
            containers: FastMap::default(),
            by_v1: FastMap::default(),
            by_pid: FastMap::default(),
            users: Users::default(),
            caps: Default::default(),
            boot_offset_ns,
            max_ancestors: 8,
        }
    }

    pub fn enricher(&self) -> Option<&Arc<Enricher>> {
        self.enricher.as_ref()
    }

    fn time_ns(&self, h: &decode::Header) -> u64 {
        (h.ts_boot_ns as i128 + self.boot_offset_ns).max(0) as u64
    }

    /// The container of a cgroup (cached; an entry still missing its pod or
    /// container status is looked up again after the pod cache changed).
    pub fn container(&mut self, pid: u32, ids: impl Into<CgroupIds>) -> Option<Arc<Container>> {
        let ids = ids.into();
        // Borrowed, not cloned: this runs for every event.
        let enricher = self.enricher.as_deref()?;
        // Read before the lookup: a write racing with it shows as a newer generation.
        let generation = enricher.pods().generation();
        let cached = self
            .containers
            .get(&ids.v2)
            .or_else(|| (ids.v1 != 0).then(|| self.by_v1.get(&ids)).flatten())
            .or_else(|| self.by_pid.get(&pid).filter(|c| c.cgroups == ids));
        if let Some(c) = cached.filter(|c| c.fresh(generation)) {
            return c.container.clone();
        }
        // Resolve the cgroup once: a v2 hit gives the container directly; only
        // a miss goes through the full lookup (v1 id, or the /proc fallback).
        let v2 = enricher.cgroups().and_then(|r| r.container(ids.v2, pid));
        let from_v2 = v2.is_some();
        let info = match v2 {
            Some(c) => Some(enricher.with_pod(c)),
            None => enricher.lookup(pid, ids),
        };
        let container = info.as_ref().map(|i| Arc::new(to_container(i)));
        tracing::debug!(pid, ?ids, from_v2, container = ?info.as_ref().map(|i| &i.container_id), "container lookup");
        let complete = info.as_ref().is_none_or(|i| i.container_name.is_some());
        let entry = CachedContainer { cgroups: ids, container: container.clone(), complete, generation };
        if self.containers.len() > 16_384 || self.by_v1.len() > 16_384 {
            self.containers.clear();
            self.by_v1.clear();
        }
        if self.by_pid.len() > 65_536 {
            self.by_pid.clear();
        }
        match enricher.cgroups_v1() {
            _ if from_v2 => {
                self.containers.insert(ids.v2, entry);
            }
            // Only a v1 id resolved to a path is an answer to keep: an id not
            // found yet (a cgroup newer than the last walk, its process gone)
            // is asked again, throttled by the resolver's negative cache.
            Some(r) if ids.v1 != 0 => {
                if r.is_known(ids.v1) {
                    self.by_v1.insert(ids, entry);
                }
            }
            _ => {
                self.by_pid.insert(pid, entry);
            }
        }
        container
    }

    /// Forget cached container data (e.g. after the pod it belongs to arrived).
    pub fn refresh_container(&mut self, pid: u32, ids: CgroupIds) {
        self.containers.remove(&ids.v2);
        self.by_v1.remove(&ids);
        self.by_pid.remove(&pid);
    }

    fn user_name(&mut self, pid: u32, cgroup_id: u64, uid: u32) -> Option<String> {
        self.users.name(Scope::of(pid, cgroup_id), uid)
    }

    /// User name, home, shell, login name and group name, resolved in the
    /// process's own root (its container's /etc/passwd and /etc/group).
    fn fill_user(&mut self, p: &mut ProcInfo, cgroup_id: u64, root: Option<(u32, u64)>) {
        let scope = Scope::of_exec(p.pid, cgroup_id, root);
        let entry = self.users.user(scope, p.uid);
        p.user_name = entry.as_ref().map(|e| e.name.clone()).or_else(|| (p.uid == 0).then(|| "root".to_string()));
        p.homedir = entry.as_ref().map(|e| e.home.clone());
        p.shell = entry.as_ref().map(|e| e.shell.clone());
        p.loginname = match p.loginuid {
            Some(l) if l != u32::MAX => self.users.name(scope, l),
            _ => None,
        };
        p.group_name = self.users.group(scope, p.gid).map(|g| g.to_string());
    }

    /// Session and process-group leaders, from the table (or `p` itself).
    fn fill_leaders(&self, p: &mut ProcInfo) {
        let leader = |pid: u32| -> Option<Arc<Leader>> {
            let q: &ProcInfo = if pid == p.pid { p } else { self.procs.get(pid)? };
            Some(Arc::new(Leader { name: q.name.clone(), exe: q.exe.clone(), exepath: q.exepath.clone() }))
        };
        let session = p.sid.and_then(leader);
        let group = p.pgid.and_then(leader);
        p.session_leader = session;
        p.group_leader = group;
    }

    /// The process of an event: from the table, or a stub from the header.
    fn proc_of(&mut self, h: &decode::Header) -> Arc<ProcInfo> {
        if let Some(p) = self.procs.get(h.pid) {
            if p.uid == h.uid {
                return p.clone();
            }
            // Credentials changed since exec (setuid): refresh uid/gid.
            let mut q = (**p).clone();
            q.uid = h.uid;
            q.gid = h.gid;
            self.fill_user(&mut q, h.cgroup_id, None);
            return self.procs.upsert(q);
        }
        let mut p = crate::proctable::read_proc("/proc", h.pid)
            .unwrap_or_else(|| new_proc(h.pid, 0, h.uid, h.gid, &h.comm, "", &[h.comm.to_string()]));
        p.uid = h.uid;
        p.gid = h.gid;
        self.fill_user(&mut p, h.cgroup_id, None);
        self.procs.upsert(p)
    }

    /// Resolve a relative open path against the caller's cwd or dirfd, then
    /// normalise it lexically (`//`, `/./`, `/../`) as Falco does, so
    /// `/tmp/../etc/shadow` is matched as `/etc/shadow`. When the process is
    /// gone before its /proc/PID/cwd is read, `cwd` (read in the kernel at its
    /// exec, `proc.cwd`) stands in.
    fn absolute(pid: u32, dirfd: i32, path: &str, cwd: Option<&str>) -> String {
        if path.is_empty() {
            return String::new();
        }
        if path.starts_with('/') {
            return normalize_path(path);
        }
        let base = if dirfd == libc::AT_FDCWD {
            std::fs::read_link(format!("/proc/{pid}/cwd"))
        } else {
            std::fs::read_link(format!("/proc/{pid}/fd/{dirfd}"))
        };
        match (base, cwd) {
            (Ok(b), _) => normalize_path(&format!("{}/{path}", b.to_string_lossy())),
            (Err(_), Some(c)) if dirfd == libc::AT_FDCWD => normalize_path(&format!("{c}/{path}")),
            (Err(_), _) => path.to_string(),
        }
    }

    /// Build the rule-engine event; updates the process table as a side effect.
    /// Returns `None` for events no rule type exists for.
    /// Takes `ev` mutably only to move an open's path into the event when it is
    /// already absolute and normal (no copy per open).
    pub fn assemble(&mut self, ev: &mut KEvent) -> Option<Event> {
        let mut taken_path = match ev {
            KEvent::Open(o) if o.path.starts_with('/') && !needs_normalising(&o.path) => {
                Some(std::mem::take(&mut o.path))
            }
            _ => None,
        };
        let ev = &*ev;
        let h = ev.header();
        let time = self.time_ns(h);
        let mut args = Vec::new();
        let (evt_type, res, proc, fd, setuid_target) = match ev {
            KEvent::Exec(e) if e.ret == 0 => {
                let img = e.image.as_deref();
                let exepath = image::exepath(img, &e.filename);
                let mut p = new_proc(h.pid, e.ppid, h.uid, h.gid, &h.comm, exepath, &e.argv);
                p.tty = e.tty;
                p.loginuid = e.loginuid;
                p.args_truncated = e.args_truncated;
                if let Some(i) = img {
                    // The image before this exec (a fork child's is its parent's):
                    // `apply` keeps its environment buffer when it did not change.
                    let before = self.procs.get(h.pid).or_else(|| self.procs.get(e.ppid));
                    p.env = before.map(|b| b.env.clone()).unwrap_or_default();
                    image::apply(&mut p, i, self.boot_offset_ns, &mut self.caps);
                }
                self.fill_user(&mut p, h.cgroup_id, img.and_then(|i| i.root));
                self.fill_leaders(&mut p);
                let p = self.procs.upsert(p);
                (exec_type(e), 0, p, None, None)
            }
            KEvent::Exec(e) => {
                let p = self.proc_of(h);
                (exec_type(e), e.ret as i64, p, Some(Fd::file(e.filename.clone(), 0, 0)), None)
            }
            KEvent::Open(o) => {
                let p = self.proc_of(h);
                let moved = taken_path.is_some();
                let path = match taken_path.take() {
                    Some(path) => path,
                    None => Self::absolute(h.pid, o.dirfd, &o.path, p.cwd.as_deref()),
                };
                // The mode argument means something only with O_CREAT or
                // O_TMPFILE; otherwise the register holds whatever the caller
                // left there, and Falco reports 0 (`open_modes_to_scap`).
                let mode = if o.flags & (libc::O_CREAT as u32 | libc::O_TMPFILE as u32) != 0 { o.mode } else { 0 };
                let mut fd = Fd::file(path, o.flags, mode);
                if !moved {
                    fd = fd.with_raw_name(o.path.as_str());
                }
                if o.ret >= 0 {
                    fd = fd.with_num(o.ret as i64);
                }
                if let Some(f) = o.file {
                    fd = fd.with_facts(lanner_rules::runtime::event::FileFacts {
                        dev: lanner_rules::runtime::event::FileFacts::kernel_dev(f.dev),
                        ino: f.ino,
                        created: f.created,
                        upper_layer: f.upper_layer,
                        lower_layer: f.lower_layer,
                    });
                }
                (EvtType::Openat, o.ret as i64, p, Some(fd), None)
            }
            KEvent::Connect(c) => {
                let p = self.proc_of(h);
                let fd = match (&c.addr, &c.unix_path) {
                    (Some(ip), _) => Fd::inet(*ip, c.port, c.local, l4proto(c.sock_type)),
                    (None, Some(path)) => Fd::unix(path.clone()),
                    (None, None) => Fd::inet(IpAddr::from([0u8, 0, 0, 0]), 0, None, L4Proto::Unknown),
                };
                (EvtType::Connect, c.ret as i64, p, Some(fd.with_num(c.fd as i64)), None)
            }
            KEvent::Setuid(s) => {
                // Taken at exit after a successful call, the header holds the new
                // credentials: the rules see the caller's from before the change,
                // which the table had, and the table takes the new ones.
                let before = (s.creds_after && s.ret == 0).then(|| self.procs.get(h.pid).cloned()).flatten();
                let after = self.proc_of(h);
                let p = before.unwrap_or(after);
                let target = s.euid.or(s.ruid);
                (EvtType::Setuid, s.ret as i64, p, None, target)
            }
            KEvent::Fork(f) => {
                let comm = h.comm.to_string();
                let (pid, ppid, uid, gid) = (f.child_pid, h.pid, h.uid, h.gid);
                let child = self.procs.on_fork(ppid, pid, Some(time), || {
                    new_proc(pid, ppid, uid, gid, &comm, "", std::slice::from_ref(&comm))
                });
                (EvtType::Clone, 0, child, None, None)
            }
            KEvent::File(f) => {
                let p = self.proc_of(h);
                let cwd = p.cwd.as_deref();
                let (t, a) = crate::evtargs::file_args(f, |dirfd, path| Self::absolute(h.pid, dirfd, path, cwd))?;
                // creat opens a file: its fd fields are the new file's, as for openat.
                let fd = (t == EvtType::Creat).then(|| {
                    let name = a.iter().find(|x| x.name == "name").map_or_else(String::new, |x| x.text.to_string());
                    let fd = Fd::file(name, CREAT_FLAGS, f.mode);
                    if f.ret >= 0 {
                        fd.with_num(i64::from(f.ret))
                    } else {
                        fd
                    }
                });
                args = a;
                (t, f.ret as i64, p, fd, None)
            }
            KEvent::Sys(s) => {
                let p = self.proc_of(h);
                let procs = &self.procs;
                let fd = crate::sysargs::sys_fd(s, |n| {
                    std::fs::read_link(format!("/proc/{}/fd/{n}", h.pid)).ok().map(|l| l.to_string_lossy().into_owned())
                });
                let (t, a) = match crate::evtargs::sys_args(s, |pid| procs.get(pid).map(|q| q.name.clone())) {
                    Some(x) => x,
                    None => crate::sysargs::sys_args(s, fd.as_ref())?,
                };
                args = a;
                (t, s.ret, p, fd, None)
            }
            KEvent::Exit(x) => {
                let p = self.proc_of(h);
                self.procs.on_exit(h.pid, Instant::now());
                (EvtType::Procexit, x.exit_code as i64, p, None, None)
            }
        };
        let ancestors = self.procs.ancestors(proc.pid, self.max_ancestors);
        let container = self.container(h.pid, CgroupIds { v2: h.cgroup_id, v1: h.cgroup_v1_id });
        if evt_type == EvtType::Procexit {
            // Forgotten only now: the exit itself still uses the cached container.
            self.by_pid.remove(&h.pid);
        }
        let mut out = Event::new(evt_type, time, proc);
        out.res = res;
        out.ancestors = ancestors;
        out.fd = fd;
        out.setuid_target = setuid_target;
        // Falco's evt.arg.uid is the target user's name, resolved in the caller's root.
        out.setuid_target_name = setuid_target.and_then(|u| self.user_name(h.pid, h.cgroup_id, u)).map(Into::into);
        out.container = container;
        out.args = args;
        Some(out)
    }
}

/// The open flags creat implies (`O_CREAT|O_WRONLY|O_TRUNC`).
const CREAT_FLAGS: u32 = (libc::O_CREAT | libc::O_WRONLY | libc::O_TRUNC) as u32;

/// `fd.l4proto` of an inet socket from its type (`SOCK_STREAM`/`SOCK_DGRAM`).
/// Falco's event type of an exec record: `execve` or `execveat`.
fn exec_type(e: &decode::Exec) -> EvtType {
    if e.syscall == "execveat" {
        EvtType::Execveat
    } else {
        EvtType::Execve
    }
}

fn l4proto(sock_type: u16) -> L4Proto {
    match sock_type {
        1 => L4Proto::Tcp,
        2 => L4Proto::Udp,
        _ => L4Proto::Unknown,
    }
}

/// Does `path` hold `//`, `/.` or a trailing `/` (other than the root)? One pass
/// over the bytes: `str::contains` for the two needles showed in profiles (a
/// searcher set up per call, twice per open).
fn needs_normalising(path: &str) -> bool {
    let b = path.as_bytes();
    (b.len() > 1 && b[b.len() - 1] == b'/') || lanner_rules::kfilter::maybe_non_canonical(b)
}

/// Lexical normalisation of an absolute path: empty and `.` components are
/// dropped, `..` removes the previous one (never above `/`). No symlinks are
/// followed. Returns the input unchanged when there is nothing to do.
pub fn normalize_path(path: &str) -> String {
    if !needs_normalising(path) {
        return path.to_string();
    }
    let mut parts: Vec<&str> = Vec::new();
    for c in path.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            c => parts.push(c),
        }
    }
    let mut out = String::with_capacity(path.len());
    for p in &parts {
        out.push('/');
        out.push_str(p);
    }
    if out.is_empty() {
        out.push('/');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_normalised_lexically() {
        for (raw, want) in [
            ("/etc/shadow", "/etc/shadow"),
            ("/tmp/../etc/shadow", "/etc/shadow"),
            ("//etc//shadow", "/etc/shadow"),
            ("/etc/./shadow", "/etc/shadow"),
            ("/../../etc/shadow", "/etc/shadow"),
            ("/proc/self/../1/environ", "/proc/1/environ"),
            ("/root/.ssh/id_rsa", "/root/.ssh/id_rsa"),
            ("/etc/", "/etc"),
            ("/", "/"),
            ("/..", "/"),
            ("/a/b/..", "/a"),
        ] {
            assert_eq!(normalize_path(raw), want, "{raw}");
        }
    }

    #[test]
    fn relative_paths_of_a_gone_process_use_its_exec_cwd() {
        // No process has pid u32::MAX - 1: /proc/PID/cwd cannot be read.
        let gone = u32::MAX - 1;
        assert_eq!(Assembler::absolute(gone, libc::AT_FDCWD, "../etc/shadow", Some("/srv/app/")), "/srv/etc/shadow");
        assert_eq!(Assembler::absolute(gone, libc::AT_FDCWD, "x", None), "x", "nothing to resolve against");
        assert_eq!(Assembler::absolute(gone, 5, "x", Some("/srv/")), "x", "a dirfd is not the cwd");
        let me = std::process::id();
        let cwd = std::env::current_dir().unwrap();
        assert_eq!(Assembler::absolute(me, libc::AT_FDCWD, "f", Some("/elsewhere/")), format!("{}/f", cwd.display()));
    }

    #[test]
    fn image_split() {
        assert_eq!(split_image("nginx:1.25"), ("nginx".into(), "1.25".into()));
        assert_eq!(split_image("registry:5000/team/app:v2@sha256:abc"), ("registry:5000/team/app".into(), "v2".into()));
        assert_eq!(split_image("registry:5000/team/app"), ("registry:5000/team/app".into(), String::new()));
    }

    /// A pod that starts after the agent: its first watch event has no
    /// container status, so an event of its container finds the pod but not
    /// the container's name and image. The entry cached then must not stick:
    /// the pod's next watch event (status published) fills it in.
    #[test]
    fn container_entry_without_name_is_refreshed_by_the_pods_next_update() {
        use crate::k8s::{testutil, Enricher, PodCache};
        const UID: &str = "3c1a2b4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d";
        let id = "ab".repeat(32);
        let (_tree, resolver, cgroup_id) = testutil::kubelet_container_tree(UID, &id);
        let pods = PodCache::new(std::time::Duration::ZERO);
        let enricher = Arc::new(Enricher::new(Some(resolver), pods.clone(), std::time::Duration::from_secs(2)));
        let mut a = Assembler::new(ProcTable::new(1000, std::time::Duration::from_secs(5)), Some(enricher), 0);

        pods.apply(testutil::pod_event(UID, None));
        let early = a.container(0, cgroup_id).expect("a kubelet container");
        assert_eq!(early.id, id);
        assert_eq!(early.k8s.as_ref().map(|p| p.name.as_str()), Some("web-1"), "pod known by its UID");
        assert_eq!(early.name, "", "no container status yet");
        // Cached: asking again before anything changed gives the same answer.
        assert!(Arc::ptr_eq(&early, &a.container(0, cgroup_id).expect("cached")), "no new lookup");

        pods.apply(testutil::pod_event(UID, Some(&id)));
        let late = a.container(0, cgroup_id).expect("a kubelet container");
        assert_eq!(late.name, "app", "container name after the pod's status update");
        assert_eq!(late.image_repository, "ghcr.io/shop/web");
        assert_eq!(late.image_tag, "1.2");
        assert_eq!(late.k8s.as_ref().map(|p| p.ns.as_str()), Some("shop"));
        // Complete entries stay cached whatever else the pod cache does.
        pods.apply(testutil::pod_event("other-pod-uid", None));
        assert!(Arc::ptr_eq(&late, &a.container(0, cgroup_id).expect("cached")), "served from the cache");
    }

    fn hdr(pid: u32) -> decode::Header {
        decode::Header {
            ts_boot_ns: 1,
            pid,
            tid: pid,
            uid: 0,
            gid: 0,
            cgroup_id: 1,
            cgroup_v1_id: 0,
            comm: "bash".into(),
        }
    }

    #[test]
    fn exec_fork_exit_drive_the_table() {
        let mut a = Assembler::new(ProcTable::new(1000, std::time::Duration::from_secs(5)), None, 0);
        let mut exec = KEvent::Exec(decode::Exec {
            hdr: hdr(4_000_001),
            syscall: "execve",
            ppid: 1,
            ret: 0,
            loginuid: Some(1000),
            tty: 34816,
            filename: "/bin/bash".into(),
            argv: vec!["bash".into(), "-i".into()],
            args_truncated: false,
            filename_truncated: false,
            read_failed: false,
            image: None,
        });
        let e = a.assemble(&mut exec).unwrap();
        assert_eq!(e.evt_type, EvtType::Execve);
        assert_eq!(e.proc.cmdline(), "bash -i");
        assert_eq!(e.proc.tty, 34816);
        // An exec with its image: a later exec of the same pid with the same
        // environment shares the buffer; the capability strings are shared too.
        let mut with_image = exec.clone();
        if let KEvent::Exec(x) = &mut with_image {
            x.image = Some(Box::new(crate::image::tests::img()));
        }
        let first = a.assemble(&mut with_image.clone()).unwrap();
        let again = a.assemble(&mut with_image).unwrap();
        assert_eq!(again.proc.env.items().collect::<Vec<_>>(), ["A=1"]);
        assert_eq!(again.proc.env.joined().as_ptr(), first.proc.env.joined().as_ptr());
        let caps = |e: &Event| e.proc.cap_effective.clone().expect("caps");
        assert!(Arc::ptr_eq(&caps(&first), &caps(&again)));
        let mut fork = KEvent::Fork(decode::Fork { hdr: hdr(4_000_001), child_pid: 4_000_002 });
        let e = a.assemble(&mut fork).unwrap();
        assert_eq!((e.evt_type, e.proc.pid, e.proc.ppid), (EvtType::Clone, 4_000_002, 4_000_001));
        let mut open = KEvent::Open(decode::Open {
            hdr: hdr(4_000_002),
            syscall: "openat",
            ret: 3,
            dirfd: -100,
            flags: 0,
            mode: 0,
            path: "/etc/shadow".into(),
            path_truncated: false,
            read_failed: false,
            file: None,
        });
        let e = a.assemble(&mut open).unwrap();
        assert_eq!(e.fd.as_ref().unwrap().name(), "/etc/shadow");
        assert_eq!(e.fd.as_ref().unwrap().name_raw(), "/etc/shadow");
        // A path that needs normalising keeps the raw one beside it.
        let mut dotted = open.clone();
        if let KEvent::Open(o) = &mut dotted {
            o.path = "/tmp/../etc//shadow".into();
        }
        let e = a.assemble(&mut dotted).unwrap();
        let fd = e.fd.as_ref().unwrap();
        assert_eq!((fd.name(), fd.name_raw()), ("/etc/shadow", "/tmp/../etc//shadow"));
        assert_eq!(e.ancestors[0].pid, 4_000_001, "parent known from the exec");
        assert_eq!(e.proc.name, "bash", "a fork inherits the parent's image");
        let mut exit = KEvent::Exit(decode::Exit { hdr: hdr(4_000_002), exit_code: 0 });
        assert_eq!(a.assemble(&mut exit).unwrap().evt_type, EvtType::Procexit);
    }
}
