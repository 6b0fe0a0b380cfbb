//! [`Enricher`]: `(pid, cgroup ids)` of an event → container and pod.
//!
//! The cgroup answer is cached per cgroup id (see [`super::cgroup`]): the v2
//! id first, then on hybrid hosts the v1 id the probes read from the chosen
//! controller's hierarchy ([`super::cgroup_v1`]); `/proc/PID/cgroup` is read
//! per process only when the kernel gave no v1 id there. The pod
//! answer is a hash lookup in the [`PodCache`]. When a kubelet container is
//! known but its pod (or the container's status) is not cached yet,
//! [`Enricher::should_hold`] says so and [`Enricher::complete`] waits up to
//! the hold time for the watch to bring it.
use std::{
    path::PathBuf,
    sync::{
        atomic::{AtomicU64, Ordering::Relaxed},
        Arc,
    },
    time::Duration,
};

use serde::Serialize;

use super::{
    cache::{PodCache, PodCacheStats},
    cgroup::{container_from_v1_lines, CgroupResolver, Hierarchy, ResolverConfig, ResolverStats},
    cgroup_v1::V1Choice,
    pod::PodMeta,
};

/// The cgroup ids an event carries (`EventHeader::cgroup_id` and
/// `cgroup_v1_id`; `v1` is 0 where no v1 hierarchy was chosen).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct CgroupIds {
    pub v2: u64,
    pub v1: u64,
}

impl From<u64> for CgroupIds {
    fn from(v2: u64) -> Self {
        Self { v2, v1: 0 }
    }
}
use crate::container::{ContainerRef, Runtime};

/// What an alert gets: the container, and its pod when known.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ContainerInfo {
    pub container_id: String,
    pub runtime: Runtime,
    /// From the cgroup path (kubelet containers) or the pod found.
    pub pod_uid: Option<String>,
    #[serde(serialize_with = "ser_pod")]
    pub pod: Option<Arc<PodMeta>>,
    pub container_name: Option<String>,
    pub image: Option<String>,
    pub image_repository: Option<String>,
}

impl ContainerInfo {
    /// Container metadata (name, image) is still to come: a kubelet
    /// container (pod UID in its cgroup) whose pod, or whose container
    /// status, the pod cache does not have yet. The first watch event of a
    /// new pod arrives before the kubelet publishes its container statuses.
    pub fn is_incomplete(&self) -> bool {
        self.pod_uid.is_some() && self.container_name.is_none()
    }
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct EnrichStats {
    pub cgroups: Option<ResolverStats>,
    /// The v1 hierarchy's resolver (hybrid hosts).
    pub cgroups_v1: Option<ResolverStats>,
    /// Reads of `/proc/PID/cgroup` for one process's v1 lines (no v1 id from the kernel).
    pub proc_cgroup_reads: u64,
    pub pods: PodCacheStats,
}

pub struct Enricher {
    cgroups: Option<CgroupResolver>,
    /// Resolves `CgroupIds::v1` (hybrid hosts; see [`super::cgroup_v1`]).
    v1: Option<CgroupResolver>,
    proc_reads: AtomicU64,
    pods: PodCache,
    hold: Duration,
    proc_root: PathBuf,
    /// Also read `/proc/<pid>/cgroup` v1 lines when the cgroup id names no container.
    v1_fallback: bool,
}

impl Enricher {
    /// `cgroups: None` (no cgroup2 mount): containers come from the cgroup v1
    /// lines of `/proc/<pid>/cgroup` only.
    pub fn new(cgroups: Option<CgroupResolver>, pods: PodCache, hold: Duration) -> Self {
        let v1_fallback = cgroups.is_none();
        Self {
            cgroups,
            v1: None,
            proc_reads: AtomicU64::new(0),
            pods,
            hold,
            proc_root: PathBuf::from("/proc"),
            v1_fallback,
        }
    }

    /// Resolve the probes' v1 ids with `r` (a resolver over that hierarchy).
    pub fn set_v1_resolver(&mut self, r: CgroupResolver) {
        self.v1 = Some(r);
    }

    /// On hybrid hosts a runtime may place a container in the v1 hierarchies
    /// only; then host-process alerts (no container on v2) cost one read of
    /// `/proc/<pid>/cgroup` each. [`Self::with_defaults`] turns this on when
    /// cgroup v1 hierarchies are mounted.
    pub fn set_v1_fallback(&mut self, on: bool) {
        self.v1_fallback = on;
    }

