//! Hot reload: a bad reload keeps the old set active and is counted; the polling
//! watcher picks up content changes, including a ConfigMap-style symlink swap.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use lanner_rules::reload::ReloadCallback;
use lanner_rules::{Event, EvtType, Process, RuleSetHandle, Watcher};

const GOOD: &str = "- rule: Shell\n  desc: d\n  condition: evt.type = execve and proc.name = bash\n  output: \"shell %proc.name\"\n  priority: WARNING\n";
const GOOD2: &str = "- rule: Curl\n  desc: d\n  condition: evt.type = execve and proc.name = curl\n  output: \"curl %proc.name\"\n  priority: NOTICE\n";
const BAD: &str =
    "- rule: Shell\n  desc: d\n  condition: evt.type = execve and proc.nme = bash\n  output: x\n  priority: WARNING\n";

fn tmpdir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("lanner-rules-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap_or_else(|e| panic!("{e}"));
    d
}

fn write(p: &Path, s: &str) {
    std::fs::write(p, s).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
}

fn exec(name: &str) -> Event {
    Event::new(EvtType::Execve, 0, Arc::new(Process::new(name, "", &[])))
}

#[test]
fn bad_reload_keeps_the_old_set() {
    let d = tmpdir("bad");
    let f = d.join("rules.yaml");
    write(&f, GOOD);
    let h = RuleSetHandle::load(std::slice::from_ref(&f)).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(h.current().count_matches(&exec("bash")), 1);
    let before = h.last_success_unix();

    write(&f, BAD);
    let err = h.reload(std::slice::from_ref(&f)).unwrap_err();
    assert!(err.to_string().contains("rules.yaml:3:36: rule 'Shell': unknown field 'proc.nme'"), "{err}");
    assert_eq!((h.reload_successes(), h.reload_failures()), (0, 1));
    assert_eq!(h.current().count_matches(&exec("bash")), 1, "old set must stay active");
    assert_eq!(h.last_success_unix(), before);

    write(&f, GOOD2);
    let ok = h.reload(std::slice::from_ref(&f)).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(ok.rules, 1);
    assert_eq!((h.reload_successes(), h.reload_failures()), (1, 1));
    assert_eq!(h.current().count_matches(&exec("bash")), 0);
    assert_eq!(h.current().count_matches(&exec("curl")), 1);

    assert!(h.reload_default().is_ok());
    assert!(h.current().len() >= 25);
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn readers_holding_the_old_set_are_unaffected() {
    let d = tmpdir("hold");
    let f = d.join("r.yaml");
    write(&f, GOOD);
    let h = RuleSetHandle::load(std::slice::from_ref(&f)).unwrap_or_else(|e| panic!("{e}"));
    let old = h.current();
    write(&f, GOOD2);
    h.reload(std::slice::from_ref(&f)).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(old.count_matches(&exec("bash")), 1);
    assert_eq!(h.guard().count_matches(&exec("bash")), 0);
    let _ = std::fs::remove_dir_all(&d);
}

fn wait_for(what: &str, mut f: impl FnMut() -> bool) {
    let start = Instant::now();
    while !f() {
        assert!(start.elapsed() < Duration::from_secs(10), "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn watcher_follows_configmap_symlink_swaps() {
    // ConfigMap layout: rules.yaml -> ..data/rules.yaml, ..data -> ..v1
    let d = tmpdir("watch");
    std::fs::create_dir_all(d.join("..v1")).unwrap_or_else(|e| panic!("{e}"));
    write(&d.join("..v1/rules.yaml"), GOOD);
    std::os::unix::fs::symlink("..v1", d.join("..data")).unwrap_or_else(|e| panic!("{e}"));
    std::os::unix::fs::symlink("..data/rules.yaml", d.join("rules.yaml")).unwrap_or_else(|e| panic!("{e}"));

    let paths = vec![d.clone()];
    let h = Arc::new(RuleSetHandle::load(&paths).unwrap_or_else(|e| panic!("{e}")));
    assert_eq!(h.current().count_matches(&exec("bash")), 1);
    let calls = Arc::new(AtomicUsize::new(0));
    let c2 = calls.clone();
    let cb: ReloadCallback = Box::new(move |_r| {
        c2.fetch_add(1, Ordering::SeqCst);
    });
    let w = Watcher::spawn(h.clone(), paths, Duration::from_millis(100), cb).unwrap_or_else(|e| panic!("{e}"));

    // new version, swapped in atomically like the kubelet does
    std::fs::create_dir_all(d.join("..v2")).unwrap_or_else(|e| panic!("{e}"));
    write(&d.join("..v2/rules.yaml"), GOOD2);
    std::os::unix::fs::symlink("..v2", d.join("..data_tmp")).unwrap_or_else(|e| panic!("{e}"));
    std::fs::rename(d.join("..data_tmp"), d.join("..data")).unwrap_or_else(|e| panic!("{e}"));
    wait_for("reload after swap", || h.current().count_matches(&exec("curl")) == 1);
    assert_eq!(h.reload_successes(), 1);

    // a broken edit is counted as a failure and the previous set stays
    write(&d.join("..v2/rules.yaml"), BAD);
    wait_for("failed reload", || h.reload_failures() == 1);
    assert_eq!(h.current().count_matches(&exec("curl")), 1);
    assert_eq!(calls.load(Ordering::SeqCst), 2);
    w.stop();
    let _ = std::fs::remove_dir_all(&d);
}
