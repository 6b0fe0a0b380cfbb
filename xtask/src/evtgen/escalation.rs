//! Actions: privilege escalation / container escape and defense evasion.
use anyhow::Result;

use super::{act, py, sh, tool, work, Action, Ctx, WORK};

pub(crate) fn actions() -> Vec<Action> {
    vec![
        // ---- privilege escalation, container escape
        act!("setuid(0) as uid 1000", "Non sudo setuid", "T1548.001", setuid0),
        act!("chmod u+s", "Set setuid or setgid bit", "T1548.001", chmod_suid),
        act!("chmod g+s", "Set setuid or setgid bit", "T1548.001", chmod_sgid),
        act!("setcap cap_setuid", "File capabilities set in container", "T1548", setcap),
        act!("write release_agent", "Container escape via cgroup release_agent", "T1611", release_agent),
        act!("open core_pattern for write", "Write to kernel helper path", "T1611", core_pattern),
        act!("open /proc/sys for write", "Write to /proc/sys in container", "T1611", proc_sys),
        act!("nsenter into host netns", "Change namespace with setns in container", "T1611", nsenter),
        act!("unshare -U", "Create namespace with unshare in container", "T1611", unshare_user),
        act!("ptrace attach", "PTRACE attached to process", "T1055.008", ptrace_attach),
        act!("/proc/PID/mem write", "Write to process memory via /proc", "T1055.009", proc_mem),
        act!("GLIBC_TUNABLES env", "Privilege escalation via GLIBC_TUNABLES", "T1068", glibc_tunables),
        act!("mount tmpfs", "Mount or debugfs launched in container", "T1611", mount),
        act!("debugfs", "Mount or debugfs launched in container", "T1611", debugfs),
        // ---- defense evasion
        act!("write /etc file", "Write below etc", "T1222", write_etc),
        act!("truncate /var/log file", "Clear log files", "T1070.002", clear_log),
        act!("rm /var/log file", "Delete log files", "T1070.002", delete_log),
        act!("rm .bash_history", "Delete or rename shell history", "T1070.003", rm_history),
        act!("truncate .zsh_history", "Clear or redirect shell history", "T1070.003", truncate_history),
        act!("history -> /dev/null", "Clear or redirect shell history", "T1070.003", history_devnull),
        act!("rm /etc/shadow (uid 1000)", "Delete or rename sensitive file", "T1070.004", rm_shadow),
        act!("ln -s /etc/shadow", "Create symlink over sensitive file", "T1555", symlink_shadow),
        act!("ln /etc/shadow", "Create hardlink over sensitive file", "T1555", hardlink_shadow),
        act!("chmod /usr/local/bin file", "Change permissions of binary", "T1222.002", chmod_bin),
        act!("iptables -F", "Firewall rules flushed or changed in container", "T1562.004", iptables_flush),
        act!("touch -d (timestomp)", "Timestomp file", "T1070.006", timestomp),
        act!("ptrace TRACEME", "PTRACE anti-debug attempt", "T1622", traceme),
        act!("insmod", "Kernel module tool launched in container", "T1547.006", insmod),
        act!("modprobe", "Kernel module tool launched in container", "T1547.006", modprobe),
        act!("finit_module syscall", "Kernel module load attempt", "T1547.006", finit_module, module_syscalls_filtered),
        act!("file in /dev", "Create files below dev", "T1564.001", dev_file),
        act!("mkdir /etc/.hidden", "Create hidden directory in system location", "T1564.001", hidden_dir),
    ]
}

fn setuid0(c: &Ctx) -> Result<()> {
    py(c, "import os\ntry:\n    os.setuid(0)\nexcept OSError:\n    pass", Some(1000))
}

fn chmod_suid(c: &Ctx) -> Result<()> {
    c.pod.run("chmod", &["u+s", &work("suid")], None, None)
}

fn chmod_sgid(c: &Ctx) -> Result<()> {
    c.pod.run("chmod", &["g+s", &work("sgid")], None, None)
}

fn setcap(c: &Ctx) -> Result<()> {
    c.pod.run("setcap", &["cap_setuid+ep", &work("capfile")], None, None)
}

fn release_agent(c: &Ctx) -> Result<()> {
    // The file of a cgroup v1 hierarchy the attacker mounted; here a plain file of that
    // name (no v1 hierarchy is mounted, nothing runs on release).
    sh(c, &format!("echo {WORK}/dropped > {WORK}/cgrp/release_agent"))
}

fn core_pattern(c: &Ctx) -> Result<()> {
    // Opened for writing, nothing written: the host's core_pattern is unchanged.
    sh(c, ": >> /proc/sys/kernel/core_pattern")
}

fn proc_sys(c: &Ctx) -> Result<()> {
    // The pod's own network namespace's setting, opened for writing, left unchanged.
    sh(c, ": >> /proc/sys/net/ipv4/ip_forward")
}

fn nsenter(c: &Ctx) -> Result<()> {
    // Into the host's network namespace, through a host process (this one: pid 1 of this
    // machine is out of reach, as in a sandbox), as `nsenter -t 1 -n` does on a node.
    c.pod.run("nsenter", &["-t", &std::process::id().to_string(), "-n", "true"], None, None)
}

fn unshare_user(c: &Ctx) -> Result<()> {
    c.pod.run("unshare", &["-U", "true"], None, None)
}

