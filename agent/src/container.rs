//! Container identity from a cgroup path: the pure parser behind container and
//! pod enrichment.
//!
//! [`parse_cgroup_path`] reads a cgroup (v1 or v2) path such as
//! `/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod<uid_>.slice/cri-containerd-<64hex>.scope`
//! and returns the container id, the runtime that named it and, under the
//! kubelet, the pod UID. It matches path *segments*, never a fixed prefix, so
//! the same patterns work at any depth: under kind or docker-in-docker
//! (`/docker/<id>/kubepods/...`), under a private cgroup namespace root, or
//! below a systemd `.../container` sub-cgroup. When several containers nest,
//! the innermost one wins. See docs/enrichment.md for every pattern.
//!
//! The id → path side (which cgroup an event's `cgroup_id` is) lives in
//! [`crate::k8s::cgroup::CgroupResolver`].
#![allow(dead_code)] // A library-style API: the binary need not use every entry point.

use serde::Serialize;

/// The container runtime (or manager) a cgroup name comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Runtime {
    Containerd,
    Crio,
    Docker,
    Podman,
    /// A bare 64-hex cgroup name (cgroupfs driver): the runtime is not in the
    /// path; the pod's `containerID` prefix can tell it later.
    Unknown,
}

impl Runtime {
    pub fn as_str(self) -> &'static str {
        match self {
            Runtime::Containerd => "containerd",
            Runtime::Crio => "cri-o",
            Runtime::Docker => "docker",
            Runtime::Podman => "podman",
            Runtime::Unknown => "unknown",
        }
    }

    /// The runtime named by a CRI `containerID` scheme (`containerd://...`).
    pub fn from_cri_scheme(scheme: &str) -> Runtime {
        match scheme {
            "containerd" => Runtime::Containerd,
            "cri-o" | "crio" => Runtime::Crio,
            "docker" => Runtime::Docker,
            "podman" => Runtime::Podman,
            _ => Runtime::Unknown,
        }
    }
}

/// A container found in a cgroup path.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct ContainerRef {
    /// 64 lowercase hex digits.
    pub id: String,
    pub runtime: Runtime,
    /// The pod's `metadata.uid` (with dashes) when the container sits in a
    /// kubelet pod cgroup.
    pub pod_uid: Option<String>,
}

/// Finds the innermost container in a cgroup path (v1 or v2 form, any
/// prefix). `None` for host cgroups (`/`, `/user.slice/...`,
/// `/system.slice/sshd.service`), pod-level cgroups and runtime helpers such
/// as `crio-conmon-<id>.scope`.
pub fn parse_cgroup_path(path: &str) -> Option<ContainerRef> {
    let mut found: Option<ContainerRef> = None;
    // The pod cgroup most recently seen since the last container segment.
    let mut pod: Option<String> = None;
    let mut parent = "";
    for seg in path.split('/').filter(|s| !s.is_empty()) {
        if let Some((slice, runtime, id)) = split_colon_form(seg) {
            // `<parent slice>:<runtime>:<id>`: containerd/CRI-O/docker systemd-cgroup "path" form.
            let pod_uid = pod_uid_of_segment(slice).or_else(|| pod.take());
            found = Some(ContainerRef { id, runtime, pod_uid });
            pod = None;
        } else if let Some(uid) = pod_uid_of_segment(seg) {
            pod = Some(uid);
        } else if let Some((runtime, id)) = container_of_segment(seg, parent, pod.is_some()) {
            found = Some(ContainerRef { id, runtime, pod_uid: pod.take() });
        }
        parent = seg;
    }
    found
}

/// A pod cgroup segment: `kubepods[-<qos>]-pod<uid with _>.slice` (systemd
/// driver) or `pod<uid>` (cgroupfs driver). Returns the UID with dashes.
fn pod_uid_of_segment(seg: &str) -> Option<String> {
    if let Some(stem) = seg.strip_suffix(".slice") {
        // `kubepods-...` on a node; `kubelet-kubepods-...` under kind (cgroup root /kubelet.slice).
        if !stem.split('-').any(|part| part == "kubepods") {
            return None;
        }
        let (_, uid) = stem.rsplit_once("-pod")?;
        return valid_pod_uid(&uid.replace('_', "-"));
    }
    valid_pod_uid(seg.strip_prefix("pod")?)
}

