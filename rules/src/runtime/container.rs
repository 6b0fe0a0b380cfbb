//! The container and pod of an event: identity, image, what the pod spec and
//! status say about the container (privileged, start, hostPath mounts, exec
//! probes) and the pod's metadata. Shared by all events of a container (`Arc`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

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
    /// hostPath mounts of the pod spec, in the container's `volumeMounts` order.
    pub mounts: Mounts,
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
    /// `container.labels`' text, built on first use (leave it default).
    #[serde(skip)]
    pub labels_cache: std::sync::OnceLock<Box<str>>,
}

/// The labels the kubelet gives every container it creates through CRI, in
/// key order: what Falco's container plugin reports as a Kubernetes
/// container's labels (image labels, which the plugin may add from the
/// runtime, are not in the API server's view).
pub const KUBELET_LABELS: [&str; 4] =
    ["io.kubernetes.container.name", "io.kubernetes.pod.name", "io.kubernetes.pod.namespace", "io.kubernetes.pod.uid"];

/// Longer label values are not reported (the container plugin's default `label_max_len`).
pub const LABEL_MAX_LEN: usize = 100;

impl Container {
    /// The value of label `key` ([`KUBELET_LABELS`]); none without the pod,
    /// for another key, or past [`LABEL_MAX_LEN`].
    pub fn label(&self, key: &str) -> Option<&str> {
        let p = self.k8s.as_ref()?;
        let v = match key {
            "io.kubernetes.container.name" => &self.name,
            "io.kubernetes.pod.name" => &p.name,
            "io.kubernetes.pod.namespace" => &p.ns,
            "io.kubernetes.pod.uid" => &p.uid,
            _ => return None,
        };
        (!v.is_empty() && v.len() <= LABEL_MAX_LEN).then_some(v.as_str())
    }

    /// `container.labels`: `key:value` for each label, joined by `, ` as
    /// Falco prints them; none without the pod.
    pub fn labels_text(&self) -> Option<&str> {
        self.k8s.as_ref()?;
        let text = self.labels_cache.get_or_init(|| {
            let kv: Vec<String> =
                KUBELET_LABELS.iter().filter_map(|k| self.label(k).map(|v| format!("{k}:{v}"))).collect();
            kv.join(", ").into()
        });
        Some(text)
    }
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
    /// The controller owner reference (`ownerReferences[].controller`).
    pub owner_kind: Option<String>,
    pub owner_name: Option<String>,
    pub owner_uid: Option<String>,
}

/// One hostPath mount of a container, as Falco's container plugin reports a
/// CRI mount: mode is always empty, `rdwr` is `!readOnly`, propagation is
/// `private`, `rslave` (HostToContainer) or `rshared` (Bidirectional).
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(from = "MountSpec")]
pub struct Mount {
    /// The host path (`hostPath.path`).
    pub source: String,
    /// The mount point in the container (`mountPath`).
    pub dest: String,
    pub rdwr: bool,
    pub propagation: String,
    /// `source:dest:mode:rdwr:propagation`, made once so matching allocates nothing.
    #[serde(skip_serializing)]
    text: String,
}

/// [`Mount`] as fixtures write it.
#[derive(Deserialize)]
#[serde(default, deny_unknown_fields)]
struct MountSpec {
    source: String,
    dest: String,
    rdwr: bool,
    propagation: String,
}

impl Default for MountSpec {
    fn default() -> Self {
        MountSpec { source: String::new(), dest: String::new(), rdwr: true, propagation: "private".into() }
    }
}

impl From<MountSpec> for Mount {
    fn from(m: MountSpec) -> Mount {
        Mount::new(m.source, m.dest, m.rdwr, m.propagation)
    }
}

impl Mount {
    pub fn new(source: String, dest: String, rdwr: bool, propagation: String) -> Mount {
        let text = format!("{source}:{dest}::{rdwr}:{propagation}");
        Mount { source, dest, rdwr, propagation, text }
    }

    /// A hostPath mount from its pod-spec parts (`mountPropagation` as the API spells it).
    pub fn from_spec(source: &str, dest: &str, read_only: bool, propagation: Option<&str>) -> Mount {
        let propagation = match propagation {
            None | Some("None") => "private",
            Some("HostToContainer") => "rslave",
            Some("Bidirectional") => "rshared",
            Some(_) => "unknown",
        };
        Mount::new(source.into(), dest.into(), !read_only, propagation.into())
    }

    /// Falco's `source:dest:mode:rdwr:propagation` (`container.mount`).
    pub fn falco_string(&self) -> &str {
        &self.text
    }
}

/// A container's hostPath mounts and their `container.mounts` text (the
/// mounts' strings joined with commas), made once.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(from = "Vec<Mount>")]
pub struct Mounts {
    list: Vec<Mount>,
    #[serde(skip_serializing)]
    text: String,
}

impl From<Vec<Mount>> for Mounts {
    fn from(list: Vec<Mount>) -> Mounts {
        let text = list.iter().map(Mount::falco_string).collect::<Vec<_>>().join(",");
        Mounts { list, text }
    }
}

impl Mounts {
    pub fn iter(&self) -> std::slice::Iter<'_, Mount> {
        self.list.iter()
    }

    pub fn get(&self, i: usize) -> Option<&Mount> {
        self.list.get(i)
    }

    /// Falco's `container.mounts`.
    pub fn falco_string(&self) -> &str {
        &self.text
    }
}