    /// The agent's setup: default resolver (logs once if there is no cgroup2
    /// mount), v1 fallback on hybrid hosts, and a resolver for the v1 ids the
    /// probes read when the agent chose a v1 hierarchy (`v1`).
    pub fn with_defaults(pods: PodCache, hold: Duration, v1: Option<&V1Choice>) -> Self {
        let hybrid = std::fs::read_to_string("/proc/self/mountinfo")
            .is_ok_and(|m| m.lines().any(|l| l.split_once(" - ").is_some_and(|(_, r)| r.starts_with("cgroup "))));
        let cgroups = match CgroupResolver::new(ResolverConfig::default()) {
            Ok(r) => {
                match r.file_handles() {
                    Ok(()) => tracing::info!(cgroup2 = %r.root().display(), by = "file handle",
                        "container resolution from cgroup ids"),
                    Err(why) => tracing::warn!(cgroup2 = %r.root().display(), by = "/proc and walks", why,
                        "container resolution from cgroup ids: no file handles, a container's first \
                         events may be reported as host ones (the agent needs CAP_DAC_READ_SEARCH)"),
                }
                Some(r)
            }
            Err(e) => {
                tracing::warn!(error = %e, "no cgroup2 hierarchy: containers from /proc/<pid>/cgroup v1 lines only");
                None
            }
        };
        let mut e = Self::new(cgroups, pods, hold);
        e.v1_fallback |= hybrid;
        if let Some(c) = v1 {
            let cfg = ResolverConfig {
                hierarchy: Hierarchy::V1(c.controller.clone()),
                cgroup_root: Some(c.mount.clone()),
                ..ResolverConfig::default()
            };
            match CgroupResolver::new(cfg) {
                Ok(r) => {
                    let why = r.file_handles().err();
                    let by = if why.is_none() { "file handle" } else { "/proc and walks" };
                    tracing::info!(controller = %c.controller, by, why, "v1 cgroup ids resolvable");
                    e.set_v1_resolver(r)
                }
                Err(err) => tracing::warn!(error = %err, "v1 cgroup ids not resolvable: /proc/PID/cgroup per process"),
            }
        }
        e
    }

    pub fn pods(&self) -> &PodCache {
        &self.pods
    }

    pub fn cgroups(&self) -> Option<&CgroupResolver> {
        self.cgroups.as_ref()
    }

    pub fn hold(&self) -> Duration {
        self.hold
    }

    /// The v1 ids' resolver, when the probes read v1 ids.
    pub fn cgroups_v1(&self) -> Option<&CgroupResolver> {
        self.v1.as_ref()
    }

    /// The container of an event's process, from its cgroup (no pod lookup).
    pub fn container(&self, pid: u32, ids: impl Into<CgroupIds>) -> Option<ContainerRef> {
        let ids = ids.into();
        if let Some(c) = self.cgroups.as_ref().and_then(|r| r.container(ids.v2, pid)) {
            return Some(c);
        }
        // Runtimes that place containers in v1 hierarchies only (hybrid hosts, cgroupfs driver):
        // the kernel's v1 id when there is one, else this process's /proc file.
        if let (Some(r), true) = (&self.v1, ids.v1 != 0) {
            return r.container(ids.v1, pid);
        }
        if pid == 0 || !self.v1_fallback {
            return None;
        }
        self.proc_reads.fetch_add(1, Relaxed);
        let text = std::fs::read_to_string(self.proc_root.join(format!("{pid}/cgroup"))).ok()?;
        container_from_v1_lines(&text)
    }

    /// Container and pod of an event's process, without waiting. `None` for
    /// host processes.
    pub fn lookup(&self, pid: u32, ids: impl Into<CgroupIds>) -> Option<ContainerInfo> {
        let c = self.container(pid, ids)?;
        Some(self.with_pod(c))
    }

    /// Container plus pod metadata from the cache as it is now.
    pub fn with_pod(&self, c: ContainerRef) -> ContainerInfo {
        let pod = self.pods.by_container(&c.id).or_else(|| c.pod_uid.as_deref().and_then(|u| self.pods.by_uid(u)));
        let mut info = ContainerInfo {
            container_id: c.id,
            runtime: c.runtime,
            pod_uid: c.pod_uid,
            pod: None,
            container_name: None,
            image: None,
            image_repository: None,
        };
        fill(&mut info, pod);
        info
    }

    /// A kubelet container (pod UID in its cgroup) whose pod or container
    /// status is not cached yet, while a pod watch is running.
    pub fn should_hold(&self, info: &ContainerInfo) -> bool {
        self.pods.is_enabled() && !self.hold.is_zero() && info.is_incomplete()
    }

    /// Waits up to the hold time for `info`'s pod, then re-enriches. Returns
    /// `info` unchanged if it needs no hold or nothing came.
    pub async fn complete(&self, mut info: ContainerInfo) -> ContainerInfo {
        if !self.should_hold(&info) {
            return info;
        }
        match self.pods.wait_for_container(&info.container_id, self.hold).await {
            Some(pod) => fill(&mut info, Some(pod)),
            None => {
                if info.pod.is_none() {
                    let pod = info.pod_uid.as_deref().and_then(|u| self.pods.by_uid(u));
                    fill(&mut info, pod);
                }
            }
        }
        info
    }

