//! Helpers for end-to-end tests against the real kube-apiserver started by
//! `xtask/kube/kube.sh up` (run dir `$LANNER_KUBE_DIR`, default
//! /tmp/lanner-kube): admin `kubectl`, raw status patches (kubectl 1.20 has
//! no `--subresource`), RBAC for the agent's service account, and a `lanner
//! run` whose environment and live stderr the test controls (its stdout JSON
//! lines, the alerts, are handed back at the end).
//!
//! Tests skip (saying why) only when the run dir has no `admin.kubeconfig`.
use std::{
    io::{BufRead, BufReader, Write},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::{mpsc, Mutex, MutexGuard},
    thread::JoinHandle,
    time::{Duration, Instant},
};

/// One agent at a time in a test binary.
static KUBE_AGENT_LOCK: Mutex<()> = Mutex::new(());

pub fn kube_dir() -> PathBuf {
    PathBuf::from(std::env::var("LANNER_KUBE_DIR").unwrap_or_else(|_| "/tmp/lanner-kube".into()))
}

/// The test API server as its run dir describes it.
pub struct Kube {
    pub dir: PathBuf,
    pub admin_kubeconfig: PathBuf,
    /// `system:serviceaccount:lanner:lanner-agent` (no RBAC until a test grants some).
    pub agent_kubeconfig: PathBuf,
    pub server: String,
}

impl Kube {
    /// `None` after printing why, when the API server's run dir has no admin kubeconfig.
    pub fn require(test: &str) -> Option<Kube> {
        let dir = kube_dir();
        let admin = dir.join("admin.kubeconfig");
        if !admin.exists() {
            eprintln!("SKIP {test}: no {} (start the API server: xtask/kube/kube.sh up)", admin.display());
            return None;
        }
        let port = std::env::var("LANNER_KUBE_PORT").unwrap_or_else(|_| "6443".into());
        let server = std::env::var("LANNER_KUBE_SERVER").unwrap_or_else(|_| format!("https://127.0.0.1:{port}"));
        Some(Kube { agent_kubeconfig: dir.join("agent.kubeconfig"), admin_kubeconfig: admin, server, dir })
    }

    fn kubectl_bin(&self) -> PathBuf {
        let p = self.dir.join("bin/kubectl");
        if p.exists() {
            p
        } else {
            PathBuf::from("kubectl")
        }
    }

