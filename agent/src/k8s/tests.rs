//! Integration tests of pod enrichment against the real kube-apiserver from
//! `xtask/kube/kube.sh up` (run dir `$LANNER_KUBE_DIR`, default
//! /tmp/lanner-kube). They skip, saying why, only when that directory has no
//! `admin.kubeconfig`; the cgroup part also needs root (CI has both).
//!
//! Each test makes its own namespace, a ClusterRole granting the agent's
//! service account (`system:serviceaccount:lanner:lanner-agent`, token in
//! `agent.kubeconfig`) get/list/watch on pods only, and a fake node name, so
//! tests run in parallel without seeing each other's pods. Without kubelet,
//! pods are created with `spec.nodeName` set and runtime state is faked
//! through the status subresource.
use std::{
    path::PathBuf,
    sync::Arc,
    time::{Duration, Instant},
};

use k8s_openapi::api::{
    core::v1::{Namespace, Pod, Secret},
    rbac::v1::{ClusterRole, ClusterRoleBinding},
};
use kube::{
    api::{DeleteParams, Patch, PatchParams, PostParams},
    config::{KubeConfigOptions, Kubeconfig},
    Api, Client, Config,
};
use serde_json::json;

use super::{
    cache::PodCache,
    cgroup::{CgroupResolver, ResolverConfig},
    enrich::Enricher,
    testutil::{unique, KubeletCgroup},
    watch::watch_pods,
};

fn kube_dir() -> PathBuf {
    PathBuf::from(std::env::var("LANNER_KUBE_DIR").unwrap_or_else(|_| "/tmp/lanner-kube".into()))
}

/// The admin kubeconfig, or `None` after printing why the test skips.
fn admin_kubeconfig(test: &str) -> Option<PathBuf> {
    let p = kube_dir().join("admin.kubeconfig");
    if p.exists() {
        Some(p)
    } else {
        eprintln!("SKIP {test}: no {} (start the API server: xtask/kube/kube.sh up)", p.display());
        None
    }
}

async fn client(kubeconfig: &std::path::Path) -> Client {
    let kc = Kubeconfig::read_from(kubeconfig).unwrap_or_else(|e| panic!("{}: {e}", kubeconfig.display()));
    let cfg = Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default()).await.expect("kubeconfig");
    Client::try_from(cfg).expect("client")
}

