//! Response phase of the simulation: the triage worker (`lanner triage`) fed by the
//! agent's triage sink, the pod watched for quarantine / deletion, MTTA and MTTR
//! read from the worker's audit file (per incident: alert event time → decision
//! recorded, → response completed).
use std::{
    io::{BufRead, BufReader},
    path::PathBuf,
    process::{Child, Command, Stdio},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use anyhow::{Context as _, Result};
use serde_json::Value;

use super::{now_ns, Kube, NS, WORK};

pub struct Triage {
    child: Child,
    audit: PathBuf,
    /// Arguments that point `lanner run` at this worker.
    pub agent_args: Vec<String>,
    log: Arc<Mutex<Vec<String>>>,
    /// (admin kubeconfig, rbac.yaml) to delete when the worker stops.
    revoke: (PathBuf, String),
}

impl Drop for Triage {
    fn drop(&mut self) {
        let (admin, rbac) = &self.revoke;
        let kubectl = admin.with_file_name("bin").join("kubectl");
        if let Ok(mut c) = Command::new(kubectl)
            .args(["delete", "--ignore-not-found", "-f", "-"])
            .env("KUBECONFIG", admin)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
        {
            use std::io::Write as _;
            if let Some(mut i) = c.stdin.take() {
                let _ = i.write_all(rbac.as_bytes());
            }
            let _ = c.wait();
        }
    }
}

/// How `lanner run` is pointed at a triage worker, from its `--help`; `Err` says
/// what is missing.
fn agent_hook(help: &str, address: &str, token_file: &str, spool: &str) -> std::result::Result<Vec<String>, String> {
    // The flag set the agent exposes for its triage sink (see docs/protocol.md).
    if help.contains("--triage-addr") {
        let mut v = vec!["--triage-addr".to_string(), address.to_string()];
        if help.contains("--triage-token-file") {
            v.extend(["--triage-token-file".to_string(), token_file.to_string()]);
        }
        if help.contains("--spool-dir") {
            v.extend(["--spool-dir".to_string(), spool.to_string()]);
        }
        return Ok(v);
    }
    Err("`lanner run` has no triage sink option yet (agent/src/sinks is not wired into run.rs)".into())
}

/// Starts the worker when both halves exist; `Ok(Err(reason))` when they do not.
pub fn start(kube: &Kube) -> Result<std::result::Result<Triage, String>> {
    let bin = crate::lanner_bin();
    let has_worker =
        Command::new(&bin).args(["triage", "--help"]).output().map(|o| o.status.success()).unwrap_or(false);
    if !has_worker {
        return Ok(Err("the binary has no `lanner triage` subcommand yet".into()));
    }
    let help = Command::new(&bin).args(["run", "--help"]).output().context("lanner run --help")?;
    let help = String::from_utf8_lossy(&help.stdout).into_owned();
    let sock = format!("{WORK}/triage.sock");
    let token_file = format!("{WORK}/triage.token");
    let spool = format!("{WORK}/spool");
    let agent_args = match agent_hook(&help, &format!("unix://{sock}"), &token_file, &spool) {
        Ok(a) => a,
        Err(why) => return Ok(Err(why)),
    };
    std::fs::write(&token_file, format!("lnr-sim-{}\n", now_ns()))?;
    // The worker's RBAC (pods get/patch/delete, networkpolicies create, events, leases in `lanner`).
    kube.apply(r#"{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"lanner"}}"#)?;
    let rbac = std::fs::read_to_string(crate::root().join("agent/triage-data/rbac.yaml"))?;
    kube.apply(&rbac)?;
    // Take the grant back in `stop`: the API server may be shared with tests
    // that assert the service account has no access before they grant it.
    let revoke = (kube.admin.clone(), rbac.clone());
    let triage_kubeconfig = kube.admin.with_file_name("triage.kubeconfig");
    let audit = PathBuf::from(format!("{WORK}/audit.jsonl"));
    let mut cmd = Command::new(&bin);
    cmd.args(["triage", "--listen", &format!("unix://{sock}"), "--token-file", &token_file, "--metrics-addr", "off"])
        .arg("--audit-file")
        .arg(&audit)
        .args(["--reports-dir", &format!("{WORK}/reports")])
        .env("KUBECONFIG", &triage_kubeconfig)
        .env("LANNER_LOG", "info")
        .env_remove("LANNER_LLM_URL")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    eprintln!("xtask: {cmd:?}");
    let mut child = cmd.spawn().context("spawn lanner triage")?;
    let log = Arc::new(Mutex::new(Vec::new()));
    let l2 = log.clone();
    let err = child.stderr.take().expect("stderr");
    std::thread::spawn(move || {
        for line in BufReader::new(err).lines().map_while(Result::ok) {
            l2.lock().expect("log").push(line);
        }
    });
    let deadline = Instant::now() + Duration::from_secs(30);
    while !std::path::Path::new(&sock).exists() {
        if Instant::now() > deadline || child.try_wait()?.is_some() {
            let _ = child.kill();
            anyhow::bail!("lanner triage did not listen on {sock}:\n{}", log.lock().expect("log").join("\n"));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Ok(Ok(Triage { child, audit, agent_args, log, revoke }))
}

impl Triage {
    pub fn stop(mut self) {
        super::agent::interrupt(&mut self.child);
    }
}

/// `kubectl get pod -w --output-watch-events -o json`: every change of the victim pod.
pub struct PodWatch {
    child: Child,
    /// (read time ns, event type, labels)
    events: Arc<Mutex<Vec<(i128, String, Value)>>>,
}

impl PodWatch {
    pub fn start(kube: &Kube, pod: &str) -> Result<PodWatch> {
        let mut child = Command::new(&kube.kubectl)
            .arg("--kubeconfig")
            .arg(&kube.admin)
            .args(["-n", NS, "get", "pod", pod, "-w", "--output-watch-events", "-o", "json"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .context("kubectl watch")?;
        let out = child.stdout.take().expect("stdout");
        let events = Arc::new(Mutex::new(Vec::new()));
        let e2 = events.clone();
        std::thread::spawn(move || {
            for v in serde_json::Deserializer::from_reader(BufReader::new(out)).into_iter::<Value>() {
                let Ok(v) = v else { break };
                let ty = v.get("type").and_then(Value::as_str).unwrap_or("").to_string();
                let labels = v.pointer("/object/metadata/labels").cloned().unwrap_or(Value::Null);
                e2.lock().expect("events").push((now_ns(), ty, labels));
            }
        });
        Ok(PodWatch { child, events })
    }

    fn quarantined_at(&self) -> Option<i128> {
        self.events
            .lock()
            .expect("events")
            .iter()
            .find(|(_, _, l)| l.get("lanner.io/quarantine").and_then(Value::as_str) == Some("true"))
            .map(|e| e.0)
    }

    fn deleted_at(&self) -> Option<i128> {
        self.events.lock().expect("events").iter().find(|(_, t, _)| t == "DELETED").map(|e| e.0)
    }

    pub fn stop(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub struct Assessment {
    pub markdown: String,
    pub failure: Option<String>,
}

fn incidents(audit: &PathBuf, pod: &str) -> Vec<Value> {
    std::fs::read_to_string(audit)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v.get("record").and_then(Value::as_str) == Some("incident"))
        .filter(|v| v.pointer("/alert/output_fields/k8s.pod.name").and_then(Value::as_str) == Some(pod))
        .collect()
}

/// Waits for the worker's verdicts on the chain's alerts and checks the cluster.
pub fn assess(t: &mut Triage, w: &PodWatch, kube: &Kube, pod: &str) -> Result<Assessment> {
    // Every destructive decision of the default policy: terminal shell / token read →
    // quarantine_pod, reverse shell / miner → delete_pod.
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline && (w.quarantined_at().is_none() || w.deleted_at().is_none()) {
        std::thread::sleep(Duration::from_millis(200));
    }
    // Let the last incidents of the chain be recorded.
    std::thread::sleep(Duration::from_secs(2));
    let netpol = kube.kubectl(&["-n", NS, "get", "networkpolicy", "lanner-quarantine", "-o", "json"], None).ok();
    let netpol_ok = netpol
        .as_deref()
        .and_then(|s| serde_json::from_str::<Value>(s).ok())
        .and_then(|v| {
            v.pointer("/spec/podSelector/matchLabels/lanner.io~1quarantine")
                .and_then(Value::as_str)
                .map(|x| x == "true")
        })
        .unwrap_or(false);
    let inc = incidents(&t.audit, pod);
    let mut md = String::from(
        "### Response (triage worker, default policy, no LLM)\n\n| rule | decision | actions | MTTA ms | MTTR ms |\n|---|---|---|---|---|\n",
    );
    let (mut mtta, mut mttr) = (Vec::new(), Vec::new());
    for v in &inc {
        let rule = v.pointer("/alert/rule").and_then(Value::as_str).unwrap_or("?");
        let action = v
            .pointer("/decision/action")
            .map(|a| a.as_str().map(str::to_string).unwrap_or(a.to_string()))
            .unwrap_or_default();
        let steps: Vec<String> = v
            .get("actions")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .map(|s| {
                        format!(
                            "{}={}",
                            s.get("step").and_then(Value::as_str).unwrap_or("?"),
                            s.get("result").and_then(Value::as_str).unwrap_or("?")
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        let a = v.pointer("/timings/mtta_s").and_then(Value::as_f64).map(|x| x * 1e3);
        let r = v.pointer("/timings/mttr_s").and_then(Value::as_f64).map(|x| x * 1e3).filter(|x| *x > 0.0);
        mtta.extend(a);
        mttr.extend(r);
        let f = |x: Option<f64>| x.map(|x| format!("{x:.0}")).unwrap_or_else(|| "-".into());
        md.push_str(&format!("| {rule} | {action} | {} | {} | {} |\n", steps.join(", "), f(a), f(r)));
    }
    let med = |v: &mut Vec<f64>| {
        v.sort_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
        v.get(v.len() / 2).copied()
    };
    let q = w.quarantined_at();
    let d = w.deleted_at();
    md.push_str(&format!(
        "\nIncidents for the pod: {}. MTTA median {} ms, MTTR median {} ms (audit file timings: alert event time → decision \
         recorded / response completed). Pod quarantined (label `lanner.io/quarantine=true` seen): {}; NetworkPolicy \
         `lanner-quarantine` in `{NS}`: {}; pod deleted: {}.\n",
        inc.len(),
        med(&mut mtta).map(|x| format!("{x:.0}")).unwrap_or_else(|| "-".into()),
        med(&mut mttr).map(|x| format!("{x:.0}")).unwrap_or_else(|| "-".into()),
        if q.is_some() { "yes" } else { "no" },
        if netpol_ok { "yes" } else { "no" },
        if d.is_some() { "yes" } else { "no" },
    ));
    let mut failure = None;
    if inc.is_empty() {
        failure = Some(format!("no incident recorded for {pod}:\n{}", t.log.lock().expect("log").join("\n")));
    } else if q.is_none() || !netpol_ok || d.is_none() {
        failure = Some(format!(
            "expected quarantine (label + NetworkPolicy) then deletion; got label={} netpol={netpol_ok} deleted={}",
            q.is_some(),
            d.is_some()
        ));
    }
    Ok(Assessment { markdown: md, failure })
}
