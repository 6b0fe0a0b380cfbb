//! Privileged end-to-end test of `proc.cwd` and `proc.tty`, both read in the
//! kernel at exec: a short-lived program started in a chosen directory (gone
//! before anyone could read /proc/PID/cwd) reports that directory with Falco's
//! trailing `/`; a program on a pseudo-terminal (`script` allocates one) reports
//! the terminal's device number exactly as /proc/PID/stat's tty_nr shows it, a
//! program without a terminal 0.
use std::process::{Command, Stdio};

use lanner_tests::{nonce, require_root, triage::free_port, Agent, Keep, Stopped};
use serde_json::Value;

fn alert<'a>(out: &'a Stopped, n: &str, tag: &str) -> &'a Value {
    let rule = format!("Tty cwd {n}");
    let hits: Vec<&Value> = out
        .events
        .iter()
        .filter(|e| e["rule"] == rule.as_str() && e["output_fields"]["proc.args"] == format!("{n} {tag}").as_str())
        .collect();
    assert_eq!(hits.len(), 1, "one exec tagged {tag}; alerts:\n{hits:#?}");
    &hits[0]["output_fields"]
}

#[test]
fn cwd_and_tty_are_read_at_exec() {
    if !require_root("cwd_and_tty_are_read_at_exec") {
        return;
    }
    let n = nonce();
    let dir = std::env::temp_dir().join(format!("lanner-cwd-{n}"));
    let work = dir.join("work dir/sub");
    std::fs::create_dir_all(&work).unwrap();
    let rules = dir.join("rules.yaml");
    std::fs::write(
        &rules,
        format!(
            "- rule: Tty cwd {n}\n  desc: e2e\n  condition: evt.type = execve and proc.name = true and proc.args contains \"{n}\"\n  \
             output: \"cwd=%proc.cwd tty=%proc.tty args=%proc.args\"\n  priority: NOTICE\n"
        ),
    )
    .unwrap();
    let maddr = format!("127.0.0.1:{}", free_port());
    let agent = Agent::start(&["--no-k8s", "--metrics-addr", &maddr, "--rules", rules.to_str().unwrap()], Keep::All);

    // 1. A short-lived program in a directory of its own (with a space in its path).
    let st1 = Command::new("/bin/true").args([&n, "cwd"]).current_dir(&work).stdin(Stdio::null()).status();
    // 2. The same on a pseudo-terminal: the shell writes its tty_nr, then runs the program.
    let tty_file = dir.join("tty_nr");
    let inner = format!("cut -d' ' -f7 /proc/$$/stat > '{}'; /bin/true {n} tty; :", tty_file.display());
    let st = Command::new("script")
        .args(["-qec", &format!("/bin/sh -c \"{inner}\""), "/dev/null"])
        .current_dir("/")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .status();

    let out = agent.stop();
    assert!(st1.unwrap().success());
    let st = st.unwrap();
    assert!(st.success(), "script: {st}");
    let tty_nr: i64 = std::fs::read_to_string(&tty_file).unwrap().trim().parse().unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    assert_ne!(tty_nr, 0, "script gives the shell a controlling terminal");

    let c = alert(&out, &n, "cwd");
    assert_eq!(c["proc.cwd"], format!("{}/", work.display()).as_str(), "{c}");
    assert_eq!(c["proc.tty"], 0, "no terminal: {c}");
    let t = alert(&out, &n, "tty");
    assert_eq!(t["proc.tty"], tty_nr, "{t}");
    assert_eq!(t["proc.cwd"], "/", "{t}");
}
