//! `cargo xtask evtgen --falco-rules FILE...`: Falco's own rule files, loaded unchanged by
//! `lanner run`, against real behaviour. Loading them proves the rule language and field
//! names; this proves the fields' values: a Falco rule fires under Lanner only when the
//! values Lanner gives its fields on a real event (`proc.tty`, `proc.pname`,
//! `proc.is_exe_upper_layer`, `fd.nameraw`, `evt.arg.request`, `fd.sport`, ...) are the
//! ones Falco's engine would compute for the same event.
//!
//! The same kubelet-like pod and actions as the default pack's run ([`super::actions`]),
//! plus a few actions that perform what some Falco rules look for and no pack action does
//! ([`extra_actions`]: a shell on a pseudo-terminal under a process named like the
//! container runtime's shim, a binary dropped into an overlayfs upper layer and run, a
//! privileged pod with the host's root mounted, host processes for the rules that exclude
//! containers, ...).
//! [`EXPECT`] names, per Falco rule, the actions that must raise it; the run fails when one
//! of them does not. Every other rule Falco's files hold is listed with what fired it (or
//! nothing) and, where no action can perform it here, why ([`NO_ACTION`]). Writes
//! `docs/falco-detections.md`. The rule files are not part of this repository: pass a
//! checkout of falcosecurity/rules (`rules/falco_rules.yaml` and the others).
use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
    process::Command,
    time::{Duration, Instant},
};

use anyhow::{bail, Context as _, Result};

use super::{Action, Ctx};
use crate::simulate::{field, is_pod_alert, Agent, Pod};

mod actions;
use actions::{cleanup, extra_actions, hosts_add, prepare};

