//! Falco-style rule files with the real agent: `lanner rules check` reports every rule's
//! state (and never a backtrace), and in `lanner run` an active Falco-style rule fires on
//! a real /etc/shadow read, inactive rules are logged and counted in /metrics, and a hot
//! reload of the file brings in a new rule that fires on the next real action.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use lanner_tests::triage::{free_port, scrape};
use lanner_tests::{lanner_bin, nonce, require_root, Agent, Keep};

/// A rule file in Falco's style (our own text): Falco's macros for opens and spawned
/// processes, a list with quoted items, an exception, and rules Lanner cannot run yet.
const FALCO_STYLE: &str = r#"
- required_engine_version: 0.26.0
- list: sensitive_file_names
  items: ['"/etc/shadow"', /etc/sudoers, /etc/pam.conf, '"/etc/security/pwquality.conf"']
- list: trusted_readers
  items: [sshd, sudo, su, login, passwd, unix_chkpwd]
- macro: open_read
  condition: (evt.type in (open, openat, openat2) and evt.is_open_read=true and fd.typechar='f' and fd.num>=0)
- macro: sensitive_files
  condition: ((fd.name startswith /etc and fd.name in (sensitive_file_names)) or fd.directory in (/etc/sudoers.d, /etc/pam.d))
- rule: Sensitive file opened for reading by an untrusted program
  desc: Falco-style rule over Falco's macros.
  condition: open_read and sensitive_files and proc.name != "<NA>" and not proc.name in (trusted_readers)
  exceptions:
    - name: build_tools
      fields: [proc.name, fd.directory]
      comps: [=, startswith]
      values:
        - [make, /etc/pam.d]
  output: Sensitive file opened (file=%fd.name command=%proc.cmdline rss=%proc.vmrss)
  priority: WARNING
  tags: [filesystem, mitre_credential_access, T1555]
- rule: Known-image reader
  desc: Needs container.image.id (the runtime's image id; inactive in Lanner today).
  condition: open_read and sensitive_files and container.image.id = "4a6c1e2f9b0d"
  output: Known-image reader (command=%proc.cmdline)
  priority: NOTICE
- rule: Data sent to a socket
  desc: Needs sendto/sendmsg events (inactive in Lanner today).
  condition: evt.type in (sendto, sendmsg) and fd.type in ("ipv4", "ipv6")
  output: Sent (connection=%fd.name)
  priority: WARNING
"#;

const RELOADED_RULE: &str = r#"
- rule: Passwd database read
  desc: Added by the hot reload.
  condition: open_read and fd.name = /etc/passwd and proc.args contains "NONCE"
  output: Passwd read (command=%proc.cmdline)
  priority: NOTICE
  tags: [filesystem, mitre_discovery, T1087]
"#;

fn lanner(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(lanner_bin())
        .args(args)
        .env("RUST_BACKTRACE", "1")
        .output()
        .unwrap_or_else(|e| panic!("lanner {args:?}: {e}"));
    let code = out.status.code().unwrap_or(-1);
    (code, String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
}

fn temp_dir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("lanner-falco-{tag}-{}", nonce()));
    std::fs::create_dir_all(&d).unwrap_or_else(|e| panic!("{}: {e}", d.display()));
    d
}

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../rules/fixtures")
}

#[test]
fn rules_check_prints_states_and_strict_fails_without_a_backtrace() {
    let dir = fixtures().join("falco-style");
    let (code, out, err) = lanner(&["rules", "check", dir.to_str().unwrap_or_default()]);
    assert_eq!(code, 0, "stdout:\n{out}\nstderr:\n{err}");
    assert!(out.contains("RULE") && out.contains("SOURCE") && out.contains("STATE"), "{out}");
    let line = out.lines().find(|l| l.starts_with("Shell in a container of a known image id")).unwrap_or_default();
    assert!(line.contains("00-base.yaml:") && line.contains("inactive: needs container.image.id"), "{out}");
    let line = out.lines().find(|l| l.starts_with("Shell in a kube-system container")).unwrap_or_default();
    assert!(line.ends_with("  active"), "container.label comes from the pod: {out}");
    let line = out.lines().find(|l| l.starts_with("Shell in a host-pid container")).unwrap_or_default();
    assert!(line.ends_with("  active"), "container.host_pid comes from the pod spec: {out}");
    let line = out.lines().find(|l| l.starts_with("Symlink over a credential file")).unwrap_or_default();
    assert!(line.contains("00-base.yaml:") && line.ends_with("  active"), "symlink events are captured: {out}");
    assert!(out.lines().any(|l| l.starts_with("Outbound to a private network") && l.ends_with("  active")), "{out}");
    let summary = out.lines().last().unwrap_or_default();
    assert!(summary.starts_with("16 rules: 12 active, 4 inactive ("), "{summary}");
    let line =
        out.lines().find(|l| l.starts_with("Shell in a container with the host's /etc writable")).unwrap_or_default();
    assert!(line.ends_with("  active"), "container.mount.* come from the pod spec: {out}");

    let (code, out, err) = lanner(&["rules", "check", "--strict", dir.to_str().unwrap_or_default()]);
    assert_eq!(code, 1, "--strict with inactive rules must fail:\n{out}\n{err}");
    assert!(out.trim_end().ends_with("FAILED (--strict): 4 inactive rule(s)"), "{out}");

    // A broken file: the messages are the output, with no backtrace whatever RUST_BACKTRACE says.
    let bad = fixtures().join("bad/unknown_field.yaml");
    let (code, out, err) = lanner(&["rules", "check", bad.to_str().unwrap_or_default()]);
    assert_eq!(code, 1);
    assert!(out.contains("unknown_field.yaml:5:9: rule 'Unknown field in folded condition'"), "{out}");
    for noise in ["backtrace", "panicked", "Error:"] {
        assert!(!out.contains(noise) && !err.contains(noise), "'{noise}' printed:\n{out}\n{err}");
    }
}

