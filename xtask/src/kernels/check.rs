//! Reads one guest's serial console (xtask/kernels/payload/init prints the
//! agent's JSON log and alerts between `KMX-BEGIN-*`/`KMX-END-*` markers) and
//! turns it into the kernel-matrix checks: probes loaded, BTF offsets read,
//! one alert per smoke step with the exact fields, zero ring-buffer drops.
use serde_json::Value;

/// The 64-hex container id the guest's shell runs under (its cgroup scope).
pub const CONTAINER_ID: &str = include_str!("../../kernels/payload/container-id");
/// The container id of the guest's second shell, in a cgroup v1 (pids) hierarchy only.
pub const CONTAINER_ID_V1: &str = include_str!("../../kernels/payload/container-id-v1");

/// Column names of the summary table, in order.
pub const COLUMNS: &[&str] = &[
    "boot",
    "probes",
    "open path",
    "open types",
    "exec path",
    "sys path",
    "btf",
    "cgroup ids",
    "exec",
    "exec padded",
    "execveat",
    "execveat ENOENT",
    "open r",
    "open w",
    "ENOENT",
    "connect",
    "setuid",
    "container sh",
    "v1 cgroup sh",
    "mkdir",
    "rename",
    "socket",
    "process_vm_readv",
    "io_uring_setup",
    "open_by_handle_at",
    "kill",
    "chroot",
    "drops",
];

/// One cell: passed, and what to show.
#[derive(Clone, Debug)]
pub struct Cell {
    pub ok: bool,
    pub text: String,
}

fn cell(ok: bool, text: impl Into<String>) -> Cell {
    Cell { ok, text: text.into() }
}

/// What one guest run showed.
#[derive(Debug, Default)]
pub struct Outcome {
    pub uname: String,
    pub lsm: String,
    /// Guest reached `KMX-DONE` (the workload ran and the agent stopped).
    pub done: bool,
    pub cells: Vec<Cell>,
    /// `probe: reason` for each probe the table selected that did not load.
    pub failed_probes: Vec<String>,
    /// Probes the table skipped on this kernel, with the reason.
    pub skipped_probes: Vec<String>,
    /// The per-probe hooks as the agent logged them (`probe hook`).
    pub hooks: Vec<String>,
    /// Preferred probes that did not load, with the reason (their fallback loaded).
    pub fallbacks: Vec<String>,
}

impl Outcome {
    pub fn passed(&self) -> bool {
        self.done && self.cells.iter().all(|c| c.ok)
    }
}

fn section<'a>(console: &'a str, name: &str) -> Vec<&'a str> {
    let (begin, end) = (format!("KMX-BEGIN-{name}"), format!("KMX-END-{name}"));
    console
        .lines()
        .skip_while(|l| !l.contains(&begin))
        .skip(1)
        .take_while(|l| !l.contains(&end))
        .map(|l| l.trim_end_matches('\r'))
        .collect()
}

fn json_lines(lines: &[&str]) -> Vec<Value> {
    // A kernel message may share a line with JSON: parse from the first '{'.
    lines.iter().filter_map(|l| l.find('{').and_then(|i| serde_json::from_str(&l[i..]).ok())).collect()
}

fn marker<'a>(console: &'a str, key: &str) -> Option<&'a str> {
    // The first line may start with the firmware's terminal escapes.
    console.lines().find_map(|l| l.find(key).map(|i| l[i + key.len()..].trim()))
}

fn s<'a>(v: &'a Value, path: &[&str]) -> Option<&'a str> {
    path.iter().try_fold(v, |v, k| v.get(k)).and_then(Value::as_str)
}

