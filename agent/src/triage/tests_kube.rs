//! Triage actions, guards, leases and RBAC against the REAL kube-apiserver
//! started by `xtask/kube/kube.sh up` (run dir `$LANNER_KUBE_DIR`, default
//! /tmp/lanner-kube). Without it these tests fail with a clear message,
//! unless `LANNER_SKIP_REAL=1`.
//!
//! Pods are created with `spec.nodeName` set (no scheduler) and their
//! container ids faked through the status subresource. Each test uses its own
//! namespace and uniquely named cluster objects, removed at the end.
use std::time::{Duration, Instant};

use k8s_openapi::api::{
    apps::v1::Deployment,
    coordination::v1::Lease,
    core::v1::{Namespace, Pod, Secret},
    events::v1::Event as K8sEvent,
    networking::v1::NetworkPolicy,
    rbac::v1::{ClusterRole, ClusterRoleBinding, Role, RoleBinding},
};
use kube::{
    api::{DeleteParams, ListParams, Patch, PatchParams, PostParams},
    Api, Client,
};
use serde_json::json;

use super::{
    actions::{Webhook, WebhookFormat, NETPOL_NAME},
    alert::{test_alerts::uuid_v4_like, Alert},
    guard::Source,
    lease::{Claim, Leases},
    model::{Action, QUARANTINE_ALERT_ANNOTATION, QUARANTINE_LABEL},
    records::Incident,
    test_support::*,
    worker::{Handled, Worker},
};

fn nonce() -> String {
    uuid_v4_like().split('-').next_back().unwrap().to_owned()
}

fn cid(n: u8) -> String {
    format!("{:02x}", n).repeat(32)
}

fn alert(rule: &str, prio: &str, ns: &str, pod: &str, container: &str) -> Alert {
    serde_json::from_value(json!({
        "output": format!("12:00:00.000000000: {prio} {rule}"), "priority": prio, "rule": rule,
        "time": k8s_openapi::jiff::Timestamp::now().to_string(),
        "output_fields": {"k8s.ns.name": ns, "k8s.pod.name": pod, "container.id": &container[..12], "proc.name": "sh", "proc.pname": "bash", "proc.cmdline": "sh -i"},
        "source": "syscall", "tags": ["T1059", "mitre_execution"], "hostname": "node-1", "uuid": uuid_v4_like(),
    }))
    .unwrap()
}

async fn incident(w: &Worker, a: &Alert) -> Box<Incident> {
    match w.handle(a).await.expect("handle") {
        Handled::Incident(i) => i,
        other => panic!("expected an incident, got {other:?}"),
    }
}

struct Fx {
    admin: Client,
    ns: String,
    cleanup: Vec<(&'static str, String, Option<String>)>,
}

impl Fx {
    async fn new(test: &str) -> Option<Fx> {
        let admin = kube_client(test, "admin.kubeconfig").await?;
        let ns = format!("triage-{}", nonce());
        let nso: Namespace = serde_json::from_value(json!({"metadata": {"name": ns}})).unwrap();
        Api::<Namespace>::all(admin.clone()).create(&PostParams::default(), &nso).await.expect("create namespace");
        Some(Fx { admin, ns, cleanup: Vec::new() })
    }

    fn pods(&self, ns: &str) -> Api<Pod> {
        Api::namespaced(self.admin.clone(), ns)
    }

    /// A running pod (as a kubelet would report it) with one container `container`.
    async fn pod(&self, ns: &str, name: &str, container: &str, meta: serde_json::Value) -> Pod {
        let mut md = json!({"name": name, "labels": {"app": "web"},
            "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web-rs", "uid": "0b5e3a9c-7d1f-4e2a-9c3b-222222222222", "controller": true}]});
        for (k, v) in meta.as_object().unwrap() {
            md[k] = v.clone();
        }
        let pod: Pod = serde_json::from_value(json!({"metadata": md,
            "spec": {"nodeName": "fake-node", "containers": [{"name": "app", "image": "registry.example/web:1"}]}}))
        .unwrap();
        self.pods(ns).create(&PostParams::default(), &pod).await.expect("create pod");
        let status = json!({"status": {"phase": "Running", "containerStatuses": [{
            "name": "app", "image": "registry.example/web:1", "imageID": "", "ready": true, "restartCount": 0,
            "containerID": format!("containerd://{container}"), "state": {"running": {"startedAt": "2026-11-23T12:00:00Z"}}}]}});
        self.pods(ns).patch_status(name, &PatchParams::default(), &Patch::Merge(&status)).await.expect("patch status")
    }

    async fn labels(&self, ns: &str, name: &str) -> std::collections::BTreeMap<String, String> {
        self.pods(ns).get(name).await.expect("get pod").metadata.labels.unwrap_or_default()
    }

    async fn events(&self, ns: &str, pod: &str) -> Vec<K8sEvent> {
        let evs = Api::<K8sEvent>::namespaced(self.admin.clone(), ns)
            .list(&ListParams::default())
            .await
            .expect("list events");
        evs.items.into_iter().filter(|e| e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some(pod)).collect()
    }
}

