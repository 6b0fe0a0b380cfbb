//! Host side of the simulation and of `cargo xtask evtgen`: the API server client,
//! the network namespaces with the C2 host, and the victim pod (API object, kubelet-like
//! cgroup, netns). Every name a run creates comes from its [`Names`], so the two
//! commands (and other tests) never collide.
use super::*;

/// Everything a run creates on the host and in the API server, by name.
pub(crate) struct Names {
    pub(crate) ns: &'static str,
    pub(crate) node: &'static str,
    pub(crate) netns_pod: &'static str,
    pub(crate) netns_c2: &'static str,
    pub(crate) veth_pod: &'static str,
    pub(crate) veth_c2: &'static str,
    pub(crate) pod_ip: &'static str,
    pub(crate) c2_ip: &'static str,
    /// Further addresses of the C2 namespace ("public" hosts, the metadata service);
    /// when set, the pod namespace routes everything through the C2 host.
    pub(crate) c2_extra_ips: &'static [&'static str],
    pub(crate) work: &'static str,
    pub(crate) state: &'static str,
    pub(crate) rbac: &'static str,
    /// Pod name prefix (`<prefix>-<n>`, also its `app` label).
    pub(crate) pod_prefix: &'static str,
    pub(crate) image: &'static str,
    /// Content marking a service account token this run created (and may remove).
    pub(crate) sa_token_mark: &'static str,
}

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

    pub(crate) fn patch_status(&self, ns: &str, pod: &str, patch: &str) -> Result<()> {
        let token = std::fs::read_to_string(&self.token_file).context("admin token")?;
        let out = Command::new("curl")
            .args(["-sS", "--fail-with-body", "-X", "PATCH", "--cacert"])
            .arg(&self.ca)
            .args(["-H", &format!("Authorization: Bearer {}", token.trim())])
            .args(["-H", "Content-Type: application/merge-patch+json", "--data-binary", patch])
            .arg(format!("{}/api/v1/namespaces/{ns}/pods/{pod}/status", self.server))
            .output()
            .context("curl")?;
        if !out.status.success() {
            bail!("status patch: {}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        }
        Ok(())
    }

    pub(crate) fn delete_sim_pods(&self, n: &Names) {
        let _ = self.kubectl(
            &[
                "-n",
                n.ns,
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

    pub(crate) fn delete_rbac(&self, n: &Names) {
        for kind in ["clusterrolebinding", "clusterrole"] {
            let _ = self.kubectl(&["delete", kind, n.rbac, "--ignore-not-found"], None);
        }
    }
}

// ------------------------------------------------------------------ host side set-up

/// Removes what a run of `n` left on the host: its pod cgroup (killing what runs there),
/// network namespaces, `extra_files`, work directory and the fake service account token.
pub(crate) fn cleanup_host(n: &Names, extra_files: &[&str]) {
    // Processes of a previous run's pod cgroup, then its directories (bottom-up).
    if let Ok(state) = std::fs::read_to_string(n.state) {
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
        let _ = std::fs::remove_file(n.state);
    }
    for ns in [n.netns_pod, n.netns_c2] {
        if Path::new("/run/netns").join(ns).exists() {
            let _ = run_quiet("ip", &["netns", "del", ns]);
        }
    }
    for f in extra_files {
        let _ = std::fs::remove_file(f);
    }
    let _ = std::fs::remove_dir_all(n.work);
    let tok = Path::new(SA_DIR).join("token");
    if std::fs::read_to_string(&tok).map(|s| s.contains(n.sa_token_mark)).unwrap_or(false) {
        let _ = std::fs::remove_file(&tok);
        // Only directories we created are empty now.
        for d in [SA_DIR, "/run/secrets/kubernetes.io", "/run/secrets"] {
            let _ = std::fs::remove_dir(d);
        }
    }
}

pub(crate) fn setup_netns(n: &Names) -> Result<()> {
    let ip = |a: &[&str]| run_quiet("ip", a).map(drop);
    ip(&["netns", "add", n.netns_pod])?;
    ip(&["netns", "add", n.netns_c2])?;
    ip(&["link", "add", n.veth_pod, "type", "veth", "peer", "name", n.veth_c2])?;
    ip(&["link", "set", n.veth_pod, "netns", n.netns_pod])?;
    ip(&["link", "set", n.veth_c2, "netns", n.netns_c2])?;
    ip(&["-n", n.netns_pod, "addr", "add", &format!("{}/30", n.pod_ip), "dev", n.veth_pod])?;
    ip(&["-n", n.netns_c2, "addr", "add", &format!("{}/30", n.c2_ip), "dev", n.veth_c2])?;
    for (ns, dev) in [(n.netns_pod, n.veth_pod), (n.netns_c2, n.veth_c2)] {
        ip(&["-n", ns, "link", "set", "lo", "up"])?;
        ip(&["-n", ns, "link", "set", dev, "up"])?;
    }
    for extra in n.c2_extra_ips {
        ip(&["-n", n.netns_c2, "addr", "add", &format!("{extra}/32"), "dev", n.veth_c2])?;
    }
    if !n.c2_extra_ips.is_empty() {
        ip(&["-n", n.netns_pod, "route", "add", "default", "via", n.c2_ip])?;
    }
    Ok(())
}

/// Bytes the C2 listeners received, and HTTP requests the HTTP listeners served.
pub(crate) static C2_BYTES: AtomicUsize = AtomicUsize::new(0);
pub(crate) static HTTP_REQUESTS: AtomicUsize = AtomicUsize::new(0);

/// The C2 host: a listener on every address of `n.netns_c2` for each port, bound from a
/// thread that entered that namespace (sockets keep their namespace). `sink_ports`
/// count the bytes received (reverse shells, raw connections); `http_ports` answer
/// `200 ok` (health checks, downloads, the metadata service).
pub(crate) fn start_c2(n: &Names, sink_ports: &[u16], http_ports: &[u16]) -> Result<()> {
    let (tx, rx) = mpsc::channel();
    let netns = Path::new("/run/netns").join(n.netns_c2);
    let ports: Vec<(u16, bool)> =
        sink_ports.iter().map(|p| (*p, false)).chain(http_ports.iter().map(|p| (*p, true))).collect();
    std::thread::spawn(move || {
        let r = (|| -> Result<Vec<(TcpListener, bool)>> {
            let f = File::open(&netns)?;
            if unsafe { libc::setns(f.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
                bail!("setns {}: {}", netns.display(), std::io::Error::last_os_error());
            }
            ports.iter().map(|(p, http)| Ok((TcpListener::bind(("0.0.0.0", *p))?, *http))).collect()
        })();
        let _ = tx.send(r);
    });
    for (l, http) in rx.recv()?? {
        if http {
            std::thread::spawn(move || {
                for s in l.incoming().flatten() {
                    let mut s = s;
                    let mut buf = [0u8; 2048];
                    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
                    let _ = s.read(&mut buf);
                    HTTP_REQUESTS.fetch_add(1, Ordering::SeqCst);
                    let _ = s.write_all(b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok");
                }
            });
        } else {
            std::thread::spawn(move || {
                for s in l.incoming().flatten() {
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
        }
    }
    Ok(())
}

/// The namespace and the ClusterRole(Binding) that lets the agent's service account read pods.
pub(crate) fn apply_base_objects(kube: &Kube, n: &Names) -> Result<()> {
    let (ns, rbac) = (n.ns, n.rbac);
    kube.apply(&format!(r#"{{"apiVersion":"v1","kind":"Namespace","metadata":{{"name":"{ns}"}}}}"#))?;
    kube.apply(&format!(
        r#"{{"apiVersion":"rbac.authorization.k8s.io/v1","kind":"ClusterRole","metadata":{{"name":"{rbac}"}},
           "rules":[{{"apiGroups":[""],"resources":["pods"],"verbs":["get","list","watch"]}}]}}"#
    ))?;
    kube.apply(&format!(
        r#"{{"apiVersion":"rbac.authorization.k8s.io/v1","kind":"ClusterRoleBinding","metadata":{{"name":"{rbac}"}},
           "roleRef":{{"apiGroup":"rbac.authorization.k8s.io","kind":"ClusterRole","name":"{rbac}"}},
           "subjects":[{{"kind":"ServiceAccount","name":"lanner-agent","namespace":"lanner"}}]}}"#
    ))
}

/// The pod object (bound to `n.node`, status patched with a containerd container id)
/// and its kubelet-like cgroup (directories recorded in `n.state`). Call after
/// [`setup_netns`]: the pod's processes join `n.netns_pod`.
pub(crate) fn create_pod(kube: &Kube, n: &Names) -> Result<Pod> {
    create_pod_as(kube, n, "", serde_json::json!({}), serde_json::json!([]))
}

/// As [`create_pod`], the pod named `<prefix><suffix>-<n>`, its container spec extended
/// by `container` (a securityContext, volumeMounts) and the pod's `volumes`.
pub(crate) fn create_pod_as(
    kube: &Kube,
    n: &Names,
    suffix: &str,
    container: serde_json::Value,
    volumes: serde_json::Value,
) -> Result<Pod> {
    let seq = now_ns() / 1_000_000_000 % 100_000;
    let pod_name = format!("{}{suffix}-{seq}", n.pod_prefix);
    let mut app = serde_json::json!({"name": "app", "image": n.image});
    if let (Some(a), Some(extra)) = (app.as_object_mut(), container.as_object()) {
        a.extend(extra.clone());
    }
    let pod_doc = serde_json::json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": pod_name, "namespace": n.ns, "labels": {"app": n.pod_prefix, "lanner.io/sim": "true"}},
        "spec": {"nodeName": n.node, "containers": [app], "volumes": volumes}
    });
    let uid = kube.kubectl(&["create", "-o", "jsonpath={.metadata.uid}", "-f", "-"], Some(&pod_doc.to_string()))?;
    let uid = uid.trim().to_string();
    let container_id = hex_id(&format!("{}/{uid}", n.ns));
    let patch = serde_json::json!({"status": {"phase": "Running", "podIP": n.pod_ip, "containerStatuses": [{
        "name": "app", "image": n.image, "imageID": "", "ready": true, "restartCount": 0,
        "containerID": format!("containerd://{container_id}"), "state": {"running": {}}
    }]}});
    kube.patch_status(n.ns, &pod_name, &patch.to_string())?;
    eprintln!("xtask: pod {}/{pod_name} uid {uid} container {}", n.ns, &container_id[..12]);
    let parts = [
        "kubepods.slice".to_string(),
        "kubepods-besteffort.slice".to_string(),
        format!("kubepods-besteffort-pod{}.slice", uid.replace('-', "_")),
        format!("cri-containerd-{container_id}.scope"),
    ];
    let mut dir = cgroup2_root()?;
    // Appended to what an earlier pod of this run recorded (cleanup reads them all).
    let mut created = std::fs::read_to_string(n.state).unwrap_or_default();
    for part in parts {
        dir = dir.join(part);
        if !dir.exists() {
            std::fs::create_dir(&dir).with_context(|| format!("mkdir {}", dir.display()))?;
            created.push_str(&format!("{}\n", dir.display()));
            std::fs::write(n.state, &created)?;
        }
    }
    std::fs::create_dir_all(n.work)?;
    Ok(Pod {
        name: pod_name,
        container_id,
        procs: CString::new(dir.join("cgroup.procs").as_os_str().as_encoded_bytes())?,
        netns: File::open(Path::new("/run/netns").join(n.netns_pod))?,
        work: n.work,
    })
}

/// A fake service account token (marked with `n.sa_token_mark`) when the host has none.
pub(crate) fn ensure_sa_token(n: &Names) -> Result<()> {
    let tok = Path::new(SA_DIR).join("token");
    if !tok.exists() {
        std::fs::create_dir_all(SA_DIR)?;
        std::fs::write(&tok, format!("{}\n", n.sa_token_mark))?;
    }
    Ok(())
}

/// The victim's "container": its cgroup.procs and the pod network namespace.
pub(crate) struct Pod {
    pub(crate) name: String,
    pub(crate) container_id: String,
    pub(crate) procs: CString,
    pub(crate) netns: File,
    /// Working directory of every command.
    pub(crate) work: &'static str,
}

impl Pod {
    /// A command that joins the pod's cgroup and network namespace before exec,
    /// optionally as uid/gid `uid` (no supplementary groups).
    pub(crate) fn cmd(&self, prog: &str, args: &[&str], uid: Option<u32>) -> Command {
        let mut c = Command::new(prog);
        c.args(args);
        self.join(c, uid)
    }

    /// Makes `c` join the pod's cgroup and network namespace before exec (after any
    /// `pre_exec` hook already on `c`, which thus runs outside the pod, as a runtime's
    /// set-up does), optionally as uid/gid `uid`.
    pub(crate) fn join(&self, mut c: Command, uid: Option<u32>) -> Command {
        c.current_dir(self.work).stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null());
        let procs = self.procs.as_ptr() as usize;
        let nsfd = self.netns.as_raw_fd();
        unsafe {
            c.pre_exec(move || {
                // Async-signal-safe calls only. The network namespace first, as a
                // container runtime joins it: from outside the pod's cgroup, so the
                // harness's own setns is not a setns "in the container".
                if libc::setns(nsfd, libc::CLONE_NEWNET) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                let fd = libc::open(procs as *const libc::c_char, libc::O_WRONLY);
                if fd < 0 || libc::write(fd, b"0".as_ptr().cast(), 1) != 1 {
                    return Err(std::io::Error::last_os_error());
                }
                libc::close(fd);
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
