//! Privileged end-to-end test of the fields read at exec from the kernel: real
//! techniques (a memfd exec, a binary written into an overlayfs merged dir,
//! capabilities dropped with setpriv, a new session, a new pid namespace, a
//! login uid, a chosen environment) and the exact values in the alerts'
//! `output_fields` of a rule per action; the default pack's memfd rule fires
//! on the real memfd exec.
use std::{
    ffi::CString,
    os::unix::{
        fs::{MetadataExt, PermissionsExt},
        process::CommandExt,
    },
    path::Path,
    process::{Command, Stdio},
};

use lanner_tests::{nonce, overlay::Overlay, require_root, Agent, Keep, Stopped};
use serde_json::Value;

/// One rule per action, selected by a tag in its arguments; the output names every field asserted.
fn rules(n: &str) -> String {
    let fields = "name=%proc.name args=%proc.args exepath=%proc.exepath memfd=%proc.is_exe_from_memfd upper=%proc.is_exe_upper_layer \
                  lower=%proc.is_exe_lower_layer writable=%proc.is_exe_writable ino=%proc.exe_ino \
                  ctime=%proc.exe_ino.ctime mtime=%proc.exe_ino.mtime eff=%thread.cap_effective \
                  perm=%thread.cap_permitted inh=%thread.cap_inheritable sid=%proc.sid sname=%proc.sname \
                  sidleader=%proc.is_sid_leader vpid=%proc.vpid vtid=%thread.vtid vpgid=%proc.vpgid \
                  pid=%proc.pid env=%proc.env tag=%proc.env[LANNER_TAG] ts=%proc.pid.ts dur=%proc.duration \
                  time=%evt.rawtime aexe1=%proc.aexe[1] user=%user.name login=%user.loginname \
                  home=%user.homedir shell=%user.shell group=%group.name ctdur=%proc.exe_ino.ctime_duration_proc_start \
                  pgid=%proc.pgid pgleader=%proc.is_pgid_leader vpgleader=%proc.is_vpgid_leader \
                  pgname=%proc.vpgid.name sidexepath=%proc.sid.exepath pvpid=%proc.pvpid pts=%proc.ppid.ts \
                  host=%evt.hostname src=%evt.source sys=%syscall.type failed=%evt.failed rts=%evt.rawtime.s \
                  rtns=%evt.rawtime.ns dts=%evt.datetime.s ts=%evt.time.s cat=%evt.category cnt=%evt.count \
                  err=%evt.count.error cexit=%evt.count.exit isexec=%evt.type.is.execve isopen=%evt.type.is.open \
                  rel=%evt.reltime rels=%evt.reltime.s reln=%evt.reltime.ns otime=%evt.outputtime \
                  aargs1=%proc.aargs[1] aargs=%proc.aargs nargs=%proc.cmdnargs lenargs=%proc.cmdlenargs \
                  exeline=%proc.exeline shellid=%proc.loginshellid ismain=%thread.ismain nametid=%thread.nametid \
                  aenv=%proc.aenv[LANNER_AENV] aenv1=%proc.aenv[1] tid=%thread.tid isio=%evt.is_io iodir=%evt.io_dir \
                  iswait=%evt.is_wait syslog=%evt.is_syslog fdlimit=%proc.fdlimit";
    format!(
        "- rule: Exec fields {n}\n  desc: e2e\n  condition: evt.type = execve and proc.args contains \"{n}\"\n  \
         output: \"{fields}\"\n  priority: NOTICE\n"
    )
}

/// The alert of the exec whose argv carries `tag`.
/// The output fields of the rule's alerts whose `proc.args` start with `prefix`.
fn with_args<'a>(out: &'a Stopped, n: &str, prefix: &str) -> Vec<&'a Value> {
    out.events
        .iter()
        .filter(|e| e["rule"] == format!("Exec fields {n}").as_str())
        .map(|e| &e["output_fields"])
        .filter(|f| f["proc.args"].as_str().is_some_and(|a| a.starts_with(prefix)))
        .collect()
}

