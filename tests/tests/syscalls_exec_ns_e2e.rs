//! Privileged end-to-end test of issue 14's leftovers: `execveat` as its own event
//! type (a real execveat, successful and ENOENT, with exact fields; Falco's
//! `spawned_process` form `evt.type in (execve, execveat)` matches it, `evt.type =
//! execve` does not), `fs.path.*raw` (paths as passed, relative to a directory fd),
//! unshare's clone flags rendered and tested as Falco does
//! (`evt.arg.flags contains CLONE_NEWUSER` on a real unshare, the default pack's
//! unshare rule on `unshare -U` in a container), and the probes of an event type no
//! rule needs: not attached (the agent's BPF links read back from /proc/PID/fdinfo and
//! named by `bpftool prog show`), then attached by a rule reload that needs them.
use std::{collections::BTreeSet, ffi::CString, time::Duration};

use lanner_tests::{
    cgroup::{hex_id, FakeContainer},
    nonce, require_root, sys,
    sysprobe::{self, alert, args, c, e, fired, i, in_child, Results},
    Agent, Keep,
};
use serde_json::Value;

const RULES: &str = r#"
- rule: e2e execveat
  desc: every execveat of the test process and its children
  condition: evt.type = execveat and (proc.pid = PID or proc.ppid = PID)
  output: "xat %evt.type res=%evt.res raw=%evt.rawres name=%proc.name args=%proc.args exepath=%proc.exepath fd=%fd.name pid=%proc.pid"
  priority: WARNING
- rule: e2e execve only
  desc: evt.type = execve must not match an execveat
  condition: evt.type = execve and proc.ppid = PID and proc.args contains lanner-xat
  output: "xve %proc.args"
  priority: WARNING
- rule: e2e spawned
  desc: Falco's spawned_process macro
  condition: evt.type in (execve, execveat) and evt.dir = < and evt.rawres >= 0 and proc.ppid = PID and proc.args startswith lanner-x
  output: "spawned %evt.type args=%proc.args name=%proc.name exepath=%proc.exepath"
  priority: WARNING
- rule: e2e unshare user
  desc: Falco-style test of one clone flag
  condition: evt.type = unshare and evt.arg.flags contains CLONE_NEWUSER and (proc.pid = PID or proc.ppid = PID)
  output: "userns res=%evt.res flags=%evt.arg.flags raw=%evt.rawarg.flags pid=%proc.pid rawres=%evt.rawres"
  priority: WARNING
- rule: e2e raw paths
  desc: fs.path.* made absolute and as passed (the raw forms)
  condition: evt.type in (mkdirat, renameat, symlinkat) and proc.pid = PID
  output: "raw %evt.type name=%fs.path.name nameraw=%fs.path.nameraw source=%fs.path.source sourceraw=%fs.path.sourceraw target=%fs.path.target targetraw=%fs.path.targetraw"
  priority: WARNING
- rule: e2e unshare net
  desc: no unshare of this test asks for a network namespace
  condition: evt.type = unshare and evt.arg.flags contains CLONE_NEWNET and (proc.pid = PID or proc.ppid = PID)
  output: "netns %evt.arg.flags"
  priority: WARNING
"#;

fn argv(v: &[&CString]) -> Vec<*const libc::c_char> {
    v.iter().map(|s| s.as_ptr()).chain([std::ptr::null()]).collect()
}

extern "C" {
    static environ: *const *const libc::c_char;
}