/// Falco rule → the actions (by name) that must raise it (for evtgen's pods, or for the
/// host actions' marked processes).
pub(crate) const EXPECT: &[(&str, &[&str])] = &[
    // falco_rules.yaml (stable)
    ("Directory traversal monitored file read", &["cat ../../etc/shadow"]),
    ("Read sensitive file trusted after startup", &["nginx reads /etc/shadow after 6 s"]),
    ("Read sensitive file untrusted", &["cat /etc/shadow"]),
    ("Run shell untrusted", &["nginx spawns sh", "postgres spawns sh"]),
    ("System user interactive", &["login as nobody"]),
    ("Terminal shell in container", &["sh on a pty under containerd-shim"]),
    ("Contact K8S API Server From Container", &["curl API server"]),
    ("Netcat Remote Code Execution in Container", &["nc -e reverse shell"]),
    ("Search Private Keys or Passwords", &["grep for private keys", "find id_rsa"]),
    ("Clear Log Activities", &["truncate /var/log file"]),
    ("Remove Bulk Data from Disk", &["shred -u"]),
    ("Create Symlink Over Sensitive Files", &["ln -s /etc/shadow"]),
    ("Create Hardlink Over Sensitive Files", &["ln /etc/shadow"]),
    ("Packet socket created in container", &["AF_PACKET socket"]),
    ("Redirect STDOUT/STDIN to Network Connection in Container", &["bash /dev/tcp shell"]),
    ("Linux Kernel Module Injection Detected", &["finit_module syscall"]),
    ("Detect release_agent File Container Escapes", &["write release_agent"]),
    ("PTRACE attached to process", &["ptrace attach"]),
    ("PTRACE anti-debug attempt", &["ptrace TRACEME"]),
    ("Find AWS Credentials", &["find .aws/credentials"]),
    ("Execution from /dev/shm", &["run from /dev/shm"]),
    ("Drop and execute new binary in container", &["drop and run in an overlay upper layer"]),
    ("Disallowed SSH Connection Non Standard Port", &["ssh to a public host on :443"]),
    ("Fileless execution via memfd_create", &["memfd exec"]),
    // falco-incubating_rules.yaml
    ("Schedule Cron Jobs", &["cron.d entry"]),
    ("Read ssh information", &["cat /home/*/.ssh/id_rsa"]),
    ("DB program spawned process", &["postgres spawns sh"]),
    ("Change thread namespace", &["nsenter into host netns"]),
    ("Change namespace privileges via unshare", &["unshare -U as uid 1000"]),
    ("System procs network activity", &["shell connects out"]),
    ("Program run with disallowed http proxy env", &["curl with HTTP_PROXY"]),
    ("Unexpected UDP Traffic", &["UDP to port 1337"]),
    ("Non sudo setuid", &["setuid(0) as uid 1000"]),
    ("Create files below dev", &["file in /dev"]),
    ("Contact EC2 Instance Metadata Service From Container", &["curl metadata service"]),
    ("Contact cloud metadata service from container", &["curl metadata service"]),
    ("Launch Package Management Process in Container", &["apt-get in pod"]),
    ("Launch Suspicious Network Tool in Container", &["nc -e reverse shell", "nmap scan", "nc -z probe"]),
    ("Delete or rename shell history", &["rm .bash_history", "truncate .zsh_history"]),
    ("Set Setuid or Setgid bit", &["chmod u+s", "chmod g+s"]),
    ("Launch Remote File Copy Tools in Container", &["scp out", "rsync out"]),
    ("Launch Ingress Remote File Copy Tools in Container", &["curl -o /tmp"]),
    ("Read environment variable from /proc files", &["cat /proc/PID/environ"]),
    ("Exfiltrating Artifacts via Kubernetes Control Plane", &["kubectl cp (tar under containerd-shim)"]),
    ("Adding ssh keys to authorized_keys", &["append /home/*/.ssh/authorized_keys"]),
    ("Potential Local Privilege Escalation via Environment Variables Misuse", &["GLIBC_TUNABLES env"]),
    ("Backdoored library loaded into SSHD (CVE-2024-3094)", &["sshd opens liblzma.so.5.6.1"]),
    ("BPF Program Not Profiled", &["bpf(BPF_PROG_LOAD)"]),
    // falco-sandbox_rules.yaml
    ("Update Package Repository", &["write /etc/apt/sources.list.d"]),
    ("Write below monitored dir", &["write /usr/local/bin"]),
    ("Write below etc", &["write /etc file", "cron.d entry", "sudoers.d drop-in"]),
    ("Detect crypto miners using the Stratum protocol", &["stratum URL"]),
    ("Kubernetes Client Tool Launched in Container", &["kubectl in pod"]),
    ("Sudo Potential Privilege Escalation", &["sudoedit -s 'x\\' as uid 1000"]),
    ("Unprivileged Delegation of Page Faults Handling to a Userspace Process", &["userfaultfd (uid 1000)"]),
    ("Polkit Local Privilege Escalation Vulnerability (CVE-2021-4034)", &["pkexec without arguments as uid 1000"]),
    ("Decoding Payload in Container", &["base64 -d | sh"]),
    ("Basic Interactive Reconnaissance", &["id on a terminal"]),
    ("Known Cryptominer Process Executed", &["xmrig"]),
    ("Web Server Spawned Shell", &["nginx spawns sh"]),
    ("Web Server Spawned Suspicious Child Process", &["nginx spawns sh"]),
    ("Reverse Shell from Web Server", &["nginx spawns a /dev/tcp shell"]),
    ("Write below binary dir", &["write /usr/bin/lnr-evtgen"]),
    ("Modify binary dirs", &["rm /usr/bin/lnr-evtgen"]),
    ("Mkdir binary dirs", &["mkdir /usr/bin/lnr-evtgen.d"]),
    ("Write below root", &["write /lnr-evtgen", "apt-get in pod"]),
    ("Write below rpm database", &["write /var/lib/rpm"]),
    ("Network Tool Executed During NPM Package Install", &["npm install runs nc"]),
    // the privileged pod
    ("Launch Privileged Container", &["privileged container starts (its pid 1)"]),
    ("Launch Excessively Capable Container", &["privileged container starts (its pid 1)"]),
    ("Launch Sensitive Mount Container", &["privileged container starts (its pid 1)"]),
    ("Debugfs Launched in Privileged Container", &["debugfs in the privileged pod"]),
    ("Mount Launched in Privileged Container", &["mount in the privileged pod"]),
    ("Privileged Container Device Access", &["read a block device"]),
    ("Container Access to Host Sensitive Paths", &["read /host/etc/shadow"]),
    ("Modify Shell Configuration File", &["python appends to ~/.bashrc"]),
    // on the host
    ("User mgmt binaries", &["useradd on the host"]),
    ("Launch Suspicious Network Tool on Host", &["nmap on the host", "nc -e on the host"]),
    ("Netcat/Socat Remote Code Execution on Host", &["nc -e on the host"]),
];