#[test]
fn falco_style_rule_fires_on_a_real_read_and_hot_reload_adds_a_rule() {
    if !require_root("falco_style_rule_fires_on_a_real_read_and_hot_reload_adds_a_rule") {
        return;
    }
    let n = nonce();
    let dir = temp_dir("run");
    let file = dir.join("falco-style.yaml");
    std::fs::write(&file, FALCO_STYLE).unwrap_or_else(|e| panic!("{e}"));
    let port = free_port();
    let addr = format!("127.0.0.1:{port}");
    let agent = Agent::start(
        &["--no-k8s", "--rules", dir.to_str().unwrap_or_default(), "--rules-poll-ms", "100", "--metrics-addr", &addr],
        Keep::All,
    );
    let metrics = scrape(&addr);
    assert!(metrics.contains("lanner_rules{state=\"active\"} 1"), "{metrics}");
    assert!(metrics.contains("lanner_rules{state=\"inactive\"} 2"), "{metrics}");

    // A real read of /etc/shadow by an untrusted program.
    let st =
        Command::new("/bin/cat").args(["/etc/shadow"]).stdout(Stdio::null()).status().unwrap_or_else(|e| panic!("{e}"));
    assert!(st.success());

    // Hot reload: a second rule appears in the same file.
    std::fs::write(&file, format!("{FALCO_STYLE}{}", RELOADED_RULE.replace("NONCE", &n)))
        .unwrap_or_else(|e| panic!("{e}"));
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !scrape(&addr).contains("lanner_rules{state=\"active\"} 2") {
        assert!(std::time::Instant::now() < deadline, "reload not seen in /metrics:\n{}", scrape(&addr));
        std::thread::sleep(Duration::from_millis(100));
    }
    let st = Command::new("/bin/grep")
        .args(["-c", &n, "/etc/passwd"])
        .stdout(Stdio::null())
        .status()
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(st.code().is_some());

    let out = agent.stop();
    let _ = std::fs::remove_dir_all(&dir);
    out.assert_accounting();
    let alerts: Vec<_> = out.events.iter().filter(|e| e.get("rule").is_some()).collect();
    let shadow: Vec<_> = alerts
        .iter()
        .filter(|a| a["rule"] == "Sensitive file opened for reading by an untrusted program")
        .filter(|a| a["output_fields"]["proc.cmdline"] == "cat /etc/shadow")
        .collect();
    assert_eq!(shadow.len(), 1, "one alert for cat /etc/shadow; alerts:\n{alerts:#?}");
    let a = shadow[0];
    assert_eq!(a["priority"], "Warning");
    assert_eq!(a["output_fields"]["fd.name"], "/etc/shadow");
    assert!(a["output_fields"]["proc.vmrss"].is_null(), "a field Lanner does not fill is null: {a}");
    assert!(a["output"].as_str().unwrap_or("").contains("rss=<NA>"), "{a}");
    assert!(a["tags"].as_array().is_some_and(|t| t.iter().any(|x| x == "T1555")), "{a}");

    let passwd: Vec<_> = alerts.iter().filter(|a| a["rule"] == "Passwd database read").collect();
    assert_eq!(passwd.len(), 1, "the reloaded rule fires once; alerts:\n{alerts:#?}");
    assert!(passwd[0]["output"].as_str().unwrap_or("").contains(&n), "{}", passwd[0]);

    // Inactive rules are logged once at start with their reasons; the reload is logged.
    let log = out.stderr.join("\n");
    assert!(
        log.contains("rule inactive") && log.contains("Known-image reader") && log.contains("container.image.id"),
        "{log}"
    );
    assert!(log.contains("Data sent to a socket") && log.contains("sendmsg"), "{log}");
    assert!(log.contains("rules reloaded"), "{log}");
}
