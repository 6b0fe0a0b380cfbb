//! Unit tests of the open pre-filter: what each construct derives, and the kernel model.

use super::*;
use crate::fields::Field;
use crate::runtime::matcher::Check;

const LISTS: &str = "- list: secrets\n  items: [/etc/shadow, /etc/gshadow]\n- list: nothing\n  items: []\n";

fn rules_raw(conds: &[&str]) -> RuleSet {
    crate::kfilter::testutil::rules_with(LISTS, conds)
}

/// Needs of rules `evt.type = openat and (<cond>)`.
fn needs(conds: &[&str]) -> OpenNeeds {
    let wrapped: Vec<String> = conds.iter().map(|c| format!("evt.type = openat and ({c})")).collect();
    rules_raw(&wrapped.iter().map(String::as_str).collect::<Vec<_>>()).open_needs()
}

fn set(p: &[&str], s: &[&str]) -> Option<PathSet> {
    Some(PathSet {
        prefixes: p.iter().map(|x| x.to_string()).collect(),
        suffixes: s.iter().map(|x| x.to_string()).collect(),
    })
}

/// The path set of a single condition (with `failed` left free).
fn paths(cond: &str) -> Option<PathSet> {
    needs(&[cond]).paths
}

#[test]
fn default_pack_needs() {
    let rs = RuleSet::default_pack().unwrap_or_else(|e| panic!("{e}"));
    let n = rs.open_needs();
    println!("default pack open needs: {n:#?}");
    assert!(!n.failed, "every default open rule requires a successful open");
    assert!(!n.writes_any_path);
    let p = n.paths.clone().unwrap_or_else(|| panic!("default pack needs every path: {n:#?}"));
    let w = &n.write_paths;
    // Reads: sensitive files by name, token directories, key and credential suffixes.
    for x in ["/etc/shadow", "/etc/sudoers", "/run/secrets/kubernetes.io/serviceaccount"] {
        assert!(p.prefixes.iter().any(|y| y == x), "read prefix {x} missing: {p:#?}");
    }
    for x in ["/id_rsa", "/id_ed25519", ".pem", "/.aws/credentials", "/.kube/config", "/environ"] {
        assert!(p.suffixes.iter().any(|y| y == x), "read suffix {x} missing: {p:#?}");
    }
    // Writes: whole directories, only for opens for writing.
    for x in ["/etc/", "/root/.ssh/", "/var/log/", "/var/spool/cron/"] {
        assert!(w.prefixes.iter().any(|y| y == x), "write prefix {x} missing: {w:#?}");
        assert!(!p.prefixes.iter().any(|y| y == x), "{x} must not widen reads: {p:#?}");
    }
    assert!(w.suffixes.iter().any(|y| y == "/authorized_keys"), "{w:#?}");
    // `/proc/*/mem` gives a suffix, not `/proc/`.
    assert!(!p.prefixes.iter().any(|y| y.starts_with("/proc")), "{p:#?}");
    assert!(p.prefixes.iter().chain(&p.suffixes).chain(&w.prefixes).chain(&w.suffixes).all(|x| x.len() <= KEY_LEN));
    for (path, flags, ret, pass) in [
        ("/etc/shadow", 0, 3, true),
        ("/etc/ld.so.cache", 0o2000000, 3, false),
        ("/etc/hosts", 0o1, 3, true),
        ("/var/log/syslog", 0, 3, false),
        ("/etc/shadow", 0, -13, false),
        ("/usr/lib/x86_64-linux-gnu/libc.so.6", 0o2000000, 3, false),
        ("/proc/4242/stat", 0, 3, false),
        ("/proc/4242/environ", 0, 3, true),
        ("/proc/4242/mem", 0o2, 3, true),
        ("/home/alice/.ssh/id_rsa", 0, 3, true),
        ("/srv/keys/tls.pem", 0, 3, true),
        ("/tmp/build/out.o", 0o1101, 3, false),
        ("/var/log/syslog", 0o1001, 3, true),
    ] {
        assert_eq!(n.passes(path, flags, ret), pass, "{path} {flags:o} {ret}");
    }
}