/// execve and execveat of /bin/true in children (tagged argv), a failing execveat
/// here (ENOENT, relative to a directory fd), unshare in a child (success) and here
/// (a threaded process: EINVAL).
fn workload(dir: &str, x: &mut Results) {
    let t = c("/bin/true");
    let (ve, at) = (c("lanner-xve"), c("lanner-xat"));
    x.set(
        "execve_pid",
        in_child("execve", || {
            unsafe { libc::execve(t.as_ptr(), argv(&[&t, &ve]).as_ptr(), environ) };
            false
        }),
    );
    x.set(
        "execveat_pid",
        in_child("execveat", || {
            let a = argv(&[&t, &at]);
            unsafe { libc::syscall(libc::SYS_execveat, libc::AT_FDCWD, t.as_ptr(), a.as_ptr(), environ, 0) };
            false
        }),
    );
    std::fs::create_dir_all(dir).unwrap();
    let dfd = unsafe { libc::open(c(dir).as_ptr(), libc::O_RDONLY | libc::O_DIRECTORY) };
    assert!(dfd >= 0);
    let missing = c("missing-prog");
    let a = argv(&[&missing]);
    x.set("execveat_fail", sys!(libc::SYS_execveat, dfd, missing.as_ptr(), a.as_ptr(), environ, 0));
    // Paths relative to the directory fd, for fs.path.*raw.
    let (sub, sub2, up) = (c("sub"), c("sub2"), c("../x"));
    x.set("mkdirat", sys!(libc::SYS_mkdirat, dfd, sub.as_ptr(), 0o700));
    x.set("renameat", sys!(libc::SYS_renameat, dfd, sub.as_ptr(), dfd, sub2.as_ptr()));
    x.set("symlinkat", sys!(libc::SYS_symlinkat, up.as_ptr(), dfd, c("lnk").as_ptr()));
    // Kept open until the agent stopped: it resolves dirfd-relative paths through /proc.
    x.set("dirfd", dfd.into());
    // One child each: a nested user namespace needs a uid mapping first.
    x.set(
        "unshare_pid",
        in_child("unshare", || unsafe { libc::syscall(libc::SYS_unshare, libc::CLONE_NEWUSER as i64) == 0 }),
    );
    x.set(
        "unshare2_pid",
        in_child("unshare2", || unsafe {
            libc::syscall(libc::SYS_unshare, (libc::CLONE_NEWUSER | libc::CLONE_NEWNS) as i64) == 0
        }),
    );
    x.set("unshare_fail", sys!(libc::SYS_unshare, libc::CLONE_NEWUSER as i64));
}

