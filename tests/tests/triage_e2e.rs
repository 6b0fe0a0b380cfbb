//! End-to-end tests of `lanner triage` as a black box: the labelled eval set
//! through the CLI (policy path: 100%), `eval --llm` against the real local
//! model (contract only: every answer valid), and the worker serving the real
//! protocol on a unix socket while acting on a real kube-apiserver.
//!
//! Needs `cargo build --release -p lanner`, `xtask/llm/llm.sh up` and
//! `xtask/kube/kube.sh up`; without them the real-dependency tests fail with
//! a clear message unless `LANNER_SKIP_REAL=1`.
use std::path::PathBuf;

use lanner_tests::{kube::Kube, nonce, triage};
use serde_json::Value;

fn tmpdir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("lanner-triage-e2e-{tag}-{}", nonce()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn eval_policy_path_scores_100_percent() {
    let file = triage::repo_root().join("agent/triage-data/eval.yaml");
    let (ok, out, err) = triage::eval(&[file.to_str().unwrap(), "--json", "--min-accuracy", "100"], &[]);
    assert!(ok, "eval failed:\n{out}\n{err}");
    let r: Value = serde_json::from_str(&out).expect("JSON report");
    assert_eq!(r["mode"], "policy");
    assert!(r["overall"]["total"].as_u64().unwrap() >= 30, "{r}");
    assert_eq!(r["overall"]["correct"], r["overall"]["total"], "{out}");
    for action in ["delete_pod", "quarantine_pod", "escalate", "ignore"] {
        assert!(r["by_action"][action]["total"].as_u64().unwrap() > 0, "no {action} case");
    }
    assert!(r["by_source"]["guard-override"]["total"].as_u64().unwrap() > 0);
    // The human table prints accuracy per action and per source.
    let (ok, table, _) = triage::eval(&[file.to_str().unwrap()], &[]);
    assert!(
        ok && table.contains("accuracy by expected action") && table.contains("accuracy by decision source"),
        "{table}"
    );
}

const SUBSET: &str = r#"cases:
  - name: shell
    alert: {rule: Terminal shell in container, priority: Notice, tags: [T1059], output_fields: {k8s.ns.name: shop, k8s.pod.name: web-1, container.id: 3f2a9c1b7e44, proc.name: bash}}
    expect: {action: quarantine_pod}
  - name: miner
    alert: {rule: Detect crypto miners using the Stratum protocol, priority: Critical, tags: [T1496], output_fields: {k8s.ns.name: ci, k8s.pod.name: r-1, container.id: 4a5b6c7d8e9f, proc.name: xmrig}}
    expect: {action: delete_pod}
  - name: info
    alert: {rule: Container started, priority: Informational, output_fields: {k8s.ns.name: shop, k8s.pod.name: web-1, container.id: 3f2a9c1b7e44, proc.name: nginx}}
    expect: {action: ignore}
"#;

#[test]
fn eval_with_the_real_model_gets_valid_answers() {
    let Some(url) = triage::llm_url() else {
        triage::skip_real(
            "eval_with_the_real_model_gets_valid_answers",
            "no LLM at LANNER_LLM_URL (xtask/llm/llm.sh up)",
        );
        return;
    };
    let dir = tmpdir("llm");
    let f = dir.join("subset.yaml");
    std::fs::write(&f, SUBSET).unwrap();
    let model = std::env::var("LANNER_LLM_MODEL").unwrap_or_else(|_| "SmolLM2-135M-Instruct".into());
    let (ok, out, err) = triage::eval(
        &[f.to_str().unwrap(), "--llm", "--json", "--llm-timeout-secs", "120"],
        &[("LANNER_LLM_URL", &url), ("LANNER_LLM_MODEL", &model)],
    );
    assert!(ok, "eval --llm failed:\n{out}\n{err}");
    let r: Value = serde_json::from_str(&out).expect("JSON report");
    assert_eq!(r["mode"], "llm-advise");
    assert_eq!(r["llm_valid_answers"]["correct"], 3, "every answer fits the schema: {r}");
    // In advise mode the model never decides: the policy's accuracy is intact.
    assert_eq!(r["overall"]["correct"], 3, "{r}");
    assert!(r["by_source"].get("llm").is_none(), "{r}");
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn serve_acks_after_recording_and_quarantines_a_real_pod() {
    let test = "serve_acks_after_recording_and_quarantines_a_real_pod";
    let admin = lanner_tests::kube::kube_dir().join("admin.kubeconfig");
    if !admin.exists() {
        triage::skip_real(test, &format!("no {} (xtask/kube/kube.sh up)", admin.display()));
        return;
    }
    let kube = Kube::require(test).expect("kube");
    let ns = format!("triage-e2e-{}", nonce());
    kube.create_namespace(&ns);
    kube.create_pod(&ns, "web-1", "fake-node", &[("app", "web")], "registry.example/web:1");
    let cid = "ab".repeat(32);
    kube.set_container_id(&ns, "web-1", "registry.example/web:1", &cid);

    let dir = tmpdir("serve");
    let sock = dir.join("triage.sock");
    std::fs::write(dir.join("token"), "e2e-token\n").unwrap();
    std::fs::write(
        dir.join("config.yaml"),
        format!("lease: {{namespace: {ns}}}\nkube: {{kubeconfig: {}}}\n", admin.display()),
    )
    .unwrap();
    let port = triage::free_port();
    let metrics = format!("127.0.0.1:{port}");
    let listen = format!("unix://{}", sock.display());
    let (cfg, tok, audit, reports) =
        (dir.join("config.yaml"), dir.join("token"), dir.join("audit.jsonl"), dir.join("reports"));
    let w = triage::Worker::start(
        &[
            "--config",
            cfg.to_str().unwrap(),
            "--listen",
            &listen,
            "--token-file",
            tok.to_str().unwrap(),
            "--metrics-addr",
            &metrics,
            "--audit-file",
            audit.to_str().unwrap(),
            "--reports-dir",
            reports.to_str().unwrap(),
        ],
        &[],
        &sock,
    );
    assert!(triage::Client::connect(&sock, "wrong").is_err(), "a wrong token is refused");
    let mut c = triage::Client::connect(&sock, "e2e-token").expect("handshake");
    let uuid = "6f1c1a52-9d2e-4c55-8d7e-0123456789ab";
    let a = triage::alert("Terminal shell in container", "Notice", &ns, "web-1", &cid[..12], uuid);
    let secs = c.alert(1, &a);
    let incidents = |t: &str| t.lines().filter(|l| l.contains("\"record\":\"incident\"") && l.contains(uuid)).count();
    assert_eq!(incidents(&std::fs::read_to_string(&audit).unwrap()), 1, "recorded before the ack");
    eprintln!("alert acked in {secs:.2} s");
    let labels = kube.kubectl(&["-n", &ns, "get", "pod", "web-1", "-o", "jsonpath={.metadata.labels}"], None).unwrap();
    assert!(labels.contains("\"lanner.io/quarantine\":\"true\""), "{labels}");
    let np = kube
        .kubectl(&["-n", &ns, "get", "networkpolicy", "lanner-quarantine", "-o", "jsonpath={.spec.policyTypes}"], None)
        .unwrap();
    assert!(np.contains("Ingress") && np.contains("Egress"), "{np}");
    // A replay is acked without a second incident.
    c.alert(2, &a);
    assert_eq!(incidents(&std::fs::read_to_string(&audit).unwrap()), 1);
    let m = triage::scrape(&metrics);
    for want in [
        "lanner_triage_decisions_total{action=\"quarantine_pod\",source=\"policy\"} 1",
        "lanner_triage_mtta_seconds_count 1",
        "lanner_triage_mttr_seconds_count 1",
        "lanner_triage_actions_total{action=\"label_pod\",result=\"success\"} 1",
        "lanner_protocol_server_alerts_total{result=\"duplicate\"} 1",
    ] {
        assert!(m.contains(want), "{want}:\n{m}");
    }
    assert_eq!(std::fs::read_dir(&reports).unwrap().count(), 1);
    drop(c);
    let st = w.stop();
    assert!(st.success(), "lanner triage exited with {st}");
    kube.delete(&["namespace", &ns]);
    let _ = std::fs::remove_dir_all(dir);
}
