//! A pod that starts after the agent, on the real kube-apiserver of
//! `xtask/kube/kube.sh up`, as a real kubelet makes it happen: the pod's first
//! watch event has no container status; the kubelet publishes the container
//! id, name and image a moment later. Alerts of that container must carry
//! `container.name` and `container.image.repository`: the one raised before
//! the status (held per `--hold-ms`) and the ones after it. Also checked on
//! the same run: alerts' `hostname` is the node name, and /metrics has no
//! triage series without a triage sink.
//!
//! Needs root (probes, cgroups) and the API server's run dir; skips saying why
//! otherwise.
use std::{
    process::Stdio,
    time::{Duration, Instant},
};

use lanner_tests::{
    cgroup::{hex_id, FakeContainer},
    kube::{Kube, KubeAgent},
    triage::{free_port, scrape},
};
use serde_json::Value;

const IMAGE: &str = "registry.example/late/web:2.5";

/// An interactive shell (stdin at EOF: it exits at once) in the container.
fn shell(ctr: &FakeContainer, path: &str) {
    let st = ctr.command(path).arg("-i").stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null()).status();
    assert!(st.unwrap_or_else(|e| panic!("{path}: {e}")).success());
}

fn shell_alert<'a>(alerts: &'a [Value], cid: &str, proc_name: &str) -> &'a Value {
    let found: Vec<&Value> = alerts
        .iter()
        .filter(|a| a["rule"] == "Terminal shell in container")
        .filter(|a| a["output_fields"]["container.id"] == cid[..12] && a["output_fields"]["proc.name"] == proc_name)
        .collect();
    assert_eq!(found.len(), 1, "one shell alert of {proc_name} in our container; alerts:\n{alerts:#?}");
    found[0]
}

#[test]
fn pod_started_after_the_agent_gets_container_name_and_image_in_its_alerts() {
    let test = "pod_started_after_the_agent_gets_container_name_and_image_in_its_alerts";
    let Some((k, scratch)) = Kube::scratch(test, "late") else {
        return;
    };
    let (n, ns, node) = (scratch.n.clone(), scratch.ns.clone(), scratch.node.clone());
    let maddr = format!("127.0.0.1:{}", free_port());
    let mut agent = KubeAgent::start(
        &["--node-name", &node, "--pod-grace-ms", "0", "--hold-ms", "30000", "--metrics-addr", &maddr],
        &[("KUBECONFIG", &k.agent_kubeconfig)],
        &["NODE_NAME", "LANNER_HOSTNAME", "KUBERNETES_SERVICE_HOST"],
    );
    agent.wait_for_log("pod cache synced", Duration::from_secs(30));

    // The scheduler binds the pod: no status yet. Its container already runs.
    let uid = k.create_pod(&ns, "late-web", &node, &[("app", "late")], IMAGE);
    let cid = hex_id(&n);
    let ctr = FakeContainer::create(&uid, &cid);
    std::thread::sleep(Duration::from_secs(2)); // the pod's first watch event reaches the agent

    // 1. A shell before the kubelet's status update: its alert waits for it.
    let t0 = Instant::now();
    shell(&ctr, "/bin/sh");
    std::thread::sleep(Duration::from_secs(1));
    k.set_container_id(&ns, "late-web", IMAGE, &cid);
    // 2. A shell once the status is in: the container was seen without a name before.
    std::thread::sleep(Duration::from_secs(2));
    shell(&ctr, "/bin/bash");
    std::thread::sleep(Duration::from_secs(1));
    let metrics = scrape(&maddr);
    let (stderr, alerts) = agent.stop_with_alerts();
    let elapsed = t0.elapsed();
    drop(ctr);
    scratch.remove(&k);

    // The hold is 30 s so that kubectl under load cannot reach it: finishing earlier
    // means the alert was released by the status, not by the hold's end.
    assert!(elapsed < Duration::from_secs(30), "the held alert came with the status, not at the hold's end");
    for (proc_name, when) in [("sh", "before the pod's status"), ("bash", "after the pod's status")] {
        let a = shell_alert(&alerts, &cid, proc_name);
        let f = &a["output_fields"];
        assert_eq!(f["container.name"], "app", "container.name of the alert raised {when}: {a}");
        assert_eq!(f["container.image.repository"], "registry.example/late/web", "image, {when}: {a}");
        assert_eq!(f["k8s.pod.name"], "late-web", "{a}");
        assert_eq!(f["k8s.ns.name"], ns.as_str(), "{a}");
        assert_eq!(a["hostname"], node.as_str(), "alerts carry the node name: {a}");
    }
    assert!(
        stderr.iter().any(|l| l.contains("alerts carry this hostname") && l.contains(node.as_str())),
        "the hostname in use is logged:\n{}",
        stderr.join("\n")
    );

    // Without a triage sink, /metrics has no triage-only series.
    assert!(metrics.contains("lanner_sink_sent_total{sink=\"stdout\"}"), "{metrics}");
    let triage: Vec<&str> = metrics
        .lines()
        .filter(|l| !l.starts_with('#') && (l.starts_with("lanner_triage_") || l.starts_with("lanner_spool_")))
        .collect();
    assert!(triage.is_empty(), "triage-only series without a triage sink: {triage:?}");
}