fn f(v: &std::collections::BTreeMap<String, Value>, k: &str) -> String {
    match &v[k] {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

#[test]
fn execveat_and_unshare_flags_report_exact_fields() {
    if !require_root("execveat_and_unshare_flags_report_exact_fields") {
        return;
    }
    let dir = format!("/tmp/{}", nonce());
    let (out, x) = sysprobe::run(RULES, &dir, true, |x| workload(&dir, x));
    unsafe { libc::close(x.get("dirfd") as i32) };
    let _ = std::fs::remove_dir_all(&dir);
    let me = i64::from(std::process::id());
    let (ve_pid, at_pid) = (x.get("execve_pid"), x.get("execveat_pid"));

    // Kernel records: the syscall names the event type; the failed one carries the
    // filename and argv as passed.
    let r = out.one("exec", "execveat ok", |r| i(&r["pid"]) == at_pid && r["ret"] == 0);
    assert_eq!((r["syscall"].as_str(), r["filename"].as_str()), (Some("execveat"), Some("/bin/true")), "{r}");
    assert_eq!(r["argv"], serde_json::json!(["/bin/true", "lanner-xat"]), "{r}");
    let r = out.one("exec", "execve ok", |r| i(&r["pid"]) == ve_pid && r["ret"] == 0);
    assert_eq!(r["syscall"], "execve", "{r}");
    assert_eq!(x.get("execveat_fail"), e(libc::ENOENT));
    let r = out.one("exec", "execveat ENOENT", |r| i(&r["pid"]) == me && i(&r["ret"]) == e(libc::ENOENT));
    assert_eq!((r["syscall"].as_str(), r["filename"].as_str()), (Some("execveat"), Some("missing-prog")), "{r}");
    assert_eq!(r["argv"], serde_json::json!(["missing-prog"]), "{r}");

    // evt.type = execveat: the successful exec with the new image's fields, equal to
    // an execve of the same program; the failed one with its errno.
    let at = alert(&out, "e2e execveat", "xat execveat res=SUCCESS ");
    args(&at, &[("evt.type", Some("execveat")), ("proc.name", Some("true")), ("proc.args", Some("lanner-xat"))]);
    args(&at, &[("evt.rawres", Some("0")), ("fd.name", None)]);
    let ve = alert(&out, "e2e spawned", "spawned execve args=lanner-xve");
    assert_eq!(f(&at, "proc.exepath"), f(&ve, "proc.exepath"), "same program, same exepath");
    assert!(f(&at, "proc.exepath").ends_with("/true"), "{at:?}");
    let fail = alert(&out, "e2e execveat", "xat execveat res=ENOENT ");
    args(&fail, &[("evt.rawres", Some("-2")), ("fd.name", Some("missing-prog"))]);
    assert_eq!(f(&fail, "proc.pid"), me.to_string(), "the caller, whose image stays");
    // Falco's spawned_process form matches both; `evt.type = execve` not the execveat.
    let sp = alert(&out, "e2e spawned", "spawned execveat args=lanner-xat");
    args(&sp, &[("proc.name", Some("true"))]);
    assert_eq!(fired(&out, "e2e spawned"), 2, "one execve, one execveat; the failed one is no spawn");
    assert_eq!(fired(&out, "e2e execve only"), 0, "evt.type = execve matched an execveat");

    // fs.path.* made absolute against the directory fd; the raw forms as passed.
    for k in ["mkdirat", "renameat", "symlinkat"] {
        assert_eq!(x.get(k), 0, "{k}");
    }
    let raw = |t: &str| alert(&out, "e2e raw paths", &format!("raw {t} "));
    let na = None;
    let (sub, sub2, lnk) = (format!("{dir}/sub"), format!("{dir}/sub2"), format!("{dir}/lnk"));
    args(&raw("mkdirat"), &[("fs.path.name", Some(&sub)), ("fs.path.nameraw", Some("sub")), ("fs.path.sourceraw", na)]);
    let r = raw("renameat");
    args(&r, &[("fs.path.source", Some(&sub)), ("fs.path.sourceraw", Some("sub")), ("fs.path.nameraw", na)]);
    args(&r, &[("fs.path.target", Some(&sub2)), ("fs.path.targetraw", Some("sub2"))]);
    let r = raw("symlinkat");
    args(&r, &[("fs.path.source", Some(&lnk)), ("fs.path.sourceraw", Some("lnk"))]);
    args(&r, &[("fs.path.target", Some("../x")), ("fs.path.targetraw", Some("../x"))]);

    // unshare: clone flags by Falco's names, in its order, raw value its PPM_CL_* bits.
    let (un, un2) = (x.get("unshare_pid"), x.get("unshare2_pid"));
    for (flags, raw, pid) in
        [("CLONE_NEWUSER", 1i64 << 20, un), ("CLONE_NEWNS|CLONE_NEWUSER", (1 << 5) | (1 << 20), un2)]
    {
        let a = alert(&out, "e2e unshare user", &format!("userns res=SUCCESS flags={flags} raw={raw} pid={pid}"));
        args(&a, &[("flags", Some(flags)), ("evt.rawarg.flags", Some(&raw.to_string()))]);
    }
    assert_eq!(x.get("unshare_fail"), e(libc::EINVAL), "unshare(CLONE_NEWUSER) of a threaded process");
    let a = alert(&out, "e2e unshare user", &format!("userns res=EINVAL flags=CLONE_NEWUSER raw=1048576 pid={me}"));
    args(&a, &[("evt.rawres", Some("-22"))]);
    // The kernel record keeps the kernel's value.
    let r = out.one("sys", "unshare NEWNS|NEWUSER", |r| {
        r["syscall"] == "unshare" && i(&r["pid"]) == un2 && i(&r["args"][0]) == 0x1002_0000
    });
    assert_eq!(i(&r["ret"]), 0, "{r}");
    assert_eq!(fired(&out, "e2e unshare net"), 0, "no CLONE_NEWNET was asked for");
}

/// The default pack's unshare rule on `unshare -U` in a (kubelet-like) container.
#[test]
fn default_pack_reports_unshare_of_a_user_namespace_in_a_container() {
    if !require_root("default_pack_reports_unshare_of_a_user_namespace_in_a_container") {
        return;
    }
    let n = nonce();
    let cid = hex_id(&n);
    let ctr = FakeContainer::create("3b9e1c4d-7a2f-4e61-8d0c-5f1a2b3c4d5e", &cid);
    let agent = Agent::start(&["--no-k8s"], Keep::All);
    let st = ctr.command("/usr/bin/unshare").args(["-U", "/bin/true", &n]).status().unwrap();
    assert!(st.success());
    // The same in a new UTS namespace only: no namespace the rule watches.
    let st = ctr.command("/usr/bin/unshare").args(["-u", "/bin/true", &n]).status().unwrap();
    assert!(st.success());
    let out = agent.stop();
    drop(ctr);
    let hits: Vec<&Value> = out
        .events
        .iter()
        .filter(|e| e["rule"] == "Create namespace with unshare in container")
        .filter(|e| e["output_fields"]["container.id"] == cid[..12])
        .collect();
    assert_eq!(hits.len(), 1, "one alert for unshare -U, none for unshare -u: {hits:#?}");
    let a = &hits[0]["output_fields"];
    assert_eq!((a["evt.arg.flags"].as_str(), a["proc.name"].as_str()), (Some("CLONE_NEWUSER"), Some("unshare")));
    assert_eq!(a["evt.res"], "SUCCESS");
    assert_eq!(hits[0]["priority"], "Warning");
}

/// Names of the BPF programs process `pid` has attached: the program id of each of its
/// BPF link fds (`/proc/PID/fdinfo`), named by `bpftool prog show`.
fn attached_programs(pid: u32) -> BTreeSet<String> {
    let mut ids = BTreeSet::new();
    for fd in std::fs::read_dir(format!("/proc/{pid}/fdinfo")).expect("fdinfo").flatten() {
        let Ok(info) = std::fs::read_to_string(fd.path()) else { continue };
        if !info.contains("link_type:") {
            continue;
        }
        let id = info.lines().find_map(|l| l.strip_prefix("prog_id:")).map(|v| v.trim().parse::<u64>().unwrap());
        ids.extend(id);
    }
    let o = std::process::Command::new("bpftool").args(["-j", "prog", "show"]).output().expect("run bpftool");
    assert!(o.status.success(), "bpftool prog show: {}", String::from_utf8_lossy(&o.stderr));
    let v: Value = serde_json::from_slice(&o.stdout).expect("bpftool JSON");
    v.as_array()
        .expect("array")
        .iter()
        .filter(|p| p["id"].as_u64().is_some_and(|id| ids.contains(&id)))
        .filter_map(|p| p["name"].as_str().map(String::from))
        .collect()
}

const EXEC_ONLY: &str = r#"
- rule: e2e exec only
  desc: needs no syscall but the execs
  condition: evt.type = execve and proc.name = never-run-NONCE
  output: "exec %proc.name"
  priority: WARNING
"#;

const WITH_UNSHARE: &str = r#"
- rule: e2e unshare after reload
  desc: needs unshare, which the first rule set did not
  condition: evt.type = unshare and proc.ppid = PID
  output: "reloaded unshare flags=%evt.arg.flags res=%evt.res"
  priority: WARNING
"#;

#[test]
fn probes_no_rule_needs_are_not_attached_until_a_reload_needs_them() {
    if !require_root("probes_no_rule_needs_are_not_attached_until_a_reload_needs_them") {
        return;
    }
    let n = nonce();
    let rules_dir = format!("/tmp/{n}-rules");
    std::fs::create_dir_all(&rules_dir).unwrap();
    let file = format!("{rules_dir}/e2e.yaml");
    std::fs::write(&file, EXEC_ONLY.replace("NONCE", &n)).unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let addr = format!("127.0.0.1:{port}");
    let agent = Agent::start(
        &["--no-k8s", "--rules", &rules_dir, "--rules-poll-ms", "100", "--metrics-addr", &addr],
        Keep::All,
    );
    let progs = attached_programs(agent.pid());
    // The process table's programs are there (and show the lookup sees this agent's).
    for p in ["sched_exec", "sched_exit"] {
        assert!(progs.contains(p), "{p} not attached: {progs:?}");
    }
    // execveat: the task_rename marker and the exit-only program where they load
    // (x86_64, 5.15+), else the pair.
    assert!(
        (progs.contains("exec_rename_regs") && progs.contains("execveat_regs"))
            || (progs.contains("execveat_enter") && progs.contains("execveat_exit")),
        "no execveat programs attached: {progs:?}"
    );
    // execve: the exit-only program where it loads (x86_64, 5.15+), else the pair.
    assert!(
        progs.contains("execve_regs") || (progs.contains("execve_enter") && progs.contains("execve_exit")),
        "no execve program attached: {progs:?}"
    );
    for p in [
        "unshare_enter",
        "unshare_exit",
        "unshare_regs",
        "ptrace_enter",
        "ptrace_regs",
        "openat_enter",
        "openat_exit",
        "openat_regs",
        "connect_enter",
        "connect_regs",
    ] {
        assert!(!progs.contains(p), "{p} attached though no rule needs it: {progs:?}");
    }

    // A reload that needs unshare attaches its program: the exit-only one where
    // it loads (x86_64, 5.15+), else the pair.
    std::fs::write(&file, WITH_UNSHARE.replace("PID", &std::process::id().to_string())).unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    let mut progs = attached_programs(agent.pid());
    let unshare = |p: &BTreeSet<String>| {
        p.contains("unshare_regs") || (p.contains("unshare_enter") && p.contains("unshare_exit"))
    };
    while !unshare(&progs) {
        assert!(std::time::Instant::now() < deadline, "unshare not attached after the reload: {progs:?}");
        std::thread::sleep(Duration::from_millis(100));
        progs = attached_programs(agent.pid());
    }
    assert!(
        !progs.contains("ptrace_enter") && !progs.contains("ptrace_regs"),
        "the reload attached more than it needs: {progs:?}"
    );
    // The pre-filter follows on the reader's next housekeeping pass.
    std::thread::sleep(Duration::from_millis(500));
    in_child("unshare", || unsafe { libc::syscall(libc::SYS_unshare, libc::CLONE_NEWUTS as i64) == 0 });
    let out = agent.stop();
    let _ = std::fs::remove_dir_all(&rules_dir);
    let logged = |needle: &str, probe: &str| out.stderr.iter().any(|l| l.contains(needle) && l.contains(probe));
    assert!(logged("probe not attached: no rule needs it", "unshare_regs"), "{:#?}", out.stderr);
    assert!(
        logged("rule reload: probes attached", "unshare_regs")
            || logged("rule reload: probes attached", "unshare_enter, unshare_exit"),
        "{:#?}",
        out.stderr
    );
    let a = alert(&out, "e2e unshare after reload", "reloaded unshare flags=CLONE_NEWUTS res=SUCCESS");
    args(&a, &[("flags", Some("CLONE_NEWUTS"))]);
}

/// With the default rules on an x86_64 host with `bpf_task_pt_regs` (5.15+), no
/// program sits on a `sys_enter_*` tracepoint: one attached there makes every
/// syscall on the host call into the sys_enter tracepoint, traced or not
/// (docs/probes.md). The setuid family and execveat were the last to need one.
#[test]
fn default_rules_attach_no_enter_program() {
    if !require_root("default_rules_attach_no_enter_program") || !cfg!(target_arch = "x86_64") {
        return;
    }
    let agent = Agent::start(&["--no-k8s"], Keep::All);
    let progs = attached_programs(agent.pid());
    let out = agent.stop();
    for p in ["sched_exec", "setuid_regs", "setresuid_regs", "exec_rename_regs", "execveat_regs", "openat_regs"] {
        assert!(progs.contains(p), "{p} not attached: {progs:?}");
    }
    let enter: Vec<_> = progs.iter().filter(|p| p.ends_with("_enter")).collect();
    assert!(enter.is_empty(), "enter programs attached: {enter:?}");
    assert!(!out.stderr.iter().any(|l| l.contains("sys_enter_") && l.contains("probe attached")), "{:#?}", out.stderr);
}
