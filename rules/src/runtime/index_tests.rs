//! Unit tests of the cross-rule prefilter: the path-compressed trie against a plain
//! `starts_with`, and the two-anchor candidate sets against the rules' conditions.

use std::sync::Arc;

use crate::runtime::event::{Event, EvtType, Fd, Process};
use crate::runtime::trie::{Trie, TriePats, DENSE_MIN};
use crate::RuleSet;

fn walk_set(t: &Trie, v: &str) -> Vec<u32> {
    let mut got = Vec::new();
    t.walk(v.bytes(), |p| got.push(p));
    got.sort_unstable();
    got
}

#[test]
fn compressed_trie_names_exactly_the_patterns_a_value_starts_with() {
    let pats = ["/etc/", "/etc/shadow", "/etc/ssh/", "/usr/lib/systemd/", "/u", "/usr/lib/systemd/system/", "x"];
    let pairs: TriePats = pats.iter().enumerate().map(|(i, p)| (p.as_bytes().to_vec(), i as u32)).collect();
    let t = Trie::build(&pairs);
    // The single-child runs are collapsed: far fewer nodes than pattern bytes.
    let bytes: usize = pats.iter().map(|p| p.len()).sum();
    assert!(t.nodes.len() < 12 && bytes > 50, "{} nodes for {bytes} bytes", t.nodes.len());
    for v in [
        "",
        "/",
        "/e",
        "/etc",
        "/etc/",
        "/etc/sha",
        "/etc/shadow",
        "/etc/shadow-",
        "/etc/ssh/sshd_config",
        "/etc/ss",
        "/usr",
        "/usr/lib/systemd",
        "/usr/lib/systemd/",
        "/usr/lib/systemd/system/a.service",
        "/usr/lib/systemX/",
        "/var/x",
        "xyz",
        "y",
    ] {
        let want: Vec<u32> =
            pats.iter().enumerate().filter(|(_, p)| v.starts_with(**p)).map(|(i, _)| i as u32).collect();
        assert_eq!(walk_set(&t, v), want, "value {v:?}");
    }
}

#[test]
fn wide_nodes_take_the_byte_table_and_name_the_same_patterns() {
    // 26 patterns branching at the root and again after "/", and a narrow node below.
    let mut pats: Vec<String> = ('a'..='z').map(|c| format!("{c}x")).collect();
    pats.extend(('a'..='m').map(|c| format!("/{c}")));
    pats.extend(["/ab".to_string(), "/ac/".to_string(), "/".to_string()]);
    let pairs: TriePats = pats.iter().enumerate().map(|(i, p)| (p.as_bytes().to_vec(), i as u32)).collect();
    let t = Trie::build(&pairs);
    assert_eq!(t.dense.len(), 2, "the root and the node after '/' are wide");
    assert!(t.nodes.iter().filter(|n| n.dense != 0).all(|n| n.n as usize > DENSE_MIN));
    for v in ["", "a", "ax", "axe", "zx", "z", "/", "/a", "/ab", "/abc", "/ac", "/ac/d", "/n", "/z", "~", "\u{ff}"] {
        let want: Vec<u32> =
            pats.iter().enumerate().filter(|(_, p)| v.starts_with(p.as_str())).map(|(i, _)| i as u32).collect();
        assert_eq!(walk_set(&t, v), want, "value {v:?}");
    }
}

#[test]
fn an_empty_trie_names_nothing() {
    let t = Trie::build(&Vec::new());
    assert!(walk_set(&t, "/etc/shadow").is_empty());
}

/// Names of the candidate rules the index of `ev`'s type gives (in load order).
fn candidates(rs: &RuleSet, ev: &Event) -> Vec<String> {
    let t = ev.evt_type.index();
    let ix = rs.index[t].as_ref().expect("an index for this type");
    let mut v = Vec::new();
    ix.for_each_candidate(ev, |pos| v.push(rs.rules[rs.by_type[t][pos] as usize].name.clone()));
    v
}

/// A rule file: one rule per `(name, condition)`.
fn rules(list: &[(&str, &str)]) -> RuleSet {
    let y: String = list
        .iter()
        .map(|(n, c)| format!("- rule: {n}\n  desc: d\n  condition: {c}\n  output: o\n  priority: INFO\n"))
        .collect();
    RuleSet::from_sources(&[("t.yaml", &y)]).unwrap_or_else(|e| panic!("{e}"))
}

fn open(name: &str, path: &str) -> Event {
    let p = Process::new(name, &format!("/usr/bin/{name}"), &[]);
    p.precompute();
    let mut e = Event::new(EvtType::Openat, 0, Arc::new(p));
    e.fd = Some(Fd::file(path, 0, 0));
    e.res = 3;
    e
}

#[test]
fn a_rule_is_a_candidate_only_when_both_of_its_anchors_hold() {
    // Six rules so the event type gets an index; the first has two anchors.
    let c = |i: usize| format!("evt.type = openat and fd.name = /srv/{i}");
    let fillers: Vec<(String, String)> = (0..5).map(|i| (format!("r{i}"), c(i))).collect();
    let mut list = vec![("both", "evt.type = openat and proc.name in (cat, less) and fd.name startswith /etc/")];
    list.extend(fillers.iter().map(|(n, c)| (n.as_str(), c.as_str())));
    let rs = rules(&list);
    assert_eq!(candidates(&rs, &open("cat", "/etc/shadow")), ["both"]);
    assert!(candidates(&rs, &open("cat", "/tmp/x")).is_empty(), "the path anchor fails");
    assert!(candidates(&rs, &open("vim", "/etc/shadow")).is_empty(), "the name anchor fails");
    assert_eq!(candidates(&rs, &open("vim", "/srv/3")), ["r3"]);
    // The index never drops a match.
    assert_eq!(rs.count_matches(&open("less", "/etc/passwd")), 1);
}

