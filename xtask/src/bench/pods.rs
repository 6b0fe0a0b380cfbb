//! (f) Agent memory with 1,000 pods cached, from a real kube-apiserver.
//!
//! Uses the test API server of `xtask/kube/kube.sh` (kube-apiserver + etcd
//! built from Debian sources; run dir `$LANNER_KUBE_DIR`, default
//! /tmp/lanner-kube): reused when it is already up, else started here (and
//! stopped again afterwards unless `LANNER_KEEP_INFRA` is set). 1,000 pods,
//! shaped like a Deployment's (labels, controller owner, two containers with
//! ports, env and resources), are created bound to a node name of our own;
//! their status is patched as a kubelet would report it (running, with
//! containerd ids), so the agent's container-id index fills too. Then
//! `lanner run --node-name <node>` runs as the agent's service account (pod
//! read-only RBAC), and once its `lanner_k8s_pods_cached` gauge on /metrics
//! shows all the pods, its VmRSS and RssAnon (at rest) and VmHWM (the peak,
//! reached during the first list) are read; the verdict is on the peak. The same
//! agent on a node without pods is measured first, which separates the fixed
//! cost of the Kubernetes client and watch from the per-pod cost. Pods,
//! namespace and RBAC are deleted afterwards. If the API server cannot be
//! started, the row says so.
use std::{
    io::{BufRead as _, BufReader},
    path::{Path, PathBuf},
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use anyhow::{bail, Context as _, Result};

use super::{
    agent::{Agent, Opts},
    mib, verdict, Report, Rss,
};

const PODS: usize = 1000;
const WHAT: &str = "agent RSS with 1,000 pods cached (real kube-apiserver, this node's pods watched)";

struct Kube {
    dir: PathBuf,
    server: String,
}

impl Kube {
    fn kubectl(&self, args: &[&str], stdin: Option<&str>) -> Result<String> {
        let bin = self.dir.join("bin/kubectl");
        let bin = if bin.exists() { bin } else { PathBuf::from("kubectl") };
        crate::simulate::env::kubectl(&bin, &self.dir.join("admin.kubeconfig"), args, stdin)
    }

    /// An admin API call with curl (kubectl 1.20 has no `--subresource`).
    fn curl(&self, method: &str, path: &str, content_type: &str, body: &str) -> Result<()> {
        let token = std::fs::read_to_string(self.dir.join("tokens/admin")).context("admin token")?;
        let out = Command::new("curl")
            .args(["-sS", "--fail-with-body", "-o", "/dev/null", "-X", method, "--cacert"])
            .arg(self.dir.join("pki/ca.crt"))
            .args(["-H", &format!("Authorization: Bearer {}", token.trim())])
            .args(["-H", &format!("Content-Type: {content_type}"), "--data-binary", body])
            .arg(format!("{}{path}", self.server))
            .output()
            .context("spawning curl")?;
        if !out.status.success() {
            bail!("{method} {path}: {}", String::from_utf8_lossy(&out.stderr).trim());
        }
        Ok(())
    }
}

/// A pod as a Deployment would make it, bound to `node`.
fn pod(ns: &str, i: usize, node: &str) -> serde_json::Value {
    let app = format!("svc-{:02}", i % 50);
    serde_json::json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {
            "name": format!("{app}-7d4b9c8f6d-{i:05}"), "namespace": ns,
            "labels": {"app.kubernetes.io/name": app, "app.kubernetes.io/part-of": "shop",
                       "app.kubernetes.io/version": "1.4.2", "pod-template-hash": "7d4b9c8f6d", "team": "payments"},
            "annotations": {"prometheus.io/scrape": "true", "prometheus.io/port": "9090"},
            "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": format!("{app}-7d4b9c8f6d"),
                                 "uid": format!("00000000-0000-4000-8000-{:012}", i % 50),
                                 "controller": true, "blockOwnerDeletion": true}]
        },
        "spec": {
            "nodeName": node,
            "containers": [
                {"name": "app", "image": format!("registry.example/shop/{app}:1.4.2"),
                 "ports": [{"containerPort": 8080, "name": "http"}, {"containerPort": 9090, "name": "metrics"}],
                 "env": [{"name": "LOG_LEVEL", "value": "info"}, {"name": "DB_HOST", "value": "postgres.shop.svc"},
                         {"name": "CACHE_URL", "value": "redis://redis.shop.svc:6379"}],
                 "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"memory": "256Mi"}}},
                {"name": "proxy", "image": "registry.example/mesh/proxy:1.20.1",
                 "ports": [{"containerPort": 15001}],
                 "resources": {"requests": {"cpu": "50m", "memory": "64Mi"}}}
            ]
        }
    })
}