async fn eventually(what: &str, timeout: Duration, mut f: impl FnMut() -> bool) {
    let t = Instant::now();
    while !f() {
        assert!(t.elapsed() < timeout, "timed out after {timeout:?} waiting for: {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A namespace, an RBAC grant for the agent and a node name, removed on drop.
struct Fixture {
    admin: Client,
    agent: Client,
    ns: String,
    rbac: String,
    node: String,
    admin_path: PathBuf,
}

impl Fixture {
    async fn new(admin_path: PathBuf, tag: &str) -> Fixture {
        let admin = client(&admin_path).await;
        let agent = client(&kube_dir().join("agent.kubeconfig")).await;
        let name = unique(tag).replace('_', "-");
        let (ns, rbac, node) = (format!("lanner-{name}"), format!("lanner-test-pods-{name}"), format!("node-{name}"));
        let pp = PostParams::default();
        let nso: Namespace = serde_json::from_value(json!({"metadata": {"name": ns}})).unwrap();
        Api::<Namespace>::all(admin.clone()).create(&pp, &nso).await.expect("create namespace");
        let role: ClusterRole = serde_json::from_value(json!({
            "metadata": {"name": rbac},
            "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list", "watch"]}]
        }))
        .unwrap();
        Api::<ClusterRole>::all(admin.clone()).create(&pp, &role).await.expect("create ClusterRole");
        let binding: ClusterRoleBinding = serde_json::from_value(json!({
            "metadata": {"name": rbac},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": rbac},
            "subjects": [{"kind": "ServiceAccount", "name": "lanner-agent", "namespace": "lanner"}]
        }))
        .unwrap();
        Api::<ClusterRoleBinding>::all(admin.clone()).create(&pp, &binding).await.expect("create ClusterRoleBinding");
        let f = Fixture { admin, agent, ns, rbac, node, admin_path };
        // The RBAC authorizer's cache follows within a moment.
        let pods: Api<Pod> = Api::namespaced(f.agent.clone(), &f.ns);
        let t = Instant::now();
        while let Err(e) = pods.list(&Default::default()).await {
            assert!(t.elapsed() < Duration::from_secs(15), "agent still cannot list pods: {e}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        f
    }

    fn pods(&self) -> Api<Pod> {
        Api::namespaced(self.admin.clone(), &self.ns)
    }

    /// A pod bound to `node` (as the scheduler would), with labels and a controller owner.
    async fn create_pod(&self, name: &str, node: &str) -> Pod {
        let pod: Pod = serde_json::from_value(json!({
            "metadata": {
                "name": name,
                "labels": {"app": "checkout", "lanner.dev/test": name},
                "ownerReferences": [{
                    "apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "checkout-5f7b8c9d4",
                    "uid": "0b5e3a9c-7d1f-4e2a-9c3b-111111111111", "controller": true
                }]
            },
            "spec": {
                "nodeName": node,
                "containers": [{"name": "app", "image": "ghcr.io/lanner/checkout:1.4.2"}]
            }
        }))
        .unwrap();
        self.pods().create(&PostParams::default(), &pod).await.expect("create pod")
    }

    /// What the kubelet would report once the container runs.
    async fn set_container_id(&self, name: &str, id: &str) {
        let status = json!({"status": {"phase": "Running", "containerStatuses": [{
            "name": "app", "image": "ghcr.io/lanner/checkout:1.4.2", "imageID": "", "ready": true,
            "restartCount": 0, "containerID": format!("containerd://{id}"),
            "state": {"running": {"startedAt": "2026-11-23T12:00:00Z"}}
        }]}});
        self.pods().patch_status(name, &PatchParams::default(), &Patch::Merge(&status)).await.expect("patch status");
    }

    async fn delete_pod(&self, name: &str) {
        let dp = DeleteParams { grace_period_seconds: Some(0), ..Default::default() };
        self.pods().delete(name, &dp).await.expect("delete pod");
    }

    /// A pod cache fed by a watch running as the agent.
    async fn watched_cache(&self) -> PodCache {
        let cache = PodCache::new(Duration::ZERO);
        tokio::spawn(watch_pods(self.agent.clone(), self.node.clone(), cache.clone()));
        assert!(cache.wait_synced(Duration::from_secs(20)).await, "pod cache never synced");
        cache
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        // A fresh client on a fresh runtime: the test's runtime may be unwinding.
        let (path, ns, rbac) = (self.admin_path.clone(), self.ns.clone(), self.rbac.clone());
        let cleanup = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            rt.block_on(async {
                let admin = client(&path).await;
                let dp = DeleteParams { grace_period_seconds: Some(0), ..Default::default() };
                let pods: Api<Pod> = Api::namespaced(admin.clone(), &ns);
                let _ = pods.delete_collection(&dp, &Default::default()).await;
                let _ = Api::<ClusterRoleBinding>::all(admin.clone()).delete(&rbac, &dp).await;
                let _ = Api::<ClusterRole>::all(admin.clone()).delete(&rbac, &dp).await;
                // Stays Terminating without a namespace controller; harmless.
                let _ = Api::<Namespace>::all(admin).delete(&ns, &dp).await;
            });
        });
        let _ = cleanup.join();
    }
}