fn ptrace_attach(c: &Ctx) -> Result<()> {
    py(
        c,
        &format!(
            "import ctypes, os, time\nlibc = ctypes.CDLL(None, use_errno=True)\npid = {}\n\
             if libc.ptrace(16, pid, 0, 0) == 0:\n    os.waitpid(pid, 0)\n    libc.ptrace(17, pid, 0, 0)",
            c.main_pid
        ),
        None,
    )
}

fn proc_mem(c: &Ctx) -> Result<()> {
    py(c, &format!("f = open('/proc/{}/mem', 'r+b')\nf.close()", c.main_pid), None)
}

fn glibc_tunables(c: &Ctx) -> Result<()> {
    let env = ["-i", "PATH=/usr/bin:/bin", "GLIBC_TUNABLES=glibc.malloc.mxfast=0", "/bin/true"];
    c.pod.run("env", &env, None, None)
}

fn dev_file(c: &Ctx) -> Result<()> {
    sh(c, "echo payload > /dev/lnr-evtgen")
}

fn mount(c: &Ctx) -> Result<()> {
    c.pod.run("mount", &["-t", "tmpfs", "lnr-evtgen", &work("mnt")], None, None)
}

fn debugfs(c: &Ctx) -> Result<()> {
    c.pod.run("debugfs", &["-R", "stats", "/dev/null"], None, None)
}

fn write_etc(c: &Ctx) -> Result<()> {
    sh(c, "echo lnr-evtgen > /etc/lnr-evtgen.conf")
}

fn clear_log(c: &Ctx) -> Result<()> {
    sh(c, ": > /var/log/lnr-evtgen.log")
}

fn delete_log(c: &Ctx) -> Result<()> {
    c.pod.run("rm", &["-f", "/var/log/lnr-evtgen-old.log"], None, None)
}

fn rm_history(c: &Ctx) -> Result<()> {
    c.pod.run("rm", &["-f", &work("home/.bash_history")], None, None)
}

fn truncate_history(c: &Ctx) -> Result<()> {
    sh(c, &format!(": > {WORK}/home/.zsh_history"))
}

fn history_devnull(c: &Ctx) -> Result<()> {
    c.pod.run("ln", &["-s", "/dev/null", &work("home/.python_history")], None, None)
}

fn rm_shadow(c: &Ctx) -> Result<()> {
    // As uid 1000: the kernel refuses (EACCES); the attempt is the behaviour.
    c.pod.run("rm", &["-f", "/etc/shadow"], Some(1000), None)
}

fn symlink_shadow(c: &Ctx) -> Result<()> {
    c.pod.run("ln", &["-s", "/etc/shadow", &work("shadow-link")], None, None)
}

fn hardlink_shadow(c: &Ctx) -> Result<()> {
    // Succeeds when /tmp and /etc share a file system (the link goes with the work dir),
    // EXDEV otherwise; the attempt is the behaviour.
    c.pod.run("ln", &["/etc/shadow", &work("shadow-hard")], None, None)
}

fn chmod_bin(c: &Ctx) -> Result<()> {
    c.pod.run("chmod", &["755", "/usr/local/bin/lnr-evtgen-chmod"], None, None)
}

fn iptables_flush(c: &Ctx) -> Result<()> {
    // The pod's own network namespace (empty rule set).
    c.pod.run("iptables", &["-F"], None, None)
}

fn timestomp(c: &Ctx) -> Result<()> {
    c.pod.run("touch", &["-d", "2001-01-01 00:00", &work("stamp")], None, None)
}

fn traceme(c: &Ctx) -> Result<()> {
    py(c, "import ctypes\nctypes.CDLL(None, use_errno=True).ptrace(0, 0, 0, 0)", None)
}

fn insmod(c: &Ctx) -> Result<()> {
    tool(c, "insmod", &[&work("lnr.ko")])
}

fn modprobe(c: &Ctx) -> Result<()> {
    tool(c, "modprobe", &["lnr_evtgen"])
}

fn finit_module(c: &Ctx) -> Result<()> {
    // An empty module image: the kernel rejects it (EINVAL/ENOEXEC), nothing is loaded.
    py(
        c,
        "import ctypes, os\nlibc = ctypes.CDLL(None, use_errno=True)\nfd = os.open('/dev/null', os.O_RDONLY)\n\
         libc.syscall(313, fd, b'', 0)",
        None,
    )
}

/// A seccomp filter (a sandboxed or containerised host) that answers the module syscalls
/// with ENOSYS stops them before the syscall tracepoints: no probe can see them. The
/// real kernel answers `finit_module(-1, "", 0)` with EBADF (or EPERM).
fn module_syscalls_filtered() -> Option<String> {
    let r = unsafe { libc::syscall(libc::SYS_finit_module, -1i32, c"".as_ptr(), 0) };
    let errno = std::io::Error::last_os_error().raw_os_error();
    (r == -1 && errno == Some(libc::ENOSYS)).then(|| {
        "finit_module returns ENOSYS before the syscall tracepoints (a seccomp filter on this machine)".to_string()
    })
}

fn hidden_dir(c: &Ctx) -> Result<()> {
    c.pod.run("mkdir", &["/etc/.lnr-evtgen"], None, None)
}
