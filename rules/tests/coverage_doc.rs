//! `docs/falco-coverage.md` is generated from the field and event catalogues: this test
//! fails when it is stale, and rewrites it with `LANNER_BLESS=1`.

use std::path::Path;

#[test]
fn falco_coverage_doc_is_current() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/falco-coverage.md");
    let want = lanner_rules::fields::coverage::markdown();
    if std::env::var_os("LANNER_BLESS").is_some() {
        std::fs::write(&path, &want).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    }
    let have = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert!(
        have == want,
        "{} is stale: run LANNER_BLESS=1 cargo test -p lanner-rules --test coverage_doc",
        path.display()
    );
    // The report says what a rule author needs: supplied and unavailable fields with reasons.
    let row = |name: &str| want.lines().find(|l| l.starts_with(&format!("| `{name}` |"))).unwrap_or("").to_string();
    assert!(row("proc.name").ends_with("| supplied |"), "{}", row("proc.name"));
    assert!(row("thread.cap_effective").ends_with("| supplied |"), "{}", row("thread.cap_effective"));
    assert!(row("container.privileged").ends_with("| supplied |"), "{}", row("container.privileged"));
    assert!(row("fd.sip.name").ends_with("| supplied |"), "{}", row("fd.sip.name"));
    assert!(row("proc.vmrss").contains("| not supplied: "), "{}", row("proc.vmrss"));
    assert!(want.contains("| `symlinkat` |"), "{want}");
}

#[test]
fn every_lanner_field_is_documented_in_rules_md() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/rules.md");
    let doc = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let missing: Vec<String> = lanner_rules::fields::FIELDS
        .iter()
        .map(|f| format!("`{}` | {} | {} |", f.name, f.ty.name(), f.desc))
        .filter(|row| !doc.contains(row.as_str()))
        .collect();
    assert!(missing.is_empty(), "docs/rules.md lacks or misdescribes these field rows:\n{}", missing.join("\n"));
}