/// Falco rule → why no action can raise it: it cannot fire as Falco ships it.
pub(crate) const NO_ACTION: &[(&str, &str)] = &[
    (
        "Launch Disallowed Container",
        "never fires as Falco ships it: `allowed_containers` is `container.id exists`, every container \
         is allowed until a site lists its own",
    ),
    (
        "Network Connection outside Local Subnet",
        "scoped to the namespaces of the list `namespace_scope_network_only_subnet`, empty in Falco's file",
    ),
];

/// One rule of the loaded files, as `lanner rules check` lists it.
struct FalcoRule {
    name: String,
    at: String,
    state: String,
}

/// The rules of `files`, in order, from `lanner rules check` (which must load them).
fn list_rules(files: &[PathBuf]) -> Result<Vec<FalcoRule>> {
    let out = Command::new(crate::lanner_bin()).args(["rules", "check"]).args(files).output()?;
    if !out.status.success() {
        bail!("lanner rules check failed:\n{}", String::from_utf8_lossy(&out.stderr));
    }
    let v = parse_check(&String::from_utf8_lossy(&out.stdout));
    if v.is_empty() {
        bail!("lanner rules check listed no rules for {files:?}");
    }
    Ok(v)
}

/// The rule lines of `lanner rules check`'s table: name, `file:line:col` and state,
/// in columns two or more spaces apart.
fn parse_check(out: &str) -> Vec<FalcoRule> {
    let mut v = Vec::new();
    for l in out.lines() {
        let cols: Vec<&str> = l.split("  ").map(str::trim).filter(|c| !c.is_empty()).collect();
        if let [name, at, state] = cols[..] {
            if at.contains(".yaml:") {
                v.push(FalcoRule { name: name.into(), at: at.into(), state: state.into() });
            }
        }
    }
    v
}

pub(crate) fn run(files: &[PathBuf]) -> Result<()> {
    if !crate::is_root() {
        bail!("evtgen needs root (eBPF, cgroups, network namespaces)");
    }
    let t = Instant::now();
    if !crate::lanner_bin().exists() {
        crate::sh(crate::cargo().args(["build", "--release", "-p", "lanner"]))?;
    }
    let files: Vec<PathBuf> =
        files.iter().map(|f| f.canonicalize().with_context(|| format!("{}", f.display()))).collect::<Result<_>>()?;
    let rules = list_rules(&files)?;
    let mut table = super::actions();
    table.extend(extra_actions());
    let mut problems = Vec::new();
    for (rule, acts) in EXPECT {
        for a in *acts {
            if !table.iter().any(|x| x.name == *a) {
                problems.push(format!("EXPECT '{rule}': no action '{a}'"));
            }
        }
    }
    if !problems.is_empty() {
        bail!("{}", problems.join("\n"));
    }
    let args: Vec<String> = files.iter().map(|f| format!("--rules={}", f.display())).collect();
    cleanup();
    hosts_add()?;
    let r = super::with_kube(|kube| {
        super::in_pod(kube, &args, |kube, agent, pod| {
            prepare()?;
            let privileged = actions::privileged_pod(kube)?;
            play(agent, (pod, &privileged), &files, &rules, &table)
        })
    });
    cleanup();
    eprintln!("xtask: evtgen --falco-rules finished in {:.0} s", t.elapsed().as_secs_f64());
    r
}

