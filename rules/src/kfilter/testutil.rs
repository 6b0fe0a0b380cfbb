//! Test helpers shared by the pre-filter tests (open, connect, dup, socket,
//! unshare): rule sets built from bare conditions, and the rule files the
//! fixtures load.

use std::path::{Path, PathBuf};

use crate::runtime::ruleset::RuleSet;

/// A rule set with `lists` (YAML) and one rule per condition, named `r0`, `r1`...
pub(crate) fn rules_with(lists: &str, conds: &[&str]) -> RuleSet {
    let mut y = String::from(lists);
    for (i, c) in conds.iter().enumerate() {
        y.push_str(&format!(
            "- rule: r{i}\n  desc: d\n  condition: >\n    {c}\n  output: o %fd.name\n  priority: WARNING\n"
        ));
    }
    RuleSet::from_sources(&[("t.yaml", &y)]).unwrap_or_else(|e| panic!("{e}\n{y}"))
}

/// The rule sets the fixtures load: each `rules:` list of a `*.test.yaml` under
/// rules/fixtures (file-level or case-level), as paths in load order; at least one.
pub(crate) fn fixture_rule_files() -> Vec<Vec<PathBuf>> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for e in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())).filter_map(|e| e.ok()) {
            let p = e.path();
            if p.is_dir() {
                walk(&p, out);
            } else if p.to_string_lossy().ends_with(".test.yaml") {
                out.push(p);
            }
        }
    }
    let mut tests = Vec::new();
    walk(&Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures"), &mut tests);
    tests.sort();
    let mut sets: Vec<Vec<PathBuf>> = Vec::new();
    for t in tests {
        let text = std::fs::read_to_string(&t).unwrap_or_else(|e| panic!("{}: {e}", t.display()));
        let docs = crate::syntax::yaml::parse(&text).unwrap_or_else(|e| panic!("{}: {}", t.display(), e.message));
        let Some(root) = docs.first() else { continue };
        let mut lists: Vec<&crate::syntax::yaml::Node> = root.get("rules").into_iter().collect();
        if let Some(crate::syntax::yaml::NodeKind::Seq(cases)) = root.get("cases").map(|c| &c.kind) {
            lists.extend(cases.iter().filter_map(|c| c.get("rules")));
        }
        let base = t.parent().unwrap_or(Path::new("."));
        for l in lists {
            let files: Vec<String> =
                crate::syntax::de::from_node(l).unwrap_or_else(|e| panic!("{}: {}", t.display(), e.message));
            let set: Vec<PathBuf> = files.iter().map(|f| base.join(f)).collect();
            if !sets.contains(&set) {
                sets.push(set);
            }
        }
    }
    assert!(!sets.is_empty(), "no fixture rule files found");
    sets
}
