//! Unit tests of the cross-rule prefilter: the path-compressed trie against a plain
//! `starts_with`, and the two-anchor candidate sets against the rules' conditions.

use std::sync::Arc;

use super::*;
use crate::runtime::event::{Event, EvtType, Fd, Process};
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
fn an_empty_trie_names_nothing() {
    let t = Trie::build(&Vec::new());
    assert!(walk_set(&t, "/etc/shadow").is_empty());
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
    let mut y = String::new();
    // Six rules so the event type gets an index; the first has two anchors.
    y += "- rule: both\n  desc: d\n  condition: evt.type = openat and proc.name in (cat, less) and fd.name startswith /etc/\n  output: o\n  priority: INFO\n";
    for i in 0..5 {
        y += &format!("- rule: r{i}\n  desc: d\n  condition: evt.type = openat and fd.name = /srv/{i}\n  output: o\n  priority: INFO\n");
    }
    let rs = RuleSet::from_sources(&[("t.yaml", &y)]).unwrap_or_else(|e| panic!("{e}"));
    let t = EvtType::Openat.index();
    let ix = rs.index[t].as_ref().expect("an index for openat");
    let candidates = |e: &Event| {
        let mut v = Vec::new();
        ix.for_each_candidate(e, |pos| v.push(rs.rules[rs.by_type[t][pos] as usize].name.clone()));
        v
    };
    assert_eq!(candidates(&open("cat", "/etc/shadow")), ["both"]);
    assert!(candidates(&open("cat", "/tmp/x")).is_empty(), "the path anchor fails");
    assert!(candidates(&open("vim", "/etc/shadow")).is_empty(), "the name anchor fails");
    assert_eq!(candidates(&open("vim", "/srv/3")), ["r3"]);
    // The index never drops a match.
    assert_eq!(rs.count_matches(&open("less", "/etc/passwd")), 1);
}