/// One expected alert: its rule and the output fields it must carry.
struct Expect {
    rule: &'static str,
    fields: Vec<(&'static str, Value)>,
}

/// The guest's 2,000-byte argument and variable (`init`): past the 1 KiB the exec record
/// kept until 2026-12-05, within the 4 KiB it keeps now, on every exec path.
fn pad() -> String {
    "a".repeat(2000)
}

fn expectations(console: &str) -> Vec<Expect> {
    let id12 = CONTAINER_ID.trim()[..12].to_string();
    let e = |rule, fields: Vec<(&'static str, Value)>| Expect { rule, fields };
    // What the guest's `stat` and `readlink` say about /bin/echo, against the
    // fields the exec program read from `mm->exe_file` (plain loads from 6.1).
    let echo_ino: Value = marker(console, "KMX echo-ino ").and_then(|v| v.parse::<u64>().ok()).into();
    let echo_exe: Value = marker(console, "KMX echo-exe ").into();
    // Inode and st_dev of the files the open rules name, from the guest's stat(2).
    let stat = |key: &str| -> (Value, Value) {
        let v: Vec<u64> = marker(console, key).unwrap_or("").split(' ').filter_map(|n| n.parse().ok()).collect();
        match v[..] {
            [ino, dev] => (ino.into(), dev.into()),
            _ => (Value::Null, Value::Null),
        }
    };
    let (readme_ino, readme_dev) = stat("KMX readme-stat ");
    let (written_ino, written_dev) = stat("KMX written-stat ");
    vec![
        // proc.env from the exec record's environment block (LSM or tracepoint path, per kernel);
        // the parent (PID 1, the guest's init), working directory and executable from the task.
        e(
            "kmx exec",
            vec![
                ("proc.cmdline", format!("echo kmx-argv one two words {}", pad()).into()),
                ("proc.env[KMX_ENV]", "kmx-env-42".into()),
                ("proc.env[KMX_PAD]", pad().into()),
                ("proc.ppid", 1.into()),
                ("proc.cwd", "/".into()),
                ("proc.exepath", echo_exe),
                ("proc.exe_ino", echo_ino),
                ("proc.fdlimit", 777.into()),
            ],
        ),
        // A padded argv (41 strings, > 10 KB) does not hide the environment after it.
        e("kmx exec padded", vec![("proc.env[KMX_PRELOAD]", "kmx-hidden-43".into()), ("proc.name", "echo".into())]),
        // execveat named as such: from the stash (pairs) or the saved orig_ax (exit-only programs).
        e(
            "kmx execveat",
            vec![("evt.type", "execveat".into()), ("evt.res", "SUCCESS".into()), ("proc.name", "echo".into())],
        ),
        e(
            "kmx execveat",
            vec![("evt.type", "execveat".into()), ("evt.res", "ENOENT".into()), ("proc.name", "execat".into())],
        ),
        // fd.ino, fd.dev and evt.is_open_create: read from the new fd's file by the open exit.
        e(
            "kmx open read",
            vec![
                ("fd.name", "/tmp/kmx/readme".into()),
                ("evt.res", "SUCCESS".into()),
                ("proc.name", "cat".into()),
                ("fd.ino", readme_ino),
                ("fd.dev", readme_dev),
                ("evt.is_open_create", false.into()),
            ],
        ),
        e(
            "kmx open write",
            vec![
                ("fd.name", "/tmp/kmx/written".into()),
                ("evt.res", "SUCCESS".into()),
                ("fd.ino", written_ino),
                ("fd.dev", written_dev),
                ("evt.is_open_create", true.into()),
            ],
        ),
        e(
            "kmx open enoent",
            vec![("fd.name", "/tmp/kmx/missing".into()), ("evt.res", "ENOENT".into()), ("proc.name", "cat".into())],
        ),
        e(
            "kmx connect",
            vec![
                ("fd.rip", "127.0.0.1".into()),
                ("fd.rport", 47011.into()),
                ("evt.res", "SUCCESS".into()),
                ("proc.name", "nc".into()),
            ],
        ),
        e(
            "Non sudo setuid",
            vec![
                ("evt.res", "EPERM".into()),
                ("user.uid", 65534.into()),
                ("lanner.setuid.target", 0.into()),
                ("proc.name", "setuid0".into()),
            ],
        ),
        e("Terminal shell in container", vec![("container.id", id12.into()), ("proc.name", "sh".into())]),
        // Named from the v1 cgroup id the probes read (`task->cgroups->subsys[pids]`).
        e(
            "Terminal shell in container",
            vec![("container.id", CONTAINER_ID_V1.trim()[..12].into()), ("proc.name", "sh".into())],
        ),
        e(
            "kmx mkdir",
            vec![
                ("evt.arg.path", "/tmp/kmx/dir-a".into()),
                ("evt.res", "SUCCESS".into()),
                ("proc.name", "mkdir".into()),
            ],
        ),
        e(
            "kmx rename",
            vec![
                ("evt.arg.oldpath", "/tmp/kmx/dir-a".into()),
                ("evt.arg.newpath", "/tmp/kmx/dir-b".into()),
                ("evt.res", "SUCCESS".into()),
                ("proc.name", "mv".into()),
            ],
        ),
        e("kmx socket", vec![("evt.arg.domain", "AF_INET".into()), ("proc.name", "nc".into())]),
        // The inject helper (xtask/kernels/payload/inject.c): its own memory, an 8-entry
        // ring (the kernel doubles the completion queue), /tmp/kmx/readme by its handle
        // (named from /proc/PID/fd while the helper holds it).
        e(
            "kmx inject",
            vec![
                ("evt.type", "process_vm_readv".into()),
                ("evt.res", "SUCCESS".into()),
                ("evt.arg.pid", "inject".into()),
            ],
        ),
        e(
            "kmx inject",
            vec![
                ("evt.type", "io_uring_setup".into()),
                ("evt.res", "SUCCESS".into()),
                ("evt.arg.entries", "8".into()),
                ("evt.arg.cq_entries", "16".into()),
            ],
        ),
        e(
            "kmx inject",
            vec![
                ("evt.type", "open_by_handle_at".into()),
                ("evt.res", "SUCCESS".into()),
                ("evt.arg.path", "/tmp/kmx/readme".into()),
            ],
        ),
        // kill(2) behind the signal filter (SIGSTOP by name and number), chroot(2).
        e(
            "kmx kill",
            vec![
                ("evt.arg.pid", "sleep".into()),
                ("evt.arg.sig", "SIGSTOP".into()),
                ("evt.rawarg.sig", 19.into()),
                ("evt.res", "SUCCESS".into()),
            ],
        ),
        e("kmx chroot", vec![("evt.arg.path", "/tmp/kmx/jail".into()), ("evt.res", "SUCCESS".into())]),
    ]
}

/// Check one alert expectation against the alerts: the cell says which field
/// differed (from the rule's alerts) or that the rule never fired.
fn alert_cell(alerts: &[Value], ex: &Expect) -> Cell {
    let of_rule: Vec<&Value> = alerts.iter().filter(|a| s(a, &["rule"]) == Some(ex.rule)).collect();
    if of_rule.is_empty() {
        return cell(false, "no alert");
    }
    let mut first_diff = None;
    for a in &of_rule {
        let diff = ex.fields.iter().find(|(k, want)| a.get("output_fields").and_then(|f| f.get(k)) != Some(want));
        match diff {
            None => return cell(true, "ok"),
            Some((k, want)) => {
                let got = a.get("output_fields").and_then(|f| f.get(k)).cloned().unwrap_or(Value::Null);
                first_diff.get_or_insert(format!("{k}={got} (want {want})"));
            }
        }
    }
    cell(false, first_diff.unwrap_or_default())
}

/// `(syscall, path)` of every decoded event (`lanner run --events`) naming a
/// `/tmp/kmx/sys-*` file: any JSON object with a `syscall` and such a string.
fn sys_opens(v: &Value, out: &mut Vec<(String, String)>) {
    match v {
        Value::Object(m) => {
            if let Some(sc) = m.get("syscall").and_then(Value::as_str) {
                for p in m.values().filter_map(Value::as_str).filter(|p| p.starts_with("/tmp/kmx/sys-")) {
                    out.push((sc.to_string(), p.to_string()));
                }
            }
            m.values().for_each(|x| sys_opens(x, out));
        }
        Value::Array(a) => a.iter().for_each(|x| sys_opens(x, out)),
        _ => {}
    }
}

/// The opens helper (xtask/kernels/payload/opens.c) made one open, openat, openat2
/// and creat: each file's events must name exactly its syscall, once (creat is
/// reported by its own pair, not again as an open). The tracepoint fallback has no
/// `open` pair, so there `sys-open` has no event.
fn open_types(events: &[Value], fexit: bool) -> Cell {
    let mut got = Vec::new();
    events.iter().for_each(|v| sys_opens(v, &mut got));
    if got.is_empty() {
        return cell(false, "no events");
    }
    let want: &[(&str, &[&str])] = &[
        ("open", if fexit { &["open"] } else { &[] }),
        ("openat", &["openat"]),
        ("openat2", &["openat2"]),
        ("creat", &["creat"]),
    ];
    for (file, names) in want {
        let path = format!("/tmp/kmx/sys-{file}");
        let seen: Vec<&str> = got.iter().filter(|(_, p)| *p == path).map(|(s, _)| s.as_str()).collect();
        if seen != *names {
            return cell(false, format!("sys-{file}: {seen:?} (want {names:?})"));
        }
    }
    cell(true, if fexit { "open, openat, openat2, creat" } else { "openat, openat2, creat" })
}

/// Parse a guest console into the matrix row.
pub fn parse(console: &str) -> Outcome {
    let mut o = Outcome {
        uname: marker(console, "KMX kernel ").unwrap_or("?").to_string(),
        lsm: marker(console, "KMX lsm ").unwrap_or("?").to_string(),
        done: console.contains("KMX-DONE"),
        ..Outcome::default()
    };
    let booted = console.contains("KMX kernel ");
    o.cells.push(cell(booted, if booted { "ok" } else { "no init" }));
    let log = json_lines(&section(console, "LOG"));
    let alerts = json_lines(&section(console, "ALERTS"));
    let msg = |v: &Value| s(v, &["fields", "message"]).unwrap_or("").to_string();

    // Probes: every probe the table selected for this kernel loaded.
    let (mut attached, mut selected) = (0, 0);
    for v in &log {
        let m = msg(v);
        let probe = s(v, &["fields", "probe"]).unwrap_or("?");
        let hook = s(v, &["fields", "hook"]).unwrap_or("?");
        if m == "probe attached" {
            attached += 1;
            selected += 1;
            o.hooks.push(format!("{probe} {hook}"));
        } else if let Some(why) = m.strip_prefix("probe fallback: ") {
            o.fallbacks.push(format!("{probe} ({hook}): {}", why.lines().last().unwrap_or(why)));
        } else if let Some(why) = m.strip_prefix("probe not attached: ") {
            let line = format!("{probe} ({hook}): {}", why.lines().last().unwrap_or(why));
            if why.starts_with("needs kernel") {
                o.skipped_probes.push(line);
            } else {
                selected += 1;
                o.failed_probes.push(line);
            }
        }
    }
    let ready = log.iter().any(|v| msg(v) == "lanner ready");
    o.cells.push(cell(ready && selected > 0 && attached == selected, format!("{attached}/{selected}")));

    // Opens: the fexit program, or (with the reason logged) the tracepoint pairs.
    let has = |p: &str| o.hooks.iter().any(|h| h.split_whitespace().next() == Some(p));
    o.cells.push(if has("openat_fexit") {
        cell(!has("openat_enter") && !has("openat_exit"), "fexit")
    } else {
        let fell_back = o.fallbacks.iter().any(|f| f.starts_with("openat_fexit "));
        cell(fell_back && has("openat_enter") && has("openat_exit"), "tracepoint")
    });

    o.cells.push(open_types(&json_lines(&section(console, "OPENS")), has("openat_fexit")));

    // Exec: the BPF LSM program where the guest's active LSM list has `bpf`, else
    // sched_exec with the fallback logged (BPF LSM not active).
    let bpf_lsm = o.lsm.split(',').any(|m| m.trim() == "bpf");
    o.cells.push(if has("lsm_exec") {
        cell(bpf_lsm && !has("sched_exec"), "lsm")
    } else {
        let why = o.fallbacks.iter().find(|f| f.starts_with("lsm_exec ")).cloned();
        let ok = has("sched_exec") && why.is_some() && !bpf_lsm;
        cell(ok, if bpf_lsm { "tracepoint (bpf LSM active!)" } else { "tracepoint" })
    });

    // The path and numeric syscalls: one exit program each where the kernel has
    // bpf_task_pt_regs (5.15+), else the pairs with the fallback logged.
    o.cells.push(if has("socket_regs") {
        cell(!has("socket_enter") && !has("socket_exit") && has("mkdirat_regs") && !has("mkdirat_enter"), "exit-only")
    } else {
        let fell_back = o.fallbacks.iter().any(|f| f.starts_with("socket_regs "));
        cell(fell_back && has("socket_enter") && has("socket_exit") && has("mkdirat_enter"), "pairs")
    });

    // BTF: the agent resolved every struct offset it looks up.
    let btf = log.iter().find(|v| msg(v) == "kernel BTF read: struct offsets resolved");
    let num = |v: &Value, k: &str| v.get("fields").and_then(|f| f.get(k)).and_then(Value::as_u64);
    o.cells.push(match btf.map(|v| (num(v, "resolved"), num(v, "fields"))) {
        Some((Some(r), Some(t))) => cell(r == t, format!("{r}/{t}")),
        _ => cell(false, "no log"),
    });

    // cgroup ids → paths by file handle (open_by_handle_at), v2 and the v1 pids hierarchy.
    let by: Vec<&str> = log
        .iter()
        .filter(|v| matches!(msg(v).as_str(), "container resolution from cgroup ids" | "v1 cgroup ids resolvable"))
        .filter_map(|v| s(v, &["fields", "by"]))
        .collect();
    o.cells.push(cell(by.len() == 2 && by.iter().all(|b| *b == "file handle"), by.join(" + ")));

    for ex in expectations(console) {
        o.cells.push(alert_cell(&alerts, &ex));
    }

    // Drops: the final counters' ring-buffer total, summed over probes too.
    let fin = log.iter().find_map(|v| v.get("final_counters"));
    o.cells.push(match fin {
        Some(f) => {
            let total = f.get("ringbuf_drop_total").and_then(Value::as_u64);
            let per_probe: u64 = f
                .pointer("/kernel/by_probe")
                .and_then(Value::as_object)
                .map(|m| m.values().filter_map(|p| p.get("ringbuf_drop").and_then(Value::as_u64)).sum())
                .unwrap_or(0);
            // Runs the kernel skipped (recursion protection) lose events as surely.
            let skipped: u64 = f
                .get("recursion_misses")
                .and_then(Value::as_object)
                .map(|m| m.values().filter_map(Value::as_u64).sum())
                .unwrap_or(0);
            match total {
                Some(t) if skipped > 0 => cell(false, format!("{} + {skipped} skipped runs", t.max(per_probe))),
                Some(t) => cell(t == 0 && per_probe == 0, (t.max(per_probe)).to_string()),
                None => cell(false, "no counters"),
            }
        }
        None => cell(false, "no counters"),
    });
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    fn console(alerts: &str, drops: u64) -> String {
        format!(
            "junk\n\x1bc\x1b[?7lKMX kernel 6.1.0-57-cloud-amd64\nKMX lsm lockdown,bpf\n\
             KMX echo-ino 1234\nKMX echo-exe /bin/busybox\nKMX-BEGIN-LOG\n\
             {{\"fields\":{{\"message\":\"kernel BTF read: struct offsets resolved\",\"resolved\":60,\"fields\":60}}}}\n\
             {{\"fields\":{{\"message\":\"container resolution from cgroup ids\",\"by\":\"file handle\"}}}}\n\
             {{\"fields\":{{\"message\":\"v1 cgroup ids resolvable\",\"by\":\"file handle\"}}}}\n\
             {{\"fields\":{{\"message\":\"probe replaced\",\"probe\":\"sched_exec\",\"hook\":\"tracepoint/sched/sched_process_exec\"}}}}\n\
             {{\"fields\":{{\"message\":\"probe attached\",\"probe\":\"openat_fexit\",\"hook\":\"fexit/do_sys_openat2\"}}}}\n\
             {{\"fields\":{{\"message\":\"probe attached\",\"probe\":\"lsm_exec\",\"hook\":\"lsm/bprm_committed_creds\"}}}}\n\
             {{\"fields\":{{\"message\":\"probe not attached: needs kernel 9.9+\",\"probe\":\"x\",\"hook\":\"h\"}}}}\n\
             {{\"fields\":{{\"message\":\"lanner ready\"}}}}\n\
             {{\"final_counters\":{{\"ringbuf_drop_total\":{drops},\"kernel\":{{\"by_probe\":{{}}}}}}}}\n\
             KMX-END-LOG\nKMX-BEGIN-ALERTS\n{alerts}\nKMX-END-ALERTS\nKMX-DONE\n"
        )
    }

    #[test]
    fn a_missing_alert_or_a_wrong_field_or_a_drop_fails_its_cell() {
        let exec = format!(
            r#"{{"rule":"kmx exec","output_fields":{{"proc.cmdline":"echo kmx-argv one two words {0}","proc.env[KMX_ENV]":"kmx-env-42","proc.env[KMX_PAD]":"{0}","proc.ppid":1,"proc.cwd":"/","proc.exepath":"/bin/busybox","proc.exe_ino":1234,"proc.fdlimit":777}}}}"#,
            pad()
        );
        let exec = exec.as_str();
        // The executable's inode must be the one the guest's stat printed.
        let other_ino = parse(&console(&exec.replace(":1234", ":99"), 0));
        let col = COLUMNS.iter().position(|c| *c == "exec").unwrap();
        assert!(!other_ino.cells[col].ok);
        assert_eq!(other_ino.cells[col].text, "proc.exe_ino=99 (want 1234)");
        let o = parse(&console(exec, 0));
        assert_eq!(o.uname, "6.1.0-57-cloud-amd64");
        let by = |name: &str| &o.cells[COLUMNS.iter().position(|c| *c == name).unwrap()];
        assert!(by("boot").ok && by("probes").ok && by("btf").ok && by("exec").ok && by("drops").ok);
        assert!(by("cgroup ids").ok && by("cgroup ids").text == "file handle + file handle");
        // An agent that fell back to /proc and walks (no capability, seccomp) fails the cell.
        let walks = parse(&console(exec, 0).replacen("\"by\":\"file handle\"", "\"by\":\"/proc and walks\"", 1));
        let col = COLUMNS.iter().position(|c| *c == "cgroup ids").unwrap();
        assert!(!walks.cells[col].ok && walks.cells[col].text == "/proc and walks + file handle");
        assert_eq!(by("probes").text, "2/2");
        assert!(by("open path").ok && by("open path").text == "fexit");
        assert!(by("exec path").ok && by("exec path").text == "lsm");
        assert_eq!(o.skipped_probes.len(), 1);
        assert!(!by("connect").ok);
        assert_eq!(by("connect").text, "no alert");
        assert!(!o.passed());

        let wrong =
            r#"{"rule":"kmx exec","output_fields":{"proc.cmdline":"echo kmx-argv","proc.env[KMX_ENV]":"kmx-env-42"}}"#;
        let o = parse(&console(wrong, 3));
        let exec = &o.cells[COLUMNS.iter().position(|c| *c == "exec").unwrap()];
        assert!(!exec.ok);
        assert!(exec.text.starts_with("proc.cmdline=\"echo kmx-argv\""), "{}", exec.text);
        assert!(!o.cells.last().unwrap().ok);

        let skipped = console(wrong, 0)
            .replace("\"ringbuf_drop_total\":0", "\"recursion_misses\":{\"sched_exec\":1},\"ringbuf_drop_total\":0");
        let o = parse(&skipped);
        assert!(!o.cells.last().unwrap().ok);
        assert_eq!(o.cells.last().unwrap().text, "0 + 1 skipped runs");
    }

    /// The open facts must be what the guest's stat(2) printed for the file.
    #[test]
    fn open_facts_are_checked_against_the_guests_stat() {
        let write = |ino: u64, created: bool| {
            format!(
                r#"{{"rule":"kmx open write","output_fields":{{"fd.name":"/tmp/kmx/written","evt.res":"SUCCESS","fd.ino":{ino},"fd.dev":5,"evt.is_open_create":{created}}}}}"#
            )
        };
        let with_stat =
            |alerts: &str| console(alerts, 0).replace("KMX-BEGIN-LOG", "KMX written-stat 77 5\nKMX-BEGIN-LOG");
        let col = COLUMNS.iter().position(|c| *c == "open w").unwrap();
        assert!(parse(&with_stat(&write(77, true))).cells[col].ok);
        let o = parse(&with_stat(&write(78, true)));
        assert!(!o.cells[col].ok);
        assert_eq!(o.cells[col].text, "fd.ino=78 (want 77)");
        assert!(!parse(&with_stat(&write(77, false))).cells[col].ok);
        assert!(!parse(&console(&write(77, true), 0)).cells[col].ok, "no stat line: nothing to match");
    }

    /// Without `bpf` in the LSM list the exec path must be the logged fallback; with
    /// it, a fallback is a failure.
    #[test]
    fn the_exec_path_follows_the_active_lsm_list() {
        let fallback = "{\"fields\":{\"message\":\"probe fallback: BPF LSM is not active\",\"probe\":\"lsm_exec\",\"hook\":\"lsm/bprm_committed_creds\"}}\n\
             {\"fields\":{\"message\":\"probe attached\",\"probe\":\"sched_exec\",\"hook\":\"tracepoint/sched/sched_process_exec\"}}";
        let text = console("", 0)
            .replace("{\"fields\":{\"message\":\"probe attached\",\"probe\":\"lsm_exec\",\"hook\":\"lsm/bprm_committed_creds\"}}", fallback);
        let col = COLUMNS.iter().position(|c| *c == "exec path").unwrap();
        let o = parse(&text.replace("KMX lsm lockdown,bpf", "KMX lsm lockdown,yama"));
        assert!(o.cells[col].ok && o.cells[col].text == "tracepoint", "{:?}", o.cells[col]);
        let o = parse(&text);
        assert!(!o.cells[col].ok, "bpf LSM active but the fallback used: {:?}", o.cells[col]);
    }

    #[test]
    fn each_open_syscall_is_named_exactly_once() {
        let line = |sc: &str, f: &str| serde_json::json!({"time_ns": 1, "Open": {"syscall": sc, "path": format!("/tmp/kmx/sys-{f}")}});
        let good =
            vec![line("open", "open"), line("openat", "openat"), line("openat2", "openat2"), line("creat", "creat")];
        let c = open_types(&good, true);
        assert!(c.ok, "{c:?}");
        // The old fexit program: every open reported as openat, creat twice.
        let old = vec![line("openat", "open"), line("openat", "openat"), line("openat", "openat2")];
        let c = open_types(&old, true);
        assert!(!c.ok && c.text == r#"sys-open: ["openat"] (want ["open"])"#, "{c:?}");
        let twice = [good.clone(), vec![line("openat", "creat")]].concat();
        let c = open_types(&twice, true);
        assert!(!c.ok && c.text.starts_with("sys-creat:"), "{c:?}");
        // Tracepoint fallback: no open pair.
        assert!(open_types(&good[1..], false).ok);
        assert!(!open_types(&[], true).ok);
    }

    #[test]
    fn a_guest_that_never_booted_fails_every_cell_but_reports_it() {
        let o = parse("Kernel panic - not syncing\n");
        assert!(!o.done && !o.passed());
        assert_eq!(o.cells.len(), COLUMNS.len());
        assert_eq!(o.cells[0].text, "no init");
    }
}