/// The status a kubelet reports once both containers run.
fn running_status(i: usize) -> String {
    let app = format!("svc-{:02}", i % 50);
    let id = |c: usize| format!("{:064x}", (i as u128) << 8 | c as u128);
    serde_json::json!({"status": {"phase": "Running", "podIP": format!("10.244.{}.{}", i / 250, i % 250 + 2),
    "containerStatuses": [
        {"name": "app", "image": format!("registry.example/shop/{app}:1.4.2"), "imageID": "", "ready": true,
         "restartCount": 0, "containerID": format!("containerd://{}", id(1)), "state": {"running": {}}},
        {"name": "proxy", "image": "registry.example/mesh/proxy:1.20.1", "imageID": "", "ready": true,
         "restartCount": 0, "containerID": format!("containerd://{}", id(2)), "state": {"running": {}}}
    ]}})
    .to_string()
}

/// Runs `f(i)` for i in 0..n on `threads` threads; the first error.
fn parallel(n: usize, threads: usize, f: impl Fn(usize) -> Result<()> + Sync) -> Result<()> {
    std::thread::scope(|s| {
        let hs: Vec<_> = (0..threads)
            .map(|t| {
                let f = &f;
                s.spawn(move || (t..n).step_by(threads).try_for_each(f))
            })
            .collect();
        hs.into_iter().map(|h| h.join().expect("worker")).collect::<Result<Vec<()>>>().map(|_| ())
    })
}

/// The API server, started if needed; whether we started it.
fn api_server() -> Result<(Kube, bool)> {
    let dir = PathBuf::from(std::env::var("LANNER_KUBE_DIR").unwrap_or_else(|_| "/tmp/lanner-kube".into()));
    let port = std::env::var("LANNER_KUBE_PORT").unwrap_or_else(|_| "6443".into());
    let kube = Kube { dir, server: format!("https://127.0.0.1:{port}") };
    let status = Command::new("bash").args(["xtask/kube/kube.sh", "status"]).current_dir(crate::root()).output()?;
    if status.status.success() {
        eprintln!("bench: reusing the running kube-apiserver ({})", kube.dir.display());
        return Ok((kube, false));
    }
    eprintln!("bench: starting kube-apiserver + etcd (xtask/kube/kube.sh up)");
    // Its progress (a first build takes ~10 min) goes to our stderr as it comes.
    let mut child = Command::new("bash")
        .args(["xtask/kube/kube.sh", "up"])
        .current_dir(crate::root())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()?;
    let mut last = String::new();
    for l in BufReader::new(child.stderr.take().expect("stderr")).lines().map_while(Result::ok) {
        eprintln!("{l}");
        if l.contains("ERROR") || !last.contains("ERROR") {
            last = l;
        }
    }
    if !child.wait()?.success() {
        bail!("the API server could not be started: {}", last.trim());
    }
    Ok((kube, true))
}

/// The row's result text and the peak RSS (KiB) of the agent that cached the pods.
fn measure(kube: &Kube, bin: &Path, idle: Rss, settle: Duration) -> Result<(String, u64)> {
    let tag = format!("lanner-bench-{}", std::process::id());
    let (ns, node) = (tag.clone(), format!("{tag}-node"));
    kube.kubectl(
        &["apply", "-f", "-"],
        Some(&format!(
            r#"{{"apiVersion":"v1","kind":"List","items":[
               {{"apiVersion":"rbac.authorization.k8s.io/v1","kind":"ClusterRole","metadata":{{"name":"{tag}"}},
                 "rules":[{{"apiGroups":[""],"resources":["pods"],"verbs":["get","list","watch"]}}]}},
               {{"apiVersion":"rbac.authorization.k8s.io/v1","kind":"ClusterRoleBinding","metadata":{{"name":"{tag}"}},
                 "roleRef":{{"apiGroup":"rbac.authorization.k8s.io","kind":"ClusterRole","name":"{tag}"}},
                 "subjects":[{{"kind":"ServiceAccount","name":"lanner-agent","namespace":"lanner"}}]}},
               {{"apiVersion":"v1","kind":"Namespace","metadata":{{"name":"{ns}"}}}}]}}"#
        )),
    )?;
    // The Kubernetes client and watch alone: a node without pods.
    let (empty, _, _) = agent_on(kube, bin, &format!("{tag}-empty-node"), 0, settle)?;
    let t = Instant::now();
    let chunks = 4;
    parallel(chunks, chunks, |c| {
        let items: Vec<_> = (c..PODS).step_by(chunks).map(|i| pod(&ns, i, &node)).collect();
        let list = serde_json::json!({"apiVersion": "v1", "kind": "List", "items": items});
        kube.kubectl(&["create", "-o", "name", "-f", "-"], Some(&list.to_string())).map(|_| ())
    })?;
    let names: Vec<String> =
        (0..PODS).map(|i| pod(&ns, i, &node)["metadata"]["name"].as_str().unwrap().to_string()).collect();
    parallel(PODS, 8, |i| {
        let path = format!("/api/v1/namespaces/{ns}/pods/{}/status", names[i]);
        kube.curl("PATCH", &path, "application/merge-patch+json", &running_status(i))
    })?;
    eprintln!("bench: {PODS} pods created and marked running in {:.1} s", t.elapsed().as_secs_f64());

    let (with_pods, hwm, cached) = agent_on(kube, bin, &node, PODS, settle)?;
    if cached < PODS {
        bail!("the agent cached {cached} of {PODS} pods");
    }
    let text = format!(
        "peak {:.1} MiB during the first list (paginated); at rest {:.1} MiB ({:.1} MiB anon) {} s after \
         lanner_k8s_pods_cached={cached}: {:+.1} MiB vs idle without Kubernetes; Kubernetes on with 0 pods on the \
         node: {:.1} MiB ({:.1} MiB anon)",
        mib(hwm),
        mib(with_pods.rss),
        mib(with_pods.anon),
        settle.as_secs(),
        mib(with_pods.rss) - mib(idle.rss),
        mib(empty.rss),
        mib(empty.anon),
    );
    Ok((text, hwm))
}

