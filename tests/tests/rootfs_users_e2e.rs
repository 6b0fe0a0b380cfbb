//! Privileged end-to-end test of user and group names resolved in the process's
//! own root: a process in its own cgroup and mount namespace, chrooted into a
//! temporary root filesystem whose /etc/passwd and /etc/group name uid/gid 65534
//! differently from the host's, runs as 65534 with login uid 65534; its alert
//! shows the names, home and shell of that root's files, not the host's.
use std::{os::unix::process::CommandExt, process::Stdio};

use lanner_tests::{
    cgroup::{hex_id, FakeContainer},
    nonce, require_root, Agent, Keep,
};

fn host_name(file: &str, id: u32) -> String {
    let text = std::fs::read_to_string(file).unwrap();
    text.lines()
        .map(|l| l.split(':').collect::<Vec<_>>())
        .find(|f| f.len() > 2 && f[2] == id.to_string())
        .map(|f| f[0].to_string())
        .unwrap_or_default()
}

#[test]
fn users_resolve_from_the_process_root() {
    if !require_root("users_resolve_from_the_process_root") {
        return;
    }
    let n = nonce();
    let root = std::env::temp_dir().join(format!("lanner-rootfs-{n}"));
    std::fs::create_dir_all(root.join("bin")).unwrap();
    std::fs::create_dir_all(root.join("etc")).unwrap();
    std::fs::copy("/usr/bin/busybox", root.join("bin/busybox")).expect("a static busybox at /usr/bin/busybox");
    std::os::unix::fs::symlink("busybox", root.join("bin/sleep")).unwrap();
    std::fs::write(
        root.join("etc/passwd"),
        "root:x:0:0:root:/root:/bin/sh\nrootfsnobody:x:65534:65534:Rootfs Nobody:/home/rootfs:/bin/rootfs-sh\n",
    )
    .unwrap();
    std::fs::write(root.join("etc/group"), "root:x:0:\nrootfsgroup:x:65534:\n").unwrap();
    // The host names 65534 otherwise (nobody/nogroup): the values below can only come from the rootfs.
    assert_ne!(host_name("/etc/passwd", 65534), "rootfsnobody");
    assert_ne!(host_name("/etc/group", 65534), "rootfsgroup");

    let rules = root.join("rules.yaml");
    std::fs::write(
        &rules,
        format!(
            "- rule: Rootfs users {n}\n  desc: e2e\n  condition: evt.type = execve and proc.name = busybox \
             and proc.args contains \"{n}\"\n  output: \"user=%user.name uid=%user.uid login=%user.loginname \
             loginuid=%user.loginuid home=%user.homedir shell=%user.shell group=%group.name gid=%group.gid args=%proc.args\"\n  \
             priority: NOTICE\n"
        ),
    )
    .unwrap();
    let maddr = format!("127.0.0.1:{}", lanner_tests::triage::free_port());
    let agent = Agent::start(&["--no-k8s", "--metrics-addr", &maddr, "--rules", rules.to_str().unwrap()], Keep::All);
    let ctr = FakeContainer::create(&format!("rootfs-{n}"), &hex_id(&n));
    let mut c = ctr.command("/usr/bin/unshare");
    c.args(["--mount", "--root"])
        .arg(&root)
        .args(["--setgid", "65534", "--setuid", "65534", "/bin/busybox", "sh", "-c", "sleep 1", &n])
        .env("PATH", "/bin")
        .stdout(Stdio::null());
    unsafe {
        c.pre_exec(|| std::fs::write("/proc/self/loginuid", b"65534"));
    }
    let st = c.status();
    let out = agent.stop();
    let st = st.unwrap();
    assert!(st.success(), "unshare + chroot: {st}");
    drop(ctr);
    let _ = std::fs::remove_dir_all(&root);

    let rule = format!("Rootfs users {n}");
    let all: Vec<&serde_json::Value> = out.events.iter().filter(|e| e["rule"] == rule.as_str()).collect();
    let args = format!("sh -c sleep 1 {n}");
    let hits: Vec<&&serde_json::Value> =
        all.iter().filter(|e| e["output_fields"]["proc.args"] == args.as_str()).collect();
    // The exec of busybox sh, and its fork (still busybox sh) exec'ing sleep: all in the rootfs.
    assert!(!hits.is_empty(), "an exec of busybox sh; alerts:\n{all:#?}");
    for f in hits.iter().map(|h| &h["output_fields"]) {
        assert_eq!(f["user.uid"], 65534, "{f}");
        assert_eq!(f["user.name"], "rootfsnobody", "{f}");
        assert_eq!(f["user.loginuid"], 65534, "{f}");
        assert_eq!(f["user.loginname"], "rootfsnobody", "{f}");
        assert_eq!(f["user.homedir"], "/home/rootfs", "{f}");
        assert_eq!(f["user.shell"], "/bin/rootfs-sh", "{f}");
        assert_eq!(f["group.gid"], 65534, "{f}");
        assert_eq!(f["group.name"], "rootfsgroup", "{f}");
    }
}
