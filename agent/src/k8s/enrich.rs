//! [`Enricher`]: `(pid, cgroup_id)` of an event → container and pod.
//!
//! The cgroup answer is cached per cgroup id (see [`super::cgroup`]); the pod
//! answer is a hash lookup in the [`PodCache`]. When a kubelet container is
//! known but its pod (or the container's status) is not cached yet,
//! [`Enricher::should_hold`] says so and [`Enricher::complete`] waits up to
//! the hold time for the watch to bring it.
use std::{path::PathBuf, sync::Arc, time::Duration};

use serde::Serialize;

use super::{
    cache::{PodCache, PodCacheStats},
    cgroup::{container_from_v1_lines, CgroupResolver, ResolverConfig, ResolverStats},
    pod::PodMeta,
};
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
    pub pods: PodCacheStats,
}

pub struct Enricher {
    cgroups: Option<CgroupResolver>,
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
        Self { cgroups, pods, hold, proc_root: PathBuf::from("/proc"), v1_fallback }
    }

    /// On hybrid hosts a runtime may place a container in the v1 hierarchies
    /// only; then host-process alerts (no container on v2) cost one read of
    /// `/proc/<pid>/cgroup` each. [`Self::with_defaults`] turns this on when
    /// cgroup v1 hierarchies are mounted.
    pub fn set_v1_fallback(&mut self, on: bool) {
        self.v1_fallback = on;
    }

    /// The agent's setup: default resolver (logs once if there is no cgroup2
    /// mount), v1 fallback on hybrid hosts.
    pub fn with_defaults(pods: PodCache, hold: Duration) -> Self {
        let hybrid = std::fs::read_to_string("/proc/self/mountinfo")
            .is_ok_and(|m| m.lines().any(|l| l.split_once(" - ").is_some_and(|(_, r)| r.starts_with("cgroup "))));
        let cgroups = match CgroupResolver::new(ResolverConfig::default()) {
            Ok(r) => {
                tracing::info!(cgroup2 = %r.root().display(), "container resolution from cgroup ids");
                Some(r)
            }
            Err(e) => {
                tracing::warn!(error = %e, "no cgroup2 hierarchy: containers from /proc/<pid>/cgroup v1 lines only");
                None
            }
        };
        let mut e = Self::new(cgroups, pods, hold);
        e.v1_fallback |= hybrid;
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

    /// The container of an event's process, from its cgroup (no pod lookup).
    pub fn container(&self, pid: u32, cgroup_id: u64) -> Option<ContainerRef> {
        if let Some(c) = self.cgroups.as_ref().and_then(|r| r.container(cgroup_id, pid)) {
            return Some(c);
        }
        // Runtimes that place containers in v1 hierarchies only (hybrid hosts, cgroupfs driver).
        if pid == 0 || !self.v1_fallback {
            return None;
        }
        let text = std::fs::read_to_string(self.proc_root.join(format!("{pid}/cgroup"))).ok()?;
        container_from_v1_lines(&text)
    }

    /// Container and pod of an event's process, without waiting. `None` for
    /// host processes.
    pub fn lookup(&self, pid: u32, cgroup_id: u64) -> Option<ContainerInfo> {
        let c = self.container(pid, cgroup_id)?;
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
    pub async fn lookup_with_hold(&self, pid: u32, cgroup_id: u64) -> Option<ContainerInfo> {
        let info = self.lookup(pid, cgroup_id)?;
        Some(self.complete(info).await)
    }

    pub fn stats(&self) -> EnrichStats {
        EnrichStats { cgroups: self.cgroups.as_ref().map(|r| r.stats()), pods: self.pods.stats() }
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
}