fn alert<'a>(out: &'a Stopped, n: &str, tag: &str) -> &'a Value {
    let rule = format!("Exec fields {n}");
    let hits: Vec<&Value> = out
        .events
        .iter()
        .filter(|e| e["rule"] == rule.as_str())
        .filter(|e| e["output_fields"]["proc.args"] == format!("{n} {tag}").as_str())
        // The launchers (setpriv, unshare, sh) carry the tag in their arguments too.
        .filter(|e| !matches!(e["output_fields"]["proc.name"].as_str(), Some("setpriv" | "unshare" | "sh" | "dash")))
        .collect();
    assert_eq!(hits.len(), 1, "one exec tagged {tag}; alerts of the rule:\n{:#?}", hits);
    &hits[0]["output_fields"]
}

fn s(v: &Value, f: &str) -> String {
    match &v[f] {
        Value::String(x) => x.clone(),
        Value::Null => "<NA>".into(),
        other => other.to_string(),
    }
}

fn ns(t: std::io::Result<std::time::SystemTime>) -> u64 {
    t.unwrap().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64
}

fn ctime_ns(m: &std::fs::Metadata) -> u64 {
    m.ctime() as u64 * 1_000_000_000 + m.ctime_nsec() as u64
}

/// `memfd_create(name)` holding a copy of /bin/true (not close-on-exec: the child execs it).
fn memfd_with_true(name: &str) -> i32 {
    let c = CString::new(name).unwrap();
    let fd = unsafe { libc::memfd_create(c.as_ptr(), 0) };
    assert!(fd >= 0, "memfd_create: {}", std::io::Error::last_os_error());
    let bin = std::fs::read("/bin/true").unwrap();
    let w = unsafe { libc::write(fd, bin.as_ptr().cast(), bin.len()) };
    assert_eq!(w, bin.len() as isize);
    fd
}

fn run(c: &mut Command) {
    let st = c.stdout(Stdio::null()).stderr(Stdio::null()).status().unwrap();
    assert!(st.success(), "{c:?}: {st}");
}

fn passwd_field(uid: u32, i: usize) -> String {
    let p = std::fs::read_to_string("/etc/passwd").unwrap();
    let line = p.lines().find(|l| l.split(':').nth(2) == Some(&uid.to_string())).unwrap();
    line.split(':').nth(i).unwrap().to_string()
}

fn group_of(gid: u32) -> String {
    let g = std::fs::read_to_string("/etc/group").unwrap();
    let line = g.lines().find(|l| l.split(':').nth(2) == Some(&gid.to_string())).unwrap();
    line.split(':').next().unwrap().to_string()
}

