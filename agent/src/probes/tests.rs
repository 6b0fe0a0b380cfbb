//! Tests of the probe table: names, preference order, hook types, fail-soft messages.
use super::*;

#[test]
fn recursion_misses_are_read_from_fdinfo() {
    let text = "pos:\t0\nflags:\t02000002\nprog_type:\t5\nrun_cnt:\t0\nrecursion_misses:\t3\nverified_insns:\t9\n";
    assert_eq!(fdinfo_recursion_misses(text), Some(3));
    assert_eq!(fdinfo_recursion_misses("prog_type:\t5\n"), None);
}

#[test]
fn table_names_are_unique_and_exec_is_essential() {
    let mut names: Vec<_> = TABLE.iter().map(|s| s.program).collect();
    names.sort();
    names.dedup();
    assert_eq!(names.len(), TABLE.len());
    assert!(TABLE.iter().any(|s| s.essential && s.program == "sched_exec"));
}

/// A preferred probe comes before the probes it replaces, which exist; a
/// preferred probe that is itself replaced (openat_regs by openat_fexit)
/// passes its own fallbacks on, so whatever replaces it replaces them too.
#[test]
fn preferred_probes_precede_their_fallbacks() {
    for (i, spec) in TABLE.iter().enumerate() {
        for r in spec.replaces {
            let j = TABLE.iter().position(|s| s.program == *r).unwrap_or_else(|| panic!("{r} not in the table"));
            assert!(j > i, "{} must come before {r}", spec.program);
            for rr in TABLE[j].replaces {
                assert!(spec.replaces.contains(rr), "{} replaces {r} but not {r}'s fallback {rr}", spec.program);
            }
        }
    }
    // Every register-reading program is preferred over an exit tracepoint on
    // the same syscall (its pair), on the kernel bpf_task_pt_regs needs.
    let regs: Vec<_> = TABLE.iter().filter(|s| reads_x86_regs(s.program)).collect();
    assert!(regs.len() >= 25, "{} regs programs", regs.len());
    for s in regs {
        if s.program == "exec_rename_regs" {
            // The one not on a syscall: it marks execveats in place of their enter program.
            assert_eq!(
                (s.hook.to_string().as_str(), s.replaces),
                ("tracepoint/task/task_rename", &["execveat_enter"][..])
            );
            continue;
        }
        let Hook::TracePoint { category: "syscalls", name } = s.hook else {
            panic!("{}: not a syscall tracepoint", s.program)
        };
        let exit = TABLE.iter().find(|f| {
            s.replaces.contains(&f.program) && matches!(f.hook, Hook::TracePoint { name: n, .. } if n == name)
        });
        assert!(exit.is_some(), "{}: replaces no program on {name}", s.program);
        assert_eq!(s.min_kernel, (5, 15), "{}", s.program);
        assert_eq!(probe_type(s), exit.and_then(probe_type), "{}: same event type as its pair", s.program);
    }
    assert!(TABLE.iter().any(|s| matches!(s.hook, Hook::FExit { .. }) && !s.replaces.is_empty()));
    assert!(TABLE.iter().any(|s| matches!(s.hook, Hook::Lsm { .. }) && s.replaces.contains(&"sched_exec")));
}

#[test]
fn bpf_lsm_is_used_only_when_listed_as_active() {
    assert_eq!(bpf_lsm_inactive(Ok("lockdown,capability,landlock,yama,apparmor,bpf\n".into())), None);
    let off = bpf_lsm_inactive(Ok("lockdown,capability,yama,apparmor\n".into())).unwrap();
    assert!(off.starts_with("BPF LSM is not active (active LSMs: lockdown,capability,yama,apparmor;"), "{off}");
    // "bpf" must be a whole entry, not a substring of another LSM's name.
    assert!(bpf_lsm_inactive(Ok("lockdown,notbpf".into())).is_some());
    let err = std::io::Error::from(std::io::ErrorKind::NotFound);
    assert!(bpf_lsm_inactive(Err(err)).unwrap().starts_with("cannot read the active LSM list"));
    assert_eq!(Hook::Lsm { hook: "bprm_committed_creds" }.to_string(), "lsm/bprm_committed_creds");
}

/// Every syscall probe serves a captured event type, except the exec family,
/// which (with fork and exit) the process table needs whatever the rules.
#[test]
fn syscall_probes_map_to_their_event_type_and_the_process_table_always_attaches() {
    let ty = |p: &str| probe_type(TABLE.iter().find(|s| s.program == p).unwrap());
    for p in ["execve_enter", "sched_exec", "execve_exit", "execveat_enter", "execveat_exit", "sched_fork"] {
        assert_eq!(ty(p), None, "{p}");
    }
    assert_eq!(ty("sched_exit"), None);
    assert_eq!(ty("openat_fexit"), Some(EvtType::Openat));
    assert_eq!(ty("openat2_exit"), Some(EvtType::Openat));
    assert_eq!(ty("setresuid_enter"), Some(EvtType::Setuid));
    assert_eq!(ty("umount2_exit"), Some(EvtType::Umount2));
    assert_eq!(ty("unshare_enter"), Some(EvtType::Unshare));
    for spec in TABLE {
        if let Hook::TracePoint { category: "syscalls", name } = spec.hook {
            let exec = name.ends_with("_execve") || name.ends_with("_execveat");
            assert_eq!(probe_type(spec).is_none(), exec, "{}: {name}", spec.program);
        }
    }
}

#[test]
fn a_missing_tracepoint_is_named_and_an_unmounted_tracefs_is_not_judged() {
    let root = std::env::temp_dir().join(format!("lanner-tracefs-{}", std::process::id()));
    std::fs::create_dir_all(root.join("events/syscalls/sys_enter_openat")).unwrap();
    let r = root.to_str().unwrap();
    assert_eq!(missing_tracepoint(&[r], "syscalls", "sys_enter_openat"), None);
    let msg = missing_tracepoint(&[r], "syscalls", "sys_enter_init_module").unwrap();
    assert!(msg.starts_with("tracepoint syscalls/sys_enter_init_module does not exist on this kernel"), "{msg}");
    assert_eq!(missing_tracepoint(&["/nonexistent-tracefs"], "syscalls", "sys_enter_x"), None);
    let _ = std::fs::remove_dir_all(&root);
}

#[test]
fn log_tail_keeps_the_end() {
    let log = (0..40).map(|i| format!("line {i}")).collect::<Vec<_>>().join("\n");
    let t = log_tail(&log, 3);
    assert_eq!(t, "line 37\nline 38\nline 39");
}

#[test]
fn the_skip_list_takes_names_and_suffix_patterns() {
    assert!(skip_list_names("openat_regs, connect_regs", "connect_regs"));
    assert!(!skip_list_names("openat_regs", "openat2_regs"));
    assert!(skip_list_names("*_regs", "socket_regs") && skip_list_names("x,*_regs", "execve_regs"));
    assert!(!skip_list_names("*_regs", "socket_enter"));
    assert!(!skip_list_names("*", "socket_enter"), "a bare * names nothing");
    assert!(!skip_list_names("", "socket_enter"));
}
