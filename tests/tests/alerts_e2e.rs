//! Privileged end-to-end test of detection: real processes trigger the default
//! rules through the real probes; the alerts (Falco JSON on stdout) must carry
//! the right rule, priority, MITRE tags and context.
use std::{os::unix::process::CommandExt, process::Stdio};

use lanner_tests::{
    cgroup::{hex_id, FakeContainer},
    nonce, require_root, Agent, Keep, Stopped,
};
use serde_json::Value;

fn alerts<'a>(out: &'a Stopped, rule: &str) -> Vec<&'a Value> {
    out.events.iter().filter(|e| e["rule"] == rule).collect()
}

fn has_tag(a: &Value, tag: &str) -> bool {
    a["tags"].as_array().is_some_and(|t| t.iter().any(|x| x == tag))
}

#[test]
fn shell_in_container_shadow_read_and_setuid_raise_alerts() {
    if !require_root("shell_in_container_shadow_read_and_setuid_raise_alerts") {
        return;
    }
    let n = nonce();
    let cid = hex_id(&n);
    let pod_uid = "7f0e5a52-3c1d-4e8b-9a51-0d2c6b1e9f43";
    let ctr = FakeContainer::create(pod_uid, &cid);
    let agent = Agent::start(&["--no-k8s"], Keep::All);

    // An interactive shell inside the container (stdin at EOF: it exits).
    let st = ctr
        .command("/bin/sh")
        .arg("-i")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(st.success());
    // /etc/shadow read by cat on the host.
    let st = std::process::Command::new("/bin/cat").arg("/etc/shadow").stdout(Stdio::null()).status().unwrap();
    assert!(st.success());
    // setuid(0) by a non-root process (fails with EPERM; still an attempt).
    let mut c = std::process::Command::new("/bin/true");
    c.arg(&n);
    unsafe {
        c.pre_exec(|| {
            if libc::setresuid(1000, 1000, 1000) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            libc::setuid(0);
            Ok(())
        });
    }
    assert!(c.status().unwrap().success());
    // A SUCCESSFUL setuid(0) by a process whose real uid is 1001 (its effective uid
    // still 0): the alert names the caller's uid before the change, although the
    // exit-only program reads the task's credentials after it.
    let mut c = std::process::Command::new("/bin/true");
    c.arg(&n);
    unsafe {
        c.pre_exec(|| {
            if libc::setresuid(1001, 0, 0) != 0 || libc::setuid(0) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    assert!(c.status().unwrap().success());

    let out = agent.stop();
    drop(ctr);
    out.assert_accounting();

    let shell: Vec<_> = alerts(&out, "Terminal shell in container")
        .into_iter()
        .filter(|a| a["output_fields"]["container.id"] == cid[..12])
        .collect();
    assert_eq!(
        shell.len(),
        1,
        "one shell alert for our container; all alerts:\n{:#?}",
        out.events.iter().filter(|e| e.get("rule").is_some()).collect::<Vec<_>>()
    );
    let a = shell[0];
    assert_eq!(a["priority"], "Warning");
    assert!(has_tag(a, "T1059.004") && has_tag(a, "mitre_execution"), "MITRE tags: {}", a["tags"]);
    assert_eq!(a["output_fields"]["proc.name"], "sh");
    assert_eq!(a["source"], "syscall");
    for k in ["output", "priority", "rule", "time", "output_fields", "source", "tags", "hostname", "uuid"] {
        assert!(a.get(k).is_some(), "Falco alert key {k} missing: {a}");
    }

    let shadow: Vec<_> = alerts(&out, "Read sensitive file untrusted")
        .into_iter()
        .filter(|a| a["output_fields"]["fd.name"] == "/etc/shadow" && a["output_fields"]["proc.name"] == "cat")
        .collect();
    assert_eq!(shadow.len(), 1, "one shadow alert");
    assert_eq!(shadow[0]["priority"], "Warning");
    assert!(has_tag(shadow[0], "T1003.008"), "tags: {}", shadow[0]["tags"]);
    assert_eq!(shadow[0]["output_fields"]["container.id"], "host");

    let setuid: Vec<_> = alerts(&out, "Non sudo setuid")
        .into_iter()
        .filter(|a| a["output_fields"]["user.uid"] == 1000 && a["output_fields"]["lanner.setuid.target"] == 0)
        .collect();
    assert_eq!(setuid.len(), 1, "one setuid alert");
    assert_eq!(setuid[0]["priority"], "Critical");
    assert!(has_tag(setuid[0], "T1548.001"), "tags: {}", setuid[0]["tags"]);
    let regained: Vec<_> = alerts(&out, "Non sudo setuid")
        .into_iter()
        .filter(|a| a["output_fields"]["user.uid"] == 1001 && a["output_fields"]["lanner.setuid.target"] == 0)
        .collect();
    assert_eq!(regained.len(), 1, "one alert for the successful setuid(0) by uid 1001");
    assert_eq!(regained[0]["output_fields"]["evt.res"], "SUCCESS");
}