/// The Falco rules raised for evtgen's pods since `mark` (with their priority: `with_prio`).
fn fired_as(agent: &Agent, pods: Pods, mark: usize, with_prio: bool) -> Vec<String> {
    let mut v: Vec<String> = agent.alerts.lock().expect("alerts")[mark..]
        .iter()
        .filter(|s| {
            is_pod_alert(&s.alert, pods.0)
                || is_pod_alert(&s.alert, pods.1)
                || field(&s.alert, "proc.cmdline").contains(actions::HOST_MARK)
        })
        .filter_map(|s| {
            let rule = s.alert.get("rule").and_then(|r| r.as_str())?;
            let prio = s.alert.get("priority").and_then(|r| r.as_str()).unwrap_or("?");
            Some(if with_prio { format!("{rule} [{prio}]") } else { rule.to_string() })
        })
        .collect();
    v.sort();
    v.dedup();
    v
}

fn fired(agent: &Agent, pods: Pods, mark: usize) -> Vec<String> {
    fired_as(agent, pods, mark, false)
}

/// The pod and the privileged pod.
type Pods<'a> = (&'a Pod, &'a Pod);

fn play(agent: &Agent, pods: Pods, files: &[PathBuf], rules: &[FalcoRule], table: &[Action]) -> Result<()> {
    let pod = pods.0;
    let mut main = pod.cmd("sleep", &["900"], None).spawn().context("pod main process")?;
    std::thread::sleep(Duration::from_millis(300));
    let ctx = Ctx { pod, main_pid: main.id(), privileged: Some(pods.1) };
    // Falco rule → actions that raised it; actions not observable here.
    let mut by_rule: BTreeMap<String, Vec<&'static str>> = BTreeMap::new();
    let mut skipped: BTreeMap<&'static str, String> = BTreeMap::new();
    for a in table {
        if let Some(why) = (a.unobservable)() {
            skipped.insert(a.name, why);
            continue;
        }
        let want: Vec<&str> = EXPECT.iter().filter(|(_, acts)| acts.contains(&a.name)).map(|(r, _)| *r).collect();
        let mark = agent.mark();
        (a.run)(&ctx).with_context(|| format!("action {:?}", a.name))?;
        // Wait for what the action must raise (or a short window when nothing is expected).
        let deadline = Instant::now() + Duration::from_millis(if want.is_empty() { 300 } else { 3000 });
        let mut got = fired(agent, pods, mark);
        while Instant::now() < deadline && !want.iter().all(|w| got.iter().any(|g| g == w)) {
            std::thread::sleep(Duration::from_millis(20));
            got = fired(agent, pods, mark);
        }
        std::thread::sleep(Duration::from_millis(150));
        got = fired(agent, pods, mark);
        eprintln!(
            "xtask: evtgen --falco-rules {:<40} {}",
            a.name,
            if got.is_empty() { "-".into() } else { got.join(", ") }
        );
        for r in got {
            by_rule.entry(r).or_default().push(a.name);
        }
    }
    std::thread::sleep(Duration::from_millis(500));
    let mark = agent.mark();
    super::benign::run(pod)?;
    std::thread::sleep(Duration::from_secs(2));
    let _ = main.kill();
    let _ = main.wait();
    let benign = fired_as(agent, pods, mark, true);
    report(files, rules, &by_rule, &skipped, &benign)
}

