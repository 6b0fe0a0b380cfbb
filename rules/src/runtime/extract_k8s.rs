//! Extraction of the `k8smeta.*` fields (Falco's k8smeta plugin) that come from
//! the pod's controller owner reference, as the agent's one field-selected pod
//! watch per node keeps it (the pod's own identity, labels and IP share the
//! arms of their `k8s.*` twins). The plugin gets the same values
//! from its metacollector, which watches pods, namespaces, controllers and
//! services cluster-wide; Lanner watches only this node's pods, so the fields
//! that need another object (namespace labels and uid, services, controller
//! labels) stay unavailable with that reason (`fields/avail.rs`).
//!
//! The Deployment's name is not in the pod: it is read from the ReplicaSet's
//! name the way the Deployment controller makes it (`<deployment>-<hash>`, the
//! hash also being the pod's `pod-template-hash` label), so a pod of a
//! ReplicaSet that no Deployment made has no `k8smeta.deployment.name`.
//!
//! The deprecated `k8s.rs.name`, `k8s.rs.id`, `k8s.rc.name`, `k8s.rc.id` and
//! `k8s.deployment.name` (filled by Falco's old Kubernetes client, empty in
//! today's container plugin) give the same values, so rules written for them
//! mean what their authors meant.

use crate::fields::{FieldId, Val};
use crate::runtime::container::Pod;
use crate::runtime::event::Event;

/// The pod-template-hash label the Deployment controller puts on its ReplicaSets' pods.
const POD_TEMPLATE_HASH: &str = "pod-template-hash";

/// The value of a `k8smeta.*` field read from the pod's controller for `ev`.
/// The pod's own (`k8smeta.pod.*`, `k8smeta.ns.name`) share the arms of their
/// `k8s.*` twins in `extract.rs` and `extract_ctr.rs`.
pub(crate) fn extract(id: FieldId, ev: &Event) -> Val<'_> {
    use FieldId as F;
    let Some(p) = ev.container.as_deref().and_then(|c| c.k8s.as_ref()) else {
        return Val::Missing;
    };
    match id {
        F::K8smetaRsName | F::K8sRsName => {
            owned_by(p, "ReplicaSet").map_or(Val::Missing, |(name, _)| Val::non_empty(name))
        }
        F::K8smetaRsUid | F::K8sRsId => {
            owned_by(p, "ReplicaSet").and_then(|(_, uid)| uid).map_or(Val::Missing, Val::non_empty)
        }
        F::K8smetaRcName | F::K8sRcName => {
            owned_by(p, "ReplicationController").map_or(Val::Missing, |(name, _)| Val::non_empty(name))
        }
        F::K8smetaRcUid | F::K8sRcId => {
            owned_by(p, "ReplicationController").and_then(|(_, uid)| uid).map_or(Val::Missing, Val::non_empty)
        }
        F::K8smetaDeploymentName | F::K8sDeploymentName => deployment(p).map_or(Val::Missing, Val::Str),
        _ => Val::Missing,
    }
}

/// The controller owner's name and uid when it is of `kind`.
fn owned_by<'a>(p: &'a Pod, kind: &str) -> Option<(&'a str, Option<&'a str>)> {
    (p.owner_kind.as_deref() == Some(kind)).then_some(())?;
    Some((p.owner_name.as_deref()?, p.owner_uid.as_deref()))
}