#[test]
fn contains_anchors_hold_alike_on_short_and_long_values() {
    // Long values take the prefiltered automaton: same patterns, same answers,
    // overlapping ones included.
    let fillers: Vec<(String, String)> =
        (0..5).map(|i| (format!("r{i}"), format!("evt.type = openat and fd.name = /srv/{i}"))).collect();
    let mut list = vec![
        ("needle", "evt.type = openat and fd.name contains needle"),
        ("overlap", "evt.type = openat and fd.name contains dle/x"),
    ];
    list.extend(fillers.iter().map(|(n, c)| (n.as_str(), c.as_str())));
    let rs = rules(&list);
    let pad = "p".repeat(super::LONG_VALUE);
    for path in ["/needle/x".to_string(), format!("/{pad}/needle/x"), format!("/needle/x/{pad}")] {
        let mut got = candidates(&rs, &open("cat", &path));
        got.sort();
        assert_eq!(got, ["needle", "overlap"], "{} bytes", path.len());
    }
    assert_eq!(candidates(&rs, &open("cat", &format!("/needle/{pad}/x"))), ["needle"]);
    assert!(candidates(&rs, &open("cat", &format!("/{pad}/neecle/x"))).is_empty());
    assert!(candidates(&rs, &open("cat", "/neecle/x")).is_empty());
}

fn connect(name: &str, ip: [u8; 4], port: u16) -> Event {
    let p = Process::new(name, &format!("/usr/bin/{name}"), &[]);
    p.precompute();
    let mut e = Event::new(EvtType::Connect, 0, Arc::new(p));
    e.fd = Some(Fd::inet(std::net::IpAddr::from(ip), port, None, crate::runtime::event::L4Proto::Tcp));
    e
}

#[test]
fn numbers_and_addresses_anchor_rules_too() {
    let rs = rules(&[
        ("port", "evt.type = connect and fd.sport in (4444, 5555)"),
        ("addr", "evt.type = connect and fd.sip = 169.254.169.254 and not proc.name = curl"),
        ("port or name", "evt.type = connect and (fd.sport = 6443 or proc.name = kubectl)"),
        ("port or nothing", "evt.type = connect and (fd.sport = 7777 or fd.sip in ())"),
        ("not a port", "evt.type = connect and not fd.sport in (80, 443)"),
        ("r0", "evt.type = connect and proc.name = tool0"),
        ("r1", "evt.type = connect and proc.name = tool1"),
    ]);
    let cands = |name: &str, ip: [u8; 4], port: u16| candidates(&rs, &connect(name, ip, port));
    // A negated test anchors nothing: that rule is always a candidate.
    assert_eq!(cands("java", [10, 0, 0, 1], 5432), ["not a port"]);
    assert_eq!(cands("java", [10, 0, 0, 1], 7777), ["port or nothing", "not a port"]);
    assert_eq!(cands("java", [10, 0, 0, 1], 5555), ["port", "not a port"]);
    assert_eq!(cands("java", [169, 254, 169, 254], 80), ["addr", "not a port"]);
    assert_eq!(cands("java", [10, 0, 0, 1], 6443), ["port or name", "not a port"]);
    assert_eq!(cands("kubectl", [10, 0, 0, 1], 443), ["port or name", "not a port"]);
    for (name, ip, port, want) in [
        ("java", [10, 0, 0, 1], 5555, 2),
        ("curl", [169, 254, 169, 254], 80, 0),
        ("java", [169, 254, 169, 254], 80, 1),
        ("tool1", [1, 2, 3, 4], 443, 1),
    ] {
        assert_eq!(rs.count_matches(&connect(name, ip, port)), want, "{name} {ip:?}:{port}");
    }
}

#[test]
fn a_two_valued_field_anchors_only_a_rule_with_nothing_better() {
    let memfd = "evt.type = execve and (proc.is_exe_from_memfd = true or proc.exepath startswith /memfd:)";
    let rs = rules(&[
        ("memfd", memfd),
        ("r0", "evt.type = execve and proc.name = tool0"),
        ("r1", "evt.type = execve and proc.name = tool1"),
        ("r2", "evt.type = execve and proc.name = tool2"),
        ("r3", "evt.type = execve and proc.name = tool3"),
        ("r4", "evt.type = execve and proc.name = tool4"),
    ]);
    let exec = |exepath: &str, memfd: Option<bool>| {
        let mut p = Process::new("x", exepath, &[]);
        p.exe_from_memfd = memfd;
        p.precompute();
        Event::new(EvtType::Execve, 0, Arc::new(p))
    };
    assert!(candidates(&rs, &exec("/usr/bin/x", Some(false))).is_empty());
    assert!(candidates(&rs, &exec("/usr/bin/x", None)).is_empty(), "unknown is not true");
    assert_eq!(candidates(&rs, &exec("/usr/bin/x", Some(true))), ["memfd"]);
    assert_eq!(candidates(&rs, &exec("/memfd:payload (deleted)", Some(false))), ["memfd"]);
    assert_eq!(rs.count_matches(&exec("/usr/bin/x", Some(true))), 1);
}