/// The verdict on one rule: the table cell and whether it is a failure.
fn verdict(
    rule: &FalcoRule,
    by_rule: &BTreeMap<String, Vec<&'static str>>,
    skipped: &BTreeMap<&'static str, String>,
) -> (String, String, bool) {
    if let Some((_, acts)) = EXPECT.iter().find(|(r, _)| *r == rule.name) {
        let run: Vec<&str> = acts.iter().copied().filter(|a| !skipped.contains_key(a)).collect();
        let missed: Vec<&str> =
            run.iter().copied().filter(|a| !by_rule.get(&rule.name).is_some_and(|v| v.contains(a))).collect();
        return if run.is_empty() {
            let why: Vec<&str> = acts.iter().filter_map(|a| skipped.get(a).map(String::as_str)).collect();
            (acts.join(", "), format!("not observable here: {}", why.join("; ")), false)
        } else if !missed.is_empty() {
            (acts.join(", "), format!("**MISSED** by {}", missed.join(", ")), true)
        } else {
            (acts.join(", "), "detected".into(), false)
        };
    }
    if let Some((_, why)) = NO_ACTION.iter().find(|(r, _)| *r == rule.name) {
        return ("—".into(), format!("no action: {why}"), false);
    }
    if !rule.state.starts_with("active") {
        return ("—".into(), "inactive".into(), false);
    }
    ("—".into(), "no action written for it yet".into(), false)
}