/// The Deployment behind the pod's ReplicaSet: the ReplicaSet's name without
/// `-<pod-template-hash>`, when the pod carries that label and the name ends so.
fn deployment(p: &Pod) -> Option<&str> {
    let (rs, _) = owned_by(p, "ReplicaSet")?;
    let hash = p.labels.get(POD_TEMPLATE_HASH).filter(|h| !h.is_empty())?;
    rs.strip_suffix(hash.as_str())?.strip_suffix('-').filter(|d| !d.is_empty())
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::sync::Arc;

    use crate::fields::{Field, Val};
    use crate::runtime::container::{Container, Pod};
    use crate::runtime::event::{Event, EvtType, Process};

    fn bare() -> Event {
        Event::new(EvtType::Execve, 1, Arc::new(Process::new("sh", "/bin/sh", &[])))
    }

    fn ev(pod: Option<Pod>) -> Event {
        let mut e = bare();
        let c = Container { id: "a".repeat(64), ip: "10.244.1.7".into(), k8s: pod, ..Default::default() };
        e.container = Some(Arc::new(c));
        e
    }

    fn pod(kind: &str, owner: &str, labels: &[(&str, &str)]) -> Pod {
        Pod {
            ns: "shop".into(),
            name: format!("{owner}-x7k2p"),
            uid: "5f0c9d2e-0000-4000-8000-000000000001".into(),
            labels: labels.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect::<BTreeMap<_, _>>(),
            owner_kind: Some(kind.into()),
            owner_name: Some(owner.into()),
            owner_uid: Some("7a1b2c3d-0000-4000-8000-000000000002".into()),
        }
    }

    fn get(name: &str, key: Option<&str>, e: &Event) -> String {
        let mut out = String::new();
        Field::resolve(name, key).unwrap().render(e, &mut out);
        out
    }

    #[test]
    fn pod_identity_labels_and_ip() {
        let e = ev(Some(pod("ReplicaSet", "web-6d8f7c9b5", &[("app", "web"), ("pod-template-hash", "6d8f7c9b5")])));
        assert_eq!(get("k8smeta.pod.name", None, &e), "web-6d8f7c9b5-x7k2p");
        assert_eq!(get("k8smeta.pod.uid", None, &e), "5f0c9d2e-0000-4000-8000-000000000001");
        assert_eq!(get("k8smeta.ns.name", None, &e), "shop");
        assert_eq!(get("k8smeta.pod.ip", None, &e), "10.244.1.7");
        assert_eq!(get("k8smeta.pod.label", Some("app"), &e), "web");
        assert_eq!(get("k8smeta.pod.label", Some("tier"), &e), "<NA>");
        assert_eq!(get("k8smeta.pod.labels", None, &e), "(app:web,pod-template-hash:6d8f7c9b5)");
        let f = Field::resolve("k8smeta.pod.labels", None).unwrap();
        assert!(f.is_list());
        let mut seen = Vec::new();
        f.any(&e, |v| {
            if let Val::KV(k, v) = v {
                seen.push(format!("{k}:{v}"));
            }
            false
        });
        assert_eq!(seen, ["app:web", "pod-template-hash:6d8f7c9b5"]);
    }

    #[test]
    fn replica_set_and_its_deployment() {
        let e = ev(Some(pod("ReplicaSet", "web-6d8f7c9b5", &[("pod-template-hash", "6d8f7c9b5")])));
        assert_eq!(get("k8smeta.rs.name", None, &e), "web-6d8f7c9b5");
        assert_eq!(get("k8smeta.rs.uid", None, &e), "7a1b2c3d-0000-4000-8000-000000000002");
        assert_eq!(get("k8smeta.deployment.name", None, &e), "web");
        assert_eq!(get("k8smeta.rc.name", None, &e), "<NA>");
        assert_eq!(get("k8smeta.rc.uid", None, &e), "<NA>");
        for (old, new) in [
            ("k8s.rs.name", "k8smeta.rs.name"),
            ("k8s.rs.id", "k8smeta.rs.uid"),
            ("k8s.deployment.name", "k8smeta.deployment.name"),
            ("k8s.rc.name", "k8smeta.rc.name"),
        ] {
            assert_eq!(get(old, None, &e), get(new, None, &e), "{old}");
        }
        // A ReplicaSet no Deployment made: no pod-template-hash, or a name that does not end in it.
        let bare = ev(Some(pod("ReplicaSet", "cache", &[])));
        assert_eq!(get("k8smeta.deployment.name", None, &bare), "<NA>");
        assert_eq!(get("k8smeta.rs.name", None, &bare), "cache");
        let other = ev(Some(pod("ReplicaSet", "cache-abc", &[("pod-template-hash", "xyz")])));
        assert_eq!(get("k8smeta.deployment.name", None, &other), "<NA>");
        let only_hash = ev(Some(pod("ReplicaSet", "-abc", &[("pod-template-hash", "abc")])));
        assert_eq!(get("k8smeta.deployment.name", None, &only_hash), "<NA>");
    }

    #[test]
    fn replication_controller_and_other_owners() {
        let e = ev(Some(pod("ReplicationController", "legacy", &[])));
        assert_eq!(get("k8smeta.rc.name", None, &e), "legacy");
        assert_eq!(get("k8smeta.rc.uid", None, &e), "7a1b2c3d-0000-4000-8000-000000000002");
        assert_eq!(get("k8smeta.rs.name", None, &e), "<NA>");
        assert_eq!(
            (get("k8s.rc.name", None, &e), get("k8s.rc.id", None, &e)),
            (get("k8smeta.rc.name", None, &e), get("k8smeta.rc.uid", None, &e))
        );
        let ds = ev(Some(pod("DaemonSet", "lanner", &[("pod-template-hash", "x")])));
        for f in ["k8smeta.rs.name", "k8smeta.rs.uid", "k8smeta.rc.name", "k8smeta.deployment.name"] {
            assert_eq!(get(f, None, &ds), "<NA>", "{f}");
        }
        assert_eq!(get("k8smeta.pod.name", None, &ds), "lanner-x7k2p");
    }

    #[test]
    fn missing_outside_a_known_pod() {
        for e in [ev(None), bare()] {
            for f in ["k8smeta.pod.name", "k8smeta.pod.uid", "k8smeta.pod.ip", "k8smeta.ns.name", "k8smeta.pod.labels"]
            {
                assert_eq!(get(f, None, &e), "<NA>", "{f}");
            }
            assert_eq!(get("k8smeta.pod.label", Some("app"), &e), "<NA>");
        }
    }
}
