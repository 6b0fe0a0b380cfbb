//! The `k8smeta.*` fields on the real kube-apiserver of `xtask/kube/kube.sh up`:
//! a Deployment, the ReplicaSet it would make (named `<deployment>-<hash>`,
//! owned by the Deployment) and a pod that ReplicaSet controls (label
//! `pod-template-hash`), a pod of a ReplicationController, and a bare pod.
//! A process runs in each pod's container cgroup and its exec alert must carry
//! the pod's name, uid, IP, labels and namespace, the controller's name and the
//! uid the API server gave it, and the Deployment's name only for the first pod;
//! Falco's deprecated `k8s.rs.*`, `k8s.rc.*` and `k8s.deployment.name` the same.
//!
//! There is no controller manager here: the test creates the ReplicaSet and the
//! pods itself, with the owner references the controllers would set.
//!
//! Needs root (probes, cgroups) and the API server's run dir; skips saying why
//! otherwise.
use std::{process::Stdio, time::Duration};

use lanner_tests::{
    cgroup::{hex_id, FakeContainer},
    kube::Kube,
};
use serde_json::{json, Value};

const IMAGE: &str = "registry.example/k8smeta/app:1";
const FIELDS: [&str; 11] = [
    "k8smeta.pod.name",
    "k8smeta.pod.uid",
    "k8smeta.pod.ip",
    "k8smeta.pod.label[app]",
    "k8smeta.pod.labels",
    "k8smeta.ns.name",
    "k8smeta.rs.name",
    "k8smeta.rs.uid",
    "k8smeta.rc.name",
    "k8smeta.rc.uid",
    "k8smeta.deployment.name",
];

/// Falco's deprecated `k8s.*` names of the same values.
const DEPRECATED: [(&str, &str); 5] = [
    ("k8s.rs.name", "k8smeta.rs.name"),
    ("k8s.rs.id", "k8smeta.rs.uid"),
    ("k8s.rc.name", "k8smeta.rc.name"),
    ("k8s.rc.id", "k8smeta.rc.uid"),
    ("k8s.deployment.name", "k8smeta.deployment.name"),
];

fn rules(n: &str) -> String {
    let names = FIELDS.iter().chain(DEPRECATED.iter().map(|(old, _)| old));
    let out: Vec<String> = names.map(|f| format!("{f}=%{f}")).collect();
    format!(
        "- rule: k8smeta fields {n}\n  desc: e2e\n  condition: evt.type = execve and proc.args contains \"{n}\" \
         and k8smeta.pod.name exists\n  output: \"args=%proc.args {}\"\n  priority: NOTICE\n",
        out.join(" ")
    )
}

/// Creates `doc` and returns the UID the API server gave it.
fn create(k: &Kube, doc: &Value) -> String {
    k.kubectl(&["create", "-o", "jsonpath={.metadata.uid}", "-f", "-"], Some(&doc.to_string()))
        .unwrap_or_else(|e| panic!("{e}"))
}

fn owner(kind: &str, api: &str, name: &str, uid: &str) -> Value {
    json!([{"apiVersion": api, "kind": kind, "name": name, "uid": uid, "controller": true, "blockOwnerDeletion": true}])
}

fn pod(ns: &str, name: &str, node: &str, labels: Value, owners: Value) -> Value {
    json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": ns, "labels": labels, "ownerReferences": owners},
        "spec": {"nodeName": node, "containers": [{"name": "app", "image": IMAGE}]}
    })
}

fn running(k: &Kube, ns: &str, pod: &str, id: &str, ip: &str) {
    let status = json!({"status": {"phase": "Running", "podIP": ip, "containerStatuses": [{
        "name": "app", "image": IMAGE, "imageID": "", "ready": true, "restartCount": 0,
        "containerID": format!("containerd://{id}"), "state": {"running": {}}
    }]}});
    k.patch_status(ns, pod, &status.to_string());
}