/// `lanner run --node-name NODE` as the agent's service account: RSS and
/// VmHWM `settle` after the pod cache holds `expect` pods (its
/// `lanner_k8s_pods_cached` gauge; with 0 expected, after "pod cache synced"),
/// and how many pods it cached.
fn agent_on(kube: &Kube, bin: &Path, node: &str, expect: usize, settle: Duration) -> Result<(Rss, u64, usize)> {
    let agent_kc = kube.dir.join("agent.kubeconfig");
    let env: [(&str, &Path); 1] = [("KUBECONFIG", &agent_kc)];
    let mut agent = Agent::start_with(bin, Opts { args: &["--node-name", node], kube_env: Some(&env), stdout: false })?;
    if expect == 0 {
        agent.wait_for_log("pod cache synced", Duration::from_secs(120))?;
    }
    let deadline = Instant::now() + Duration::from_secs(120);
    let cached = loop {
        let n = agent.scrape().ok().and_then(|m| m.get("lanner_k8s_pods_cached")).unwrap_or(0.0) as usize;
        if n >= expect || Instant::now() >= deadline {
            break n;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    std::thread::sleep(settle); // let the list's transient buffers go
    let (r, hwm) = (agent.rss(), agent.hwm());
    if let Ok(l) = agent.wait_for_log("pod watch error", Duration::from_millis(1)) {
        eprintln!("bench: {l}");
    }
    agent.stop()?;
    eprintln!("bench: node {node}: {cached} pods cached, VmRSS {} KiB, RssAnon {} KiB, VmHWM {hwm} KiB", r.rss, r.anon);
    Ok((r, hwm, cached))
}

fn cleanup(kube: &Kube) {
    let tag = format!("lanner-bench-{}", std::process::id());
    // One deletecollection call; grace 0: there is no kubelet to confirm.
    let _ = kube.curl("DELETE", &format!("/api/v1/namespaces/{tag}/pods?gracePeriodSeconds=0"), "application/json", "");
    let _ = kube.kubectl(&["delete", "--ignore-not-found", "--wait=false", "namespace", &tag], None);
    let _ = kube.kubectl(&["delete", "--ignore-not-found", "clusterrolebinding,clusterrole", &tag], None);
}

pub fn run(rep: &mut Report, bin: &Path, idle: Rss, quick: bool) {
    let target = "≤ 64 MiB";
    let (kube, started) = match api_server() {
        Ok(k) => k,
        Err(e) => {
            eprintln!("bench: {e:#}");
            rep.row(WHAT, format!("not measured: {e:#}"), target, "missed: not measured");
            return;
        }
    };
    let r = measure(&kube, bin, idle, Duration::from_secs(if quick { 2 } else { 5 }));
    cleanup(&kube);
    if started && std::env::var_os("LANNER_KEEP_INFRA").is_none() {
        let _ = Command::new("bash").args(["xtask/kube/kube.sh", "down"]).current_dir(crate::root()).status();
    }
    match r {
        Ok((text, rss)) => {
            rep.row(WHAT, text, target, verdict(rss <= 64 * 1024, format!("by {:.1} MiB", mib(rss) - 64.0)));
        }
        Err(e) => {
            eprintln!("bench: 1,000-pod RSS failed: {e:#}");
            rep.row(WHAT, format!("not measured: {e:#}"), target, "missed: not measured");
        }
    }
}