#[test]
fn exec_fields_from_the_kernel_on_real_techniques() {
    if !require_root("exec_fields_from_the_kernel_on_real_techniques") {
        return;
    }
    let n = nonce();
    let dir = std::env::temp_dir().join(format!("lanner-exec-{n}"));
    std::fs::create_dir_all(&dir).unwrap();
    let rules_file = dir.join("fields.yaml");
    std::fs::write(&rules_file, rules(&n)).unwrap();
    let default_pack = Path::new(env!("CARGO_MANIFEST_DIR")).join("../rules/default");
    let maddr = format!("127.0.0.1:{}", lanner_tests::triage::free_port());
    let started = ns(Ok(std::time::SystemTime::now()));
    let agent = Agent::start(
        &[
            "--no-k8s",
            "--hostname",
            "lanner-e2e-host",
            "--metrics-addr",
            &maddr,
            "--rules",
            default_pack.to_str().unwrap(),
            "--rules",
            rules_file.to_str().unwrap(),
        ],
        Keep::All,
    );

    // 1. memfd_create + execve("/proc/self/fd/N").
    let memfd_name = format!("lanner-{n}");
    let fd = memfd_with_true(&memfd_name);
    run(Command::new(format!("/proc/self/fd/{fd}")).args([&n, "memfd"]));
    unsafe { libc::close(fd) };

    // 2. A plain file: inode and times as stat(2) reports them.
    let plain = dir.join("plainbin");
    std::fs::copy("/bin/true", &plain).unwrap();
    std::fs::set_permissions(&plain, std::fs::Permissions::from_mode(0o755)).unwrap();
    let meta = std::fs::metadata(&plain).unwrap();
    run(Command::new(&plain).args([&n, "plain"]));

    // 3. Overlayfs: a binary from the lower layer, and one written into the merged dir (upper).
    let truebin = std::fs::read("/bin/true").unwrap();
    let ovl = Overlay::mount(&dir.join("ovl"), &[("imagebin", &truebin)]);
    let newbin = ovl.merged.join("newbin");
    std::fs::copy("/bin/true", &newbin).unwrap();
    std::fs::set_permissions(&newbin, std::fs::Permissions::from_mode(0o755)).unwrap();
    run(Command::new(&newbin).args([&n, "upper"]));
    let imagebin = ovl.merged.join("imagebin");
    run(Command::new(&imagebin).args([&n, "lower"]));

    // 4. Capabilities dropped with setpriv: bounding {chown, kill}, inheritable {kill}.
    run(Command::new("setpriv").args([
        "--bounding-set=-all,+chown,+kill",
        "--inh-caps=-all,+kill",
        "/bin/true",
        &n,
        "caps",
    ]));

    // 5. A new session whose leader is the exec'd process; env chosen exactly; an
    // open-files limit of its own (proc.fdlimit).
    let mut c = Command::new("/bin/true");
    c.args([&n, "session"]).env_clear().env("LANNER_TAG", &n).env("FOO", "bar baz");
    unsafe {
        c.pre_exec(|| {
            let lim = libc::rlimit { rlim_cur: 321, rlim_max: 4096 };
            if libc::setsid() < 0 || libc::setrlimit(libc::RLIMIT_NOFILE, &lim) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut child = c.stdout(Stdio::null()).spawn().unwrap();
    let session_pid = child.id();
    assert!(child.wait().unwrap().success());

    // 6. A new pid namespace: the exec'd process is pid 1 there.
    run(Command::new("unshare").args(["--pid", "--fork", "/bin/true", &n, "pidns"]));

    // 7. A login uid and a user/group: nobody/nogroup, from /etc/passwd and /etc/group.
    let mut c = Command::new("/bin/true");
    c.args([&n, "login"]);
    unsafe {
        c.pre_exec(|| {
            std::fs::write("/proc/self/loginuid", b"65534")?;
            if libc::setgid(65534) != 0 || libc::setuid(65534) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    run(&mut c);

    // 8. An ancestor's argv[0], arguments and environment: /bin/sh runs the tagged
    // program with its own value of a variable the shell also has.
    let sh_script = format!("LANNER_AENV=child /bin/true {n} aexe; :");
    // A small environment: the kernel copies the first 4095 bytes of it.
    run(Command::new("/bin/sh")
        .args(["-c", &sh_script])
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .env("LANNER_AENV", format!("parent-{n}")));

    // 9. A pod-sized environment (~3.4 KB: the kubelet adds seven variables per Service
    // of the namespace) with the variable that matters last (std sorts by name).
    let mut c = Command::new("/bin/true");
    c.args([&n, "bigenv"]).env_clear();
    for i in 0..30 {
        c.env(format!("A_SVC{i:02}_SERVICE_PORT_HTTPS_WITH_A_LONG_NAME"), format!("{:070}", i));
    }
    c.env("LANNER_TAG", &n);
    run(&mut c);

    // 10. A command line padded past 1 KiB, its telling part last.
    let pad = "A".repeat(3000);
    run(Command::new("/bin/true").args([n.as_str(), "longargs", &pad, "base64", "-d"]));

    // 11. argv padded past the record (40 strings and 10 KB) does not hide the environment.
    let mut c = Command::new("/bin/true");
    c.env_clear().args([n.as_str(), "padded"]).args(std::iter::repeat_n("x", 40)).args(std::iter::repeat_n(&pad, 3));
    run(c.env("LANNER_TAG", &n));

    // 12. An environment padded past the record (6 KB of variables sorted before it)
    // keeps the variable set last.
    let mut c = Command::new("/bin/true");
    c.env_clear().args([n.as_str(), "envpad"]);
    for i in 0..3 {
        c.env(format!("A_PAD{i}"), "p".repeat(2000));
    }
    run(c.env("LANNER_TAG", &n));

    let out = agent.stop();
    drop(ovl);
    let _ = std::fs::remove_dir_all(&dir);
    out.assert_accounting();

    let m = alert(&out, &n, "memfd");
    assert_eq!(s(m, "proc.exepath"), format!("/memfd:{memfd_name} (deleted)"));
    assert_eq!(s(m, "proc.is_exe_from_memfd"), "true");
    assert_eq!(s(m, "proc.is_exe_upper_layer"), "false");
    let fileless: Vec<_> = out
        .events
        .iter()
        .filter(|e| e["rule"] == "Fileless execution via memfd")
        .filter(|e| e["output_fields"]["proc.exepath"] == format!("/memfd:{memfd_name} (deleted)").as_str())
        .collect();
    assert_eq!(fileless.len(), 1, "the default pack's memfd rule fires once on the real memfd exec");
    assert_eq!(fileless[0]["priority"], "Critical");

    let p = alert(&out, &n, "plain");
    assert_eq!(s(p, "proc.exepath"), plain.display().to_string());
    assert_eq!(s(p, "proc.is_exe_from_memfd"), "false");
    assert_eq!(s(p, "proc.exe_ino"), meta.ino().to_string());
    assert_eq!(s(p, "proc.exe_ino.ctime"), ctime_ns(&meta).to_string());
    assert_eq!(s(p, "proc.exe_ino.mtime"), ns(meta.modified()).to_string());
    assert_eq!(s(p, "proc.is_exe_writable"), "true", "root owns the copy, mode 0755");
    let mut lim = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    assert_eq!(unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) }, 0);
    assert_eq!(s(p, "proc.fdlimit"), lim.rlim_cur.to_string(), "inherited from the test");
    assert_eq!(s(p, "proc.is_exe_upper_layer"), "false", "not on overlayfs");
    assert_eq!(s(p, "proc.is_exe_lower_layer"), "false", "not on overlayfs");
    let (ts, time) = (s(p, "proc.pid.ts").parse::<u64>().unwrap(), s(p, "evt.rawtime").parse::<u64>().unwrap());
    assert!(ts <= time && time - ts < 5_000_000_000, "started {ts}, exec event at {time}");
    assert_eq!(s(p, "proc.duration"), (time - ts).to_string());
    let (rts, rtns) = (s(p, "evt.rawtime.s").parse::<u64>().unwrap(), s(p, "evt.rawtime.ns").parse::<u64>().unwrap());
    assert_eq!(rts * 1_000_000_000 + rtns, time, "evt.rawtime.s and .ns split evt.rawtime");
    let date = Command::new("date").args(["-u", "-d", &format!("@{rts}"), "+%F %T"]).output().expect("date");
    let date = String::from_utf8_lossy(&date.stdout).trim().to_string();
    assert_eq!(s(p, "evt.datetime.s"), date, "evt.datetime.s is the UTC date and time of evt.rawtime.s");
    assert_eq!(s(p, "evt.time.s"), date[11..], "evt.time.s is its clock part");
    assert_eq!(
        [s(p, "evt.hostname"), s(p, "evt.source"), s(p, "syscall.type"), s(p, "evt.failed")],
        ["lanner-e2e-host", "syscall", "execve", "false"],
        "evt.hostname is what --hostname gives the alert"
    );
    assert_eq!(s(p, "evt.outputtime"), format!("{}.{rtns:09}", &date[11..]), "evt.outputtime prints as evt.time");
    let row =
        ["evt.category", "evt.count", "evt.count.error", "evt.count.exit", "evt.type.is.execve", "evt.type.is.open"];
    assert_eq!(row.map(|f| s(p, f)), ["process", "1", "0", "1", "1", "0"]);
    let io = ["evt.is_io", "evt.io_dir", "evt.is_wait", "evt.is_syslog"];
    assert_eq!(io.map(|f| s(p, f)), ["false", "<NA>", "false", "false"], "execve neither reads nor writes an fd");
    let (rel, rels, reln) = (s(p, "evt.reltime"), s(p, "evt.reltime.s"), s(p, "evt.reltime.ns"));
    let (rel, rels, reln) = (rel.parse::<u64>().unwrap(), rels.parse::<u64>().unwrap(), reln.parse::<u64>().unwrap());
    assert_eq!(rels * 1_000_000_000 + reln, rel, "evt.reltime.s and .ns split evt.reltime");
    assert!(rel > 0 && rel <= time - started, "evt.reltime {rel} ns: since the agent's start, after {started}");
    assert_eq!(s(p, "proc.exe_ino.ctime_duration_proc_start"), (ts as i64 - ctime_ns(&meta) as i64).to_string());
    assert_eq!(s(p, "user.name"), "root");
    assert_eq!(s(p, "user.homedir"), passwd_field(0, 5));
    assert_eq!(s(p, "user.shell"), passwd_field(0, 6));
    assert_eq!(s(p, "group.name"), group_of(0));

    let u = alert(&out, &n, "upper");
    assert_eq!(s(u, "proc.exepath"), newbin.display().to_string());
    assert_eq!((s(u, "proc.is_exe_upper_layer"), s(u, "proc.is_exe_lower_layer")), ("true".into(), "false".into()));
    let l = alert(&out, &n, "lower");
    assert_eq!(s(l, "proc.exepath"), imagebin.display().to_string());
    assert_eq!((s(l, "proc.is_exe_upper_layer"), s(l, "proc.is_exe_lower_layer")), ("false".into(), "true".into()));

    let c = alert(&out, &n, "caps");
    assert_eq!(s(c, "proc.exepath"), std::fs::canonicalize("/bin/true").unwrap().display().to_string());
    assert_eq!(s(c, "thread.cap_effective"), "CAP_CHOWN CAP_KILL");
    assert_eq!(s(c, "thread.cap_permitted"), "CAP_CHOWN CAP_KILL");
    assert_eq!(s(c, "thread.cap_inheritable"), "CAP_KILL");

    let e = alert(&out, &n, "session");
    assert_eq!(s(e, "proc.pid"), session_pid.to_string());
    assert_eq!(s(e, "proc.sid"), session_pid.to_string());
    assert_eq!(s(e, "proc.is_sid_leader"), "true");
    assert_eq!(s(e, "proc.fdlimit"), "321", "set by setrlimit before the exec");
    assert_eq!(s(e, "proc.sname"), "true", "the session leader is the process itself");
    assert_eq!(s(e, "proc.env"), format!("FOO=bar baz LANNER_TAG={n}"));
    assert_eq!(s(e, "proc.env[LANNER_TAG]"), n);
    assert_eq!(s(e, "proc.vpid"), session_pid.to_string(), "host pid namespace");
    // setsid also made it a process-group leader.
    assert_eq!(s(e, "proc.pgid"), session_pid.to_string());
    assert_eq!((s(e, "proc.is_pgid_leader"), s(e, "proc.is_vpgid_leader")), ("true".into(), "true".into()));
    assert_eq!(s(e, "proc.vpgid.name"), "true");
    assert_eq!(s(e, "proc.sid.exepath"), std::fs::canonicalize("/bin/true").unwrap().display().to_string());

    let big = alert(&out, &n, "bigenv");
    let env = s(big, "proc.env");
    assert!(env.len() > 3300 && env.len() <= 4095, "{} bytes of environment", env.len());
    assert_eq!(s(big, "proc.env[LANNER_TAG]"), n, "the last variable, past the first KiB");
    assert!(env.ends_with(&format!(" LANNER_TAG={n}")), "{} bytes, ending {:?}", env.len(), &env[env.len() - 100..]);

    let long = with_args(&out, &n, &format!("{n} longargs "));
    assert_eq!(long.len(), 1, "one exec with the long command line");
    assert_eq!(s(long[0], "proc.args"), format!("{n} longargs {pad} base64 -d"), "argv past the first KiB");
    assert_eq!(s(long[0], "proc.cmdnargs"), "5");

    let padded = with_args(&out, &n, &format!("{n} padded x x "));
    assert_eq!(padded.len(), 1, "one exec with the padded command line");
    assert_eq!(s(padded[0], "proc.env[LANNER_TAG]"), n, "the environment after a padded argv");
    let envpad = alert(&out, &n, "envpad");
    assert_eq!(s(envpad, "proc.env[LANNER_TAG]"), n, "the variable after 6 KB of padding");

    let ns1 = alert(&out, &n, "pidns");
    assert_eq!((s(ns1, "proc.vpid"), s(ns1, "thread.vtid")), ("1".into(), "1".into()));
    assert_ne!(s(ns1, "proc.pid"), "1");

    let g = alert(&out, &n, "login");
    assert_eq!(s(g, "user.loginname"), passwd_field(65534, 0));
    assert_eq!(s(g, "user.name"), passwd_field(65534, 0));
    assert_eq!(s(g, "user.homedir"), passwd_field(65534, 5));
    assert_eq!(s(g, "user.shell"), passwd_field(65534, 6));
    assert_eq!(s(g, "group.name"), group_of(65534));
    assert_eq!(s(g, "thread.cap_effective"), "", "a non-root exec has no capabilities");

    let a = alert(&out, &n, "aexe");
    assert_eq!(s(a, "proc.aexe[1]"), "/bin/sh");
    // The parent sh is a process the agent saw exec: its start time and pid are known.
    assert_ne!(s(a, "proc.ppid.ts"), "<NA>");
    assert!(s(a, "proc.ppid.ts").parse::<u64>().unwrap() <= s(a, "proc.pid.ts").parse::<u64>().unwrap());
    assert_ne!(s(a, "proc.pvpid"), "<NA>");
    // The process-table fields of the same exec.
    assert_eq!(s(a, "proc.aargs[1]"), format!("-c {sh_script}"), "the parent sh's arguments");
    assert!(s(a, "proc.aargs").starts_with(&format!("-c {sh_script} ")), "every ancestor's, parent first");
    assert_eq!([s(a, "proc.cmdnargs"), s(a, "proc.cmdlenargs")], ["2".to_string(), (n.len() + 4).to_string()]);
    assert_eq!(s(a, "proc.exeline"), format!("/bin/true {n} aexe"));
    assert_eq!(s(a, "thread.ismain"), "true");
    assert_eq!(s(a, "thread.nametid"), format!("true{}", s(a, "thread.tid")));
    assert_eq!(s(a, "proc.aenv[LANNER_AENV]"), format!("parent-{n}"), "the ancestor's value, not the process's own");
    assert!(
        s(a, "proc.aenv[1]").split(' ').any(|kv| kv == format!("LANNER_AENV=parent-{n}")),
        "the parent's environment"
    );
    // The eldest of the exec's ancestors (sh, this test, then its own up to 8 in all)
    // whose name ends in "sh": sh itself when no older one is a shell.
    let mut chain = vec![None];
    let mut pid = std::process::id();
    while chain.len() < 8 && pid > 1 {
        chain.push(Some(pid));
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
        pid = stat.rsplit(')').next().unwrap().split_whitespace().nth(1).unwrap().parse().unwrap();
    }
    let comm = |p: u32| std::fs::read_to_string(format!("/proc/{p}/comm")).unwrap_or_default().trim().to_string();
    let eldest = chain.iter().rev().flatten().find(|p| comm(**p).ends_with("sh")).copied();
    let shellid = s(a, "proc.loginshellid");
    match eldest {
        Some(p) => assert_eq!(shellid, p.to_string(), "an older shell among the ancestors"),
        None => assert_eq!(shellid, s(a, "proc.ppid"), "the parent sh"),
    }
}

/// `FilterConfig::exec_skip` of the agent `pid`, read from its `FILTER` map with bpftool.
fn exec_skip_of(pid: u32) -> u32 {
    let mut ids = Vec::new();
    for fd in std::fs::read_dir(format!("/proc/{pid}/fdinfo")).expect("fdinfo").flatten() {
        let Ok(info) = std::fs::read_to_string(fd.path()) else { continue };
        ids.extend(info.lines().find_map(|l| l.strip_prefix("map_id:")).map(|v| v.trim().to_owned()));
    }
    for id in ids {
        let o = Command::new("bpftool").args(["-j", "map", "show", "id", &id]).output().expect("run bpftool");
        let v: Value = serde_json::from_slice(&o.stdout).unwrap_or_default();
        if v["name"] != "FILTER" {
            continue;
        }
        let o = Command::new("bpftool").args(["-j", "map", "dump", "id", &id]).output().expect("run bpftool");
        let v: Value = serde_json::from_slice(&o.stdout).expect("bpftool map dump JSON");
        let bytes: Vec<u8> = v[0]["value"]
            .as_array()
            .expect("raw value bytes")
            .iter()
            .map(|b| u8::from_str_radix(b.as_str().unwrap().trim_start_matches("0x"), 16).unwrap())
            .collect();
        // kinds_off, 6 u32 switches, then exec_skip (agent-common FilterConfig).
        return u32::from_ne_bytes(bytes[28..32].try_into().unwrap());
    }
    panic!("agent {pid} holds no FILTER map");
}

const NO_ENV: &str = "- rule: Env not read NONCE\n  desc: e2e\n  condition: evt.type = execve and proc.args contains \
                      \"NONCE\"\n  output: \"first args=%proc.args\"\n  priority: NOTICE\n";
const READS_ENV: &str = "- rule: Env read NONCE\n  desc: e2e\n  condition: evt.type = execve and proc.args contains \
                         \"NONCE\"\n  output: \"second args=%proc.args tag=%proc.env[LANNER_TAG]\"\n  priority: NOTICE\n";

#[test]
fn the_environment_is_read_only_while_a_rule_needs_it() {
    if !require_root("the_environment_is_read_only_while_a_rule_needs_it") {
        return;
    }
    let n = nonce();
    let dir = std::env::temp_dir().join(format!("lanner-env-{n}"));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("env.yaml");
    std::fs::write(&file, NO_ENV.replace("NONCE", &n)).unwrap();
    let maddr = format!("127.0.0.1:{}", lanner_tests::triage::free_port());
    let rules = dir.to_str().unwrap();
    let agent =
        Agent::start(&["--no-k8s", "--metrics-addr", &maddr, "--rules", rules, "--rules-poll-ms", "100"], Keep::All);
    let env_bit = 1; // EXEC_SKIP_ENV
    assert_eq!(exec_skip_of(agent.pid()) & env_bit, env_bit, "no rule reads proc.env: the exec programs skip it");
    let exec = |tag: &str| {
        let st = Command::new("/bin/true").args([n.as_str(), tag]).env_clear().env("LANNER_TAG", &n).status().unwrap();
        assert!(st.success());
    };
    exec("one");
    // Matched under the first rules before the file changes.
    std::thread::sleep(std::time::Duration::from_millis(500));

    // A reload that reads the environment turns the read back on.
    std::fs::write(&file, READS_ENV.replace("NONCE", &n)).unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    while exec_skip_of(agent.pid()) & env_bit != 0 {
        assert!(std::time::Instant::now() < deadline, "exec_skip still set 15 s after the reload");
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    exec("two");
    let out = agent.stop();
    let _ = std::fs::remove_dir_all(&dir);
    out.assert_accounting();
    let logged = |needle: &str| out.stderr.iter().any(|l| l.contains(needle));
    assert!(logged("exec_skip=env"), "the pre-filter line names the skipped part: {:#?}", out.stderr);
    assert!(logged("pre-filter updated for the new rules"), "{:#?}", out.stderr);
    let by_rule = |rule: String, args: String| -> Vec<&Value> {
        out.events
            .iter()
            .filter(|e| e["rule"] == rule.as_str() && e["output_fields"]["proc.args"] == args.as_str())
            .collect()
    };
    // Skipping the environment loses nothing else of the exec.
    let first = by_rule(format!("Env not read {n}"), format!("{n} one"));
    assert_eq!(first.len(), 1, "{:#?}", out.events);
    assert_eq!(first[0]["output"].as_str().map(|o| o.contains(&format!("first args={n} one"))), Some(true));
    let second = by_rule(format!("Env read {n}"), format!("{n} two"));
    assert_eq!(second.len(), 1, "{:#?}", out.events);
    assert_eq!(s(&second[0]["output_fields"], "proc.env[LANNER_TAG]"), n, "read again after the reload");
}