#[test]
fn name_operators() {
    assert_eq!(paths("fd.name = /etc/shadow"), set(&["/etc/shadow"], &[]));
    assert_eq!(paths("fd.name in (secrets)"), set(&["/etc/gshadow", "/etc/shadow"], &[]));
    assert_eq!(paths("fd.name startswith /etc/ssh/"), set(&["/etc/ssh/"], &[]));
    assert_eq!(paths("fd.name bstartswith 2f6574632f"), set(&["/etc/"], &[]));
    assert_eq!(paths("fd.name pmatch (/etc/cron.d, /var/spool/cron/)"), set(&["/etc/cron.d", "/var/spool/cron"], &[]));
    assert_eq!(paths("fd.name pmatch (/)"), None);
    assert_eq!(paths("fd.name endswith .pem"), set(&[], &[".pem"]));
    // Globs: the literal head before the first wildcard, or a last-component tail.
    assert_eq!(paths("fd.name glob '/etc/cron.*/job?'"), set(&["/etc/cron."], &[]));
    assert_eq!(paths("fd.name glob '/etc/[ab]*'"), set(&["/etc/"], &[]));
    assert_eq!(paths("fd.name glob '/proc/*/environ'"), set(&[], &["/environ"]));
    assert_eq!(paths("fd.name glob '*.pem'"), set(&[], &[".pem"]));
    assert_eq!(paths("fd.name glob '*'"), None);
    assert_eq!(paths("fd.name glob 'etc/*'"), None);
    assert_eq!(paths("fd.name iglob '/ETC/*'"), None);
    for any in [
        "fd.name contains shadow",
        "fd.name icontains /ETC/",
        "fd.name regex '^/etc/.*'",
        "fd.name != /etc/shadow",
        "fd.name exists",
        "fd.name > /etc",
        "fd.name startswith ''",
    ] {
        assert_eq!(paths(any), None, "{any}");
    }
    // Only relative paths (which the kernel always passes) can match a relative literal.
    assert_eq!(paths("fd.name = shadow"), set(&[], &[]));
    // Redundant entries are dropped.
    assert_eq!(paths("fd.name startswith (/etc/, /etc/pam.d/) or fd.name = /etc/x"), set(&["/etc/"], &[]));
    assert_eq!(paths("fd.name endswith (/id_rsa, id_rsa)"), set(&[], &["id_rsa"]));
}

#[test]
fn directory_and_filename() {
    assert_eq!(paths("fd.directory = /etc"), set(&["/etc/"], &[]));
    assert_eq!(paths("fd.directory in (/etc/pam.d, /etc/sudoers.d)"), set(&["/etc/pam.d/", "/etc/sudoers.d/"], &[]));
    // The directory of `/x` is `/`: every absolute path.
    assert_eq!(paths("fd.directory in (/etc/pam.d, /)"), None);
    assert_eq!(paths("fd.directory startswith /var/lib"), set(&["/var/lib"], &[]));
    assert_eq!(paths("fd.directory pmatch (/run/secrets/)"), set(&["/run/secrets"], &[]));
    assert_eq!(paths("fd.directory glob '/home/*/.ssh'"), set(&["/home/"], &[]));
    assert_eq!(paths("fd.directory endswith /.ssh"), None);
    assert_eq!(paths("fd.directory contains ssh"), None);
    assert_eq!(paths("fd.filename = id_rsa"), set(&[], &["/id_rsa"]));
    assert_eq!(paths("fd.filename in (a, b)"), set(&[], &["/a", "/b"]));
    assert_eq!(paths("fd.filename endswith .key"), set(&[], &[".key"]));
    assert_eq!(paths("fd.filename glob '*.key'"), set(&[], &[".key"]));
    assert_eq!(paths("fd.filename glob authorized_keys"), set(&[], &["/authorized_keys"]));
    assert_eq!(paths("fd.filename startswith id_"), None);
    assert_eq!(paths("fd.filename glob 'id_*'"), None);
}

#[test]
fn container_chained_names() {
    // `ID:PATH`: the container id has no `:`, so the path is what follows the first one.
    assert_eq!(paths("fd.containername = 'host:/etc/sudoers'"), set(&["/etc/sudoers"], &[]));
    assert_eq!(paths("fd.containername = 'host:/tmp/a:b'"), set(&["/tmp/a:b"], &[]));
    assert_eq!(
        paths("fd.containername in ('host:/etc/shadow', '0123456789ab:/root/.ssh')"),
        set(&["/etc/shadow", "/root/.ssh"], &[])
    );
    assert_eq!(paths("fd.containername startswith 'host:/etc/'"), set(&["/etc/"], &[]));
    assert_eq!(paths("fd.containername endswith '/shadow'"), set(&[], &["/shadow"]));
    assert_eq!(paths("fd.containername endswith 'host:/etc/shadow'"), set(&[], &["/etc/shadow"]));
    assert_eq!(paths("fd.containerdirectory = 'host:/etc'"), set(&["/etc/"], &[]));
    assert_eq!(paths("fd.containerdirectory startswith 'host:/var/lib'"), set(&["/var/lib"], &[]));
    // No `:`: never equal; only an id constrained, or nothing to go on: every path.
    assert!(!needs(&["fd.containername = /etc/shadow"]).passes("/etc/shadow", 0, 3));
    assert_eq!(paths("fd.containername startswith host"), None);
    assert_eq!(paths("fd.containername startswith 'host:'"), None);
    assert_eq!(paths("fd.containername contains shadow"), None);
    assert_eq!(paths("fd.containerdirectory endswith /etc"), None);
}

