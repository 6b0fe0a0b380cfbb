//! The embedded default pack loads cleanly, every rule is tagged as promised, and every
//! fixture under `rules/fixtures` passes (this test fails if any fixture fails).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use lanner_rules::yaml::{self, NodeKind};
use lanner_rules::{test_dir, RuleSet};

fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures")
}

#[test]
fn default_pack_loads_without_errors_or_warnings() {
    let rs = RuleSet::default_pack().unwrap_or_else(|e| panic!("default pack failed to load:\n{e}"));
    assert!(rs.len() >= 60, "only {} rules", rs.len());
    let warnings: Vec<String> = rs.warnings().iter().map(|w| w.to_string()).collect();
    assert!(warnings.is_empty(), "warnings:\n{}", warnings.join("\n"));
}

#[test]
fn embedded_pack_is_every_file_of_rules_default_in_name_order() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("default");
    let mut files: Vec<String> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".yaml"))
        .collect();
    files.sort();
    let embedded: Vec<&str> =
        lanner_rules::DEFAULT_RULES.iter().map(|(n, _)| n.strip_prefix("default/").unwrap_or(n)).collect();
    assert_eq!(embedded, files, "rules/src/lib.rs DEFAULT_RULES must list rules/default/*.yaml in name order");
    for (name, text) in lanner_rules::DEFAULT_RULES {
        let on_disk = std::fs::read_to_string(dir.join(name.strip_prefix("default/").unwrap_or(name))).unwrap();
        assert_eq!(*text, on_disk, "{name}");
    }
}

#[test]
fn default_rules_carry_mitre_and_scope_tags() {
    let rs = RuleSet::default_pack().unwrap_or_else(|e| panic!("{e}"));
    for r in rs.rules() {
        let tactic = r.tags.iter().any(|t| t.starts_with("mitre_"));
        let technique =
            r.tags.iter().any(|t| t.len() >= 5 && t.starts_with('T') && t[1..5].bytes().all(|b| b.is_ascii_digit()));
        let scope = r.tags.iter().any(|t| t == "host" || t == "container");
        let kind = r.tags.iter().any(|t| matches!(t.as_str(), "process" | "filesystem" | "network"));
        assert!(tactic && technique && scope && kind, "rule '{}' tags {:?}", r.name, r.tags);
        assert!(!r.evt_types.is_empty() && r.evt_types.len() < 6, "rule '{}' types {:?}", r.name, r.evt_types);
    }
}

#[test]
fn every_fixture_passes() {
    let report = test_dir(&fixtures_dir(), None);
    println!("{report}");
    assert!(report.is_ok(), "fixtures failed:\n{report}");
    assert!(report.passed() >= 60, "only {} cases ran", report.passed());
}

/// Rule names appearing under `expect: [{rule: ...}]` and under `not: [...]` in the
/// default-pack fixtures.
fn fixture_rule_refs() -> (BTreeSet<String>, BTreeSet<String>) {
    let (mut pos, mut neg) = (BTreeSet::new(), BTreeSet::new());
    let dir = fixtures_dir().join("default");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .collect();
    files.sort();
    for f in files.iter().filter(|f| f.to_string_lossy().ends_with(".test.yaml")) {
        let text = std::fs::read_to_string(f).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
        let docs = yaml::parse(&text).unwrap_or_else(|e| panic!("{}: {e:?}", f.display()));
        let cases = docs[0].get("cases").unwrap_or(&docs[0]);
        let NodeKind::Seq(cases) = &cases.kind else { panic!("{}: no cases", f.display()) };
        for c in cases {
            if let Some(NodeKind::Seq(exp)) = c.get("expect").map(|e| &e.kind) {
                pos.extend(exp.iter().filter_map(|e| e.get("rule")?.as_str().map(String::from)));
            }
            if let Some(NodeKind::Seq(not)) = c.get("not").map(|e| &e.kind) {
                neg.extend(not.iter().filter_map(|n| n.as_str().map(String::from)));
            }
        }
    }
    (pos, neg)
}

#[test]
fn every_default_rule_has_positive_and_negative_fixtures() {
    let rs = RuleSet::default_pack().unwrap_or_else(|e| panic!("{e}"));
    let (pos, neg) = fixture_rule_refs();
    let mut missing = Vec::new();
    for r in rs.rules() {
        if !pos.contains(&r.name) {
            missing.push(format!("no positive fixture (expect) for '{}'", r.name));
        }
        if !neg.contains(&r.name) {
            missing.push(format!("no negative fixture (not: [...]) for '{}'", r.name));
        }
    }
    for n in pos.iter().chain(&neg) {
        if rs.rule_by_name(n).is_none() {
            missing.push(format!("fixtures name a rule that is not in the default pack: '{n}'"));
        }
    }
    assert!(missing.is_empty(), "{}", missing.join("\n"));
}
