//! Privileged end-to-end test of what the kernel reads about an opened file
//! while a rule needs it: `fd.ino`, `fd.dev*` against `stat(2)`,
//! `evt.is_open_create` on a real creating open and on opens of an existing
//! file, `fd.is_upper_layer`/`fd.is_lower_layer` on a real overlayfs mount;
//! and that the kernel leaves those reads out when no rule needs them.
use std::{os::unix::fs::MetadataExt, path::Path};

use lanner_tests::{
    nonce,
    overlay::Overlay,
    require_root, sys,
    sysprobe::{alert, args, c, run, Results},
    Stopped,
};
use serde_json::Value;

/// A rule on the opens below the test directory (`DIR`) with this output.
fn rule(name: &str, output: &str) -> String {
    format!(
        "- rule: {name}\n  desc: opens below the test directory\n  \
         condition: evt.type in (open, openat) and fd.name startswith DIR/ and proc.pid = PID\n  \
         output: \"{output}\"\n  priority: WARNING\n"
    )
}

const FACTS: &str = "facts %fd.name res=%evt.rawres ino=%fd.ino dev=%fd.dev major=%fd.dev.major minor=%fd.dev.minor \
                     created=%evt.is_open_create upper=%fd.is_upper_layer lower=%fd.is_lower_layer args=%evt.args";
/// The same opens, by a rule that reads none of the facts.
const PLAIN: &str = "plain %fd.name res=%evt.rawres";

/// openat(2), left open (each open of the test gets its own fd number) until the workload ends.
fn open(path: &str, flags: i32, mode: u32) -> i64 {
    sys!(libc::SYS_openat, libc::AT_FDCWD, c(path).as_ptr(), flags, mode)
}

/// The opens: a creating one, the same file again with and without O_CREAT,
/// a missing file, and the overlay's lower file and a file written through it.
fn workload(dir: &str, x: &mut Results) {
    let ov = Overlay::mount(&Path::new(dir).join("ovl"), &[("image-file", b"from the image")]);
    let new = format!("{dir}/new");
    x.set("create", open(&new, libc::O_CREAT | libc::O_WRONLY, 0o644));
    x.set("again", open(&new, libc::O_CREAT | libc::O_WRONLY, 0o644));
    x.set("read", open(&new, libc::O_RDONLY, 0));
    x.set("missing", open(&format!("{dir}/missing"), libc::O_RDONLY, 0));
    let merged = ov.merged.display().to_string();
    x.set("lower", open(&format!("{merged}/image-file"), libc::O_RDONLY, 0));
    x.set("upper", open(&format!("{merged}/written"), libc::O_CREAT | libc::O_WRONLY, 0o600));
    x.set("upper_ino", std::fs::metadata(format!("{merged}/written")).unwrap().ino() as i64);
    for k in ["create", "again", "read", "lower", "upper"] {
        if x.get(k) >= 0 {
            unsafe { libc::close(x.get(k) as i32) };
        }
    }
    drop(ov);
}

fn s(f: &std::collections::BTreeMap<String, Value>, k: &str) -> String {
    match &f[k] {
        Value::String(x) => x.clone(),
        Value::Null => "<NA>".into(),
        other => other.to_string(),
    }
}

fn run_with(rules: &str, dir: &str) -> (Stopped, Results) {
    run(&rules.replace("DIR", dir), dir, false, |x| workload(dir, x))
}

/// The agent's log line on its in-kernel pre-filter says whether it reads the facts.
fn reads_facts(out: &Stopped) -> bool {
    let line = out.stderr.iter().find(|l| l.contains("in-kernel pre-filter")).expect("pre-filter log line");
    assert!(line.contains("open_file_facts="), "{line}");
    line.contains("open_file_facts=true")
}

#[test]
fn open_facts_come_from_the_kernel_only_while_a_rule_needs_them() {
    if !require_root("open_facts_come_from_the_kernel_only_while_a_rule_needs_them") {
        return;
    }
    let dir = format!("/tmp/{}", nonce());
    let (out, x) = run_with(&rule("e2e open facts", FACTS), &dir);
    let new = format!("{dir}/new");
    let meta = std::fs::metadata(&new).unwrap();
    for k in ["create", "again", "read", "lower", "upper"] {
        assert!(x.get(k) >= 0, "{k}: {}", x.get(k));
    }
    let f = alert(&out, "e2e open facts", &format!("facts {new} res={} ", x.get("create")));
    assert_eq!(s(&f, "fd.ino"), meta.ino().to_string(), "the inode stat(2) gives");
    assert_eq!(s(&f, "fd.dev"), meta.dev().to_string(), "st_dev");
    let (major, minor) = (libc::major(meta.dev()), libc::minor(meta.dev()));
    assert_eq!([s(&f, "fd.dev.major"), s(&f, "fd.dev.minor")], [major.to_string(), minor.to_string()]);
    assert_eq!(s(&f, "evt.is_open_create"), "true", "this open created the file");
    // evt.args as Falco prints an openat: the mode in octal, the device in hex, the inode.
    let want = format!(" mode=0644 dev={:X} ino={}", meta.dev(), meta.ino());
    assert!(s(&f, "evt.args").ends_with(&want), "evt.args {:?} should end with {want:?}", s(&f, "evt.args"));
    args(&f, &[("fd.is_upper_layer", Some("false")), ("fd.is_lower_layer", Some("false"))]);
    for (k, what) in [("again", "O_CREAT on an existing file"), ("read", "O_RDONLY")] {
        let f = alert(&out, "e2e open facts", &format!("facts {new} res={} ", x.get(k)));
        assert_eq!(s(&f, "evt.is_open_create"), "false", "{what}");
        assert_eq!(s(&f, "fd.ino"), meta.ino().to_string(), "{what}");
    }
    let f = alert(&out, "e2e open facts", &format!("facts {dir}/missing res=-2 "));
    args(&f, &[("fd.ino", None), ("fd.dev", None), ("evt.is_open_create", Some("false"))]);
    let f = alert(&out, "e2e open facts", &format!("facts {dir}/ovl/merged/image-file "));
    args(&f, &[("fd.is_lower_layer", Some("true")), ("fd.is_upper_layer", Some("false"))]);
    assert_eq!(s(&f, "evt.is_open_create"), "false");
    let f = alert(&out, "e2e open facts", &format!("facts {dir}/ovl/merged/written "));
    args(&f, &[("fd.is_upper_layer", Some("true")), ("fd.is_lower_layer", Some("false"))]);
    assert_eq!(s(&f, "evt.is_open_create"), "true");
    assert_eq!(s(&f, "fd.ino"), x.get("upper_ino").to_string(), "the inode stat(2) gives through the mount");
    assert!(reads_facts(&out), "a rule reads the facts: the kernel is told to read them");
    let _ = std::fs::remove_dir_all(&dir);

    // No rule reads them: the kernel is told to leave them out, and the same
    // opens still alert.
    let dir = format!("/tmp/{}", nonce());
    let (out, x) = run_with(&rule("e2e open plain", PLAIN), &dir);
    assert!(!reads_facts(&out), "no rule reads the facts");
    alert(&out, "e2e open plain", &format!("plain {dir}/new res={}", x.get("create")));
    let _ = std::fs::remove_dir_all(&dir);
}