#[test]
fn transformers_and_other_fields_are_any() {
    for any in [
        "tolower(fd.name) startswith /etc/",
        "basename(fd.name) = shadow",
        "toupper(fd.filename) = ID_RSA",
        "len(fd.name) > 3",
        "proc.name = cat",
        "proc.cwd startswith /etc",
        "fd.name = val(proc.cwd)",
        "evt.arg.flags = O_RDONLY",
    ] {
        assert_eq!(paths(any), None, "{any}");
    }
}

#[test]
fn and_or_not() {
    // `or` with one side unconstrained, and negations, constrain nothing.
    assert_eq!(paths("fd.name startswith /etc/ or proc.name = cat"), None);
    assert_eq!(paths("not fd.name startswith /tmp/"), None);
    assert_eq!(paths("fd.name startswith /etc/ or fd.filename = id_rsa"), set(&["/etc/"], &["/id_rsa"]));
    // Exceptions (`and not`) keep the positive side.
    assert_eq!(paths("fd.name startswith /etc/ and not fd.name = /etc/hosts"), set(&["/etc/"], &[]));
    // `and`: exact intersection of prefix sets, else the more specific side.
    assert_eq!(
        paths("fd.name startswith /etc and fd.name in (secrets, /tmp/x)"),
        set(&["/etc/gshadow", "/etc/shadow"], &[])
    );
    assert_eq!(paths("fd.name startswith /etc/ and fd.filename = passwd"), set(&[], &["/passwd"]));
    assert_eq!(paths("fd.name endswith .pem and fd.filename = key.pem"), set(&[], &["/key.pem"]));
    assert_eq!(paths("fd.name startswith /etc/ and fd.name startswith /var/"), set(&[], &[]));
    // Branches for other event types can never be true for an open.
    let rs =
        rules_raw(&["(evt.type = execve and proc.name = bash) or (evt.type = openat and fd.name startswith /etc/)"]);
    assert_eq!(rs.open_needs().paths, set(&["/etc/"], &[]));
    // A rule that cannot match (empty list) contributes nothing.
    let n = needs(&["fd.name in (nothing)"]);
    assert_eq!(
        n,
        OpenNeeds { failed: false, paths: set(&[], &[]), writes_any_path: false, write_paths: PathSet::default() }
    );
}

fn chk(field: &str, pred: Pred) -> Node {
    Node::Check(Box::new(Check::new(Field::resolve(field, None).unwrap(), Box::new([]), Mode::Single, pred)))
}

#[test]
fn bottom_and_top_algebra() {
    let etc = || chk("fd.name", Pred::Str(StrPred::starts(vec!["/etc/".into()])));
    let ok = || chk("evt.rawres", Pred::Num(NumPred::Cmp(crate::syntax::ast::Op::Ge, 0)));
    let cube = |p: Option<PathSet>, s: bool| Abs::Cube(Cube { path: p, success_only: s, write_only: false });
    assert_eq!(node(&Node::Const(false)), Abs::Bottom);
    assert_eq!(node(&Node::Const(true)), Abs::TOP);
    assert_eq!(node(&Node::Or(vec![Node::Const(false), etc()].into())), cube(set(&["/etc/"], &[]), false));
    assert_eq!(node(&Node::And(vec![Node::Const(false), etc()].into())), Abs::Bottom);
    assert_eq!(node(&Node::And(vec![etc(), ok()].into())), cube(set(&["/etc/"], &[]), true));
    assert_eq!(node(&Node::Or(vec![ok(), etc()].into())), cube(None, false));
    assert_eq!(node(&Node::Not(Box::new(Node::Const(false)))), Abs::TOP);
    assert_eq!(node(&Node::Not(Box::new(etc()))), Abs::TOP);
    assert_eq!(node(&Node::Or(Box::new([]))), Abs::Bottom);
}