impl Drop for Fx {
    fn drop(&mut self) {
        let (ns, cleanup) = (self.ns.clone(), std::mem::take(&mut self.cleanup));
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            rt.block_on(async {
                let Some(admin) = kube_client("cleanup", "admin.kubeconfig").await else {
                    return;
                };
                let dp = DeleteParams { grace_period_seconds: Some(0), ..Default::default() };
                let _ = Api::<Pod>::namespaced(admin.clone(), &ns).delete_collection(&dp, &Default::default()).await;
                for (kind, name, ns2) in cleanup {
                    let _ = match (kind, ns2) {
                        ("ClusterRole", _) => {
                            Api::<ClusterRole>::all(admin.clone()).delete(&name, &dp).await.map(|_| ())
                        }
                        ("ClusterRoleBinding", _) => {
                            Api::<ClusterRoleBinding>::all(admin.clone()).delete(&name, &dp).await.map(|_| ())
                        }
                        ("Role", Some(n)) => {
                            Api::<Role>::namespaced(admin.clone(), &n).delete(&name, &dp).await.map(|_| ())
                        }
                        ("RoleBinding", Some(n)) => {
                            Api::<RoleBinding>::namespaced(admin.clone(), &n).delete(&name, &dp).await.map(|_| ())
                        }
                        ("Pod", Some(n)) => {
                            Api::<Pod>::namespaced(admin.clone(), &n).delete(&name, &dp).await.map(|_| ())
                        }
                        _ => Ok(()),
                    };
                }
                let _ = Api::<Namespace>::all(admin).delete(&ns, &dp).await;
            });
        })
        .join();
    }
}

