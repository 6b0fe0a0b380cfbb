//! The container and pod of an event: identity, image, what the pod spec and
//! status say about the container (privileged, start, hostPath mounts, exec
//! probes) and the pod's metadata. Shared by all events of a container (`Arc`).

use std::collections::BTreeMap;

use serde::Deserialize;

/// A container and, in Kubernetes, its pod.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Container {
    /// Full container id (64 hex) or the 12-char short id.
    pub id: String,
    pub name: String,
    #[serde(alias = "image")]
    pub image_repository: String,
    pub image_tag: String,
    /// `sha256:...` from the pod status's imageID; empty when unknown.
    pub image_digest: String,
    /// The pod spec runs this container privileged; `None` when no pod spec is known.
    pub privileged: Option<bool>,
    /// Container start (the pod status's `startedAt`), ns since the epoch.
    pub start_ns: Option<u64>,
    /// hostPath mounts of the pod spec: (host path, mount point in the container).
    pub mounts: Vec<(String, String)>,
    /// Exec probes of the pod spec for this container.
    pub probes: Vec<HealthProbe>,
    /// The pod shares the host's network, pid, IPC namespace (`spec.hostNetwork`,
    /// `hostPID`, `hostIPC`); `None` when no pod spec is known.
    pub host_network: Option<bool>,
    pub host_pid: Option<bool>,
    pub host_ipc: Option<bool>,
    /// The pod's IP (`status.podIP`); empty when unknown.
    pub ip: String,
    /// The container runtime named by the cgroup path (`containerd`, `cri-o`,
    /// `docker`, `podman`); empty when the path does not say.
    pub runtime: String,
    pub k8s: Option<Pod>,
}

/// Which check a probe command is (Falco's health-probe categories).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ProbeKind {
    Healthcheck,
    Liveness,
    Readiness,
}

/// An exec probe: `command[0]` (matched against `proc.exe`) and the rest
/// (matched against the arguments), as Falco compares them.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HealthProbe {
    pub kind: ProbeKind,
    pub exe: String,
    #[serde(default)]
    pub args: Vec<String>,
}

impl Container {
    /// Falco's `container.id`: the first 12 characters of the id.
    pub fn short_id(&self) -> &str {
        match self.id.char_indices().nth(12) {
            Some((i, _)) => &self.id[..i],
            None => &self.id,
        }
    }
}

/// Pod metadata of a container.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Pod {
    #[serde(alias = "namespace")]
    pub ns: String,
    pub name: String,
    pub uid: String,
    pub labels: BTreeMap<String, String>,
    pub owner_kind: Option<String>,
    pub owner_name: Option<String>,
}