#[test]
fn k8smeta_fields_come_from_the_pod_and_its_controller() {
    let test = "k8smeta_fields_come_from_the_pod_and_its_controller";
    let Some((k, scratch)) = Kube::scratch(test, "meta") else {
        return;
    };
    let (n, ns, node) = (scratch.n.clone(), scratch.ns.clone(), scratch.node.clone());
    let hash = "5c8d7f9b6d";
    let template =
        json!({"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "app", "image": IMAGE}]}});
    let deploy_uid = create(
        &k,
        &json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": ns},
                "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "web"}}, "template": template}}),
    );
    let rs_name = format!("web-{hash}");
    let mut rs_template = template.clone();
    rs_template["metadata"]["labels"]["pod-template-hash"] = json!(hash);
    let rs_uid = create(
        &k,
        &json!({"apiVersion": "apps/v1", "kind": "ReplicaSet",
                "metadata": {"name": rs_name, "namespace": ns, "labels": {"app": "web", "pod-template-hash": hash},
                             "ownerReferences": owner("Deployment", "apps/v1", "web", &deploy_uid)},
                "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "web", "pod-template-hash": hash}},
                         "template": rs_template}}),
    );
    let rc_uid = create(
        &k,
        &json!({"apiVersion": "v1", "kind": "ReplicationController", "metadata": {"name": "legacy", "namespace": ns},
                "spec": {"replicas": 1, "selector": {"app": "legacy"},
                         "template": {"metadata": {"labels": {"app": "legacy"}},
                                      "spec": {"containers": [{"name": "app", "image": IMAGE}]}}}}),
    );
    let web = format!("{rs_name}-x7k2p");
    let web_uid = create(
        &k,
        &pod(
            &ns,
            &web,
            &node,
            json!({"app": "web", "pod-template-hash": hash}),
            owner("ReplicaSet", "apps/v1", &rs_name, &rs_uid),
        ),
    );
    let legacy_uid = create(
        &k,
        &pod(
            &ns,
            "legacy-q9z4m",
            &node,
            json!({"app": "legacy"}),
            owner("ReplicationController", "v1", "legacy", &rc_uid),
        ),
    );
    let bare_uid = create(&k, &pod(&ns, "bare", &node, json!({}), json!([])));
    let ids: Vec<String> = ["web", "legacy", "bare"].iter().map(|p| hex_id(&format!("{n}-{p}"))).collect();
    for ((name, ip), id) in
        [(web.as_str(), "10.244.9.1"), ("legacy-q9z4m", "10.244.9.2"), ("bare", "10.244.9.3")].iter().zip(&ids)
    {
        running(&k, &ns, name, id, ip);
    }
    let ctrs: Vec<FakeContainer> =
        [&web_uid, &legacy_uid, &bare_uid].iter().zip(&ids).map(|(uid, id)| FakeContainer::create(uid, id)).collect();

    let dir = std::env::temp_dir().join(format!("lanner-meta-{n}"));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("meta.yaml");
    std::fs::write(&file, rules(&n)).unwrap();
    let agent = scratch.agent(&k, &file, "off");
    let failed: Vec<String> = ctrs
        .iter()
        .zip(["web", "legacy", "bare"])
        .filter_map(|(c, tag)| {
            let st = c.command("/bin/true").args([n.as_str(), tag]).stdin(Stdio::null()).status();
            (!st.as_ref().is_ok_and(|s| s.success())).then(|| format!("{tag}: {st:?}"))
        })
        .collect();
    std::thread::sleep(Duration::from_secs(1));
    let (stderr, alerts) = agent.stop_with_alerts();
    drop(ctrs);
    let _ = std::fs::remove_dir_all(&dir);
    scratch.remove(&k);
    assert!(failed.is_empty(), "{failed:?}");
    assert!(!stderr.iter().any(|l| l.contains("rule inactive")), "the rule must load active: {stderr:?}");

    let by_tag = |tag: &str| -> &Value {
        let args = format!("{n} {tag}");
        let found: Vec<&Value> = alerts.iter().filter(|a| a["output_fields"]["proc.args"] == args.as_str()).collect();
        assert_eq!(found.len(), 1, "one alert for {tag}: {alerts:?}");
        &found[0]["output_fields"]
    };
    let values = |a: &Value| -> Vec<Value> {
        for (old, new) in DEPRECATED {
            assert_eq!(a[old], a[new], "{old}: {a}");
        }
        FIELDS.iter().map(|f| a[*f].clone()).collect()
    };
    let null = Value::Null;
    assert_eq!(
        values(by_tag("web")),
        [
            json!(web),
            json!(web_uid),
            json!("10.244.9.1"),
            json!("web"),
            json!(format!("(app:web,pod-template-hash:{hash})")),
            json!(ns),
            json!(rs_name),
            json!(rs_uid),
            null.clone(),
            null.clone(),
            json!("web"),
        ]
    );
    assert_eq!(
        values(by_tag("legacy")),
        [
            json!("legacy-q9z4m"),
            json!(legacy_uid),
            json!("10.244.9.2"),
            json!("legacy"),
            json!("(app:legacy)"),
            json!(ns),
            null.clone(),
            null.clone(),
            json!("legacy"),
            json!(rc_uid),
            null.clone(),
        ]
    );
    assert_eq!(
        values(by_tag("bare")),
        [
            json!("bare"),
            json!(bare_uid),
            json!("10.244.9.3"),
            null.clone(),
            null.clone(),
            json!(ns),
            null.clone(),
            null.clone(),
            null.clone(),
            null.clone(),
            null.clone(),
        ]
    );
}
