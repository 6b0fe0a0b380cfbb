//! End-to-end pod enrichment: the real `lanner` binary against the real
//! kube-apiserver of `xtask/kube/kube.sh up`, authenticated as the agent's
//! service account with read access to pods only.
//!
//! Needs root (probes) and the API server's run dir (`$LANNER_KUBE_DIR`);
//! skips saying why otherwise. Alert-level checks (an alert from a process
//! in a kubelet-named cgroup carrying `k8s.pod.name`, `k8s.ns.name`, labels
//! and the container id) come with the pipeline integration.
use std::{path::Path, time::Duration};

use lanner_tests::{
    kube::{Kube, KubeAgent},
    require_root,
};

#[test]
fn agent_syncs_this_nodes_pods_as_its_service_account() {
    let Some((k, s)) = Kube::scratch("agent_syncs_this_nodes_pods_as_its_service_account", "e2e") else {
        return;
    };
    let (ns, node) = (s.ns.clone(), s.node.clone());
    let image = "ghcr.io/lanner/e2e:1.0";
    k.create_pod(&ns, "mine-1", &node, &[("app", "e2e")], image);
    k.create_pod(&ns, "mine-2", &node, &[("app", "e2e")], image);
    k.create_pod(&ns, "theirs", &format!("{node}-other"), &[("app", "e2e")], image);

    let mut agent = KubeAgent::start(
        &["--node-name", &node, "--pod-grace-ms", "0"],
        &[("KUBECONFIG", &k.agent_kubeconfig)],
        &["NODE_NAME", "KUBERNETES_SERVICE_HOST"],
    );
    let synced = agent.wait_for_log("pod cache synced", Duration::from_secs(30));
    let stderr = agent.stop();
    s.remove(&k);
    assert!(synced.contains("pods=2"), "only this node's two pods: {synced}");
    // The final counters line is numbers only: an `own: 403` there is a count of
    // the agent's own opens, not an HTTP status (it failed this test once).
    let complaints: Vec<&String> = stderr
        .iter()
        .filter(|l| !l.starts_with("{\"final_counters\""))
        .filter(|l| {
            l.contains("pod watch error") || l.contains("Forbidden") || has_word(l, "403") || has_word(l, "ERROR")
        })
        .collect();
    assert!(complaints.is_empty(), "the watch should run clean:\n{}", stderr.join("\n"));
}

#[test]
fn agent_without_kubernetes_says_so_once() {
    if !require_root("agent_without_kubernetes_says_so_once") {
        return;
    }
    // No config at all: one info line, no errors, and the agent runs.
    let mut agent = KubeAgent::start(
        &[],
        &[("KUBECONFIG", Path::new("/nonexistent/lanner/kubeconfig"))],
        &["NODE_NAME", "KUBERNETES_SERVICE_HOST", "KUBERNETES_SERVICE_PORT"],
    );
    agent.wait_for_log("pod metadata disabled", Duration::from_secs(10));
    std::thread::sleep(Duration::from_millis(500));
    let stderr = agent.stop();
    let k8s_lines: Vec<&String> = stderr.iter().filter(|l| l.contains("pod metadata") || l.contains("kube")).collect();
    assert_eq!(k8s_lines.len(), 1, "exactly one line about Kubernetes:\n{}", stderr.join("\n"));
    let k8s_related = |l: &&String| l.contains("k8s") || l.contains("kube") || l.contains("pod");
    let bad = stderr.iter().filter(|l| l.contains("WARN") || l.contains("ERROR")).filter(k8s_related).count();
    assert_eq!(bad, 0, "no warnings about Kubernetes:\n{}", stderr.join("\n"));

    // --no-k8s: the same, without even looking.
    let mut agent = KubeAgent::start(&["--no-k8s"], &[], &[]);
    agent.wait_for_log("pod metadata disabled (--no-k8s)", Duration::from_secs(10));
    let stderr = agent.stop();
    assert!(!stderr.iter().any(|l| l.contains("pod cache synced")));
}

/// `word` as a whole token of `line` (a timestamp such as `57.634035Z` does not hold `403`).
fn has_word(line: &str, word: &str) -> bool {
    line.split(|c: char| !c.is_ascii_alphanumeric()).any(|t| t == word)
}