fn json_webhook(d: &HttpDouble) -> Webhook {
    Webhook { url: format!("{}/hook", d.url), format: WebhookFormat::Json }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn actions_and_guards_on_the_real_apiserver() {
    let Some(mut fx) = Fx::new("actions_and_guards_on_the_real_apiserver").await else {
        return;
    };
    let ns = fx.ns.clone();
    let hook = HttpDouble::start(|_| Canned::ok(json!({"ok": true}))).await;
    let dir = tempfile::tempdir().unwrap();
    let w = TestWorker { kube: Some(fx.admin.clone()), webhook: Some(json_webhook(&hook)), ..Default::default() }
        .build(dir.path());
    for (i, name) in ["web-1", "web-2", "web-3", "web-4"].iter().enumerate() {
        fx.pod(&ns, name, &cid(i as u8 + 1), json!({})).await;
    }

    // quarantine_pod: NetworkPolicy + label + annotation + Event.
    let a = alert("Terminal shell in container", "Notice", &ns, "web-1", &cid(1));
    let inc = incident(&w, &a).await;
    assert_eq!(
        (inc.decision.action, inc.decision.source),
        (Action::QuarantinePod, Source::Policy),
        "{}",
        inc.decision.reason
    );
    assert!(inc.actions.iter().all(|s| s.result == "success"), "{:?}", inc.actions);
    let labels = fx.labels(&ns, "web-1").await;
    assert_eq!(labels.get(QUARANTINE_LABEL).map(String::as_str), Some("true"));
    assert_eq!(labels.get("lanner.io/reason").map(String::as_str), Some("terminal-shell"), "the rule's extra label");
    let ann = fx.pods(&ns).get("web-1").await.unwrap().metadata.annotations.unwrap_or_default();
    assert_eq!(ann.get(QUARANTINE_ALERT_ANNOTATION), Some(&a.uuid.to_string()));
    let np = Api::<NetworkPolicy>::namespaced(fx.admin.clone(), &ns)
        .get(NETPOL_NAME)
        .await
        .expect("quarantine NetworkPolicy");
    let spec = np.spec.unwrap();
    assert_eq!(spec.pod_selector.unwrap().match_labels.unwrap()[QUARANTINE_LABEL], "true");
    assert_eq!(spec.policy_types.unwrap(), vec!["Ingress", "Egress"]);
    assert!(spec.ingress.unwrap_or_default().is_empty() && spec.egress.unwrap_or_default().is_empty(), "deny all");
    let evs = fx.events(&ns, "web-1").await;
    assert!(
        evs.iter().any(|e| e.reason.as_deref() == Some("LannerQuarantined") && e.type_.as_deref() == Some("Warning")),
        "{evs:?}"
    );
    // Idempotent: a second quarantine in the namespace reuses the policy.
    let inc2 = incident(&w, &alert("Terminal shell in container", "Notice", &ns, "web-2", &cid(2))).await;
    let np_step = inc2.actions.iter().find(|s| s.step == "network_policy").unwrap();
    assert!(np_step.result == "success" && np_step.detail.contains("already present"), "{np_step:?}");

    // delete_pod (grace period 0 from the rule): the pod is gone, an Event says so.
    let inc3 = incident(
        &w,
        &alert("Redirect STDOUT/STDIN to Network Connection in Container", "Notice", &ns, "web-3", &cid(3)),
    )
    .await;
    assert_eq!(inc3.decision.action, Action::DeletePod, "{}", inc3.decision.reason);
    let t = Instant::now();
    while fx.pods(&ns).get_opt("web-3").await.unwrap().is_some() {
        assert!(t.elapsed() < Duration::from_secs(10), "pod not deleted");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(fx.events(&ns, "web-3").await.iter().any(|e| e.reason.as_deref() == Some("LannerDeletedPod")));

    // Guard: only the alert's own pod — a container id that is not web-4's.
    let inc4 = incident(&w, &alert("Terminal shell in container", "Notice", &ns, "web-4", &cid(9))).await;
    assert_eq!((inc4.decision.action, inc4.decision.source), (Action::Escalate, Source::GuardOverride));
    assert!(inc4.decision.reason.contains("is not a container of pod"), "{}", inc4.decision.reason);
    assert!(!fx.labels(&ns, "web-4").await.contains_key(QUARANTINE_LABEL), "foreign pod untouched");
    assert!(fx.events(&ns, "web-4").await.iter().any(|e| e.reason.as_deref() == Some("LannerEscalated")));

    // Guard: Lanner's own pods (label) and DaemonSet pods.
    fx.pod(&ns, "collector", &cid(5), json!({"labels": {"app.kubernetes.io/part-of": "lanner"}})).await;
    fx.pod(&ns, "exporter", &cid(6), json!({"ownerReferences": [{"apiVersion": "apps/v1", "kind": "DaemonSet", "name": "exp", "uid": "0b5e3a9c-7d1f-4e2a-9c3b-333333333333", "controller": true}]})).await;
    for (pod, c, why) in [("collector", 5, "protected by label"), ("exporter", 6, "DaemonSet")] {
        let inc = incident(&w, &alert("Terminal shell in container", "Notice", &ns, pod, &cid(c))).await;
        assert_eq!(inc.decision.action, Action::Escalate, "{pod}");
        assert!(inc.decision.reason.contains(why), "{}", inc.decision.reason);
        assert!(!fx.labels(&ns, pod).await.contains_key(QUARANTINE_LABEL), "{pod} untouched");
    }

    // Guard: protected namespace (a uniquely named pod in kube-system).
    let sys = format!("tt-{}", nonce());
    fx.pod("kube-system", &sys, &cid(7), json!({})).await;
    fx.cleanup.push(("Pod", sys.clone(), Some("kube-system".into())));
    let inc5 = incident(
        &w,
        &alert("Redirect STDOUT/STDIN to Network Connection in Container", "Notice", "kube-system", &sys, &cid(7)),
    )
    .await;
    assert_eq!((inc5.decision.action, inc5.decision.source), (Action::Escalate, Source::GuardOverride));
    assert!(inc5.decision.reason.contains("namespace kube-system is protected"), "{}", inc5.decision.reason);
    assert!(fx.pods("kube-system").get_opt(&sys).await.unwrap().is_some(), "never deleted");

    // Every escalation reached the webhook as an incident.
    let bodies = hook.bodies();
    assert_eq!(bodies.len(), 4, "{bodies:?}");
    assert!(bodies.iter().all(|b| b["decision"]["action"] == "escalate" && b["mitre"]["techniques"][0] == "T1059"));

    // Dry run: decided and recorded, not executed.
    let dry = TestWorker { kube: Some(fx.admin.clone()), dry_run: true, ..Default::default() }
        .build(dir.path().join("dry").as_path());
    fx.pod(&ns, "web-5", &cid(8), json!({})).await;
    let inc6 = incident(&dry, &alert("Terminal shell in container", "Notice", &ns, "web-5", &cid(8))).await;
    assert_eq!(inc6.decision.action, Action::QuarantinePod);
    assert!(inc6.decision.dry_run && inc6.actions.iter().all(|s| s.result == "dry_run"), "{:?}", inc6.actions);
    assert!(!fx.labels(&ns, "web-5").await.contains_key(QUARANTINE_LABEL));

    // Records: a decision line then an incident line per incident, a report each, metrics.
    let audit = std::fs::read_to_string(dir.path().join("audit.jsonl")).unwrap();
    let kinds: Vec<String> = audit
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["record"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(kinds.len(), 14);
    assert!(kinds.chunks(2).all(|p| p == ["decision", "incident"]), "{kinds:?}");
    assert_eq!(std::fs::read_dir(dir.path().join("reports")).unwrap().count(), 7);
    let m = w.metrics().encode();
    for want in [
        "lanner_triage_decisions_total{action=\"quarantine_pod\",source=\"policy\"} 2",
        "lanner_triage_decisions_total{action=\"escalate\",source=\"guard-override\"} 4",
        "lanner_triage_actions_total{action=\"delete_pod\",result=\"success\"} 1",
        "lanner_triage_actions_total{action=\"event\",result=\"success\"} 7",
        "lanner_triage_mttr_seconds_count 7",
        "lanner_triage_mtta_seconds_count 7",
    ] {
        assert!(m.contains(want), "{want}:\n{m}");
    }
}

/// Parse agent/triage-data/rbac.yaml, rename every object with `suffix`.
fn shipped_rbac(suffix: &str) -> Vec<serde_json::Value> {
    let text = include_str!("../../triage-data/rbac.yaml");
    let docs = lanner_rules::yaml::parse(text).expect("rbac.yaml parses");
    docs.iter()
        .map(|d| {
            let mut v: serde_json::Value = lanner_rules::de::from_node(d).expect("rbac doc");
            let n = format!("{}-{suffix}", v["metadata"]["name"].as_str().unwrap());
            v["metadata"]["name"] = n.into();
            if v.get("roleRef").is_some() {
                let r = format!("{}-{suffix}", v["roleRef"]["name"].as_str().unwrap());
                v["roleRef"]["name"] = r.into();
            }
            v
        })
        .collect()
}

async fn code_of<T: std::fmt::Debug>(r: Result<T, kube::Error>) -> u16 {
    match r {
        Err(kube::Error::Api(s)) => s.code,
        other => panic!("expected an API error, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rbac_least_privilege_as_the_triage_service_account() {
    let test = "rbac_least_privilege_as_the_triage_service_account";
    let Some(mut fx) = Fx::new(test).await else {
        return;
    };
    let Some(sa) = kube_client(test, "triage.kubeconfig").await else {
        return;
    };
    let ns = fx.ns.clone();
    let sfx = nonce();
    let pp = PostParams::default();
    fx.pod(&ns, "app-1", &cid(1), json!({})).await;
    fx.pod(&ns, "app-2", &cid(2), json!({})).await;
    let hook = HttpDouble::start(|_| Canned::ok(json!({}))).await;
    let dir = tempfile::tempdir().unwrap();

    // No grant yet: the pod cannot even be read, so nothing destructive happens (fail closed).
    let w0 = TestWorker { kube: Some(sa.clone()), ..Default::default() }.build(&dir.path().join("w0"));
    let inc = incident(&w0, &alert("Terminal shell in container", "Notice", &ns, "app-1", &cid(1))).await;
    assert_eq!(inc.decision.action, Action::Escalate);
    assert!(inc.decision.reason.contains("could not be verified"), "{}", inc.decision.reason);

    // Read-only grant: the guard passes, the quarantine fails on 403 → escalated, not dropped.
    let ro: Role = serde_json::from_value(json!({"metadata": {"name": format!("ro-{sfx}")},
        "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]}]}))
    .unwrap();
    Api::<Role>::namespaced(fx.admin.clone(), &ns).create(&pp, &ro).await.unwrap();
    let rob: RoleBinding = serde_json::from_value(json!({"metadata": {"name": format!("ro-{sfx}")},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": format!("ro-{sfx}")},
        "subjects": [{"kind": "ServiceAccount", "name": "lanner-triage", "namespace": "lanner"}]}))
    .unwrap();
    Api::<RoleBinding>::namespaced(fx.admin.clone(), &ns).create(&pp, &rob).await.unwrap();
    let sa_pods: Api<Pod> = Api::namespaced(sa.clone(), &ns);
    let t = Instant::now();
    while let Err(e) = sa_pods.get("app-1").await {
        assert!(t.elapsed() < Duration::from_secs(15), "grant not effective: {e}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let w1 = TestWorker { kube: Some(sa.clone()), webhook: Some(json_webhook(&hook)), ..Default::default() }
        .build(&dir.path().join("w1"));
    let inc = incident(&w1, &alert("Terminal shell in container", "Notice", &ns, "app-1", &cid(1))).await;
    assert_eq!(inc.decision.action, Action::QuarantinePod);
    let np = inc.actions.iter().find(|s| s.step == "network_policy").unwrap();
    assert!(np.result == "failed" && np.detail.contains("403") && np.attempts == 1, "403 is not retried: {np:?}");
    let esc = inc.actions.iter().find(|s| s.step == "escalate").expect("failed action escalated");
    assert_eq!(esc.result, "success");
    assert!(hook.bodies()[0]["failure"].as_str().unwrap().contains("NetworkPolicy"), "{:?}", hook.bodies());
    Api::<RoleBinding>::namespaced(fx.admin.clone(), &ns)
        .delete(&format!("ro-{sfx}"), &Default::default())
        .await
        .unwrap();

    // The shipped RBAC (agent/triage-data/rbac.yaml), uniquely renamed.
    let lanner_ns: Namespace = serde_json::from_value(json!({"metadata": {"name": "lanner"}})).unwrap();
    let _ = Api::<Namespace>::all(fx.admin.clone()).create(&pp, &lanner_ns).await;
    for v in shipped_rbac(&sfx) {
        match v["kind"].as_str().unwrap() {
            "ClusterRole" => drop(
                Api::<ClusterRole>::all(fx.admin.clone())
                    .create(&pp, &serde_json::from_value(v).unwrap())
                    .await
                    .unwrap(),
            ),
            "ClusterRoleBinding" => drop(
                Api::<ClusterRoleBinding>::all(fx.admin.clone())
                    .create(&pp, &serde_json::from_value(v).unwrap())
                    .await
                    .unwrap(),
            ),
            "Role" => drop(
                Api::<Role>::namespaced(fx.admin.clone(), "lanner")
                    .create(&pp, &serde_json::from_value(v).unwrap())
                    .await
                    .unwrap(),
            ),
            "RoleBinding" => drop(
                Api::<RoleBinding>::namespaced(fx.admin.clone(), "lanner")
                    .create(&pp, &serde_json::from_value(v).unwrap())
                    .await
                    .unwrap(),
            ),
            k => panic!("unexpected kind {k} in rbac.yaml"),
        }
    }
    for (k, n) in [
        ("ClusterRole", "lanner-triage"),
        ("ClusterRoleBinding", "lanner-triage"),
        ("Role", "lanner-triage-leases"),
        ("RoleBinding", "lanner-triage-leases"),
    ] {
        fx.cleanup.push((k, format!("{n}-{sfx}"), Some("lanner".into())));
    }
    let sa_leases: Api<Lease> = Api::namespaced(sa.clone(), "lanner");
    let t = Instant::now();
    while sa_leases.list(&ListParams::default()).await.is_err() || sa_pods.get("app-2").await.is_err() {
        assert!(t.elapsed() < Duration::from_secs(15), "shipped RBAC not effective");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // Everything the actions need works as the service account, leases included.
    let leases = Leases::new(sa.clone(), "lanner", "replica-a", Duration::from_secs(60), fast_retry());
    let w2 =
        TestWorker { kube: Some(sa.clone()), leases: Some(leases), ..Default::default() }.build(&dir.path().join("w2"));
    let q = incident(&w2, &alert("Terminal shell in container", "Notice", &ns, "app-1", &cid(1))).await;
    assert_eq!(q.decision.action, Action::QuarantinePod);
    assert!(q.actions.iter().all(|s| s.result == "success"), "{:?}", q.actions);
    let d = incident(
        &w2,
        &alert("Redirect STDOUT/STDIN to Network Connection in Container", "Notice", &ns, "app-2", &cid(2)),
    )
    .await;
    assert_eq!(d.decision.action, Action::DeletePod);
    assert!(d.actions.iter().all(|s| s.result == "success"), "{:?}", d.actions);
    let lease = Api::<Lease>::namespaced(fx.admin.clone(), "lanner")
        .get(&super::lease::lease_name(&q.uuid))
        .await
        .expect("lease");
    assert_eq!(lease.metadata.annotations.unwrap()[super::lease::STATE_ANNOTATION], "done");

    // Anything else is forbidden.
    let dp = DeleteParams::default();
    assert_eq!(
        code_of(Api::<Secret>::namespaced(sa.clone(), &ns).list(&ListParams::default()).await).await,
        403,
        "list secrets"
    );
    assert_eq!(code_of(Api::<Secret>::namespaced(sa.clone(), &ns).get("x").await).await, 403, "get secret");
    assert_eq!(
        code_of(Api::<Deployment>::namespaced(sa.clone(), &ns).delete("web", &dp).await).await,
        403,
        "delete deployment"
    );
    assert_eq!(code_of(sa_pods.list(&ListParams::default()).await).await, 403, "list pods");
    assert_eq!(
        code_of(Api::<NetworkPolicy>::namespaced(sa.clone(), &ns).delete(NETPOL_NAME, &dp).await).await,
        403,
        "delete network policy"
    );
    let stray: Lease = serde_json::from_value(json!({"metadata": {"name": "stray"}})).unwrap();
    assert_eq!(
        code_of(Api::<Lease>::namespaced(sa.clone(), &ns).create(&pp, &stray).await).await,
        403,
        "leases outside lanner"
    );
    assert_eq!(code_of(Api::<Namespace>::all(sa.clone()).delete(&ns, &dp).await).await, 403, "delete namespace");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leases_let_one_replica_handle_each_alert() {
    let Some(fx) = Fx::new("leases_let_one_replica_handle_each_alert").await else {
        return;
    };
    let ns = fx.ns.clone();
    let a = Leases::new(fx.admin.clone(), &ns, "replica-a", Duration::from_secs(60), fast_retry());
    let b = Leases::new(fx.admin.clone(), &ns, "replica-b", Duration::from_secs(60), fast_retry());
    let u = uuid_v4_like();
    assert_eq!(a.claim(&u).await.unwrap(), Claim::Acquired);
    assert_eq!(b.claim(&u).await.unwrap(), Claim::HeldElsewhere { holder: "replica-a".into() });
    assert_eq!(a.claim(&u).await.unwrap(), Claim::Acquired, "the holder may resume its own alert");
    a.complete(&u, "quarantine_pod").await.unwrap();
    assert_eq!(b.claim(&u).await.unwrap(), Claim::Done { holder: "replica-a".into() });
    // A crashed holder's lease expires and is taken over.
    let short = Leases::new(fx.admin.clone(), &ns, "replica-c", Duration::from_secs(1), fast_retry());
    let u2 = uuid_v4_like();
    assert_eq!(short.claim(&u2).await.unwrap(), Claim::Acquired);
    tokio::time::sleep(Duration::from_millis(2300)).await;
    assert_eq!(b.claim(&u2).await.unwrap(), Claim::Acquired);
    let l = Api::<Lease>::namespaced(fx.admin.clone(), &ns).get(&super::lease::lease_name(&u2)).await.unwrap();
    assert_eq!(l.spec.unwrap().holder_identity.as_deref(), Some("replica-b"));
    // Two worker replicas, one alert: one incident.
    let dir = tempfile::tempdir().unwrap();
    let w1 = TestWorker { leases: Some(a.clone()), identity: Some("replica-a".into()), ..Default::default() }
        .build(&dir.path().join("1"));
    let w2 = TestWorker { leases: Some(b.clone()), identity: Some("replica-b".into()), ..Default::default() }
        .build(&dir.path().join("2"));
    let al = alert("Launch Suspicious Network Tool in Container", "Notice", &ns, "p", &cid(1));
    assert!(matches!(w1.handle(&al).await.unwrap(), Handled::Incident(_)));
    assert!(matches!(w2.handle(&al).await.unwrap(), Handled::AlreadyDone { ref holder } if holder == "replica-a"));
    // Garbage collection of old leases.
    let n = a.collect_garbage(Duration::ZERO).await.unwrap();
    assert_eq!(n, 3);
    assert!(Api::<Lease>::namespaced(fx.admin.clone(), &ns)
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .is_empty());
}