    /// `kubectl` as admin; `stdin` for `-f -`. Stdout, or stderr as the error.
    pub fn kubectl(&self, args: &[&str], stdin: Option<&str>) -> Result<String, String> {
        let mut child = Command::new(self.kubectl_bin())
            .arg("--kubeconfig")
            .arg(&self.admin_kubeconfig)
            .args(args)
            .stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("spawn kubectl: {e}"))?;
        if let Some(s) = stdin {
            child.stdin.take().unwrap().write_all(s.as_bytes()).map_err(|e| e.to_string())?;
        }
        let out = child.wait_with_output().map_err(|e| e.to_string())?;
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).into_owned())
        } else {
            Err(format!("kubectl {}: {}", args.join(" "), String::from_utf8_lossy(&out.stderr)))
        }
    }

    /// `kubectl apply -f -` of a JSON or YAML document; panics on failure.
    pub fn apply(&self, doc: &str) {
        self.kubectl(&["apply", "-f", "-"], Some(doc)).unwrap_or_else(|e| panic!("{e}"));
    }

    /// Grants the agent get/list/watch on pods (and nothing else) under `name`.
    pub fn grant_agent_pod_read(&self, name: &str) {
        self.apply(&format!(
            r#"{{"apiVersion":"rbac.authorization.k8s.io/v1","kind":"ClusterRole","metadata":{{"name":"{name}"}},
               "rules":[{{"apiGroups":[""],"resources":["pods"],"verbs":["get","list","watch"]}}]}}"#
        ));
        self.apply(&format!(
            r#"{{"apiVersion":"rbac.authorization.k8s.io/v1","kind":"ClusterRoleBinding","metadata":{{"name":"{name}"}},
               "roleRef":{{"apiGroup":"rbac.authorization.k8s.io","kind":"ClusterRole","name":"{name}"}},
               "subjects":[{{"kind":"ServiceAccount","name":"lanner-agent","namespace":"lanner"}}]}}"#
        ));
    }

    pub fn create_namespace(&self, ns: &str) {
        self.apply(&format!(r#"{{"apiVersion":"v1","kind":"Namespace","metadata":{{"name":"{ns}"}}}}"#));
    }

    /// A pod bound to `node` with `labels`, one container `app` running `image`; returns its UID.
    pub fn create_pod(&self, ns: &str, name: &str, node: &str, labels: &[(&str, &str)], image: &str) -> String {
        let labels: serde_json::Map<String, serde_json::Value> =
            labels.iter().map(|(k, v)| (k.to_string(), serde_json::Value::from(*v))).collect();
        let pod = serde_json::json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": ns, "labels": labels},
            "spec": {"nodeName": node, "containers": [{"name": "app", "image": image}]}
        });
        self.kubectl(&["create", "-o", "jsonpath={.metadata.uid}", "-f", "-"], Some(&pod.to_string()))
            .unwrap_or_else(|e| panic!("{e}"))
    }

    /// What the kubelet reports once container `app` runs: `containerID: containerd://<id>`.
    pub fn set_container_id(&self, ns: &str, pod: &str, image: &str, id: &str) {
        let patch = serde_json::json!({"status": {"phase": "Running", "containerStatuses": [{
            "name": "app", "image": image, "imageID": "", "ready": true, "restartCount": 0,
            "containerID": format!("containerd://{id}"), "state": {"running": {}}
        }]}});
        self.patch_status(ns, pod, &patch.to_string());
    }

    /// A merge patch on `pods/<pod>/status`, with the admin token.
    pub fn patch_status(&self, ns: &str, pod: &str, merge_patch: &str) {
        let token = std::fs::read_to_string(self.dir.join("tokens/admin")).expect("admin token");
        let out = Command::new("curl")
            .args(["-sS", "--fail-with-body", "-X", "PATCH", "--cacert"])
            .arg(self.dir.join("pki/ca.crt"))
            .args(["-H", &format!("Authorization: Bearer {}", token.trim())])
            .args(["-H", "Content-Type: application/merge-patch+json", "--data-binary", merge_patch])
            .arg(format!("{}/api/v1/namespaces/{ns}/pods/{pod}/status", self.server))
            .output()
            .expect("curl");
        assert!(
            out.status.success(),
            "status patch: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Deletes now (grace period 0); errors ignored (cleanup).
    pub fn delete(&self, args: &[&str]) {
        let mut a = vec!["delete", "--ignore-not-found", "--grace-period=0", "--force", "--wait=false"];
        a.extend_from_slice(args);
        let _ = self.kubectl(&a, None);
    }
}

/// What one test creates on the API server: a fresh nonce, a namespace, the
/// node name its pods are bound to, and the RBAC binding granting the agent
/// pod reads ([`Kube::scratch`]); [`Scratch::remove`] deletes them.
pub struct Scratch {
    pub n: String,
    pub ns: String,
    pub node: String,
    pub rbac: String,
}

impl Scratch {
    /// `lanner run` for this test's node with the rules in `rules`, as the
    /// agent's service account (metrics on `metrics`, `off` for none; alerts
    /// held up to 5 s for their pod), once its pod cache synced.
    pub fn agent(&self, k: &Kube, rules: &Path, metrics: &str) -> KubeAgent {
        let rules = rules.to_str().expect("UTF-8 path");
        let mut a = KubeAgent::start(
            &[
                "--node-name",
                &self.node,
                "--metrics-addr",
                metrics,
                "--pod-grace-ms",
                "0",
                "--hold-ms",
                "5000",
                "--rules",
                rules,
            ],
            &[("KUBECONFIG", &k.agent_kubeconfig)],
            &["NODE_NAME", "LANNER_HOSTNAME", "KUBERNETES_SERVICE_HOST"],
        );
        a.wait_for_log("pod cache synced", Duration::from_secs(30));
        a
    }

    pub fn remove(&self, k: &Kube) {
        k.delete(&["clusterrolebinding,clusterrole", &self.rbac]);
        k.delete(&["namespace", &self.ns]);
    }
}

impl Kube {
    /// Root and the API server (else `None`, after saying why), then a
    /// namespace `PREFIX-<nonce>`, node `node-PREFIX-<nonce>` and the agent's
    /// pod read access.
    pub fn scratch(test: &str, prefix: &str) -> Option<(Kube, Scratch)> {
        if !crate::require_root(test) {
            return None;
        }
        let k = Kube::require(test)?;
        let n = crate::nonce();
        let s = Scratch {
            ns: format!("{prefix}-{n}"),
            node: format!("node-{prefix}-{n}"),
            rbac: format!("lanner-e2e-{prefix}-{n}"),
            n,
        };
        k.grant_agent_pod_read(&s.rbac);
        k.create_namespace(&s.ns);
        Some((k, s))
    }
}

/// `lanner run` with a chosen environment, stderr followed live.
pub struct KubeAgent {
    child: Child,
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
    stderr: Option<JoinHandle<()>>,
    stdout: Option<JoinHandle<Vec<serde_json::Value>>>,
    _guard: MutexGuard<'static, ()>,
}

impl KubeAgent {
    /// Starts `lanner run <args>` with `env` on top of ours (stdout JSON lines
    /// kept for [`Self::stop_with_alerts`]) and waits for "lanner ready".
    pub fn start(args: &[&str], env: &[(&str, &Path)], env_remove: &[&str]) -> KubeAgent {
        let guard = KUBE_AGENT_LOCK.lock().unwrap_or_else(|e| e.into_inner());
        let mut cmd = Command::new(crate::lanner_bin());
        cmd.arg("run").args(args).env("LANNER_LOG", "info").stdout(Stdio::piped()).stderr(Stdio::piped());
        for k in env_remove {
            cmd.env_remove(k);
        }
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("spawn lanner");
        let err = child.stderr.take().unwrap();
        let out = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        let stderr = std::thread::spawn(move || {
            for line in BufReader::new(err).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let stdout = std::thread::spawn(move || {
            BufReader::new(out).lines().map_while(Result::ok).filter_map(|l| serde_json::from_str(&l).ok()).collect()
        });
        let mut a =
            KubeAgent { child, lines: rx, seen: Vec::new(), stderr: Some(stderr), stdout: Some(stdout), _guard: guard };
        a.wait_for_log("lanner ready", Duration::from_secs(60));
        a
    }

    /// The first stderr line containing `needle` (already seen or within `timeout`); panics otherwise.
    pub fn wait_for_log(&mut self, needle: &str, timeout: Duration) -> String {
        if let Some(l) = self.seen.iter().find(|l| l.contains(needle)) {
            return l.clone();
        }
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left.min(Duration::from_millis(200))) {
                Ok(l) => {
                    self.seen.push(l.clone());
                    if l.contains(needle) {
                        return l;
                    }
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    panic!("lanner exited before logging {needle:?}:\n{}", self.seen.join("\n"))
                }
            }
            if Instant::now() >= deadline {
                panic!("no {needle:?} on lanner's stderr after {timeout:?}:\n{}", self.seen.join("\n"));
            }
        }
    }

    /// SIGINT, wait; every stderr line.
    pub fn stop(self) -> Vec<String> {
        self.stop_with_alerts().0
    }

    /// SIGINT, wait; every stderr line and every JSON line of stdout (alerts).
    pub fn stop_with_alerts(mut self) -> (Vec<String>, Vec<serde_json::Value>) {
        // As `Agent::stop`: `lanner ready` can precede the SIGINT handler's registration
        // (tokio's ctrl_c registers when first polled).
        std::thread::sleep(Duration::from_millis(300));
        unsafe { libc::kill(self.child.id() as i32, libc::SIGINT) };
        let status = self.child.wait().expect("wait lanner");
        if let Some(h) = self.stderr.take() {
            let _ = h.join();
        }
        let alerts = self.stdout.take().map(|h| h.join().unwrap_or_default()).unwrap_or_default();
        self.seen.extend(self.lines.try_iter());
        assert!(status.success(), "lanner exited with {status}:\n{}", self.seen.join("\n"));
        (std::mem::take(&mut self.seen), alerts)
    }
}

impl Drop for KubeAgent {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
