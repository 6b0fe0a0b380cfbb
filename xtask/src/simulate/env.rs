//! Host side of the simulation: the API server client, the network
//! namespaces with the C2 host, and the victim pod's cgroup + netns.
use super::*;

// ------------------------------------------------------------------ kube

pub(crate) struct Kube {
    pub(crate) kubectl: PathBuf,
    pub(crate) admin: PathBuf,
    pub(crate) agent: PathBuf,
    pub(crate) server: String,
    pub(crate) ca: PathBuf,
    pub(crate) token_file: PathBuf,
}

impl Kube {
    pub(crate) fn up() -> Result<(Kube, bool)> {
        let healthy = Command::new("bash")
            .args(["xtask/kube/kube.sh", "status"])
            .current_dir(crate::root())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        if !healthy {
            crate::sh(Command::new("bash").args(["xtask/kube/kube.sh", "up"]))?;
        }
        let env = crate::script_env("xtask/kube/kube.sh")?;
        let get = |k: &str| env.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
        let dir = PathBuf::from(get("LANNER_KUBE_DIR").unwrap_or_else(|| "/tmp/lanner-kube".into()));
        let kubectl = if dir.join("bin/kubectl").exists() { dir.join("bin/kubectl") } else { PathBuf::from("kubectl") };
        let k = Kube {
            kubectl,
            admin: get("LANNER_KUBE_ADMIN_KUBECONFIG")
                .map(PathBuf::from)
                .unwrap_or_else(|| dir.join("admin.kubeconfig")),
            agent: get("LANNER_KUBE_AGENT_KUBECONFIG")
                .map(PathBuf::from)
                .unwrap_or_else(|| dir.join("agent.kubeconfig")),
            server: get("LANNER_KUBE_SERVER").unwrap_or_else(|| "https://127.0.0.1:6443".into()),
            ca: get("LANNER_KUBE_CA").map(PathBuf::from).unwrap_or_else(|| dir.join("pki/ca.crt")),
            token_file: get("LANNER_KUBE_ADMIN_TOKEN_FILE")
                .map(PathBuf::from)
                .unwrap_or_else(|| dir.join("tokens/admin")),
        };
        Ok((k, !healthy))
    }

    pub(crate) fn kubectl(&self, args: &[&str], stdin: Option<&str>) -> Result<String> {
        kubectl(&self.kubectl, &self.admin, args, stdin)
    }

    pub(crate) fn apply(&self, doc: &str) -> Result<()> {
        self.kubectl(&["apply", "-f", "-"], Some(doc)).map(drop)
    }

