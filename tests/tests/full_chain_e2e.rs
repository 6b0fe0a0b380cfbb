//! The whole path, all real: kernel probes → agent (process table, cgroup →
//! container → pod from the real kube-apiserver) → default rules → triage
//! sink (msgpack over a unix socket, spool) → `lanner triage` with the real
//! local LLM (advise mode) → guarded policy → quarantine on the apiserver →
//! audit line, Markdown report, MTTA/MTTR metrics; and the agent's /metrics
//! agrees with what the test generated.
use std::{
    process::Stdio,
    time::{Duration, Instant},
};

use lanner_tests::{
    cgroup::{hex_id, FakeContainer},
    kube::{kube_dir, Kube},
    nonce, require_root,
    triage::{self, free_port, scrape},
    Agent, Keep,
};

fn metric(text: &str, line_prefix: &str) -> f64 {
    text.lines()
        .find(|l| l.starts_with(line_prefix))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no metric line starting with {line_prefix}"))
}

#[test]
fn shell_in_a_pod_is_detected_enriched_triaged_and_quarantined() {
    let test = "shell_in_a_pod_is_detected_enriched_triaged_and_quarantined";
    if !require_root(test) {
        return;
    }
    let admin = kube_dir().join("admin.kubeconfig");
    if !admin.exists() {
        triage::skip_real(test, &format!("no {} (xtask/kube/kube.sh up)", admin.display()));
        return;
    }
    let kube = Kube::require(test).expect("kube");
    let n = nonce();
    let ns = format!("chain-{n}");
    let node = format!("node-{n}");
    kube.create_namespace(&ns);
    let uid = kube.create_pod(&ns, "victim", &node, &[("app", "victim")], "registry.example/victim:1.0");
    let cid = hex_id(&n);
    kube.set_container_id(&ns, "victim", "registry.example/victim:1.0", &cid);
    let ctr = FakeContainer::create(&uid, &cid);

    let dir = std::env::temp_dir().join(format!("lanner-chain-{n}"));
    std::fs::create_dir_all(&dir).unwrap();
    let sock = dir.join("triage.sock");
    std::fs::write(dir.join("token"), "chain-token\n").unwrap();
    std::fs::write(
        dir.join("config.yaml"),
        format!("lease: {{namespace: {ns}}}\nkube: {{kubeconfig: {}}}\n", admin.display()),
    )
    .unwrap();
    let (wport, aport) = (free_port(), free_port());
    let (audit, reports) = (dir.join("audit.jsonl"), dir.join("reports"));
    let listen = format!("unix://{}", sock.display());
    let mut wargs = vec![
        "--config".to_string(),
        dir.join("config.yaml").display().to_string(),
        "--listen".into(),
        listen.clone(),
        "--token-file".into(),
        dir.join("token").display().to_string(),
        "--metrics-addr".into(),
        format!("127.0.0.1:{wport}"),
        "--audit-file".into(),
        audit.display().to_string(),
        "--reports-dir".into(),
        reports.display().to_string(),
    ];
    let llm = triage::llm_url();
    if let Some(u) = &llm {
        wargs.extend(["--llm-url".into(), u.clone()]);
    }
    let wargs: Vec<&str> = wargs.iter().map(String::as_str).collect();
    let worker = triage::Worker::start(&wargs, &[], &sock);

    // SAFETY: set before the agent is spawned; this test file has one test.
    unsafe { std::env::set_var("KUBECONFIG", &admin) };
    let token = dir.join("token").display().to_string();
    let spool = dir.join("spool").display().to_string();
    let maddr = format!("127.0.0.1:{aport}");
    let agent = Agent::start(
        &[
            "--node-name",
            &node,
            "--triage-addr",
            &listen,
            "--triage-token-file",
            &token,
            "--spool-dir",
            &spool,
            "--metrics-addr",
            &maddr,
        ],
        Keep::All,
    );
    std::thread::sleep(Duration::from_secs(1)); // pod cache sync (a late pod is also held)

    let t0 = Instant::now();
    let st = ctr
        .command("/bin/sh")
        .arg("-i")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(st.success());

    // The worker records the incident (with the LLM's analysis when reachable) and acts.
    let deadline = Instant::now() + Duration::from_secs(120);
    let incident = loop {
        let text = std::fs::read_to_string(&audit).unwrap_or_default();
        if let Some(l) =
            text.lines().find(|l| l.contains("\"record\":\"incident\"") && l.contains("Terminal shell in container"))
        {
            break l.to_string();
        }
        assert!(Instant::now() < deadline, "no incident in {} after 120 s", audit.display());
        std::thread::sleep(Duration::from_millis(200));
    };
    eprintln!("incident recorded {:.2} s after the shell started", t0.elapsed().as_secs_f64());
    let v: serde_json::Value = serde_json::from_str(&incident).expect("audit line is JSON");
    assert_eq!(v["alert"]["output_fields"]["k8s.pod.name"], "victim", "pod enrichment: {incident}");
    assert_eq!(v["alert"]["output_fields"]["k8s.ns.name"], ns.as_str());
    assert_eq!(v["alert"]["output_fields"]["container.id"], &cid[..12]);
    let labels = kube.kubectl(&["-n", &ns, "get", "pod", "victim", "-o", "jsonpath={.metadata.labels}"], None).unwrap();
    assert!(labels.contains("\"lanner.io/quarantine\":\"true\""), "quarantine label: {labels}\n{incident}");
    let np = kube
        .kubectl(&["-n", &ns, "get", "networkpolicy", "lanner-quarantine", "-o", "jsonpath={.spec.policyTypes}"], None)
        .unwrap();
    assert!(np.contains("Ingress") && np.contains("Egress"), "{np}");
    assert!(std::fs::read_dir(&reports).unwrap().count() >= 1, "a Markdown report");

    let wm = scrape(&format!("127.0.0.1:{wport}"));
    assert!(metric(&wm, "lanner_triage_mtta_seconds_count") >= 1.0, "{wm}");
    assert!(metric(&wm, "lanner_triage_mttr_seconds_count") >= 1.0);
    let am = scrape(&maddr);
    assert!(metric(&am, "lanner_events_total{type=\"exec\"}") >= 1.0, "{am}");
    assert!(
        metric(&am, "lanner_rule_matches_total{rule=\"Terminal shell in container\",priority=\"Warning\"}") >= 1.0,
        "{am}"
    );
    assert!(metric(&am, "lanner_sink_sent_total{sink=\"triage\"}") >= 1.0, "{am}");

    let out = agent.stop();
    drop(ctr);
    out.assert_accounting();
    let alert = out
        .events
        .iter()
        .find(|e| e["rule"] == "Terminal shell in container" && e["output_fields"]["container.id"] == cid[..12])
        .expect("alert on stdout too");
    assert_eq!(alert["output_fields"]["k8s.pod.name"], "victim");
    assert!(worker.stop().success());
    kube.delete(&["namespace", &ns]);
    let _ = std::fs::remove_dir_all(&dir);
}
