//! What the agent keeps of a Pod ([`PodMeta`]) and its conversion from the
//! API object: identity, labels, controller owner, node, host network and,
//! per container, the runtime's container id (scheme stripped), name, image and,
//! for regular containers, the spec/status facts rules read ([`ContainerFacts`]).
use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{ContainerStatus, Pod};
use serde::Serialize;

use super::facts::ContainerFacts;
use crate::container::Runtime;

/// Which list of the pod spec a container comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ContainerKind {
    Regular,
    Init,
    Ephemeral,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ContainerMeta {
    /// The running (or last) container's id, scheme stripped, lowercase;
    /// `None` until the kubelet reports one.
    pub id: Option<String>,
    /// The previous container's id after a restart (`lastState.terminated`):
    /// late events of a crashed container still find their pod.
    pub previous_id: Option<String>,
    pub name: String,
    pub kind: ContainerKind,
    /// The image as written in the pod spec.
    pub image: String,
    /// `image` without its tag and digest.
    pub image_repository: String,
    /// From the `containerID` scheme (`containerd://`, `cri-o://`, `docker://`).
    pub runtime: Option<Runtime>,
    /// Privileged, start time, digest, hostPath mounts, exec probes.
    pub facts: ContainerFacts,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PodMeta {
    pub ns: String,
    pub name: String,
    pub uid: String,
    pub labels: BTreeMap<String, String>,
    /// The controller owner (`ownerReferences[].controller == true`).
    pub owner_kind: Option<String>,
    pub owner_name: Option<String>,
    pub owner_uid: Option<String>,
    pub node: Option<String>,
    pub containers: Vec<ContainerMeta>,
    /// `spec.hostNetwork`, `hostPID`, `hostIPC` (`container.host_*`).
    pub host_network: bool,
    pub host_pid: bool,
    pub host_ipc: bool,
    /// `status.podIP` (`container.ip`); `None` until the kubelet reports it.
    pub ip: Option<String>,
    /// Deleted from the API server; kept for a grace period so late alerts enrich.
    pub deleted: bool,
}

impl PodMeta {
    /// The container with this id (current or previous).
    pub fn container(&self, id: &str) -> Option<&ContainerMeta> {
        self.containers
            .iter()
            .find(|c| c.id.as_deref() == Some(id))
            .or_else(|| self.containers.iter().find(|c| c.previous_id.as_deref() == Some(id)))
    }

    /// Every container id (current and previous) this pod answers for.
    pub fn container_ids(&self) -> impl Iterator<Item = &str> {
        self.containers.iter().flat_map(|c| c.id.iter().chain(c.previous_id.iter())).map(String::as_str)
    }

    /// Converts an API object; `None` without a UID (never from a real API server).
    pub fn from_pod(pod: &Pod) -> Option<PodMeta> {
        let md = &pod.metadata;
        let uid = md.uid.clone().filter(|u| !u.is_empty())?;
        let owner = md.owner_references.iter().flatten().find(|o| o.controller == Some(true));
        let spec = pod.spec.as_ref();
        let status = pod.status.as_ref();
        let mut containers = Vec::new();
        if let Some(spec) = spec {
            let statuses = status.and_then(|s| s.container_statuses.as_deref());
            for c in &spec.containers {
                let mut m = container_meta(&c.name, c.image.as_deref(), ContainerKind::Regular, statuses);
                let st = statuses.and_then(|s| s.iter().find(|s| s.name == c.name));
                m.facts = ContainerFacts::new(spec, Some(c), st);
                containers.push(m);
            }
            let statuses = status.and_then(|s| s.init_container_statuses.as_deref());
            for c in spec.init_containers.iter().flatten() {
                let mut m = container_meta(&c.name, c.image.as_deref(), ContainerKind::Init, statuses);
                let st = statuses.and_then(|s| s.iter().find(|s| s.name == c.name));
                m.facts = ContainerFacts::new(spec, Some(c), st);
                containers.push(m);
            }
            let statuses = status.and_then(|s| s.ephemeral_container_statuses.as_deref());
            for c in spec.ephemeral_containers.iter().flatten() {
                containers.push(container_meta(&c.name, c.image.as_deref(), ContainerKind::Ephemeral, statuses));
            }
        }
        Some(PodMeta {
            ns: md.namespace.clone().unwrap_or_default(),
            name: md.name.clone().unwrap_or_default(),
            uid,
            labels: md.labels.clone().unwrap_or_default(),
            owner_kind: owner.map(|o| o.kind.clone()),
            owner_name: owner.map(|o| o.name.clone()),
            owner_uid: owner.map(|o| o.uid.clone()).filter(|u| !u.is_empty()),
            node: spec.and_then(|s| s.node_name.clone()),
            containers,
            host_network: spec.and_then(|s| s.host_network).unwrap_or(false),
            host_pid: spec.and_then(|s| s.host_pid).unwrap_or(false),
            host_ipc: spec.and_then(|s| s.host_ipc).unwrap_or(false),
            ip: status.and_then(|s| s.pod_ip.clone()).filter(|ip| !ip.is_empty()),
            deleted: false,
        })
    }
}

fn container_meta(
    name: &str,
    image: Option<&str>,
    kind: ContainerKind,
    statuses: Option<&[ContainerStatus]>,
) -> ContainerMeta {
    let st = statuses.and_then(|s| s.iter().find(|s| s.name == name));
    let id = st.and_then(|s| s.container_id.as_deref()).and_then(split_container_id);
    let previous = st
        .and_then(|s| s.last_state.as_ref())
        .and_then(|l| l.terminated.as_ref())
        .and_then(|t| t.container_id.as_deref())
        .and_then(split_container_id)
        .map(|(_, id)| id)
        .filter(|p| id.as_ref().is_none_or(|(_, cur)| cur != p));
    // The spec image; the status image (resolved by the runtime) only if the spec has none.
    let image = image.map(str::to_string).or_else(|| st.map(|s| s.image.clone())).unwrap_or_default();
    ContainerMeta {
        runtime: id.as_ref().map(|(rt, _)| *rt),
        id: id.map(|(_, id)| id),
        previous_id: previous,
        name: name.to_string(),
        kind,
        image_repository: image_repository(&image).to_string(),
        image,
        facts: ContainerFacts::default(),
    }
}

/// `containerd://<id>` → (runtime, lowercase id). Empty ids are `None`.
pub fn split_container_id(s: &str) -> Option<(Runtime, String)> {
    let (rt, id) = match s.split_once("://") {
        Some((scheme, id)) => (Runtime::from_cri_scheme(scheme), id),
        None => (Runtime::Unknown, s),
    };
    (!id.is_empty()).then(|| (rt, id.to_ascii_lowercase()))
}

/// The image reference without `@digest` and `:tag` (a `:` before the last
/// `/` is a registry port): `registry:5000/team/app:1.2@sha256:..` →
/// `registry:5000/team/app`.
pub fn image_repository(image: &str) -> &str {
    let no_digest = image.split_once('@').map_or(image, |(r, _)| r);
    let last_slash = no_digest.rfind('/').map_or(0, |i| i + 1);
    match no_digest[last_slash..].rfind(':') {
        Some(i) => &no_digest[..last_slash + i],
        None => no_digest,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_repositories() {
        assert_eq!(image_repository("nginx"), "nginx");
        assert_eq!(image_repository("nginx:1.27"), "nginx");
        assert_eq!(image_repository("docker.io/library/nginx:latest"), "docker.io/library/nginx");
        assert_eq!(image_repository("registry:5000/team/app"), "registry:5000/team/app");
        assert_eq!(image_repository("registry:5000/team/app:1.2"), "registry:5000/team/app");
        assert_eq!(image_repository("ghcr.io/x/y@sha256:abcd"), "ghcr.io/x/y");
        assert_eq!(image_repository("ghcr.io/x/y:v1@sha256:abcd"), "ghcr.io/x/y");
        assert_eq!(image_repository(""), "");
    }

    #[test]
    fn container_ids() {
        let id = "0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef";
        let low = id.to_ascii_lowercase();
        assert_eq!(split_container_id(&format!("containerd://{id}")), Some((Runtime::Containerd, low.clone())));
        assert_eq!(split_container_id(&format!("cri-o://{low}")), Some((Runtime::Crio, low.clone())));
        assert_eq!(split_container_id(&format!("docker://{low}")), Some((Runtime::Docker, low.clone())));
        assert_eq!(split_container_id(&low), Some((Runtime::Unknown, low.clone())));
        assert_eq!(split_container_id("containerd://"), None);
        assert_eq!(split_container_id(""), None);
    }

    #[test]
    fn from_pod_json() {
        let id = "a".repeat(64);
        let prev = "b".repeat(64);
        let init = "c".repeat(64);
        let eph = "d".repeat(64);
        let pod: Pod = serde_json::from_value(serde_json::json!({
            "metadata": {
                "name": "web-7d4b9c-x2x", "namespace": "shop", "uid": "8f2c5a1e-3b4d-4c6e-9f70-1a2b3c4d5e6f",
                "labels": {"app": "web", "tier": "front"},
                "ownerReferences": [
                    {"apiVersion": "v1", "kind": "Node", "name": "n1", "uid": "u1"},
                    {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web-7d4b9c", "uid": "u2", "controller": true}
                ]
            },
            "spec": {
                "nodeName": "node-1", "hostNetwork": true, "hostIPC": true,
                "containers": [{"name": "app", "image": "ghcr.io/shop/web:2.1"}, {"name": "sidecar", "image": "envoy"}],
                "initContainers": [{"name": "init", "image": "busybox:1.36"}],
                "ephemeralContainers": [{"name": "debugger", "image": "alpine@sha256:00"}]
            },
            "status": {
                "podIP": "10.0.0.7",
                "containerStatuses": [{
                    "name": "app", "image": "ghcr.io/shop/web:2.1", "imageID": "", "ready": true, "restartCount": 1,
                    "containerID": format!("containerd://{id}"),
                    "lastState": {"terminated": {"exitCode": 137, "containerID": format!("containerd://{prev}")}}
                }],
                "initContainerStatuses": [{"name": "init", "image": "busybox:1.36", "imageID": "", "ready": false,
                    "restartCount": 0, "containerID": format!("cri-o://{init}")}],
                "ephemeralContainerStatuses": [{"name": "debugger", "image": "alpine", "imageID": "", "ready": false,
                    "restartCount": 0, "containerID": format!("docker://{eph}")}]
            }
        }))
        .unwrap();
        let m = PodMeta::from_pod(&pod).unwrap();
        assert_eq!((m.ns.as_str(), m.name.as_str()), ("shop", "web-7d4b9c-x2x"));
        assert_eq!(m.labels.get("app").map(String::as_str), Some("web"));
        assert_eq!(
            (m.owner_kind.as_deref(), m.owner_name.as_deref(), m.owner_uid.as_deref()),
            (Some("ReplicaSet"), Some("web-7d4b9c"), Some("u2"))
        );
        assert_eq!(m.node.as_deref(), Some("node-1"));
        assert!(m.host_network && m.host_ipc && !m.host_pid && !m.deleted);
        assert_eq!(m.ip.as_deref(), Some("10.0.0.7"));
        assert_eq!(m.containers.len(), 4);
        let app = m.container(&id).unwrap();
        assert_eq!((app.name.as_str(), app.image_repository.as_str()), ("app", "ghcr.io/shop/web"));
        assert_eq!(app.runtime, Some(Runtime::Containerd));
        assert_eq!(m.container(&prev).unwrap().name, "app");
        let sc = m.containers.iter().find(|c| c.name == "sidecar").unwrap();
        assert_eq!((sc.id.as_deref(), sc.image_repository.as_str()), (None, "envoy"));
        assert_eq!(m.container(&init).unwrap().kind, ContainerKind::Init);
        assert_eq!(m.container(&init).unwrap().runtime, Some(Runtime::Crio));
        let d = m.container(&eph).unwrap();
        assert_eq!((d.kind, d.image_repository.as_str()), (ContainerKind::Ephemeral, "alpine"));
        assert_eq!(m.container_ids().count(), 4);
        assert!(PodMeta::from_pod(&Pod::default()).is_none());
    }
}