    /// [`Self::lookup`], then [`Self::complete`] if the pod is missing.
    pub async fn lookup_with_hold(&self, pid: u32, ids: impl Into<CgroupIds>) -> Option<ContainerInfo> {
        let info = self.lookup(pid, ids)?;
        Some(self.complete(info).await)
    }

    pub fn stats(&self) -> EnrichStats {
        EnrichStats {
            cgroups: self.cgroups.as_ref().map(|r| r.stats()),
            cgroups_v1: self.v1.as_ref().map(|r| r.stats()),
            proc_cgroup_reads: self.proc_reads.load(Relaxed),
            pods: self.pods.stats(),
        }
    }
}

fn ser_pod<S: serde::Serializer>(pod: &Option<Arc<PodMeta>>, s: S) -> Result<S::Ok, S::Error> {
    pod.as_deref().serialize(s)
}

fn fill(info: &mut ContainerInfo, pod: Option<Arc<PodMeta>>) {
    let Some(pod) = pod else { return };
    if let Some(c) = pod.container(&info.container_id) {
        info.container_name = Some(c.name.clone());
        info.image = Some(c.image.clone());
        info.image_repository = Some(c.image_repository.clone());
        if info.runtime == Runtime::Unknown {
            info.runtime = c.runtime.unwrap_or(Runtime::Unknown);
        }
    }
    info.pod_uid.get_or_insert_with(|| pod.uid.clone());
    info.pod = Some(pod);
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::MetadataExt as _;

    use super::*;
    use crate::k8s::{pod::ContainerMeta, testutil::TempDir};

    const ID: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
    const UID: &str = "8f2c5a1e-3b4d-4c6e-9f70-1a2b3c4d5e6f";

    fn pod() -> PodMeta {
        PodMeta {
            ns: "shop".into(),
            name: "web-1".into(),
            uid: UID.into(),
            labels: [("app".to_string(), "web".to_string())].into(),
            owner_kind: Some("ReplicaSet".into()),
            owner_name: Some("web".into()),
            owner_uid: None,
            node: Some("n1".into()),
            containers: vec![ContainerMeta {
                id: Some(ID.into()),
                previous_id: None,
                name: "app".into(),
                kind: crate::k8s::pod::ContainerKind::Regular,
                image: "ghcr.io/shop/web:1".into(),
                image_repository: "ghcr.io/shop/web".into(),
                runtime: Some(Runtime::Containerd),
                facts: Default::default(),
            }],
            host_network: false,
            host_pid: false,
            host_ipc: false,
            ip: None,
            deleted: false,
        }
    }

    /// A fake cgroup2 root with one cgroupfs-driver container (runtime not in the path).
    fn fixture() -> (TempDir, Enricher, u64, u64) {
        let t = TempDir::new("enrich");
        let dir = t.path().join(format!("kubepods/besteffort/pod{UID}/{ID}"));
        std::fs::create_dir_all(&dir).unwrap();
        let host = t.path().join("system.slice/sshd.service");
        std::fs::create_dir_all(&host).unwrap();
        let r = CgroupResolver::new(ResolverConfig {
            cgroup_root: Some(t.path().to_path_buf()),
            proc_root: t.path().join("noproc"),
            ..Default::default()
        })
        .unwrap();
        let mut e = Enricher::new(Some(r), PodCache::new(Duration::ZERO), Duration::from_millis(500));
        e.proc_root = t.path().join("noproc");
        let (cid, hid) = (std::fs::metadata(&dir).unwrap().ino(), std::fs::metadata(&host).unwrap().ino());
        (t, e, cid, hid)
    }

    #[test]
    fn host_processes_and_known_pods() {
        let (_t, e, cid, hid) = fixture();
        assert_eq!(e.lookup(0, hid), None);
        let before = e.lookup(0, cid).unwrap();
        assert_eq!((before.container_id.as_str(), before.runtime), (ID, Runtime::Unknown));
        assert!(before.pod.is_none() && e.should_hold(&before));
        e.pods().apply(pod());
        let after = e.lookup(0, cid).unwrap();
        assert_eq!(after.pod.as_ref().unwrap().name, "web-1");
        assert_eq!(after.container_name.as_deref(), Some("app"));
        assert_eq!(after.image_repository.as_deref(), Some("ghcr.io/shop/web"));
        assert_eq!(after.runtime, Runtime::Containerd, "refined from the containerID scheme");
        assert!(!e.should_hold(&after));
        let s = e.stats();
        assert_eq!(s.cgroups.unwrap().hits, 1);
    }

    #[tokio::test(flavor = "current_thread")]
    async fn hold_gets_a_pod_that_arrives_late() {
        let (_t, e, cid, _) = fixture();
        let e = Arc::new(e);
        let e2 = e.clone();
        let held = tokio::spawn(async move { e2.lookup_with_hold(0, cid).await });
        tokio::time::sleep(Duration::from_millis(50)).await;
        e.pods().apply(pod());
        let info = held.await.unwrap().unwrap();
        assert_eq!(info.pod.unwrap().ns, "shop");
        let s = e.pods().stats();
        assert_eq!((s.holds, s.hold_hits, s.hold_misses), (1, 1, 0));
        // Without a pod watch: no hold at all.
        let e = Enricher::new(None, PodCache::disabled(), Duration::from_secs(30));
        let info = e.with_pod(ContainerRef { id: ID.into(), runtime: Runtime::Containerd, pod_uid: Some(UID.into()) });
        assert!(!e.should_hold(&info));
        assert_eq!(e.complete(info.clone()).await, info);
    }

    /// Hybrid host: a v2 container whose v1 cgroup is the host's (runc puts
    /// it in both trees, the v1 one may be shared), a container only in v1,
    /// and host processes. The assembler's v1 cache is keyed by BOTH ids, so
    /// a host process's cached answer never hides a v2 container behind the
    /// same v1 id; v1 ids never cost a /proc read.
    #[test]
    fn v1_ids_resolve_containers_and_never_shadow_v2_ones() {
        let (_t, mut e, cid_v2, host_v2) = fixture();
        let v1 = TempDir::new("enrich-v1");
        let v1_ctr = v1.path().join(format!("kubepods/besteffort/pod{UID}/{}", "cd".repeat(32)));
        std::fs::create_dir_all(&v1_ctr).unwrap();
        let proc_root = v1.path().join("proc");
        let r = CgroupResolver::new(ResolverConfig {
            hierarchy: Hierarchy::V1("pids".into()),
            cgroup_root: Some(v1.path().to_path_buf()),
            proc_root: proc_root.clone(),
            walk_interval: Duration::from_secs(3600),
            negative_ttl: Duration::ZERO,
            ..Default::default()
        })
        .unwrap();
        e.set_v1_resolver(r);
        let ino = |p: &std::path::Path| std::fs::metadata(p).unwrap().ino();
        let (v1_root, v1_ctr) = (ino(v1.path()), ino(&v1_ctr));
        let e = Arc::new(e);
        let procs = crate::proctable::ProcTable::new(100, Duration::from_secs(5));
        let mut a = crate::assemble::Assembler::new(procs, Some(e.clone()), 0);
        let id_of = |c: Option<Arc<lanner_rules::Container>>| c.map(|c| c.id.clone());

        let host = CgroupIds { v2: host_v2, v1: v1_root };
        assert_eq!(id_of(a.container(7, host)), None, "host process");
        assert_eq!(id_of(a.container(7, host)), None, "cached");
        let v2_ctr = CgroupIds { v2: cid_v2, v1: v1_root };
        assert_eq!(id_of(a.container(8, v2_ctr)).as_deref(), Some(ID), "same v1 id, the v2 container wins");
        let only_v1 = CgroupIds { v2: host_v2, v1: v1_ctr };
        assert_eq!(id_of(a.container(9, only_v1)), Some("cd".repeat(32)), "container only in v1");
        assert_eq!(id_of(a.container(7, host)), None, "the host entry is unchanged");
        let s = e.stats();
        assert_eq!(s.proc_cgroup_reads, 0);
        assert_eq!(s.cgroups_v1.unwrap().cached, 2, "the v1 root and the v1 container");

        // A v1 cgroup made after the resolver's one walk, its process not
        // readable: unknown, and NOT cached as "host"; once its process's
        // /proc file is readable the same ids name the container.
        let late = format!("kubepods/besteffort/pod{UID}/{}", "ef".repeat(32));
        std::fs::create_dir_all(v1.path().join(&late)).unwrap();
        let late_ids = CgroupIds { v2: host_v2, v1: ino(&v1.path().join(&late)) };
        assert_eq!(id_of(a.container(11, late_ids)), None, "not found yet");
        std::fs::create_dir_all(proc_root.join("11")).unwrap();
        std::fs::write(proc_root.join("11/cgroup"), format!("3:pids:/{late}\n0::/\n")).unwrap();
        assert_eq!(id_of(a.container(11, late_ids)), Some("ef".repeat(32)), "asked again, found");
        assert_eq!(e.stats().cgroups_v1.unwrap().walks, 1);
    }
}