/// Pod UIDs are UUIDs (36 chars with dashes); static pods' are a 32-hex hash.
fn valid_pod_uid(uid: &str) -> Option<String> {
    let ok = match uid.len() {
        36 => uid.char_indices().all(
            |(i, c)| {
                if matches!(i, 8 | 13 | 18 | 23) {
                    c == '-'
                } else {
                    c.is_ascii_hexdigit()
                }
            },
        ),
        32 => uid.bytes().all(|b| b.is_ascii_hexdigit()),
        _ => false,
    };
    ok.then(|| uid.to_ascii_lowercase())
}

/// Exactly 64 hex digits, lowercased.
fn hex64(s: &str) -> Option<String> {
    (s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit())).then(|| s.to_ascii_lowercase())
}

/// Prefixes of `<prefix><64hex>[.scope]` container cgroups. Order matters:
/// the conmon helpers are rejected by [`container_of_segment`] first.
const SCOPE_PREFIXES: &[(&str, Runtime)] = &[
    ("cri-containerd-", Runtime::Containerd),
    ("crio-", Runtime::Crio),
    ("docker-", Runtime::Docker),
    ("libpod-", Runtime::Podman),
    ("nerdctl-", Runtime::Containerd),
];

/// One path segment naming a container, given its parent segment.
fn container_of_segment(seg: &str, parent: &str, under_pod: bool) -> Option<(Runtime, String)> {
    // Runtime helpers live beside the container, not in it.
    if seg.starts_with("crio-conmon-") || seg.starts_with("libpod-conmon-") {
        return None;
    }
    let stem = seg.strip_suffix(".scope").unwrap_or(seg);
    for (prefix, runtime) in SCOPE_PREFIXES {
        if let Some(id) = stem.strip_prefix(prefix).and_then(hex64) {
            return Some((*runtime, id));
        }
    }
    // Bare id: cgroupfs driver (`/kubepods/besteffort/pod<uid>/<id>`),
    // docker's `/docker/<id>`, or any other manager naming cgroups by id.
    let id = hex64(seg)?;
    let runtime = match parent {
        "docker" | "actions_job" if !under_pod => Runtime::Docker,
        _ => Runtime::Unknown,
    };
    Some((runtime, id))
}