fn report(
    files: &[PathBuf],
    rules: &[FalcoRule],
    by_rule: &BTreeMap<String, Vec<&'static str>>,
    skipped: &BTreeMap<&'static str, String>,
    benign: &[String],
) -> Result<()> {
    let mut table = String::from("| rule | file:line | state | expected action(s) | fired by (all actions) | verdict |\n|---|---|---|---|---|---|\n");
    // Per file, in the order given: rules, active, detected, raised, missed, not
    // observable, no action possible here, no action yet.
    let mut per_file: Vec<(String, [usize; 8])> = Vec::new();
    let mut missed = Vec::new();
    for r in rules {
        let (expected, v, fail) = verdict(r, by_rule, skipped);
        let fired = by_rule.get(&r.name).map(|v| v.join(", ")).unwrap_or_default();
        let at = Path::new(&r.at).file_name().map(|f| f.to_string_lossy().into_owned()).unwrap_or_default();
        let at = at.rsplit_once(':').map(|(a, _)| a.to_string()).unwrap_or(at);
        let file = at.split(':').next().unwrap_or("").to_string();
        if per_file.last().is_none_or(|(f, _)| *f != file) {
            per_file.push((file, [0; 8]));
        }
        let c = &mut per_file.last_mut().expect("file").1;
        let active = r.state.starts_with("active");
        c[0] += 1;
        c[1] += usize::from(active);
        c[2] += usize::from(v == "detected");
        c[3] += usize::from(!fired.is_empty());
        c[4] += usize::from(fail);
        c[5] += usize::from(v.starts_with("not observable"));
        c[6] += usize::from(v.starts_with("no action:"));
        c[7] += usize::from(active && v.starts_with("no action written"));
        if fail {
            missed.push(format!("{}: {v}", r.name));
        }
        let state = if r.state.starts_with("active") { "active".into() } else { r.state.replace('|', "/") };
        table.push_str(&format!(
            "| {} | {at} | {state} | {expected} | {} | {v} |\n",
            r.name,
            if fired.is_empty() { "—" } else { &fired }
        ));
    }
    let mut summary = String::new();
    for (f, c) in &per_file {
        summary.push_str(&format!(
            "- `{f}`: {} rules, {} active; **{} detected by the real action written for them**, {} missed, \
             {} not observable on this host, {} that cannot fire as Falco ships them (why in the table), \
             {} without an action yet; {} raised by at least one action.\n",
            c[0], c[1], c[2], c[4], c[5], c[6], c[7], c[3]
        ));
    }
    summary.push_str(&format!(
        "- Benign phase (the default pack's benign workload, [detections.md](detections.md)): {}.\n",
        if benign.is_empty() {
            "no Falco rule fired".into()
        } else {
            format!("Falco's rules raised {}", benign.join(", "))
        }
    ));
    let mut sums = String::new();
    for f in files {
        let out = Command::new("sha256sum").arg(f).output()?;
        let sum = String::from_utf8_lossy(&out.stdout).split_whitespace().next().unwrap_or("?").to_string();
        sums.push_str(&format!(
            "`{}` (sha256 {})",
            f.file_name().unwrap_or_default().to_string_lossy(),
            &sum[..16.min(sum.len())]
        ));
        sums.push_str(if f == files.last().expect("files") { "" } else { ", " });
    }
    let date = Command::new("date").args(["-u", "+%Y-%m-%d %H:%M UTC"]).output()?.stdout;
    let kernel = Command::new("uname").arg("-r").output()?.stdout;
    let doc = format!(
        "# Falco's own rules against real behaviour\n\n\
         Generated by `cargo xtask evtgen --falco-rules FILE...` (as root; do not edit). Falco's rule files,\n\
         loaded unchanged by `lanner run`, watch the same kubelet-like pod and real actions as the default\n\
         pack's run ([detections.md](detections.md)), plus actions written for Falco rules no pack action\n\
         performs (`xtask/src/evtgen/falco/actions.rs`: a privileged pod with host mounts, a few host\n\
         processes for the rules that exclude containers). A rule is **detected** when every action\n\
         written for it raised it. Loading a file proves the rule language and field names; this proves the\n\
         values Lanner gives Falco's fields on real events. The files are not in this repository: pass a\n\
         checkout of falcosecurity/rules.\n\n\
         ```\ncargo xtask evtgen --falco-rules rules/falco_rules.yaml --falco-rules rules/falco-incubating_rules.yaml \\\n    --falco-rules rules/falco-sandbox_rules.yaml\n```\n\n\
         ## Latest run\n\n{}, kernel {}, files {sums}.\n\n{summary}\n{table}",
        String::from_utf8_lossy(&date).trim(),
        String::from_utf8_lossy(&kernel).trim(),
    );
    println!("\n{table}\n{summary}");
    std::fs::write(crate::root().join("docs/falco-detections.md"), doc)?;
    eprintln!("xtask: wrote docs/falco-detections.md");
    if !missed.is_empty() {
        bail!("Falco rules missed by their actions:\n{}", missed.join("\n"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_expected_action_exists_and_every_extra_action_is_expected() {
        let mut table = super::super::actions();
        table.extend(extra_actions());
        for (rule, acts) in EXPECT {
            assert!(!acts.is_empty(), "{rule}: no action");
            for a in *acts {
                assert!(table.iter().any(|x| x.name == *a), "EXPECT '{rule}': no action '{a}'");
            }
            assert_eq!(EXPECT.iter().filter(|(r, _)| r == rule).count(), 1, "'{rule}' twice in EXPECT");
            assert!(!NO_ACTION.iter().any(|(r, _)| r == rule), "'{rule}' in EXPECT and NO_ACTION");
        }
        for a in extra_actions() {
            let e = EXPECT.iter().find(|(r, _)| *r == a.rule);
            assert!(
                e.is_some_and(|(_, acts)| acts.contains(&a.name)),
                "extra action '{}' not expected of '{}'",
                a.name,
                a.rule
            );
            assert_eq!(table.iter().filter(|x| x.name == a.name).count(), 1, "action name '{}' twice", a.name);
        }
    }

    #[test]
    fn the_check_table_parses_into_rules_with_their_state() {
        let out = "Terminal shell in container      /r/falco_rules.yaml:713:9   active\n\
                   Read Shell Configuration File    /r/falco-sandbox_rules.yaml:307:9   inactive: disabled (enabled: false)\n\
                   25 rules: 25 active, 0 inactive; 1 file(s), 1 warning(s)\n";
        let v = parse_check(out);
        assert_eq!(v.len(), 2);
        assert_eq!(
            (v[0].name.as_str(), v[0].at.as_str(), v[0].state.as_str()),
            ("Terminal shell in container", "/r/falco_rules.yaml:713:9", "active")
        );
        assert_eq!(v[1].state, "inactive: disabled (enabled: false)");
    }
}
