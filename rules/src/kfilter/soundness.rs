//! Property-style soundness test of the open pre-filter: for rule sets (the default pack
//! and the rule files of the fixtures), generate many open events from the rule set's
//! own literals and check that no event a rule matches is dropped by the kernel model.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use crate::fields::FieldId as F;
use crate::runtime::event::{Container, Event, EvtType, Fd, Pod, Process, DEFAULT_FIXTURE_TIME_NS};
use crate::runtime::matcher::{Node, Pred};
use crate::runtime::pred::StrPred;
use crate::runtime::ruleset::RuleSet;

/// String literals of a rule set, by the field they are compared with.
#[derive(Default)]
struct Lits {
    names: BTreeSet<String>,
    dirs: BTreeSet<String>,
    files: BTreeSet<String>,
    procs: BTreeSet<String>,
}

/// One text matching a glob pattern (`*` empty or not, `?` and classes one character).
fn instantiate(p: &str, star: &str) -> String {
    let (b, mut out, mut i) = (p.as_bytes(), Vec::new(), 0);
    while i < b.len() {
        match b[i] {
            b'*' => out.extend_from_slice(star.as_bytes()),
            b'?' => out.push(b'x'),
            b'\\' if i + 1 < b.len() => {
                i += 1;
                out.push(b[i]);
            }
            b'[' => {
                let end = p.get(i + 2..).and_then(|t| t.find(']')).map_or(b.len() - 1, |e| i + 2 + e);
                let body = &b[i + 1..end];
                let neg = matches!(body.first(), Some(b'!' | b'^'));
                out.push(if neg { b'#' } else { body.first().copied().unwrap_or(b'x') });
                i = end;
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn pats(p: &StrPred) -> Vec<String> {
    match p {
        StrPred::Eq(x) | StrPred::Ne(x) | StrPred::Cmp(_, x) => vec![x.to_string()],
        StrPred::In { pats, .. }
        | StrPred::Contains { pats, .. }
        | StrPred::IContains { pats, .. }
        | StrPred::StartsWith { pats, .. }
        | StrPred::EndsWith { pats, .. }
        | StrPred::PMatch { pats, .. } => pats.clone(),
        StrPred::Glob(g) => ["", "1234", "a/b"].iter().map(|s| instantiate(g.pattern(), s)).collect(),
        StrPred::BStartsWith(b) => std::str::from_utf8(b).map(|s| vec![s.to_string()]).unwrap_or_default(),
        _ => Vec::new(),
    }
}

fn walk(n: &Node, l: &mut Lits) {
    match n {
        Node::Const(_) => {}
        Node::Not(x) => walk(x, l),
        Node::And(v) | Node::Or(v) => v.iter().for_each(|x| walk(x, l)),
        Node::Check(c) => {
            let Pred::Str(p) = &c.pred else { return };
            let dst = match c.field.id {
                F::FdName => &mut l.names,
                F::FdDirectory => &mut l.dirs,
                F::FdFilename => &mut l.files,
                // `ID:PATH` / `ID:DIRECTORY`: the part after the id.
                F::FdContainername | F::FdContainerdirectory => {
                    let dst = if c.field.id == F::FdContainername { &mut l.names } else { &mut l.dirs };
                    dst.extend(pats(p).iter().map(|v| v.split_once(':').map_or(v.as_str(), |(_, r)| r).to_string()));
                    return;
                }
                F::ProcName | F::ProcAname | F::ProcPname => &mut l.procs,
                _ => return,
            };
            dst.extend(pats(p));
        }
    }
}

/// Candidate open paths: the literals, their neighbours, and non-canonical spellings.
fn paths(l: &Lits) -> Vec<String> {
    let mut out: BTreeSet<String> = [
        "",
        "etc/shadow",
        "/etc/passwd",
        "/etc/shadow",
        "/tmp/../etc/shadow",
        "//etc/shadow",
        "/etc/./shadow",
        "/tmp/x",
        "/dev/null",
        "/proc/123/environ",
        "/proc/self/environ",
        "/proc/123/mem",
        "/proc/123/stat",
        "/root/.ssh/id_rsa",
        "/home/u/.ssh/key.pem",
        "/var/log/syslog",
        "/usr/lib/libc.so.6",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let long = "d".repeat(70);
    for n in &l.names {
        for v in [
            n.clone(),
            format!("{n}x"),
            format!("{n}/f"),
            format!("/a/b{n}"),
            format!("/{long}{n}"),
            format!("{n}/{long}"),
            format!("/tmp/..{n}"),
            n.trim_end_matches('/').to_string(),
            n.chars().take(n.chars().count().saturating_sub(1)).collect(),
        ] {
            out.insert(v);
        }
    }
    for d in &l.dirs {
        out.extend([format!("{d}/f"), format!("{d}x/f"), format!("{d}/sub/f"), format!("/{long}{d}/f")]);
        out.extend(l.files.iter().map(|f| format!("{d}/{f}")));
    }
    for f in &l.files {
        for v in ["/tmp/", "/root/.ssh/", "/home/u/", "/", "", "/tmp/x"] {
            out.insert(format!("{v}{f}"));
        }
        out.insert(format!("/tmp/{f}.bak"));
        out.insert(format!("/{long}/{f}"));
    }
    out.into_iter().collect()
}

const FLAGS: [u32; 7] = [0, 0o1, 0o2, 0o1101, 0o101, 0o1000, 0o2001];
const RETS: [i64; 3] = [3, -2, -13];

/// Check `rs` on generated events; returns the number of matching events per open rule.
fn check_rule_set(label: &str, rs: &RuleSet) -> BTreeMap<String, usize> {
    let needs = rs.open_needs();
    let mut l = Lits::default();
    for &i in rs.by_type[EvtType::Openat.index()].iter() {
        walk(&rs.rules[i as usize].cond, &mut l);
    }
    let paths = paths(&l);
    let mut names: Vec<String> = l.procs.iter().cloned().collect();
    names.extend(["cat", "bash", "evil", "python3"].map(String::from));
    let procs: Vec<Arc<Process>> = names
        .iter()
        .map(|n| {
            let mut p = Process::new(n, &format!("/usr/bin/{n}"), &["arg"]);
            p.user_name = Some("root".into());
            p.precompute();
            Arc::new(p)
        })
        .collect();
    let parent = Arc::new(Process::new("bash", "/bin/bash", &[]));
    let pod = Arc::new(Container {
        id: "0123456789abcdef".into(),
        name: "web".into(),
        image_repository: "docker.io/acme/web".into(),
        k8s: Some(Pod { ns: "prod".into(), name: "web-1".into(), ..Default::default() }),
        ..Default::default()
    });
    let (mut events, mut dropped, mut bad) = (0usize, 0usize, Vec::new());
    let mut hits: BTreeMap<String, usize> = BTreeMap::new();
    let mut k = 0usize;
    for path in &paths {
        for flags in FLAGS {
            for ret in RETS {
                // Every process for plain reads and writes, a rotating few otherwise.
                let all = ret == 3 && (flags == 0 || flags == 0o1101);
                let chosen: Vec<&Arc<Process>> = if all {
                    procs.iter().collect()
                } else {
                    (0..4).map(|j| &procs[(k * 4 + j) % procs.len()]).collect()
                };
                for p in chosen {
                    k += 1;
                    let mut ev = Event::new(EvtType::Openat, DEFAULT_FIXTURE_TIME_NS, p.clone());
                    ev.fd = Some(Fd::file(path.clone(), flags, 0o644));
                    ev.res = ret;
                    if k.is_multiple_of(2) {
                        ev.container = Some(pod.clone());
                        ev.ancestors = vec![parent.clone()].into();
                    }
                    events += 1;
                    let pass = needs.passes(path, flags, ret);
                    assert_eq!(pass, needs.passes_event(&ev));
                    dropped += usize::from(!pass);
                    rs.for_each_match(&ev, |_, r| {
                        *hits.entry(r.name.clone()).or_default() += 1;
                        if !pass && bad.len() < 20 {
                            bad.push(format!("'{}': path={path:?} flags={flags:o} ret={ret} proc={}", r.name, p.name));
                        }
                    });
                }
            }
        }
    }
    println!(
        "{label}: {events} events over {} paths, {dropped} dropped by the pre-filter, matches: {hits:?}",
        paths.len()
    );
    assert!(bad.is_empty(), "{label}: the pre-filter drops events that rules match:\n{}", bad.join("\n"));
    assert!(dropped > 0 && events > 1_000, "{label}: the test exercises nothing");
    hits
}

#[test]
fn prefilter_is_sound_on_generated_events() {
    let rs = RuleSet::default_pack().unwrap_or_else(|e| panic!("{e}"));
    let hits = check_rule_set("default pack", &rs);
    for &i in rs.by_type[EvtType::Openat.index()].iter() {
        let name = &rs.rules[i as usize].name;
        assert!(hits.get(name).copied().unwrap_or(0) > 0, "no generated event matches open rule '{name}'");
    }
    // Rule files the fixtures load.
    for f in crate::kfilter::testutil::fixture_rule_files() {
        let rs = RuleSet::load_files(&f).unwrap_or_else(|e| panic!("{e}"));
        let hits = check_rule_set(&format!("{f:?}"), &rs);
        let active_open_rules = rs.by_type[EvtType::Openat.index()].len();
        assert!(active_open_rules == 0 || !hits.is_empty(), "{f:?}: no open rule matched");
    }
}