    pub(crate) fn patch_status(&self, pod: &str, patch: &str) -> Result<()> {
        let token = std::fs::read_to_string(&self.token_file).context("admin token")?;
        let out = Command::new("curl")
            .args(["-sS", "--fail-with-body", "-X", "PATCH", "--cacert"])
            .arg(&self.ca)
            .args(["-H", &format!("Authorization: Bearer {}", token.trim())])
            .args(["-H", "Content-Type: application/merge-patch+json", "--data-binary", patch])
            .arg(format!("{}/api/v1/namespaces/{NS}/pods/{pod}/status", self.server))
            .output()
            .context("curl")?;
        if !out.status.success() {
            bail!("status patch: {}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        }
        Ok(())
    }

    pub(crate) fn delete_sim_pods(&self) {
        let _ = self.kubectl(
            &[
                "-n",
                NS,
                "delete",
                "pods",
                "-l",
                "lanner.io/sim=true",
                "--ignore-not-found",
                "--grace-period=0",
                "--force",
                "--wait=false",
            ],
            None,
        );
    }

    pub(crate) fn delete_rbac(&self) {
        for kind in ["clusterrolebinding", "clusterrole"] {
            let _ = self.kubectl(&["delete", kind, RBAC_NAME, "--ignore-not-found"], None);
        }
    }
}

// ------------------------------------------------------------------ host side set-up

pub(crate) fn cleanup_host() {
    // Processes of a previous run's pod cgroup, then its directories (bottom-up).
    if let Ok(state) = std::fs::read_to_string(STATE) {
        let dirs: Vec<&str> = state.lines().filter(|l| !l.is_empty()).collect();
        for d in &dirs {
            if let Ok(procs) = std::fs::read_to_string(Path::new(d).join("cgroup.procs")) {
                for pid in procs.lines().filter_map(|p| p.trim().parse::<i32>().ok()) {
                    unsafe { libc::kill(pid, libc::SIGKILL) };
                }
            }
        }
        for d in dirs.iter().rev() {
            for _ in 0..50 {
                if std::fs::remove_dir(d).is_ok() || !Path::new(d).exists() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        let _ = std::fs::remove_file(STATE);
    }
    for ns in [NETNS_POD, NETNS_C2] {
        if Path::new("/run/netns").join(ns).exists() {
            let _ = run_quiet("ip", &["netns", "del", ns]);
        }
    }
    let _ = std::fs::remove_file(CRON_FILE);
    let _ = std::fs::remove_dir_all(WORK);
    let tok = Path::new(SA_DIR).join("token");
    if std::fs::read_to_string(&tok).map(|s| s.contains(SA_TOKEN_MARK)).unwrap_or(false) {
        let _ = std::fs::remove_file(&tok);
        // Only directories we created are empty now.
        for d in [SA_DIR, "/run/secrets/kubernetes.io", "/run/secrets"] {
            let _ = std::fs::remove_dir(d);
        }
    }
}

pub(crate) fn setup_netns() -> Result<()> {
    let ip = |a: &[&str]| run_quiet("ip", a).map(drop);
    ip(&["netns", "add", NETNS_POD])?;
    ip(&["netns", "add", NETNS_C2])?;
    ip(&["link", "add", "lnr-sim-p", "type", "veth", "peer", "name", "lnr-sim-c"])?;
    ip(&["link", "set", "lnr-sim-p", "netns", NETNS_POD])?;
    ip(&["link", "set", "lnr-sim-c", "netns", NETNS_C2])?;
    ip(&["-n", NETNS_POD, "addr", "add", &format!("{POD_IP}/30"), "dev", "lnr-sim-p"])?;
    ip(&["-n", NETNS_C2, "addr", "add", &format!("{C2_IP}/30"), "dev", "lnr-sim-c"])?;
    for (ns, dev) in [(NETNS_POD, "lnr-sim-p"), (NETNS_C2, "lnr-sim-c")] {
        ip(&["-n", ns, "link", "set", "lo", "up"])?;
        ip(&["-n", ns, "link", "set", dev, "up"])?;
    }
    Ok(())
}

/// The C2 host: listeners on 4444 (reverse shell) and 8080 (health checks), bound
/// from a thread that entered `lnr-sim-c2` (sockets keep their namespace).
pub(crate) fn start_c2() -> Result<()> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let r = (|| -> Result<(TcpListener, TcpListener)> {
            let f = File::open(Path::new("/run/netns").join(NETNS_C2))?;
            if unsafe { libc::setns(f.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
                bail!("setns {NETNS_C2}: {}", std::io::Error::last_os_error());
            }
            Ok((TcpListener::bind((C2_IP, 4444))?, TcpListener::bind((C2_IP, 8080))?))
        })();
        let _ = tx.send(r);
    });
    let (c2, http) = rx.recv()??;
    std::thread::spawn(move || {
        for s in c2.incoming().flatten() {
            std::thread::spawn(move || {
                let mut s = s;
                let mut buf = [0u8; 1024];
                let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
                while let Ok(n @ 1..) = s.read(&mut buf) {
                    C2_BYTES.fetch_add(n, Ordering::SeqCst);
                }
            });
        }
    });
    std::thread::spawn(move || {
        for s in http.incoming().flatten() {
            let mut s = s;
            let mut buf = [0u8; 2048];
            let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
            let _ = s.read(&mut buf);
            HTTP_REQUESTS.fetch_add(1, Ordering::SeqCst);
            let _ = s.write_all(b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok");
        }
    });
    Ok(())
}

/// The victim's "container": its cgroup.procs and the pod network namespace.
pub(crate) struct Pod {
    pub(crate) name: String,
    pub(crate) container_id: String,
    pub(crate) procs: CString,
    pub(crate) netns: File,
}

impl Pod {
    /// A command that joins the pod's cgroup and network namespace before exec,
    /// optionally as uid/gid `uid` (no supplementary groups).
    pub(crate) fn cmd(&self, prog: &str, args: &[&str], uid: Option<u32>) -> Command {
        let mut c = Command::new(prog);
        c.args(args).current_dir(WORK).stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null());
        let procs = self.procs.as_ptr() as usize;
        let nsfd = self.netns.as_raw_fd();
        unsafe {
            c.pre_exec(move || {
                // Async-signal-safe calls only.
                let fd = libc::open(procs as *const libc::c_char, libc::O_WRONLY);
                if fd < 0 || libc::write(fd, b"0".as_ptr().cast(), 1) != 1 {
                    return Err(std::io::Error::last_os_error());
                }
                libc::close(fd);
                if libc::setns(nsfd, libc::CLONE_NEWNET) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                if let Some(u) = uid {
                    if libc::setgroups(0, std::ptr::null()) != 0
                        || libc::setresgid(u, u, u) != 0
                        || libc::setresuid(u, u, u) != 0
                    {
                        return Err(std::io::Error::last_os_error());
                    }
                }
                Ok(())
            });
        }
        c
    }

    /// Runs to completion; the exit status is not checked (setuid(0) fails, by design).
    pub(crate) fn run(&self, prog: &str, args: &[&str], uid: Option<u32>, stdin: Option<&str>) -> Result<()> {
        self.status(prog, args, uid, stdin).map(drop)
    }

    /// As `run`, but the program must succeed.
    pub(crate) fn run_ok(&self, prog: &str, args: &[&str]) -> Result<()> {
        let st = self.status(prog, args, None, None)?;
        if !st.success() {
            bail!("{prog} {} in the pod: {st}", args.join(" "));
        }
        Ok(())
    }

    pub(crate) fn status(
        &self,
        prog: &str,
        args: &[&str],
        uid: Option<u32>,
        stdin: Option<&str>,
    ) -> Result<std::process::ExitStatus> {
        let mut c = self.cmd(prog, args, uid);
        if stdin.is_some() {
            c.stdin(Stdio::piped());
        }
        let mut child = c.spawn().with_context(|| format!("spawn {prog} in the pod"))?;
        if let Some(s) = stdin {
            let _ = child.stdin.take().expect("stdin").write_all(s.as_bytes());
        }
        Ok(child.wait()?)
    }
}

/// Run `kubectl --kubeconfig <kubeconfig> <args>` (with `stdin` piped in) and
/// return its stdout; a failure carries kubectl's stderr. Shared by the
/// simulation and the bench.
pub(crate) fn kubectl(bin: &Path, kubeconfig: &Path, args: &[&str], stdin: Option<&str>) -> Result<String> {
    let mut child = Command::new(bin)
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .args(args)
        .stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .context("spawning kubectl")?;
    if let Some(s) = stdin {
        child.stdin.take().expect("stdin").write_all(s.as_bytes())?;
    }
    let out = child.wait_with_output()?;
    if !out.status.success() {
        bail!("kubectl {}: {}", args.join(" "), String::from_utf8_lossy(&out.stderr).trim());
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}
