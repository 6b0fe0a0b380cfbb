//! Test helpers shared by the open and connect pre-filter tests: rule sets
//! built from bare conditions, and the rule files the fixtures load.

use std::path::{Path, PathBuf};

use crate::runtime::matcher::RuleSet;

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

/// The rule files under rules/fixtures (everything but fixture files and the
/// malformed ones in `bad/`), at least one.
pub(crate) fn fixture_rule_files() -> Vec<PathBuf> {
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures");
    let mut out = Vec::new();
    for dir in std::fs::read_dir(&fixtures).unwrap_or_else(|e| panic!("{e}")).filter_map(|e| e.ok()) {
        if dir.file_name() == "bad" || !dir.path().is_dir() {
            continue;
        }
        out.extend(crate::expand_paths(&[dir.path()]).0);
    }
    assert!(!out.is_empty(), "no fixture rule files found");
    out
}
