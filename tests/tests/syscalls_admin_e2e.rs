//! Privileged end-to-end test of the probes for mount/umount2, bpf, userfaultfd,
//! capset, setgid/setresgid and prctl: each real syscall, successful and failing, is
//! asserted on the kernel record (`--events`) and on the rule engine's `evt.arg.*`
//! values, including Falco's "BPF Program Not Profiled" condition
//! (`evt.arg.cmd=5 or evt.arg.cmd=BPF_PROG_LOAD`) on a real program load. A second
//! run with rules that need none of these types checks that nothing is emitted.
use lanner_tests::{
    nonce, require_root, sys,
    sysprobe::{alert, args, c, e, fired, i, in_child, record, run, Results, EXEC_ONLY},
    Stopped,
};
use serde_json::Value;

const RULES: &str = r#"
- rule: e2e mount
  desc: mount and umount2 of the test process
  condition: evt.type in (mount, umount2) and proc.pid = PID
  output: "mnt %evt.type res=%evt.rawres dev=%evt.arg.dev dir=%evt.arg.dir type=%evt.arg.type flags=%evt.arg.flags rawflags=%evt.rawarg.flags name=%evt.arg.name src=%fs.path.source tgt=%fs.path.target pname=%fs.path.name"
  priority: WARNING
- rule: e2e bpf program load
  desc: Falco's "BPF Program Not Profiled" condition
  condition: evt.type=bpf and (evt.arg.cmd=5 or evt.arg.cmd=BPF_PROG_LOAD) and proc.pid = PID
  output: "bpfload cmd=%evt.arg.cmd rawcmd=%evt.rawarg.cmd res=%evt.rawres res_or_fd=%evt.arg.res_or_fd"
  priority: WARNING
- rule: e2e bpf
  desc: every bpf call of the test process
  condition: evt.type=bpf and proc.pid = PID
  output: "bpf cmd=%evt.arg.cmd res=%evt.rawres"
  priority: WARNING
- rule: e2e userfaultfd
  desc: Falco's userfaultfd condition, without the user test
  condition: evt.type = userfaultfd and (evt.rawres >= 0 or evt.res != -1) and proc.pid = PID
  output: "uffd res=%evt.rawres flags=%evt.arg.flags rawflags=%evt.rawarg.flags"
  priority: WARNING
- rule: e2e creds
  desc: capset by the test process, setgid, setresgid and prctl by its child
  condition: (evt.type = capset and proc.pid = PID) or (evt.type in (setgid, setresgid, prctl) and proc.ppid = PID)
  output: "cred %evt.type res=%evt.rawres gid=%evt.arg.gid rgid=%evt.arg.rgid egid=%evt.arg.egid sgid=%evt.arg.sgid eff=%evt.arg.cap_effective perm=%evt.arg.cap_permitted inh=%evt.arg.cap_inheritable option=%evt.arg.option rawoption=%evt.rawarg.option arg2_str=%evt.arg.arg2_str arg2_int=%evt.arg.arg2_int"
  priority: WARNING
"#;

const MS_NOSUID: i64 = libc::MS_NOSUID as i64;
const MS_NODEV: i64 = libc::MS_NODEV as i64;

fn mount_workload(dir: &str, x: &mut Results) {
    let mnt = format!("{dir}/mnt");
    std::fs::create_dir_all(&mnt).unwrap();
    let (dev, fstype, data) = (c("lanner-e2e"), c("tmpfs"), c("size=1m"));
    let (m, missing) = (c(&mnt), c(&format!("{dir}/missing")));
    let flags = MS_NOSUID | MS_NODEV;
    x.set("mount", sys!(libc::SYS_mount, dev.as_ptr(), m.as_ptr(), fstype.as_ptr(), flags, data.as_ptr()));
    x.set("umount2", sys!(libc::SYS_umount2, m.as_ptr(), libc::MNT_DETACH as i64));
    x.set("umount2_fail", sys!(libc::SYS_umount2, m.as_ptr(), 0));
    x.set("mount_fail", sys!(libc::SYS_mount, dev.as_ptr(), missing.as_ptr(), fstype.as_ptr(), 0, 0));
}

/// `union bpf_attr` for BPF_PROG_LOAD (the fields up to `prog_flags`, zero padded).
#[repr(C)]
struct ProgLoad {
    prog_type: u32,
    insn_cnt: u32,
    insns: u64,
    license: u64,
    log_level: u32,
    log_size: u32,
    log_buf: u64,
    kern_version: u32,
    prog_flags: u32,
    _rest: [u8; 80],
}

