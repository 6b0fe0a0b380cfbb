//! What the pod spec and status say about one container that rules read:
//! privileged or not, start time, image digest, hostPath mounts and exec
//! probes ([`ContainerFacts`], behind `container.privileged`, `container.start_ts`,
//! `container.image.digest`, `container.mount.dest[...]` and
//! `proc.is_container_{liveness,readiness}_probe`).
use k8s_openapi::api::core::v1::{Container, ContainerStatus, PodSpec, Probe};
use lanner_rules::{Mount, Mounts};
use serde::Serialize;

/// An exec probe's command.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ExecProbe {
    /// `liveness` or `readiness`.
    pub kind: &'static str,
    pub command: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ContainerFacts {
    /// `securityContext.privileged` (false when unset); `None` without a spec entry.
    pub privileged: Option<bool>,
    /// `state.running.startedAt`, ns since the epoch.
    pub start_ns: Option<u64>,
    /// `sha256:...` from the status's `imageID`.
    pub image_digest: String,
    /// hostPath volumes mounted in the container, in `volumeMounts` order:
    /// host path, mount path, read-only, propagation.
    pub mounts: Mounts,
    pub probes: Vec<ExecProbe>,
}

impl ContainerFacts {
    /// The facts of `c` (a container of `spec`) with its status `st`.
    pub fn new(spec: &PodSpec, c: Option<&Container>, st: Option<&ContainerStatus>) -> ContainerFacts {
        let exec = |kind: &'static str, p: Option<&Probe>| {
            p.and_then(|p| p.exec.as_ref())
                .and_then(|e| e.command.clone())
                .filter(|c| !c.is_empty())
                .map(|command| ExecProbe { kind, command })
        };
        let mounts = c
            .and_then(|c| c.volume_mounts.as_ref())
            .into_iter()
            .flatten()
            .filter_map(|m| {
                let vol = spec.volumes.iter().flatten().find(|v| v.name == m.name)?;
                let src = &vol.host_path.as_ref()?.path;
                let ro = m.read_only.unwrap_or(false);
                Some(Mount::from_spec(src, &m.mount_path, ro, m.mount_propagation.as_deref()))
            })
            .collect::<Vec<_>>()
            .into();
        ContainerFacts {
            privileged: c.map(|c| c.security_context.as_ref().and_then(|s| s.privileged).unwrap_or(false)),
            start_ns: st
                .and_then(|s| s.state.as_ref())
                .and_then(|s| s.running.as_ref())
                .and_then(|r| r.started_at.as_ref())
                .and_then(|t| u64::try_from(t.0.as_nanosecond()).ok()),
            image_digest: st
                .and_then(|s| s.image_id.rsplit_once('@'))
                .map(|(_, d)| d.to_string())
                .or_else(|| st.map(|s| &s.image_id).filter(|i| i.starts_with("sha256:")).cloned())
                .unwrap_or_default(),
            mounts,
            probes: [
                exec("liveness", c.and_then(|c| c.liveness_probe.as_ref())),
                exec("readiness", c.and_then(|c| c.readiness_probe.as_ref())),
            ]
            .into_iter()
            .flatten()
            .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use k8s_openapi::api::core::v1::Pod;

    use super::*;

    #[test]
    fn from_spec_and_status() {
        let pod: Pod = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "p", "uid": "u"},
            "spec": {
                "volumes": [{"name": "proc", "hostPath": {"path": "/proc"}}, {"name": "tmp", "emptyDir": {}},
                            {"name": "etc", "hostPath": {"path": "/etc"}}],
                "containers": [{
                    "name": "app", "image": "x",
                    "securityContext": {"privileged": true},
                    "volumeMounts": [{"name": "proc", "mountPath": "/host/proc"}, {"name": "tmp", "mountPath": "/tmp"},
                                     {"name": "etc", "mountPath": "/host/etc", "readOnly": true,
                                      "mountPropagation": "Bidirectional"}],
                    "livenessProbe": {"exec": {"command": ["/bin/sh", "-c", "true"]}},
                    "readinessProbe": {"httpGet": {"port": 80}}
                }, {"name": "plain", "image": "y"}]
            },
            "status": {"containerStatuses": [{
                "name": "app", "image": "x", "imageID": "docker.io/library/x@sha256:0123", "ready": true,
                "restartCount": 0, "state": {"running": {"startedAt": "2026-12-03T10:00:00Z"}}
            }]}
        }))
        .unwrap();
        let spec = pod.spec.as_ref().unwrap();
        let st = pod.status.as_ref().and_then(|s| s.container_statuses.as_ref()).map(|s| &s[0]);
        let f = ContainerFacts::new(spec, Some(&spec.containers[0]), st);
        assert_eq!(f.privileged, Some(true));
        assert_eq!(f.start_ns, Some(1_796_292_000_000_000_000));
        assert_eq!(f.image_digest, "sha256:0123");
        let mounts: Vec<String> = f.mounts.iter().map(|m| m.falco_string().to_string()).collect();
        assert_eq!(mounts, ["/proc:/host/proc::true:private", "/etc:/host/etc::false:rshared"], "hostPath only");
        assert_eq!(
            f.probes,
            vec![ExecProbe { kind: "liveness", command: vec!["/bin/sh".into(), "-c".into(), "true".into()] }]
        );
        let g = ContainerFacts::new(spec, Some(&spec.containers[1]), None);
        assert_eq!((g.privileged, g.start_ns, g.probes.len()), (Some(false), None, 0));
    }
}