fn container_id(seed: &str) -> String {
    use std::hash::{BuildHasher, Hasher};
    let mut out = String::new();
    for i in 0..4u64 {
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write(seed.as_bytes());
        h.write_u64(i);
        out.push_str(&format!("{:016x}", h.finish()));
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pod_cache_follows_the_api_server_as_the_agent() {
    let Some(admin) = admin_kubeconfig("pod_cache_follows_the_api_server_as_the_agent") else {
        return;
    };
    let f = Fixture::new(admin, "cache").await;
    let cache = f.watched_cache().await;

    // Another node's pod must never reach this node's cache.
    let other = f.create_pod("elsewhere", &format!("{}-other", f.node)).await;
    let pod = f.create_pod("checkout-5f7b8c9d4-abcde", &f.node).await;
    let uid = pod.metadata.uid.clone().unwrap();
    eventually("pod cached by UID", Duration::from_secs(10), || cache.by_uid(&uid).is_some()).await;
    let meta = cache.by_uid(&uid).unwrap();
    assert_eq!((meta.ns.as_str(), meta.name.as_str()), (f.ns.as_str(), "checkout-5f7b8c9d4-abcde"));
    assert_eq!(meta.labels.get("app").map(String::as_str), Some("checkout"));
    assert_eq!(
        (meta.owner_kind.as_deref(), meta.owner_name.as_deref()),
        (Some("ReplicaSet"), Some("checkout-5f7b8c9d4"))
    );
    assert_eq!(meta.node.as_deref(), Some(f.node.as_str()));
    assert_eq!(meta.containers[0].id, None, "no status yet");

    // An alert for the container arrives before the kubelet's status: hold it.
    let id = container_id(&uid);
    let c2 = cache.clone();
    let id2 = id.clone();
    let hold = tokio::spawn(async move { c2.wait_for_container(&id2, Duration::from_secs(10)).await });
    tokio::time::sleep(Duration::from_millis(200)).await;
    f.set_container_id("checkout-5f7b8c9d4-abcde", &id).await;
    let held = hold.await.unwrap().expect("hold ends with the pod");
    assert_eq!(held.uid, uid);
    let c = held.container(&id).expect("container by id");
    assert_eq!((c.name.as_str(), c.image_repository.as_str()), ("app", "ghcr.io/lanner/checkout"));
    assert_eq!(cache.by_container(&id).unwrap().name, "checkout-5f7b8c9d4-abcde");
    assert!(cache.by_uid(other.metadata.uid.as_deref().unwrap()).is_none(), "field selector spec.nodeName");

    // Deleted (grace period 0): the cache (grace 0) forgets it.
    f.delete_pod("checkout-5f7b8c9d4-abcde").await;
    eventually("pod forgotten", Duration::from_secs(10), || cache.by_uid(&uid).is_none()).await;
    assert!(cache.by_container(&id).is_none());

    // Least privilege: anything but reading pods is refused.
    let secrets: Api<Secret> = Api::namespaced(f.agent.clone(), &f.ns);
    match secrets.list(&Default::default()).await {
        Err(kube::Error::Api(s)) => assert_eq!(s.code, 403, "{s:?}"),
        other => panic!("agent listing secrets: expected 403, got {other:?}"),
    }
    let agent_pods: Api<Pod> = Api::namespaced(f.agent.clone(), &f.ns);
    match agent_pods.delete("elsewhere", &DeleteParams::default()).await {
        Err(kube::Error::Api(s)) => assert_eq!(s.code, 403, "{s:?}"),
        other => panic!("agent deleting a pod: expected 403, got {other:?}"),
    }
    let s = cache.stats();
    assert!(s.synced && s.enabled);
    assert_eq!((s.lists, s.watch_restarts, s.watch_errors), (1, 0, 0), "{s:?}");
    assert_eq!((s.holds, s.hold_hits, s.hold_misses), (1, 1, 0), "{s:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn enricher_maps_a_real_process_to_its_pod() {
    let Some(admin) = admin_kubeconfig("enricher_maps_a_real_process_to_its_pod") else {
        return;
    };
    let f = Fixture::new(admin, "enrich").await;
    let cache = f.watched_cache().await;
    let pod = f.create_pod("payments-6c9d-xyz12", &f.node).await;
    let uid = pod.metadata.uid.clone().unwrap();
    let id = container_id(&uid);
    let Some(cg) = KubeletCgroup::create("enricher_maps_a_real_process_to_its_pod", &uid.replace('-', "_"), &id) else {
        return;
    };
    eventually("pod cached", Duration::from_secs(10), || cache.by_uid(&uid).is_some()).await;

    let enricher = Arc::new(Enricher::new(
        Some(CgroupResolver::new(ResolverConfig::default()).expect("cgroup2 mount")),
        cache.clone(),
        Duration::from_secs(10),
    ));
    // Container running, status not reported yet: the pod is known by UID only, so hold.
    let early = enricher.lookup(cg.pid(), cg.cgroup_id).expect("a container");
    assert_eq!(early.container_id, id);
    assert_eq!(early.pod_uid.as_deref(), Some(uid.as_str()));
    assert_eq!(early.pod.as_ref().map(|p| p.name.as_str()), Some("payments-6c9d-xyz12"));
    assert_eq!(early.container_name, None);
    assert!(enricher.should_hold(&early));
    let e2 = enricher.clone();
    let held = tokio::spawn(async move { e2.complete(early).await });
    tokio::time::sleep(Duration::from_millis(200)).await;
    f.set_container_id("payments-6c9d-xyz12", &id).await;
    let info = held.await.unwrap();
    assert_eq!(info.container_name.as_deref(), Some("app"));

    // Now the plain lookup has everything.
    let info = enricher.lookup(cg.pid(), cg.cgroup_id).expect("a container");
    let p = info.pod.as_ref().expect("pod");
    assert_eq!((p.ns.as_str(), p.name.as_str(), p.uid.as_str()), (f.ns.as_str(), "payments-6c9d-xyz12", uid.as_str()));
    assert_eq!(p.labels.get("app").map(String::as_str), Some("checkout"));
    assert_eq!(info.container_id, id);
    assert_eq!(info.runtime, crate::container::Runtime::Containerd);
    assert_eq!(info.image_repository.as_deref(), Some("ghcr.io/lanner/checkout"));
    assert!(!enricher.should_hold(&info));
    // The agent's own process is not in a container here.
    let me = enricher.lookup(std::process::id(), 1);
    assert!(me.is_none_or(|c| c.container_id != id));
    let s = enricher.stats();
    assert_eq!(s.pods.hold_hits, 1, "{s:?}");
    // As root on a real cgroup2 mount the id resolves by file handle, no /proc read.
    let c = s.cgroups.unwrap();
    assert!(c.handle_resolved >= 1 && c.proc_resolved == 0, "{c:?}");
}

/// [`super::start`] as `lanner run` calls it: config from `KUBECONFIG`
/// (kube's `Config::infer`), or disabled quietly without one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn start_infers_the_config_or_disables_itself() {
    let Some(admin) = admin_kubeconfig("start_infers_the_config_or_disables_itself") else {
        return;
    };
    let f = Fixture::new(admin, "start").await;
    f.create_pod("pre-existing", &f.node).await;
    f.create_pod("on-another-node", &format!("{}-x", f.node)).await;
    // Only this test reads these variables in this binary (through `start`).
    std::env::set_var("KUBECONFIG", kube_dir().join("agent.kubeconfig"));
    let args = super::K8sArgs { node_name: Some(f.node.clone()), pod_grace_ms: 0, ..Default::default() };
    let pods = super::start(&args);
    assert!(pods.wait_synced(Duration::from_secs(20)).await, "never synced: {:?}", pods.stats());
    assert_eq!(pods.len(), 1);

    let off = super::start(&super::K8sArgs { no_k8s: true, ..Default::default() });
    assert!(!off.is_enabled());

    std::env::set_var("KUBECONFIG", "/nonexistent/lanner/kubeconfig");
    std::env::remove_var("KUBERNETES_SERVICE_HOST");
    let none = super::start(&super::K8sArgs { node_name: Some(f.node.clone()), ..Default::default() });
    eventually("cache disabled without a config", Duration::from_secs(10), || !none.is_enabled()).await;
    assert!(none.wait_for_container("0".repeat(64).as_str(), Duration::from_secs(30)).await.is_none());
    std::env::remove_var("KUBECONFIG");
}