fn failed(cond: &str) -> bool {
    needs(&[&format!("fd.name = /x and ({cond})")]).failed
}

#[test]
fn success_only() {
    for (cond, can_fail) in [
        ("evt.rawres >= 0", false),
        ("evt.rawres > -1", false),
        ("evt.rawres = 3", false),
        ("evt.rawres in (0, 3)", false),
        ("evt.rawres >= -1", true),
        ("evt.rawres != -2", true),
        ("evt.rawres < 0", true),
        ("evt.rawres in (3, -13)", true),
        ("evt.res = SUCCESS", false),
        ("evt.res in (SUCCESS)", false),
        ("evt.res != ENOENT", true),
        ("evt.res in (SUCCESS, EACCES)", true),
        ("evt.res startswith E", true),
        ("fd.num >= 0", false),
        ("fd.num > -5", true),
        // Unlike Falco, a failed open still has a file fd: `fd.typechar` is `f`.
        ("fd.typechar = f", true),
        ("fd.type = file", true),
        ("evt.rawres >= 0 or evt.res = EINPROGRESS", true),
        ("evt.rawres >= 0 or fd.num > 0", false),
        ("not evt.rawres < 0", true),
        ("proc.name = cat", true),
    ] {
        assert_eq!(failed(cond), can_fail, "{cond}");
    }
}

#[test]
fn write_only() {
    let w = |cond: &str| {
        let n = needs(&["fd.name startswith /etc/ and evt.rawres >= 0", cond]);
        assert!(!n.failed, "{cond}");
        match n.paths {
            None => false,
            Some(p) => {
                assert_eq!(p, set(&["/etc/"], &[]).unwrap(), "{cond}");
                assert!(n.writes_any_path, "{cond}");
                true
            }
        }
    };
    for (cond, write) in [
        ("evt.is_open_write = true and evt.rawres >= 0", true),
        ("evt.is_open_write != false and evt.rawres >= 0", true),
        ("evt.is_open_read = false and evt.rawres >= 0", true),
        ("evt.is_open_write = false and evt.rawres >= 0", false),
        ("evt.is_open_read = true and evt.rawres >= 0", false),
        ("evt.arg.flags contains O_TRUNC and evt.rawres >= 0", true),
        ("evt.arg.flags contains O_CREAT and evt.rawres >= 0", true),
        ("evt.arg.flags contains O_WRONLY and evt.rawres >= 0", true),
        ("evt.arg.flags contains O_RDWR and evt.rawres >= 0", true),
        ("evt.arg.flags contains O_RDONLY and evt.rawres >= 0", false),
        ("evt.arg.flags contains O_APPEND and evt.rawres >= 0", false),
        ("evt.arg.flags contains O_TMPFILE and evt.rawres >= 0", false),
        ("(evt.arg.flags contains O_TRUNC or evt.is_open_write = true) and evt.rawres >= 0", true),
        ("(evt.arg.flags contains O_TRUNC or proc.name = vi) and evt.rawres >= 0", false),
        ("not evt.arg.flags contains O_RDONLY and evt.rawres >= 0", false),
    ] {
        assert_eq!(w(cond), write, "{cond}");
    }
    // A write rule with a path adds its path to the write paths, not `writes_any_path`.
    let n = needs(&["evt.is_open_write = true and fd.name startswith /var/log/"]);
    assert_eq!((n.paths.clone(), n.writes_any_path), (set(&[], &[]), false));
    assert_eq!(Some(n.write_paths.clone()), set(&["/var/log/"], &[]));
    assert!(n.passes("/var/log/x", 0o1, 3) && !n.passes("/var/log/x", 0, 3));
    // With every path needed, `writes_any_path` is moot and reset.
    let n = needs(&["evt.is_open_write = true", "proc.name = cat"]);
    assert_eq!((n.paths, n.writes_any_path), (None, false));
}