/// `kubepods-burstable-pod<uid>.slice:cri-containerd:<id>` and the like.
fn split_colon_form(seg: &str) -> Option<(&str, Runtime, String)> {
    let mut parts = seg.splitn(3, ':');
    let (slice, kind, id) = (parts.next()?, parts.next()?, parts.next()?);
    let runtime = match kind {
        "cri-containerd" | "containerd" => Runtime::Containerd,
        "crio" | "cri-o" => Runtime::Crio,
        "docker" => Runtime::Docker,
        "libpod" | "podman" => Runtime::Podman,
        _ => return None,
    };
    Some((slice, runtime, hex64(id)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
    const ID2: &str = "fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210";
    const UID: &str = "8f2c5a1e-3b4d-4c6e-9f70-1a2b3c4d5e6f";
    const UID_: &str = "8f2c5a1e_3b4d_4c6e_9f70_1a2b3c4d5e6f";

    fn ok(path: &str, id: &str, runtime: Runtime, pod: Option<&str>) {
        let got = parse_cgroup_path(path).unwrap_or_else(|| panic!("no container in {path}"));
        assert_eq!(got.id, id, "{path}");
        assert_eq!(got.runtime, runtime, "{path}");
        assert_eq!(got.pod_uid.as_deref(), pod, "{path}");
    }

    fn none(path: &str) {
        assert_eq!(parse_cgroup_path(path), None, "{path}");
    }

    #[test]
    fn systemd_driver_every_qos_and_runtime() {
        use Runtime::*;
        for (scope, rt) in [("cri-containerd-", Containerd), ("crio-", Crio), ("docker-", Docker)] {
            // Burstable and besteffort pods sit under their QoS slice; guaranteed pods directly.
            let paths = [
                format!(
                    "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod{UID_}.slice/{scope}{ID}.scope"
                ),
                format!(
                    "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod{UID_}.slice/{scope}{ID}.scope"
                ),
                format!("/kubepods.slice/kubepods-pod{UID_}.slice/{scope}{ID}.scope"),
            ];
            for p in &paths {
                ok(p, ID, rt, Some(UID));
                // cgroup v1 controllers show the same path per hierarchy (`/proc/<pid>/cgroup` lines).
                ok(&format!("/sys/fs/cgroup/memory{p}"), ID, rt, Some(UID));
            }
        }
    }

    #[test]
    fn systemd_subcgroup_below_the_container_keeps_the_container() {
        // crun's `container` sub-cgroup (systemd mode) and systemd running inside a container.
        let p = format!(
            "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod{UID_}.slice/crio-{ID}.scope/container"
        );
        ok(&p, ID, Runtime::Crio, Some(UID));
        let p = format!("/kubepods.slice/kubepods-pod{UID_}.slice/cri-containerd-{ID}.scope/init.scope");
        ok(&p, ID, Runtime::Containerd, Some(UID));
    }

    #[test]
    fn cgroupfs_driver() {
        for qos in ["", "/burstable", "/besteffort"] {
            ok(&format!("/kubepods{qos}/pod{UID}/{ID}"), ID, Runtime::Unknown, Some(UID));
            ok(&format!("/kubepods{qos}/pod{UID}/crio-{ID}"), ID, Runtime::Crio, Some(UID));
        }
        // v1 line from /proc/<pid>/cgroup and the uppercase-hex edge case.
        let line = format!("/kubepods/besteffort/pod{UID}/{}", ID.to_uppercase());
        ok(&line, ID, Runtime::Unknown, Some(UID));
    }

    #[test]
    fn containerd_systemd_path_form() {
        ok(
            &format!("/system.slice/containerd.service/kubepods-burstable-pod{UID_}.slice:cri-containerd:{ID}"),
            ID,
            Runtime::Containerd,
            Some(UID),
        );
        ok(&format!("/kubepods-besteffort-pod{UID_}.slice:cri-containerd:{ID}"), ID, Runtime::Containerd, Some(UID));
        ok(&format!("/kubepods-pod{UID_}.slice:crio:{ID}"), ID, Runtime::Crio, Some(UID));
        ok(&format!("/system.slice:docker:{ID}"), ID, Runtime::Docker, None);
        none(&format!("/kubepods-pod{UID_}.slice:cri-containerd:{}", &ID[..40]));
    }

    #[test]
    fn outside_kubernetes() {
        ok(&format!("/machine.slice/libpod-{ID}.scope"), ID, Runtime::Podman, None);
        ok(&format!("/machine.slice/libpod-{ID}.scope/container"), ID, Runtime::Podman, None);
        ok(
            &format!("/user.slice/user-1000.slice/user@1000.service/user.slice/libpod-{ID}.scope"),
            ID,
            Runtime::Podman,
            None,
        );
        ok(&format!("/libpod_parent/libpod-{ID}"), ID, Runtime::Podman, None);
        ok(&format!("/system.slice/docker-{ID}.scope"), ID, Runtime::Docker, None);
        ok(&format!("/docker/{ID}"), ID, Runtime::Docker, None);
        ok(&format!("/actions_job/{ID}"), ID, Runtime::Docker, None);
        ok(&format!("/system.slice/nerdctl-{ID}.scope"), ID, Runtime::Containerd, None);
    }

    #[test]
    fn nested_innermost_wins() {
        // kind: the node is a docker container; kubelet's cgroups live below it.
        let kind = format!("/docker/{ID2}/kubepods/besteffort/pod{UID}/{ID}");
        ok(&kind, ID, Runtime::Unknown, Some(UID));
        let kind_systemd = format!(
            "/system.slice/docker-{ID2}.scope/kubelet.slice/kubelet-kubepods.slice/kubelet-kubepods-besteffort.slice/kubelet-kubepods-besteffort-pod{UID_}.slice/cri-containerd-{ID}.scope"
        );
        ok(&kind_systemd, ID, Runtime::Containerd, Some(UID));
        // docker-in-docker inside a pod: the inner container is not the pod's.
        let dind = format!("/kubepods/burstable/pod{UID}/{ID2}/docker/{ID}");
        ok(&dind, ID, Runtime::Docker, None);
        // The outer container alone.
        ok(&format!("/docker/{ID2}"), ID2, Runtime::Docker, None);
    }

    #[test]
    fn private_cgroup_namespace_views() {
        // Inside a private cgroupns, /proc/<pid>/cgroup of a process in another container can
        // show a relative path climbing out of the reader's root.
        let p = format!("/../../kubepods-besteffort-pod{UID_}.slice/cri-containerd-{ID}.scope");
        ok(&p, ID, Runtime::Containerd, Some(UID));
        // Static pod: the UID is the 32-hex config hash.
        let hash = "5b5d0c3f0e8a4a1c9f2e7d6c5b4a3f21";
        ok(
            &format!(
                "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod{hash}.slice/cri-containerd-{ID}.scope"
            ),
            ID,
            Runtime::Containerd,
            Some(hash),
        );
    }

    #[test]
    fn host_and_helper_cgroups_are_not_containers() {
        none("/");
        none("");
        none("/init.scope");
        none("/user.slice/user-1000.slice/session-2.scope");
        none("/user.slice/user-0.slice/user@0.service/app.slice/dbus.socket");
        none("/system.slice/sshd.service");
        none("/system.slice/containerd.service");
        none("/system.slice/kubelet.service");
        none("/kubepods.slice");
        none("/kubepods.slice/kubepods-burstable.slice");
        // Pod cgroup itself (the sandbox's processes are in their own container cgroup).
        none(&format!("/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod{UID_}.slice"));
        none(&format!("/kubepods/burstable/pod{UID}"));
        // conmon helpers of CRI-O and podman.
        none(&format!(
            "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod{UID_}.slice/crio-conmon-{ID}.scope"
        ));
        none(&format!("/machine.slice/libpod-conmon-{ID}.scope"));
        // Wrong lengths and non-hex.
        none(&format!("/system.slice/docker-{}.scope", &ID[..63]));
        none(&format!("/system.slice/docker-{ID}0.scope"));
        none(&format!("/docker/{}", ID.replace('a', "g")));
        none("/system.slice/docker.service");
    }

    #[test]
    fn pod_segment_forms() {
        assert_eq!(pod_uid_of_segment(&format!("kubepods-pod{UID_}.slice")).as_deref(), Some(UID));
        assert_eq!(pod_uid_of_segment(&format!("kubepods-besteffort-pod{UID_}.slice")).as_deref(), Some(UID));
        assert_eq!(pod_uid_of_segment(&format!("pod{UID}")).as_deref(), Some(UID));
        assert_eq!(pod_uid_of_segment(&format!("pod{}", UID.to_uppercase())).as_deref(), Some(UID));
        // Not kubelet's: other slices, truncated or malformed UIDs.
        assert_eq!(pod_uid_of_segment(&format!("system-pod{UID_}.slice")), None);
        assert_eq!(pod_uid_of_segment(&format!("kubepods-pod{}.slice", &UID_[..30])), None);
        assert_eq!(pod_uid_of_segment("podman"), None);
        assert_eq!(pod_uid_of_segment(&format!("pod{}", UID.replace('-', "x"))), None);
    }

    #[test]
    fn a_pod_segment_applies_only_below_it() {
        // A container after a pod segment takes it; a later sibling-level container does not.
        let p = format!("/kubepods/pod{UID}/{ID2}/nested/docker-{ID}.scope");
        ok(&p, ID, Runtime::Docker, None);
        let p = format!("/kubepods/pod{UID}/nested/{ID}");
        ok(&p, ID, Runtime::Unknown, Some(UID));
    }

    #[test]
    fn runtime_names() {
        assert_eq!(Runtime::from_cri_scheme("containerd"), Runtime::Containerd);
        assert_eq!(Runtime::from_cri_scheme("cri-o"), Runtime::Crio);
        assert_eq!(Runtime::from_cri_scheme("docker"), Runtime::Docker);
        assert_eq!(Runtime::from_cri_scheme("rkt"), Runtime::Unknown);
        assert_eq!(Runtime::Crio.as_str(), "cri-o");
        assert_eq!(serde_json::to_string(&Runtime::Containerd).unwrap(), "\"containerd\"");
    }
}
