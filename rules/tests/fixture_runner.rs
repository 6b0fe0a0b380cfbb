//! The fixture runner reports passes, failures with a diff, invalid cases with their
//! position, and rule files that fail to load; its totals line is "N passed, N failed".

use std::path::PathBuf;

use lanner_rules::fixture::run_fixture_dir;
use lanner_rules::{test_dir, RuleSet};

const RULES: &str = "- rule: Shell\n  desc: d\n  condition: evt.type = execve and proc.name = bash\n  output: \"shell %proc.cmdline\"\n  priority: WARNING\n\
- rule: Any exec\n  desc: d\n  condition: evt.type = execve and proc.name exists\n  output: \"exec %proc.name\"\n  priority: DEBUG\n";

fn dir(name: &str, files: &[(&str, &str)]) -> PathBuf {
    let d = std::env::temp_dir().join(format!("lanner-fixtures-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap_or_else(|e| panic!("{e}"));
    for (n, t) in files {
        std::fs::write(d.join(n), t).unwrap_or_else(|e| panic!("{e}"));
    }
    d
}

#[test]
fn passes_failures_and_diffs() {
    let cases = r#"rules: [rules.yaml]
cases:
  - name: good
    event: {type: execve, proc: {name: bash, args: [-i]}}
    expect:
      - {rule: Shell, priority: Warning, output_fields: {proc.cmdline: bash -i}}
      - {rule: Any exec}
  - name: wrong priority and field
    event: {type: execve, proc: {name: bash}}
    expect:
      - {rule: Shell, priority: Critical, output_fields: {proc.cmdline: zsh}}
    allow_others: true
  - name: unexpected alert
    event: {type: execve, proc: {name: bash}}
    expect:
      - {rule: Shell}
  - name: silence with max priority
    event: {type: execve, proc: {name: ls}}
    max_priority: info
  - name: silence broken
    event: {type: execve, proc: {name: bash}}
    max_priority: notice
    not: [Any exec]
  - name: typo in rule name
    event: {type: execve, proc: {name: ls}}
    expect: [{rule: Any exc}]
  - name: invalid case
    event: {type: execve, proc: {nme: ls}}
    none: true
"#;
    let d =
        dir("diff", &[("rules.yaml", RULES), ("a.test.yaml", cases), ("not-a-fixture.yaml", "- this: is ignored\n")]);
    let rs = RuleSet::from_sources(&[]).unwrap_or_else(|e| panic!("{e}"));
    let r = run_fixture_dir(&d, &rs);
    let text = r.to_string();
    assert_eq!((r.passed(), r.failed()), (2, 5), "{text}");
    assert!(!r.is_ok());
    assert!(text.ends_with("2 passed, 5 failed"), "{text}");
    assert!(text.contains("PASS ") && text.contains(": good"), "{text}");
    assert!(text.contains("priority: expected Critical, got Warning"), "{text}");
    assert!(text.contains("output_fields[proc.cmdline]: expected 'zsh', got 'bash'"), "{text}");
    assert!(text.contains("unexpected alert 'Any exec' (Debug)"), "{text}");
    assert!(text.contains("alert above Notice: 'Shell' (Warning)"), "{text}");
    assert!(text.contains("rule 'Any exec' must not fire"), "{text}");
    assert!(text.contains("expected rule 'Any exc' is not in the rule set"), "{text}");
    assert!(text.contains("a.test.yaml:28:34: invalid case: unknown field `nme`"), "{text}");
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn rules_that_fail_to_load_are_reported_once() {
    let bad = "- rule: r\n  desc: d\n  condition: evt.type = execve and proc.nme = x\n  output: o\n  priority: INFO\n";
    let cases = "rules: [bad.yaml]\ncases:\n  - name: one\n    event: {type: execve}\n    none: true\n  - name: two\n    event: {type: execve}\n    none: true\n";
    let d = dir("badrules", &[("bad.yaml", bad), ("b.test.yaml", cases)]);
    let r = test_dir(&d, None);
    let text = r.to_string();
    assert_eq!(r.errors.len(), 1, "{text}");
    assert!(text.contains("bad.yaml:3:36: rule 'r': unknown field 'proc.nme'"), "{text}");
    assert_eq!(r.failed(), 3, "{text}");
    let empty = dir("empty", &[]);
    let r = test_dir(&empty, Some(&[]));
    assert!(!r.is_ok() && r.to_string().contains("no fixture cases found"), "{r}");
    let _ = std::fs::remove_dir_all(&d);
    let _ = std::fs::remove_dir_all(&empty);
}

#[test]
fn check_paths_reports_ok_and_failures() {
    let d = dir("check", &[("good.yaml", RULES), ("bad.yaml", "- rule: x\n  priority: HIGH\n")]);
    let ok = lanner_rules::check_paths(&[d.join("good.yaml")], false);
    assert!(ok.is_ok(), "{ok}");
    assert!(ok.to_string().contains("2 rules: 2 active, 0 inactive; 1 file(s), 0 warning(s)"), "{ok}");
    let bad = lanner_rules::check_paths(std::slice::from_ref(&d), false);
    assert!(!bad.is_ok());
    let text = bad.to_string();
    assert!(text.contains("bad.yaml:1:9: rule 'x': missing required key 'condition'"), "{text}");
    assert!(text.contains("bad.yaml:2:13: rule 'x': invalid priority 'HIGH'"), "{text}");
    assert!(text.ends_with("in 2 file(s)"), "{text}");
    let missing = lanner_rules::check_paths(&[d.join("nope.yaml")], false);
    assert!(missing.to_string().contains("nope.yaml: cannot read rules:"), "{missing}");
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn rule_directories_skip_fixtures_and_hidden_entries() {
    let d = dir(
        "expand",
        &[
            ("b.yaml", RULES),
            ("a.yml", "- list: l\n  items: [x]\n"),
            ("c.test.yaml", "cases: []\n"),
            (".hidden.yaml", "not: [valid"),
        ],
    );
    let (files, errors) = lanner_rules::expand_paths(std::slice::from_ref(&d));
    let names: Vec<String> =
        files.iter().map(|f| f.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()).collect();
    assert_eq!(names, ["a.yml", "b.yaml"]);
    assert!(errors.is_empty());
    let report = lanner_rules::check_paths(std::slice::from_ref(&d), false);
    assert!(report.is_ok(), "{report}");
    assert_eq!(report.warnings.len(), 1, "{report}");
    assert!(report.warnings[0].to_string().ends_with("warning: list 'l': list is not used by any rule"), "{report}");
    let _ = std::fs::remove_dir_all(&d);
}