#[test]
fn entries_are_cut_at_key_len() {
    let long = format!("/{}", "a".repeat(100));
    let n = needs(&[&format!("fd.name startswith {long}"), &format!("fd.name endswith /{}", "b".repeat(100))]);
    let p = n.paths.clone().unwrap();
    assert_eq!(p.prefixes, vec![long[..KEY_LEN].to_string()]);
    assert_eq!(p.suffixes, vec!["b".repeat(KEY_LEN)]);
    // Two prefixes equal in their first KEY_LEN bytes become one entry.
    let n2 = needs(&[&format!("fd.name in ({long}x, {long}y)")]);
    assert_eq!(n2.paths.unwrap().prefixes, vec![long[..KEY_LEN].to_string()]);
    // Multi-byte characters are not split: the entry gets shorter (still sound).
    let wide = format!("/{}", "é".repeat(40));
    let p = needs(&[&format!("fd.name startswith {wide}")]).paths.unwrap();
    assert_eq!(p.prefixes[0].len(), KEY_LEN - 1);
    assert!(wide.starts_with(&p.prefixes[0]));
    let glob = format!("fd.name glob '/{}/*'", "c".repeat(80));
    assert_eq!(paths(&glob).unwrap().prefixes[0].len(), KEY_LEN);
    // The kernel compares only KEY_LEN bytes: a long path sharing the cut prefix passes.
    assert!(n.passes(&format!("{}zzz", &long[..KEY_LEN]), 0, 3));
    assert!(n.passes(&format!("/x/{}", "b".repeat(200)), 0, 3));
    assert!(!n.passes(&format!("/x/{}c", "b".repeat(200)), 0, 3));
}

#[test]
fn passes_semantics() {
    let n = OpenNeeds {
        failed: false,
        paths: set(&["/etc/shadow"], &["/id_rsa"]),
        writes_any_path: false,
        write_paths: PathSet::default(),
    };
    for (path, flags, ret, pass) in [
        ("/etc/shadow", 0, 3, true),
        ("/etc/shadow-", 0, 0, true),
        ("/etc/shadow", 0, -2, false),
        ("/etc/passwd", 0, 3, false),
        ("/etc/passwd", 0o1, 3, false),
        ("etc/shadow", 0, 3, true),
        ("", 0, 3, true),
        ("/tmp/../etc/shadow", 0, 3, true),
        ("//etc/shadow", 0, 3, true),
        ("/etc/./passwd", 0, 3, true),
        ("/home/u/.bashrc", 0, 3, true),
        ("/home/u/id_rsa", 0, 3, true),
        ("/home/u/id_rsa.pub", 0, 3, false),
        ("relative", 0, -2, false),
    ] {
        assert_eq!(n.passes(path, flags, ret), pass, "{path} {flags:o} {ret}");
    }
    let long_head = format!("/etc/shadow/{}", "x".repeat(100));
    let long_tail = format!("/{}/id_rsa", "y".repeat(100));
    assert!(n.passes(&long_head, 0, 3) && n.passes(&long_tail, 0, 3));
    assert!(!n.passes(&format!("/{}/id_dsa", "y".repeat(100)), 0, 3));
    // Entries longer than KEY_LEN (built by hand) are cut by the model like by the kernel.
    let p = format!("/{}", "p".repeat(99));
    let hand =
        OpenNeeds { failed: true, paths: set(&[&p], &[]), writes_any_path: true, write_paths: PathSet::default() };
    assert!(hand.passes(&format!("{}q", &p[..KEY_LEN]), 0, 3));
    assert!(!hand.passes(&format!("{}q", &p[..KEY_LEN - 1]), 0, -2));
    // writes_any_path: any path for O_WRONLY, O_RDWR, O_CREAT, O_TRUNC.
    for f in [0o1, 0o2, 0o100, 0o1000, 0o1101] {
        assert!(hand.passes("/tmp/out", f, 3), "{f:o}");
    }
    assert!(!hand.passes("/tmp/out", 0o2000, 3) && !hand.passes("/tmp/out", 0, -2));
    let all = OpenNeeds::pass_all();
    assert!(all.passes("/usr/lib/libc.so.6", 0, 3) && all.passes("/x", 0, -2));
    let ok_only = OpenNeeds { failed: false, paths: None, writes_any_path: false, write_paths: PathSet::default() };
    assert!(ok_only.passes("/x", 0, 0) && !ok_only.passes("/x", 0, -1));
}

#[test]
fn no_open_rules() {
    let rs = rules_raw(&["evt.type = execve and proc.name = bash"]);
    assert_eq!(
        rs.open_needs(),
        OpenNeeds { failed: false, paths: set(&[], &[]), writes_any_path: false, write_paths: PathSet::default() }
    );
    assert_eq!(RuleSet::default().open_needs().paths, Some(PathSet::default()));
}
