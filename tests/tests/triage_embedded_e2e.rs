//! Single-node mode: `lanner run --triage-embedded` triages its own alerts
//! in-process. A real /etc/shadow read on the host must produce one incident
//! in the audit file; with no pod to act on, the guard turns the policy's
//! quarantine into an escalation (never a silent drop).
use std::{
    process::Stdio,
    time::{Duration, Instant},
};

use lanner_tests::{nonce, require_root, Agent, Keep};

#[test]
fn embedded_worker_records_an_incident_for_a_real_alert() {
    if !require_root("embedded_worker_records_an_incident_for_a_real_alert") {
        return;
    }
    let dir = std::env::temp_dir().join(format!("lanner-embedded-{}", nonce()));
    std::fs::create_dir_all(&dir).unwrap();
    let audit = dir.join("audit.jsonl");
    let cfg = dir.join("worker.yaml");
    std::fs::write(
        &cfg,
        format!(
            "kube: {{enabled: false}}\nrecords: {{audit_file: {}, reports_dir: {}}}\n",
            audit.display(),
            dir.join("reports").display()
        ),
    )
    .unwrap();
    let agent = Agent::start(
        &["--no-k8s", "--metrics-addr", "off", "--triage-embedded", "--triage-config", cfg.to_str().unwrap()],
        Keep::All,
    );
    let st = std::process::Command::new("/bin/cat").arg("/etc/shadow").stdout(Stdio::null()).status().unwrap();
    assert!(st.success());
    let deadline = Instant::now() + Duration::from_secs(60);
    let line = loop {
        let text = std::fs::read_to_string(&audit).unwrap_or_default();
        if let Some(l) = text.lines().find(|l| l.contains("Read sensitive file untrusted") && l.contains("/etc/shadow"))
        {
            break l.to_string();
        }
        assert!(Instant::now() < deadline, "no incident in {}", audit.display());
        std::thread::sleep(Duration::from_millis(100));
    };
    let out = agent.stop();
    out.assert_accounting();
    let v: serde_json::Value = serde_json::from_str(&line).unwrap();
    assert_eq!(v["decision"]["action"], "escalate", "{line}");
    assert_eq!(v["decision"]["source"], "guard-override", "{line}");
    assert!(std::fs::read_dir(dir.join("reports")).unwrap().count() >= 1, "a Markdown report");
    let _ = std::fs::remove_dir_all(&dir);
}
