//! Malformed rule files under `fixtures/bad/` produce exactly the errors listed in the
//! `.expected` file beside each (one `file:line:col: item: message` per line, matched as
//! a suffix of the reported line, since reported paths are absolute). All errors of a
//! file are reported, not only the first.

use std::path::{Path, PathBuf};

use lanner_rules::check_paths;

fn bad_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/bad")
}

#[test]
fn bad_rule_files_report_every_error_with_its_position() {
    let mut files: Vec<PathBuf> = std::fs::read_dir(bad_dir())
        .unwrap_or_else(|e| panic!("{e}"))
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    files.sort();
    assert!(files.len() >= 8, "{files:?}");
    let mut problems = Vec::new();
    for f in &files {
        let expected_path = f.with_extension("expected");
        let expected =
            std::fs::read_to_string(&expected_path).unwrap_or_else(|e| panic!("{}: {e}", expected_path.display()));
        let expected: Vec<&str> =
            expected.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')).collect();
        let report = check_paths(std::slice::from_ref(f), false);
        let got: Vec<String> = report.errors.iter().map(|e| e.to_string()).collect();
        if report.is_ok() {
            problems.push(format!("{}: loaded without errors", f.display()));
            continue;
        }
        for e in &expected {
            if !got.iter().any(|g| g.ends_with(e)) {
                problems.push(format!("{}: missing expected error\n  {e}\ngot:\n  {}", f.display(), got.join("\n  ")));
            }
        }
        for g in &got {
            if !expected.iter().any(|e| g.ends_with(e)) {
                problems.push(format!("{}: unexpected error\n  {g}", f.display()));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n\n"));
}