fn bpf_workload(x: &mut Results) {
    // r0 = 0; exit: the smallest valid socket filter.
    let insns: [u64; 2] =
        [u64::from_le_bytes([0xb7, 0, 0, 0, 0, 0, 0, 0]), u64::from_le_bytes([0x95, 0, 0, 0, 0, 0, 0, 0])];
    let license = c("GPL");
    let mut attr = ProgLoad {
        prog_type: 1,
        insn_cnt: 2,
        insns: insns.as_ptr() as u64,
        license: license.as_ptr() as u64,
        log_level: 0,
        log_size: 0,
        log_buf: 0,
        kern_version: 0,
        prog_flags: 0,
        _rest: [0; 80],
    };
    let size = std::mem::size_of::<ProgLoad>() as i64;
    let fd = sys!(libc::SYS_bpf, 5, &attr as *const _, size);
    x.set("bpf_load", fd);
    if fd >= 0 {
        unsafe { libc::close(fd as i32) };
    }
    attr.insn_cnt = 0;
    x.set("bpf_load_fail", sys!(libc::SYS_bpf, 5, &attr as *const _, size));
    x.set("bpf_bad_cmd", sys!(libc::SYS_bpf, 9999, &attr as *const _, size));
    let flags = (libc::O_CLOEXEC | libc::O_NONBLOCK) as i64;
    let u = sys!(libc::SYS_userfaultfd, flags);
    x.set("uffd", u);
    if u >= 0 {
        unsafe { libc::close(u as i32) };
    }
    x.set("uffd_fail", sys!(libc::SYS_userfaultfd, 0x10));
}

#[repr(C)]
#[derive(Clone, Copy, Default)]
struct CapHeader {
    version: u32,
    pid: i32,
}

#[repr(C)]
#[derive(Clone, Copy, Default)]
struct CapData {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

fn cred_workload(x: &mut Results) {
    // capset to the sets already held (a no-op change), then with a bad version.
    let mut h = CapHeader { version: 0x2008_0522, pid: 0 };
    let mut d = [CapData::default(); 2];
    assert_eq!(sys!(libc::SYS_capget, &mut h as *mut _, d.as_mut_ptr()), 0);
    let set = |f: fn(&CapData) -> u32| i64::from(f(&d[0])) | (i64::from(f(&d[1])) << 32);
    x.set("cap_eff", set(|c| c.effective));
    x.set("cap_perm", set(|c| c.permitted));
    x.set("cap_inh", set(|c| c.inheritable));
    x.set("capset", sys!(libc::SYS_capset, &h as *const _, d.as_ptr()));
    let bad = CapHeader { version: 0x1234, pid: 0 };
    x.set("capset_fail", sys!(libc::SYS_capset, &bad as *const _, d.as_ptr()));
    let name = c("lnr-prctl-e2e");
    let pid = in_child("creds", || unsafe {
        libc::syscall(libc::SYS_setgid, 1234) == 0
            && libc::syscall(libc::SYS_setresgid, -1i64, 1235, -1i64) == 0
            && libc::syscall(libc::SYS_prctl, libc::PR_SET_NAME as i64, name.as_ptr(), 0, 0, 0) == 0
            && libc::syscall(libc::SYS_prctl, 9999, 7, 0, 0, 0) == -1
            && libc::syscall(libc::SYS_setuid, 65534) == 0
            && libc::syscall(libc::SYS_setgid, 0) == -1
            && libc::syscall(libc::SYS_setresgid, 0, 0, 0) == -1
    });
    x.set("cred_pid", pid);
}

fn workload(dir: &str, x: &mut Results) {
    x.set("pid", std::process::id().into());
    mount_workload(dir, x);
    bpf_workload(x);
    cred_workload(x);
}

#[test]
fn mount_bpf_and_cred_syscalls_report_exact_fields() {
    if !require_root("mount_bpf_and_cred_syscalls_report_exact_fields") {
        return;
    }
    let dir = format!("/tmp/{}", nonce());
    let (out, x) = run(RULES, &dir, true, |x| workload(&dir, x));
    let _ = std::fs::remove_dir_all(&dir);
    check_mount(&out, &x, &dir);
    check_bpf(&out, &x);
    check_creds(&out, &x);
}

fn check_mount(out: &Stopped, x: &Results, dir: &str) {
    let me = x.get("pid");
    let mnt = format!("{dir}/mnt");
    assert_eq!((x.get("mount"), x.get("umount2")), (0, 0));
    assert_eq!((x.get("umount2_fail"), x.get("mount_fail")), (e(libc::EINVAL), e(libc::ENOENT)));
    // Kernel records: dir in `path`, dev in `path2`, the type in `aux`.
    let missing = format!("{dir}/missing");
    for (syscall, ret, path, path2, aux, flags) in [
        ("mount", 0, mnt.as_str(), "lanner-e2e", "tmpfs", MS_NOSUID | MS_NODEV),
        ("mount", e(libc::ENOENT), missing.as_str(), "lanner-e2e", "tmpfs", 0),
        ("umount2", 0, mnt.as_str(), "", "", libc::MNT_DETACH as i64),
        ("umount2", e(libc::EINVAL), mnt.as_str(), "", "", 0),
    ] {
        let r = record(out, "file", syscall, me, ret);
        let got = (r["path"].as_str().unwrap(), r["path2"].as_str().unwrap(), r["aux"].as_str().unwrap());
        assert_eq!((got, i(&r["flags"]), i(&r["dirfd"])), ((path, path2, aux), flags, -100), "{syscall} = {ret}");
    }
    let f = alert(out, "e2e mount", "mnt mount res=0 ");
    args(&f, &[("dev", Some("lanner-e2e")), ("dir", Some(&mnt)), ("type", Some("tmpfs"))]);
    args(&f, &[("flags", Some("NOSUID|NODEV")), ("evt.rawarg.flags", Some("6")), ("name", None)]);
    args(&f, &[("fs.path.source", Some("lanner-e2e")), ("fs.path.target", Some(&mnt)), ("fs.path.name", None)]);
    let f = alert(out, "e2e mount", "mnt mount res=-2 ");
    args(&f, &[("dir", Some(&missing)), ("flags", Some("0")), ("fs.path.target", None)]);
    let f = alert(out, "e2e mount", "mnt umount2 res=0 ");
    args(&f, &[("name", Some(&mnt)), ("flags", Some("DETACH")), ("dev", None), ("dir", None)]);
    args(&f, &[("fs.path.name", Some(&mnt)), ("fs.path.source", None)]);
    let f = alert(out, "e2e mount", "mnt umount2 res=-22 ");
    args(&f, &[("name", Some(&mnt)), ("flags", Some("0")), ("fs.path.name", None)]);
}

fn check_bpf(out: &Stopped, x: &Results) {
    let me = x.get("pid");
    let load = x.get("bpf_load");
    assert!(load >= 0, "BPF_PROG_LOAD of a socket filter as root: {load}");
    // No instructions: E2BIG.
    assert_eq!((x.get("bpf_load_fail"), x.get("bpf_bad_cmd")), (e(libc::E2BIG), e(libc::EINVAL)));
    for (cmd, ret) in [(5, load), (5, e(libc::E2BIG)), (9999, e(libc::EINVAL))] {
        let all = out.find("sys", |r| {
            r["syscall"] == "bpf" && i(&r["pid"]) == me && i(&r["args"][0]) == cmd && i(&r["ret"]) == ret
        });
        assert_eq!(all.len(), 1, "bpf({cmd}) = {ret}");
    }
    let f = alert(out, "e2e bpf program load", &format!("bpfload cmd=BPF_PROG_LOAD rawcmd=5 res={load} "));
    args(&f, &[("res_or_fd", Some(&load.to_string()))]);
    alert(out, "e2e bpf program load", "bpfload cmd=BPF_PROG_LOAD rawcmd=5 res=-7 ");
    assert_eq!(fired(out, "e2e bpf program load"), 2, "the two program loads, not the bad command");
    alert(out, "e2e bpf", "bpf cmd=9999 res=-22");
    let u = x.get("uffd");
    assert!(u >= 0, "userfaultfd as root: {u}");
    assert_eq!(x.get("uffd_fail"), e(libc::EINVAL));
    let r = record(out, "sys", "userfaultfd", me, u);
    assert_eq!(i(&r["args"][0]), (libc::O_CLOEXEC | libc::O_NONBLOCK) as i64);
    let f = alert(out, "e2e userfaultfd", &format!("uffd res={u} "));
    args(&f, &[("flags", Some("O_NONBLOCK|O_CLOEXEC")), ("evt.rawarg.flags", Some("526336"))]);
    let f = alert(out, "e2e userfaultfd", "uffd res=-22 ");
    args(&f, &[("flags", Some("16"))]);
}

fn check_creds(out: &Stopped, x: &Results) {
    let me = x.get("pid");
    assert_eq!((x.get("capset"), x.get("capset_fail")), (0, e(libc::EINVAL)));
    record(out, "sys", "capset", me, 0);
    let hex = |k: &str| format!("{:#x}", x.get(k));
    let f = alert(out, "e2e creds", "cred capset res=0 ");
    args(&f, &[("cap_effective", Some(&hex("cap_eff"))), ("cap_permitted", Some(&hex("cap_perm")))]);
    args(&f, &[("cap_inheritable", Some(&hex("cap_inh"))), ("gid", None)]);
    // A failed capset changed nothing: Falco reports no sets (zero here).
    let f = alert(out, "e2e creds", "cred capset res=-22 ");
    args(&f, &[("cap_effective", Some("0x0"))]);
    let child = x.get("cred_pid");
    for (syscall, ret, a) in [
        ("setgid", 0, [1234, 0, 0]),
        ("setresgid", 0, [u64::from(u32::MAX) as i64, 1235, u64::from(u32::MAX) as i64]),
        ("setgid", e(libc::EPERM), [0, 0, 0]),
        ("setresgid", e(libc::EPERM), [0, 0, 0]),
    ] {
        let r = record(out, "sys", syscall, child, ret);
        let got: Vec<i64> = (0..3).map(|k| r["args"][k].as_u64().unwrap() as u32 as i64).collect();
        assert_eq!(got, a.to_vec(), "{syscall} = {ret}: {r}");
    }
    let f = alert(out, "e2e creds", "cred setgid res=0 ");
    args(&f, &[("gid", Some("1234")), ("rgid", None)]);
    args(&alert(out, "e2e creds", "cred setgid res=-1 "), &[("gid", Some("0"))]);
    let f = alert(out, "e2e creds", "cred setresgid res=0 ");
    args(&f, &[("rgid", Some("-1")), ("egid", Some("1235")), ("sgid", Some("-1"))]);
    let f = alert(out, "e2e creds", "cred setresgid res=-1 ");
    args(&f, &[("rgid", Some("0")), ("egid", Some("0")), ("sgid", Some("0"))]);
    let r = record(out, "sys", "prctl", child, 0);
    assert_eq!((i(&r["args"][0]), r["str"].as_str()), (15, Some("lnr-prctl-e2e")));
    let f = alert(out, "e2e creds", "cred prctl res=0 ");
    args(
        &f,
        &[("option", Some("PR_SET_NAME")), ("evt.rawarg.option", Some("15")), ("arg2_str", Some("lnr-prctl-e2e"))],
    );
    let r = record(out, "sys", "prctl", child, e(libc::EINVAL));
    assert_eq!((i(&r["args"][0]), i(&r["args"][1]), &r["str"]), (9999, 7, &Value::Null));
    let f = alert(out, "e2e creds", "cred prctl res=-22 ");
    args(&f, &[("option", Some("9999")), ("arg2_str", Some("")), ("arg2_int", Some("7"))]);
}

#[test]
fn admin_syscalls_no_rule_needs_are_not_emitted() {
    if !require_root("admin_syscalls_no_rule_needs_are_not_emitted") {
        return;
    }
    let dir = format!("/tmp/{}", nonce());
    let (out, x) = run(EXEC_ONLY, &dir, false, |x| workload(&dir, x));
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(x.get("mount"), 0, "the workload ran");
    let emitted = out.kernel("file_exit", "emitted") + out.kernel("sys_exit", "emitted");
    assert_eq!(emitted, 0, "file/sys records emitted although no rule needs them");
    // Their programs are not even attached (so nothing runs to be filtered).
    for p in ["mount_enter", "umount2_exit", "bpf_enter", "userfaultfd_enter", "capset_enter", "prctl_enter"] {
        assert!(out.stderr.iter().any(|l| l.contains("probe not attached: no rule needs it") && l.contains(p)), "{p}");
    }
    let filtered: u64 =
        ["file_enter", "sys_enter", "file_exit", "sys_exit"].iter().map(|p| out.kernel(p, "filtered")).sum();
    assert_eq!(filtered, 0, "a probe no rule needs ran");
}
